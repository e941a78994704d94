// SPDX-License-Identifier: MIT
/*
 * The drill-down store: the slowest end-to-end paths, stage by stage.
 *
 * Histograms say how slow a pair is; an operator then wants the slow
 * packets themselves. For every (minute, source, destination) the
 * collector keeps the C_PATHS_KEEP slowest matched paths it finalised —
 * flow, packet id, first-stamp time, total and every stage interval — in
 * memory until the next flush, which inserts them in the flush's
 * transaction and trims the stored rows of that pair and minute back to
 * the slowest C_PATHS_KEEP. A global cap (C_PATHS_MAX_ROWS, oldest minutes
 * first) bounds the table.
 */
#include "collector.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define C_PATHS_KEEP 20
#define C_PATHS_MAX_ROWS 200000

struct c_path_slot {
	int64_t minute;
	char *src, *dst;
	int n;
	struct c_path_rec rec[C_PATHS_KEEP];
};


void c_path_flow(const struct c_part *p, char *buf, size_t len)
{
	char s[16], d[16];

	inet_ntop(AF_INET, &p->saddr, s, sizeof(s));
	inet_ntop(AF_INET, &p->daddr, d, sizeof(d));
	if (p->proto == 1)
		snprintf(buf, len, "%s -> %s ICMP id=%u seq=%u", s, d, ntohs(p->sport), p->disc1);
	else if (p->proto == 6)
		snprintf(buf, len, "%s:%u -> %s:%u TCP seq=%u", s, ntohs(p->sport), d,
			 ntohs(p->dport), p->disc1);
	else if (p->proto == 17)
		snprintf(buf, len, "%s:%u -> %s:%u UDP id=%u", s, ntohs(p->sport), d,
			 ntohs(p->dport), p->disc1 >> 16);
	else
		snprintf(buf, len, "%s -> %s proto %u id=%u", s, d, p->proto, p->disc1 >> 16);
}

void c_paths_offer(struct st_collector *c, int64_t minute, const char *src,
		   const char *dst, const struct c_path_rec *r)
{
	uint64_t k = c_agg_key(minute, src, dst, -2);
	struct c_path_slot *s;
	int min = 0;

	for (;; k = k + 1 ? k + 1 : 1) {
		s = st_u64map_get(&c->path_slots, k);
		if (!s || (s->minute == minute && !strcmp(s->src, src) && !strcmp(s->dst, dst)))
			break;
	}
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return;
		s->minute = minute;
		s->src = strdup(src);
		s->dst = strdup(dst);
		if (st_u64map_put(&c->path_slots, k, s)) {
			free(s->src);
			free(s->dst);
			free(s);
			return;
		}
	}
	if (s->n < C_PATHS_KEEP) {
		s->rec[s->n++] = *r;
		return;
	}
	/* Full: replace the fastest kept path if this one is slower. */
	for (int i = 1; i < s->n; i++)
		if (s->rec[i].total < s->rec[min].total)
			min = i;
	if (r->total > s->rec[min].total)
		s->rec[min] = *r;
}

static int store_slot(struct st_collector *c, const struct c_path_slot *s)
{
	sqlite3_stmt *st;
	int rc = 0;

	if (sqlite3_prepare_v2(c->db, "INSERT INTO paths(tenant,minute,src,dst,total_ns,t0_ns,"
			       "packet_id,flow,stages,bound_ns) VALUES('',?,?,?,?,?,?,?,?,?)",
			       -1, &st, NULL) != SQLITE_OK)
		return -1;
	for (int i = 0; i < s->n && !rc; i++) {
		const struct c_path_rec *r = &s->rec[i];
		char id[24];

		snprintf(id, sizeof(id), "%016llx", (unsigned long long)r->id);
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, s->minute);
		sqlite3_bind_text(st, 2, s->src, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, s->dst, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, r->total);
		sqlite3_bind_int64(st, 5, r->t0);
		sqlite3_bind_text(st, 6, id, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 7, r->flow, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 8, r->stages, -1, SQLITE_STATIC);
		sqlite3_bind_double(st, 9, r->bound);
		rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
	}
	sqlite3_finalize(st);
	if (rc)
		return rc;
	/* Keep the slowest C_PATHS_KEEP of this pair and minute. */
	if (sqlite3_prepare_v2(c->db, "DELETE FROM paths WHERE rowid IN (SELECT rowid FROM paths"
			       " WHERE tenant='' AND minute=? AND src=? AND dst=?"
			       " ORDER BY total_ns DESC LIMIT -1 OFFSET ?)", -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, s->minute);
	sqlite3_bind_text(st, 2, s->src, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, s->dst, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, C_PATHS_KEEP);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
	sqlite3_finalize(st);
	return rc;
}

/* Inside the flush transaction. */
int c_paths_store(struct st_collector *c)
{
	size_t it = 0;
	uint64_t k;
	void *v;

	while (st_u64map_next(&c->path_slots, &it, &k, &v))
		if (store_slot(c, v)) {
			pr_warn("sqlite store paths: %s", sqlite3_errmsg(c->db));
			return -1;
		}
	/* The global cap, checked now and then: oldest rows go first. */
	if (c->c.flushes % 60 == 0 &&
	    sqlite3_exec(c->db, "DELETE FROM paths WHERE rowid IN (SELECT rowid FROM paths"
			 " ORDER BY minute ASC LIMIT max(0, (SELECT count(*) FROM paths) - "
			 "200000))", NULL, NULL, NULL) != SQLITE_OK)
		pr_warn("sqlite trim paths: %s", sqlite3_errmsg(c->db));
	return 0;
}

/* Free every kept path and the map (shutdown, tests). */
void c_paths_free(struct st_collector *c)
{
	size_t it = 0;
	uint64_t k;
	void *v;

	while (st_u64map_next(&c->path_slots, &it, &k, &v)) {
		struct c_path_slot *s = v;

		free(s->src);
		free(s->dst);
		free(s);
	}
	st_u64map_free(&c->path_slots);
}

/* After a committed flush. */
void c_paths_clear(struct st_collector *c)
{
	c_paths_free(c);
	st_u64map_init(&c->path_slots, 64);
}
