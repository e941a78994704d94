// SPDX-License-Identifier: MIT
/*
 * Attach plans: every hook has an ordered list of (method, target)
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
#include "stage_names.h"
#include "stages.skel.h"

/* The program of one alternative of a hook, or NULL if the object has none. */
static struct bpf_program *alt_prog(struct stages_bpf *s, unsigned hook, const char *method)
{
	const char *pfx = st_method_prog_prefix(method), *prog = st_hook_prog(hook);
	char name[64];

	if (!pfx || !prog)
		return NULL;
	snprintf(name, sizeof(name), "%s_%s", pfx, prog);
	return bpf_object__find_program_by_name(s->obj, name);
}

static void reason_add(struct st_probe *p, const char *what)
{
	size_t used = strlen(p->reason);

	snprintf(p->reason + used, sizeof(p->reason) - used, "%s%s", used ? "; " : "", what);
}

int st_attach_plan(struct st_agent *a)
{
	int usable = 0;

	for (unsigned h = 1; h < ST_HOOK_MAX; h++) {
		struct st_probe *p = &a->probes[h];
		const struct st_attach_alt *plan;
		size_t n = st_hook_plan(h, &plan);

		memset(p, 0, sizeof(*p));
		p->hook = h;
		if (a->datapath_off && h >= ST_HOOK_OVS_IN) {
			snprintf(p->reason, sizeof(p->reason), "the real program did not load on "
				 "this kernel although its probe attached (verifier log above); "
				 "datapath hooks off, host-stack hooks only");
			n = 0;	/* nothing tried; every variant's autoload goes off below */
		}
		for (size_t i = 0; i < n; i++) {
			struct bpf_program *prog = alt_prog(a->skel, h, plan[i].method);
			char why[256] = "";

			if (!prog || (a->cfg.force_method && strcmp(a->cfg.force_method, plan[i].method)))
				continue;
			if (!p->method && st_probe_attach_sym(plan[i].method, plan[i].target, p->symbol,
							      sizeof(p->symbol), why, sizeof(why)) == 0) {
				p->method = plan[i].method;
				p->target = plan[i].target;
				continue;
			}
			if (!p->method)
				reason_add(p, why);
		}
		/* Exactly the chosen variant loads; every other stays out. */
		n = st_hook_plan(h, &plan);
		for (size_t i = 0; i < n; i++) {
			struct bpf_program *prog = alt_prog(a->skel, h, plan[i].method);

			if (prog)
				bpf_program__set_autoload(prog, p->method &&
							  !strcmp(p->method, plan[i].method));
		}
		if (a->cfg.force_method && !p->method && !p->reason[0])
			snprintf(p->reason, sizeof(p->reason), "not in this hook's plan: %s",
				 a->cfg.force_method);
		p->status = p->method ? "planned" : "unavailable";
		if (p->method)
			usable++;
		else
			pr_warn("stage hook %s unavailable: %s", st_hook_name(h), p->reason);
	}
	return usable ? 0 : -ENOENT;
}

int st_attach_all(struct st_agent *a)
{
	int attached = 0;

	for (unsigned h = 1; h < ST_HOOK_MAX; h++) {
		struct st_probe *p = &a->probes[h];
		struct bpf_program *prog;
		struct bpf_link *l;

		if (!p->method)
			continue;
		prog = alt_prog(a->skel, h, p->method);
		/* A kprobe goes to the symbol the probe found (maybe a clone);
		 * every other method's target is in its section name. */
		if (!strcmp(p->method, "kprobe") || !strcmp(p->method, "kretprobe"))
			l = bpf_program__attach_kprobe(prog, p->method[1] == 'r', p->symbol);
		else
			l = bpf_program__attach(prog);
		if (!l) {
			p->status = "failed";
			snprintf(p->reason, sizeof(p->reason), "%s %s: attach failed: %s",
				 p->method, p->symbol, strerror(errno));
			pr_warn("stage hook %s: %s", st_hook_name(h), p->reason);
			continue;
		}
		/* The skeleton owns links it created through its own array;
		 * these are ours, destroyed with the process. */
		p->status = "attached";
		attached++;
	}
	return attached ? 0 : -ENOENT;
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
	printf("%-20s %-10s %-28s %-10s %s\n", "HOOK", "METHOD", "SYMBOL", "STATUS", "REASON");
	for (unsigned h = 1; h < ST_HOOK_MAX; h++) {
		const struct st_probe *p = &a->probes[h];

		printf("%-20s %-10s %-28s %-10s %s\n", st_hook_name(h),
		       p->method ? p->method : "-", p->method ? p->symbol : "-", p->status,
		       p->reason);
	}
}
