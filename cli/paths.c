// SPDX-License-Identifier: MIT
/*
 * stagetrace paths: the slowest stored packets, stage by stage — the
 * per-packet breakdown the original latency-details scripts printed, but
 * end to end across hosts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "opts.h"

static void print_path(json_object *p)
{
	json_object *v, *stages;
	int64_t t_ns = json_object_object_get_ex(p, "time_ns", &v) ? json_object_get_int64(v) : 0;
	time_t secs = (time_t)(t_ns / 1000000000);
	struct tm tm;
	char ts[32];

	gmtime_r(&secs, &tm);
	strftime(ts, sizeof(ts), "%H:%M:%S", &tm);
	printf("%s.%06ld %s (%s -> %s) pkt %s\n", ts, (long)(t_ns % 1000000000) / 1000,
	       json_object_object_get_ex(p, "flow", &v) ? json_object_get_string(v) : "?",
	       json_object_object_get_ex(p, "src", &v) ? json_object_get_string(v) : "?",
	       json_object_object_get_ex(p, "dst", &v) ? json_object_get_string(v) : "?",
	       json_object_object_get_ex(p, "packet_id", &v) ? json_object_get_string(v) : "?");
	if (json_object_object_get_ex(p, "stages", &stages)) {
		for (size_t i = 0; i < json_object_array_length(stages); i++) {
			json_object *s = json_object_array_get_idx(stages, i), *n, *u;
			json_object *b;
			int wire;

			json_object_object_get_ex(s, "stage", &n);
			json_object_object_get_ex(s, "us", &u);
			wire = !strcmp(json_object_get_string(n), "wire");
			printf("  %-14s %10.1f us", json_object_get_string(n), json_object_get_double(u));
			if (wire && json_object_object_get_ex(p, "clock_bound_us", &b) && b)
				printf(" (clock +-%.1f us)", json_object_get_double(b));
			printf("\n");
		}
	}
	printf("  %-14s %10.1f us\n\n", "total",
	       json_object_object_get_ex(p, "total_us", &v) ? json_object_get_double(v) : 0);
}

int cmd_paths(int argc, char **argv)
{
	const char *url = cli_collector_default(), *src = NULL, *dst = NULL;
	double last = 3600, timeout = 5;
	uint32_t slowest = 20;
	int json = 0, rc;
	json_object *q, *ans, *paths;
	struct st_opt opts[] = {
		{ "collector", 'C', ST_OPT_STR, &url, "URL", "collector query address (default $STAGETRACE_COLLECTOR or " CLI_DEFAULT_COLLECTOR ")" },
		{ "src", 's', ST_OPT_STR, &src, "NAME", "only paths from this VM (or IP)" },
		{ "dst", 'D', ST_OPT_STR, &dst, "NAME", "only paths to this VM (or IP)" },
		{ "slowest", 'n', ST_OPT_U32, &slowest, "N", "how many (default 20)", 1, 10000 },
		{ "last", 'l', ST_OPT_DURATION, &last, "DUR", "time range ending now (default 1h)" },
		{ "json", 'j', ST_OPT_FLAG, &json, NULL, "print the collector's JSON answer" },
		{ "timeout", 't', ST_OPT_DURATION, &timeout, "DUR", "give up on the collector after this (default 5s)", 0.01, 3600 },
		ST_OPT_END,
	};
	static const struct st_cmd_help help = {
		.name = "stagetrace paths",
		.summary = "Show the slowest end-to-end packets, stage by stage.",
		.description =
"For every minute and VM pair the collector keeps the 20 slowest matched\n"
"packets with every stage interval (bounded store, oldest minutes dropped\n"
"first). This lists the slowest of them in the range: time of the first\n"
"stamp (UTC), the flow and the per-packet discriminator (UDP IP id, TCP\n"
"seq, ICMP id/seq), the packet id, each stage and the total. Cross-host\n"
"intervals carry their clock bound.",
		.examples =
"  stagetrace paths --src vma --dst vmb --slowest 5\n"
"  stagetrace paths --last 10m --json",
	};
	uint64_t since = 0, until = 0;

	if (st_opts_parse_noargs(argc, argv, opts, &help, &rc))
		return rc;
	if ((rc = cli_range(last, &since, &until)) != 0)
		return rc;
	q = cli_range_query("paths", since, until, src, dst);
	json_object_object_add(q, "slowest", json_object_new_int64(slowest));
	rc = cli_query(url, timeout, q, &ans);
	json_object_put(q);
	if (rc)
		return rc;
	json_object_object_get_ex(ans, "paths", &paths);
	if (json)
		printf("%s\n", json_object_to_json_string_ext(ans, JSON_C_TO_STRING_PRETTY));
	else if (!paths || !json_object_array_length(paths))
		printf("no stored paths in this range\n");
	else
		for (size_t i = 0; i < json_object_array_length(paths); i++)
			print_path(json_object_array_get_idx(paths, i));
	rc = paths && json_object_array_length(paths) ? ST_EXIT_OK : ST_EXIT_NODATA;
	json_object_put(ans);
	return rc;
}
