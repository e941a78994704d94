// SPDX-License-Identifier: MIT
/*
 * Unit tests for the log-linear histogram (common/hist_index.h, hist.c):
 * the bucket layout, recording, quantiles and merging.
 *
 * The tests check the bucket layout exhaustively (every boundary up to
 * 2^40), the <= 1% quantile promise against exact sorted quantiles on
 * several seeded distributions, and exactness of merging. The encoder and
 * decoder are tested in hist_codec_test.c; the seeded sample sets both
 * use are in hist_samples.h.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hist_samples.h"

/* ---- bucket layout ----------------------------------------------------- */

static void test_msb_matches_clz(void **state)
{
	uint64_t s = 1, v;
	unsigned int b;
	int i;

	for (b = 0; b < 64; b++) {
		v = 1ull << b;
		assert_int_equal(st_hist_msb(v), b);
		assert_int_equal(st_hist_msb(v | (v - 1)), b);
		if (b > 0)
			assert_int_equal(st_hist_msb(v - 1), b - 1);
	}
	for (i = 0; i < 100000; i++) {
		b = (unsigned int)(rng_next(&s) % 64);
		v = rng_next(&s) >> b;
		if (v == 0)
			continue;
		assert_int_equal(st_hist_msb(v), 63 - __builtin_clzll(v));
	}
}

static void test_layout_contiguous(void **state)
{
	uint32_t i;

	assert_int_equal(NB, 64 + 34 * 64);
	assert_int_equal(st_hist_bucket_low(0), 0);
	assert_int_equal(st_hist_bucket_high(NB - 1), 1ull << ST_HIST_MAX_EXP);
	for (i = 0; i < NB; i++) {
		uint64_t lo = st_hist_bucket_low(i), hi = st_hist_bucket_high(i);

		assert_true(lo < hi);
		if (i < ST_HIST_SUB)
			assert_int_equal(hi - lo, 1);
		else
			/* Width <= low / 64: the basis of the 1/128 bound. */
			assert_true((hi - lo) * ST_HIST_SUB <= lo);
		if (i + 1 < NB)
			assert_int_equal(hi, st_hist_bucket_low(i + 1));
	}
	assert_int_equal(st_hist_bucket_low(NB), UINT64_MAX);
	assert_int_equal(st_hist_bucket_high(NB), UINT64_MAX);
}

/*
 * Both edges and the middle of every bucket map back to that bucket, and
 * the values just outside map to the neighbours; this visits every
 * boundary of every exponent up to 2^40.
 */
static void test_layout_boundaries(void **state)
{
	uint32_t i;

	for (i = 0; i < NB; i++) {
		uint64_t lo = st_hist_bucket_low(i), hi = st_hist_bucket_high(i);

		assert_int_equal(st_hist_index(lo), i);
		assert_int_equal(st_hist_index(hi - 1), i);
		assert_int_equal(st_hist_index(lo + (hi - lo) / 2), i);
		if (i > 0)
			assert_int_equal(st_hist_index(lo - 1), i - 1);
		if (i + 1 < NB)
			assert_int_equal(st_hist_index(hi), i + 1);
	}
}

static void test_index_monotonic_sweep(void **state)
{
	uint32_t prev = 0, idx;
	uint64_t v, s = 42;
	int i;

	/* Dense prefix: each step moves by at most one bucket. */
	for (v = 0; v < (1u << 20); v++) {
		idx = st_hist_index(v);
		assert_true(idx == prev || idx == prev + 1);
		prev = idx;
	}
	/* Geometric sweep far past the clamp point. */
	for (v = 1u << 20; v < (1ull << 44); v += v / 997 + 1) {
		idx = st_hist_index(v);
		assert_true(idx >= prev);
		assert_true(idx < NB);
		prev = idx;
	}
	assert_int_equal(prev, NB - 1);
	/* Random values fall inside the bounds of their bucket. */
	for (i = 0; i < 200000; i++) {
		/* Separate statements keep the draw order compiler-independent. */
		int shift = 24 + (int)(rng_next(&s) % 40);

		v = rng_next(&s) >> shift;
		idx = st_hist_index(v);
		assert_true(st_hist_bucket_low(idx) <= v);
		assert_true(v < st_hist_bucket_high(idx));
	}
}

