// SPDX-License-Identifier: MIT
/*
 * The helpers of the interval commands: the -i/-c/-d schedule as the
 * commands drive it (cli/localrun.c, st_local_ticker_wait), histograms as
 * text rows and as JSON and enum names of anonymous kernel enums
 * (cli/local_maps.c); and the qdisc handle notation of cli/qdisc_show.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "cli/local.h"
#include "cli/localrun.h"
#include "cli/qdisc.h"
#include "hist.h"

/* st_local_ticker_wait, as the commands drive it: -c ends the loop (the
 * schedule itself is tested in localrun_test.c). */
static void test_ticker_wait_count(void **state)
{
	struct st_local_ticker t;
	double total = 0;
	int n = 0;

	(void)state;
	st_local_ticker_init(&t, 0.02, 0);
	for (;;) {
		double s;
		int stop = st_local_ticker_wait(&t, NULL, 3, &s);

		/* Intervals sit on a fixed grid: one that ends late makes the
		 * next one shorter, so only the sum is bounded below. */
		assert_true(s > 0 && s < 1);
		total += s;
		n++;
		if (stop)
			break;
	}
	assert_int_equal(n, 3);
	assert_true(total >= 0.0599);
}

static void test_hist_json(void **state)
{
	struct st_hist h;
	json_object *o, *b;

	(void)state;
	st_hist_init(&h);
	st_hist_add(&h, 100);
	st_hist_add(&h, 200);
	st_hist_add(&h, 300000);
	o = st_local_hist_json(&h);
	assert_int_equal(json_object_get_int64(json_object_object_get(o, "count")), 3);
	assert_true(json_object_get_double(json_object_object_get(o, "min_us")) == 0.1);
	assert_true(json_object_get_double(json_object_object_get(o, "max_us")) == 300.0);
	b = json_object_object_get(o, "buckets");
	assert_int_equal(json_object_array_length(b), 3);
	/* Each bucket [low, high) holds its value. */
	for (int i = 0; i < 3; i++) {
		json_object *e = json_object_array_get_idx(b, i);
		int64_t lo = json_object_get_int64(json_object_array_get_idx(e, 0));
		int64_t hi = json_object_get_int64(json_object_array_get_idx(e, 1));
		int64_t v = i == 0 ? 100 : i == 1 ? 200 : 300000;

		assert_true(lo <= v && v < hi);
		assert_int_equal(json_object_get_int64(json_object_array_get_idx(e, 2)), 1);
	}
	json_object_put(o);
}

/* Run st_local_hist_print with stdout going to a file; return its text. */
static char *print_hist(const struct st_hist *h)
{
	char path[] = "/tmp/st-hist-print.XXXXXX", *buf;
	int fd = mkstemp(path), saved = dup(1);
	FILE *f;
	long n;

	assert_true(fd >= 0 && saved >= 0);
	fflush(stdout);
	dup2(fd, 1);
	st_local_hist_print(h, "  ");
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	f = fdopen(fd, "r");
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = calloc(1, n + 1);
	assert_int_equal(fread(buf, 1, n, f), (size_t)n);
	fclose(f);
	unlink(path);
	return buf;
}

static void test_hist_print_rows_add_up(void **state)
{
	struct st_hist h;
	char *out, *line, *save = NULL;
	uint64_t sum = 0;
	int folds = 0;

	(void)state;
	st_hist_init(&h);
	st_hist_add_n(&h, 1000, 10);	/* 1 us */
	st_hist_add_n(&h, 100000, 5);	/* 100 us: empty rows between fold */
	out = print_hist(&h);
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned long long c;

		if (strstr(line, "..."))
			folds++;
		if (line[2] == '[' && sscanf(strchr(line, ':') + 1, "%llu", &c) == 1)
			sum += c;
		if (!strncmp(line, "  count", 7))
			assert_non_null(strstr(line, "count 15,"));
	}
	assert_int_equal(sum, 15);
	assert_true(folds >= 1);
	free(out);
}

static void test_enum_by_member(void **state)
{
	struct st_enum_names e;
	int found = 0;

	(void)state;
	if (access("/sys/kernel/btf/vmlinux", R_OK)) {
		skip();
		return;
	}
	assert_int_equal(st_btf_enum_load_member("SKB_GSO_TCPV4", "SKB_GSO_", &e), 0);
	for (size_t i = 0; i < e.n; i++)
		if (!strcmp(e.v[i].name, "TCPV4")) {
			assert_int_equal(e.v[i].val, 1);
			found = 1;
		}
	assert_true(found);
	st_enum_names_free(&e);
	assert_int_not_equal(st_btf_enum_load_member("ST_NO_SUCH_MEMBER", NULL, &e), 0);
}

static void test_qdisc_handles(void **state)
{
	char b[16];

	(void)state;
	assert_string_equal(qd_handle_str(0xffffffffu, b, sizeof(b)), "root");
	assert_string_equal(qd_handle_str(0x00010000u, b, sizeof(b)), "1:");
	assert_string_equal(qd_handle_str(0x00010001u, b, sizeof(b)), "1:1");
	assert_string_equal(qd_handle_str(0xffff0000u, b, sizeof(b)), "ffff:");
	assert_string_equal(qd_handle_str(0x8001000au, b, sizeof(b)), "8001:a");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ticker_wait_count),
		cmocka_unit_test(test_hist_json),
		cmocka_unit_test(test_hist_print_rows_add_up),
		cmocka_unit_test(test_enum_by_member),
		cmocka_unit_test(test_qdisc_handles),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
