// SPDX-License-Identifier: MIT
/*
 * The common options of local commands (cli/local.c): an unsupported
 * option is refused, not ignored; defaults; protocol, port and namespace
 * validation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cli/local.h"
#include "quiet.h"

static int validate(struct st_local_opts *o, unsigned supported)
{
	int rc;

	quiet(1);
	rc = st_local_validate(o, supported, "stagetrace test");
	quiet(0);
	return rc;
}

static void test_defaults(void **state)
{
	struct st_local_opts o;

	(void)state;
	st_local_opts_init(&o);
	assert_int_equal(validate(&o, ST_LO_ALL), 0);
	assert_true(o.interval == 1);
	assert_true(o.duration == 0);
	assert_int_equal(o.proto_set, 0);
	assert_int_equal(o.netns_set, 0);
}

static void test_unsupported_refused(void **state)
{
	struct st_local_opts o;

	(void)state;
	st_local_opts_init(&o);
	o.pid = 42;
	assert_int_equal(validate(&o, ST_LO_ALL & ~ST_LO_PID), ST_EXIT_USAGE);
	st_local_opts_init(&o);
	o.vm = "web-1";
	assert_int_equal(validate(&o, ST_LO_ALL & ~ST_LO_VM), ST_EXIT_USAGE);
	st_local_opts_init(&o);
	o.vm = "web-1";
	/* Supported: accepted (resolution of VMs is the command's job). */
	assert_int_equal(validate(&o, ST_LO_ALL), 0);
}

static void test_table_marks_unsupported(void **state)
{
	struct st_local_opts o;
	struct st_opt tab[32];
	size_t n = 0;
	int seen_pid = 0;

	(void)state;
	st_local_opts_init(&o);
	st_local_opts_table(&o, ST_LO_ALL & ~ST_LO_PID, tab, &n, 32);
	assert_int_equal(n, ST_LOCAL_NOPTS);
	assert_null(tab[n].lname);
	for (size_t i = 0; i < n; i++)
		if (!strcmp(tab[i].lname, "pid")) {
			seen_pid = 1;
			assert_non_null(strstr(tab[i].help, "not supported"));
		} else {
			assert_null(strstr(tab[i].help, "not supported"));
		}
	assert_true(seen_pid);
}

static void test_proto_and_ports(void **state)
{
	struct st_local_opts o;

	(void)state;
	st_local_opts_init(&o);
	o.proto = "UDP";
	assert_int_equal(validate(&o, ST_LO_ALL), 0);
	assert_int_equal(o.proto_num, 17);
	st_local_opts_init(&o);
	o.proto = "132";
	assert_int_equal(validate(&o, ST_LO_ALL), 0);
	assert_int_equal(o.proto_num, 132);
	st_local_opts_init(&o);
	o.proto = "bogus";
	assert_int_equal(validate(&o, ST_LO_ALL), ST_EXIT_USAGE);
	st_local_opts_init(&o);
	o.proto = "icmp";
	o.dport = 53;
	assert_int_equal(validate(&o, ST_LO_ALL), ST_EXIT_USAGE);
}

static void test_netns(void **state)
{
	struct st_local_opts o;

	(void)state;
	st_local_opts_init(&o);
	o.netns = "/proc/self/ns/net";
	assert_int_equal(validate(&o, ST_LO_ALL), 0);
	assert_int_equal(o.netns_set, 1);
	assert_true(o.netns_ino != 0);
	st_local_opts_init(&o);
	o.netns = "st-no-such-namespace";
	assert_int_equal(validate(&o, ST_LO_ALL), ST_EXIT_USAGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_unsupported_refused),
		cmocka_unit_test(test_table_marks_unsupported),
		cmocka_unit_test(test_proto_and_ports),
		cmocka_unit_test(test_netns),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
