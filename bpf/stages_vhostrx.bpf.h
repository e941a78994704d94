/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * vhost-net RX and KVM interrupt injection as stages: vhost_rx (the worker
 * hands the guest its buffers) and irq_inject (the guest is interrupted).
 * Included by bpf/stages.bpf.c after its maps, st_count and st_emit, before
 * st_stage_dev, which calls st_vhost_rx_hold for a VM's read.
 *
 * In the vhost worker thread handle_rx() loops: per packet, tun_recvmsg
 * copies it into the guest's buffer (skb_copy_datagram_iovec: vm_rx); every
 * VHOST_NET_BATCH packets and at the end, vhost_net_signal_used() calls
 * vhost_add_used_and_signal_n(), which publishes the used ring entries and,
 * unless the guest suppressed notifications, eventfd_signal()s the queue's
 * call eventfd; KVM's irqfd_wakeup() is a wait-queue callback of that
 * eventfd and runs synchronously in the same thread, injecting the MSI (or
 * deferring it to a kworker). Notification is per queue, not per packet,
 * so a path read in a worker is not emitted at vm_rx: its id waits in the
 * thread's pending set (opened at handle_rx's entry). The used-ring update
 * stamps vhost_rx on every pending path, an irqfd wakeup on that queue's
 * call eventfd stamps irq_inject (the irqfd's GSI as aux, the same time
 * for the whole batch) and emits them; handle_rx's exit emits whatever no
 * interrupt followed (guest suppressed it, or the eventfd has no irqfd
 * because qemu relays it), counted. The free of the skb tun_do_read does
 * right after the read (consume_skb) does not end a held path. A path is never held anywhere but in
 * the path map, so one a missing hook leaves pending still reaches user
 * space through the agent's sweep (as a timeout).
 */
#ifndef ST_BPF_STAGES_VHOSTRX_BPF_H
#define ST_BPF_STAGES_VHOSTRX_BPF_H

#include "vhost_kvm.bpf.h"

/* A worker signals at least every VHOST_NET_BATCH (64) packets. */
#define ST_VHOST_RX_PEND 64

struct st_vhost_rx_pend {
	__u64 ids[ST_VHOST_RX_PEND];	/* packet ids read, oldest first */
	__u64 call;		/* the RX queue's call eventfd at the last update */
	__u32 n;		/* ids held */
	__u32 nused;		/* the first nused carry vhost_rx */
};

/* Per vhost worker thread, between handle_rx's entry and its exit. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct st_vhost_rx_pend);
} vhost_rx_pend SEC(".maps");

/* An all-zero value to open a pending set with (too big for the stack). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct st_vhost_rx_pend);
} vhost_rx_zero SEC(".maps");

/* Called for vm_rx (a VM port's read): 1 if the path is now held for the
 * worker's signal, 0 if it is to be emitted now (not in a vhost worker's
 * handle_rx, or its pending set is full). */
static __always_inline int st_vhost_rx_hold(__u64 id)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct st_vhost_rx_pend *pd = bpf_map_lookup_elem(&vhost_rx_pend, &tid);
	__u32 n;

	if (!pd)
		return 0;
	n = pd->n;
	asm volatile("" : "+r"(n));
	if (n >= ST_VHOST_RX_PEND) {
		st_count(ST_C_VHOST_HOLD_FULL);
		return 0;
	}
	pd->ids[n] = id;
	pd->n = n + 1;
	st_count(ST_C_VHOST_HELD);
	return 1;
}

/* Whether this thread is a vhost worker in handle_rx (its reads held). */
static __always_inline int st_vhost_rx_holding(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	return bpf_map_lookup_elem(&vhost_rx_pend, &tid) != NULL;
}

