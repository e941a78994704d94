// SPDX-License-Identifier: MIT
/*
 * Queries from the CLI: one JSON object in, one JSON object out, over an
 * nng REP socket. Every answer carries "ok"; failures carry "error".
 * Queries flush pending aggregates first, so an answer includes every
 * path finalised before it was asked.
 *
 *   {"query":"matrix","since":UNIX_S,"until":UNIX_S[,"src":..,"dst":..]}
 *   {"query":"paths", ...}, {"query":"slo"}, {"query":"tenants"}
 *   {"query":"gap", since, until[, src, dst, port]}
 *   {"query":"upcall", since, until[, src, dst]}        (upcall.c)
 *   {"query":"hosts"}, {"query":"clocks"}, {"query":"stats"}   (operator)
 * Any query may carry "tenant" (narrow to one tenant) and "pair_id"
 * (a named pair: sets src and dst). c_query_run() answers for a scope:
 * the nng query socket is the operator's and sees everything; the HTTP
 * API (api.c) passes the scope its bearer token grants.
 */
#include "collector.h"

#include <arpa/inet.h>
#include <json-c/json.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "timeutil.h"

struct qcell {
	struct qcell *next;	/* same hash */
	uint64_t hash;
	char *src, *dst, *stage;
	int ord;
	double bound_sum;
	int64_t bound_n;
	struct st_hist h;
};

struct qpair {
	char *src, *dst;
	uint64_t matched, lost, dropped, unmatched;
};

static double us(uint64_t ns) { return round(ns / 10.0) / 100.0; }

json_object *c_hist_json(const struct st_hist *h)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "count", json_object_new_int64((int64_t)h->count));
	json_object_object_add(o, "mean_us", json_object_new_double(round(st_hist_mean(h) / 10.0) / 100.0));
	json_object_object_add(o, "p50_us", json_object_new_double(us(st_hist_quantile(h, 0.50))));
	json_object_object_add(o, "p95_us", json_object_new_double(us(st_hist_quantile(h, 0.95))));
	json_object_object_add(o, "p99_us", json_object_new_double(us(st_hist_quantile(h, 0.99))));
	json_object_object_add(o, "max_us", json_object_new_double(us(h->count ? h->max : 0)));
	return o;
}

/*
 * A cross-host interval carries the mean clock bound of its samples. It is
 * "large" when over a quarter of the interval's median: the figure is then
 * more alignment than measurement.
 */
static void add_bound(json_object *o, const struct qcell *q, int *large)
{
	double b;

	if (!q || q->bound_n <= 0)
		return;
	b = q->bound_sum / (double)q->bound_n;
	json_object_object_add(o, "clock_bound_us", json_object_new_double(round(b / 10.0) / 100.0));
	if (b > 0.25 * (double)st_hist_quantile(&q->h, 0.5) && b > 1000)
		*large = 1;
}

static int qcell_cmp(const void *a, const void *b)
{
	const struct qcell *x = *(struct qcell *const *)a, *y = *(struct qcell *const *)b;
	int r = strcmp(x->src, y->src);

	if (!r)
		r = strcmp(x->dst, y->dst);
	if (!r)
		r = x->ord - y->ord;
	if (!r)
		r = strcmp(x->stage, y->stage);
	return r;
}

static uint64_t str_hash(uint64_t h, const char *s)
{
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return (h ^ 0xff) * 1099511628211ull;	/* separator: "ab","c" != "a","bc" */
}

