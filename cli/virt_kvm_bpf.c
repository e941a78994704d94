// SPDX-License-Identifier: MIT
/*
 * Loading bpf/virt_kvm.bpf.c for `virt kvm` and `latency --path
 * tap-to-irq` (cli/virt_kvm.h explains the split). The plan of each
 * function hook is fentry (fexit for a return value) then kprobe
 * (kretprobe), except the two kvm.ko functions explained in hooks_init();
 * eventfd signalling has three entry points, because the
 * exported eventfd_signal() became a wrapper of eventfd_signal_mask() in
 * 6.8 and a process writing the eventfd goes through eventfd_write(), so
 * each is its own optional hook and any subset that exists is used.
 */
#include <bpf/bpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "local.h"
#include "log.h"
#include "opts.h"
#include "virt_kvm.h"
#include "virt_kvm.skel.h"

const char *const st_kvm_counter_names[ST_KC_MAX] = {
	[ST_KC_WAKEUPS] = "irqfd_wakeups",
	[ST_KC_HUP] = "irqfd_hangups",
	[ST_KC_FILTERED] = "filtered_vm",
	[ST_KC_NO_SIGNAL] = "wakeups_without_signal_stamp",
	[ST_KC_INJECT_UNMATCHED] = "inject_unmatched",
	[ST_KC_TP_SET_IRQ] = "tp_kvm_set_irq",
	[ST_KC_TP_MSI] = "tp_kvm_msi_set_irq",
	[ST_KC_MAP_FULL] = "lost_map_full",
	[ST_KC_RINGBUF_FULL] = "lost_events",
};

const char *const st_kvm_tp_names[ST_KVM_NTP] = { "kvm_set_irq", "kvm_msi_set_irq" };

