// SPDX-License-Identifier: MIT
/*
 * The run-loop pieces of cli/localrun.c that need no kernel: the interval
 * ticker (fixed schedule, -d and -c ends, no burst of intervals after a
 * stall) and the --method check. Timing assertions are orderings and
 * generous bounds, so a loaded machine does not fail them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "cli/local.h"
#include "cli/localrun.h"
#include "opts.h"
#include "quiet.h"
#include "timeutil.h"

static void sleep_until(uint64_t t)
{
	while (st_mono_ns() < t) {
		struct timespec ts = { 0, 1000000 };

		nanosleep(&ts, NULL);
	}
}

static void test_method_check(void **state)
{
	(void)state;
	assert_int_equal(st_local_method_check(NULL), 0);
	assert_int_equal(st_local_method_check("tp_btf"), 0);
	assert_int_equal(st_local_method_check("raw_tp"), 0);
	quiet(1);
	assert_int_equal(st_local_method_check("kprobe"), ST_EXIT_USAGE);
	assert_int_equal(st_local_method_check(""), ST_EXIT_USAGE);
	quiet(0);
}

/* -d 0.12 with -i 0.05: deadlines 50 ms apart, the last one cut at the end. */
static void test_ticker_duration(void **state)
{
	struct st_local_ticker t;
	uint64_t d1, d2, d3, now;
	double secs;

	(void)state;
	st_local_ticker_init(&t, 0.05, 0.12);
	d1 = st_local_ticker_next(&t);
	assert_true(d1 >= t.start + 50000000ull);
	sleep_until(d1);
	now = st_mono_ns();
	/* Only a stall past the end may end it early. */
	assert_int_equal(st_local_ticker_end(&t, now, 0, &secs), now >= t.end);
	assert_true(secs >= 0.05);
	d2 = st_local_ticker_next(&t);
	assert_true(d2 > d1);
	sleep_until(d2);
	now = st_mono_ns();
	if (st_local_ticker_end(&t, now, 0, &secs)) {
		assert_true(now >= t.end);
		return;
	}
	d3 = st_local_ticker_next(&t);
	assert_true(d3 == t.end);
	sleep_until(d3);
	assert_int_equal(st_local_ticker_end(&t, st_mono_ns(), 0, &secs), 1);
	assert_int_equal(t.done, 3);
}

/* -c 2 ends after the second interval. */
static void test_ticker_count(void **state)
{
	struct st_local_ticker t;
	double secs;

	(void)state;
	st_local_ticker_init(&t, 0.01, 0);
	sleep_until(st_local_ticker_next(&t));
	assert_int_equal(st_local_ticker_end(&t, st_mono_ns(), 2, &secs), 0);
	sleep_until(st_local_ticker_next(&t));
	assert_int_equal(st_local_ticker_end(&t, st_mono_ns(), 2, &secs), 1);
	assert_int_equal(t.end, 0);
}

/* After a stall longer than several intervals the next deadline is one
 * interval from now, not a run of deadlines already past. */
static void test_ticker_stall(void **state)
{
	struct st_local_ticker t;
	uint64_t d, now;
	double secs;

	(void)state;
	st_local_ticker_init(&t, 0.01, 0);
	d = st_local_ticker_next(&t);
	sleep_until(d + 50000000ull);
	st_local_ticker_end(&t, st_mono_ns(), 0, &secs);
	assert_true(secs >= 0.06);
	now = st_mono_ns();
	d = st_local_ticker_next(&t);
	assert_true(d >= now + 10000000ull);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_method_check),
		cmocka_unit_test(test_ticker_duration),
		cmocka_unit_test(test_ticker_count),
		cmocka_unit_test(test_ticker_stall),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
