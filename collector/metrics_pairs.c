// SPDX-License-Identifier: MIT
/*
 * Pair latency for /metrics (see metrics.h and docs/metrics.md): a
 * cumulative histogram per (source, destination) since the collector
 * started, kept in memory from the store's per-minute rows, and a summary
 * of the last five minutes with stage means, for the busiest pairs.
 */
#include "metrics_int.h"

#include <inttypes.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pktkey.h"
#include "timeutil.h"

/* The histogram's upper bounds, ns: 10 us ... 1 s, and +Inf. */
static const uint64_t le_ns[M_NLE] = {
	10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000,
	5000000, 10000000, 25000000, 100000000, 1000000000,
};

/* The summary's quantiles: those `stagetrace matrix` prints. */
static const double quantiles[M_NQ] = { 0.5, 0.95, 0.99 };
static const char *const quantile_names[M_NQ] = { "0.5", "0.95", "0.99" };
static const char *const outcome_names[P_NV] = { "matched", "lost", "dropped", "unmatched" };


static uint64_t nz(uint64_t k) { return k ? k : 1; }

static uint64_t str_hash(uint64_t h, const char *s)
{
	while (*s)
		h = st_mix64(h ^ (uint8_t)*s++);
	return st_mix64(h ^ 0xff);
}

/* The pair's state; created when asked to. 64-bit collisions probe on. */
static struct m_pair *pair_get(struct st_metrics *m, const char *src, const char *dst,
			       int create)
{
	uint64_t k = nz(str_hash(str_hash(0x6d6574726963, src), dst));
	struct m_pair *p;

	for (;; k = nz(k + 1)) {
		p = st_u64map_get(&m->pairs, k);
		if (!p || (!strcmp(p->src, src) && !strcmp(p->dst, dst)))
			break;
	}
	if (p || !create)
		return p;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->key = k;
	p->src = strdup(src);
	p->dst = strdup(dst);
	if (!p->src || !p->dst || st_u64map_put(&m->pairs, k, p)) {
		free(p->src);
		free(p->dst);
		free(p);
		return NULL;
	}
	return p;
}

static struct m_row *row_get(struct st_metrics *m, int64_t minute, int kind,
			     struct m_pair *p, int *created)
{
	uint64_t k = nz(st_mix64(p->key ^ st_mix64((uint64_t)minute * 2 + (uint64_t)kind)));
	struct m_row *r;

	*created = 0;
	for (;; k = nz(k + 1)) {
		r = st_u64map_get(&m->rows, k);
		if (!r || (r->minute == minute && r->kind == kind && r->pair == p))
			break;
	}
	if (r)
		return r;
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->minute = minute;
	r->kind = kind;
	r->pair = p;
	if (st_u64map_put(&m->rows, k, r)) {
		free(r);
		return NULL;
	}
	*created = 1;
	return r;
}

/* Forget rows of minutes before lo: they no longer change. */
static void rows_expire(struct st_metrics *m, int64_t lo)
{
	uint64_t *dead = NULL, k;
	size_t n = 0, cap = 0, it = 0;
	void *v;

	while (st_u64map_next(&m->rows, &it, &k, &v)) {
		if (((struct m_row *)v)->minute >= lo)
			continue;
		if (n == cap) {
			uint64_t *d = realloc(dead, (cap ? cap * 2 : 64) * sizeof(*d));

			if (!d)
				break;
			dead = d;
			cap = cap ? cap * 2 : 64;
		}
		dead[n++] = k;
	}
	for (size_t i = 0; i < n; i++)
		free(st_u64map_del(&m->rows, dead[i]));
	free(dead);
}

/* Count, sum and the le counts of a histogram, by bucket midpoint. */
static void hist_values(const struct st_metrics *m, const struct st_hist *h, uint64_t v[H_NV])
{
	uint64_t run = 0;
	uint32_t i = 0;

	v[H_COUNT] = h->count;
	v[H_SUM] = h->sum;
	for (int j = 0; j < M_NLE; j++) {
		for (; i < m->cut[j]; i++)
			run += h->buckets[i];
		v[H_LE + j] = run;
	}
}

/*
 * A row was read again: add what it gained to the pair's totals. A stored
 * row only grows; if it shrank, the store replaced it (an unreadable
 * histogram is rewritten), and its new content becomes the baseline.
 */
static void row_apply(struct st_metrics *m, struct m_row *r, uint64_t *cum,
		      const uint64_t *v, int n)
{
	int shrank = 0;

	for (int i = 0; i < n; i++)
		shrank |= v[i] < r->v[i];
	if (m->baselined && !shrank)
		for (int i = 0; i < n; i++)
			cum[i] += v[i] - r->v[i];
	memcpy(r->v, v, (size_t)n * sizeof(*v));
}

