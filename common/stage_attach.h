/* SPDX-License-Identifier: MIT */
/*
 * Loading the stage programs (bpf/stages.bpf.c) the same way everywhere:
 * the agent and `stagetrace latency` both plan, attach and sweep through
 * here, so a local measurement and a distributed one see the same hooks.
 *
 * Plan: every hook has an ordered list of (method, target) alternatives
 * (common/stage_names.c). Each is tried by really loading and attaching a
 * two-instruction program on the running kernel (common/attach_probe.c);
 * the first that works is kept with the symbol it really attached to, and
 * why every earlier one failed is remembered. The chosen variant of the
 * real program ("<method>_<hook>") is autoloaded, every other variant is
 * switched off, so one BPF object serves every kernel. A hook whose every
 * method fails is "unavailable" with its reason; the caller keeps running.
 *
 * Sweep: a host path whose end the BPF side never saw (the packet left
 * through an untraced hook) is taken out of the paths map once its last
 * stamp is older than a limit, and handed to the caller as a timeout, so
 * every started path is accounted for.
 */
#ifndef ST_STAGE_ATTACH_H
#define ST_STAGE_ATTACH_H

#include <stddef.h>
#include <stdint.h>

#include "../bpf/stages.h"

struct bpf_object;
struct bpf_link;

/* Per-hook attach result, as `stagetrace probes` reports it. */
struct st_probe {
	unsigned hook;
	const char *method;	/* "fentry", "kprobe", "tp_btf", "raw_tp" ... or NULL */
	const char *target;	/* the plan's target of that method */
	char symbol[128];	/* what was attached (a kprobe may take a clone) */
	const char *status;	/* "attached", "unavailable", "failed" */
	char reason[512];	/* why each earlier alternative failed */
	struct bpf_link *link;	/* set by st_stage_attach; NULL otherwise */
};

/*
 * Before load: fill probes[1..ST_HOOK_MAX) with each hook's chosen method
 * and set the autoload of every variant in obj. force_method (may be NULL)
 * limits every plan to that method; datapath_off plans no datapath hook
 * (OVS, bridge, vhost) and says why. Returns 0, or -ENOENT when no hook
 * has a usable method.
 */
int st_stage_plan(struct bpf_object *obj, struct st_probe *probes, const char *force_method,
		  int datapath_off);
/*
 * After load: attach every planned hook. A hook that fails here becomes
 * "failed" with its reason. Returns 0 when at least one hook attached.
 */
int st_stage_attach(struct bpf_object *obj, struct st_probe *probes);
/* Destroy the links st_stage_attach made (the object stays). */
void st_stage_detach(struct st_probe *probes);

/*
 * How many times the kernel skipped a loaded program of obj because the
 * same program was already running on that CPU (an event in softirq that
 * interrupted the program in process context): bpf_prog_info's
 * recursion_misses, summed. Each is a stamp the BPF side never saw.
 */
uint64_t st_stage_misses(struct bpf_object *obj);

/*
 * Take every path of the paths map (fd) whose last stamp is more than
 * limit_ns older than now_ns out of the map (at most 512 per call) and
 * pass it to cb with end = ST_END_TIMEOUT. Returns how many.
 */
size_t st_stage_sweep(int paths_fd, uint64_t now_ns, uint64_t limit_ns,
		      void (*cb)(struct st_path *p, void *ctx), void *ctx);

#endif /* ST_STAGE_ATTACH_H */
