// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * KVM irqfd interrupt injection, and the vhost-net RX path that leads to
 * it (bpf/virt_kvm.h draws the kernel path).
 *
 * Every kernel function is hooked twice, an fentry (fexit) and a kprobe
 * (kretprobe) program around one static helper; user space tries the
 * attach plan by real load and turns every variant but the winner off, so
 * one object serves every kernel and a hook this kernel lacks is reported,
 * not fatal. kvm:kvm_set_irq and kvm:kvm_msi_set_irq are counted through
 * tp_btf or raw_tp as a cross-check of what KVM did.
 *
 * State between hooks is per task (the signal, the wakeup and the inline
 * injection run in one task, synchronously) or per irqfd (a deferred
 * injection runs later in a kworker). The irqfd is found from the wait
 * queue entry or work item KVM embeds in struct kvm_kernel_irqfd, with
 * CO-RE offsets of the running kernel (module BTF of kvm.ko): no offset is
 * compiled in.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#include "netdev.bpf.h"
#include "virt_kvm.h"
#include "vhost_kvm.bpf.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define ST_EWOULDBLOCK 11

/* The few fields we read, as CO-RE flavours: libbpf matches them by name
 * (suffix stripped) against the kernel's or kvm.ko's / tun.ko's /
 * vhost.ko's BTF. The vhost and irqfd ones are shared with the agent's
 * stages (bpf/vhost_kvm.bpf.h); the others are this tool's own. */
struct file___st {
	void *private_data;
} __attribute__((preserve_access_index));

struct tun_file___st {
	struct socket socket;
} __attribute__((preserve_access_index));

struct tun_struct___st {
	struct tun_file___st *tfiles[256];
} __attribute__((preserve_access_index));

const volatile __u32 st_kvm_unused;	/* keeps .rodata for future knobs */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct st_kvm_cfg);
} kvm_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ST_KVM_MAX_KEYS);
	__type(key, struct st_kvm_key);
	__type(value, struct st_kvm_val);
} kvm_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ST_KC_MAX);
	__type(key, __u32);
	__type(value, __u64);
} kvm_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} kvm_events SEC(".maps");

/* tid -> when this task last signalled an eventfd, and which. */
struct st_kvm_sig {
	__u64 ts;
	__u64 ctx;
};
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct st_kvm_sig);
} kvm_sig SEC(".maps");

/* An irqfd wakeup waiting for its injection: per task while inline is
 * possible, then per irqfd once deferred to the kworker. */
struct st_kvm_wake {
	struct st_kvm_key key;
	__u64 irqfd;
	__u64 t_signal;
	__u64 t_wake;
};
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct st_kvm_wake);
} kvm_wake_tid SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct st_kvm_wake);
} kvm_wake_irqfd SEC(".maps");

/* Path mode: tid -> the RX virtqueue handle_rx works on, and the call
 * eventfd the last vhost_add_used_and_signal_n of that queue will signal. */
struct st_kvm_rx {
	__u64 vq;
	__u64 call;
};
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct st_kvm_rx);
} kvm_rx_tid SEC(".maps");

static __always_inline void kc_count(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&kvm_counters, &idx);

	if (c)
		*c += 1;
}

static __always_inline struct st_kvm_cfg *kvm_cfg_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&kvm_cfg, &zero);
}

static __always_inline __u32 cur_tid(void)
{
	return (__u32)bpf_get_current_pid_tgid();
}

