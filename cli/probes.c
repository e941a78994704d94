// SPDX-License-Identifier: MIT
/*
 * stagetrace probes: which attach method every stage hook gets on this
 * kernel, found the way the agent finds it (a real load and attach of a
 * trivial program per method, common/attach_probe.c), with the reason of
 * every failure. Local; needs root.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attach_probe.h"
#include "cli.h"
#include "log.h"
#include "opts.h"
#include "stage_names.h"
#include "../bpf/stages.h"

/*
 * --try METHOD:TARGET[,METHOD:TARGET...]: one ad-hoc attach plan, tried in
 * order the way the agent tries its own. Exit 0 when an alternative works.
 */
static int try_plan(const char *spec, int json)
{
	struct st_attach_alt alts[16];
	struct st_attach_choice c;
	char *copy = strdup(spec), *save = NULL, *tok;
	size_t n = 0;
	json_object *o;
	int rc = ST_EXIT_OK;

	if (!copy)
		return ST_EXIT_FAIL;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *colon = strchr(tok, ':');

		if (!colon || colon == tok || !colon[1] || n == 16) {
			fprintf(stderr, "error: --try '%s': expected METHOD:TARGET[,METHOD:TARGET...] (at most 16)\n",
				tok);
			free(copy);
			return ST_EXIT_USAGE;
		}
		*colon = 0;
		if (!st_attach_method_known(tok)) {
			fprintf(stderr, "error: --try: unknown method '%s' (fentry, fexit, kprobe, kretprobe, tp_btf, raw_tp, tracepoint)\n",
				tok);
			free(copy);
			return ST_EXIT_USAGE;
		}
		alts[n++] = (struct st_attach_alt){ tok, colon + 1 };
	}
	if (!n) {
		fprintf(stderr, "error: --try needs METHOD:TARGET\n");
		free(copy);
		return ST_EXIT_USAGE;
	}
	st_attach_plan_try(alts, n, &c);
	o = json_object_new_object();
	json_object_object_add(o, "method", c.index < 0 ? NULL : json_object_new_string(alts[c.index].method));
	json_object_object_add(o, "target", c.index < 0 ? NULL : json_object_new_string(alts[c.index].target));
	json_object_object_add(o, "symbol", c.index < 0 ? NULL : json_object_new_string(c.symbol));
	json_object_object_add(o, "status", json_object_new_string(c.index < 0 ? "unavailable" : "available"));
	json_object_object_add(o, "reason", json_object_new_string(c.why));
	if (json)
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	else if (c.index < 0)
		printf("unavailable: %s\n", c.why);
	else
		printf("%s %s%s%s%s\n", alts[c.index].method, c.symbol, c.why[0] ? " (earlier: " : "",
		       c.why, c.why[0] ? ")" : "");
	json_object_put(o);
	if (c.index < 0)
		rc = ST_EXIT_FAIL;
	free(copy);
	return rc;
}

int cmd_probes(int argc, char **argv)
{
	int json = 0, rc, usable = 0;
	const char *plan = NULL;
	json_object *arr;
	struct st_opt opts[] = {
		{ "json", 'j', ST_OPT_FLAG, &json, NULL, "JSON output" },
		{ "try", 't', ST_OPT_STR, &plan, "PLAN",
		  "try one attach plan instead: METHOD:TARGET[,...] in order of preference" },
		ST_OPT_END,
	};
	static const struct st_cmd_help help = {
		.name = "stagetrace probes",
		.summary = "Show which attach method each stage hook gets on this kernel, or why none.",
		.description =
"For every hook the agent uses, tries the hook's attach plan in order by\n"
"loading and attaching a trivial program (asking the kernel's feature\n"
"probes can lie): host-stack tracepoints tp_btf, then raw_tp; OVS and\n"
"bridge datapath functions fentry, then kprobe (or the function's\n"
".isra/.constprop clone), then their tracepoint where the kernel has one.\n"
"Prints the first that works, the symbol it attached to, and why the\n"
"earlier ones failed. A hook with no method leaves its stage out; the\n"
"agent keeps running and says so. Datapath hooks need their module\n"
"(openvswitch, bridge) loaded. Exit 1 when no hook can be attached at\n"
"all. Needs root.\n"
"\n"
"--try asks the kernel about any hook: methods are fentry, fexit, kprobe,\n"
"kretprobe (TARGET a kernel function; module functions with BTF work, and\n"
"kprobes fall back to the function's .isra/.constprop/.part clone), tp_btf,\n"
"raw_tp (TARGET a tracepoint event) and tracepoint (TARGET category:event,\n"
"needs tracefs). It prints the first alternative that attaches, the symbol\n"
"it attached to and why the earlier ones failed; exit 0 if one works, 1 if\n"
"none does.",
		.examples = "  stagetrace probes\n  stagetrace probes --json\n"
			    "  stagetrace probes --try fentry:ovs_vport_receive,kprobe:ovs_vport_receive",
	};

	if (st_opts_parse_noargs(argc, argv, opts, &help, &rc))
		return rc;
	if (plan)
		return try_plan(plan, json);
	arr = json_object_new_array();
	if (!json)
		printf("%-22s %-13s %-10s %-28s %s\n", "HOOK", "STAGE", "METHOD", "SYMBOL", "REASON");
	/* Every hook's own plan (common/stage_names.c), tried the way the
	 * agent tries it. */
	for (unsigned h = 1; h < ST_HOOK_MAX; h++) {
		const struct st_attach_alt *alts;
		size_t n = st_hook_plan(h, &alts);
		struct st_attach_choice c;
		const char *cat, *tp = st_hook_tracepoint(h, &cat);
		const char *stage = st_stage_name(st_stage_id(h, ST_ROLE_OTHER));
		json_object *o = json_object_new_object();
		char tpn[96];
		int i = st_attach_plan_try(alts, n, &c);

		usable += i >= 0;
		snprintf(tpn, sizeof(tpn), "%s:%s", tp ? cat : "", tp ? tp : "");
		json_object_object_add(o, "hook", json_object_new_string(st_hook_name(h)));
		json_object_object_add(o, "stage", json_object_new_string(stage));
		json_object_object_add(o, "tracepoint", tp ? json_object_new_string(tpn) : NULL);
		json_object_object_add(o, "method", i >= 0 ? json_object_new_string(alts[i].method) : NULL);
		json_object_object_add(o, "target", i >= 0 ? json_object_new_string(alts[i].target) : NULL);
		json_object_object_add(o, "symbol", i >= 0 ? json_object_new_string(c.symbol) : NULL);
		json_object_object_add(o, "status", json_object_new_string(i >= 0 ? "available" : "unavailable"));
		json_object_object_add(o, "reason", json_object_new_string(c.why));
		json_object_array_add(arr, o);
		if (!json)
			printf("%-22s %-13s %-10s %-28s %s\n", st_hook_name(h), stage,
			       i >= 0 ? alts[i].method : "-", i >= 0 ? c.symbol : "-", c.why);
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