/* Index of the first of the sorted cells with this (src, dst), or n. */
static size_t first_cell(struct qcell **qc, size_t n, const char *src, const char *dst)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = strcmp(qc[mid]->src, src);

		if (!r)
			r = strcmp(qc[mid]->dst, dst);
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static json_object *query_matrix(struct st_collector *c, json_object *req)
{
	json_object *since_o, *until_o, *out, *cells;
	int64_t since = 0, until = INT64_MAX / 60000000000LL;
	struct qcell **qc = NULL;
	struct qpair *qp = NULL;
	size_t nqc = 0, nqp = 0, cap = 0;
	struct st_u64map groups;
	sqlite3_stmt *st;
	int rounded = 0;

	if (json_object_object_get_ex(req, "since", &since_o))
		since = json_object_get_int64(since_o) / 60;
	if (json_object_object_get_ex(req, "until", &until_o))
		until = json_object_get_int64(until_o) / 60;
	/* Old rows are per hour (retention.c): a range starting inside a
	 * downsampled hour takes the whole hour. */
	if (c->cfg.keep_minutes > 0 &&
	    since < c_retention_hour_cut(c, (int64_t)(st_real_ns() / 1000000000ull)) &&
	    since % 60) {
		since -= since % 60;
		rounded = 1;
	}

	/* The key's range scan, no ORDER BY: rows are grouped per (src, dst,
	 * stage) through a hash map here, and only the groups are sorted. */
	if (sqlite3_prepare_v2(c->db, "SELECT src,dst,stage,ord,hist,bound_sum,bound_n FROM hist"
			       " WHERE tenant='' AND minute BETWEEN ? AND ?", -1, &st, NULL) != SQLITE_OK)
		return NULL;
	st_u64map_init(&groups, 1024);
	sqlite3_bind_int64(st, 1, since);
	sqlite3_bind_int64(st, 2, until);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *src = (const char *)sqlite3_column_text(st, 0);
		const char *dst = (const char *)sqlite3_column_text(st, 1);
		const char *stage = (const char *)sqlite3_column_text(st, 2);
		uint64_t h = str_hash(str_hash(str_hash(1469598103934665603ull, src), dst), stage) | 1;
		struct qcell *head = st_u64map_get(&groups, h), *cur;

		for (cur = head; cur; cur = cur->next)
			if (!strcmp(cur->src, src) && !strcmp(cur->dst, dst) && !strcmp(cur->stage, stage))
				break;
		if (!cur) {
			if (nqc == cap) {
				struct qcell **n = realloc(qc, (cap = cap ? 2 * cap : 256) * sizeof(*qc));

				if (!n)
					break;
				qc = n;
			}
			if (!(cur = malloc(sizeof(*cur))))
				break;
			cur->next = head;
			cur->hash = h;
			cur->src = strdup(src);
			cur->dst = strdup(dst);
			cur->stage = strdup(stage);
			cur->ord = 0;
			cur->bound_sum = 0;
			cur->bound_n = 0;
			st_hist_init(&cur->h);
			qc[nqc++] = cur;
			st_u64map_put(&groups, h, cur);
		}
		if (sqlite3_column_int(st, 3) > cur->ord)
			cur->ord = sqlite3_column_int(st, 3);
		cur->bound_sum += sqlite3_column_double(st, 5);
		cur->bound_n += sqlite3_column_int64(st, 6);
		if (st_hist_merge_encoded(&cur->h, sqlite3_column_blob(st, 4),
					  (size_t)sqlite3_column_bytes(st, 4)))
			pr_warn("unreadable stored histogram %s->%s %s", src, dst, stage);
	}
	sqlite3_finalize(st);
	st_u64map_free(&groups);

	if (sqlite3_prepare_v2(c->db, "SELECT src,dst,SUM(matched),SUM(lost),SUM(dropped),"
			       "SUM(unmatched) FROM pair WHERE tenant='' AND minute BETWEEN ? AND ?"
			       " GROUP BY src,dst ORDER BY src,dst", -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, since);
		sqlite3_bind_int64(st, 2, until);
		while (sqlite3_step(st) == SQLITE_ROW) {
			struct qpair *n = realloc(qp, (nqp + 1) * sizeof(*qp));

			if (!n)
				break;
			qp = n;
			qp[nqp].src = strdup((const char *)sqlite3_column_text(st, 0));
			qp[nqp].dst = strdup((const char *)sqlite3_column_text(st, 1));
			qp[nqp].matched = (uint64_t)sqlite3_column_int64(st, 2);
			qp[nqp].lost = (uint64_t)sqlite3_column_int64(st, 3);
			qp[nqp].dropped = (uint64_t)sqlite3_column_int64(st, 4);
			qp[nqp].unmatched = (uint64_t)sqlite3_column_int64(st, 5);
			nqp++;
		}
		sqlite3_finalize(st);
	}

	qsort(qc, nqc, sizeof(*qc), qcell_cmp);
	out = json_object_new_object();
	cells = json_object_new_array();
	for (size_t i = 0; i < nqp; i++) {
		json_object *cell = json_object_new_object(), *stages = json_object_new_array();
		struct qpair *p = &qp[i];
		const struct st_hist *total = NULL, *turn = NULL;
		const struct qcell *total_cell = NULL;
		int large = 0;
		double sum_mean = 0;
		uint64_t denom = p->matched + p->lost;
		size_t lo = first_cell(qc, nqc, p->src, p->dst), hi = lo;

		while (hi < nqc && !strcmp(qc[hi]->src, p->src) && !strcmp(qc[hi]->dst, p->dst))
			hi++;
		for (size_t j = lo; j < hi; j++) {
			if (!strcmp(qc[j]->stage, "total")) {
				total = &qc[j]->h;
				total_cell = qc[j];
			}
			else if (!strcmp(qc[j]->stage, "vm_turnaround"))
				turn = &qc[j]->h;
			else
				sum_mean += st_hist_mean(&qc[j]->h) * qc[j]->h.count;
		}
		json_object_object_add(cell, "src", json_object_new_string(p->src));
		json_object_object_add(cell, "dst", json_object_new_string(p->dst));
		json_object_object_add(cell, "count", json_object_new_int64((int64_t)p->matched));
		json_object_object_add(cell, "lost", json_object_new_int64((int64_t)p->lost));
		json_object_object_add(cell, "dropped", json_object_new_int64((int64_t)p->dropped));
		json_object_object_add(cell, "unmatched", json_object_new_int64((int64_t)p->unmatched));
		json_object_object_add(cell, "match_rate", denom ?
				       json_object_new_double((double)p->matched / denom) : NULL);
		json_object_object_add(cell, "latency", total ? c_hist_json(total) : NULL);
		if (total)
			add_bound(json_object_object_get(cell, "latency"), total_cell, &large);
		for (size_t j = lo; j < hi; j++) {
			json_object *so;

			if (!strcmp(qc[j]->stage, "total") ||
			    !strcmp(qc[j]->stage, "vm_turnaround"))
				continue;
			so = c_hist_json(&qc[j]->h);
			json_object_object_add(so, "stage", json_object_new_string(qc[j]->stage));
			add_bound(so, qc[j], &large);
			/* Share of the summed stage time: which stage the time goes to. */
			json_object_object_add(so, "share", json_object_new_double(
				sum_mean > 0 ? round(1000.0 * st_hist_mean(&qc[j]->h) *
						     qc[j]->h.count / sum_mean) / 1000.0 : 0));
			json_object_array_add(stages, so);
		}
		json_object_object_add(cell, "stages", stages);
		/* Cross-host figures whose clock bound is large next to them. */
		json_object_object_add(cell, "clock_bound_large", json_object_new_boolean(large));
		json_object_object_add(cell, "turnaround", turn ? c_hist_json(turn) : NULL);
		json_object_array_add(cells, cell);
	}
	json_object_object_add(out, "cells", cells);
	json_object_object_add(out, "since", json_object_new_int64(since * 60));
	json_object_object_add(out, "since_rounded_to_hour", json_object_new_boolean(rounded));
	json_object_object_add(out, "until", json_object_new_int64(until >= INT64_MAX / 60000000000LL ? 0 : until * 60 + 59));
	for (size_t i = 0; i < nqc; i++) {
		free(qc[i]->src);
		free(qc[i]->dst);
		free(qc[i]->stage);
		free(qc[i]);
	}
	for (size_t i = 0; i < nqp; i++) {
		free(qp[i].src);
		free(qp[i].dst);
	}
	free(qc);
	free(qp);
	return out;
}

