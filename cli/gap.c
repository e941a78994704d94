// SPDX-License-Identifier: MIT
/*
 * stagetrace gap: the multi-port gap matrix — inter-packet gap
 * distributions per (VM pair, protocol, destination port) at every stage
 * on both hosts, and the stalls, each placed at the first stage where it
 * appeared (collector/gap.h explains how). Replaces vm_pair_gap.py,
 * multi_port_gap.py and multi_vm_pair_multi_port_gap.py.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "opts.h"

static const char *jstr(json_object *o, const char *k)
{
	json_object *v;

	return json_object_object_get_ex(o, k, &v) && v ? json_object_get_string(v) : "?";
}

static double jnum(json_object *o, const char *k)
{
	json_object *v;

	return json_object_object_get_ex(o, k, &v) && v ? json_object_get_double(v) : 0;
}

static void print_flow(json_object *f)
{
	json_object *pts;

	printf("%s -> %s %s/%d\n", jstr(f, "src"), jstr(f, "dst"), jstr(f, "proto"),
	       (int)jnum(f, "port"));
	if (!json_object_object_get_ex(f, "points", &pts))
		return;
	printf("  %-16s %-12s %10s %10s %10s %10s\n", "stage", "host", "gaps", "p50 ms",
	       "p99 ms", "max ms");
	for (size_t i = 0; i < json_object_array_length(pts); i++) {
		json_object *p = json_object_array_get_idx(pts, i);

		printf("  %-16s %-12s %10.0f %10.3f %10.3f %10.3f\n", jstr(p, "stage"), jstr(p, "host"),
		       jnum(p, "count"), jnum(p, "p50_us") / 1e3, jnum(p, "p99_us") / 1e3,
		       jnum(p, "max_us") / 1e3);
	}
	printf("\n");
}

static void print_stall(json_object *s)
{
	json_object *up;
	int64_t t = (int64_t)jnum(s, "start_ns");
	time_t secs = (time_t)(t / 1000000000);
	struct tm tm;
	char ts[16];

	gmtime_r(&secs, &tm);
	strftime(ts, sizeof(ts), "%H:%M:%S", &tm);
	printf("  %s.%03ld %s -> %s %s/%d: %.1f ms at %s on %s", ts, (long)(t % 1000000000) / 1000000,
	       jstr(s, "src"), jstr(s, "dst"), jstr(s, "proto"), (int)jnum(s, "port"),
	       jnum(s, "duration_ms"), jstr(s, "stage"), jstr(s, "host"));
	if (json_object_object_get_ex(s, "upstream_gap_ms", &up) && up)
		printf(" (gap before it %.1f ms: %s)\n", json_object_get_double(up),
		       json_object_get_boolean(json_object_object_get(s, "seen_upstream")) ?
		       "seen upstream too" : "started here");
	else
		printf(" (first traced stage: the sender paused, or the cause is before it)\n");
}

/* Stalls of one flow in the answer. */
static int flow_stalls(json_object *stalls, json_object *f)
{
	int n = 0;

	for (size_t i = 0; stalls && i < json_object_array_length(stalls); i++) {
		json_object *s = json_object_array_get_idx(stalls, i);

		n += !strcmp(jstr(s, "src"), jstr(f, "src")) && !strcmp(jstr(s, "dst"), jstr(f, "dst")) &&
		     !strcmp(jstr(s, "proto"), jstr(f, "proto")) && jnum(s, "port") == jnum(f, "port");
	}
	return n;
}

/*
 * --matrix: rows are VM pairs, columns destination ports; a cell is the
 * largest gap seen at any stage (ms) and the number of stalls.
 */
static void print_matrix(json_object *flows, json_object *stalls)
{
	int ports[64], np = 0;
	size_t nf = flows ? json_object_array_length(flows) : 0;
	char prev[160] = "";

	for (size_t i = 0; i < nf; i++) {
		int p = (int)jnum(json_object_array_get_idx(flows, i), "port"), k;

		for (k = 0; k < np && ports[k] != p; k++)
			;
		if (k == np && np < 64)
			ports[np++] = p;
	}
	for (int i = 1; i < np; i++)
		for (int j = i; j > 0 && ports[j - 1] > ports[j]; j--) {
			int t = ports[j];

			ports[j] = ports[j - 1];
			ports[j - 1] = t;
		}
	printf("largest gap ms / stalls (rows: pair, columns: destination port)\n\n%-28s", "PAIR \\ PORT");
	for (int k = 0; k < np; k++)
		printf(" %14d", ports[k]);
	printf("\n");
	for (size_t i = 0; i < nf; i++) {
		json_object *f = json_object_array_get_idx(flows, i);
		char pair[160];

		snprintf(pair, sizeof(pair), "%s -> %s", jstr(f, "src"), jstr(f, "dst"));
		if (!strcmp(pair, prev))
			continue;
		snprintf(prev, sizeof(prev), "%s", pair);
		printf("%-28s", pair);
		for (int k = 0; k < np; k++) {
			double mx = -1;
			int st = 0;

			for (size_t j = i; j < nf; j++) {
				json_object *g = json_object_array_get_idx(flows, j), *pts;

				if (strcmp(jstr(g, "src"), jstr(f, "src")) || strcmp(jstr(g, "dst"), jstr(f, "dst")) ||
				    (int)jnum(g, "port") != ports[k])
					continue;
				st += flow_stalls(stalls, g);
				if (json_object_object_get_ex(g, "points", &pts))
					for (size_t q = 0; q < json_object_array_length(pts); q++)
						if (jnum(json_object_array_get_idx(pts, q), "max_us") / 1e3 > mx)
							mx = jnum(json_object_array_get_idx(pts, q), "max_us") / 1e3;
			}
			if (mx < 0)
				printf(" %14s", "-");
			else
				printf(" %8.1f / %-3d", mx, st);
		}
		printf("\n");
	}
	printf("\n");
}