static void test_clamp_huge(void **state)
{
	struct st_hist *h = hist_new();
	uint64_t big = 1ull << 50;

	assert_int_equal(st_hist_index((1ull << 40) - 1), NB - 1);
	assert_int_equal(st_hist_index(1ull << 40), NB - 1);
	assert_int_equal(st_hist_index((1ull << 40) + 1), NB - 1);
	assert_int_equal(st_hist_index(big), NB - 1);
	assert_int_equal(st_hist_index(UINT64_MAX), NB - 1);

	/* Exact min/max keep clamped outliers visible in the quantiles. */
	st_hist_add(h, 1000);
	st_hist_add(h, big);
	assert_int_equal(h->buckets[NB - 1], 1);
	assert_int_equal(st_hist_quantile(h, 0.0), 1000);
	assert_int_equal(st_hist_quantile(h, 1.0), big);
	assert_int_equal(h->sum, big + 1000);

	/* Sum saturates instead of wrapping. */
	st_hist_init(h);
	st_hist_add(h, UINT64_MAX);
	st_hist_add(h, UINT64_MAX);
	assert_int_equal(h->count, 2);
	assert_int_equal(h->sum, UINT64_MAX);
	assert_int_equal(h->min, UINT64_MAX);
	assert_int_equal(h->max, UINT64_MAX);
	assert_int_equal(h->buckets[NB - 1], 2);
	assert_int_equal(st_hist_quantile(h, 0.5), UINT64_MAX);
	free(h);
}

/* ---- recording and quantiles ------------------------------------------- */

static void test_empty(void **state)
{
	struct st_hist *h = hist_new(), *e = hist_new();
	uint8_t buf[64];
	size_t len;

	assert_int_equal(h->count, 0);
	assert_int_equal(h->sum, 0);
	assert_int_equal(h->min, UINT64_MAX);
	assert_int_equal(h->max, 0);
	assert_int_equal(st_hist_quantile(h, 0.0), 0);
	assert_int_equal(st_hist_quantile(h, 0.5), 0);
	assert_int_equal(st_hist_quantile(h, 1.0), 0);
	assert_true(st_hist_mean(h) == 0.0);

	st_hist_merge(h, e);
	assert_hist_equal(h, e);
	st_hist_add_n(h, 77, 0);
	assert_hist_equal(h, e);

	/* version + three 1-byte varints + min = UINT64_MAX in 10 bytes */
	len = st_hist_encode(h, buf, sizeof(buf));
	assert_int_equal(len, 1 + 1 + 1 + 10 + 1);
	st_hist_add(h, 5);
	assert_int_equal(st_hist_decode(h, buf, len), 0);
	assert_hist_equal(h, e);
	free(h);
	free(e);
}

static void test_add_n_and_mean(void **state)
{
	struct st_hist *a = hist_new(), *b = hist_new();
	int i;

	for (i = 0; i < 5; i++)
		st_hist_add(a, 123456);
	st_hist_add(a, 7);
	st_hist_add_n(b, 123456, 5);
	st_hist_add_n(b, 7, 1);
	assert_hist_equal(a, b);
	assert_int_equal(a->count, 6);
	assert_int_equal(a->sum, 5 * 123456 + 7);
	assert_true(fabs(st_hist_mean(a) - (5 * 123456 + 7) / 6.0) < 1e-9);
	free(a);
	free(b);
}

static void test_quantile_edges(void **state)
{
	struct st_hist *h = hist_new();
	uint64_t v;

	/* A single value is every quantile, exactly, thanks to clipping. */
	st_hist_add(h, 987654321);
	assert_int_equal(st_hist_quantile(h, 0.0), 987654321);
	assert_int_equal(st_hist_quantile(h, 0.5), 987654321);
	assert_int_equal(st_hist_quantile(h, 1.0), 987654321);
	/* Out-of-range q is clamped; NaN behaves like 0. */
	assert_int_equal(st_hist_quantile(h, -3.0), 987654321);
	assert_int_equal(st_hist_quantile(h, 7.0), 987654321);
	assert_int_equal(st_hist_quantile(h, NAN), 987654321);

	/* Below 64 buckets are exact: 1..10 gives exact nearest ranks. */
	st_hist_init(h);
	for (v = 1; v <= 10; v++)
		st_hist_add(h, v);
	assert_int_equal(st_hist_quantile(h, 0.0), 1);
	assert_int_equal(st_hist_quantile(h, 0.1), 1);
	assert_int_equal(st_hist_quantile(h, 0.11), 2);
	assert_int_equal(st_hist_quantile(h, 0.5), 5);
	assert_int_equal(st_hist_quantile(h, 0.51), 6);
	assert_int_equal(st_hist_quantile(h, 0.9), 9);
	assert_int_equal(st_hist_quantile(h, 1.0), 10);
	assert_int_equal(st_hist_quantile(h, -1.0), 1);
	assert_int_equal(st_hist_quantile(h, 2.0), 10);
	assert_int_equal(st_hist_quantile(h, NAN), 1);
	free(h);
}

/* Nearest rank computed independently of the implementation. */
static uint64_t exact_quantile(const uint64_t *sorted, size_t n, double q)
{
	double r = ceil(q * (double)n);
	size_t rank = r < 1.0 ? 1 : (size_t)r;

	return sorted[(rank > n ? n : rank) - 1];
}

