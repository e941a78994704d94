/* SPDX-License-Identifier: MIT */
/*
 * stagetrace-collector internals.
 *
 * Data flow, all on one libuv loop thread:
 *
 *   ingest (repsrv) -> validate, dedupe by (host, instance, seq), write the
 *   batch to the SQLite inbox, ack -> hosts (clock mapping, counters)
 *   -> correlate: each host path becomes a "part", pending by packet id
 *   -> when a packet has a source and a destination part, or its window
 *   expires, it is finalised -> aggregate: per (minute, src, dst, stage)
 *   histogram deltas -> flush: one transaction writes the deltas and
 *   retires the inbox rows (or the consumed paths of them) they came from.
 *
 * Durability contract: a batch is acked only after it is in the inbox, and
 * a path's contribution to the histograms is committed in the same
 * transaction that removes it from the inbox, so a crash at any point
 * neither loses nor double-counts an acked path (replay re-feeds the
 * inbox at start-up).
 */
#ifndef ST_COLLECTOR_H
#define ST_COLLECTOR_H

#include <json-c/json.h>
#include <sqlite3.h>
#include <stdint.h>
#include <uv.h>

#include "clocks.h"
#include "hist.h"
#include "loopstop.h"
#include "gap.h"
#include "slo.h"
#include "tenants.h"
#include "tls.h"
#include "opts.h"
#include "u64map.h"
#include "wire.h"

struct st_httpsrv;
struct g_stall;

#define C_MAX_HOSTS 256
#define C_MAX_PARTS 4
#define C_MAX_STAGES 512

struct c_batch;

/* One host's view of the collector: identity, clock, health. */
struct c_host {
	char name[64];
	uint64_t instance;
	uint64_t last_seq;
	int64_t mono_to_real;		/* realtime - monotonic, ns */
	int64_t last_seen_ns;		/* collector realtime */
	uint64_t batches, paths, restarts;
	uint32_t sample_k, sample_n;
	/* Latest health the agent reported. */
	struct { char name[48]; uint64_t value; } counters[64];
	int n_counters;
	struct { char hook[32], method[16], status[16], reason[160]; } probes[32];
	int n_probes;
	struct c_clock clk;
	uint16_t upcall_stage;		/* interned "upcall@NAME", or UINT16_MAX */
};

/* Prefix of the per-host upcall stages (see c_upcall_stage). */
#define C_UPCALL_PREFIX "upcall@"

struct c_stamp {
	uint64_t mono;		/* the host's monotonic stamp */
	int64_t t;		/* collector timeline, ns (mapped when used) */
	uint16_t stage;		/* interned stage name */
	uint8_t hook, role;
};

/* One host path, as the correlator keeps it. */
struct c_part {
	uint64_t id;
	uint16_t host;
	uint8_t end;
	uint8_t n;
	uint32_t saddr, daddr;	/* network order */
	uint16_t sport, dport;
	uint8_t proto;
	uint32_t disc1;
	char vm_in[64], vm_out[64];
	struct c_stamp st[ST_WIRE_MAX_STAMPS];
	struct c_batch *batch;	/* inbox row it came from (NULL: none) */
	uint32_t batch_idx;
};

struct c_pending {
	uint64_t id;
	int64_t first_seen;	/* collector monotonic ns */
	int held;		/* complete, waiting for its clock model */
	int guest_wait;		/* counted as waiting for a guest's part */
	int n;
	struct c_part *parts[C_MAX_PARTS];
};

/* An inbox row whose paths are still being correlated. */
struct c_batch {
	int64_t inbox_id;
	st_envelope *env;
	uint32_t remaining;	/* paths not yet finalised */
	uint32_t consumed;	/* finalised since the last flush */
	uint8_t *done;		/* per-path flag */
	struct c_batch *next;
};

struct c_cell_delta {
	int64_t minute;
	char *src, *dst;
	uint16_t stage;
	int ord;
	double bound_sum;	/* clock bound of cross-host intervals, ns */
	uint64_t bound_n;
	struct st_hist h;
};

struct c_pair_delta {
	int64_t minute;
	char *src, *dst;
	uint64_t matched, lost, dropped, unmatched;
};

