// SPDX-License-Identifier: MIT
/*
 * Unit tests for the BTF name index (common/btf_index.c), against libbpf's
 * own btf__find_by_name_kind as the reference:
 *   - a BTF built in memory with repeated names (two functions of one name,
 *     a function and a typedef of one name), a split BTF on top of it whose
 *     own types are indexed from the base's type count, names that are not
 *     there;
 *   - the running kernel's vmlinux BTF (/sys/kernel/btf/vmlinux): every
 *     FUNC and TYPEDEF name is found at the id libbpf finds, for a sample
 *     spread over the whole id range (libbpf's walk is linear, so all of
 *     them would take minutes), and every id the index returns names a type
 *     of that name and kind.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/btf.h>
#include <string.h>

#include "btf_index.h"
#include "unit_stubs.h"

static int add_func(struct btf *b, const char *name, int proto)
{
	return btf__add_func(b, name, BTF_FUNC_GLOBAL, proto);
}

static void test_in_memory(void **state)
{
	struct btf *b = btf__new_empty(), *s;
	struct st_btf_index *ix, *six;
	int i32, proto, f1, f2, td, g, own;

	(void)state;
	assert_false(libbpf_get_error(b));
	i32 = btf__add_int(b, "int", 4, BTF_INT_SIGNED);
	proto = btf__add_func_proto(b, i32);
	f1 = add_func(b, "receive_buf", proto);
	td = btf__add_typedef(b, "receive_buf", i32);
	f2 = add_func(b, "receive_buf", proto);	/* a second static one */
	g = add_func(b, "zz_last", proto);
	assert_true(f1 > 0 && td > 0 && f2 > 0 && g > 0);

	ix = st_btf_index_new(b, 1);
	assert_non_null(ix);
	/* The first of two same-named functions, as libbpf finds it. */
	assert_int_equal(st_btf_index_find(ix, "receive_buf", BTF_KIND_FUNC), f1);
	assert_int_equal(btf__find_by_name_kind(b, "receive_buf", BTF_KIND_FUNC), f1);
	assert_int_equal(st_btf_index_find(ix, "receive_buf", BTF_KIND_TYPEDEF), td);
	assert_int_equal(st_btf_index_find(ix, "zz_last", BTF_KIND_FUNC), g);
	/* Not indexed: other kinds, absent names, a prefix of a name. */
	assert_int_equal(st_btf_index_find(ix, "int", BTF_KIND_INT), -ENOENT);
	assert_int_equal(st_btf_index_find(ix, "zz_last", BTF_KIND_TYPEDEF), -ENOENT);
	assert_int_equal(st_btf_index_find(ix, "receive", BTF_KIND_FUNC), -ENOENT);
	assert_int_equal(st_btf_index_find(ix, "", BTF_KIND_FUNC), -ENOENT);
	assert_int_equal(st_btf_index_find(NULL, "zz_last", BTF_KIND_FUNC), -ENOENT);

	/* A module: split BTF over b; only its own types are indexed. */
	s = btf__new_empty_split(b);
	assert_false(libbpf_get_error(s));
	own = add_func(s, "ovs_vport_receive", proto);
	assert_int_equal(own, (int)btf__type_cnt(b));
	six = st_btf_index_new(s, btf__type_cnt(b));
	assert_non_null(six);
	assert_int_equal(st_btf_index_find(six, "ovs_vport_receive", BTF_KIND_FUNC), own);
	assert_int_equal(btf__find_by_name_kind(s, "ovs_vport_receive", BTF_KIND_FUNC), own);
	assert_int_equal(st_btf_index_find(six, "zz_last", BTF_KIND_FUNC), -ENOENT);

	st_btf_index_free(six);
	st_btf_index_free(ix);
	btf__free(s);
	btf__free(b);
}

static void test_vmlinux(void **state)
{
	struct btf *vm = btf__load_vmlinux_btf();
	struct st_btf_index *ix;
	__u32 n, checked = 0, step;

	(void)state;
	if (libbpf_get_error(vm)) {
		/* The project's kernels all have BTF (DESIGN.md); a build
		 * host without it cannot run the agent either. */
		fail_msg("no vmlinux BTF on this kernel");
		return;
	}
	ix = st_btf_index_new(vm, 1);
	assert_non_null(ix);
	n = btf__type_cnt(vm);
	step = n / 400 + 1;
	for (__u32 id = 1; id < n; id++) {
		const struct btf_type *t = btf__type_by_id(vm, id);
		int kind = BTF_INFO_KIND(t->info), got;
		const char *name = btf__name_by_offset(vm, t->name_off);

		if ((kind != BTF_KIND_FUNC && kind != BTF_KIND_TYPEDEF) || !name || !*name)
			continue;
		got = st_btf_index_find(ix, name, kind);
		/* Every name is found, at a type of that name and kind. */
		assert_true(got > 0 && (__u32)got <= id);
		assert_int_equal(BTF_INFO_KIND(btf__type_by_id(vm, got)->info), kind);
		assert_string_equal(btf__name_by_offset(vm, btf__type_by_id(vm, got)->name_off), name);
		if (id % step == 0) {
			/* ... and at the very id libbpf's walk finds. */
			assert_int_equal(got, btf__find_by_name_kind(vm, name, kind));
			checked++;
		}
	}
	assert_true(checked >= 100);
	assert_int_equal(st_btf_index_find(ix, "st_no_such_function_xyz", BTF_KIND_FUNC), -ENOENT);
	st_btf_index_free(ix);
	btf__free(vm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_in_memory),
		cmocka_unit_test(test_vmlinux),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
