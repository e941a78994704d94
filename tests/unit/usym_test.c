// SPDX-License-Identifier: MIT
/*
 * The user-space symbolizer (common/usym.c) on real processes: this test
 * binary's own functions, the C library it has mapped, a child that exits
 * between two lookups, and addresses no file backs.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "usym.h"

__attribute__((noinline)) int usym_test_marker(int x)
{
	__asm__ volatile("" ::: "memory");
	return x * 3 + 1;
}

static void test_own_function(void **state)
{
	struct st_usyms *u = st_usyms_new();
	char buf[512];
	uintptr_t a = (uintptr_t)&usym_test_marker;

	(void)state;
	assert_non_null(u);
	assert_string_equal(st_usyms_fmt(u, (uint32_t)getpid(), a, buf, sizeof(buf)),
			    "usym_test_marker+0x0 [usym_test]");
	st_usyms_fmt(u, (uint32_t)getpid(), a + 3, buf, sizeof(buf));
	assert_string_equal(buf, "usym_test_marker+0x3 [usym_test]");
	st_usyms_free(u);
}

static void test_libc_and_offsets(void **state)
{
	struct st_usyms *u = st_usyms_new();
	char lib[4200], buf[512];
	uint64_t off = 0, off2 = 0;

	(void)state;
	assert_int_equal(st_proc_find_lib((uint32_t)getpid(), "libc.so", lib, sizeof(lib)), 0);
	assert_non_null(strstr(lib, "libc.so"));
	/* A versioned symbol matches its bare name. */
	assert_int_equal(st_elf_func_offset(lib, "pthread_rwlock_wrlock", &off), 0);
	assert_true(off > 0);
	st_usyms_fmt(u, (uint32_t)getpid(), (uintptr_t)&pthread_rwlock_wrlock, buf, sizeof(buf));
	assert_string_equal(buf, "pthread_rwlock_wrlock+0x0 [libc.so.6]");
	/* The file offset of our own function, as a uprobe would use it. */
	assert_int_equal(st_elf_func_offset("/proc/self/exe", "usym_test_marker", &off2), 0);
	assert_true(off2 > 0);
	assert_int_equal(st_elf_func_offset(lib, "no_such_function_xyz", &off), -ENOENT);
	assert_true(st_elf_func_offset("/nonexistent/lib.so", "f", &off) < 0);
	st_usyms_free(u);
}

/* With the C library's debug file installed (libc6-dbg), its static
 * functions resolve too; without it, the test says so and checks the
 * fallback instead. */
static void test_debug_file(void **state)
{
	char lib[4200], dbg[4200];
	uint64_t off = 0;

	(void)state;
	assert_int_equal(st_proc_find_lib((uint32_t)getpid(), "libc.so", lib, sizeof(lib)), 0);
	if (st_elf_debug_file(lib, dbg, sizeof(dbg))) {
		print_message("no debug file for %s (libc6-dbg not installed): "
			      "static functions stay file+offset\n", lib);
		assert_int_equal(st_elf_func_offset(lib, "__libc_start_call_main", &off), -ENOENT);
		return;
	}
	assert_non_null(strstr(dbg, "/usr/lib/debug/.build-id/"));
	/* Static in glibc: only the debug file's .symtab has it. */
	assert_int_equal(st_elf_func_offset(lib, "__libc_start_call_main", &off), 0);
	assert_true(off > 0);
	/* The exported ones are found as before. */
	assert_int_equal(st_elf_func_offset(lib, "pthread_rwlock_wrlock", &off), 0);
}

static void test_no_file(void **state)
{
	struct st_usyms *u = st_usyms_new();
	char buf[512];
	int on_stack = 0;

	(void)state;
	/* The stack is not executable: no mapping found, a bare address. */
	snprintf(buf, sizeof(buf), "x");
	st_usyms_fmt(u, (uint32_t)getpid(), (uintptr_t)&on_stack, buf, sizeof(buf));
	assert_true(!strncmp(buf, "0x", 2));
	/* No such process. */
	st_usyms_fmt(u, 4194303u, 0x401000, buf, sizeof(buf));
	assert_string_equal(buf, "0x401000");
	st_usyms_free(u);
}

static void test_exited_process_keeps_maps(void **state)
{
	struct st_usyms *u = st_usyms_new();
	uintptr_t a = (uintptr_t)&usym_test_marker;
	char buf[512];
	int st;
	pid_t c;

	(void)state;
	c = fork();
	assert_true(c >= 0);
	if (c == 0) {
		pause();
		_exit(0);
	}
	/* The child has the same layout as we do (fork). */
	st_usyms_fmt(u, (uint32_t)c, a, buf, sizeof(buf));
	assert_string_equal(buf, "usym_test_marker+0x0 [usym_test]");
	kill(c, SIGKILL);
	waitpid(c, &st, 0);
	st_usyms_flush_pids(u);
	st_usyms_fmt(u, (uint32_t)c, a, buf, sizeof(buf));
	assert_string_equal(buf, "usym_test_marker+0x0 [usym_test]");
	st_usyms_free(u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_own_function),
		cmocka_unit_test(test_libc_and_offsets),
		cmocka_unit_test(test_debug_file),
		cmocka_unit_test(test_no_file),
		cmocka_unit_test(test_exited_process_keeps_maps),
	};

	assert_true(usym_test_marker(1) == 4);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