/*
 * Brings the cumulative per-pair totals up to date with the store. Only
 * the default tenant ('') exists; the tenant = '' term also lets SQLite
 * use the primary key for the minute range.
 */
void m_update(struct st_metrics *m, int64_t now_s)
{
	sqlite3 *db = m->c->db;
	int64_t lo = now_s / 60 - m->horizon_min;
	sqlite3_stmt *st;
	uint64_t v[H_NV];
	int created;

	rows_expire(m, lo);
	if (sqlite3_prepare_v2(db, "SELECT minute,src,dst,count,hist FROM hist WHERE"
			       " tenant='' AND minute>=? AND stage='total'", -1, &st,
			       NULL) != SQLITE_OK) {
		m->errors++;
		return;
	}
	sqlite3_bind_int64(st, 1, lo);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *src = (const char *)sqlite3_column_text(st, 1);
		const char *dst = (const char *)sqlite3_column_text(st, 2);
		uint64_t col = (uint64_t)sqlite3_column_int64(st, 3);
		struct m_pair *p = src && dst ? pair_get(m, src, dst, 1) : NULL;
		struct m_row *r = p ? row_get(m, sqlite3_column_int64(st, 0), K_HIST, p, &created) : NULL;

		if (!r) {
			m->errors++;
			continue;
		}
		/* The count column changes whenever the histogram does. */
		if (!created && r->col == col)
			continue;
		if (st_hist_decode(m->scratch, sqlite3_column_blob(st, 4),
				   (size_t)sqlite3_column_bytes(st, 4))) {
			m->errors++;
			continue;
		}
		hist_values(m, m->scratch, v);
		row_apply(m, r, p->hist, v, H_NV);
		r->col = col;
	}
	sqlite3_finalize(st);

	if (sqlite3_prepare_v2(db, "SELECT minute,src,dst,matched,lost,dropped,unmatched"
			       " FROM pair WHERE tenant='' AND minute>=?", -1, &st,
			       NULL) != SQLITE_OK) {
		m->errors++;
		return;
	}
	sqlite3_bind_int64(st, 1, lo);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *src = (const char *)sqlite3_column_text(st, 1);
		const char *dst = (const char *)sqlite3_column_text(st, 2);
		struct m_pair *p = src && dst ? pair_get(m, src, dst, 1) : NULL;
		struct m_row *r = p ? row_get(m, sqlite3_column_int64(st, 0), K_PAIR, p, &created) : NULL;

		if (!r) {
			m->errors++;
			continue;
		}
		for (int i = 0; i < P_NV; i++)
			v[i] = (uint64_t)sqlite3_column_int64(st, 3 + i);
		row_apply(m, r, p->out, v, P_NV);
	}
	sqlite3_finalize(st);
	m->baselined = 1;
}

static int pair_cmp(const void *a, const void *b)
{
	const struct m_pair *x = *(struct m_pair *const *)a, *y = *(struct m_pair *const *)b;
	uint64_t tx = x->out[P_MATCHED] + x->out[P_LOST] + x->out[P_DROPPED] + x->out[P_UNMATCHED];
	uint64_t ty = y->out[P_MATCHED] + y->out[P_LOST] + y->out[P_DROPPED] + y->out[P_UNMATCHED];
	int r;

	if (x->w_packets != y->w_packets)
		return x->w_packets > y->w_packets ? -1 : 1;
	if (tx != ty)
		return tx > ty ? -1 : 1;
	r = strcmp(x->src, y->src);
	return r ? r : strcmp(x->dst, y->dst);
}

/* One (pair, stage) of the window is merged: keep what the families need. */
static void window_group(struct st_metrics *m, struct m_pair *p, const char *stage,
			 const struct st_hist *h)
{
	if (!p || !h->count)
		return;
	if (!strcmp(stage, "total")) {
		p->w_count = h->count;
		for (int i = 0; i < M_NQ; i++)
			p->q[i] = st_hist_quantile(h, quantiles[i]);
	} else if (!strcmp(stage, "vm_turnaround")) {
		p->has_turn = 1;
		p->turn_mean_ns = st_hist_mean(h);
	} else if (p->n_stages < M_MAX_STAGES) {
		struct m_stage *s = &p->stages[p->n_stages];

		if ((s->name = strdup(stage)) == NULL) {
			m->errors++;
			return;
		}
		s->mean_ns = st_hist_mean(h);
		p->n_stages++;
	} else {
		m->stages_cut++;
	}
}

