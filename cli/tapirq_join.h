/* SPDX-License-Identifier: MIT */
/*
 * Joining the events of bpf/virt_kvm.bpf.c's path mode into one record per
 * packet for `latency --path tap-to-irq`: tap xmit -> vhost handle_rx ->
 * vhost_add_used_and_signal_n -> eventfd_signal -> irqfd_wakeup ->
 * injection.
 *
 * Notification is per queue, not per packet, so the join follows the
 * queue: tun_net_xmit stamps go into a FIFO per tap queue socket (the
 * object vhost's RX virtqueue has as its backend); when the vhost worker
 * hands `count` buffers of that queue to the guest (one buffer per packet:
 * no mergeable buffers), the `count` oldest stamps leave the FIFO as one
 * batch of that worker task; the eventfd_signal that follows in the same
 * task, the irqfd_wakeup of that eventfd (which names the GSI and the VM)
 * and the injection (inline in the task, or by the kworker, matched by
 * irqfd) complete the batch, and every packet of it becomes one record.
 * Everything that cannot be joined is counted, never guessed.
 */
#ifndef ST_CLI_TAPIRQ_JOIN_H
#define ST_CLI_TAPIRQ_JOIN_H

#include <stdint.h>

#include "bpf/virt_kvm.h"
#include "u64map.h"

/* One packet, tap to guest interrupt. Stamps are CLOCK_MONOTONIC ns. */
struct st_tj_rec {
	uint64_t t_xmit;	/* tun_net_xmit: the packet enters the tap queue */
	uint64_t t_rx;		/* handle_rx entry of the worker (may precede
				 * t_xmit when the worker was already running) */
	uint64_t t_used;	/* vhost_add_used_and_signal_n: buffer to guest */
	uint64_t t_signal;	/* eventfd_signal of the call eventfd */
	uint64_t t_wake;	/* irqfd_wakeup */
	uint64_t t_inject;	/* injection (inline or at irqfd_inject) */
	uint32_t vm_pid, gsi;
	uint32_t netns, ifindex, queue;
	uint32_t batch;		/* packets covered by the same signal */
	uint32_t how;		/* 1 inline, 2 deferred */
};

typedef void (*st_tj_emit_fn)(void *ctx, const struct st_tj_rec *r);

enum st_tj_stat {
	ST_TJ_XMIT = 0,		/* tun_net_xmit events */
	ST_TJ_RECORDS,		/* packets emitted as records */
	ST_TJ_SIGNALS,		/* batches completed by an injection */
	ST_TJ_USED_NO_XMIT,	/* buffers used with no stamp queued (packets
				 * sent before tracing, or xmit events lost) */
	ST_TJ_FIFO_FULL,	/* stamps dropped: a queue's FIFO overflowed */
	ST_TJ_UNSIGNALLED,	/* packets whose batch saw no signal/injection */
	ST_TJ_NO_MEM,
	ST_TJ_MAX,
};

struct st_tj {
	struct st_u64map socks;		/* tap queue socket -> struct tj_fifo */
	struct st_u64map tids;		/* worker tid -> struct tj_batch */
	struct st_u64map irqfds;	/* irqfd -> struct tj_batch (woken) */
	struct st_u64map rx;		/* worker tid -> handle_rx stamp + 1 */
	st_tj_emit_fn emit;
	void *ctx;
	uint64_t stats[ST_TJ_MAX];
};

int st_tj_init(struct st_tj *j, st_tj_emit_fn emit, void *ctx);	/* 0 or -ENOMEM */
/* Feed one event, in ring buffer order. */
void st_tj_event(struct st_tj *j, const struct st_kvm_event *e);
/* Count what is still pending as unsignalled and free everything. */
void st_tj_free(struct st_tj *j);

#endif /* ST_CLI_TAPIRQ_JOIN_H */
