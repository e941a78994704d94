/* SPDX-License-Identifier: MIT */
/*
 * The shared fixture of the collector's correlation tests
 * (correlate_test.c, correlate_turn_test.c, correlate_inbox_test.c): two
 * hypervisors, batch specs, envelopes built from them, a collector with an
 * in-memory SQLite store, and readers of the store's hist and pair tables.
 *
 * A batch is built from plain specs, packed and decoded again with
 * st_wire_pack/st_wire_unpack, so the collector receives exactly what its
 * ingest path would hand it. Stamps are written in each host's own
 * CLOCK_MONOTONIC; every batch carries that host's clock triple, and the
 * two hosts' offsets differ by hours, so a test only passes if the
 * collector maps both onto one timeline.
 *
 * Functions are static inline and the hosts per-file statics, so each test
 * binary gets its own copy and a helper a file does not use is no warning;
 * include it from exactly one translation unit per test binary.
 */
#ifndef ST_CORRELATE_FIXTURE_H
#define ST_CORRELATE_FIXTURE_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "collector/collector.h"
#include "log.h"
#include "pktkey.h"
#include "stage_names.h"

/* ---- time and hosts ------------------------------------------------------ */

#define US 1000LL
#define MS 1000000LL
#define SEC 1000000000LL

/* 10 s into minute 29400000 of the Unix epoch (2025-11-24). */
#define MINUTE0 29400000LL
#define T0 (MINUTE0 * 60 * SEC + 10 * SEC)

struct host {
	const char *name;
	uint64_t instance;
	int64_t off;		/* realtime - monotonic, ns */
	uint64_t seq;
	uint32_t sample_k, sample_n;	/* what the agent reports it traces */
};

/* Booted at different times: monotonic clocks hours apart. Both trace
 * every packet unless a test says otherwise. */
static struct host hv1 = { "hv1", 0x1111, T0 - 1000 * SEC, 0, 1, 1 };
static struct host hv2 = { "hv2", 0x2222, T0 - 50000 * SEC - 123456789, 0, 1, 1 };

/* ---- batch specs ----------------------------------------------------------- */

struct stamp_spec {
	unsigned hook, role;
	int64_t t;		/* collector timeline (realtime) ns */
};

struct path_spec {
	struct st_pkt_key key;
	uint64_t id;		/* 0: st_pkt_id(&key) */
	unsigned end;
	const char *vm_in, *vm_out;
	int n;
	struct stamp_spec st[16];
};

#define A_IP 0x0a000001u	/* 10.0.0.1: vma */
#define B_IP 0x0a000002u	/* 10.0.0.2: vmb */
#define C_IP 0x0a000003u	/* 10.0.0.3: vmc */
#define A_PORT 40000
#define B_PORT 5201

static inline struct st_pkt_key udp_key(uint32_t s, uint32_t d, unsigned sp, unsigned dp,
					unsigned ipid)
{
	struct st_pkt_key k;

	memset(&k, 0, sizeof(k));
	k.saddr = htonl(s);
	k.daddr = htonl(d);
	k.sport = htons((uint16_t)sp);
	k.dport = htons((uint16_t)dp);
	k.proto = 17;
	k.disc1 = ipid << 16;
	k.disc2 = 128;
	return k;
}

/* ICMP keys hold the type byte first in dport's bytes, as the parser reads
 * them, and the echo id as read in sport. */
static inline struct st_pkt_key icmp_key(uint32_t s, uint32_t d, unsigned type, unsigned id,
					 unsigned seq)
{
	struct st_pkt_key k;
	uint8_t tc[2] = { (uint8_t)type, 0 };

	memset(&k, 0, sizeof(k));
	k.saddr = htonl(s);
	k.daddr = htonl(d);
	k.sport = htons((uint16_t)id);
	memcpy(&k.dport, tc, 2);
	k.proto = 1;
	k.disc1 = seq;
	k.disc2 = 84;
	return k;
}

static inline uint64_t path_id(const struct path_spec *p)
{
	return p->id ? p->id : st_pkt_id(&p->key);
}

