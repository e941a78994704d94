/* SPDX-License-Identifier: MIT */
/*
 * The BPF object of bpf/virt_kvm.bpf.c as both of its commands use it:
 * `stagetrace virt kvm` (irqfd injections per VM and GSI) and
 * `stagetrace latency --path tap-to-irq` (tap -> vhost RX -> irqfd path).
 *
 * Every kernel function is an optional hook with an attach plan (fentry
 * or fexit first, then kprobe or kretprobe, tried by real load); the two
 * KVM tracepoints go tp_btf -> raw_tp. A hook this kernel lacks is turned
 * off and reported with the reason; the command decides which hooks it
 * cannot do without. Everything here is shared so that the two commands
 * load, describe and count the same way.
 */
#ifndef ST_CLI_VIRT_KVM_H
#define ST_CLI_VIRT_KVM_H

#include <bpf/libbpf.h>
#include <json-c/json.h>
#include <stdint.h>

#include "bpf/virt_kvm.h"
#include "localrun.h"

/* Function hooks, in the order of the plan table (cli/virt_kvm_bpf.c). */
enum st_kvm_hook {
	ST_KH_EVFD_MASK = 0,	/* eventfd_signal_mask */
	ST_KH_EVFD,		/* eventfd_signal (6.7 and older) */
	ST_KH_EVFD_WRITE,	/* eventfd_write (a process writes) */
	ST_KH_WAKEUP,		/* irqfd_wakeup */
	ST_KH_INATOMIC,		/* kvm_arch_set_irq_inatomic (return) */
	ST_KH_INJECT,		/* irqfd_inject (deferred) */
	ST_KH_NKVM,		/* hooks of `virt kvm` end here */
	ST_KH_TUN_XMIT = ST_KH_NKVM,	/* path: tun_net_xmit */
	ST_KH_HANDLE_RX,	/* path: handle_rx */
	ST_KH_USED,		/* path: vhost_add_used_and_signal_n */
	ST_KH_MAX,
};

#define ST_KVM_NTP 2	/* kvm_set_irq, kvm_msi_set_irq */

struct virt_kvm_bpf;

struct st_kvm_bpf {
	struct virt_kvm_bpf *skel;
	struct st_local_hook hooks[ST_KH_MAX];
	size_t nhooks;			/* ST_KH_NKVM, or ST_KH_MAX in path mode */
	const char *tp_method[ST_KVM_NTP];	/* NULL: unavailable */
	char tp_why[ST_KVM_NTP][400];
	struct bpf_link *tp_links[ST_KVM_NTP];
	struct ring_buffer *rb;
	int ncpus;
	uint64_t counters[ST_KC_MAX];	/* totals read so far */
};

extern const char *const st_kvm_counter_names[ST_KC_MAX];
extern const char *const st_kvm_tp_names[ST_KVM_NTP];

/*
 * Open, plan, load, configure and attach; events go to fn(ctx, ...).
 * path: also the tap/vhost hooks. family: NULL (plan order), "fentry"
 * (fentry/fexit only) or "kprobe" (kprobe/kretprobe only). Returns 0 or
 * ST_EXIT_FAIL after a one-line error (hooks that are merely unavailable
 * are not errors).
 */
int st_kvm_bpf_open(struct st_kvm_bpf *k, const struct st_kvm_cfg *cfg, int path,
		    const char *family, ring_buffer_sample_fn fn, void *ctx);
/* 0, or ST_EXIT_USAGE after a one-line error for a family other than
 * fentry or kprobe (NULL: not given). */
int st_kvm_family_check(const char *cmd, const char *family);
/* Is function hook h attached? */
int st_kvm_hook_ok(const struct st_kvm_bpf *k, enum st_kvm_hook h);
/* "  hook NAME: method symbol | unavailable: why" lines, to stderr. */
void st_kvm_bpf_describe(const struct st_kvm_bpf *k);
/* The same as a JSON array (function hooks, then tracepoints). */
json_object *st_kvm_bpf_hooks_json(const struct st_kvm_bpf *k);
/* Counter increments since the last call into delta[]. */
void st_kvm_bpf_counters(struct st_kvm_bpf *k, uint64_t delta[ST_KC_MAX]);
void st_kvm_bpf_close(struct st_kvm_bpf *k);
/* --check-hooks: every alternative through the verifier; exit status. */
int st_kvm_bpf_check(int path, int json);

#endif /* ST_CLI_VIRT_KVM_H */