/* The slowest stored paths, optionally of one source and/or destination. */
#define in_scope c_in_scope

static json_object *query_paths(struct st_collector *c, json_object *req, int scope)
{
	json_object *o, *out = json_object_new_object(), *arr = json_object_new_array();
	const char *src = NULL, *dst = NULL;
	int64_t since = 0, until = INT64_MAX / 60000000000LL, n = 20;
	sqlite3_stmt *st;

	if (json_object_object_get_ex(req, "src", &o))
		src = json_object_get_string(o);
	if (json_object_object_get_ex(req, "dst", &o))
		dst = json_object_get_string(o);
	if (json_object_object_get_ex(req, "since", &o))
		since = json_object_get_int64(o) / 60;
	if (json_object_object_get_ex(req, "until", &o))
		until = json_object_get_int64(o) / 60;
	if (json_object_object_get_ex(req, "slowest", &o))
		n = json_object_get_int64(o);
	if (n < 1 || n > 10000)
		n = 20;
	if (sqlite3_prepare_v2(c->db, "SELECT src,dst,total_ns,t0_ns,packet_id,flow,stages,bound_ns"
			       " FROM paths WHERE minute BETWEEN ? AND ? AND (?3 IS NULL OR src=?3)"
			       " AND (?4 IS NULL OR dst=?4) ORDER BY total_ns DESC LIMIT ?5",
			       -1, &st, NULL) != SQLITE_OK) {
		json_object_put(out);
		json_object_put(arr);
		return NULL;
	}
	sqlite3_bind_int64(st, 1, since);
	sqlite3_bind_int64(st, 2, until);
	if (src)
		sqlite3_bind_text(st, 3, src, -1, SQLITE_STATIC);
	if (dst)
		sqlite3_bind_text(st, 4, dst, -1, SQLITE_STATIC);
	/* A tenant's paths are picked out of everyone's: no SQL limit then. */
	sqlite3_bind_int64(st, 5, scope < 0 ? n : -1);
	while (n > 0 && sqlite3_step(st) == SQLITE_ROW) {
		json_object *p, *stages;
		char *list, *save = NULL, *tok;
		double bound = sqlite3_column_double(st, 7);

		if (!in_scope(c, scope, (const char *)sqlite3_column_text(st, 0),
			      (const char *)sqlite3_column_text(st, 1)))
			continue;
		n--;
		p = json_object_new_object();
		stages = json_object_new_array();
		list = strdup((const char *)sqlite3_column_text(st, 6));

		json_object_object_add(p, "src", json_object_new_string((const char *)sqlite3_column_text(st, 0)));
		json_object_object_add(p, "dst", json_object_new_string((const char *)sqlite3_column_text(st, 1)));
		json_object_object_add(p, "total_us", json_object_new_double(us((uint64_t)sqlite3_column_int64(st, 2))));
		json_object_object_add(p, "time_ns", json_object_new_int64(sqlite3_column_int64(st, 3)));
		json_object_object_add(p, "packet_id", json_object_new_string((const char *)sqlite3_column_text(st, 4)));
		json_object_object_add(p, "flow", json_object_new_string((const char *)sqlite3_column_text(st, 5)));
		json_object_object_add(p, "clock_bound_us", bound >= 0 ?
				       json_object_new_double(round(bound / 10.0) / 100.0) : NULL);
		for (tok = list ? strtok_r(list, ",", &save) : NULL; tok; tok = strtok_r(NULL, ",", &save)) {
			char *eq = strchr(tok, '=');
			json_object *so;

			if (!eq)
				continue;
			*eq = '\0';
			so = json_object_new_object();
			json_object_object_add(so, "stage", json_object_new_string(tok));
			json_object_object_add(so, "us", json_object_new_double(us(strtoull(eq + 1, NULL, 10))));
			json_object_array_add(stages, so);
		}
		free(list);
		json_object_object_add(p, "stages", stages);
		json_object_array_add(arr, p);
	}
	sqlite3_finalize(st);
	json_object_object_add(out, "paths", arr);
	return out;
}