/* One stored drill-down path (paths.c). */
struct c_path_rec {
	int64_t t0, total;	/* first stamp (timeline) and end to end, ns */
	uint64_t id;
	double bound;		/* clock bound of the cross-host part, ns */
	char flow[96];
	char stages[640];	/* "stage=ns,stage=ns,..." in path order */
};

struct c_counters {
	uint64_t batches, batches_dup, batches_bad, paths, paths_bad;
	uint64_t matched, local, lost, dropped, unmatched_rx, incomplete;
	uint64_t extra_parts, negative_segments, turnarounds;
	uint64_t guest_waits, guest_addrs_full;
	uint64_t flushes, flush_errors, replayed_batches;
	uint64_t clock_probes, clock_steps;
	uint64_t api_requests, api_unauthorized, api_forbidden, api_bad;
	uint64_t hours_downsampled, rows_expired, retention_errors;
};

struct c_cfg {
	const char *listen;
	const char *query;
	const char *db;
	uint32_t window_ms;
	uint32_t flush_ms;
	double duration;
	int verbose;
	struct st_tls_opts tls;
	const char *config;
	struct st_strlist slos;
	const char *slo_windows;
	struct st_strlist tenants, tenant_tokens, pair_ids;
	const char *admin_token;
	const char *api;
	double keep_minutes, keep;	/* seconds; 0 = never */
	uint32_t stall_ms;		/* gap over this is a stall; 0 = off */
};

/* IPv4 addresses (network order) whose VM runs an agent inside: an open
 * addressing set, 0 = empty slot (guests.c). */
#define C_GUEST_ADDRS 4096
struct c_addrset {
	uint32_t a[C_GUEST_ADDRS];
	uint32_t n;
};

struct st_collector {
	struct c_cfg cfg;
	uv_loop_t *loop;
	sqlite3 *db;
	struct st_repsrv *ingest, *queries;
	uv_timer_t tick;
	struct st_loop_stop stop;

	struct c_host hosts[C_MAX_HOSTS];
	int n_hosts;
	char *stage_names[C_MAX_STAGES];
	int n_stages;

	struct st_u64map pending;	/* packet id -> c_pending */
	uint64_t n_held;		/* of them complete and held */
	struct st_u64map turn;		/* reverse-flow key -> request time */
	struct st_u64map flows;		/* symmetric flow hash -> client side */
	struct st_u64map ipnames;	/* ipv4 -> VM name */
	struct c_addrset guest_rx;	/* VMs whose agent stamps its receives */
	struct c_addrset guest_tx;	/* VMs whose agent stamps its sends */
	struct st_u64map cells;		/* -> c_cell_delta */
	struct st_u64map pairs;		/* -> c_pair_delta */
	struct st_u64map path_slots;	/* (minute, src, dst) -> slowest paths */
	struct c_batch *batches;
	struct c_counters c;
	int replaying;

	struct c_tenants tenants;
	struct st_httpsrv *api;
	int64_t retention_last_s;

	/* Gap matrix (gap.c). */
	struct st_u64map gap_flows;	/* flow -> g_flow */
	struct st_u64map gap_cells;	/* -> g_delta */
	struct g_stall *stalls;
	uint32_t n_stalls;
	struct c_gap_counters gap;

	/* SLOs (slo.c). */
	struct c_slo slo[SLO_MAX];
	int n_slo;
	struct c_slo_cfg slo_cfg;

	/* Clock alignment (clocks.c). */
	int64_t clk_base;
	struct st_u64map dp;		/* host pair -> st_dp_est */
	double clk_cov[ST_WLS_MAX][ST_WLS_MAX];
	int clk_n;
};

/* hosts.c */
int c_host_get(struct st_collector *c, const char *name);
void c_host_update(struct st_collector *c, int h, const st_batch *b);
uint16_t c_stage_intern(struct st_collector *c, const char *name);
uint16_t c_upcall_stage(struct st_collector *c, int h);
/* The upcall matrix (upcall.c); a json_object *, NULL on a store error. */
void *c_upcall_query(struct st_collector *c, void *req, int scope);
struct json_object;
/* count, mean and p50/p95/p99/max in microseconds (query.c). */
struct json_object *c_hist_json(const struct st_hist *h);
const char *c_ipname(struct st_collector *c, uint32_t addr, char *buf, size_t len);
void c_ipname_learn(struct st_collector *c, uint32_t addr, const char *vm);