/*
 * The window's figures of the exported pairs, streamed one (pair, stage)
 * group at a time so only one merged histogram is ever held.
 */
static void window_read(struct st_metrics *m, int64_t lo, int64_t hi)
{
	struct m_pair *gp = NULL;
	char *gstage = NULL;	/* NULL: no group open */
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(m->c->db, "SELECT src,dst,stage,hist FROM hist WHERE tenant=''"
			       " AND minute BETWEEN ? AND ? ORDER BY src,dst,stage", -1, &st,
			       NULL) != SQLITE_OK) {
		m->errors++;
		return;
	}
	sqlite3_bind_int64(st, 1, lo);
	sqlite3_bind_int64(st, 2, hi);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *src = (const char *)sqlite3_column_text(st, 0);
		const char *dst = (const char *)sqlite3_column_text(st, 1);
		const char *stage = (const char *)sqlite3_column_text(st, 2);
		struct m_pair *p;

		if (!src || !dst || !stage)
			continue;
		p = pair_get(m, src, dst, 0);
		if (!p || !p->exported)
			continue;
		if (!gstage || p != gp || strcmp(stage, gstage)) {
			if (gstage)
				window_group(m, gp, gstage, m->acc);
			free(gstage);
			if ((gstage = strdup(stage)) == NULL) {
				m->errors++;
				break;
			}
			gp = p;
			st_hist_init(m->acc);
		}
		if (st_hist_merge_encoded(m->acc, sqlite3_column_blob(st, 3),
					  (size_t)sqlite3_column_bytes(st, 3)))
			m->errors++;
	}
	if (gstage)
		window_group(m, gp, gstage, m->acc);
	free(gstage);
	sqlite3_finalize(st);
}