/*
 * The sending half on hv1: vma's tap, the bridge, the uplink queue, and
 * the hand-off to the uplink's driver, where the agent ends the host path.
 */
static inline struct path_spec send_half(struct st_pkt_key key, const char *vm, int64_t t)
{
	struct path_spec p = {
		.key = key, .end = ST_END_LEFT, .vm_in = vm, .n = 4,
		.st = {
			{ ST_HOOK_NETIF_RX, ST_ROLE_VM, t },
			{ ST_HOOK_NETIF_RECEIVE_SKB, ST_ROLE_BRIDGE, t + 2 * US },
			{ ST_HOOK_NET_DEV_QUEUE, ST_ROLE_UPLINK, t + 5 * US },
			{ ST_HOOK_NET_DEV_START_XMIT, ST_ROLE_UPLINK, t + 7 * US },
		},
	};

	return p;
}

/* The receiving half, t being the sender's first stamp: the packet is on
 * the receiving uplink 50 us after the sender's driver took it, and the
 * VM reads it from its tap at t + 90 us. */
static inline struct path_spec recv_half(struct st_pkt_key key, const char *vm, int64_t t)
{
	struct path_spec p = {
		.key = key, .end = ST_END_DELIVERED, .vm_out = vm, .n = 5,
		.st = {
			{ ST_HOOK_NAPI_GRO_RX, ST_ROLE_UPLINK, t + 57 * US },
			{ ST_HOOK_NETIF_RECEIVE_SKB, ST_ROLE_UPLINK, t + 61 * US },
			{ ST_HOOK_NET_DEV_QUEUE, ST_ROLE_VM, t + 70 * US },
			{ ST_HOOK_NET_DEV_START_XMIT, ST_ROLE_VM, t + 71 * US },
			{ ST_HOOK_SKB_COPY_DATAGRAM, ST_ROLE_VM, t + 90 * US },
		},
	};

	return p;
}

/* Appends a stamp to a path spec. */
static inline void add_stamp(struct path_spec *p, unsigned hook, unsigned role, int64_t t)
{
	assert_true(p->n < 16);
	p->st[p->n].hook = hook;
	p->st[p->n].role = role;
	p->st[p->n].t = t;
	p->n++;
}

/* The expected stage intervals of send_half + recv_half, in order. */
static const struct {
	const char *stage;
	int64_t ns;
} chain[] = {
	{ "br_rcv", 2 * US }, { "nic_queue", 3 * US }, { "nic_tx", 2 * US },
	{ "wire", 50 * US }, { "nic_rcv", 4 * US }, { "tap_queue", 9 * US },
	{ "tap_tx", 1 * US }, { "vm_rx", 19 * US },
};
#define CHAIN_TOTAL (90 * US)

/* ---- building envelopes -------------------------------------------------- */

struct built {
	st_envelope *env;
	uint8_t *buf;
	size_t len;
};

/*
 * Builds host's next batch holding paths, packs it and decodes it. The
 * stage table holds every (hook, role) the paths use, named by
 * st_stage_name, and the clock triple gives the host's offset.
 */
