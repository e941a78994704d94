// SPDX-License-Identifier: MIT
/*
 * stagetrace slo status | check: the collector's SLO evaluation.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "opts.h"

static const char *str(json_object *o, const char *k)
{
	json_object *v;

	return json_object_object_get_ex(o, k, &v) && v ? json_object_get_string(v) : "-";
}

static void burn(json_object *o, const char *k)
{
	json_object *b, *v;

	if (json_object_object_get_ex(o, "burn", &b) && json_object_object_get_ex(b, k, &v) && v)
		printf(" %8.2f", json_object_get_double(v));
	else
		printf(" %8s", "-");
}

int cmd_slo(int argc, char **argv)
{
	static const struct st_cmd_help help = {
		.name = "stagetrace slo status|check",
		.summary = "Latency SLO state: burn rates, alerts; 'check' exits 0 ok, 1 violated, 2 unknown.",
		.description =
"The collector evaluates each SLO given with --slo (NAME:SRC>DST:pQQ<=DURATION:\n"
"TARGET) every 10 seconds: a slice is good when the pair's quantile meets the\n"
"threshold. Burn rate = share of bad slices / (1 - target), over a short and a\n"
"long window; the fast alert needs both >= 14.4, the slow one both >= 6\n"
"(windows: --slo-windows on the collector, default 5m,1h,30m,6h).\n"
"'status' prints every SLO; 'check' prints one line per SLO and exits 0 when\n"
"all are ok, 1 when an alert fires, 2 when none is violated but one has no\n"
"data yet (for cron and CI; note 2 is also the usage-error status).",
		.examples = "  stagetrace slo status\n  stagetrace slo check || page-oncall",
	};
	json_object *ans, *slos;
	int json = 0, rc, check, worst = 0;

	if (argc < 2 || (strcmp(argv[1], "status") && strcmp(argv[1], "check"))) {
		if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
			rc = cli_simple_query(argc, argv, "slo", &help, &ans, &json);
			return rc == ST_EXIT_HELP ? ST_EXIT_OK : rc;
		}
		fprintf(stderr, "error: stagetrace slo needs 'status' or 'check' (try stagetrace slo -h)\n");
		return ST_EXIT_USAGE;
	}
	check = !strcmp(argv[1], "check");
	rc = cli_simple_query(argc - 1, argv + 1, "slo", &help, &ans, &json);
	if (rc)
		return rc == ST_EXIT_HELP ? ST_EXIT_OK : rc;
	json_object_object_get_ex(ans, "slos", &slos);
	if (json) {
		printf("%s\n", json_object_to_json_string_ext(ans, JSON_C_TO_STRING_PRETTY));
	} else if (!check) {
		printf("%-16s %-24s %-18s %8s %8s %8s %8s %-6s %-6s %s\n", "SLO", "PAIR", "OBJECTIVE",
		       "FAST-S", "FAST-L", "SLOW-S", "SLOW-L", "FAST", "SLOW", "STATE");
	}
	for (size_t i = 0; slos && i < json_object_array_length(slos); i++) {
		json_object *s = json_object_array_get_idx(slos, i), *v;
		char pair[64], obj[48];
		const char *state = str(s, "state");
		int code = !strcmp(state, "violated") ? 1 : !strcmp(state, "unknown") ? 2 : 0;

		if (code == 1 || (code == 2 && worst == 0))
			worst = code;
		if (json)
			continue;
		snprintf(pair, sizeof(pair), "%s>%s", str(s, "src"), str(s, "dst"));
		snprintf(obj, sizeof(obj), "p%g<=%gus %g%%",
			 json_object_object_get_ex(s, "quantile", &v) ? json_object_get_double(v) * 100 : 0,
			 json_object_object_get_ex(s, "threshold_us", &v) ? json_object_get_double(v) : 0,
			 json_object_object_get_ex(s, "target_pct", &v) ? json_object_get_double(v) : 0);
		if (check) {
			printf("%s %s %s %s\n", state, str(s, "name"), pair, obj);
			continue;
		}
		printf("%-16s %-24s %-18s", str(s, "name"), pair, obj);
		burn(s, "fast_short");
		burn(s, "fast_long");
		burn(s, "slow_short");
		burn(s, "slow_long");
		printf(" %-6s %-6s %s\n", str(s, "fast_alert"), str(s, "slow_alert"), state);
	}
	if (!slos || !json_object_array_length(slos)) {
		if (!json)
			printf("no SLOs configured on the collector (--slo)\n");
		worst = 2;
	}
	json_object_put(ans);
	return check ? worst : ST_EXIT_OK;
}
