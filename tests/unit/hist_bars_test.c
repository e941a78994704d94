// SPDX-License-Identifier: MIT
/*
 * Histogram bars (common/hist_bars.c): rows are sums of whole buckets,
 * rows_per_octave cuts each power of two, long empty runs fold into "...",
 * display units give integer boundaries, and the counts shown add up.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hist_bars.h"

static char *render(const struct st_hist *h, double unit, unsigned per)
{
	struct st_hist_bars_opts o = { .unit = unit, .unit_name = "v", .rows_per_octave = per,
				       .width = 10, .indent = "" };
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	st_hist_bars(f, h, &o);
	fclose(f);
	return buf;
}

/* Sum of the counts of every "[a, b) : N" row. */
static unsigned long long row_sum(const char *s)
{
	unsigned long long sum = 0, n;
	const char *p = s;

	while ((p = strchr(p, '['))) {
		const char *c = strchr(p, ':');

		if (c && sscanf(c + 1, "%llu", &n) == 1)
			sum += n;
		p++;
	}
	return sum;
}

static void test_log2_rows(void **state)
{
	struct st_hist h;
	char *s;

	(void)state;
	st_hist_init(&h);
	for (int v = 4; v < 8; v++)
		st_hist_add(&h, (uint64_t)v);
	st_hist_add_n(&h, 9, 2);
	s = render(&h, 1, 1);
	assert_non_null(strstr(s, "[4, 8)                  : 4          |@@@@@@@@@@|\n"));
	assert_non_null(strstr(s, "[8, 16)                 : 2          |@@@@@     |\n"));
	assert_int_equal(row_sum(s), 6);
	free(s);
}

static void test_sub_rows_and_units(void **state)
{
	struct st_hist h;
	char *s;

	(void)state;
	st_hist_init(&h);
	/* 20 and 30 us in ns; four rows per octave: [16, 20) [20, 24) ... */
	st_hist_add_n(&h, 20000, 3);
	st_hist_add_n(&h, 30000, 1);
	s = render(&h, 1000, 4);
	assert_non_null(strstr(s, "[20, 24)"));
	assert_non_null(strstr(s, "[28, 32)"));
	assert_null(strstr(s, "."));	/* integer boundaries, no "..." needed */
	assert_int_equal(row_sum(s), 4);
	free(s);
}

static void test_fold_and_empty(void **state)
{
	struct st_hist h;
	char *s;

	(void)state;
	st_hist_init(&h);
	s = render(&h, 1, 4);
	assert_string_equal(s, "(no samples)\n");
	free(s);
	st_hist_add(&h, 1);
	st_hist_add(&h, 1000000);
	s = render(&h, 1, 4);
	assert_non_null(strstr(s, "...  "));
	assert_int_equal(row_sum(s), 2);
	free(s);
}

static void test_fmt_val(void **state)
{
	char b[32];

	(void)state;
	assert_string_equal(st_hist_fmt_val(16, b, sizeof(b)), "16");
	assert_string_equal(st_hist_fmt_val(0.5, b, sizeof(b)), "0.5");
	assert_string_equal(st_hist_fmt_val(1.536, b, sizeof(b)), "1.536");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_log2_rows),
		cmocka_unit_test(test_sub_rows_and_units),
		cmocka_unit_test(test_fold_and_empty),
		cmocka_unit_test(test_fmt_val),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
