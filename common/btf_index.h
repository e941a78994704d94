/* SPDX-License-Identifier: MIT */
/*
 * A name index over a BTF's own function and typedef types, for attach
 * plans that look up many kernel functions and tracepoints (btf_trace_*
 * typedefs). libbpf's btf__find_by_name_kind walks every type, and on a
 * module's split BTF it walks vmlinux's ~100k base types again: an agent's
 * plan asks that for each hook in each module, which cost seconds per
 * start under emulation (the kernel matrix). Built once per BTF in one walk,
 * then each lookup is a binary search.
 */
#ifndef ST_BTF_INDEX_H
#define ST_BTF_INDEX_H

#include <bpf/btf.h>

struct st_btf_index;

/* Index the types first_id..btf__type_cnt(btf)-1 of btf (1 for vmlinux;
 * a split module BTF's own types start at btf__type_cnt of its base). The
 * index borrows btf's strings: free it before btf. NULL on no memory. */
struct st_btf_index *st_btf_index_new(const struct btf *btf, __u32 first_id);

/* The id of the type called name of kind (BTF_KIND_FUNC or
 * BTF_KIND_TYPEDEF), or -ENOENT. */
int st_btf_index_find(const struct st_btf_index *ix, const char *name, int kind);

void st_btf_index_free(struct st_btf_index *ix);

#endif