static json_object *stats_json(struct st_collector *c)
{
	json_object *o = json_object_new_object();
	const struct c_counters *k = &c->c;
#define C(n) json_object_object_add(o, #n, json_object_new_int64((int64_t)k->n))
	C(batches); C(batches_dup); C(batches_bad); C(paths); C(paths_bad);
	C(matched); C(local); C(lost); C(dropped); C(unmatched_rx); C(incomplete);
	C(extra_parts); C(negative_segments); C(turnarounds); C(guest_waits);
	C(guest_addrs_full); C(flushes);
	C(flush_errors); C(replayed_batches); C(api_requests); C(api_unauthorized);
	C(api_forbidden); C(api_bad); C(hours_downsampled); C(rows_expired);
	C(retention_errors);
#undef C
	json_object_object_add(o, "pending_packets", json_object_new_int64((int64_t)c->pending.len));
	return o;
}

static json_object *hosts_json(struct st_collector *c)
{
	json_object *arr = json_object_new_array();
	int64_t now = (int64_t)st_real_ns();

	for (int i = 0; i < c->n_hosts; i++) {
		const struct c_host *h = &c->hosts[i];
		json_object *o = json_object_new_object(), *cs = json_object_new_object();
		json_object *ps = json_object_new_array();
		char inst[24];

		snprintf(inst, sizeof(inst), "%016lx", (unsigned long)h->instance);
		json_object_object_add(o, "host", json_object_new_string(h->name));
		json_object_object_add(o, "instance", json_object_new_string(inst));
		json_object_object_add(o, "batches", json_object_new_int64((int64_t)h->batches));
		json_object_object_add(o, "paths", json_object_new_int64((int64_t)h->paths));
		json_object_object_add(o, "restarts", json_object_new_int64((int64_t)h->restarts));
		json_object_object_add(o, "last_seen_s", json_object_new_double(
			round((now - h->last_seen_ns) / 1e6) / 1e3));
		json_object_object_add(o, "clock_source", json_object_new_string("host-realtime"));
		for (int j = 0; j < h->n_counters; j++)
			json_object_object_add(cs, h->counters[j].name,
					       json_object_new_int64((int64_t)h->counters[j].value));
		json_object_object_add(o, "counters", cs);
		for (int j = 0; j < h->n_probes; j++) {
			json_object *p = json_object_new_object();

			json_object_object_add(p, "hook", json_object_new_string(h->probes[j].hook));
			json_object_object_add(p, "method", json_object_new_string(h->probes[j].method));
			json_object_object_add(p, "status", json_object_new_string(h->probes[j].status));
			json_object_object_add(p, "reason", json_object_new_string(h->probes[j].reason));
			json_object_array_add(ps, p);
		}
		json_object_object_add(o, "probes", ps);
		json_object_array_add(arr, o);
	}
	return arr;
}