/* Appends one stamp like st_stage_dev does, on the device of the read. */
static __always_inline void st_vhost_stamp(struct st_path *p, __u8 hook, __u64 ts, __u16 aux)
{
	__u32 n = p->nstamps, li = n - 1;
	__u32 ifindex = 0;

	asm volatile("" : "+r"(li));
	if (n > 0 && li < ST_MAX_STAMPS)
		ifindex = p->stamps[li].ifindex;
	asm volatile("" : "+r"(n));
	if (n < ST_MAX_STAMPS) {
		p->stamps[n].ts = ts;
		p->stamps[n].ifindex = ifindex;
		p->stamps[n].hook = hook;
		p->stamps[n].role = ST_ROLE_VM;
		p->stamps[n].aux = aux;
		p->nstamps = n + 1;
		st_count(ST_C_STAMP);
	} else {
		if (p->overflow < 255)
			p->overflow++;
		st_count(ST_C_STAMP_OVERFLOW);
	}
}

/*
 * The walks over a worker's pending set run under bpf_loop (5.17+, so 6.1
 * and 6.12): the verifier checks the callback once instead of every
 * iteration of an open-coded loop with a ring buffer output inside.
 */
struct st_vhost_walk {
	struct st_vhost_rx_pend *pd;
	__u64 ts;
	__u32 from;
	__u32 cnt;	/* counter per path emitted; ST_C_MAX: stamp, do not emit */
	__u16 aux;
	__u8 hook;	/* stamp to add first (ST_HOOK_NONE: none) */
};

static long st_vhost_walk_cb(__u32 i, void *ctx)
{
	struct st_vhost_walk *w = ctx;
	__u32 k = i + w->from;
	struct st_path *p;
	__u64 id;

	if (k >= ST_VHOST_RX_PEND)
		return 1;
	id = w->pd->ids[k];
	p = bpf_map_lookup_elem(&paths, &id);
	if (!p) {
		st_count(ST_C_VHOST_GONE);
		return 0;
	}
	if (w->hook != ST_HOOK_NONE)
		st_vhost_stamp(p, w->hook, w->ts, w->aux);
	if (w->cnt < ST_C_MAX) {
		st_count(w->cnt);
		st_emit(p, id, ST_END_DELIVERED);
	}
	return 0;
}

/* Stamps `hook` (unless ST_HOOK_NONE) on the held paths [from, to) and,
 * unless cnt is ST_C_MAX, emits them, counting each in cnt. */
static __always_inline void st_vhost_walk(struct st_vhost_rx_pend *pd, __u32 from, __u32 to,
					  __u8 hook, __u64 ts, __u16 aux, __u32 cnt)
{
	struct st_vhost_walk w = {
		.pd = pd, .ts = ts, .from = from, .cnt = cnt, .aux = aux, .hook = hook,
	};

	if (to > ST_VHOST_RX_PEND)
		to = ST_VHOST_RX_PEND;
	if (from >= to)
		return;
	bpf_loop(to - from, st_vhost_walk_cb, &w, 0);
}

static long st_vhost_shift_cb(__u32 i, void *ctx)
{
	struct st_vhost_walk *w = ctx;
	__u32 k = i + w->from;

	if (i >= ST_VHOST_RX_PEND || k >= ST_VHOST_RX_PEND)
		return 1;
	w->pd->ids[i] = w->pd->ids[k];
	return 0;
}

/* handle_rx entry: open this worker's pending set. */
static __always_inline int st_vhost_rx_run(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid(), zero = 0;
	struct st_vhost_rx_pend *z = bpf_map_lookup_elem(&vhost_rx_zero, &zero);

	if (z)
		bpf_map_update_elem(&vhost_rx_pend, &tid, z, BPF_ANY);
	return 0;
}

/* vhost_add_used_and_signal_n(dev, vq, heads, count): every held path read
 * since the last update is now in the guest's used ring. */