int cmd_gap(int argc, char **argv)
{
	const char *url = cli_collector_default(), *src = NULL, *dst = NULL;
	double last = 3600, timeout = 5;
	uint32_t port = 0;
	int json = 0, stalls_only = 0, matrix = 0, ports = 0, rc;
	json_object *q, *ans, *flows = NULL, *stalls = NULL;
	struct st_opt opts[] = {
		{ "collector", 'C', ST_OPT_STR, &url, "URL", "collector query address (default $STAGETRACE_COLLECTOR or " CLI_DEFAULT_COLLECTOR ")" },
		{ "src", 's', ST_OPT_STR, &src, "NAME", "only flows from this VM (or IP)" },
		{ "dst", 'D', ST_OPT_STR, &dst, "NAME", "only flows to this VM (or IP)" },
		{ "port", 'p', ST_OPT_U32, &port, "PORT", "only this destination port", 1, 65535 },
		{ "stalls", 0, ST_OPT_FLAG, &stalls_only, NULL, "only the stalls" },
		{ "matrix", 'm', ST_OPT_FLAG, &matrix, NULL, "pairs x ports grid: largest gap and stalls per cell" },
		{ "ports", 0, ST_OPT_FLAG, &ports, NULL, "per-port tables (the default; as multi_port_gap.py)" },
		{ "last", 'l', ST_OPT_DURATION, &last, "DUR", "time range ending now (default 1h)" },
		{ "json", 'j', ST_OPT_FLAG, &json, NULL, "print the collector's JSON answer" },
		{ "timeout", 't', ST_OPT_DURATION, &timeout, "DUR", "give up on the collector after this (default 5s)", 0.01, 3600 },
		ST_OPT_END,
	};
	static const struct st_cmd_help help = {
		.name = "stagetrace gap",
		.summary = "Inter-packet gaps per VM pair and port at every stage, and where stalls began.",
		.description =
"For every flow (source, destination, protocol, destination port) the\n"
"collector measures, at each stamp point of the path on both hosts, the\n"
"time since the flow's previous packet passed the same point, and keeps a\n"
"histogram per minute. A gap over the collector's --stall-ms (default\n"
"100 ms) is a stall, reported at the first stage along the path where it\n"
"appears, with its start (UTC), its length and the gap at the stage before\n"
"it: a small gap before means the packets reached the previous stage on\n"
"time and were held between it and this one (\"started here\"); a stall\n"
"at the first traced stage means the sender paused. Exit 4 when there is\n"
"nothing in the range.",
		.examples =
"  stagetrace gap --last 10m\n"
"  stagetrace gap --matrix             (pairs x ports, as multi_vm_pair_multi_port_gap.py)\n"
"  stagetrace gap --src web-1 --dst db-2 --port 5432\n"
"  stagetrace gap --stalls --json | jq '.stalls[] | {port, stage, host, duration_ms}'",
	};
	uint64_t since = 0, until = 0;

	if (st_opts_parse_noargs(argc, argv, opts, &help, &rc))
		return rc;
	if ((rc = cli_range(last, &since, &until)) != 0)
		return rc;
	q = cli_range_query("gap", since, until, src, dst);
	if (port)
		json_object_object_add(q, "port", json_object_new_int(port));
	rc = cli_query(url, timeout, q, &ans);
	json_object_put(q);
	if (rc)
		return rc;
	json_object_object_get_ex(ans, "flows", &flows);
	json_object_object_get_ex(ans, "stalls", &stalls);
	if (json) {
		printf("%s\n", json_object_to_json_string_ext(ans, JSON_C_TO_STRING_PRETTY));
	} else {
		if (matrix && !stalls_only)
			print_matrix(flows, stalls);
		for (size_t i = 0; !stalls_only && (!matrix || ports) && flows &&
				   i < json_object_array_length(flows); i++)
			print_flow(json_object_array_get_idx(flows, i));
		printf("stalls (gap over %.0f ms): %zu\n", jnum(ans, "stall_ms"),
		       stalls ? json_object_array_length(stalls) : 0);
		for (size_t i = 0; stalls && i < json_object_array_length(stalls); i++)
			print_stall(json_object_array_get_idx(stalls, i));
	}
	rc = (flows && json_object_array_length(flows)) || (stalls && json_object_array_length(stalls)) ?
	     ST_EXIT_OK : ST_EXIT_NODATA;
	json_object_put(ans);
	return rc;
}
