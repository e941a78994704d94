// SPDX-License-Identifier: MIT
/*
 * The /proc readers of `stagetrace cpu top` (cli/cpu_procfs.c) on this
 * very process and machine: CPU lines, a comm with parentheses and spaces
 * (the field /proc/PID/stat does not escape), CPU time that grows while we
 * spin, and the run-queue wait of our threads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/cpu_procfs.h"

static void test_stat(void **state)
{
	struct sys_snap s;
	int hs = -1;

	(void)state;
	assert_int_equal(cpu_read_stat(&s, &hs), 0);
	/* The "cpu" total line plus one per online CPU. */
	assert_int_equal(s.ncpus, (size_t)sysconf(_SC_NPROCESSORS_ONLN) + 1);
	assert_int_equal(s.cpus[0].cpu, -1);
	assert_non_null(cpu_snap_cpu(&s, 0));
	assert_null(cpu_snap_cpu(&s, 100000));
	assert_true(s.ctxt > 0 && s.forks > 0);
	assert_true(hs == 0 || hs == 1);
	cpu_snap_free(&s);
}

static void test_comm_with_parens(void **state)
{
	struct proc p;

	(void)state;
	prctl(PR_SET_NAME, "a) b (c", 0, 0, 0);
	assert_int_equal(cpu_read_proc((uint32_t)getpid(), &p), 0);
	assert_string_equal(p.comm, "a) b (c");
	assert_int_equal(p.state, 'R');
	assert_int_equal(p.threads, 1);
	assert_int_equal(p.pid, (uint32_t)getpid());
	prctl(PR_SET_NAME, "cpu_procfs_test", 0, 0, 0);
}

static void test_ticks_grow(void **state)
{
	struct proc a, b;
	struct timespec t0, t;
	volatile uint64_t x = 0;

	(void)state;
	assert_int_equal(cpu_read_proc((uint32_t)getpid(), &a), 0);
	/* Spin 100 ms of CPU time: utime + stime must move by ticks. */
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
	do {
		x++;
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	} while ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) < 100000000L);
	assert_int_equal(cpu_read_proc((uint32_t)getpid(), &b), 0);
	assert_true(b.ticks > a.ticks);
	assert_true(b.start == a.start);
	/* Exact run time (CONFIG_SCHED_INFO on this kernel): at least the
	 * 100 ms just spun, and wait is known. */
	{
		uint64_t run = 0, wait = UINT64_MAX;

		assert_int_equal(cpu_proc_sched((uint32_t)getpid(), &run, &wait), 0);
		assert_true(run >= 100000000ull);
		assert_true(wait != UINT64_MAX);
		assert_true(cpu_proc_sched(4194303u, &run, &wait) < 0);
	}
}

static void test_scan(void **state)
{
	struct proc *v = NULL, key = { .pid = (uint32_t)getpid() };
	size_t n = cpu_scan_procs(0, &v);

	(void)state;
	assert_true(n > 1);
	for (size_t i = 1; i < n; i++)
		assert_true(v[i - 1].pid < v[i].pid);
	assert_non_null(bsearch(&key, v, n, sizeof(*v), cpu_proc_cmp_pid));
	free(v);
	assert_int_equal(cpu_scan_procs((uint32_t)getpid(), &v), 1);
	assert_int_equal(v[0].pid, (uint32_t)getpid());
	free(v);
	assert_int_equal(cpu_scan_procs(4194303u, &v), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stat),
		cmocka_unit_test(test_comm_with_parens),
		cmocka_unit_test(test_ticks_grow),
		cmocka_unit_test(test_scan),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