static void check_quantile_accuracy(enum dist d, uint64_t seed)
{
	uint64_t *v = make_samples(d, seed, NSAMPLES);
	struct st_hist *h = hist_new();
	double qs[] = { 0.00001, 0.0001, 0.9999, 0.99999 };
	long double exact_sum = 0;
	size_t i;
	int k;

	hist_of(h, v, NSAMPLES);
	for (i = 0; i < NSAMPLES; i++)
		exact_sum += v[i];
	qsort(v, NSAMPLES, sizeof(*v), cmp_u64);

	assert_int_equal(h->count, NSAMPLES);
	assert_int_equal(h->min, v[0]);
	assert_int_equal(h->max, v[NSAMPLES - 1]);
	assert_int_equal(st_hist_quantile(h, 0.0), v[0]);
	assert_int_equal(st_hist_quantile(h, 1.0), v[NSAMPLES - 1]);
	assert_true(fabsl((long double)st_hist_mean(h) - exact_sum / NSAMPLES) <=
		    1e-9L * (exact_sum / NSAMPLES));

	for (k = 0; k <= 1000 + 4; k++) {
		double q = k <= 1000 ? k / 1000.0 : qs[k - 1001];
		uint64_t want = exact_quantile(v, NSAMPLES, q);
		uint64_t got = st_hist_quantile(h, q);
		uint64_t err = got > want ? got - want : want - got;

		/* The promise is 1%; the construction gives 1/128. */
		if (err * 100 > want || err * 128 > want)
			fail_msg("dist %d q=%g: got %llu want %llu", d, q,
				 (unsigned long long)got,
				 (unsigned long long)want);
	}
	free(v);
	free(h);
}

static void test_quantile_uniform(void **state)
{
	check_quantile_accuracy(DIST_UNIFORM, 1);
	check_quantile_accuracy(DIST_UNIFORM_SMALL, 2);
}

static void test_quantile_lognormal(void **state)
{
	check_quantile_accuracy(DIST_LOGNORMAL, 3);
}

static void test_quantile_bimodal(void **state)
{
	check_quantile_accuracy(DIST_BIMODAL, 4);
}

/* ---- merging ----------------------------------------------------------- */

static void check_merge(enum dist d1, enum dist d2, uint64_t seed)
{
	uint64_t *a = make_samples(d1, seed, NSAMPLES / 2);
	uint64_t *b = make_samples(d2, seed + 1, NSAMPLES / 2);
	uint64_t *all = malloc(NSAMPLES * sizeof(*all));
	struct st_hist *ha = hist_new(), *hb = hist_new(), *hall = hist_new();
	struct st_hist *m = hist_new();
	int k;

	assert_non_null(all);
	memcpy(all, a, NSAMPLES / 2 * sizeof(*a));
	memcpy(all + NSAMPLES / 2, b, NSAMPLES / 2 * sizeof(*b));
	hist_of(ha, a, NSAMPLES / 2);
	hist_of(hb, b, NSAMPLES / 2);
	hist_of(hall, all, NSAMPLES);

	/* Merge order does not matter and the result is bucket-exact. */
	*m = *ha;
	st_hist_merge(m, hb);
	assert_hist_equal(m, hall);
	*m = *hb;
	st_hist_merge(m, ha);
	assert_hist_equal(m, hall);
	for (k = 0; k <= 100; k++)
		assert_int_equal(st_hist_quantile(m, k / 100.0),
				 st_hist_quantile(hall, k / 100.0));

	/* The empty histogram is the identity on both sides. */
	st_hist_init(m);
	st_hist_merge(m, ha);
	assert_hist_equal(m, ha);
	st_hist_init(hb);
	st_hist_merge(m, hb);
	assert_hist_equal(m, ha);

	free(a);
	free(b);
	free(all);
	free(ha);
	free(hb);
	free(hall);
	free(m);
}

static void test_merge_exact(void **state)
{
	check_merge(DIST_UNIFORM, DIST_LOGNORMAL, 10);
	check_merge(DIST_BIMODAL, DIST_BIMODAL, 20);
	check_merge(DIST_UNIFORM_SMALL, DIST_LOGNORMAL, 30);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_msb_matches_clz),
		cmocka_unit_test(test_layout_contiguous),
		cmocka_unit_test(test_layout_boundaries),
		cmocka_unit_test(test_index_monotonic_sweep),
		cmocka_unit_test(test_clamp_huge),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_add_n_and_mean),
		cmocka_unit_test(test_quantile_edges),
		cmocka_unit_test(test_quantile_uniform),
		cmocka_unit_test(test_quantile_lognormal),
		cmocka_unit_test(test_quantile_bimodal),
		cmocka_unit_test(test_merge_exact),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
