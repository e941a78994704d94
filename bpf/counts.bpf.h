/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Adding to a (count, bytes) row of a hash map, for the commands that count
 * into generation-flipped maps (defrag, conntrack). A new row is inserted
 * with BPF_NOEXIST; when another CPU inserted it first, the lookup after the
 * failed insert finds it. The map and key are passed as pointers, so one
 * helper serves every key type. st_row_get is the same insert-or-find for
 * rows of any value type (cumulative per-queue tables).
 */
#ifndef ST_COUNTS_BPF_H
#define ST_COUNTS_BPF_H

struct st_count {
	__u64 count;
	__u64 bytes;
};

/* 0, or -1 when the map is full (the caller counts the loss). */
static __always_inline int st_count_add(void *map, const void *key, __u64 bytes)
{
	struct st_count *v, nv = { 1, bytes };

	v = bpf_map_lookup_elem(map, key);
	if (!v) {
		if (bpf_map_update_elem(map, key, &nv, BPF_NOEXIST) == 0)
			return 0;
		v = bpf_map_lookup_elem(map, key);
		if (!v)
			return -1;
	}
	__sync_fetch_and_add(&v->count, 1);
	__sync_fetch_and_add(&v->bytes, bytes);
	return 0;
}

/* The row of key, inserted as zero (a zeroed value of the map's size,
 * which the caller provides) when missing; NULL when the map is full. */
static __always_inline void *st_row_get(void *map, const void *key, const void *zero)
{
	void *v = bpf_map_lookup_elem(map, key);

	if (v)
		return v;
	bpf_map_update_elem(map, key, zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(map, key);
}

#endif /* ST_COUNTS_BPF_H */
