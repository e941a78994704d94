// SPDX-License-Identifier: MIT
/*
 * Attach plans (the code is common/stage_attach.c, shared with the local
 * `stagetrace latency`): every hook has an ordered list of (method, target)
 * alternatives (common/stage_names.c: tracepoints tp_btf -> raw_tp; kernel
 * functions fentry -> kprobe -> the tracepoint at the same place, if any).
 * Each is tried by really loading and attaching a two-instruction program
 * on the running kernel (common/attach_probe.c; asking the kernel's feature
 * probes can lie); the first that works is kept with the symbol it really
 * attached to (a kprobe may land on "fn.isra.0"), and why every earlier one
 * failed is remembered. The chosen variant of the real program
 * ("<method>_<hook>" in bpf/stages.bpf.c) is autoloaded and every other
 * variant switched off, so one BPF object serves every kernel. A hook whose
 * every method fails degrades its stage; the agent keeps running and says
 * so (stagetrace-agent --probes, the batch's probe list, /metrics).
 */
#include "agent.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <json-c/json.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "attach_probe.h"
#include "log.h"
#include "stage_attach.h"
#include "stage_names.h"
#include "stages.skel.h"

int st_attach_plan(struct st_agent *a)
{
	return st_stage_plan(a->skel->obj, a->probes, a->cfg.force_method, a->datapath_off);
}

int st_attach_all(struct st_agent *a)
{
	/* The links live as long as the process (the skeleton does not own
	 * them); the agent never detaches before it exits. */
	return st_stage_attach(a->skel->obj, a->probes);
}

void st_probes_print(const struct st_agent *a, int json)
{
	if (json) {
		json_object *arr = json_object_new_array();

		for (unsigned h = 1; h < ST_HOOK_MAX; h++) {
			const struct st_probe *p = &a->probes[h];
			json_object *o = json_object_new_object();
			uint32_t sid = st_stage_id(h, ST_ROLE_OTHER);

			json_object_object_add(o, "hook", json_object_new_string(st_hook_name(h)));
			json_object_object_add(o, "stage", json_object_new_string(st_stage_name(sid)));
			json_object_object_add(o, "method", p->method ?
					       json_object_new_string(p->method) : NULL);
			json_object_object_add(o, "target", p->target ?
					       json_object_new_string(p->target) : NULL);
			json_object_object_add(o, "symbol", p->method ?
					       json_object_new_string(p->symbol) : NULL);
			json_object_object_add(o, "status", json_object_new_string(p->status));
			json_object_object_add(o, "reason", json_object_new_string(p->reason));
			json_object_array_add(arr, o);
		}
		printf("%s\n", json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY));
		json_object_put(arr);
		return;
	}
	printf("%-22s %-10s %-28s %-10s %s\n", "HOOK", "METHOD", "SYMBOL", "STATUS", "REASON");
	for (unsigned h = 1; h < ST_HOOK_MAX; h++) {
		const struct st_probe *p = &a->probes[h];

		printf("%-22s %-10s %-28s %-10s %s\n", st_hook_name(h),
		       p->method ? p->method : "-", p->method ? p->symbol : "-", p->status,
		       p->reason);
	}
}
