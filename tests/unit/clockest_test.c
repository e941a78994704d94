// SPDX-License-Identifier: MIT
/*
 * The clock estimators on synthetic series with known truth: asymmetric
 * queueing, outliers, drift, steps, and the least-squares combination
 * (including a loop of three hosts).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "collector/clockest.h"

#define T0 1000000000000ull	/* 1000 s of uptime */

static double expo(double mean)
{
	return -mean * log((random() + 1.0) / 2147483649.0);
}

/* r(t) = off_B - off_A = r0 + drift * (t - T0), A's clock. */
static double r_at(double r0, double drift, double t)
{
	return r0 + drift * (t - (double)T0);
}

static void feed_dp(struct st_dp_est *e, double r0, double drift, double w,
		    double q0, double q1, int seconds, int pps)
{
	uint64_t t = T0;

	for (int i = 0; i < seconds * pps; i++) {
		double r, w0 = w + expo(q0), w1 = w + expo(q1);

		t += 1000000000ull / pps;
		r = r_at(r0, drift, (double)t);
		/* A->B: raw rx on B = tx on A + w - r. */
		st_dp_add(e, 0, t, (uint64_t)llround((double)t + w0 - r));
		/* B->A, half a period later: raw rx on A = tx on B + w + r. */
		{
			uint64_t ta = t + 500000000ull / pps;

			r = r_at(r0, drift, (double)ta);
			st_dp_add(e, 1, ta, (uint64_t)llround((double)ta - w1 - r));
		}
	}
}

static void test_dp_exact_under_queueing_and_drift(void **state)
{
	static struct st_dp_est e;
	struct st_line l;
	double b;

	(void)state;
	srandom(7);
	st_dp_reset(&e);
	/* 3 ms offset, 50 ppm drift, 20 us wire, very different queueing
	 * each way (mean 5 us vs 200 us): only the minima matter. */
	feed_dp(&e, 3e6, 50e-6, 20000, 5000, 200000, 30, 500);
	assert_int_equal(st_dp_estimate(&e, &l, &b), 0);
	assert_true(fabs(l.a - r_at(3e6, 50e-6, l.t0)) < 1000);	/* < 1 us */
	assert_true(fabs(l.b - 50e3) < 100);			/* ppb, < 0.1 ppm */
	assert_true(b >= 1000 && b < 5000);
}

static void test_dp_outliers_above_are_ignored(void **state)
{
	static struct st_dp_est e;
	struct st_line l;
	double b;
	uint64_t t = T0;

	(void)state;
	srandom(11);
	st_dp_reset(&e);
	feed_dp(&e, -2e5, 0, 10000, 2000, 2000, 10, 400);
	/* Whole buckets of huge delays (a congested second) in one way. */
	for (int i = 0; i < 400; i++) {
		t = T0 + 10000000000ull + (uint64_t)i * 2500000ull;
		st_dp_add(&e, 0, t, (uint64_t)((double)t + 10000 + 5e6 + 2e5));
	}
	assert_int_equal(st_dp_estimate(&e, &l, &b), 0);
	assert_true(fabs(l.a - (-2e5)) < 1500);
}

static void test_dp_needs_both_directions(void **state)
{
	static struct st_dp_est e;
	struct st_line l;
	double b;

	(void)state;
	st_dp_reset(&e);
	for (int i = 0; i < 5000; i++)
		st_dp_add(&e, 0, T0 + (uint64_t)i * 1000000ull, T0 + (uint64_t)i * 1000000ull + 5000);
	assert_int_not_equal(st_dp_estimate(&e, &l, &b), 0);
}

static void test_dp_step_resets(void **state)
{
	static struct st_dp_est e;
	struct st_line l;
	double b;
	uint64_t t;

	(void)state;
	srandom(3);
	st_dp_reset(&e);
	feed_dp(&e, 1e6, 0, 10000, 1000, 1000, 20, 200);
	assert_int_equal(st_dp_estimate(&e, &l, &b), 0);
	/* B's clock steps back 5 ms: A->B raw delays drop by 5 ms. */
	t = T0 + 20000000000ull;
	for (int i = 0; i < 2000 && e.resets == 0; i++) {
		t += 5000000ull;
		st_dp_add(&e, 0, t, (uint64_t)((double)t + 10000 - 1e6 - 5e6));
		st_dp_add(&e, 1, t + 1000, (uint64_t)((double)(t + 1000) - 10000 - 1e6 - 5e6));
	}
	assert_int_equal(e.resets, 1);
}

