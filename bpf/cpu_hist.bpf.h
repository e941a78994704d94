/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * BPF side of the sparse histograms of bpf/cpu_hist.h: one call records a
 * value into histogram id of a generation's map. A new (id, bucket) entry is
 * inserted with BPF_NOEXIST and, if another CPU won the race, the lookup
 * after the failed insert finds its entry, so no sample is lost to the race;
 * only a full map loses samples, and the caller counts that.
 *
 * min and max are compare-and-swap loops bounded to a few rounds: under a
 * storm of concurrent updates a round may lose and the bound gives up,
 * which can leave min or max one sample short of exact. The buckets, count
 * and sum are always exact.
 */
#ifndef ST_BPF_CPU_HIST_BPF_H
#define ST_BPF_CPU_HIST_BPF_H

#include "cpu_hist.h"
#include "hist_index.h"

#define ST_CPU_HIST_MAP(name)						\
	struct {							\
		__uint(type, BPF_MAP_TYPE_HASH);			\
		__uint(max_entries, ST_CPU_HIST_MAX_ENTRIES);		\
		__type(key, struct st_cpu_hkey);			\
		__type(value, __u64);					\
	} name SEC(".maps")

/* Add n to the entry (id, bucket); 0, or -1 when the map is full. */
static __always_inline int st_cpu_hentry_add(void *map, __u32 id, __u32 bucket,
					     __u64 n, __u64 **slot)
{
	struct st_cpu_hkey k = { .id = id, .bucket = bucket };
	__u64 *v = bpf_map_lookup_elem(map, &k);

	if (!v) {
		if (bpf_map_update_elem(map, &k, &n, BPF_NOEXIST) == 0) {
			*slot = NULL;
			return 0;
		}
		v = bpf_map_lookup_elem(map, &k);
		if (!v)
			return -1;
	}
	if (bucket == ST_CPU_HB_MIN || bucket == ST_CPU_HB_MAX) {
		*slot = v;	/* the caller compares and swaps */
		return 0;
	}
	__sync_fetch_and_add(v, n);
	*slot = NULL;
	return 0;
}

/* Record value into histogram id; 0, or -1 when the map was full. */
static __always_inline int st_cpu_hist_add(void *map, __u32 id, __u64 value)
{
	__u64 *slot = NULL;
	int i;

	if (st_cpu_hentry_add(map, id, st_hist_index(value), 1, &slot))
		return -1;
	if (st_cpu_hentry_add(map, id, ST_CPU_HB_SUM, value, &slot))
		return -1;
	if (st_cpu_hentry_add(map, id, ST_CPU_HB_MIN, value, &slot))
		return -1;
	for (i = 0; slot && i < 4; i++) {
		__u64 old = *slot;

		if (value >= old || __sync_val_compare_and_swap(slot, old, value) == old)
			break;
	}
	if (st_cpu_hentry_add(map, id, ST_CPU_HB_MAX, value, &slot))
		return -1;
	for (i = 0; slot && i < 4; i++) {
		__u64 old = *slot;

		if (value <= old || __sync_val_compare_and_swap(slot, old, value) == old)
			break;
	}
	return 0;
}

#endif /* ST_BPF_CPU_HIST_BPF_H */
