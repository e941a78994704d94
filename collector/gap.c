// SPDX-License-Identifier: MIT
/* The multi-port gap matrix and stalls; see gap.h. */
#include "collector.h"

#include <arpa/inet.h>
#include <json-c/json.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pktkey.h"
#include "timeutil.h"

struct g_flow {
	char src[64], dst[64];
	uint8_t proto;
	uint16_t port;		/* destination port, host order */
	int n;
	struct c_gap_point last[C_GAP_MAX_POINTS];
	int64_t seen_ns;	/* collector monotonic */
};

struct g_delta {
	int64_t minute;
	char *src, *dst;
	uint8_t proto;
	uint16_t port;
	uint16_t stage, host;
	int ord;
	struct st_hist h;
};

struct g_stall {
	int64_t minute, start_ns, dur_ns, up_ns;	/* up_ns < 0: none */
	char src[64], dst[64];
	uint8_t proto;
	uint16_t port, stage, host;
	struct g_stall *next;
};

static uint64_t mix_str(uint64_t h, const char *s)
{
	while (*s)
		h = st_mix64(h ^ (uint8_t)*s++);
	return st_mix64(h ^ 0xff);
}

static uint64_t flow_key(const char *src, const char *dst, uint8_t proto, uint16_t port)
{
	uint64_t h = mix_str(mix_str(st_mix64(((uint64_t)proto << 16 | port) + 7), src), dst);

	return h ? h : 1;
}

static struct g_flow *flow_get(struct st_collector *c, const char *src, const char *dst,
			       uint8_t proto, uint16_t port)
{
	uint64_t k = flow_key(src, dst, proto, port);
	struct g_flow *f;

	for (;; k = k + 1 ? k + 1 : 1) {
		f = st_u64map_get(&c->gap_flows, k);
		if (!f || (f->proto == proto && f->port == port && !strcmp(f->src, src) &&
			   !strcmp(f->dst, dst)))
			break;
	}
	if (f)
		return f;
	if (c->gap_flows.len >= C_GAP_MAX_FLOWS || !(f = calloc(1, sizeof(*f)))) {
		c->gap.flows_dropped++;
		return NULL;
	}
	snprintf(f->src, sizeof(f->src), "%s", src);
	snprintf(f->dst, sizeof(f->dst), "%s", dst);
	f->proto = proto;
	f->port = port;
	st_u64map_put(&c->gap_flows, k, f);
	return f;
}

static void add_gap(struct st_collector *c, const struct g_flow *f, int64_t minute, int ord,
		    const struct c_gap_point *p, uint64_t gap)
{
	uint64_t k = st_mix64(flow_key(f->src, f->dst, f->proto, f->port) ^
			      st_mix64((uint64_t)minute << 16 | (uint64_t)ord));
	struct g_delta *d;

	for (k = k ? k : 1;; k = k + 1 ? k + 1 : 1) {
		d = st_u64map_get(&c->gap_cells, k);
		if (!d || (d->minute == minute && d->ord == ord && d->stage == p->stage &&
			   d->host == p->host && d->proto == f->proto && d->port == f->port &&
			   !strcmp(d->src, f->src) && !strcmp(d->dst, f->dst)))
			break;
	}
	if (!d) {
		if (!(d = malloc(sizeof(*d))))
			return;
		d->minute = minute;
		d->src = strdup(f->src);
		d->dst = strdup(f->dst);
		d->proto = f->proto;
		d->port = f->port;
		d->stage = p->stage;
		d->host = p->host;
		d->ord = ord;
		st_hist_init(&d->h);
		st_u64map_put(&c->gap_cells, k, d);
	}
	st_hist_add(&d->h, gap);
}