/* SLOs: burn rate per window, alert state, objective. Bounded by SLO_MAX. */
void m_render_pairs(struct st_metrics *m, struct st_sbuf *b, int64_t now_s)
{
	int64_t lo = (now_s - M_WINDOW_S) / 60, hi = now_s / 60;
	struct m_pair **all = NULL, *p;
	size_t n = 0, ne, it = 0;
	sqlite3_stmt *st;
	uint64_t k;
	void *v;
	char le[32];

	/* Reset the per-render figures. */
	while (st_u64map_next(&m->pairs, &it, &k, &v)) {
		p = v;
		p->w_packets = p->w_count = 0;
		p->exported = p->has_turn = 0;
	}
	/* Packets per pair in the window rank the pairs. */
	if (sqlite3_prepare_v2(m->c->db, "SELECT src,dst,SUM(matched)+SUM(lost)+SUM(dropped)+"
			       "SUM(unmatched) FROM pair WHERE tenant='' AND minute BETWEEN ? AND ?"
			       " GROUP BY src,dst", -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, lo);
		sqlite3_bind_int64(st, 2, hi);
		while (sqlite3_step(st) == SQLITE_ROW) {
			const char *src = (const char *)sqlite3_column_text(st, 0);
			const char *dst = (const char *)sqlite3_column_text(st, 1);

			if (src && dst && (p = pair_get(m, src, dst, 1)) != NULL)
				p->w_packets = (uint64_t)sqlite3_column_int64(st, 2);
		}
		sqlite3_finalize(st);
	} else {
		m->errors++;
	}
	if (m->pairs.len && !(all = malloc(m->pairs.len * sizeof(*all))))
		m->errors++;
	it = 0;
	while (all && st_u64map_next(&m->pairs, &it, &k, &v))
		all[n++] = v;
	if (n)
		qsort(all, n, sizeof(*all), pair_cmp);
	ne = n < m->max_pairs ? n : m->max_pairs;
	m->pairs_exported = ne;
	m->pairs_cut = m->stages_cut = 0;
	for (size_t i = 0; i < n; i++) {
		if (i < ne)
			all[i]->exported = 1;
		else if (all[i]->w_packets)
			m->pairs_cut++;
	}
	window_read(m, lo, hi);

	st_prom_family(b, "stagetrace_pair_latency_seconds", "histogram",
	       "End-to-end latency of packets from src to dst finalised since the collector "
	       "started (first stamp to last; values counted by log-linear bucket midpoint).");
	for (size_t i = 0; i < ne; i++) {
		p = all[i];
		if (!p->hist[H_COUNT])
			continue;
		for (int j = 0; j < M_NLE; j++) {
			snprintf(le, sizeof(le), "%.15g", le_ns[j] / 1e9);
			st_prom_sample_u(b, "stagetrace_pair_latency_seconds_bucket", p->hist[H_LE + j],
				 "src", p->src, "dst", p->dst, "le", le, NULL);
		}
		st_prom_sample_u(b, "stagetrace_pair_latency_seconds_bucket", p->hist[H_COUNT],
			 "src", p->src, "dst", p->dst, "le", "+Inf", NULL);
		st_prom_sample_d(b, "stagetrace_pair_latency_seconds_sum", p->hist[H_SUM] / 1e9,
			 "src", p->src, "dst", p->dst, NULL);
		st_prom_sample_u(b, "stagetrace_pair_latency_seconds_count", p->hist[H_COUNT],
			 "src", p->src, "dst", p->dst, NULL);
	}
	st_prom_family(b, "stagetrace_pair_latency_recent_seconds", "summary",
	       "End-to-end latency quantiles from src to dst over the last 5 minutes "
	       "(exact to 0.8 %); _sum and _count are since the collector started.");
	for (size_t i = 0; i < ne; i++) {
		p = all[i];
		if (!p->w_count && !p->hist[H_COUNT])
			continue;
		for (int j = 0; j < M_NQ && p->w_count; j++)
			st_prom_sample_d(b, "stagetrace_pair_latency_recent_seconds", p->q[j] / 1e9,
				 "src", p->src, "dst", p->dst, "quantile", quantile_names[j], NULL);
		st_prom_sample_d(b, "stagetrace_pair_latency_recent_seconds_sum", p->hist[H_SUM] / 1e9,
			 "src", p->src, "dst", p->dst, NULL);
		st_prom_sample_u(b, "stagetrace_pair_latency_recent_seconds_count", p->hist[H_COUNT],
			 "src", p->src, "dst", p->dst, NULL);
	}
	st_prom_family(b, "stagetrace_pair_latency_recent_packets", "gauge",
	       "Packets the recent quantiles are computed from (last 5 minutes).");
	for (size_t i = 0; i < ne; i++)
		if (all[i]->w_count)
			st_prom_sample_u(b, "stagetrace_pair_latency_recent_packets", all[i]->w_count,
				 "src", all[i]->src, "dst", all[i]->dst, NULL);
	st_prom_family(b, "stagetrace_pair_packets_total", "counter",
	       "Packets from src to dst finalised since the collector started, by outcome "
	       "(matched, lost, dropped, unmatched).");
	for (size_t i = 0; i < ne; i++)
		for (int j = 0; j < P_NV; j++)
			st_prom_sample_u(b, "stagetrace_pair_packets_total", all[i]->out[j],
				 "src", all[i]->src, "dst", all[i]->dst,
				 "outcome", outcome_names[j], NULL);
	st_prom_family(b, "stagetrace_pair_stage_mean_seconds", "gauge",
	       "Mean time spent in the stage by packets from src to dst over the last 5 minutes.");
	for (size_t i = 0; i < ne; i++)
		for (int j = 0; j < all[i]->n_stages; j++)
			st_prom_sample_d(b, "stagetrace_pair_stage_mean_seconds",
				 all[i]->stages[j].mean_ns / 1e9, "src", all[i]->src,
				 "dst", all[i]->dst, "stage", all[i]->stages[j].name, NULL);
	st_prom_family(b, "stagetrace_pair_turnaround_mean_seconds", "gauge",
	       "Mean time dst took to answer src over the last 5 minutes.");
	for (size_t i = 0; i < ne; i++)
		if (all[i]->has_turn)
			st_prom_sample_d(b, "stagetrace_pair_turnaround_mean_seconds",
				 all[i]->turn_mean_ns / 1e9, "src", all[i]->src, "dst", all[i]->dst,
				 NULL);

	for (size_t i = 0; i < n; i++) {
		for (int j = 0; j < all[i]->n_stages; j++)
			free(all[i]->stages[j].name);
		all[i]->n_stages = 0;
	}
	free(all);
}


void m_pairs_init(struct st_metrics *m)
{
	for (int j = 0; j < M_NLE; j++) {
		uint32_t i = j ? m->cut[j - 1] : 0;

		for (; i < ST_HIST_NBUCKETS; i++) {
			uint64_t lo = st_hist_bucket_low(i);

			if (lo + (st_hist_bucket_high(i) - lo) / 2 > le_ns[j])
				break;
		}
		m->cut[j] = i;
	}
}

void m_pairs_free(struct st_metrics *m)
{
	size_t it = 0;
	uint64_t k;
	void *v;

	while (st_u64map_next(&m->pairs, &it, &k, &v)) {
		struct m_pair *p = v;

		free(p->src);
		free(p->dst);
		free(p);
	}
	it = 0;
	while (st_u64map_next(&m->rows, &it, &k, &v))
		free(v);
	st_u64map_free(&m->pairs);
	st_u64map_free(&m->rows);
}
