/* SPDX-License-Identifier: MIT */
/*
 * Log-linear bucket index shared by the BPF programs and user space.
 *
 * Latencies are recorded into ST_HIST_NBUCKETS buckets. Values below
 * ST_HIST_SUB (64) get one bucket each, so small values are exact. Every
 * power of two at or above 64 is split into 64 equal sub-buckets, so a
 * bucket is never wider than 1/64 of its lower bound and reporting its
 * midpoint is off by at most 1/128 (0.78%) of the true value. Values of
 * 2^ST_HIST_MAX_EXP ns (about 18 minutes) and above are clamped into the
 * last bucket; user space keeps the exact min/max next to the buckets so
 * such outliers remain visible.
 *
 * The same header is compiled by clang -target bpf and by gcc, so the index
 * function deliberately uses no loops (the verifier would have to unroll or
 * bound them) and no __builtin_clz (the BPF backend cannot lower it); the
 * most significant bit is found with a fixed six-step binary search instead.
 * Because the layout of the buckets is a wire and storage format, changing
 * any constant here changes the meaning of recorded data.
 */
#ifndef STAGETRACE_HIST_INDEX_H
#define STAGETRACE_HIST_INDEX_H

#if defined(__BPF__) || defined(__bpf__)
/* BPF programs include vmlinux.h first, which provides __u32 and __u64. */
#else
#include <stdint.h>
#include <linux/types.h>
#endif

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

#define ST_HIST_SUB_BITS 6                 /* 64 sub-buckets per power of two */
#define ST_HIST_SUB      (1u << ST_HIST_SUB_BITS)
#define ST_HIST_MAX_EXP  40                /* values >= 2^40 (ns, ~18 min) clamp into the last bucket */
#define ST_HIST_NBUCKETS (ST_HIST_SUB + (ST_HIST_MAX_EXP - ST_HIST_SUB_BITS) * ST_HIST_SUB)

/*
 * Index of the most significant set bit of v, for v != 0. Each step halves
 * the window that can still contain the top bit, so six steps cover 64 bits
 * with straight-line code the verifier accepts without loop analysis.
 */
static __always_inline __u32 st_hist_msb(__u64 v)
{
	__u32 r = 0;

	if (v >> 32) {
		v >>= 32;
		r += 32;
	}
	if (v >> 16) {
		v >>= 16;
		r += 16;
	}
	if (v >> 8) {
		v >>= 8;
		r += 8;
	}
	if (v >> 4) {
		v >>= 4;
		r += 4;
	}
	if (v >> 2) {
		v >>= 2;
		r += 2;
	}
	if (v >> 1)
		r += 1;
	return r;
}

/*
 * Bucket index of v. For v >= 64 with top bit e, the bucket is
 * 64 + (e - 6) * 64 + the six bits just below the top bit. The final clamp
 * both folds values >= 2^ST_HIST_MAX_EXP into the last bucket and gives the
 * BPF verifier an explicit upper bound when the result indexes an array.
 */
static __always_inline __u32 st_hist_index(__u64 v)
{
	__u32 e, shift, idx;

	if (v < ST_HIST_SUB)
		return (__u32)v;
	e = st_hist_msb(v);
	shift = e - ST_HIST_SUB_BITS;
	idx = ST_HIST_SUB + shift * ST_HIST_SUB +
	      (__u32)((v >> shift) & (ST_HIST_SUB - 1));
	if (idx > ST_HIST_NBUCKETS - 1)
		idx = ST_HIST_NBUCKETS - 1;
	return idx;
}

#endif /* STAGETRACE_HIST_INDEX_H */
