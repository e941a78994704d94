/* SPDX-License-Identifier: MIT */
/*
 * In-kernel latency histograms of the cpu commands (runqlat, futex,
 * rwlock), shared by their BPF programs and cli/cpu_common.c.
 *
 * A histogram is sparse: one hash map entry per non-empty (histogram id,
 * bucket) pair, the bucket being the log-linear index of
 * common/hist_index.h, so sub-bucket precision costs no map space for
 * buckets that are never hit. Three reserved bucket numbers carry the exact
 * sum, min and max next to the buckets, which is what struct st_hist keeps.
 * The id is whatever the command groups by: 0 for one histogram, a CPU
 * number, a process id, or an operation.
 *
 * Like the drop counts, histograms are double buffered: programs add to
 * hist0 or hist1 by the generation user space flips every interval.
 */
#ifndef ST_BPF_CPU_HIST_H
#define ST_BPF_CPU_HIST_H

#include "st_types.h"

/* (id, bucket) pairs per generation: ~600 processes with --per-pid. */
#define ST_CPU_HIST_MAX_ENTRIES 32768

#define ST_CPU_HB_SUM 0xffffffffu	/* value: sum of the recorded values */
#define ST_CPU_HB_MIN 0xfffffffeu	/* value: smallest value */
#define ST_CPU_HB_MAX 0xfffffffdu	/* value: largest value */

struct st_cpu_hkey {
	__u32 id;
	__u32 bucket;		/* st_hist_index(), or ST_CPU_HB_* */
};

/* Both compilers (clang for BPF, gcc for user space) must agree on every
 * shared layout: no implicit padding anywhere. */
_Static_assert(sizeof(struct st_cpu_hkey) == 8, "st_cpu_hkey layout");

#endif /* ST_BPF_CPU_HIST_H */
