/* SPDX-License-Identifier: MIT */
/*
 * Latency SLOs on VM pairs, evaluated continuously with multi-window
 * burn-rate alerting.
 *
 * An SLO says: "the p99 (or p50/p90/p95/p999) of SRC -> DST end-to-end
 * latency is <= THRESHOLD in TARGET % of the time". Time is cut into
 * 10-second slices; a slice with traffic is good when its quantile meets
 * the threshold, bad otherwise; a slice without traffic does not count.
 * The burn rate over a window is the share of bad slices divided by the
 * error budget (1 - TARGET). As in the SRE workbook, an alert needs both a
 * long and a short window over a threshold: "fast" (default 1 h and 5 min,
 * burn >= 14.4) and "slow" (6 h and 30 min, burn >= 6); the short window
 * makes an alert clear soon after the problem does.
 *
 * Spec: NAME:SRC>DST:pQQ<=DURATION:TARGET, e.g. web-db:web-1>db-2:p99<=300us:99.9
 * or, over every pair inside a tenant (both ends its members, see
 * tenants.h): NAME:tenant=TENANT:pQQ<=DURATION:TARGET. A tenant SLO's
 * quantile is over all the tenant's matched packets of the slice, so one
 * slow pair among many quiet ones shows as much as its share of traffic.
 */
#ifndef ST_SLO_H
#define ST_SLO_H

#include <stdint.h>

#include "hist.h"

#define SLO_SLICE_NS 10000000000LL
#define SLO_RING 2160		/* 6 h of slices */
#define SLO_MAX 64

struct st_collector;

struct c_slo {
	char name[64], src[64], dst[64];
	char tenant[48];		/* "" for a pair SLO */
	int tenant_idx;			/* resolved at start */
	double q;			/* 0.99 */
	uint64_t threshold_ns;
	double target;			/* 0.999 */
	int64_t slice_start;		/* collector monotonic ns */
	struct st_hist *cur;		/* the slice being filled */
	int8_t ring[SLO_RING];		/* -1 no data, 0 good, 1 bad */
	uint32_t head, n;
	int fast, slow;			/* alerts firing */
	uint64_t fired, cleared;
	double last_q_ns;		/* quantile of the last closed slice */
};

struct c_slo_cfg {
	/* Windows in seconds: fast long/short, slow long/short. */
	double fast_long, fast_short, slow_long, slow_short;
};

/* Parse a spec into s; 0 or -1 with a one-line reason in why. */
int c_slo_parse(const char *spec, struct c_slo *s, char *why, size_t len);
/* "5m,1h,30m,6h": fast short, fast long, slow short, slow long. */
int c_slo_parse_windows(const char *spec, struct c_slo_cfg *w);
void c_slo_observe(struct st_collector *c, const char *src, const char *dst,
		   uint64_t total_ns);
void c_slo_tick(struct st_collector *c);
/* Burn rate over the newest `slices`; -1 when no slice had traffic. */
double c_slo_burn(const struct c_slo *s, uint32_t slices);
void *c_slo_json(struct st_collector *c);

#endif /* ST_SLO_H */