static __always_inline int st_vhost_rx_used(struct vhost_virtqueue___st *vq, __u32 count)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct st_vhost_rx_pend *pd = bpf_map_lookup_elem(&vhost_rx_pend, &tid);
	__u64 now = bpf_ktime_get_ns();
	__u32 from, to;

	if (!pd || !vq)
		return 0;
	from = pd->nused;
	to = pd->n;
	pd->call = st_vq_call_eventfd(vq);
	st_vhost_walk(pd, from, to, ST_HOOK_VHOST_RX, now, count > 0xffff ? 0xffff : count,
		      ST_C_MAX);
	pd->nused = to;
	return 0;
}

/* irqfd_wakeup(wait, mode, sync, key): the call eventfd of the queue whose
 * buffers were just used fired into KVM: the guest's interrupt. */
static __always_inline int st_irq_inject(__u64 wait, __u64 key)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct st_vhost_rx_pend *pd = bpf_map_lookup_elem(&vhost_rx_pend, &tid);
	struct kvm_kernel_irqfd___st *irqfd;
	__u32 nused, n, left;
	__u16 gsi;

	if (!(key & ST_EPOLLIN))
		return 0;
	st_count(ST_C_IRQ_WAKE_ALL);
	if (!pd)
		return 0;
	st_count(ST_C_IRQ_WAKE_RX);
	if (!pd->nused) {
		st_count(ST_C_IRQ_WAKE_UNUSED);
		return 0;
	}
	irqfd = st_irqfd_of_wait(wait);
	if ((__u64)BPF_CORE_READ(irqfd, eventfd) != pd->call) {
		st_count(ST_C_IRQ_WAKE_OTHER);	/* another eventfd in this thread */
		return 0;
	}
	gsi = (__u16)BPF_CORE_READ(irqfd, gsi);
	nused = pd->nused;
	n = pd->n;
	st_vhost_walk(pd, 0, nused, ST_HOOK_IRQ_INJECT, bpf_ktime_get_ns(), gsi,
		      ST_C_VHOST_INJECTED);
	st_count(ST_C_VHOST_INJECTIONS);
	/* Reads after the update (none in today's handle_rx) stay held. */
	left = n > nused ? n - nused : 0;
	if (left) {
		struct st_vhost_walk w = { .pd = pd, .from = nused };

		bpf_loop(left, st_vhost_shift_cb, &w, 0);
	}
	pd->n = left;
	pd->nused = 0;
	return 0;
}

/* handle_rx exit: what no interrupt followed goes out now, and the thread
 * stops holding its reads. */
static __always_inline int st_vhost_rx_done(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct st_vhost_rx_pend *pd = bpf_map_lookup_elem(&vhost_rx_pend, &tid);

	if (!pd)
		return 0;
	st_vhost_walk(pd, 0, pd->nused, ST_HOOK_NONE, 0, 0, ST_C_VHOST_SUPPRESSED);
	st_vhost_walk(pd, pd->nused, pd->n, ST_HOOK_NONE, 0, 0, ST_C_VHOST_UNUSED);
	bpf_map_delete_elem(&vhost_rx_pend, &tid);
	return 0;
}

SEC("fentry/handle_rx")
int fentry_vhost_rx_run(__u64 *ctx)
{
	return st_vhost_rx_run();
}

SEC("kprobe/handle_rx")
int kprobe_vhost_rx_run(struct pt_regs *ctx)
{
	return st_vhost_rx_run();
}

SEC("fexit/handle_rx")
int fexit_vhost_rx_done(__u64 *ctx)
{
	return st_vhost_rx_done();
}

SEC("kretprobe/handle_rx")
int kretprobe_vhost_rx_done(struct pt_regs *ctx)
{
	return st_vhost_rx_done();
}

ST_USED_SIGNAL_PROGS(fentry_vhost_rx, kprobe_vhost_rx, st_vhost_rx_used)
ST_IRQFD_WAKEUP_PROGS(fentry_irq_inject, kprobe_irq_inject, st_irq_inject)

#endif /* ST_BPF_STAGES_VHOSTRX_BPF_H */