static void reply(json_object *o, uint8_t **resp, size_t *rlen)
{
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);

	*rlen = strlen(s);
	*resp = malloc(*rlen + 1);
	if (*resp)
		memcpy(*resp, s, *rlen + 1);
	else
		*rlen = 0;
	json_object_put(o);
}

/*
 * The cells of a matrix answer that scope may see, and that match the
 * request's src/dst; each annotated with its tenant and named pair id.
 */
static void scope_cells(struct st_collector *c, json_object *ans, json_object *req, int scope)
{
	json_object *cells, *kept = json_object_new_array(), *o;
	const char *want_src = NULL, *want_dst = NULL;

	if (json_object_object_get_ex(req, "src", &o))
		want_src = json_object_get_string(o);
	if (json_object_object_get_ex(req, "dst", &o))
		want_dst = json_object_get_string(o);
	if (!json_object_object_get_ex(ans, "cells", &cells)) {
		json_object_put(kept);
		return;
	}
	for (size_t i = 0; i < json_object_array_length(cells); i++) {
		json_object *cell = json_object_array_get_idx(cells, i);
		const char *src = json_object_get_string(json_object_object_get(cell, "src"));
		const char *dst = json_object_get_string(json_object_object_get(cell, "dst"));
		int ts = c_tenant_of(c, src), td = c_tenant_of(c, dst);
		const char *pid = c_pair_id_of(&c->tenants, src, dst);

		if ((want_src && strcmp(want_src, src)) || (want_dst && strcmp(want_dst, dst)) ||
		    !in_scope(c, scope, src, dst))
			continue;
		json_object_object_add(cell, "tenant", ts >= 0 && ts == td ?
				       json_object_new_string(c->tenants.t[ts].name) : NULL);
		json_object_object_add(cell, "pair_id", pid ? json_object_new_string(pid) : NULL);
		json_object_array_add(kept, json_object_get(cell));
	}
	json_object_object_add(ans, "cells", kept);
}

