/* SPDX-License-Identifier: MIT */
/*
 * Mergeable log-linear latency histogram (user space).
 *
 * A struct st_hist holds one counter per bucket of the layout defined in
 * hist_index.h, plus the exact count, sum, min and max of the recorded
 * values. Because the bucket layout is fixed, merging two histograms is
 * plain addition of counters and is exact: merging per-CPU, per-agent or
 * per-interval histograms gives the same result as recording everything
 * into one. Quantiles are answered from the buckets with nearest-rank
 * semantics and reported as the bucket midpoint clipped to [min, max],
 * which keeps the relative error at or below 1/128 for values < 2^40.
 *
 * Arithmetic on count, sum and the buckets saturates at UINT64_MAX instead
 * of wrapping, so a pathological input degrades the answer rather than
 * corrupting it (sum is the one field that can realistically saturate, for
 * example when clamped huge values are recorded).
 *
 * The wire/storage encoding is sparse and versioned:
 *
 *   version (1 byte) | count | sum | min | max | (gap, n)*
 *
 * where every field after the version is an unsigned LEB128 varint, and
 * each (gap, n) pair describes one non-empty bucket in increasing index
 * order: its index is previous index + 1 + gap (the first pair's gap is
 * its absolute index). Pairs end exactly when the bucket counts add up to
 * count. The encoding is canonical (shortest varints, no empty buckets), so
 * equal histograms encode to identical bytes. The decoder treats its input
 * as hostile: it never reads past len, and rejects anything the encoder
 * could not have produced, leaving the destination untouched on error.
 */
#ifndef STAGETRACE_HIST_H
#define STAGETRACE_HIST_H

#include <stddef.h>
#include <stdint.h>

#include "hist_index.h"

/* The only encoding version this code reads and writes. */
#define ST_HIST_WIRE_VERSION 1

struct st_hist {
	uint64_t count, sum, min, max;      /* min = UINT64_MAX when empty */
	uint64_t buckets[ST_HIST_NBUCKETS];
};

void     st_hist_init(struct st_hist *h);
void     st_hist_add(struct st_hist *h, uint64_t v);
void     st_hist_add_n(struct st_hist *h, uint64_t v, uint64_t n);
/* Exact: merging is adding buckets; min/max/count/sum combine likewise. */
void     st_hist_merge(struct st_hist *dst, const struct st_hist *src);

/*
 * Value range of bucket idx: [low, high). The last bucket's nominal high is
 * 2^ST_HIST_MAX_EXP, although clamped larger values are counted in it too.
 * An idx >= ST_HIST_NBUCKETS yields UINT64_MAX for both bounds.
 */
uint64_t st_hist_bucket_low(uint32_t idx);   /* inclusive */
uint64_t st_hist_bucket_high(uint32_t idx);  /* exclusive */

/*
 * q in [0,1] (out-of-range values are clamped, NaN counts as 0); nearest
 * rank, i.e. the value of rank max(1, ceil(q * count)). Returns the bucket
 * midpoint clipped to [min, max]; ranks 1 and count return the exact min
 * and max. 0 when empty.
 */
uint64_t st_hist_quantile(const struct st_hist *h, double q);
/* Arithmetic mean from the exact sum; 0.0 when empty. */
double   st_hist_mean(const struct st_hist *h);

/* Upper bound of st_hist_encode()'s output, for sizing buffers. */
size_t   st_hist_encoded_size_max(void);
/* Returns bytes written, or 0 if cap is too small (buf contents undefined). */
size_t   st_hist_encode(const struct st_hist *h, uint8_t *buf, size_t cap);
/* Replaces *h. Returns 0, or -EINVAL (h untouched) if buf is malformed. */
int      st_hist_decode(struct st_hist *h, const uint8_t *buf, size_t len);
/*
 * Adds an encoded histogram into h without a temporary struct st_hist.
 * Returns 0, or -EINVAL (h untouched) if buf is malformed.
 */
int      st_hist_merge_encoded(struct st_hist *h, const uint8_t *buf, size_t len);

#endif /* STAGETRACE_HIST_H */