static inline struct built build_batch(struct host *h, const struct path_spec *ps, int n)
{
	st_envelope env = STAGETRACE__V1__ENVELOPE__INIT;
	st_batch b = STAGETRACE__V1__BATCH__INIT;
	Stagetrace__V1__ClockSample cs = STAGETRACE__V1__CLOCK_SAMPLE__INIT, *csp = &cs;
	Stagetrace__V1__StageDef defs[ST_HOOK_MAX * ST_ROLE_MAX], *defp[ST_HOOK_MAX * ST_ROLE_MAX];
	size_t na = n ? (size_t)n : 1;	/* a heartbeat has no paths */
	st_hostpath *hp = calloc(na, sizeof(*hp));
	st_hostpath **hpp = calloc(na, sizeof(*hpp));
	Stagetrace__V1__PacketKey *keys = calloc(na, sizeof(*keys));
	Stagetrace__V1__Stamp *st = calloc(na * 16, sizeof(*st));
	Stagetrace__V1__Stamp **stp = calloc(na * 16, sizeof(*stp));
	int used[ST_HOOK_MAX * ST_ROLE_MAX] = { 0 };
	int64_t tmax = T0;
	struct built out;
	const char *why;
	size_t nd = 0;

	assert_true(hp && hpp && keys && st && stp);
	env.version = ST_WIRE_VERSION;
	env.body_case = STAGETRACE__V1__ENVELOPE__BODY_BATCH;
	env.batch = &b;
	b.host = (char *)h->name;
	b.instance = h->instance;
	b.seq = ++h->seq;
	b.sample_k = h->sample_k;
	b.sample_n = h->sample_n;
	for (int i = 0; i < n; i++) {
		const struct path_spec *p = &ps[i];

		stagetrace__v1__host_path__init(&hp[i]);
		stagetrace__v1__packet_key__init(&keys[i]);
		keys[i].saddr = p->key.saddr;
		keys[i].daddr = p->key.daddr;
		keys[i].sport = p->key.sport;
		keys[i].dport = p->key.dport;
		keys[i].proto = p->key.proto;
		keys[i].disc1 = p->key.disc1;
		keys[i].disc2 = p->key.disc2;
		hp[i].packet_id = path_id(p);
		hp[i].key = &keys[i];
		hp[i].end = p->end;
		hp[i].vm_in = (char *)(p->vm_in ? p->vm_in : "");
		hp[i].vm_out = (char *)(p->vm_out ? p->vm_out : "");
		hp[i].stamps = &stp[i * 16];
		hp[i].n_stamps = (size_t)p->n;
		for (int j = 0; j < p->n; j++) {
			Stagetrace__V1__Stamp *s = &st[i * 16 + j];
			unsigned id = st_stage_id(p->st[j].hook, p->st[j].role);

			stagetrace__v1__stamp__init(s);
			s->stage = id;
			/* The agent reports its own monotonic clock. */
			s->ts_ns = (uint64_t)(p->st[j].t - h->off);
			s->ifindex = 3 + p->st[j].role;
			stp[i * 16 + j] = s;
			used[id] = 1;
			if (p->st[j].t > tmax)
				tmax = p->st[j].t;
		}
		hpp[i] = &hp[i];
	}
	for (unsigned id = 0; id < ST_HOOK_MAX * ST_ROLE_MAX; id++) {
		if (!used[id])
			continue;
		stagetrace__v1__stage_def__init(&defs[nd]);
		defs[nd].id = id;
		defs[nd].name = (char *)st_stage_name(id);
		defp[nd] = &defs[nd];
		nd++;
	}
	b.stages = defp;
	b.n_stages = nd;
	b.paths = hpp;
	b.n_paths = (size_t)n;
	/* Read when the batch was packed, a little after its last stamp. */
	cs.mono_ns = (uint64_t)(tmax + 1 * MS - h->off);
	cs.realtime_ns = (int64_t)cs.mono_ns + h->off;
	cs.tai_ns = cs.realtime_ns + 37 * SEC;
	b.clock = &csp;
	b.n_clock = 1;

	assert_int_equal(st_wire_pack(&env, &out.buf, &out.len), 0);
	out.env = NULL;
	why = NULL;
	if (st_wire_unpack(out.buf, out.len, &out.env, &why))
		fail_msg("built batch rejected: %s", why);
	free(hp);
	free(hpp);
	free(keys);
	free(st);
	free(stp);
	return out;
}

/* Feeds a batch that is not in the inbox. */
static inline void feed(struct st_collector *c, struct host *h, const struct path_spec *ps, int n)
{
	struct built b = build_batch(h, ps, n);

	free(b.buf);
	c_ingest_batch(c, b.env, 0);
}

/* Feeds a batch the way ingest does for a new one: inbox row first. */
static inline int64_t feed_stored(struct st_collector *c, struct host *h,
				  const struct path_spec *ps, int n)
{
	struct built b = build_batch(h, ps, n);
	int64_t id = -1;

	assert_int_equal(c_store_inbox_put(c, h->name, h->instance, h->seq, b.buf, b.len,
					   &id), 0);
	assert_true(id > 0);
	free(b.buf);
	c_ingest_batch(c, b.env, id);
	return id;
}