/* The SLOs whose pair scope may see. */
static json_object *scope_slos(struct st_collector *c, json_object *slos, int scope)
{
	json_object *kept;

	if (scope < 0)
		return slos;
	kept = json_object_new_array();
	for (size_t i = 0; i < json_object_array_length(slos); i++) {
		json_object *s = json_object_array_get_idx(slos, i);
		json_object *t = json_object_object_get(s, "tenant");

		if (t ? !strcmp(json_object_get_string(t), c->tenants.t[scope].name) :
			in_scope(c, scope, json_object_get_string(json_object_object_get(s, "src")),
				 json_object_get_string(json_object_object_get(s, "dst"))))
			json_object_array_add(kept, json_object_get(s));
	}
	json_object_put(slos);
	return kept;
}

/* Tenants (all, or the caller's own), their members and named pairs. */
static json_object *tenants_json(struct st_collector *c, int scope)
{
	json_object *out = json_object_new_object(), *arr = json_object_new_array(), *pairs;
	char buf[32];

	for (int i = 0; i < c->tenants.n; i++) {
		const struct c_tenant *t = &c->tenants.t[i];
		json_object *o, *m;

		if (scope >= 0 && i != scope)
			continue;
		o = json_object_new_object();
		m = json_object_new_array();
		json_object_object_add(o, "name", json_object_new_string(t->name));
		for (int j = 0; j < t->n_vms; j++)
			json_object_array_add(m, json_object_new_string(t->vms[j]));
		for (int j = 0; j < t->n_nets; j++) {
			struct in_addr a = { t->nets[j].addr };
			char net[48];

			inet_ntop(AF_INET, &a, buf, sizeof(buf));
			snprintf(net, sizeof(net), "%s/%d", buf, __builtin_popcount(t->nets[j].mask));
			json_object_array_add(m, json_object_new_string(net));
		}
		json_object_object_add(o, "members", m);
		json_object_object_add(o, "api_access", json_object_new_boolean(t->token != NULL));
		json_object_array_add(arr, o);
	}
	json_object_object_add(out, "tenants", arr);
	pairs = json_object_new_array();
	for (int i = 0; i < c->tenants.n_pairs; i++) {
		const struct c_pair_id *p = &c->tenants.pairs[i];
		json_object *o;

		if (!in_scope(c, scope, p->src, p->dst))
			continue;
		o = json_object_new_object();
		json_object_object_add(o, "id", json_object_new_string(p->id));
		json_object_object_add(o, "src", json_object_new_string(p->src));
		json_object_object_add(o, "dst", json_object_new_string(p->dst));
		json_object_array_add(pairs, o);
	}
	json_object_object_add(out, "pair_ids", pairs);
	return out;
}

static json_object *fail(int *status, int code, const char *fmt, const char *arg)
{
	json_object *o = json_object_new_object();
	char msg[200];

	snprintf(msg, sizeof(msg), fmt, arg);
	*status = code;
	json_object_object_add(o, "ok", json_object_new_boolean(0));
	json_object_object_add(o, "error", json_object_new_string(msg));
	return o;
}

/*
 * Resolve the request's "tenant" and "pair_id" against the caller's scope:
 * a tenant may name only itself; the operator may narrow to any tenant.
 * NULL when fine (scope and q updated), else the error answer.
 */
