// SPDX-License-Identifier: MIT
/*
 * Log-linear latency histogram: recording, merging, quantiles and the sparse
 * varint encoding. See hist.h for the format and the accuracy argument.
 */
#include "hist.h"

#include <errno.h>
#include <string.h>

/* A LEB128 varint carries 7 bits per byte, so 64 bits need at most 10. */
#define VARINT_MAX 10
/* A gap is at most ST_HIST_NBUCKETS - 1, which fits in two varint bytes. */
#define GAP_VARINT_MAX 2
_Static_assert(ST_HIST_NBUCKETS - 1 < (1u << (7 * GAP_VARINT_MAX)),
	       "bucket gaps must fit in GAP_VARINT_MAX varint bytes");

/*
 * Counters saturate rather than wrap: a wrapped sum or count would silently
 * turn into a small, plausible-looking number, whereas a pinned one is
 * obviously out of range.
 */
static uint64_t sat_add(uint64_t a, uint64_t b)
{
	uint64_t r;

	return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}

static uint64_t sat_mul(uint64_t a, uint64_t b)
{
	uint64_t r;

	return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}

void st_hist_init(struct st_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

void st_hist_add(struct st_hist *h, uint64_t v)
{
	st_hist_add_n(h, v, 1);
}

void st_hist_add_n(struct st_hist *h, uint64_t v, uint64_t n)
{
	uint32_t idx;

	/* Recording zero occurrences must not move min/max. */
	if (n == 0)
		return;
	idx = st_hist_index(v);
	h->buckets[idx] = sat_add(h->buckets[idx], n);
	h->count = sat_add(h->count, n);
	h->sum = sat_add(h->sum, sat_mul(v, n));
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

/* Folds the scalar fields; an empty side is neutral (min MAX, max 0). */
static void merge_scalars(struct st_hist *dst, uint64_t count, uint64_t sum,
			  uint64_t min, uint64_t max)
{
	dst->count = sat_add(dst->count, count);
	dst->sum = sat_add(dst->sum, sum);
	if (min < dst->min)
		dst->min = min;
	if (max > dst->max)
		dst->max = max;
}

void st_hist_merge(struct st_hist *dst, const struct st_hist *src)
{
	uint32_t i;

	merge_scalars(dst, src->count, src->sum, src->min, src->max);
	for (i = 0; i < ST_HIST_NBUCKETS; i++)
		dst->buckets[i] = sat_add(dst->buckets[i], src->buckets[i]);
}

/*
 * Inverse of st_hist_index(): bucket idx >= 64 covers values whose top bit
 * is at (idx / 64 - 1) + 6 and whose next six bits equal idx % 64, so the
 * bounds are a 7-bit mantissa (64 + idx % 64) shifted into place.
 */
uint64_t st_hist_bucket_low(uint32_t idx)
{
	uint32_t shift;

	if (idx >= ST_HIST_NBUCKETS)
		return UINT64_MAX;
	if (idx < ST_HIST_SUB)
		return idx;
	shift = idx / ST_HIST_SUB - 1;
	return (uint64_t)(ST_HIST_SUB + idx % ST_HIST_SUB) << shift;
}

uint64_t st_hist_bucket_high(uint32_t idx)
{
	uint32_t shift;

	if (idx >= ST_HIST_NBUCKETS)
		return UINT64_MAX;
	if (idx < ST_HIST_SUB)
		return (uint64_t)idx + 1;
	shift = idx / ST_HIST_SUB - 1;
	return (uint64_t)(ST_HIST_SUB + idx % ST_HIST_SUB + 1) << shift;
}

/*
 * Nearest rank: the smallest rank r with r >= q * count, at least 1. The
 * comparisons are ordered so that NaN falls to rank 1 and the double to
 * integer conversion never sees a value it cannot represent.
 */
static uint64_t quantile_rank(uint64_t count, double q)
{
	double r;
	uint64_t rank;

	if (!(q > 0.0))
		return 1;
	if (q >= 1.0)
		return count;
	r = q * (double)count;
	if (r >= (double)count)
		return count;
	rank = (uint64_t)r;
	if ((double)rank < r)
		rank++;
	return rank ? rank : 1;
}

uint64_t st_hist_quantile(const struct st_hist *h, double q)
{
	uint64_t rank, seen = 0, lo, mid;
	uint32_t i;

	if (h->count == 0)
		return 0;
	rank = quantile_rank(h->count, q);
	/* The extreme ranks are known exactly; no need to estimate them. */
	if (rank == 1)
		return h->min;
	if (rank == h->count)
		return h->max;
	for (i = 0; i < ST_HIST_NBUCKETS; i++) {
		seen = sat_add(seen, h->buckets[i]);
		if (seen < rank)
			continue;
		/*
		 * The true value lies in [min, max], so clipping the
		 * midpoint can only move it closer; it also tames the clamped
		 * last bucket, whose nominal midpoint may be far from its
		 * contents.
		 */
		lo = st_hist_bucket_low(i);
		mid = lo + (st_hist_bucket_high(i) - lo) / 2;
		if (mid < h->min)
			return h->min;
		return mid > h->max ? h->max : mid;
	}
	/* Only reachable if the buckets undercount count (saturation). */
	return h->max;
}

double st_hist_mean(const struct st_hist *h)
{
	if (h->count == 0)
		return 0.0;
	return (double)h->sum / (double)h->count;
}

/* ---- encoding -------------------------------------------------------- */

size_t st_hist_encoded_size_max(void)
{
	return 1 + 4 * VARINT_MAX +
	       (size_t)ST_HIST_NBUCKETS * (GAP_VARINT_MAX + VARINT_MAX);
}

/*
 * The writer records overflow instead of failing each call, so the encoder
 * reads as a straight sequence of puts with one check at the end.
 */
struct writer {
	uint8_t *p, *end;
	int overflow;
};

static void put_byte(struct writer *w, uint8_t b)
{
	if (w->p == w->end) {
		w->overflow = 1;
		return;
	}
	*w->p++ = b;
}

static void put_varint(struct writer *w, uint64_t v)
{
	while (v >= 0x80) {
		put_byte(w, (uint8_t)(v | 0x80));
		v >>= 7;
	}
	put_byte(w, (uint8_t)v);
}

size_t st_hist_encode(const struct st_hist *h, uint8_t *buf, size_t cap)
{
	struct writer w;
	uint32_t i, next = 0;

	/*
	 * Nothing fits in zero bytes; returning early also keeps a NULL buf
	 * out of pointer arithmetic.
	 */
	if (cap == 0)
		return 0;
	w = (struct writer){ buf, buf + cap, 0 };
	put_byte(&w, ST_HIST_WIRE_VERSION);
	put_varint(&w, h->count);
	put_varint(&w, h->sum);
	put_varint(&w, h->min);
	put_varint(&w, h->max);
	for (i = 0; i < ST_HIST_NBUCKETS && !w.overflow; i++) {
		if (h->buckets[i] == 0)
			continue;
		put_varint(&w, i - next);
		put_varint(&w, h->buckets[i]);
		next = i + 1;
	}
	return w.overflow ? 0 : (size_t)(w.p - buf);
}

/* ---- decoding -------------------------------------------------------- */

struct reader {
	const uint8_t *p, *end;
};

struct hist_header {
	uint64_t count, sum, min, max;
};

/*
 * Reads one canonical LEB128 varint. Rejects running off the end, values
 * above 64 bits and overlong forms (a trailing zero byte), so that every
 * accepted buffer is one the encoder could have written.
 */
static int get_varint(struct reader *r, uint64_t *out)
{
	uint64_t v = 0;
	unsigned int shift;
	uint8_t b;

	for (shift = 0; shift < 7 * VARINT_MAX; shift += 7) {
		if (r->p == r->end)
			return -EINVAL;
		b = *r->p++;
		/* The tenth byte may only supply bit 63. */
		if (shift == 63 && b > 1)
			return -EINVAL;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (b & 0x80)
			continue;
		if (b == 0 && shift != 0)
			return -EINVAL;
		*out = v;
		return 0;
	}
	return -EINVAL;
}

/*
 * Checks the invariants every histogram built through this API keeps, so
 * consumers of decoded data (quantile clipping, means) can rely on them.
 * The sum bounds use saturating products, matching how sum saturates.
 */
static int check_header(const struct hist_header *hd)
{
	if (hd->count == 0)
		return (hd->sum == 0 && hd->min == UINT64_MAX && hd->max == 0) ?
			0 : -EINVAL;
	if (hd->min > hd->max)
		return -EINVAL;
	/* One value is max and the others at least min (and vice versa). */
	if (hd->sum < sat_add(hd->max, sat_mul(hd->count - 1, hd->min)) ||
	    hd->sum > sat_add(hd->min, sat_mul(hd->count - 1, hd->max)))
		return -EINVAL;
	return 0;
}

static int get_header(struct reader *r, struct hist_header *hd)
{
	if (r->p == r->end || *r->p != ST_HIST_WIRE_VERSION)
		return -EINVAL;
	r->p++;
	if (get_varint(r, &hd->count) || get_varint(r, &hd->sum) ||
	    get_varint(r, &hd->min) || get_varint(r, &hd->max))
		return -EINVAL;
	return check_header(hd);
}

/*
 * Walks the (gap, n) pairs. With buckets == NULL it only validates; callers
 * run it that way first so a malformed buffer never half-applies. The
 * first and last non-empty buckets must be the ones holding min and max.
 */
static int walk_pairs(struct reader *r, const struct hist_header *hd,
		      uint64_t *buckets)
{
	uint64_t seen = 0, gap, n;
	uint32_t next = 0, idx = 0;

	while (seen < hd->count) {
		if (get_varint(r, &gap) || get_varint(r, &n))
			return -EINVAL;
		if (gap >= ST_HIST_NBUCKETS - next)
			return -EINVAL;
		idx = next + (uint32_t)gap;
		if (n == 0 || n > hd->count - seen)
			return -EINVAL;
		if (seen == 0 && idx != st_hist_index(hd->min))
			return -EINVAL;
		if (buckets)
			buckets[idx] = sat_add(buckets[idx], n);
		seen += n;
		next = idx + 1;
	}
	if (hd->count != 0 && idx != st_hist_index(hd->max))
		return -EINVAL;
	return r->p == r->end ? 0 : -EINVAL;
}

/* Full validation pass; on success *hd holds the header. */
static int validate(const uint8_t *buf, size_t len, struct hist_header *hd)
{
	struct reader r;

	/*
	 * An empty buffer lacks even the version byte; rejecting it here
	 * also keeps a NULL buf out of pointer arithmetic.
	 */
	if (len == 0)
		return -EINVAL;
	r = (struct reader){ buf, buf + len };
	if (get_header(&r, hd))
		return -EINVAL;
	return walk_pairs(&r, hd, NULL);
}

/*
 * Second pass over an already validated buffer, adding its bucket counts.
 * It cannot fail, because it sees exactly the bytes that just validated.
 */
static void apply_pairs(const uint8_t *buf, size_t len, uint64_t *buckets)
{
	struct reader r = { buf, buf + len };
	struct hist_header hd;

	(void)get_header(&r, &hd);
	(void)walk_pairs(&r, &hd, buckets);
}

int st_hist_decode(struct st_hist *h, const uint8_t *buf, size_t len)
{
	struct hist_header hd;

	if (validate(buf, len, &hd))
		return -EINVAL;
	st_hist_init(h);
	merge_scalars(h, hd.count, hd.sum, hd.min, hd.max);
	apply_pairs(buf, len, h->buckets);
	return 0;
}

int st_hist_merge_encoded(struct st_hist *h, const uint8_t *buf, size_t len)
{
	struct hist_header hd;

	if (validate(buf, len, &hd))
		return -EINVAL;
	merge_scalars(h, hd.count, hd.sum, hd.min, hd.max);
	apply_pairs(buf, len, h->buckets);
	return 0;
}
