// SPDX-License-Identifier: MIT
/*
 * Unit tests for the log-linear histogram (common/hist_index.h, hist.c).
 *
 * The tests check the bucket layout exhaustively (every boundary up to
 * 2^40), the <= 1% quantile promise against exact sorted quantiles on
 * several seeded distributions, exactness of merging, and that the decoder
 * rejects every kind of malformed buffer. Buffers handed to the decoder are
 * heap copies of exactly the stated length, so running under AddressSanitizer
 * turns any out-of-bounds read into a failure.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hist.h"

#define NB ST_HIST_NBUCKETS
#define NSAMPLES 200000

/* ---- helpers ----------------------------------------------------------- */

/*
 * splitmix64: tiny, seedable and identical on every platform, so the data
 * sets (and thus any failure) are reproducible.
 */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform double in (0, 1]; never 0 so log() below stays finite. */
static double rng_unit(uint64_t *s)
{
	return ((rng_next(s) >> 11) + 1) * 0x1p-53;
}

static double rng_normal(uint64_t *s)
{
	double u1 = rng_unit(s), u2 = rng_unit(s);

	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

enum dist { DIST_UNIFORM, DIST_UNIFORM_SMALL, DIST_LOGNORMAL, DIST_BIMODAL };

static uint64_t sample(enum dist d, uint64_t *s)
{
	double x;

	switch (d) {
	case DIST_UNIFORM:
		return 1000 + rng_next(s) % (1000000000ull - 1000);
	case DIST_UNIFORM_SMALL:
		/* Straddles the exact region (< 64) and the first octaves. */
		return rng_next(s) % 5000;
	case DIST_LOGNORMAL:
		x = exp(log(50000.0) + 1.5 * rng_normal(s));
		return (uint64_t)x;
	case DIST_BIMODAL:
	default:
		if (rng_next(s) % 10 < 7)
			x = 20000.0 + 2000.0 * rng_normal(s);
		else
			x = 5e6 + 5e5 * rng_normal(s);
		return x < 1.0 ? 1 : (uint64_t)x;
	}
}

static uint64_t *make_samples(enum dist d, uint64_t seed, size_t n)
{
	uint64_t *v = malloc(n * sizeof(*v));
	size_t i;

	assert_non_null(v);
	for (i = 0; i < n; i++)
		v[i] = sample(d, &seed);
	return v;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static void hist_of(struct st_hist *h, const uint64_t *v, size_t n)
{
	size_t i;

	st_hist_init(h);
	for (i = 0; i < n; i++)
		st_hist_add(h, v[i]);
}

static struct st_hist *hist_new(void)
{
	struct st_hist *h = malloc(sizeof(*h));

	assert_non_null(h);
	st_hist_init(h);
	return h;
}

static void assert_hist_equal(const struct st_hist *a, const struct st_hist *b)
{
	assert_int_equal(a->count, b->count);
	assert_int_equal(a->sum, b->sum);
	assert_int_equal(a->min, b->min);
	assert_int_equal(a->max, b->max);
	assert_memory_equal(a->buckets, b->buckets, sizeof(a->buckets));
}

/* Encodes h into a fresh heap buffer of exactly the encoded length. */
static uint8_t *encode_new(const struct st_hist *h, size_t *len)
{
	size_t max = st_hist_encoded_size_max();
	uint8_t *tmp = malloc(max), *out;

	assert_non_null(tmp);
	*len = st_hist_encode(h, tmp, max);
	assert_true(*len > 0);
	out = malloc(*len);
	assert_non_null(out);
	memcpy(out, tmp, *len);
	free(tmp);
	return out;
}

/*
 * Decodes an exact-length heap copy of buf[0..len) into a histogram
 * pre-filled with a sentinel, and checks that a failure leaves it intact.
 */
static int decode_copy(const uint8_t *buf, size_t len, struct st_hist *out)
{
	struct st_hist *sentinel = hist_new();
	uint8_t *copy = malloc(len ? len : 1);
	int rc;

	assert_non_null(copy);
	memcpy(copy, buf, len);
	st_hist_add_n(sentinel, 12345, 7);
	*out = *sentinel;
	rc = st_hist_decode(out, copy, len);
	if (rc != 0) {
		assert_int_equal(rc, -EINVAL);
		assert_hist_equal(out, sentinel);
	}
	free(copy);
	free(sentinel);
	return rc;
}

static void assert_decode_fails(const uint8_t *buf, size_t len)
{
	struct st_hist *h = hist_new();

	assert_int_equal(decode_copy(buf, len, h), -EINVAL);
	free(h);
}

/* Independent LEB128 writer for hand-crafted (malformed) buffers. */
static size_t put_leb(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	do {
		p[n] = (uint8_t)(v & 0x7f);
		v >>= 7;
		if (v)
			p[n] |= 0x80;
		n++;
	} while (v);
	return n;
}

struct pair {
	uint64_t gap, n;
};

static size_t craft(uint8_t *out, uint8_t version, uint64_t count,
		    uint64_t sum, uint64_t min, uint64_t max,
		    const struct pair *pairs, size_t npairs)
{
	size_t len = 0, i;

	out[len++] = version;
	len += put_leb(out + len, count);
	len += put_leb(out + len, sum);
	len += put_leb(out + len, min);
	len += put_leb(out + len, max);
	for (i = 0; i < npairs; i++) {
		len += put_leb(out + len, pairs[i].gap);
		len += put_leb(out + len, pairs[i].n);
	}
	return len;
}

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

/* ---- encoding ---------------------------------------------------------- */

static void check_round_trip(const struct st_hist *h)
{
	struct st_hist *d = hist_new();
	uint8_t *buf, *again;
	size_t len, len2;

	buf = encode_new(h, &len);
	assert_true(len <= st_hist_encoded_size_max());
	assert_int_equal(decode_copy(buf, len, d), 0);
	assert_hist_equal(d, h);
	/* Canonical: re-encoding the decoded result gives the same bytes. */
	again = encode_new(d, &len2);
	assert_int_equal(len2, len);
	assert_memory_equal(again, buf, len);
	free(buf);
	free(again);
	free(d);
}

static void test_round_trip(void **state)
{
	uint64_t singles[] = { 0, 1, 63, 64, 65, 127, 128, 1000000,
			       (1ull << 40) - 1, 1ull << 40, UINT64_MAX };
	struct st_hist *h = hist_new();
	enum dist d;
	uint64_t *v;
	size_t i;

	check_round_trip(h);
	for (i = 0; i < sizeof(singles) / sizeof(singles[0]); i++) {
		st_hist_init(h);
		st_hist_add(h, singles[i]);
		check_round_trip(h);
		st_hist_add_n(h, singles[i], 1ull << 40);
		check_round_trip(h);
	}
	for (d = DIST_UNIFORM; d <= DIST_BIMODAL; d++) {
		v = make_samples(d, 100 + d, NSAMPLES);
		hist_of(h, v, NSAMPLES);
		check_round_trip(h);
		free(v);
	}
	/* Every bucket populated with a large count: near worst case. */
	st_hist_init(h);
	for (i = 0; i < NB; i++)
		st_hist_add_n(h, st_hist_bucket_low(i), (1ull << 50) + i);
	check_round_trip(h);
	free(h);
}

/* Too-small buffers yield 0 and are never written past their end. */
static void test_encode_capacity(void **state)
{
	struct st_hist *h = hist_new();
	uint8_t *full, *small;
	size_t len, cap;

	st_hist_add(h, 10);
	st_hist_add(h, 100000);
	st_hist_add(h, 1ull << 45);
	full = encode_new(h, &len);
	for (cap = 0; cap < len; cap++) {
		small = malloc(cap ? cap : 1);
		assert_non_null(small);
		assert_int_equal(st_hist_encode(h, cap ? small : NULL, cap), 0);
		free(small);
	}
	small = malloc(len);
	assert_non_null(small);
	assert_int_equal(st_hist_encode(h, small, len), len);
	assert_memory_equal(small, full, len);
	free(small);
	free(full);
	free(h);
}

static void test_decode_truncated(void **state)
{
	uint64_t *v = make_samples(DIST_LOGNORMAL, 7, 5000);
	struct st_hist *h = hist_new();
	uint8_t *buf;
	size_t len, cut;

	hist_of(h, v, 5000);
	buf = encode_new(h, &len);
	assert_int_equal(decode_copy(buf, len, h), 0);
	for (cut = 0; cut < len; cut++)
		assert_decode_fails(buf, cut);
	assert_int_equal(st_hist_decode(h, NULL, 0), -EINVAL);
	free(buf);
	free(v);
	free(h);
}

static void test_decode_bad_version_and_trailing(void **state)
{
	struct st_hist *h = hist_new();
	uint8_t buf[256];
	size_t len;
	uint8_t bad[] = { 0, 2, 0x7f, 0xff };
	uint8_t tails[] = { 0x00, 0x01, 0x80, 0xff };
	size_t i;

	st_hist_add(h, 500);
	st_hist_add(h, 70000);
	len = st_hist_encode(h, buf, sizeof(buf));
	assert_true(len > 0 && len < sizeof(buf));
	assert_int_equal(buf[0], ST_HIST_WIRE_VERSION);
	for (i = 0; i < sizeof(bad); i++) {
		buf[0] = bad[i];
		assert_decode_fails(buf, len);
	}
	buf[0] = ST_HIST_WIRE_VERSION;
	for (i = 0; i < sizeof(tails); i++) {
		buf[len] = tails[i];
		assert_decode_fails(buf, len + 1);
	}
	/* Also for the empty histogram, where no pairs follow the header. */
	st_hist_init(h);
	len = st_hist_encode(h, buf, sizeof(buf));
	buf[len] = 0;
	assert_decode_fails(buf, len + 1);
	free(h);
}

static void test_decode_crafted(void **state)
{
	uint8_t buf[512];
	struct st_hist *h = hist_new();
	uint32_t i100 = st_hist_index(100);
	size_t len;

	/* Baseline: {10, 10, 100} crafted by hand must be accepted. */
	len = craft(buf, 1, 3, 120, 10, 100,
		    (struct pair[]){ { 10, 2 }, { i100 - 11, 1 } }, 2);
	assert_int_equal(decode_copy(buf, len, h), 0);
	assert_int_equal(h->buckets[10], 2);
	assert_int_equal(h->buckets[i100], 1);
	assert_int_equal(st_hist_quantile(h, 1.0), 100);

	/* Index out of range, directly and via accumulated gaps. */
	len = craft(buf, 1, 1, 10, 10, 10, (struct pair[]){ { NB, 1 } }, 1);
	assert_decode_fails(buf, len);
	len = craft(buf, 1, 1, 10, 10, 10,
		    (struct pair[]){ { 1ull << 40, 1 } }, 1);
	assert_decode_fails(buf, len);
	len = craft(buf, 1, 2, 20, 10, 10,
		    (struct pair[]){ { 10, 1 }, { NB - 11, 1 } }, 2);
	assert_decode_fails(buf, len);

	/* Bucket counts that fall short of or exceed count. */
	len = craft(buf, 1, 4, 120, 10, 100,
		    (struct pair[]){ { 10, 2 }, { i100 - 11, 1 } }, 2);
	assert_decode_fails(buf, len);
	len = craft(buf, 1, 2, 120, 10, 100,
		    (struct pair[]){ { 10, 2 }, { i100 - 11, 1 } }, 2);
	assert_decode_fails(buf, len);
	len = craft(buf, 1, 3, 120, 10, 100,
		    (struct pair[]){ { 10, 3 }, { i100 - 11, 1 } }, 2);
	assert_decode_fails(buf, len);
	/* An explicitly empty bucket is not canonical. */
	len = craft(buf, 1, 3, 120, 10, 100,
		    (struct pair[]){ { 10, 2 }, { 0, 0 }, { i100 - 12, 1 } }, 3);
	assert_decode_fails(buf, len);

	/* Counts whose sum would overflow 64 bits. */
	len = craft(buf, 1, UINT64_MAX, 0, 0, 0,
		    (struct pair[]){ { 0, 1ull << 63 }, { 0, 1ull << 63 } }, 2);
	assert_decode_fails(buf, len);
	len = craft(buf, 1, UINT64_MAX, 0, 0, 0,
		    (struct pair[]){ { 0, UINT64_MAX }, { 0, 1 } }, 2);
	assert_decode_fails(buf, len);
	len = craft(buf, 1, UINT64_MAX, 0, 0, 0,
		    (struct pair[]){ { 0, UINT64_MAX } }, 1);
	assert_int_equal(decode_copy(buf, len, h), 0);

	/* min/max/sum inconsistent with the buckets or each other. */
	len = craft(buf, 1, 3, 120, 11, 100,
		    (struct pair[]){ { 10, 2 }, { i100 - 11, 1 } }, 2);
	assert_decode_fails(buf, len);
	len = craft(buf, 1, 3, 120, 10, 1000,
		    (struct pair[]){ { 10, 2 }, { i100 - 11, 1 } }, 2);
	assert_decode_fails(buf, len);
	len = craft(buf, 1, 1, 10, 10, 9, (struct pair[]){ { 10, 1 } }, 1);
	assert_decode_fails(buf, len);
	/*
	 * min > max inside one bucket with a saturated sum: the sum bounds
	 * both saturate to UINT64_MAX here, so only the ordering check
	 * catches it.
	 */
	len = craft(buf, 1, 1ull << 40, UINT64_MAX, (1ull << 40) + 1,
		    1ull << 40, (struct pair[]){ { NB - 1, 1ull << 40 } }, 1);
	assert_decode_fails(buf, len);
	len = craft(buf, 1, 1ull << 40, UINT64_MAX, 1ull << 40,
		    (1ull << 40) + 1, (struct pair[]){ { NB - 1, 1ull << 40 } }, 1);
	assert_int_equal(decode_copy(buf, len, h), 0);
	len = craft(buf, 1, 3, 29, 10, 100,
		    (struct pair[]){ { 10, 2 }, { i100 - 11, 1 } }, 2);
	assert_decode_fails(buf, len);
	len = craft(buf, 1, 3, 301, 10, 100,
		    (struct pair[]){ { 10, 2 }, { i100 - 11, 1 } }, 2);
	assert_decode_fails(buf, len);
	/* Empty must look exactly like st_hist_init(). */
	len = craft(buf, 1, 0, 0, 0, 0, NULL, 0);
	assert_decode_fails(buf, len);
	len = craft(buf, 1, 0, 5, UINT64_MAX, 0, NULL, 0);
	assert_decode_fails(buf, len);
	len = craft(buf, 1, 0, 0, UINT64_MAX, 0, NULL, 0);
	assert_int_equal(decode_copy(buf, len, h), 0);
	free(h);
}

static void test_decode_bad_varints(void **state)
{
	/* count = 3 with an overlong second byte */
	uint8_t overlong[] = { 1, 0x83, 0x00, 0, 0xff, 0xff, 0xff, 0xff, 0xff,
			       0xff, 0xff, 0xff, 0xff, 0x01, 0 };
	/* count with 11 continuation bytes */
	uint8_t too_long[] = { 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
			       0xff, 0xff, 0xff, 0x01, 0, 0, 0 };
	/* count whose tenth byte sets bits above 63 */
	uint8_t too_big[] = { 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
			      0xff, 0xff, 0x02, 0, 0, 0 };
	uint8_t ok[32];
	struct st_hist *h;
	size_t len;

	uint8_t base[64], padded[64];
	uint32_t i100 = st_hist_index(100);
	size_t blen;

	/*
	 * Overlong but otherwise valid: {10, 10, 100} with the first gap (10)
	 * written as two bytes, 0x8a 0x00. Everything else about the buffer is
	 * correct, so only the canonical-form check can reject it.
	 */
	blen = craft(base, 1, 3, 120, 10, 100,
		     (struct pair[]){ { 10, 2 }, { i100 - 11, 1 } }, 2);
	assert_int_equal(base[5], 10);
	memcpy(padded, base, 5);
	padded[5] = 0x8a;
	padded[6] = 0x00;
	memcpy(padded + 7, base + 6, blen - 6);
	assert_decode_fails(padded, blen + 1);
	assert_decode_fails(overlong, sizeof(overlong));
	assert_decode_fails(too_long, sizeof(too_long));
	assert_decode_fails(too_big, sizeof(too_big));
	/* Sanity: the canonical form of the maximum varint is accepted. */
	len = craft(ok, 1, UINT64_MAX, 0, 0, 0,
		    (struct pair[]){ { 0, UINT64_MAX } }, 1);
	assert_int_equal(ok[10], 0x01);
	h = hist_new();
	assert_int_equal(decode_copy(ok, len, h), 0);
	assert_int_equal(h->count, UINT64_MAX);
	free(h);
	/*
	 * The same buffer with bit 64 also set in count's tenth byte: had the
	 * decoder dropped the excess bits, it would still read UINT64_MAX.
	 */
	ok[10] = 0x03;
	assert_decode_fails(ok, len);
}

/*
 * Corrupted and random buffers: the decoder must never read out of bounds
 * (ASan checks that), and whatever it accepts must re-encode to the very
 * same bytes, i.e. it accepts only canonical encodings.
 */
static void check_accept_is_canonical(const uint8_t *buf, size_t len,
				      struct st_hist *h)
{
	uint8_t *again;
	size_t len2;

	if (decode_copy(buf, len, h) != 0)
		return;
	again = encode_new(h, &len2);
	assert_int_equal(len2, len);
	assert_memory_equal(again, buf, len);
	free(again);
}

static void test_decode_fuzz(void **state)
{
	uint64_t *v = make_samples(DIST_BIMODAL, 9, 2000);
	struct st_hist *h = hist_new();
	uint8_t *buf, *mut, rnd[64];
	size_t len, pos, j;
	uint64_t s = 99;
	int bit, i;

	hist_of(h, v, 2000);
	buf = encode_new(h, &len);
	mut = malloc(len);
	assert_non_null(mut);
	for (pos = 0; pos < len; pos++) {
		for (bit = 0; bit <= 8; bit++) {
			memcpy(mut, buf, len);
			mut[pos] ^= bit == 8 ? 0xff : (uint8_t)(1u << bit);
			check_accept_is_canonical(mut, len, h);
		}
	}
	for (i = 0; i < 20000; i++) {
		size_t n = rng_next(&s) % sizeof(rnd);

		for (j = 0; j < n; j++)
			rnd[j] = (uint8_t)rng_next(&s);
		if (n > 0 && i % 2)
			rnd[0] = ST_HIST_WIRE_VERSION;
		check_accept_is_canonical(rnd, n, h);
	}
	free(mut);
	free(buf);
	free(v);
	free(h);
}

/* ---- merge_encoded ----------------------------------------------------- */

static void test_merge_encoded(void **state)
{
	uint64_t *a = make_samples(DIST_LOGNORMAL, 50, NSAMPLES / 2);
	uint64_t *b = make_samples(DIST_UNIFORM, 51, NSAMPLES / 2);
	struct st_hist *ha = hist_new(), *hb = hist_new(), *x = hist_new();
	struct st_hist *y = hist_new(), *dec = hist_new();
	uint8_t *enc;
	size_t len;

	hist_of(ha, a, NSAMPLES / 2);
	hist_of(hb, b, NSAMPLES / 2);
	enc = encode_new(hb, &len);

	*x = *ha;
	assert_int_equal(st_hist_merge_encoded(x, enc, len), 0);
	assert_int_equal(st_hist_decode(dec, enc, len), 0);
	*y = *ha;
	st_hist_merge(y, dec);
	assert_hist_equal(x, y);

	/* Malformed input leaves the accumulator untouched. */
	assert_int_equal(st_hist_merge_encoded(x, enc, len - 1), -EINVAL);
	assert_hist_equal(x, y);
	enc[0] = 0;
	assert_int_equal(st_hist_merge_encoded(x, enc, len), -EINVAL);
	assert_hist_equal(x, y);
	assert_int_equal(st_hist_merge_encoded(x, NULL, 0), -EINVAL);
	assert_hist_equal(x, y);
	free(enc);

	/* Merging an encoded empty histogram is the identity. */
	st_hist_init(dec);
	enc = encode_new(dec, &len);
	assert_int_equal(st_hist_merge_encoded(x, enc, len), 0);
	assert_hist_equal(x, y);
	free(enc);

	free(a);
	free(b);
	free(ha);
	free(hb);
	free(x);
	free(y);
	free(dec);
}

/* The storage use case: summing many stored rows one by one. */
static void test_merge_encoded_many_rows(void **state)
{
	struct st_hist *row = hist_new(), *acc = hist_new(), *all = hist_new();
	uint64_t s = 5, val;
	uint8_t *enc;
	size_t len;
	int r, i;

	for (r = 0; r < 200; r++) {
		st_hist_init(row);
		for (i = 0; i < 500; i++) {
			val = sample((enum dist)(r % 4), &s);
			st_hist_add(row, val);
			st_hist_add(all, val);
		}
		enc = encode_new(row, &len);
		assert_int_equal(st_hist_merge_encoded(acc, enc, len), 0);
		free(enc);
	}
	assert_hist_equal(acc, all);
	free(row);
	free(acc);
	free(all);
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
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_encode_capacity),
		cmocka_unit_test(test_decode_truncated),
		cmocka_unit_test(test_decode_bad_version_and_trailing),
		cmocka_unit_test(test_decode_crafted),
		cmocka_unit_test(test_decode_bad_varints),
		cmocka_unit_test(test_decode_fuzz),
		cmocka_unit_test(test_merge_encoded),
		cmocka_unit_test(test_merge_encoded_many_rows),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
