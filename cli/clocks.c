// SPDX-License-Identifier: MIT
/*
 * stagetrace clocks: how the collector aligns each host's clock.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "opts.h"

static void pnum(json_object *o, const char *k, const char *fmt, int width)
{
	json_object *v;

	if (json_object_object_get_ex(o, k, &v) && v)
		printf(fmt, width, json_object_get_double(v));
	else
		printf(" %*s", width, "-");
}

int cmd_clocks(int argc, char **argv)
{
	static const struct st_cmd_help help = {
		.name = "stagetrace clocks",
		.summary = "Show each host's clock model: offset, drift, error bound, source, age.",
		.description =
"The collector puts every host's monotonic stamps on its own timeline. Per\n"
"host it estimates an offset and a drift from three sources, combined by\n"
"their error bounds: the host's own disciplined clock (bound: the host's\n"
"adjtimex estimate, 10 ms when unsynchronised), four-timestamp exchanges\n"
"with the agent (bound ~ round trip / 2) and, best, the data plane: hosts\n"
"with traffic both ways are aligned from the lower envelopes of their\n"
"one-way delays (bound: a few us; assumes the minimal wire delay is the\n"
"same both ways). SOURCE is the best source in use; BOUND the host's\n"
"absolute bound. Pairs show the bound on the difference of two hosts'\n"
"clocks, which is what their wire and end-to-end figures carry.\n"
"With agents run with the test-only skew options, ERROR is the model's\n"
"true error.",
	};
	json_object *ans, *hosts, *pairs;
	int json = 0, rc = cli_simple_query(argc, argv, "clocks", &help, &ans, &json);

	if (rc)
		return rc == ST_EXIT_HELP ? ST_EXIT_OK : rc;
	if (json) {
		printf("%s\n", json_object_to_json_string_ext(ans, JSON_C_TO_STRING_PRETTY));
		json_object_put(ans);
		return 0;
	}
	json_object_object_get_ex(ans, "hosts", &hosts);
	json_object_object_get_ex(ans, "pairs", &pairs);
	printf("%-16s %-11s %14s %10s %10s %7s %6s %10s\n", "HOST", "SOURCE", "OFFSET(us)",
	       "DRIFT(ppm)", "BOUND(us)", "AGE(s)", "STEPS", "ERROR(us)");
	for (size_t i = 0; hosts && i < json_object_array_length(hosts); i++) {
		json_object *h = json_object_array_get_idx(hosts, i), *v, *t;

		printf("%-16s", json_object_object_get_ex(h, "host", &v) ? json_object_get_string(v) : "?");
		printf(" %-11s", json_object_object_get_ex(h, "source", &v) ? json_object_get_string(v) : "?");
		pnum(h, "offset_us", " %*.1f", 14);
		pnum(h, "drift_ppm", " %*.3f", 10);
		pnum(h, "bound_us", " %*.2f", 10);
		pnum(h, "age_s", " %*.1f", 7);
		printf(" %6ld", json_object_object_get_ex(h, "steps", &v) ? (long)json_object_get_int64(v) : 0L);
		if (json_object_object_get_ex(h, "test_truth", &t) && t)
			pnum(t, "error_us", " %*.2f", 10);
		printf("\n");
	}
	if (pairs && json_object_array_length(pairs)) {
		printf("\n%-16s %-16s %10s %12s %10s %10s\n", "HOST A", "HOST B", "BOUND(us)",
		       "DATA-PLANE", "SAMPLES", "ERROR(us)");
		for (size_t i = 0; i < json_object_array_length(pairs); i++) {
			json_object *p = json_object_array_get_idx(pairs, i), *v, *w;

			printf("%-16s", json_object_object_get_ex(p, "a", &v) ? json_object_get_string(v) : "?");
			printf(" %-16s", json_object_object_get_ex(p, "b", &v) ? json_object_get_string(v) : "?");
			pnum(p, "bound_us", " %*.2f", 10);
			printf(" %12s", json_object_object_get_ex(p, "data_plane", &v) &&
			       json_object_get_boolean(v) ? "yes" : "no");
			printf(" %10ld", (json_object_object_get_ex(p, "samples_ab", &v) ?
					  (long)json_object_get_int64(v) : 0L) +
					 (json_object_object_get_ex(p, "samples_ba", &w) ?
					  (long)json_object_get_int64(w) : 0L));
			pnum(p, "error_us", " %*.2f", 10);
			printf("\n");
		}
	}
	json_object_put(ans);
	return 0;
}
