// SPDX-License-Identifier: MIT
/*
 * stagetrace probes: which attach method every stage hook gets on this
 * kernel, found the way the agent finds it (a real load and attach of a
 * trivial program per method, common/attach_probe.c), with the reason of
 * every failure. Local; needs root.
 */
#include <stdio.h>
#include <string.h>

#include "attach_probe.h"
#include "cli.h"
#include "log.h"
#include "opts.h"
#include "stage_names.h"
#include "../bpf/stages.h"

int cmd_probes(int argc, char **argv)
{
	int json = 0, rc, usable = 0;
	json_object *arr;
	struct st_opt opts[] = {
		{ "json", 'j', ST_OPT_FLAG, &json, NULL, "JSON output" },
		ST_OPT_END,
	};
	static const struct st_cmd_help help = {
		.name = "stagetrace probes",
		.summary = "Show which attach method each stage hook gets on this kernel, or why none.",
		.description =
"For every hook the agent uses, tries tp_btf, then raw_tp, by loading and\n"
"attaching a trivial program (asking the kernel's feature probes can lie),\n"
"and prints the first that works and why the others failed. A hook with no\n"
"method leaves its stage out; the agent keeps running and says so. Exit 1\n"
"when no hook can be attached at all. Needs root.",
		.examples = "  stagetrace probes\n  stagetrace probes --json",
	};

	if (st_opts_parse_noargs(argc, argv, opts, &help, &rc))
		return rc;
	arr = json_object_new_array();
	if (!json)
		printf("%-20s %-34s %-8s %s\n", "HOOK", "TRACEPOINT", "METHOD", "REASON");
	for (unsigned h = 1; h < ST_HOOK_MAX; h++) {
		const char *cat, *tp = st_hook_tracepoint(h, &cat);
		char why[400] = "", tpn[96];
		const char *m = st_probe_best(tp, why, sizeof(why));
		json_object *o = json_object_new_object();

		usable += m != NULL;
		snprintf(tpn, sizeof(tpn), "%s:%s", cat, tp);
		json_object_object_add(o, "hook", json_object_new_string(st_hook_name(h)));
		json_object_object_add(o, "tracepoint", json_object_new_string(tpn));
		json_object_object_add(o, "method", m ? json_object_new_string(m) : NULL);
		json_object_object_add(o, "status", json_object_new_string(m ? "available" : "unavailable"));
		json_object_object_add(o, "reason", json_object_new_string(why));
		json_object_array_add(arr, o);
		if (!json)
			printf("%-20s %-34s %-8s %s\n", st_hook_name(h), tpn, m ? m : "-", why);
	}
	if (json)
		printf("%s\n", json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY));
	json_object_put(arr);
	if (!usable) {
		fprintf(stderr, "error: no stage hook can be attached on this kernel (root? BTF?)\n");
		return ST_EXIT_FAIL;
	}
	return ST_EXIT_OK;
}
