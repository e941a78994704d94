/* SPDX-License-Identifier: MIT */
/*
 * Seeded sample sets and small histogram helpers shared by the histogram
 * unit tests (hist_test.c: layout, quantiles, merging; hist_codec_test.c:
 * encoding and decoding). The generator is splitmix64 so every data set,
 * and thus any failure, is the same on every platform.
 *
 * Functions are static inline so each test binary gets its own copy and a
 * helper a file does not use is no warning.
 */
#ifndef ST_HIST_SAMPLES_H
#define ST_HIST_SAMPLES_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>

#include "hist.h"

#define NB ST_HIST_NBUCKETS
#define NSAMPLES 200000

/* ---- helpers ----------------------------------------------------------- */

/*
 * splitmix64: tiny, seedable and identical on every platform, so the data
 * sets (and thus any failure) are reproducible.
 */
static inline uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform double in (0, 1]; never 0 so log() below stays finite. */
static inline double rng_unit(uint64_t *s)
{
	return ((rng_next(s) >> 11) + 1) * 0x1p-53;
}

static inline double rng_normal(uint64_t *s)
{
	double u1 = rng_unit(s), u2 = rng_unit(s);

	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

enum dist { DIST_UNIFORM, DIST_UNIFORM_SMALL, DIST_LOGNORMAL, DIST_BIMODAL };

static inline uint64_t sample(enum dist d, uint64_t *s)
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

static inline uint64_t *make_samples(enum dist d, uint64_t seed, size_t n)
{
	uint64_t *v = malloc(n * sizeof(*v));
	size_t i;

	assert_non_null(v);
	for (i = 0; i < n; i++)
		v[i] = sample(d, &seed);
	return v;
}

static inline int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static inline void hist_of(struct st_hist *h, const uint64_t *v, size_t n)
{
	size_t i;

	st_hist_init(h);
	for (i = 0; i < n; i++)
		st_hist_add(h, v[i]);
}

static inline struct st_hist *hist_new(void)
{
	struct st_hist *h = malloc(sizeof(*h));

	assert_non_null(h);
	st_hist_init(h);
	return h;
}

static inline void assert_hist_equal(const struct st_hist *a, const struct st_hist *b)
{
	assert_int_equal(a->count, b->count);
	assert_int_equal(a->sum, b->sum);
	assert_int_equal(a->min, b->min);
	assert_int_equal(a->max, b->max);
	assert_memory_equal(a->buckets, b->buckets, sizeof(a->buckets));
}

#endif /* ST_HIST_SAMPLES_H */
