// SPDX-License-Identifier: MIT
/*
 * Unit tests for the histogram's wire encoding (common/hist.c):
 * st_hist_encode, st_hist_decode and st_hist_merge_encoded.
 *
 * Round trips must be exact, and the decoder must reject every kind of
 * malformed buffer (truncated, bad version, trailing bytes, hand-crafted
 * bad fields, bad varints, fuzzed bytes) with -EINVAL, leaving its output
 * untouched. Buffers handed to the decoder are heap copies of exactly the
 * stated length, so running under AddressSanitizer turns any out-of-bounds
 * read into a failure. Malformed buffers are written by an independent
 * LEB128 writer here, not by the encoder under test.
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

#include "hist_samples.h"

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