static void add_stall(struct st_collector *c, const struct g_flow *f, const struct c_gap_point *p,
		      int64_t start, int64_t dur, int64_t up)
{
	struct g_stall *s;

	c->gap.stalls++;
	if (c->n_stalls >= C_GAP_MAX_STALLS_PER_FLUSH || !(s = calloc(1, sizeof(*s)))) {
		c->gap.stalls_dropped++;
		return;
	}
	s->minute = start / 60000000000LL;
	s->start_ns = start;
	s->dur_ns = dur;
	s->up_ns = up;
	memcpy(s->src, f->src, sizeof(s->src));
	memcpy(s->dst, f->dst, sizeof(s->dst));
	s->proto = f->proto;
	s->port = f->port;
	s->stage = p->stage;
	s->host = p->host;
	s->next = c->stalls;
	c->stalls = s;
	c->n_stalls++;
	pr_info("stall: %s -> %s port %u: %.1f ms at %s on %s%s", f->src, f->dst, f->port,
		dur / 1e6, c->stage_names[p->stage], c->hosts[p->host].name,
		up >= 0 && up * 2 < dur ? " (not upstream)" : "");
}

void c_gap_observe(struct st_collector *c, const char *src, const char *dst,
		   uint8_t proto, uint16_t dport, const struct c_gap_point *pt, int n)
{
	int64_t thr = (int64_t)c->cfg.stall_ms * 1000000LL, gaps[C_GAP_MAX_POINTS];
	struct g_flow *f;
	int same = 1, stalled = 0;

	if (n <= 0 || n > C_GAP_MAX_POINTS || !(f = flow_get(c, src, dst, proto, dport)))
		return;
	c->gap.packets++;
	f->seen_ns = (int64_t)st_mono_ns();
	if (f->n != n)
		same = 0;
	for (int i = 0; same && i < n; i++)
		same = f->last[i].stage == pt[i].stage && f->last[i].host == pt[i].host;
	if (!same) {
		/* First packet, or the flow took another path: start over. */
		if (f->n)
			c->gap.path_changed++;
		memcpy(f->last, pt, sizeof(*pt) * (size_t)n);
		f->n = n;
		return;
	}
	for (int i = 0; i < n; i++) {
		gaps[i] = pt[i].t - f->last[i].t;
		if (gaps[i] < 0) {
			/* Finalised after a later packet: keep the later one. */
			c->gap.reordered++;
			return;
		}
	}
	for (int i = 0; i < n; i++) {
		add_gap(c, f, pt[0].t / 60000000000LL, i, &pt[i], (uint64_t)gaps[i]);
		if (!stalled && thr > 0 && gaps[i] > thr) {
			stalled = 1;
			add_stall(c, f, &pt[i], f->last[i].t, gaps[i], i ? gaps[i - 1] : -1);
		}
	}
	memcpy(f->last, pt, sizeof(*pt) * (size_t)n);
}

/* The row key of a delta, bound as parameters 1-8. */
static void bind_key(struct st_collector *c, sqlite3_stmt *st, const struct g_delta *d)
{
	sqlite3_bind_int64(st, 1, d->minute);
	sqlite3_bind_text(st, 2, d->src, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, d->dst, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, d->proto);
	sqlite3_bind_int(st, 5, d->port);
	sqlite3_bind_int(st, 6, d->ord);
	sqlite3_bind_text(st, 7, c->stage_names[d->stage], -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, c->hosts[d->host].name, -1, SQLITE_STATIC);
}

static int store_delta(struct st_collector *c, const struct g_delta *d)
{
	static uint8_t buf[32768];
	struct st_hist *h = malloc(sizeof(*h));
	sqlite3_stmt *st = NULL;
	size_t len;
	int rc = -EIO;

	if (!h)
		return -ENOMEM;
	*h = d->h;
	if (sqlite3_prepare_v2(c->db, "SELECT hist FROM gap WHERE minute=? AND src=? AND dst=? AND"
			       " proto=? AND port=? AND ord=? AND stage=? AND host=?", -1, &st,
			       NULL) != SQLITE_OK)
		goto out;
	bind_key(c, st, d);
	if (sqlite3_step(st) == SQLITE_ROW &&
	    st_hist_merge_encoded(h, sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0)))
		pr_warn("stored gap histogram %s->%s unreadable; replaced", d->src, d->dst);
	sqlite3_finalize(st);
	st = NULL;
	if (!(len = st_hist_encode(h, buf, sizeof(buf))))
		goto out;
	if (sqlite3_prepare_v2(c->db, "INSERT OR REPLACE INTO gap VALUES(?,?,?,?,?,?,?,?,?,?)", -1,
			       &st, NULL) != SQLITE_OK)
		goto out;
	bind_key(c, st, d);
	sqlite3_bind_int64(st, 9, (sqlite3_int64)h->count);
	sqlite3_bind_blob(st, 10, buf, (int)len, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
out:
	if (rc)
		pr_warn("sqlite gap: %s", sqlite3_errmsg(c->db));
	sqlite3_finalize(st);
	free(h);
	return rc;
}

