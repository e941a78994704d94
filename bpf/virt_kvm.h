/* SPDX-License-Identifier: MIT */
/*
 * Shared between bpf/virt_kvm.bpf.c and its user side (cli/virt_kvm*.c,
 * cli/latency_path.c): KVM irqfd interrupt injection and the vhost-net RX
 * path that leads to it. Plain fixed-width types only.
 *
 * The kernel path being watched, all in the signalling task unless said:
 *   eventfd_signal(_mask)(ctx) or eventfd_write()   someone signals
 *     -> irqfd_wakeup(wait, .., key=EPOLLIN)        KVM's wait queue entry
 *        -> kvm_arch_set_irq_inatomic(route, ..)    try to inject now
 *           returns -EWOULDBLOCK -> schedule_work -> irqfd_inject() in a
 *           kworker -> kvm_set_irq(gsi) (kvm:kvm_set_irq tracepoint)
 * An injection is "inline" when kvm_arch_set_irq_inatomic did it, else
 * "deferred" and done at irqfd_inject. The GSI, the VM (kvm->userspace_pid)
 * and the eventfd come from struct kvm_kernel_irqfd, read with CO-RE at
 * run time.
 *
 * Counts per (VM, GSI) are cumulative in a hash map (user space prints the
 * differences per interval, so nothing is lost between intervals); each
 * injection is also one ring buffer event, from which user space builds the
 * latency histograms. Path mode (latency --path tap-to-irq) adds events for
 * tun_net_xmit, handle_rx, vhost_add_used_and_signal_n and eventfd_signal,
 * which user space joins queue by queue.
 */
#ifndef ST_BPF_VIRT_KVM_H
#define ST_BPF_VIRT_KVM_H

#include "st_types.h"

#define ST_KVM_MAX_KEYS 4096

/* Key of the injection counts: one irqfd route of one VM. */
struct st_kvm_key {
	__u32 vm_pid;		/* kvm->userspace_pid: the VMM process */
	__u32 gsi;
	__u64 eventfd;		/* struct eventfd_ctx address (an identity) */
};

struct st_kvm_val {
	__u64 wakeups;		/* irqfd_wakeup with EPOLLIN: the eventfd fired */
	__u64 inline_inj;	/* kvm_arch_set_irq_inatomic delivered at once */
	__u64 inline_fail;	/* ... returned an error other than -EWOULDBLOCK */
	__u64 deferred;		/* -EWOULDBLOCK: irqfd_inject ran in a kworker */
	__u64 coalesced;	/* deferred again before the work ran: merged */
};

enum st_kvm_ev_kind {
	ST_KE_INJECT = 1,	/* an injection (inline or deferred) */
	ST_KE_XMIT,		/* path: tun_net_xmit into a tap queue */
	ST_KE_HANDLE_RX,	/* path: a vhost worker enters handle_rx */
	ST_KE_USED,		/* path: vhost_add_used_and_signal_n on an RX vq */
	ST_KE_SIGNAL,		/* path: eventfd_signal of that vq's call eventfd */
	ST_KE_WAKE,		/* path: irqfd_wakeup (before the injection) */
};

/* One event (ring buffer). Which fields mean what depends on kind. */
struct st_kvm_event {
	__u64 ts;		/* bpf_ktime_get_ns() */
	__u64 obj;		/* XMIT/HANDLE_RX/USED: tap socket; SIGNAL: eventfd;
				 * WAKE/INJECT: irqfd */
	__u64 eventfd;		/* USED: the vq's call eventfd; WAKE/INJECT: irqfd's */
	__u64 t_signal;		/* WAKE/INJECT: eventfd signal stamp of that task, 0 none */
	__u64 t_wake;		/* INJECT: irqfd_wakeup stamp */
	__u32 kind;		/* enum st_kvm_ev_kind */
	__u32 tid;		/* task the event happened in */
	__u32 pid;		/* its process */
	__u32 vm_pid;		/* WAKE/INJECT */
	__u32 gsi;		/* WAKE/INJECT */
	__u32 count;		/* USED: heads; INJECT: 1 inline, 2 deferred */
	__s32 ret;		/* INJECT inline: kvm_arch_set_irq_inatomic's value */
	__u32 netns;		/* XMIT: the tap's netns inode */
	__u32 ifindex;		/* XMIT */
	__u32 queue;		/* XMIT: skb->queue_mapping (tap queue) */
	__u32 len;		/* XMIT: skb->len */
	char comm[16];
	__u32 pad;
};

_Static_assert(sizeof(struct st_kvm_key) == 16, "st_kvm_key layout");
_Static_assert(sizeof(struct st_kvm_val) == 40, "st_kvm_val layout");
_Static_assert(sizeof(struct st_kvm_event) == 104, "st_kvm_event layout");

#define ST_KF_PATH   0x1	/* emit the path events (latency --path) */
#define ST_KF_PID    0x2	/* only VMs whose vm_pid == cfg.pid */
#define ST_KF_DEV    0x4	/* path: only tun_net_xmit on (netns, ifindex) */

struct st_kvm_cfg {
	__u32 flags;
	__u32 pid;
	__u32 netns;
	__u32 ifindex;
};

enum st_kvm_counter {
	ST_KC_WAKEUPS = 0,	/* irqfd_wakeup with EPOLLIN, all VMs */
	ST_KC_HUP,		/* irqfd_wakeup with EPOLLHUP: an irqfd went away */
	ST_KC_FILTERED,		/* not the selected VM */
	ST_KC_NO_SIGNAL,	/* wakeup with no eventfd stamp of this task */
	ST_KC_INJECT_UNMATCHED,	/* irqfd_inject with no deferred wakeup seen */
	ST_KC_TP_SET_IRQ,	/* kvm:kvm_set_irq (deferred and ioctl injections) */
	ST_KC_TP_MSI,		/* kvm:kvm_msi_set_irq */
	ST_KC_MAP_FULL,		/* lost: no room in the count or state maps */
	ST_KC_RINGBUF_FULL,	/* lost: event ring full (counts still exact) */
	ST_KC_MAX,
};

#endif /* ST_BPF_VIRT_KVM_H */
