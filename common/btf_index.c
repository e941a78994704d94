// SPDX-License-Identifier: MIT
/* Name index over a BTF's functions and typedefs; see btf_index.h. */
#include "btf_index.h"

#include <errno.h>
#include <linux/btf.h>
#include <stdlib.h>
#include <string.h>

struct ix_entry {
	const char *name;
	__u32 id;
	int kind;
};

struct st_btf_index {
	size_t n;
	struct ix_entry e[];
};

static int by_name_kind(const void *a, const void *b)
{
	const struct ix_entry *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : x->kind - y->kind;
}

/* Same name and kind ordered by id: the lowest id is found first, as
 * btf__find_by_name_kind finds it (a name can repeat, e.g. static
 * functions of two files). */
static int by_name_kind_id(const void *a, const void *b)
{
	const struct ix_entry *x = a, *y = b;
	int c = by_name_kind(a, b);

	return c ? c : (x->id > y->id) - (x->id < y->id);
}

struct st_btf_index *st_btf_index_new(const struct btf *btf, __u32 first_id)
{
	__u32 end = btf__type_cnt(btf);
	struct st_btf_index *ix;
	size_t n = 0;

	ix = malloc(sizeof(*ix) + (end > first_id ? end - first_id : 0) * sizeof(ix->e[0]));
	if (!ix)
		return NULL;
	for (__u32 id = first_id; id < end; id++) {
		const struct btf_type *t = btf__type_by_id(btf, id);
		int kind = t ? (int)BTF_INFO_KIND(t->info) : -1;
		const char *name;

		if (kind != BTF_KIND_FUNC && kind != BTF_KIND_TYPEDEF)
			continue;
		name = btf__name_by_offset(btf, t->name_off);
		if (!name || !*name)
			continue;
		ix->e[n++] = (struct ix_entry){ .name = name, .id = id, .kind = kind };
	}
	ix->n = n;
	qsort(ix->e, n, sizeof(ix->e[0]), by_name_kind_id);
	return ix;
}

int st_btf_index_find(const struct st_btf_index *ix, const char *name, int kind)
{
	struct ix_entry key = { .name = name, .kind = kind };
	const struct ix_entry *e;

	if (!ix)
		return -ENOENT;
	e = bsearch(&key, ix->e, ix->n, sizeof(ix->e[0]), by_name_kind);
	if (!e)
		return -ENOENT;
	while (e > ix->e && !by_name_kind(e - 1, &key))
		e--;
	return (int)e->id;
}

void st_btf_index_free(struct st_btf_index *ix)
{
	free(ix);
}
