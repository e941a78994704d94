// SPDX-License-Identifier: MIT
/*
 * Queries from the CLI: one JSON object in, one JSON object out, over an
 * nng REP socket. Every answer carries "ok"; failures carry "error".
 * Queries flush pending aggregates first, so an answer includes every
 * path finalised before it was asked.
 *
 *   {"query":"matrix","since":UNIX_S,"until":UNIX_S}
 *   {"query":"hosts"}
 *   {"query":"stats"}
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

static json_object *hist_json(const struct st_hist *h)
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
	const struct qcell *x = a, *y = b;
	int r = strcmp(x->src, y->src);

	if (!r)
		r = strcmp(x->dst, y->dst);
	if (!r)
		r = x->ord - y->ord;
	if (!r)
		r = strcmp(x->stage, y->stage);
	return r;
}

static json_object *query_matrix(struct st_collector *c, json_object *req)
{
	json_object *since_o, *until_o, *out, *cells;
	int64_t since = 0, until = INT64_MAX / 60000000000LL;
	struct qcell *qc = NULL;
	struct qpair *qp = NULL;
	size_t nqc = 0, nqp = 0;
	sqlite3_stmt *st;

	if (json_object_object_get_ex(req, "since", &since_o))
		since = json_object_get_int64(since_o) / 60;
	if (json_object_object_get_ex(req, "until", &until_o))
		until = json_object_get_int64(until_o) / 60;

	if (sqlite3_prepare_v2(c->db, "SELECT src,dst,stage,ord,hist,bound_sum,bound_n FROM hist"
			       " WHERE minute BETWEEN ? AND ? ORDER BY src,dst,stage",
			       -1, &st, NULL) != SQLITE_OK)
		return NULL;
	sqlite3_bind_int64(st, 1, since);
	sqlite3_bind_int64(st, 2, until);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *src = (const char *)sqlite3_column_text(st, 0);
		const char *dst = (const char *)sqlite3_column_text(st, 1);
		const char *stage = (const char *)sqlite3_column_text(st, 2);
		struct qcell *cur = nqc ? &qc[nqc - 1] : NULL;

		if (!cur || strcmp(cur->src, src) || strcmp(cur->dst, dst) ||
		    strcmp(cur->stage, stage)) {
			struct qcell *n = realloc(qc, (nqc + 1) * sizeof(*qc));

			if (!n)
				break;
			qc = n;
			cur = &qc[nqc++];
			cur->src = strdup(src);
			cur->dst = strdup(dst);
			cur->stage = strdup(stage);
			cur->ord = 0;
			cur->bound_sum = 0;
			cur->bound_n = 0;
			st_hist_init(&cur->h);
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

	if (sqlite3_prepare_v2(c->db, "SELECT src,dst,SUM(matched),SUM(lost),SUM(dropped),"
			       "SUM(unmatched) FROM pair WHERE minute BETWEEN ? AND ?"
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

		for (size_t j = 0; j < nqc; j++) {
			if (strcmp(qc[j].src, p->src) || strcmp(qc[j].dst, p->dst))
				continue;
			if (!strcmp(qc[j].stage, "total")) {
				total = &qc[j].h;
				total_cell = &qc[j];
			}
			else if (!strcmp(qc[j].stage, "vm_turnaround"))
				turn = &qc[j].h;
			else
				sum_mean += st_hist_mean(&qc[j].h) * qc[j].h.count;
		}
		json_object_object_add(cell, "src", json_object_new_string(p->src));
		json_object_object_add(cell, "dst", json_object_new_string(p->dst));
		json_object_object_add(cell, "count", json_object_new_int64((int64_t)p->matched));
		json_object_object_add(cell, "lost", json_object_new_int64((int64_t)p->lost));
		json_object_object_add(cell, "dropped", json_object_new_int64((int64_t)p->dropped));
		json_object_object_add(cell, "unmatched", json_object_new_int64((int64_t)p->unmatched));
		json_object_object_add(cell, "match_rate", denom ?
				       json_object_new_double((double)p->matched / denom) : NULL);
		json_object_object_add(cell, "latency", total ? hist_json(total) : NULL);
		if (total)
			add_bound(json_object_object_get(cell, "latency"), total_cell, &large);
		for (size_t j = 0; j < nqc; j++) {
			json_object *so;

			if (strcmp(qc[j].src, p->src) || strcmp(qc[j].dst, p->dst) ||
			    !strcmp(qc[j].stage, "total") ||
			    !strcmp(qc[j].stage, "vm_turnaround"))
				continue;
			so = hist_json(&qc[j].h);
			json_object_object_add(so, "stage", json_object_new_string(qc[j].stage));
			add_bound(so, &qc[j], &large);
			/* Share of the summed stage time: which stage the time goes to. */
			json_object_object_add(so, "share", json_object_new_double(
				sum_mean > 0 ? round(1000.0 * st_hist_mean(&qc[j].h) *
						     qc[j].h.count / sum_mean) / 1000.0 : 0));
			json_object_array_add(stages, so);
		}
		json_object_object_add(cell, "stages", stages);
		/* Cross-host figures whose clock bound is large next to them. */
		json_object_object_add(cell, "clock_bound_large", json_object_new_boolean(large));
		json_object_object_add(cell, "turnaround", turn ? hist_json(turn) : NULL);
		json_object_array_add(cells, cell);
	}
	json_object_object_add(out, "cells", cells);
	json_object_object_add(out, "since", json_object_new_int64(since * 60));
	json_object_object_add(out, "until", json_object_new_int64(until >= INT64_MAX / 60000000000LL ? 0 : until * 60 + 59));
	for (size_t i = 0; i < nqc; i++) {
		free(qc[i].src);
		free(qc[i].dst);
		free(qc[i].stage);
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
static json_object *query_paths(struct st_collector *c, json_object *req)
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
	sqlite3_bind_int64(st, 5, n);
	while (sqlite3_step(st) == SQLITE_ROW) {
		json_object *p = json_object_new_object(), *stages = json_object_new_array();
		char *list = strdup((const char *)sqlite3_column_text(st, 6)), *save = NULL, *tok;
		double bound = sqlite3_column_double(st, 7);

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
	C(extra_parts); C(negative_segments); C(turnarounds); C(flushes);
	C(flush_errors); C(replayed_batches);
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

static void reply_error(const char *msg, uint8_t **resp, size_t *rlen)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "ok", json_object_new_boolean(0));
	json_object_object_add(o, "error", json_object_new_string(msg));
	reply(o, resp, rlen);
}