static int store_stall(struct st_collector *c, const struct g_stall *s)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(c->db, "INSERT INTO stalls VALUES(?,?,?,?,?,?,?,?,?,?)", -1, &st,
			       NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int64(st, 1, s->minute);
	sqlite3_bind_text(st, 2, s->src, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, s->dst, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, s->proto);
	sqlite3_bind_int(st, 5, s->port);
	sqlite3_bind_text(st, 6, c->stage_names[s->stage], -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, c->hosts[s->host].name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 8, s->start_ns);
	sqlite3_bind_int64(st, 9, s->dur_ns);
	if (s->up_ns >= 0)
		sqlite3_bind_int64(st, 10, s->up_ns);
	else
		sqlite3_bind_null(st, 10);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
	sqlite3_finalize(st);
	return rc;
}

int c_gap_store(struct st_collector *c)
{
	size_t it = 0;
	uint64_t k;
	void *v;
	int rc;

	while (st_u64map_next(&c->gap_cells, &it, &k, &v))
		if ((rc = store_delta(c, v)) != 0)
			return rc;
	for (struct g_stall *s = c->stalls; s; s = s->next)
		if ((rc = store_stall(c, s)) != 0)
			return rc;
	return 0;
}

void c_gap_clear(struct st_collector *c)
{
	size_t it = 0;
	uint64_t k;
	void *v;

	while (st_u64map_next(&c->gap_cells, &it, &k, &v)) {
		struct g_delta *d = v;

		free(d->src);
		free(d->dst);
		free(d);
	}
	st_u64map_free(&c->gap_cells);
	st_u64map_init(&c->gap_cells, 256);
	while (c->stalls) {
		struct g_stall *s = c->stalls;

		c->stalls = s->next;
		free(s);
	}
	c->n_stalls = 0;
}

void c_gap_expire(struct st_collector *c, int64_t now_ns)
{
	uint64_t *idle = NULL, k;
	size_t it = 0, n = 0, cap = 0;
	void *v;

	/* Collect first: deleting while iterating may move entries. */
	while (st_u64map_next(&c->gap_flows, &it, &k, &v)) {
		if (now_ns - ((struct g_flow *)v)->seen_ns <= 60000000000LL)
			continue;
		if (n == cap) {
			uint64_t *ni = realloc(idle, (cap = cap ? 2 * cap : 64) * sizeof(*idle));

			if (!ni)
				break;
			idle = ni;
		}
		idle[n++] = k;
	}
	for (size_t i = 0; i < n; i++)
		free(st_u64map_del(&c->gap_flows, idle[i]));
	free(idle);
}

void c_gap_free(struct st_collector *c)
{
	size_t it = 0;
	uint64_t k;
	void *v;

	c_gap_clear(c);
	while (st_u64map_next(&c->gap_flows, &it, &k, &v))
		free(v);
	st_u64map_free(&c->gap_flows);
	st_u64map_free(&c->gap_cells);
}

static const char *proto_name(int p, char *buf, size_t len)
{
	if (p == 6)
		return "tcp";
	if (p == 17)
		return "udp";
	if (p == 1)
		return "icmp";
	snprintf(buf, len, "%d", p);
	return buf;
}

static double ms3(int64_t ns) { return round(ns / 1000.0) / 1000.0; }
static double us2(uint64_t ns) { return round(ns / 10.0) / 100.0; }

static json_object *point_json(const char *stage, const char *host, int ord, const struct st_hist *h)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "ord", json_object_new_int(ord));
	json_object_object_add(o, "stage", json_object_new_string(stage));
	json_object_object_add(o, "host", json_object_new_string(host));
	json_object_object_add(o, "count", json_object_new_int64((int64_t)h->count));
	json_object_object_add(o, "p50_us", json_object_new_double(us2(st_hist_quantile(h, 0.5))));
	json_object_object_add(o, "p95_us", json_object_new_double(us2(st_hist_quantile(h, 0.95))));
	json_object_object_add(o, "p99_us", json_object_new_double(us2(st_hist_quantile(h, 0.99))));
	json_object_object_add(o, "max_us", json_object_new_double(us2(h->count ? h->max : 0)));
	return o;
}

