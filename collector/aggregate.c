// SPDX-License-Identifier: MIT
/*
 * Aggregation: histogram deltas per (minute, src, dst, stage) and pair
 * counters per (minute, src, dst), held in memory between flushes. A flush
 * merges every delta into its stored row and retires the inbox rows whose
 * paths produced them, in one SQLite transaction (see collector.h for the
 * durability contract).
 */
#include "collector.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pktkey.h"

static uint64_t str_hash(uint64_t h, const char *s)
{
	while (*s)
		h = st_mix64(h ^ (uint8_t)*s++);
	return st_mix64(h ^ 0xff);
}

uint64_t c_agg_key(int64_t minute, const char *src, const char *dst, int stage)
{
	uint64_t h = st_mix64((uint64_t)minute * 31 + (uint64_t)stage + 1);

	h = str_hash(h, src);
	h = str_hash(h, dst);
	return h ? h : 1;
}

static int64_t minute_of(int64_t t_ns)
{
	return t_ns / 60000000000LL;
}

void c_agg_stage(struct st_collector *c, int64_t t_ns, const char *src,
		 const char *dst, uint16_t stage, int ord, uint64_t v, double bound)
{
	int64_t m = minute_of(t_ns);
	uint64_t k = c_agg_key(m, src, dst, stage);
	struct c_cell_delta *d;

	/* Collisions of the 64-bit key are resolved by probing k+1, k+2 ... */
	for (;; k = k + 1 ? k + 1 : 1) {
		d = st_u64map_get(&c->cells, k);
		if (!d || (d->minute == m && d->stage == stage &&
			   !strcmp(d->src, src) && !strcmp(d->dst, dst)))
			break;
	}
	if (!d) {
		d = malloc(sizeof(*d));
		if (!d)
			return;
		d->minute = m;
		d->src = strdup(src);
		d->dst = strdup(dst);
		d->stage = stage;
		d->ord = ord;
		d->bound_sum = 0;
		d->bound_n = 0;
		st_hist_init(&d->h);
		if (st_u64map_put(&c->cells, k, d)) {
			free(d->src);
			free(d->dst);
			free(d);
			return;
		}
	}
	if (ord > d->ord)
		d->ord = ord;
	if (bound >= 0) {
		d->bound_sum += bound;
		d->bound_n++;
	}
	st_hist_add(&d->h, v);
}

void c_agg_pair(struct st_collector *c, int64_t t_ns, const char *src,
		const char *dst, int what)
{
	int64_t m = minute_of(t_ns);
	uint64_t k = c_agg_key(m, src, dst, -1);
	struct c_pair_delta *d;

	for (;; k = k + 1 ? k + 1 : 1) {
		d = st_u64map_get(&c->pairs, k);
		if (!d || (d->minute == m && !strcmp(d->src, src) && !strcmp(d->dst, dst)))
			break;
	}
	if (!d) {
		d = calloc(1, sizeof(*d));
		if (!d)
			return;
		d->minute = m;
		d->src = strdup(src);
		d->dst = strdup(dst);
		if (st_u64map_put(&c->pairs, k, d)) {
			free(d->src);
			free(d->dst);
			free(d);
			return;
		}
	}
	switch (what) {
	case C_PAIR_MATCHED: d->matched++; break;
	case C_PAIR_LOST: d->lost++; break;
	case C_PAIR_DROPPED: d->dropped++; break;
	default: d->unmatched++; break;
	}
}

void c_agg_free(struct st_collector *c)
{
	size_t it = 0;
	uint64_t k;
	void *v;

	while (st_u64map_next(&c->cells, &it, &k, &v)) {
		struct c_cell_delta *d = v;

		free(d->src);
		free(d->dst);
		free(d);
	}
	it = 0;
	while (st_u64map_next(&c->pairs, &it, &k, &v)) {
		struct c_pair_delta *d = v;

		free(d->src);
		free(d->dst);
		free(d);
	}
	st_u64map_free(&c->cells);
	st_u64map_free(&c->pairs);
}

static void free_deltas(struct st_collector *c)
{
	c_agg_free(c);
	st_u64map_init(&c->cells, 256);
	st_u64map_init(&c->pairs, 64);
}

int c_flush(struct st_collector *c)
{
	struct c_batch **pp, *b;
	size_t it = 0;
	uint64_t k;
	void *v;
	int rc;

	if (!c->cells.len && !c->pairs.len && !c->path_slots.len && !c->gap_cells.len &&
	    !c->stalls) {
		int any = 0;

		for (b = c->batches; b; b = b->next)
			any |= b->consumed != 0;
		if (!any)
			return 0;
	}
	if ((rc = c_store_begin(c)) != 0)
		goto fail;
	while (st_u64map_next(&c->cells, &it, &k, &v))
		if ((rc = c_store_merge_cell(c, v)) != 0)
			goto fail;
	it = 0;
	while (st_u64map_next(&c->pairs, &it, &k, &v))
		if ((rc = c_store_add_pair(c, v)) != 0)
			goto fail;
	if ((rc = c_paths_store(c)) != 0)
		goto fail;
	if ((rc = c_gap_store(c)) != 0)
		goto fail;
	for (b = c->batches; b; b = b->next)
		if (b->consumed && (rc = c_store_inbox_retire(c, b)) != 0)
			goto fail;
	if ((rc = c_store_commit(c)) != 0)
		goto fail;

	/* Committed: forget the deltas and the fully consumed batches. */
	free_deltas(c);
	c_paths_clear(c);
	c_gap_clear(c);
	for (pp = &c->batches; (b = *pp) != NULL;) {
		b->consumed = 0;
		if (b->remaining == 0) {
			*pp = b->next;
			st_wire_free(b->env);
			free(b->done);
			free(b);
		} else {
			pp = &b->next;
		}
	}
	c->c.flushes++;
	return 0;
fail:
	/* Deltas stay in memory and are retried at the next flush. */
	c_store_rollback(c);
	c->c.flush_errors++;
	pr_warn("flush to store failed (%d); will retry", rc);
	return rc;
}
