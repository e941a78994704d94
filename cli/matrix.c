// SPDX-License-Identifier: MIT
/*
 * stagetrace matrix: the VM-pair latency matrix from the collector.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "opts.h"

static double num(json_object *o, const char *k)
{
	json_object *v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_double(v) : 0;
}

static const char *str(json_object *o, const char *k)
{
	json_object *v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : "";
}

static int name_index(const char **names, int n, const char *s)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(names[i], s))
			return i;
	return -1;
}

static void print_grid(json_object *cells)
{
	const char *names[64];
	int n = 0;
	size_t nc = json_object_array_length(cells);

	for (size_t i = 0; i < nc; i++) {
		json_object *c = json_object_array_get_idx(cells, i);
		const char *s = str(c, "src"), *d = str(c, "dst");

		if (name_index(names, n, s) < 0 && n < 64)
			names[n++] = s;
		if (name_index(names, n, d) < 0 && n < 64)
			names[n++] = d;
	}
	printf("End-to-end latency p50 / p99 in us (rows: source, columns: destination)\n\n");
	printf("%-16s", "SRC \\ DST");
	for (int j = 0; j < n; j++)
		printf(" %20.20s", names[j]);
	printf("\n");
	for (int i = 0; i < n; i++) {
		printf("%-16.16s", names[i]);
		for (int j = 0; j < n; j++) {
			char cellbuf[32] = "-";

			for (size_t k = 0; k < nc; k++) {
				json_object *c = json_object_array_get_idx(cells, k), *lat;

				if (strcmp(str(c, "src"), names[i]) || strcmp(str(c, "dst"), names[j]))
					continue;
				if (json_object_object_get_ex(c, "latency", &lat) && lat)
					snprintf(cellbuf, sizeof(cellbuf), "%.1f / %.1f",
						 num(lat, "p50_us"), num(lat, "p99_us"));
				else
					snprintf(cellbuf, sizeof(cellbuf), "no match");
			}
			printf(" %20s", cellbuf);
		}
		printf("\n");
	}
	printf("\n");
}

static void print_cell(json_object *c)
{
	json_object *lat, *stages, *turn, *mr;
	size_t ns;

	printf("%s -> %s", str(c, "src"), str(c, "dst"));
	if (json_object_object_get_ex(c, "pair_id", &mr) && mr)
		printf(" [pair %s]", json_object_get_string(mr));
	if (json_object_object_get_ex(c, "tenant", &mr) && mr)
		printf(" [tenant %s]", json_object_get_string(mr));
	printf(": %ld packets matched, %ld lost, %ld dropped, %ld unmatched",
	       (long)num(c, "count"), (long)num(c, "lost"),
	       (long)num(c, "dropped"), (long)num(c, "unmatched"));
	if (json_object_object_get_ex(c, "match_rate", &mr) && mr)
		printf(" (match %.2f%%)", 100.0 * json_object_get_double(mr));
	printf("\n");
	if (json_object_object_get_ex(c, "latency", &lat) && lat)
		printf("  total      p50 %9.1f  p95 %9.1f  p99 %9.1f  max %9.1f  mean %9.1f us\n",
		       num(lat, "p50_us"), num(lat, "p95_us"), num(lat, "p99_us"),
		       num(lat, "max_us"), num(lat, "mean_us"));
	if (json_object_object_get_ex(c, "stages", &stages) &&
	    (ns = json_object_array_length(stages)) > 0) {
		printf("  %-16s %10s %10s %10s %10s %6s\n", "stage", "p50 us", "p99 us",
		       "max us", "mean us", "share");
		for (size_t i = 0; i < ns; i++) {
			json_object *s = json_object_array_get_idx(stages, i), *b;
			double share = num(s, "share");
			char bar[21], bound[24] = "";
			int w = (int)(share * 20 + 0.5);

			memset(bar, '#', (size_t)w);
			bar[w] = '\0';
			/* Cross-host intervals carry their clock bound. */
			if (json_object_object_get_ex(s, "clock_bound_us", &b))
				snprintf(bound, sizeof(bound), " (clock +-%.1f us)",
					 json_object_get_double(b));
			printf("  %-16s %10.1f %10.1f %10.1f %10.1f %5.1f%% |%-20s|%s\n",
			       str(s, "stage"), num(s, "p50_us"), num(s, "p99_us"),
			       num(s, "max_us"), num(s, "mean_us"), 100 * share, bar, bound);
		}
		if (json_object_object_get_ex(c, "clock_bound_large", &turn) &&
		    json_object_get_boolean(turn))
			printf("  ! clock bound is large next to the cross-host figures: "
			       "see 'stagetrace clocks'\n");
	}
	if (json_object_object_get_ex(c, "turnaround", &turn) && turn)
		printf("  %s answered %s: turnaround p50 %.1f  p99 %.1f us (%ld replies)\n",
		       str(c, "dst"), str(c, "src"), num(turn, "p50_us"), num(turn, "p99_us"),
		       (long)num(turn, "count"));
	printf("\n");
}

