/* SPDX-License-Identifier: MIT */
/*
 * Internals shared by the collector's metrics files: metrics.c (the HTTP
 * endpoint, collector, agent, clock and SLO families) and metrics_pairs.c
 * (per-pair latency: cumulative histograms kept from the store's rows,
 * and the summaries of the recent window).
 */
#ifndef ST_METRICS_INT_H
#define ST_METRICS_INT_H

#include <stdint.h>
#include <uv.h>

#include "collector.h"
#include "hist.h"
#include "metrics.h"
#include "promtext.h"
#include "u64map.h"

#define M_WINDOW_S	300	/* the summary's quantiles and the gauges: last 5 min */
#define M_UPDATE_MS	10000	/* cumulative update even without scrapes */
#define M_HORIZON_MIN	15	/* minutes of rows re-read by every update, at least */
#define M_MAX_STAGES	32	/* stage-mean series per pair */
#define M_CONTENT_TYPE	"text/plain; version=0.0.4; charset=utf-8"

/* The histogram's upper bounds: 10 us ... 1 s (metrics_pairs.c), and +Inf. */
#define M_NLE 13

/* The summary's quantiles: those `stagetrace matrix` prints. */
#define M_NQ 3

/* Cumulative values per pair; a stored row carries the same fields. */
enum { H_COUNT, H_SUM, H_LE, H_NV = H_LE + M_NLE };
enum { P_MATCHED, P_LOST, P_DROPPED, P_UNMATCHED, P_NV };
enum { K_HIST, K_PAIR };

struct m_stage {
	char *name;
	double mean_ns;
};

struct m_pair {
	uint64_t key;
	char *src, *dst;
	uint64_t hist[H_NV];		/* since start: count, sum, le counts */
	uint64_t out[P_NV];		/* since start: packets by outcome */
	/* Filled by each render. */
	uint64_t w_packets;		/* all outcomes in the window */
	int exported;
	uint64_t w_count;		/* end-to-end paths in the window */
	uint64_t q[M_NQ];		/* their quantiles, ns */
	int has_turn;
	double turn_mean_ns;
	struct m_stage stages[M_MAX_STAGES];
	int n_stages;
};

/* One stored row (hist "total" or pair) as the last update read it. */
struct m_row {
	int64_t minute;
	int kind;
	struct m_pair *pair;
	uint64_t col;			/* hist: the row's count column */
	uint64_t v[H_NV];
};

struct st_metrics {
	struct st_collector *c;
	uint32_t max_pairs;
	struct st_httpsrv *http;
	uv_timer_t timer;
	int timer_on;

	struct st_u64map pairs;		/* -> m_pair */
	struct st_u64map rows;		/* -> m_row */
	int baselined;
	int horizon_min;
	uint32_t cut[M_NLE];		/* buckets [0, cut[j]) have midpoints <= le_ns[j] */
	struct st_hist *scratch, *acc;

	int64_t start_ns;
	uint64_t renders, errors;
	uint64_t pairs_exported, pairs_cut, clock_pairs_cut, stages_cut;
};

/* metrics_pairs.c */
/* Cut points of the le buckets on the log-linear histogram; call once. */
void m_pairs_init(struct st_metrics *m);
/* Bring the cumulative pair totals up to date with the store. */
void m_update(struct st_metrics *m, int64_t now_s);
void m_render_pairs(struct st_metrics *m, struct st_sbuf *b, int64_t now_s);
void m_pairs_free(struct st_metrics *m);

#endif /* ST_METRICS_INT_H */