void c_query_handler(void *arg, int64_t recv_ns, const uint8_t *req, size_t len,
		     uint8_t **resp, size_t *rlen)
{
	struct st_collector *c = arg;
	struct json_tokener *tok = json_tokener_new();
	json_object *q = NULL, *name, *out = NULL;
	const char *qn;

	if (tok)
		q = json_tokener_parse_ex(tok, (const char *)req, (int)len);
	json_tokener_free(tok);
	if (!q || !json_object_is_type(q, json_type_object) ||
	    !json_object_object_get_ex(q, "query", &name) ||
	    !json_object_is_type(name, json_type_string)) {
		json_object_put(q);
		reply_error("malformed query: expected {\"query\": NAME, ...}", resp, rlen);
		return;
	}
	qn = json_object_get_string(name);
	c_flush(c);
	if (!strcmp(qn, "matrix")) {
		json_object *m = query_matrix(c, q);

		if (!m) {
			json_object_put(q);
			reply_error("store query failed", resp, rlen);
			return;
		}
		out = m;
		json_object_object_add(out, "collector", stats_json(c));
	} else if (!strcmp(qn, "hosts")) {
		out = json_object_new_object();
		json_object_object_add(out, "hosts", hosts_json(c));
	} else if (!strcmp(qn, "paths")) {
		out = query_paths(c, q);
		if (!out) {
			json_object_put(q);
			reply_error("store query failed", resp, rlen);
			return;
		}
	} else if (!strcmp(qn, "slo")) {
		out = json_object_new_object();
		json_object_object_add(out, "slos", c_slo_json(c));
	} else if (!strcmp(qn, "clocks")) {
		out = c_clock_json(c);
	} else if (!strcmp(qn, "stats")) {
		out = json_object_new_object();
		json_object_object_add(out, "collector", stats_json(c));
	} else {
		char msg[128];

		snprintf(msg, sizeof(msg), "unknown query '%.60s'", qn);
		json_object_put(q);
		reply_error(msg, resp, rlen);
		return;
	}
	json_object_put(q);
	json_object_object_add(out, "ok", json_object_new_boolean(1));
	reply(out, resp, rlen);
}