/* Keep the cells that pass the filters; pair_a/pair_b: both directions. */
static void filter_cells(json_object *cells, const char *src, const char *dst,
			 const char *pair_a, const char *pair_b)
{
	for (size_t i = json_object_array_length(cells); i-- > 0;) {
		json_object *c = json_object_array_get_idx(cells, i);
		const char *s = str(c, "src"), *d = str(c, "dst");
		int keep = (!src || !strcmp(s, src)) && (!dst || !strcmp(d, dst));

		if (pair_a)
			keep = keep && ((!strcmp(s, pair_a) && !strcmp(d, pair_b)) ||
					(!strcmp(s, pair_b) && !strcmp(d, pair_a)));
		if (!keep)
			json_object_array_del_idx(cells, i, 1);
	}
}

static int matrix_main(int argc, char **argv, const struct st_cmd_help *help,
		       const char *pair_a, const char *pair_b)
{
	struct cli_scope sc;
	int rc;
	json_object *ans, *cells;
	struct st_opt opts[] = {
		CLI_SCOPE_OPTS(&sc),
		ST_OPT_END,
	};

	cli_scope_init(&sc);
	if (st_opts_parse_noargs(argc, argv, opts, help, &rc))
		return rc;
	if ((rc = cli_range(sc.last, &sc.since, &sc.until)) != 0)
		return rc;
	rc = cli_query_matrix_scoped(sc.url, sc.timeout, sc.since, sc.until, sc.tenant, sc.pair_id, &ans);
	if (rc)
		return rc;
	json_object_object_get_ex(ans, "cells", &cells);
	if (cells)
		filter_cells(cells, sc.src, sc.dst, pair_a, pair_b);
	if (sc.json) {
		printf("%s\n", json_object_to_json_string_ext(ans, JSON_C_TO_STRING_PRETTY));
	} else if (!cells || !json_object_array_length(cells)) {
		printf("no traffic recorded in this time range\n");
	} else {
		print_grid(cells);
		for (size_t i = 0; i < json_object_array_length(cells); i++)
			print_cell(json_object_array_get_idx(cells, i));
	}
	rc = cells && json_object_array_length(cells) ? ST_EXIT_OK : ST_EXIT_NODATA;
	json_object_put(ans);
	return rc;
}

int cmd_matrix(int argc, char **argv)
{
	static const struct st_cmd_help help = {
		.name = "stagetrace matrix",
		.summary = "Print the VM-pair latency matrix with the per-stage breakdown.",
		.description =
"Rows are sources and columns destinations: VMs by name where an agent knows\n"
"the tap, IP addresses otherwise. Each pair shows how many packets were\n"
"matched end to end across hosts, how many left a host and never arrived\n"
"(lost), end-to-end p50/p95/p99/max, and for every stage the time from the\n"
"previous stamp to that stage's stamp, with its share of the total:\n"
"  tap_rx/tap_rcv   packet written by the VM enters the host (tap)\n"
"  nic_queue        forwarding (bridge/OVS) until the uplink's queue\n"
"  nic_tx           uplink queueing (qdisc) until the driver has it\n"
"  wire             between hosts (needs aligned clocks)\n"
"  nic_rx/nic_rcv   receive on the destination uplink\n"
"  tap_queue/tap_tx forwarding and queueing towards the VM's tap\n"
"  vm_rx            waiting in the tap until the VM read it\n"
"The destination VM's answer time (vm_turnaround) is shown apart: it is not\n"
"part of the one-way latency.\n"
"\n"
"Cells carry their tenant (both ends members of it, see the collector's\n"
"--tenant) and named pair id. -C takes the nng query address, or the\n"
"collector's HTTP API (http:// or https://) with the bearer token from\n"
"$STAGETRACE_TOKEN or $STAGETRACE_TOKEN_FILE (and $STAGETRACE_CA for https);\n"
"a tenant's token sees only its own pairs.",
		.examples =
"  stagetrace matrix --last 5m\n"
"  stagetrace matrix --src vma\n"
"  stagetrace matrix --tenant blue --last 15m\n"
"  stagetrace matrix --pair web          (named pairs: collector --pair-id)\n"
"  STAGETRACE_TOKEN_FILE=blue.tok stagetrace matrix -C https://collector:7732\n"
"  stagetrace matrix --json | jq '.cells[] | {src, dst, p99: .latency.p99_us}'",
	};

	return matrix_main(argc, argv, &help, NULL, NULL);
}

int cmd_pair(int argc, char **argv)
{
	static const struct st_cmd_help help = {
		.name = "stagetrace pair A B",
		.summary = "Latency between two VMs (or IPs), both directions, stage by stage.",
		.description =
"The two cells A->B and B->A of the matrix: matched packets, losses,\n"
"end-to-end p50/p95/p99/max, every stage's share, and each side's\n"
"turnaround. Options as for 'stagetrace matrix'.",
		.examples = "  stagetrace pair web-1 db-2 --last 15m",
	};
	char *args[64];
	int n = 0;

	if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")))
		return matrix_main(argc, argv, &help, NULL, NULL);
	if (argc < 3 || argv[1][0] == '-' || argv[2][0] == '-') {
		fprintf(stderr, "error: stagetrace pair needs two endpoints: A B (try stagetrace pair -h)\n");
		return ST_EXIT_USAGE;
	}
	args[n++] = argv[0];
	for (int i = 3; i < argc && n < 63; i++)
		args[n++] = argv[i];
	args[n] = NULL;
	return matrix_main(n, args, &help, argv[1], argv[2]);
}
