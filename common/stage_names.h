/* SPDX-License-Identifier: MIT */
/*
 * Stage names.
 *
 * BPF stamps carry (hook, device role); this module names the stage an
 * operator reads. A stage's time is the interval that ENDS at its stamp:
 * "nic_tx = 1.2 us" means 1.2 us passed between the previous stamp and the
 * packet reaching the uplink driver (net_dev_start_xmit), which is the
 * uplink's queueing time. Cross-host intervals are the pseudo-stage "wire";
 * "total" is first stamp to last; "vm_turnaround" is how long the
 * destination VM took to answer (request delivered -> reply sent).
 *
 * Stage ids on the wire are hook * ST_ROLE_MAX + role: stable, and new
 * hooks or roles add ids without renumbering old ones. Pseudo-stages use
 * ids from ST_STAGE_PSEUDO_BASE.
 */
#ifndef ST_STAGE_NAMES_H
#define ST_STAGE_NAMES_H

#include <stddef.h>
#include <stdint.h>
#include "attach_probe.h"
#include "../bpf/stages.h"

#define ST_STAGE_PSEUDO_BASE 1000
enum st_pseudo_stage {
	ST_STAGE_WIRE = ST_STAGE_PSEUDO_BASE,
	ST_STAGE_TOTAL,
	ST_STAGE_TURNAROUND,
};

uint32_t st_stage_id(unsigned hook, unsigned role);
/* Name of a stage id; NULL for ids this build does not know. */
const char *st_stage_name(uint32_t id);
const char *st_hook_name(unsigned hook);
/* The tracepoint (category, event) behind a hook; NULL for hooks that
 * are kernel functions with no tracepoint in their plan. */
const char *st_hook_tracepoint(unsigned hook, const char **category);
/*
 * The attach plan of a hook: alternatives in order of preference, each a
 * (method, target) pair as common/attach_probe.h takes them. Returns how
 * many; *alts points into a static table.
 */
size_t st_hook_plan(unsigned hook, const struct st_attach_alt **alts);
/* The BPF program implementing a method of a hook in bpf/stages.bpf.c is
 * named "<prefix>_<hook program name>"; both parts, from here. */
const char *st_hook_prog(unsigned hook);
const char *st_method_prog_prefix(const char *method);
const char *st_role_name(unsigned role);
const char *st_end_name(unsigned end);

#endif /* ST_STAGE_NAMES_H */