/* ---- the collector under test ---------------------------------------------- */

static inline struct st_collector *col_new(const char *db)
{
	struct st_collector *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	c->cfg.db = db;
	c->cfg.window_ms = 2000;
	c->cfg.flush_ms = 1000;
	assert_int_equal(st_u64map_init(&c->pending, 4096), 0);
	assert_int_equal(st_u64map_init(&c->turn, 256), 0);
	assert_int_equal(st_u64map_init(&c->flows, 256), 0);
	assert_int_equal(st_u64map_init(&c->ipnames, 256), 0);
	assert_int_equal(st_u64map_init(&c->cells, 256), 0);
	assert_int_equal(st_u64map_init(&c->pairs, 64), 0);
	assert_int_equal(c_stage_intern(c, "unknown"), 0);
	c_clock_init(c);
	assert_int_equal(c_store_open(c), 0);
	return c;
}

/* Frees everything without finalising what is still pending. */
static inline void col_free(struct st_collector *c)
{
	struct st_u64map *maps[] = { &c->pending, &c->turn, &c->flows, &c->ipnames };
	size_t it;
	uint64_t k;
	void *v;

	/* Pending packets own their parts. */
	it = 0;
	while (st_u64map_next(&c->pending, &it, &k, &v)) {
		struct c_pending *pe = v;

		for (int i = 0; i < pe->n; i++)
			free(pe->parts[i]);
		free(pe);
	}
	for (size_t m = 1; m < sizeof(maps) / sizeof(maps[0]); m++) {
		it = 0;
		while (st_u64map_next(maps[m], &it, &k, &v))
			free(v);
	}
	for (size_t m = 0; m < sizeof(maps) / sizeof(maps[0]); m++)
		st_u64map_free(maps[m]);
	c_agg_free(c);
	c_paths_free(c);
	it = 0;
	while (st_u64map_next(&c->dp, &it, &k, &v))
		free(v);
	st_u64map_free(&c->dp);
	while (c->batches) {
		struct c_batch *b = c->batches;

		c->batches = b->next;
		st_wire_free(b->env);
		free(b->done);
		free(b);
	}
	for (int i = 0; i < c->n_stages; i++)
		free(c->stage_names[i]);
	c_store_close(c);
	free(c);
}

static inline int setup(void **state)
{
	hv1.seq = hv2.seq = 0;
	hv1.sample_k = hv1.sample_n = hv2.sample_k = hv2.sample_n = 1;
	*state = col_new(":memory:");
	return 0;
}

static inline int teardown(void **state)
{
	col_free(*state);
	return 0;
}

/* ---- reading the store ------------------------------------------------------ */

struct cell {
	int found;
	int64_t minute, count;
	int ord;
	struct st_hist h;
};

static inline struct cell hist_cell(struct st_collector *c, const char *src, const char *dst,
				    const char *stage)
{
	struct cell r;
	sqlite3_stmt *st;

	memset(&r, 0, sizeof(r));
	assert_int_equal(sqlite3_prepare_v2(c->db, "SELECT minute, ord, count, hist FROM hist"
					    " WHERE src=? AND dst=? AND stage=?", -1, &st,
					    NULL), SQLITE_OK);
	sqlite3_bind_text(st, 1, src, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, dst, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, stage, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct st_hist h;

		/* One row per minute; the tests stay inside one minute. */
		assert_int_equal(r.found, 0);
		r.found = 1;
		r.minute = sqlite3_column_int64(st, 0);
		r.ord = sqlite3_column_int(st, 1);
		r.count = sqlite3_column_int64(st, 2);
		assert_int_equal(st_hist_decode(&h, sqlite3_column_blob(st, 3),
						(size_t)sqlite3_column_bytes(st, 3)), 0);
		r.h = h;
		assert_true(r.h.count == (uint64_t)r.count);
	}
	sqlite3_finalize(st);
	return r;
}

