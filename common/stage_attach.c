// SPDX-License-Identifier: MIT
/*
 * Planning, attaching and sweeping the stage programs; see stage_attach.h.
 * Moved here from agent/attach.c unchanged in behaviour so that the local
 * `stagetrace latency` command loads the agent's programs the agent's way.
 */
#include "stage_attach.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "attach_probe.h"
#include "log.h"
#include "stage_names.h"

/* The program of one alternative of a hook, or NULL if the object has none. */
static struct bpf_program *alt_prog(struct bpf_object *obj, unsigned hook, const char *method)
{
	const char *pfx = st_method_prog_prefix(method), *prog = st_hook_prog(hook);
	char name[64];

	if (!pfx || !prog)
		return NULL;
	snprintf(name, sizeof(name), "%s_%s", pfx, prog);
	return bpf_object__find_program_by_name(obj, name);
}

static void reason_add(struct st_probe *p, const char *what)
{
	size_t used = strlen(p->reason);

	snprintf(p->reason + used, sizeof(p->reason) - used, "%s%s", used ? "; " : "", what);
}

int st_stage_plan(struct bpf_object *obj, struct st_probe *probes, const char *force_method,
		  int datapath_off)
{
	int usable = 0;

	for (unsigned h = 1; h < ST_HOOK_MAX; h++) {
		struct st_probe *p = &probes[h];
		const struct st_attach_alt *plan;
		size_t n = st_hook_plan(h, &plan);

		memset(p, 0, sizeof(*p));
		p->hook = h;
		if (datapath_off && h >= ST_HOOK_OVS_IN) {
			snprintf(p->reason, sizeof(p->reason), "the real program did not load on "
				 "this kernel although its probe attached (verifier log above); "
				 "datapath hooks off, host-stack hooks only");
			n = 0;	/* nothing tried; every variant's autoload goes off below */
		}
		for (size_t i = 0; i < n; i++) {
			struct bpf_program *prog = alt_prog(obj, h, plan[i].method);
			char why[256] = "";

			if (!prog || (force_method && strcmp(force_method, plan[i].method)))
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
			struct bpf_program *prog = alt_prog(obj, h, plan[i].method);

			if (prog)
				bpf_program__set_autoload(prog, p->method &&
							  !strcmp(p->method, plan[i].method));
		}
		if (force_method && !p->method && !p->reason[0])
			snprintf(p->reason, sizeof(p->reason), "not in this hook's plan: %s",
				 force_method);
		p->status = p->method ? "planned" : "unavailable";
		if (p->method)
			usable++;
		else
			pr_warn("stage hook %s unavailable: %s", st_hook_name(h), p->reason);
	}
	return usable ? 0 : -ENOENT;
}

int st_stage_attach(struct bpf_object *obj, struct st_probe *probes)
{
	int attached = 0;

	for (unsigned h = 1; h < ST_HOOK_MAX; h++) {
		struct st_probe *p = &probes[h];
		struct bpf_program *prog;
		struct bpf_link *l;

		if (!p->method)
			continue;
		prog = alt_prog(obj, h, p->method);
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
		p->link = l;
		p->status = "attached";
		attached++;
	}
	return attached ? 0 : -ENOENT;
}

void st_stage_detach(struct st_probe *probes)
{
	for (unsigned h = 1; h < ST_HOOK_MAX; h++) {
		bpf_link__destroy(probes[h].link);
		probes[h].link = NULL;
	}
}

uint64_t st_stage_misses(struct bpf_object *obj)
{
	struct bpf_program *prog;
	uint64_t sum = 0;

	bpf_object__for_each_program(prog, obj) {
		struct bpf_prog_info info;
		__u32 len = sizeof(info);
		int fd = bpf_program__fd(prog);

		memset(&info, 0, sizeof(info));
		if (fd >= 0 && !bpf_obj_get_info_by_fd(fd, &info, &len))
			sum += info.recursion_misses;
	}
	return sum;
}

size_t st_stage_sweep(int paths_fd, uint64_t now_ns, uint64_t limit_ns,
		      void (*cb)(struct st_path *p, void *ctx), void *ctx)
{
	uint64_t key, next, *prev = NULL;
	struct st_path p;
	uint64_t stale[512];
	size_t nstale = 0, done = 0;

	while (bpf_map_get_next_key(paths_fd, prev, &next) == 0 && nstale < 512) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(paths_fd, &key, &p))
			continue;
		if (p.nstamps == 0 || p.nstamps > ST_MAX_STAMPS)
			continue;
		if (now_ns > p.stamps[p.nstamps - 1].ts &&
		    now_ns - p.stamps[p.nstamps - 1].ts > limit_ns)
			stale[nstale++] = key;
	}
	for (size_t i = 0; i < nstale; i++) {
		if (bpf_map_lookup_elem(paths_fd, &stale[i], &p))
			continue;
		if (bpf_map_delete_elem(paths_fd, &stale[i]))
			continue;	/* the BPF side finished it meanwhile */
		p.end = ST_END_TIMEOUT;
		cb(&p, ctx);
		done++;
	}
	return done;
}