/* Reserve an event with the common fields filled; NULL counts the loss. */
static __always_inline struct st_kvm_event *ev_new(__u32 kind, __u64 now)
{
	struct st_kvm_event *e = bpf_ringbuf_reserve(&kvm_events, sizeof(*e), 0);
	__u64 pt = bpf_get_current_pid_tgid();

	if (!e) {
		kc_count(ST_KC_RINGBUF_FULL);
		return NULL;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->ts = now;
	e->kind = kind;
	e->tid = (__u32)pt;
	e->pid = pt >> 32;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	return e;
}

/* Add to one column of a (VM, GSI) row; a new row starts at zero. */
static __always_inline struct st_kvm_val *kv_row(const struct st_kvm_key *k)
{
	struct st_kvm_val *v = bpf_map_lookup_elem(&kvm_counts, k), zero = {};

	if (v)
		return v;
	bpf_map_update_elem(&kvm_counts, k, &zero, BPF_NOEXIST);
	v = bpf_map_lookup_elem(&kvm_counts, k);
	if (!v)
		kc_count(ST_KC_MAP_FULL);
	return v;
}

/* ---- eventfd: who signalled, when ---------------------------------------- */

static __always_inline int kvm_signal(__u64 ctx)
{
	struct st_kvm_cfg *c = kvm_cfg_get();
	struct st_kvm_sig s = { .ts = bpf_ktime_get_ns(), .ctx = ctx };
	__u32 tid = cur_tid();
	struct st_kvm_rx *rx;
	struct st_kvm_event *e;

	bpf_map_update_elem(&kvm_sig, &tid, &s, BPF_ANY);
	if (!c || !(c->flags & ST_KF_PATH))
		return 0;
	/* Path mode: only the call eventfd of the RX queue this worker just
	 * completed buffers on is part of the path. */
	rx = bpf_map_lookup_elem(&kvm_rx_tid, &tid);
	if (!rx || rx->call != ctx)
		return 0;
	e = ev_new(ST_KE_SIGNAL, s.ts);
	if (!e)
		return 0;
	e->obj = ctx;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* eventfd_signal_mask(ctx, n, mask) on 6.1; (ctx, mask) on 6.8+ */
SEC("fentry/eventfd_signal_mask")
int fentry_evfd_mask(__u64 *ctx)
{
	__u64 a = 0;

	bpf_get_func_arg(ctx, 0, &a);
	return kvm_signal(a);
}

SEC("kprobe/eventfd_signal_mask")
int kprobe_evfd_mask(struct pt_regs *ctx)
{
	return kvm_signal(PT_REGS_PARM1(ctx));
}

/* eventfd_signal(ctx, n): the exported wrapper up to 6.7. */
SEC("fentry/eventfd_signal")
int fentry_evfd(__u64 *ctx)
{
	__u64 a = 0;

	bpf_get_func_arg(ctx, 0, &a);
	return kvm_signal(a);
}

SEC("kprobe/eventfd_signal")
int kprobe_evfd(struct pt_regs *ctx)
{
	return kvm_signal(PT_REGS_PARM1(ctx));
}

/* eventfd_write(file, buf, count, ppos): a process writing the eventfd
 * (qemu's own notifications, tests). The eventfd is file->private_data. */
static __always_inline int kvm_write(struct file___st *f)
{
	return kvm_signal((__u64)BPF_CORE_READ(f, private_data));
}

SEC("fentry/eventfd_write")
int fentry_evfd_write(__u64 *ctx)
{
	__u64 a = 0;

	bpf_get_func_arg(ctx, 0, &a);
	return kvm_write((struct file___st *)a);
}

SEC("kprobe/eventfd_write")
int kprobe_evfd_write(struct pt_regs *ctx)
{
	return kvm_write((struct file___st *)PT_REGS_PARM1(ctx));
}

/* ---- irqfd_wakeup: the eventfd fired into KVM ----------------------------- */

static __always_inline int kvm_wakeup(__u64 wait, __u64 key)
{
	struct st_kvm_cfg *c = kvm_cfg_get();
	struct kvm_kernel_irqfd___st *irqfd;
	struct st_kvm_wake w = {};
	struct st_kvm_sig *s;
	struct st_kvm_val *v;
	struct st_kvm_event *e;
	__u32 tid = cur_tid();

	if (!c)
		return 0;
	if (key & ST_EPOLLHUP)
		kc_count(ST_KC_HUP);
	if (!(key & ST_EPOLLIN))
		return 0;
	kc_count(ST_KC_WAKEUPS);
	/* container_of(wait, struct kvm_kernel_irqfd, wait), CO-RE offset. */
	irqfd = st_irqfd_of_wait(wait);
	w.key.gsi = BPF_CORE_READ(irqfd, gsi);
	w.key.eventfd = (__u64)BPF_CORE_READ(irqfd, eventfd);
	if (bpf_core_field_exists(struct kvm___st, userspace_pid))
		w.key.vm_pid = BPF_CORE_READ(irqfd, kvm, userspace_pid);
	if ((c->flags & ST_KF_PID) && w.key.vm_pid != c->pid) {
		kc_count(ST_KC_FILTERED);
		return 0;
	}
	w.irqfd = (__u64)irqfd;
	w.t_wake = bpf_ktime_get_ns();
	s = bpf_map_lookup_elem(&kvm_sig, &tid);
	if (s && s->ctx == w.key.eventfd)
		w.t_signal = s->ts;
	else
		kc_count(ST_KC_NO_SIGNAL);
	v = kv_row(&w.key);
	if (v)
		__sync_fetch_and_add(&v->wakeups, 1);
	if (bpf_map_update_elem(&kvm_wake_tid, &tid, &w, BPF_ANY))
		kc_count(ST_KC_MAP_FULL);
	if (!(c->flags & ST_KF_PATH))
		return 0;
	e = ev_new(ST_KE_WAKE, w.t_wake);
	if (!e)
		return 0;
	e->obj = w.irqfd;
	e->eventfd = w.key.eventfd;
	e->t_signal = w.t_signal;
	e->vm_pid = w.key.vm_pid;
	e->gsi = w.key.gsi;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

ST_IRQFD_WAKEUP_PROGS(fentry_irqfd_wake, kprobe_irqfd_wake, kvm_wakeup)

/* ---- the injection: inline, or deferred to irqfd_inject ------------------- */

static __always_inline void inject_event(const struct st_kvm_wake *w, __u64 now,
					 __u32 how, __s32 ret)
{
	struct st_kvm_event *e = ev_new(ST_KE_INJECT, now);

	if (!e)
		return;
	e->obj = w->irqfd;
	e->eventfd = w->key.eventfd;
	e->t_signal = w->t_signal;
	e->t_wake = w->t_wake;
	e->vm_pid = w->key.vm_pid;
	e->gsi = w->key.gsi;
	e->count = how;
	e->ret = ret;
	bpf_ringbuf_submit(e, 0);
}

/* kvm_arch_set_irq_inatomic returned: delivered, or -EWOULDBLOCK. */
static __always_inline int kvm_inatomic_ret(__s32 ret)
{
	__u32 tid = cur_tid();
	struct st_kvm_wake *w = bpf_map_lookup_elem(&kvm_wake_tid, &tid), cp;
	struct st_kvm_val *v;

	if (!w)
		return 0;	/* not under irqfd_wakeup (or another VM) */
	cp = *w;
	bpf_map_delete_elem(&kvm_wake_tid, &tid);
	v = kv_row(&cp.key);
	if (ret == -ST_EWOULDBLOCK) {
		if (bpf_map_update_elem(&kvm_wake_irqfd, &cp.irqfd, &cp, BPF_NOEXIST)) {
			/* The work is already queued: schedule_work() merges. */
			if (v)
				__sync_fetch_and_add(&v->coalesced, 1);
			bpf_map_update_elem(&kvm_wake_irqfd, &cp.irqfd, &cp, BPF_ANY);
		}
		return 0;
	}
	if (v) {
		if (ret < 0)
			__sync_fetch_and_add(&v->inline_fail, 1);
		else
			__sync_fetch_and_add(&v->inline_inj, 1);
	}
	inject_event(&cp, bpf_ktime_get_ns(), 1, ret);
	return 0;
}

SEC("fexit/kvm_arch_set_irq_inatomic")
int fexit_set_inatomic(__u64 *ctx)
{
	__u64 ret = 0;

	bpf_get_func_ret(ctx, &ret);
	return kvm_inatomic_ret((__s32)ret);
}

SEC("kretprobe/kvm_arch_set_irq_inatomic")
int kretprobe_set_inatomic(struct pt_regs *ctx)
{
	return kvm_inatomic_ret((__s32)PT_REGS_RC(ctx));
}

/* irqfd_inject(work): the kworker injects a deferred interrupt. */
static __always_inline int kvm_inject_work(__u64 work)
{
	__u64 irqfd = work - bpf_core_field_offset(struct kvm_kernel_irqfd___st, inject);
	struct st_kvm_wake *w = bpf_map_lookup_elem(&kvm_wake_irqfd, &irqfd), cp;
	struct st_kvm_val *v;

	if (!w) {
		kc_count(ST_KC_INJECT_UNMATCHED);
		return 0;
	}
	cp = *w;
	bpf_map_delete_elem(&kvm_wake_irqfd, &irqfd);
	v = kv_row(&cp.key);
	if (v)
		__sync_fetch_and_add(&v->deferred, 1);
	inject_event(&cp, bpf_ktime_get_ns(), 2, 0);
	return 0;
}

SEC("fentry/irqfd_inject")
int fentry_irqfd_inject(__u64 *ctx)
{
	__u64 a = 0;

	bpf_get_func_arg(ctx, 0, &a);
	return kvm_inject_work(a);
}

SEC("kprobe/irqfd_inject")
int kprobe_irqfd_inject(struct pt_regs *ctx)
{
	return kvm_inject_work(PT_REGS_PARM1(ctx));
}

/* ---- KVM's own tracepoints, as a cross-check ------------------------------ */

SEC("tp_btf/kvm_set_irq")
int btf_kvm_set_irq(__u64 *ctx)
{
	kc_count(ST_KC_TP_SET_IRQ);
	return 0;
}

SEC("raw_tp/kvm_set_irq")
int raw_kvm_set_irq(__u64 *ctx)
{
	kc_count(ST_KC_TP_SET_IRQ);
	return 0;
}

SEC("tp_btf/kvm_msi_set_irq")
int btf_kvm_msi_set_irq(__u64 *ctx)
{
	kc_count(ST_KC_TP_MSI);
	return 0;
}

SEC("raw_tp/kvm_msi_set_irq")
int raw_kvm_msi_set_irq(__u64 *ctx)
{
	kc_count(ST_KC_TP_MSI);
	return 0;
}

/* Path mode (latency --path tap-to-irq): tun, vhost-net. */
#include "virt_kvm_path.bpf.h"
