// SPDX-License-Identifier: MIT
/*
 * stagetrace upcall: the OVS upcall matrix from the collector — per host
 * and per VM pair, how many packets missed the kernel's megaflow cache and
 * went to ovs-vswitchd, how long userspace held them (kernel miss to
 * re-injection), and how many hit. collector/upcall.c explains where the
 * figures come from. Replaces ovs_upcall_latency_summary.py (fleet-wide
 * rather than one host) and, with the datapath counters, the hit/miss
 * part of ovs_userspace_megaflow.py.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "opts.h"

static double num(json_object *o, const char *k)
{
	json_object *v;

	return json_object_object_get_ex(o, k, &v) && v ? json_object_get_double(v) : 0;
}

static const char *str(json_object *o, const char *k)
{
	json_object *v;

	return json_object_object_get_ex(o, k, &v) && v ? json_object_get_string(v) : "-";
}

static void print_lat(json_object *lat)
{
	if (!lat) {
		printf(" %9s %9s %9s %9s", "-", "-", "-", "-");
		return;
	}
	printf(" %9.1f %9.1f %9.1f %9.1f", num(lat, "p50_us"), num(lat, "p95_us"),
	       num(lat, "p99_us"), num(lat, "max_us"));
}

static void print_hosts(json_object *hosts)
{
	printf("Per host (latency: kernel miss -> packet re-injected by ovs-vswitchd, us)\n");
	printf("%-16s %8s %9s %9s %9s %9s %9s   %s\n", "HOST", "UPCALLS", "PER_S", "P50",
	       "P95", "P99", "MAX", "datapath (kernel, since created)");
	for (size_t i = 0; i < json_object_array_length(hosts); i++) {
		json_object *h = json_object_array_get_idx(hosts, i), *dp = NULL, *lat = NULL;

		json_object_object_get_ex(h, "latency", &lat);
		json_object_object_get_ex(h, "datapath", &dp);
		printf("%-16.16s %8.0f %9.2f", str(h, "host"), num(h, "upcalls"),
		       num(h, "upcalls_per_s"));
		print_lat(lat);
		if (dp)
			printf("   hit %.0f missed %.0f lost %.0f flows %.0f masks %.0f\n",
			       num(dp, "hit"), num(dp, "missed"), num(dp, "lost"), num(dp, "flows"),
			       num(dp, "masks"));
		else
			printf("   (agent reports no OVS datapath)\n");
	}
	printf("\n");
}

static void print_pairs(json_object *pairs)
{
	printf("Per VM pair (hits: datapath lookups that found a megaflow)\n");
	printf("%-16s %-16s %8s %8s %7s %9s %9s %9s %9s\n", "SRC", "DST", "UPCALLS", "HITS",
	       "MISS%", "P50", "P95", "P99", "MAX");
	for (size_t i = 0; i < json_object_array_length(pairs); i++) {
		json_object *p = json_object_array_get_idx(pairs, i), *lat = NULL, *per = NULL;

		json_object_object_get_ex(p, "latency", &lat);
		printf("%-16.16s %-16.16s %8.0f %8.0f %6.2f%%", str(p, "src"), str(p, "dst"),
		       num(p, "upcalls"), num(p, "hits"), 100.0 * num(p, "miss_ratio"));
		print_lat(lat);
		printf("\n");
		json_object_object_get_ex(p, "hosts", &per);
		for (size_t j = 0; per && json_object_array_length(per) > 1 &&
				   j < json_object_array_length(per); j++) {
			json_object *h = json_object_array_get_idx(per, j);

			printf("  on %-28.28s %8.0f %8s %7s", str(h, "host"), num(h, "count"), "", "");
			print_lat(h);
			printf("\n");
		}
	}
}

int cmd_upcall(int argc, char **argv)
{
	struct cli_scope sc;
	int local = 0, rc;
	json_object *q, *ans, *pairs = NULL, *hosts = NULL;
	struct st_opt opts[] = {
		CLI_SCOPE_OPTS(&sc),
		{ "local", 0, ST_OPT_FLAG, &local, NULL, "trace this host instead (see stagetrace upcall --local -h)" },
		ST_OPT_END,
	};
	static const struct st_cmd_help help = {
		.name = "stagetrace upcall",
		.summary = "OVS upcalls per host and VM pair: rate, userspace latency, megaflow hits and misses.",
		.description =
"When a packet misses the kernel datapath's megaflow cache, OVS queues it to\n"
"ovs-vswitchd (an upcall); the handler thread translates it through the\n"
"OpenFlow tables, installs a megaflow and re-injects the packet. The agents\n"
"stamp the miss (ovs_dp_upcall) and the re-injection (ovs_execute_actions\n"
"of the same packet id); the collector stores that interval per pair and\n"
"minute as the stage upcall@HOST. This command sums it:\n"
"  per host   upcalls, their rate over the minutes that had any, latency\n"
"             p50/p95/p99/max, and the kernel datapath's own counters as\n"
"             the host's agent last read them (hit, missed, lost, flows,\n"
"             masks: every packet, traced or not, since the datapath was\n"
"             created). Operator only: a tenant token gets no host table.\n"
"  per pair   upcalls, hits (lookups that found a megaflow: a packet\n"
"             crossing OVS on two hosts counts two), miss ratio, latency,\n"
"             and per host when the pair's upcalls happened on several.\n"
"A packet that ovs-vswitchd never re-injects (dropped by its rules, or the\n"
"handler queue overflowed: datapath 'lost') has no upcall latency; it shows\n"
"in the pair's lost count of 'stagetrace matrix'. Exit 4 when the range\n"
"holds no OVS traffic.\n"
"\n"
"On one hypervisor, without a collector: stagetrace upcall --local (its own\n"
"options: stagetrace upcall --local -h).",
		.examples =
"  stagetrace upcall --last 10m\n"
"  stagetrace upcall --src web-1 --dst db-2\n"
"  stagetrace upcall --json | jq '.hosts[] | {host, p99: .latency.p99_us}'",
	};

	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--local"))
			return cmd_upcall_local(argc, argv);
	cli_scope_init(&sc);
	if (st_opts_parse_noargs(argc, argv, opts, &help, &rc))
		return rc;
	if ((rc = cli_range(sc.last, &sc.since, &sc.until)) != 0)
		return rc;
	q = cli_range_query("upcall", sc.since, sc.until, sc.src, sc.dst);
	if (sc.tenant)
		json_object_object_add(q, "tenant", json_object_new_string(sc.tenant));
	if (sc.pair_id)
		json_object_object_add(q, "pair_id", json_object_new_string(sc.pair_id));
	rc = cli_query(sc.url, sc.timeout, q, &ans);
	json_object_put(q);
	if (rc)
		return rc;
	json_object_object_get_ex(ans, "pairs", &pairs);
	json_object_object_get_ex(ans, "hosts", &hosts);
	if (sc.json) {
		printf("%s\n", json_object_to_json_string_ext(ans, JSON_C_TO_STRING_PRETTY));
	} else if ((!pairs || !json_object_array_length(pairs)) &&
		   (!hosts || !json_object_array_length(hosts))) {
		printf("no OVS traffic recorded in this time range\n");
	} else {
		if (hosts)
			print_hosts(hosts);
		if (pairs)
			print_pairs(pairs);
		printf("\nHandler threads and CPUs are not collected fleet-wide (agents do not use\n"
		       "ovs-vswitchd's USDT probes, which Debian's build lacks); on a host:\n"
		       "stagetrace upcall --local\n");
	}
	rc = (pairs && json_object_array_length(pairs)) ? ST_EXIT_OK : ST_EXIT_NODATA;
	json_object_put(ans);
	return rc;
}
