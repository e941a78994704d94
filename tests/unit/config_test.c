// SPDX-License-Identifier: MIT
/*
 * Configuration files through the option tables: values land where the
 * command line would put them, the command line wins, unknown keys and bad
 * values stop with a usage error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <cmocka.h>

#include "common/opts.h"
#include "quiet.h"

struct cfg {
	const char *config, *name;
	uint32_t n;
	int flag;
	struct st_strlist list;
	struct st_cidr net;
};

static struct cfg cfg;
static const struct st_opt opts[] = {
	{ "config", 0, ST_OPT_STR, &cfg.config, "FILE", "config" },
	{ "name", 0, ST_OPT_STR, &cfg.name, "S", "a string" },
	{ "n", 'n', ST_OPT_U32, &cfg.n, "N", "a number", 1, 100 },
	{ "flag", 0, ST_OPT_FLAG, &cfg.flag, NULL, "a flag" },
	{ "item", 0, ST_OPT_LIST, &cfg.list, "X", "repeatable" },
	{ "net", 0, ST_OPT_CIDR, &cfg.net, "CIDR", "a network" },
	ST_OPT_END,
};
static const struct st_cmd_help help = { .name = "config_test", .summary = "test" };

static const char *write_file(const char *text)
{
	static char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/st_config_test.%d", (int)getpid());
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static int parse(const char *file_text, int argc, char **argv)
{
	int rc;

	memset(&cfg, 0, sizeof(cfg));
	if (file_text) {
		const char *p = write_file(file_text);

		argv[argc++] = "--config";
		argv[argc++] = (char *)p;
	}
	argv[argc] = NULL;
	quiet(1);
	if (!st_opts_parse_daemon(argc, argv, opts, &help, &cfg.config, &rc))
		rc = -1;
	quiet(0);
	return rc;
}

static void test_values_land(void **state)
{
	char *argv[8] = { "t" };

	(void)state;
	assert_int_equal(parse("# a comment\n name = web  \nn=42\nflag\nitem = a\nitem = b\n"
			       "net = 10.1.2.3/16 # trailing comment\n", 1, argv), -1);
	assert_string_equal(cfg.name, "web");
	assert_int_equal(cfg.n, 42);
	assert_int_equal(cfg.flag, 1);
	assert_int_equal(cfg.list.n, 2);
	assert_string_equal(cfg.list.v[1], "b");
	assert_int_equal(cfg.net.addr, htonl(0x0a010000));
}

static void test_command_line_wins(void **state)
{
	char *argv[8] = { "t", "-n", "7", "--item", "c" };

	(void)state;
	assert_int_equal(parse("n = 42\nitem = a\n", 5, argv), -1);
	assert_int_equal(cfg.n, 7);
	/* Lists: file first, then the command line, each once. */
	assert_int_equal(cfg.list.n, 2);
	assert_string_equal(cfg.list.v[0], "a");
	assert_string_equal(cfg.list.v[1], "c");
}

static void test_rejections(void **state)
{
	char *argv[8] = { "t" };

	(void)state;
	assert_int_equal(parse("bogus = 1\n", 1, argv), ST_EXIT_USAGE);
	assert_int_equal(parse("n = 1000\n", 1, argv), ST_EXIT_USAGE);
	assert_int_equal(parse("n = x\n", 1, argv), ST_EXIT_USAGE);
	assert_int_equal(parse("name =\n", 1, argv), ST_EXIT_USAGE);
	assert_int_equal(parse("flag = yes\n", 1, argv), ST_EXIT_USAGE);
	assert_int_equal(parse("config = /etc/other\n", 1, argv), ST_EXIT_USAGE);
	assert_int_equal(parse("net = 10.0.0.0/33\n", 1, argv), ST_EXIT_USAGE);
}

static void test_missing_file(void **state)
{
	char *argv[8] = { "t", "--config", "/nonexistent/st.conf" };
	int rc;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	quiet(1);
	assert_int_equal(st_opts_parse_daemon(3, argv, opts, &help, &cfg.config, &rc), 1);
	quiet(0);
	assert_int_equal(rc, ST_EXIT_USAGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values_land),
		cmocka_unit_test(test_command_line_wins),
		cmocka_unit_test(test_rejections),
		cmocka_unit_test(test_missing_file),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);

	unlink(write_file(""));
	return rc;
}