/* Optional string and integer filters of a request. */
static const char *jstr(json_object *req, const char *k)
{
	json_object *o;

	return json_object_object_get_ex(req, k, &o) && json_object_is_type(o, json_type_string) ?
	       json_object_get_string(o) : NULL;
}

static int64_t jint(json_object *req, const char *k, int64_t dflt)
{
	json_object *o;

	return json_object_object_get_ex(req, k, &o) ? json_object_get_int64(o) : dflt;
}

static void gap_flows(struct st_collector *c, json_object *req, int scope, int64_t since,
		      int64_t until, json_object *flows)
{
	const char *fsrc = jstr(req, "src"), *fdst = jstr(req, "dst");
	int64_t fport = jint(req, "port", -1);
	json_object *cur = NULL, *points = NULL;
	char key[200] = "", ckey[200], pb[8];
	struct st_hist *h = malloc(sizeof(*h));
	char stage[64] = "", host[64] = "";
	int ord = -1, have = 0;
	sqlite3_stmt *st;

	if (!h || sqlite3_prepare_v2(c->db, "SELECT src,dst,proto,port,ord,stage,host,hist FROM gap"
				     " WHERE minute BETWEEN ? AND ? AND (?3 IS NULL OR src=?3) AND"
				     " (?4 IS NULL OR dst=?4) AND (?5 < 0 OR port=?5)"
				     " ORDER BY src,dst,proto,port,ord,stage,host", -1, &st, NULL) != SQLITE_OK) {
		free(h);
		return;
	}
	sqlite3_bind_int64(st, 1, since);
	sqlite3_bind_int64(st, 2, until);
	if (fsrc)
		sqlite3_bind_text(st, 3, fsrc, -1, SQLITE_STATIC);
	if (fdst)
		sqlite3_bind_text(st, 4, fdst, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, fport);
	for (;;) {
		int row = sqlite3_step(st) == SQLITE_ROW;
		const char *s = row ? (const char *)sqlite3_column_text(st, 0) : "";
		const char *d = row ? (const char *)sqlite3_column_text(st, 1) : "";
		int o = row ? sqlite3_column_int(st, 4) : -1;
		const char *g = row ? (const char *)sqlite3_column_text(st, 5) : "";
		const char *hn = row ? (const char *)sqlite3_column_text(st, 6) : "";

		if (row && !c_in_scope(c, scope, s, d))
			continue;
		snprintf(ckey, sizeof(ckey), "%s|%s|%d|%d", s, d, row ? sqlite3_column_int(st, 2) : -1,
			 row ? sqlite3_column_int(st, 3) : -1);
		/* A point ends when the point or the flow changes. */
		if (have && (!row || strcmp(ckey, key) || o != ord || strcmp(g, stage) || strcmp(hn, host))) {
			json_object_array_add(points, point_json(stage, host, ord, h));
			have = 0;
		}
		if (!row)
			break;
		if (strcmp(ckey, key)) {
			cur = json_object_new_object();
			points = json_object_new_array();
			json_object_object_add(cur, "src", json_object_new_string(s));
			json_object_object_add(cur, "dst", json_object_new_string(d));
			json_object_object_add(cur, "proto", json_object_new_string(
				proto_name(sqlite3_column_int(st, 2), pb, sizeof(pb))));
			json_object_object_add(cur, "port", json_object_new_int(sqlite3_column_int(st, 3)));
			json_object_object_add(cur, "points", points);
			json_object_array_add(flows, cur);
			snprintf(key, sizeof(key), "%s", ckey);
		}
		if (!have) {
			st_hist_init(h);
			ord = o;
			snprintf(stage, sizeof(stage), "%s", g);
			snprintf(host, sizeof(host), "%s", hn);
			have = 1;
		}
		st_hist_merge_encoded(h, sqlite3_column_blob(st, 7), (size_t)sqlite3_column_bytes(st, 7));
	}
	sqlite3_finalize(st);
	free(h);
}