static void test_ctl_bounded_by_rtt(void **state)
{
	static struct st_ctl_est c;
	struct st_line l;
	double b, truth = 123456.0;	/* ns, relative to base */

	(void)state;
	srandom(5);
	memset(&c, 0, sizeof(c));
	c.base = 1700000000000000000LL;
	for (int i = 0; i < 100; i++) {
		uint64_t t1 = T0 + (uint64_t)i * 1000000000ull;
		/* Asymmetric: the way there queues far more than the way back. */
		double up = 30000 + expo(100000), down = 30000 + expo(5000);
		int64_t t2 = (int64_t)t1 + c.base + (int64_t)truth + (int64_t)up;
		int64_t t3 = t2 + 10000;
		uint64_t t4 = (uint64_t)(t3 - c.base - (int64_t)truth + (int64_t)down);

		assert_int_equal(st_ctl_add(&c, t1, t2, t3, t4), 0);
	}
	assert_int_equal(st_ctl_estimate(&c, &l, &b), 0);
	/* Wrong by at most the best RTT / 2, and the bound says so. */
	assert_true(fabs(l.a - truth) <= b);
	assert_true(b < 100000);
}

static void test_ctl_step_detected(void **state)
{
	static struct st_ctl_est c;
	int steps = 0;

	(void)state;
	memset(&c, 0, sizeof(c));
	for (int i = 0; i < 60; i++) {
		uint64_t t1 = T0 + (uint64_t)i * 1000000000ull;
		int64_t off = i < 40 ? 0 : 50000000;	/* +50 ms at 40 s */
		int64_t t2 = (int64_t)t1 + off + 20000;

		steps += st_ctl_add(&c, t1, t2, t2 + 1000, (uint64_t)(t2 + 1000 - off + 20000));
	}
	assert_int_equal(steps, 1);
	assert_int_equal(c.steps, 1);
}

static void test_wls_loop_consistency(void **state)
{
	static struct st_wls w;
	static double cov[ST_WLS_MAX][ST_WLS_MAX];
	double x[3];

	(void)state;
	/* Three hosts: only host 0 anchored (control, 100 us); pairwise data
	 * plane: 1-0 = 10, 2-1 = 20, 2-0 = 33 (loop error 3 us). */
	st_wls_init(&w, 3);
	st_wls_abs(&w, 0, 0, 100000);
	st_wls_rel(&w, 0, 1, 10000, 1000);
	st_wls_rel(&w, 1, 2, 20000, 1000);
	st_wls_rel(&w, 0, 2, 33000, 1000);
	assert_int_equal(st_wls_solve(&w, x, cov), 0);
	/* The 3 us loop error is spread evenly: 1 us per edge. */
	assert_true(fabs((x[1] - x[0]) - 11000) < 1);
	assert_true(fabs((x[2] - x[1]) - 21000) < 1);
	assert_true(fabs((x[2] - x[0]) - 32000) < 1);
	/* The difference of two hosts is far better known than either. */
	assert_true(sqrt(cov[0][0]) > 90000);
	assert_true(sqrt(cov[0][0] + cov[1][1] - 2 * cov[0][1]) < 1000);
}

static void test_wls_unobserved_host_fails(void **state)
{
	static struct st_wls w;
	static double cov[ST_WLS_MAX][ST_WLS_MAX];
	double x[2];

	(void)state;
	st_wls_init(&w, 2);
	st_wls_abs(&w, 0, 5, 1);
	assert_int_not_equal(st_wls_solve(&w, x, cov), 0);
}

static void test_fit_lower_trims_queueing(void **state)
{
	double t[200], y[200];
	struct st_line l;

	(void)state;
	srandom(1);
	for (int i = 0; i < 200; i++) {
		t[i] = (double)T0 + i * 1e8;
		y[i] = 5000 + 0.02 * (t[i] - (double)T0) / 1e3 + (i % 3 ? expo(50000) : 0);
	}
	assert_int_equal(st_fit_lower(t, y, NULL, 200, (double)T0, 3, 10, &l), 0);
	assert_true(fabs(l.a - 5000) < 2000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dp_exact_under_queueing_and_drift),
		cmocka_unit_test(test_dp_outliers_above_are_ignored),
		cmocka_unit_test(test_dp_needs_both_directions),
		cmocka_unit_test(test_dp_step_resets),
		cmocka_unit_test(test_ctl_bounded_by_rtt),
		cmocka_unit_test(test_ctl_step_detected),
		cmocka_unit_test(test_wls_loop_consistency),
		cmocka_unit_test(test_wls_unobserved_host_fails),
		cmocka_unit_test(test_fit_lower_trims_queueing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