static inline int64_t sql_int(struct st_collector *c, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v = -1;

	assert_int_equal(sqlite3_prepare_v2(c->db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

struct pair_row {
	int found;
	int64_t minute, matched, lost, dropped, unmatched;
};

static inline struct pair_row pair_row(struct st_collector *c, const char *src, const char *dst)
{
	struct pair_row r;
	sqlite3_stmt *st;

	memset(&r, 0, sizeof(r));
	assert_int_equal(sqlite3_prepare_v2(c->db, "SELECT minute, matched, lost, dropped,"
					    " unmatched FROM pair WHERE src=? AND dst=?", -1,
					    &st, NULL), SQLITE_OK);
	sqlite3_bind_text(st, 1, src, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, dst, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		r.found = 1;
		r.minute = sqlite3_column_int64(st, 0);
		r.matched = sqlite3_column_int64(st, 1);
		r.lost = sqlite3_column_int64(st, 2);
		r.dropped = sqlite3_column_int64(st, 3);
		r.unmatched = sqlite3_column_int64(st, 4);
		assert_int_not_equal(sqlite3_step(st), SQLITE_ROW);
	}
	sqlite3_finalize(st);
	return r;
}

/* A single recorded value: count 1 and the exact value as min and max; the
 * quantiles are within the histogram's 1% bucket error of it. */
static inline void assert_single(const struct cell *cl, const char *stage, int64_t ns)
{
	if (!cl->found)
		fail_msg("no histogram for stage %s", stage);
	if (cl->h.count != 1 || cl->h.min != (uint64_t)ns || cl->h.max != (uint64_t)ns)
		fail_msg("stage %s: count %llu min %llu max %llu, want one value of %lld ns",
			 stage, (unsigned long long)cl->h.count,
			 (unsigned long long)cl->h.min, (unsigned long long)cl->h.max,
			 (long long)ns);
	assert_true(cl->h.sum == (uint64_t)ns);
	assert_true(llabs((long long)st_hist_quantile(&cl->h, 0.5) - ns) <= ns / 100);
	assert_int_equal(cl->minute, MINUTE0);
}

/* The matched vma -> vmb path of send_half + recv_half, stage by stage. */
/* The stage's one stored row of vma->vmc holds exactly one value, ns. */
static inline void assert_single_ns(struct st_collector *c, const char *stage, int64_t ns)
{
	struct cell cl = hist_cell(c, "vma", "vmc", stage);

	assert_single(&cl, stage, ns);
}

static inline void check_matched_path(struct st_collector *c, const char *src, const char *dst,
				      int64_t nmatched)
{
	struct pair_row pr = pair_row(c, src, dst);
	struct cell cl;

	for (size_t i = 0; i < sizeof(chain) / sizeof(chain[0]); i++) {
		cl = hist_cell(c, src, dst, chain[i].stage);
		assert_single(&cl, chain[i].stage, chain[i].ns);
		/* Stages are numbered in path order. */
		assert_int_equal(cl.ord, (int)i + 1);
	}
	cl = hist_cell(c, src, dst, "total");
	assert_single(&cl, "total", CHAIN_TOTAL);
	assert_int_equal(cl.ord, 0);
	/* The first stamp opens the path, it closes no interval; driver
	 * returns are not stages. */
	assert_false(hist_cell(c, src, dst, "tap_rx").found);
	assert_false(hist_cell(c, src, dst, "nic_done").found);
	assert_false(hist_cell(c, src, dst, "tap_done").found);
	assert_int_equal(sql_int(c, "SELECT COUNT(*) FROM hist"),
			 (int64_t)(sizeof(chain) / sizeof(chain[0])) + 1);
	assert_true(pr.found);
	assert_int_equal(pr.minute, MINUTE0);
	assert_int_equal(pr.matched, nmatched);
	assert_int_equal(pr.lost, 0);
	assert_int_equal(pr.dropped, 0);
	assert_int_equal(pr.unmatched, 0);
}

#endif /* ST_CORRELATE_FIXTURE_H */