/* correlate.c */
/* Returns 1 when it took ownership of env (kept for the inbox). */
int c_correlate_batch(struct st_collector *c, int host, st_envelope *env,
		      int64_t inbox_id);
void c_correlate_expire(struct st_collector *c, int all);

/* guests.c: agents inside VMs (guest virtio-net stages). A packet between
 * hypervisors is not complete while the part of an in-guest agent that
 * traces its source or destination is still to come. */
void c_guest_learn(struct st_collector *c, const struct c_part *p);
int c_guest_part_missing(const struct st_collector *c, const struct c_pending *pe);

/* aggregate.c */
/* bound: clock error bound (ns) of a cross-host interval, < 0 for none. */
void c_agg_stage(struct st_collector *c, int64_t t_ns, const char *src,
		 const char *dst, uint16_t stage, int ord, uint64_t v, double bound);
void c_agg_pair(struct st_collector *c, int64_t t_ns, const char *src,
		const char *dst, int what);
enum { C_PAIR_MATCHED, C_PAIR_LOST, C_PAIR_DROPPED, C_PAIR_UNMATCHED };
int c_flush(struct st_collector *c);
/* The 64-bit map key of (minute, src, dst, stage); stage < 0 for keys
 * that are not a stage (pairs: -1, drill-down slots: -2). Never 0. */
uint64_t c_agg_key(int64_t minute, const char *src, const char *dst, int stage);
/* Free every pending delta and the delta maps (shutdown, tests). */
void c_agg_free(struct st_collector *c);

/* paths.c */
void c_path_flow(const struct c_part *p, char *buf, size_t len);
void c_paths_offer(struct st_collector *c, int64_t minute, const char *src,
		   const char *dst, const struct c_path_rec *r);
int c_paths_store(struct st_collector *c);
void c_paths_clear(struct st_collector *c);
void c_paths_free(struct st_collector *c);

/* store.c */
int c_store_open(struct st_collector *c);
void c_store_close(struct st_collector *c);
int c_store_seen(struct st_collector *c, const char *host, uint64_t instance,
		 uint64_t seq);
int c_store_inbox_put(struct st_collector *c, const char *host, uint64_t instance,
		      uint64_t seq, const uint8_t *buf, size_t len, int64_t *id);
int c_store_replay(struct st_collector *c);
int c_store_begin(struct st_collector *c);
int c_store_commit(struct st_collector *c);
void c_store_rollback(struct st_collector *c);
int c_store_merge_cell(struct st_collector *c, const struct c_cell_delta *d);
int c_store_add_pair(struct st_collector *c, const struct c_pair_delta *d);
int c_store_inbox_retire(struct st_collector *c, struct c_batch *b);
/* Remember which VM an address belongs to (survives restarts). */
void c_store_name_put(struct st_collector *c, uint32_t addr, const char *name);

/* ingest.c */
void c_ingest_handler(void *arg, int64_t recv_ns, const uint8_t *req, size_t len,
		      uint8_t **resp, size_t *resp_len);
/* Feed a decoded batch (new or replayed) into hosts and correlation. */
void c_ingest_batch(struct st_collector *c, st_envelope *env, int64_t inbox_id);

/* retention.c: merge minute rows older than keep_minutes into hour rows,
 * delete rows older than keep; bounded work per call. 0 or -1. */
#define C_RETENTION_HOURS_PER_RUN 48
#define C_RETENTION_EVERY_S 60
int c_retention_run(struct st_collector *c, int64_t now_s);
/* The first minute (hour-aligned) that still has minute resolution. */
int64_t c_retention_hour_cut(const struct st_collector *c, int64_t now_s);

/* query.c: answer q for scope (-1: everything, else a tenant index);
 * *status is the HTTP-style status (200, 400, 403, 404, 500). The answer
 * always has "ok", and "error" when not ok. */
json_object *c_query_run(struct st_collector *c, json_object *q, int scope, int *status);
/* query.c */
void c_query_handler(void *arg, int64_t recv_ns, const uint8_t *req, size_t len,
		     uint8_t **resp, size_t *resp_len);

#endif /* ST_COLLECTOR_H */
