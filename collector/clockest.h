/* SPDX-License-Identifier: MIT */
/*
 * Clock estimators: pure functions over samples, no collector state, so
 * they are unit-tested on synthetic series.
 *
 * Conventions: every host reports a monotonic clock m (as it stamps
 * packets). Its model maps m to the reference timeline (the collector's
 * realtime clock): ref = m + off(m), off(m) = o + d * (m - m0).
 *
 *  - Control channel: NTP-style exchanges (t1, t4 host; t2, t3 reference):
 *    offset sample ((t2 - t1) + (t3 - t4)) / 2 at m = (t1 + t4) / 2, wrong
 *    by at most RTT / 2. The estimate fits a line through the exchanges
 *    with the smallest round trips.
 *  - Data plane: for hosts A, B with traffic both ways, one-way raw
 *    differences x_AB = rx_B - tx_A = w - r and x_BA = rx_A - tx_B = w + r,
 *    with r = off_B - off_A and w the wire delay (queueing only adds). The
 *    lower envelope of each direction is a line; half their difference is
 *    r(t), exactly when the minimal wire delay is the same both ways.
 *  - Combination: weighted least squares of all sources, per host offset
 *    and drift, with the covariance giving every bound (see clocks.c).
 */
#ifndef ST_CLOCKEST_H
#define ST_CLOCKEST_H

#include <stdint.h>

/* y = a + b * (t - t0); se: standard error of a (at t0); sd: residual sd. */
struct st_line {
	double a, b, t0, se, sd;
	int n;
};

/*
 * Least-squares line through (t, y), then "lower envelope" trimming: points
 * more than `k` residual-MADs above the line (queueing) are dropped and the
 * line refitted, a few rounds. Returns 0, or -1 with fewer than min_n
 * points left. Weights w may be NULL.
 */
int st_fit_lower(const double *t, const double *y, const double *w, int n,
		 double t0, double k, int min_n, struct st_line *out);

/* --- control channel ------------------------------------------------------- */
#define ST_CTL_MAX 256
struct st_ctl_est {
	/* Offsets are huge (realtime - monotonic ~ 1.7e18 ns), beyond a
	 * double's ns precision: they are kept relative to base, which the
	 * owner sets once and every host shares. */
	int64_t base;
	double m[ST_CTL_MAX], off[ST_CTL_MAX], rtt[ST_CTL_MAX];
	char sus[ST_CTL_MAX];	/* far off the fit: kept out of it */
	int n, head;		/* ring */
	int outliers;		/* consecutive samples far from the fit */
	uint64_t steps;
};

void st_ctl_reset(struct st_ctl_est *c);
/* Add an exchange; returns 1 when it detected a clock step (and reset). */
int st_ctl_add(struct st_ctl_est *c, uint64_t t1, int64_t t2, int64_t t3, uint64_t t4);
/* Offset line (relative to base) over the window; bound (ns) = min RTT / 2
 * + fit error. */
int st_ctl_estimate(const struct st_ctl_est *c, struct st_line *l, double *bound);

/* --- data plane, one host pair --------------------------------------------- */
#define ST_DP_BUCKETS 120
#define ST_DP_BUCKET_NS 250000000.0	/* 250 ms of A's clock per bucket */
struct st_dp_dir {
	double t[ST_DP_BUCKETS], x[ST_DP_BUCKETS];
	int64_t key[ST_DP_BUCKETS];	/* bucket number, -1 empty */
	char sus[ST_DP_BUCKETS];	/* below the envelope: kept out of it */
};
struct st_dp_est {
	struct st_dp_dir dir[2];	/* 0: A->B, 1: B->A */
	uint64_t samples[2];
	int outliers[2];	/* consecutive suspect buckets per direction */
	uint64_t resets;
};

void st_dp_reset(struct st_dp_est *e);
/* dir 0: tx on A at tA, rx on B at tB; dir 1: tx on B at tB, rx on A at tA.
 * Both raw host monotonic ns. Returns 1 when a step was detected (reset). */
int st_dp_add(struct st_dp_est *e, int dir, uint64_t tA, uint64_t tB);
/* r(t) = off_B - off_A on A's clock; bound (ns). */
int st_dp_estimate(const struct st_dp_est *e, struct st_line *r, double *bound);

/* --- weighted least squares over hosts ------------------------------------- */
/*
 * Unknowns x[0..n-1]. Absolute observations x_i = v +- s and relative ones
 * x_j - x_i = v +- s. Solves, and returns the covariance (n*n, row-major)
 * for bounds. n <= ST_WLS_MAX. Returns -1 if some host is unobserved.
 */
#define ST_WLS_MAX 64
struct st_wls {
	int n;
	double h[ST_WLS_MAX][ST_WLS_MAX];
	double g[ST_WLS_MAX];
};
void st_wls_init(struct st_wls *w, int n);
void st_wls_abs(struct st_wls *w, int i, double v, double s);
void st_wls_rel(struct st_wls *w, int i, int j, double v, double s);
int st_wls_solve(struct st_wls *w, double *x, double cov[][ST_WLS_MAX]);

#endif /* ST_CLOCKEST_H */