static void gap_stalls(struct st_collector *c, json_object *req, int scope, int64_t since,
		       int64_t until, json_object *arr)
{
	const char *fsrc = jstr(req, "src"), *fdst = jstr(req, "dst");
	int64_t fport = jint(req, "port", -1);
	sqlite3_stmt *st;
	char pb[8];

	if (sqlite3_prepare_v2(c->db, "SELECT src,dst,proto,port,stage,host,start_ns,dur_ns,up_ns"
			       " FROM stalls WHERE minute BETWEEN ? AND ? AND (?3 IS NULL OR src=?3)"
			       " AND (?4 IS NULL OR dst=?4) AND (?5 < 0 OR port=?5)"
			       " ORDER BY start_ns LIMIT 10000", -1, &st, NULL) != SQLITE_OK)
		return;
	sqlite3_bind_int64(st, 1, since);
	sqlite3_bind_int64(st, 2, until);
	if (fsrc)
		sqlite3_bind_text(st, 3, fsrc, -1, SQLITE_STATIC);
	if (fdst)
		sqlite3_bind_text(st, 4, fdst, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, fport);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *s = (const char *)sqlite3_column_text(st, 0);
		const char *d = (const char *)sqlite3_column_text(st, 1);
		int64_t dur = sqlite3_column_int64(st, 7);
		int up_null = sqlite3_column_type(st, 8) == SQLITE_NULL;
		int64_t up = sqlite3_column_int64(st, 8);
		json_object *o;

		if (!c_in_scope(c, scope, s, d))
			continue;
		o = json_object_new_object();
		json_object_object_add(o, "src", json_object_new_string(s));
		json_object_object_add(o, "dst", json_object_new_string(d));
		json_object_object_add(o, "proto", json_object_new_string(
			proto_name(sqlite3_column_int(st, 2), pb, sizeof(pb))));
		json_object_object_add(o, "port", json_object_new_int(sqlite3_column_int(st, 3)));
		json_object_object_add(o, "stage", json_object_new_string((const char *)sqlite3_column_text(st, 4)));
		json_object_object_add(o, "host", json_object_new_string((const char *)sqlite3_column_text(st, 5)));
		json_object_object_add(o, "start_ns", json_object_new_int64(sqlite3_column_int64(st, 6)));
		json_object_object_add(o, "duration_ms", json_object_new_double(ms3(dur)));
		json_object_object_add(o, "upstream_gap_ms", up_null ? NULL : json_object_new_double(ms3(up)));
		/* Upstream saw at most half of it: it started at this point. */
		json_object_object_add(o, "seen_upstream", up_null ? NULL :
				       json_object_new_boolean(2 * up >= dur));
		json_object_array_add(arr, o);
	}
	sqlite3_finalize(st);
}

void *c_gap_query(struct st_collector *c, void *reqp, int scope)
{
	json_object *req = reqp, *out = json_object_new_object();
	json_object *flows = json_object_new_array(), *stalls = json_object_new_array();
	json_object *cnt = json_object_new_object();
	int64_t since = jint(req, "since", 0) / 60, until = jint(req, "until", INT64_MAX / 60);

	if (until <= 0)
		until = INT64_MAX / 60;
	gap_flows(c, req, scope, since, until, flows);
	gap_stalls(c, req, scope, since, until, stalls);
	json_object_object_add(out, "stall_ms", json_object_new_int64(c->cfg.stall_ms));
	json_object_object_add(out, "flows", flows);
	json_object_object_add(out, "stalls", stalls);
	if (scope < 0) {
#define G(n) json_object_object_add(cnt, #n, json_object_new_int64((int64_t)c->gap.n))
		G(packets); G(reordered); G(path_changed); G(flows_dropped); G(stalls);
		G(stalls_dropped);
#undef G
		json_object_object_add(cnt, "flows_tracked", json_object_new_int64((int64_t)c->gap_flows.len));
		json_object_object_add(out, "counters", cnt);
	} else {
		json_object_put(cnt);
	}
	return out;
}