static json_object *resolve_scope(struct st_collector *c, json_object *q, int *scope, int *status)
{
	json_object *o;

	if (json_object_object_get_ex(q, "tenant", &o) && !json_object_is_type(o, json_type_null)) {
		const char *name = json_object_get_string(o);
		int t = c_tenant_find(&c->tenants, name);

		if (t < 0)
			return *scope < 0 ? fail(status, 400, "unknown tenant '%.60s'", name) :
					    fail(status, 403, "this token may not query tenant '%.60s'", name);
		if (*scope >= 0 && t != *scope)
			return fail(status, 403, "this token may not query tenant '%.60s'", name);
		*scope = t;
	}
	if (json_object_object_get_ex(q, "pair_id", &o) && !json_object_is_type(o, json_type_null)) {
		const struct c_pair_id *p = c_pair_id_find(&c->tenants, json_object_get_string(o));

		if (!p)
			return fail(status, 404, "no pair id '%.60s'", json_object_get_string(o));
		json_object_object_add(q, "src", json_object_new_string(p->src));
		json_object_object_add(q, "dst", json_object_new_string(p->dst));
	}
	return NULL;
}

json_object *c_query_run(struct st_collector *c, json_object *q, int scope, int *status)
{
	json_object *name, *out = NULL, *err;
	const char *qn;
	int tenant_call = scope >= 0;

	*status = 200;
	if (!q || !json_object_is_type(q, json_type_object) ||
	    !json_object_object_get_ex(q, "query", &name) ||
	    !json_object_is_type(name, json_type_string))
		return fail(status, 400, "%s", "malformed query: expected {\"query\": NAME, ...}");
	qn = json_object_get_string(name);
	if ((err = resolve_scope(c, q, &scope, status)) != NULL)
		return err;
	if (tenant_call && (!strcmp(qn, "hosts") || !strcmp(qn, "clocks") || !strcmp(qn, "stats")))
		return fail(status, 403, "query '%s' is for the operator, not for a tenant token", qn);
	c_flush(c);
	if (!strcmp(qn, "matrix")) {
		if (!(out = query_matrix(c, q)))
			return fail(status, 500, "%s", "store query failed");
		scope_cells(c, out, q, scope);
		if (!tenant_call)
			json_object_object_add(out, "collector", stats_json(c));
		if (scope >= 0)
			json_object_object_add(out, "tenant", json_object_new_string(c->tenants.t[scope].name));
	} else if (!strcmp(qn, "hosts")) {
		out = json_object_new_object();
		json_object_object_add(out, "hosts", hosts_json(c));
	} else if (!strcmp(qn, "paths")) {
		if (!(out = query_paths(c, q, scope)))
			return fail(status, 500, "%s", "store query failed");
	} else if (!strcmp(qn, "slo")) {
		out = json_object_new_object();
		json_object_object_add(out, "slos", scope_slos(c, c_slo_json(c), scope));
	} else if (!strcmp(qn, "clocks")) {
		out = c_clock_json(c);
	} else if (!strcmp(qn, "stats")) {
		out = json_object_new_object();
		json_object_object_add(out, "collector", stats_json(c));
	} else if (!strcmp(qn, "gap")) {
		out = c_gap_query(c, q, scope);
	} else if (!strcmp(qn, "upcall")) {
		if (!(out = c_upcall_query(c, q, scope)))
			return fail(status, 500, "%s", "store query failed");
	} else if (!strcmp(qn, "tenants")) {
		out = tenants_json(c, scope);
	} else {
		return fail(status, 404, "unknown query '%.60s'", qn);
	}
	json_object_object_add(out, "ok", json_object_new_boolean(1));
	return out;
}

void c_query_handler(void *arg, int64_t recv_ns, const uint8_t *req, size_t len,
		     uint8_t **resp, size_t *rlen)
{
	struct st_collector *c = arg;
	struct json_tokener *tok = json_tokener_new();
	json_object *q = NULL;
	int status;

	(void)recv_ns;
	if (tok)
		q = json_tokener_parse_ex(tok, (const char *)req, (int)len);
	json_tokener_free(tok);
	/* The query socket is the operator's (loopback by default). */
	reply(c_query_run(c, q, -1, &status), resp, rlen);
	json_object_put(q);
}
