// SPDX-License-Identifier: MIT
/*
 * stagetrace hosts / stats: agent health and collector counters.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "opts.h"

int cmd_hosts(int argc, char **argv)
{
	static const struct st_cmd_help help = {
		.name = "stagetrace hosts",
		.summary = "List the agents that report to the collector, with their health.",
		.description =
"For each host: agent instance, batches and paths received, restarts seen,\n"
"seconds since its last batch, and the agent's own counters (paths lost in\n"
"the ring buffer or LRU map, batches dropped or retried, ...). With -v the\n"
"attach result of every hook is listed too.",
	};
	json_object *ans, *hosts;
	int json = 0, rc = cli_simple_query(argc, argv, "hosts", &help, &ans, &json);

	if (rc)
		return rc == ST_EXIT_HELP ? ST_EXIT_OK : rc;
	json_object_object_get_ex(ans, "hosts", &hosts);
	if (json) {
		printf("%s\n", json_object_to_json_string_ext(ans, JSON_C_TO_STRING_PRETTY));
	} else {
		printf("%-20s %-17s %9s %10s %8s %9s\n", "HOST", "INSTANCE", "BATCHES",
		       "PATHS", "RESTARTS", "LAST(s)");
		for (size_t i = 0; hosts && i < json_object_array_length(hosts); i++) {
			json_object *h = json_object_array_get_idx(hosts, i), *v, *cs;

			printf("%-20s", json_object_object_get_ex(h, "host", &v) ? json_object_get_string(v) : "?");
			printf(" %-17s", json_object_object_get_ex(h, "instance", &v) ? json_object_get_string(v) : "?");
			printf(" %9ld", json_object_object_get_ex(h, "batches", &v) ? (long)json_object_get_int64(v) : 0L);
			printf(" %10ld", json_object_object_get_ex(h, "paths", &v) ? (long)json_object_get_int64(v) : 0L);
			printf(" %8ld", json_object_object_get_ex(h, "restarts", &v) ? (long)json_object_get_int64(v) : 0L);
			printf(" %9.1f\n", json_object_object_get_ex(h, "last_seen_s", &v) ? json_object_get_double(v) : 0);
			if (json_object_object_get_ex(h, "counters", &cs)) {
				json_object_object_foreach(cs, k, val) {
					if (json_object_get_int64(val))
						printf("    %-28s %ld\n", k, (long)json_object_get_int64(val));
				}
			}
		}
	}
	json_object_put(ans);
	return ST_EXIT_OK;
}

int cmd_stats(int argc, char **argv)
{
	static const struct st_cmd_help help = {
		.name = "stagetrace stats",
		.summary = "Print the collector's counters.",
		.description =
"batches (accepted), batches_dup (resent, already stored), batches_bad\n"
"(rejected as malformed), paths, matched (joined across hosts), local (VM to\n"
"VM on one host), lost (left a host, never arrived), unmatched_rx (arrived,\n"
"source never seen), incomplete, extra_parts (same packet id twice on a\n"
"host), negative_segments (clock disagreement), guest_waits (packets that\n"
"waited for the part of an agent inside their VM), guest_addrs_full (parts\n"
"of such agents whose VM address was not learnt: set full), flushes,\n"
"flush_errors.",
	};
	json_object *ans, *col;
	int json = 0, rc = cli_simple_query(argc, argv, "stats", &help, &ans, &json);

	if (rc)
		return rc == ST_EXIT_HELP ? ST_EXIT_OK : rc;
	json_object_object_get_ex(ans, "collector", &col);
	if (json) {
		printf("%s\n", json_object_to_json_string_ext(ans, JSON_C_TO_STRING_PRETTY));
	} else if (col) {
		json_object_object_foreach(col, k, v)
			printf("%-22s %ld\n", k, (long)json_object_get_int64(v));
	}
	json_object_put(ans);
	return ST_EXIT_OK;
}