#define FN_HOOK(idx, nm, fn, pfx, alt_fentry, alt_kprobe)                       \
	h[idx] = (struct st_local_hook){                                        \
		.name = nm, .n = 2,                                             \
		.alts = { { #alt_fentry, fn }, { #alt_kprobe, fn } },           \
		.prog = { s->progs.alt_fentry##_##pfx, s->progs.alt_kprobe##_##pfx }, \
	}

/* The plan table: one entry per enum st_kvm_hook. */
static void hooks_init(struct virt_kvm_bpf *s, struct st_local_hook *h)
{
	FN_HOOK(ST_KH_EVFD_MASK, "eventfd_signal_mask", "eventfd_signal_mask", evfd_mask,
		fentry, kprobe);
	FN_HOOK(ST_KH_EVFD, "eventfd_signal", "eventfd_signal", evfd, fentry, kprobe);
	FN_HOOK(ST_KH_EVFD_WRITE, "eventfd_write", "eventfd_write", evfd_write, fentry, kprobe);
	/*
	 * kvm.ko's static irqfd_wakeup and irqfd_inject, called through
	 * function pointers from the wait queue and the workqueue: on
	 * Debian's 6.12 (kernel matrix) an fentry program attaches to
	 * irqfd_wakeup and is never run (0 runs for 5 wakeups, while the
	 * kprobe ran 6 times and fexit on kvm_arch_set_irq_inatomic, which
	 * irqfd_wakeup calls, ran 5), so these two try kprobe first.
	 */
	FN_HOOK(ST_KH_WAKEUP, "irqfd_wakeup", "irqfd_wakeup", irqfd_wake, kprobe, fentry);
	FN_HOOK(ST_KH_INATOMIC, "kvm_arch_set_irq_inatomic", "kvm_arch_set_irq_inatomic",
		set_inatomic, fexit, kretprobe);
	FN_HOOK(ST_KH_INJECT, "irqfd_inject", "irqfd_inject", irqfd_inject, kprobe, fentry);
	FN_HOOK(ST_KH_TUN_XMIT, "tun_net_xmit", "tun_net_xmit", tun_xmit, fentry, kprobe);
	FN_HOOK(ST_KH_HANDLE_RX, "handle_rx", "handle_rx", handle_rx, fentry, kprobe);
	FN_HOOK(ST_KH_USED, "vhost_add_used_and_signal_n", "vhost_add_used_and_signal_n",
		used_signal, fentry, kprobe);
}

int st_kvm_family_check(const char *cmd, const char *family)
{
	if (!family || !strcmp(family, "fentry") || !strcmp(family, "kprobe"))
		return 0;
	fprintf(stderr, "error: %s: --method must be fentry or kprobe, not '%s'\n", cmd, family);
	return ST_EXIT_USAGE;
}

int st_kvm_hook_ok(const struct st_kvm_bpf *k, enum st_kvm_hook h)
{
	return (size_t)h < k->nhooks && k->hooks[h].attached;
}

/* Keep only the alternatives of one method family: "kprobe" keeps
 * kprobe/kretprobe, "fentry" keeps fentry/fexit. */
static void hooks_force(struct st_local_hook *h, size_t n, const char *family)
{
	int want_kprobe = !strcmp(family, "kprobe");

	for (size_t i = 0; i < n; i++) {
		size_t m = 0;

		for (size_t a = 0; a < h[i].n; a++) {
			int is_kp = strstr(h[i].alts[a].method, "probe") != NULL;

			if (is_kp != want_kprobe) {
				bpf_program__set_autoload(h[i].prog[a], false);
				continue;
			}
			h[i].alts[m] = h[i].alts[a];
			h[i].prog[m] = h[i].prog[a];
			m++;
		}
		h[i].n = m;
	}
}

int st_kvm_bpf_open(struct st_kvm_bpf *k, const struct st_kvm_cfg *cfg, int path,
		    const char *family, ring_buffer_sample_fn fn, void *ctx)
{
	uint32_t zero = 0;
	int err;

	k->ncpus = libbpf_num_possible_cpus();
	if (k->ncpus <= 0) {
		fprintf(stderr, "error: cannot count CPUs: %s\n", strerror(-k->ncpus));
		return ST_EXIT_FAIL;
	}
	k->skel = virt_kvm_bpf__open();
	if (!k->skel) {
		fprintf(stderr, "error: cannot open the virt_kvm BPF object: %s\n", strerror(errno));
		return ST_EXIT_FAIL;
	}
	hooks_init(k->skel, k->hooks);
	k->nhooks = path ? ST_KH_MAX : ST_KH_NKVM;
	if (family)
		hooks_force(k->hooks, ST_KH_MAX, family);
	/* Hooks outside this command's set stay out of the object. */
	for (size_t i = k->nhooks; i < ST_KH_MAX; i++)
		for (size_t a = 0; a < k->hooks[i].n; a++)
			bpf_program__set_autoload(k->hooks[i].prog[a], false);
	st_local_hooks_plan(k->hooks, k->nhooks);
	for (int t = 0; t < ST_KVM_NTP; t++)
		k->tp_method[t] = st_local_tp_select(k->skel->obj, st_kvm_tp_names[t], NULL,
						     k->tp_why[t], sizeof(k->tp_why[t]));
	err = virt_kvm_bpf__load(k->skel);
	if (err) {
		fprintf(stderr, "error: loading the virt_kvm BPF programs failed: %s\n",
			strerror(-err));
		return ST_EXIT_FAIL;
	}
	if (bpf_map_update_elem(bpf_map__fd(k->skel->maps.kvm_cfg), &zero, cfg, BPF_ANY)) {
		fprintf(stderr, "error: cannot configure the virt_kvm BPF programs: %s\n",
			strerror(errno));
		return ST_EXIT_FAIL;
	}
	k->rb = ring_buffer__new(bpf_map__fd(k->skel->maps.kvm_events), fn, ctx, NULL);
	if (!k->rb) {
		fprintf(stderr, "error: cannot open the virt_kvm event ring buffer: %s\n",
			strerror(errno));
		return ST_EXIT_FAIL;
	}
	for (int t = 0; t < ST_KVM_NTP; t++) {
		char name[64];
		struct bpf_program *p;

		if (!k->tp_method[t])
			continue;
		snprintf(name, sizeof(name), "%s_%s", strcmp(k->tp_method[t], "tp_btf") ? "raw" : "btf",
			 st_kvm_tp_names[t]);
		p = bpf_object__find_program_by_name(k->skel->obj, name);
		k->tp_links[t] = p ? bpf_program__attach(p) : NULL;
		if (!k->tp_links[t]) {
			snprintf(k->tp_why[t], sizeof(k->tp_why[t]), "%s: attaching the real program "
				 "failed: %s", k->tp_method[t], strerror(errno));
			k->tp_method[t] = NULL;
		}
	}
	st_local_hooks_attach(k->hooks, k->nhooks);
	return 0;
}

void st_kvm_bpf_describe(const struct st_kvm_bpf *k)
{
	char buf[900];

	for (size_t i = 0; i < k->nhooks; i++)
		fprintf(stderr, "  hook %s: %s\n", k->hooks[i].name,
			st_local_hook_status(&k->hooks[i], buf, sizeof(buf)));
	for (int t = 0; t < ST_KVM_NTP; t++)
		fprintf(stderr, "  tracepoint kvm:%s: %s%s\n", st_kvm_tp_names[t],
			k->tp_method[t] ? k->tp_method[t] : "unavailable: ",
			k->tp_method[t] ? "" : k->tp_why[t]);
}

json_object *st_kvm_bpf_hooks_json(const struct st_kvm_bpf *k)
{
	json_object *arr = st_local_hooks_json(k->hooks, k->nhooks);

	for (int t = 0; arr && t < ST_KVM_NTP; t++) {
		json_object *o = json_object_new_object();
		char nm[64];

		snprintf(nm, sizeof(nm), "kvm:%s", st_kvm_tp_names[t]);
		json_object_object_add(o, "hook", json_object_new_string(nm));
		json_object_object_add(o, "status", json_object_new_string(
			k->tp_method[t] ? "available" : "unavailable"));
		json_object_object_add(o, "method", k->tp_method[t] ?
				       json_object_new_string(k->tp_method[t]) : NULL);
		json_object_object_add(o, "reason", json_object_new_string(
			k->tp_method[t] ? "" : k->tp_why[t]));
		json_object_array_add(arr, o);
	}
	return arr;
}

void st_kvm_bpf_counters(struct st_kvm_bpf *k, uint64_t delta[ST_KC_MAX])
{
	int fd = bpf_map__fd(k->skel->maps.kvm_counters);

	for (uint32_t i = 0; i < ST_KC_MAX; i++) {
		uint64_t sum = st_local_percpu_sum(fd, i, k->ncpus);

		delta[i] = sum - k->counters[i];
		k->counters[i] = sum;
	}
}

void st_kvm_bpf_close(struct st_kvm_bpf *k)
{
	st_local_hooks_destroy(k->hooks, k->nhooks);
	for (int t = 0; t < ST_KVM_NTP; t++)
		bpf_link__destroy(k->tp_links[t]);
	ring_buffer__free(k->rb);
	virt_kvm_bpf__destroy(k->skel);
	memset(k, 0, sizeof(*k));
}

/* ---- --check-hooks ------------------------------------------------------- */

static int check_path;

static void *ops_open(void) { return virt_kvm_bpf__open(); }
static struct bpf_object *ops_obj(void *s) { return ((struct virt_kvm_bpf *)s)->obj; }
static int ops_load(void *s) { return virt_kvm_bpf__load(s); }
static void ops_destroy(void *s) { virt_kvm_bpf__destroy(s); }
static void ops_init(void *s, struct st_local_hook *h) { hooks_init(s, h); }

int st_kvm_bpf_check(int path, int json)
{
	static const struct st_hook_object_ops ops = {
		ops_open, ops_obj, ops_load, ops_destroy, ops_init,
	};

	check_path = path;
	return st_local_hooks_check(&ops, check_path ? ST_KH_MAX : ST_KH_NKVM, json);
}
