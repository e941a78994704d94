/* SPDX-License-Identifier: MIT */
/*
 * Per-host clock models on the collector's timeline (its realtime clock),
 * fed by three sources and recombined every tick (collector/clockest.h
 * has the estimators):
 *
 *   host clock    the (monotonic, realtime) triple of each batch, bound =
 *                 the host's own adjtimex esterror, or 10 ms when unknown;
 *   control       four-timestamp exchanges with the agent, bound ~ RTT/2;
 *   data plane    lower envelopes of one-way delays between host pairs with
 *                 traffic both ways, bound ~ the fit error (assumes equal
 *                 minimal wire delay each way).
 *
 * A weighted least-squares over all hosts gives each host's offset and
 * drift; its covariance gives every bound, including the bound of the
 * difference of two hosts' offsets, which is what a "wire" interval
 * carries (much tighter than either absolute bound when the data plane
 * ties the two hosts together). Loops of three or more hosts are made
 * consistent by the same least squares.
 */
#ifndef ST_CLOCKS_H
#define ST_CLOCKS_H

#include <stdint.h>

#include "clockest.h"

struct st_collector;

struct c_clock {
	struct st_ctl_est ctl;
	int64_t hc_off;			/* realtime - monotonic, latest triple */
	double hc_bound;
	int hc_valid;
	uint64_t hc_steps;		/* realtime steps seen in the triples */
	/* The model: off(m) = base + o + d * (m - m0) / 1e9 */
	int valid;
	double o, d, m0, bound;
	const char *source;
	int64_t at;			/* collector realtime of the model */
	/* Control channel alone, for comparison and as a fallback. */
	int ctl_valid;
	double ctl_o, ctl_d, ctl_m0, ctl_bound, ctl_minrtt;
	/* Test-only ground truth, when the agent runs with a TestSkew. */
	int has_truth;
	int64_t skew_off, skew_ppb;
	uint64_t skew_origin;
	double err, ctl_err;		/* model - truth at the last update, ns */
	int wls_idx;			/* index in the last solve, -1: none */
};

void c_clock_init(struct st_collector *c);
void c_clock_reset_host(struct st_collector *c, int h);
void c_clock_batch(struct st_collector *c, int h, const void *batch);
/* A matched packet crossed from host tx to host rx. */
void c_clock_wire(struct st_collector *c, int tx, uint64_t t_tx, int rx, uint64_t t_rx);
void c_clock_update(struct st_collector *c);
/* Map a host's monotonic time to the timeline; *bound (ns) if not NULL. */
int64_t c_clock_map(struct st_collector *c, int h, uint64_t mono, double *bound);
/* Bound (ns) on (timeline of b) - (timeline of a): what a cross-host
 * interval from a to b can be wrong by. */
double c_clock_pair_bound(struct st_collector *c, int a, int b);
/* 1 when the pair has one-way samples both ways but no data-plane
 * estimate yet: one is coming. */
int c_clock_dp_pending(struct st_collector *c, int a, int b);
/* JSON for `stagetrace clocks` (a json_object *). */
void *c_clock_json(struct st_collector *c);

#endif /* ST_CLOCKS_H */
