/* SPDX-License-Identifier: MIT */
/*
 * Shared between bpf/virt_virtio.bpf.c and cli/virt_virtio.c: what the
 * guest-side virtio-net tracer counts per (device, queue pair), plain
 * fixed-width types. Cumulative since the start; user space prints the
 * difference of two reads, so no increment is lost between intervals.
 *
 *   irq      skb_recv_done: the RX virtqueue's interrupt callback ran
 *   poll     virtnet_poll: NAPI runs, frames they processed, runs that
 *            used their whole budget (more was waiting)
 *   rx path  receive_buf: frames and bytes (virtio-net header included)
 *            handed up; the time from the interrupt callback to the start
 *            of the NAPI run it scheduled (sum, count, highest)
 *   tx       start_xmit: frames and bytes the guest queued on the queue
 */
#ifndef ST_BPF_VIRT_VIRTIO_H
#define ST_BPF_VIRT_VIRTIO_H

#include "st_types.h"

#define ST_VV_MAX_Q 1024

struct st_vv_key {
	__u32 netns;
	__u32 ifindex;
	__u32 queue;		/* queue pair: RX virtqueue index / 2 */
	__u32 pad;
};

struct st_vv_val {
	__u64 irqs;
	__u64 polls;
	__u64 poll_pkts;	/* sum of virtnet_poll's return values */
	__u64 budget_hits;	/* runs that returned their budget */
	__u64 rx_pkts;		/* receive_buf calls */
	__u64 rx_bytes;
	__u64 tx_pkts;		/* start_xmit calls */
	__u64 tx_bytes;
	__u64 lat_sum;		/* irq -> poll, ns */
	__u64 lat_n;
	__u64 lat_max;		/* highest since start (user space keeps per interval) */
	__u32 irq_cpu;		/* CPU of the last interrupt callback */
	__u32 budget;		/* budget of the last run */
};

enum st_vv_counter {
	ST_VVC_MAP_FULL = 0,	/* lost: no room for a new queue row */
	ST_VVC_NO_DEV,		/* a hook could not find its device */
	ST_VVC_NOT_VIRTIO,	/* start_xmit of a device that is not virtio-net */
	ST_VVC_MAX,
};

_Static_assert(sizeof(struct st_vv_key) == 16, "st_vv_key layout");
_Static_assert(sizeof(struct st_vv_val) == 96, "st_vv_val layout");

#endif /* ST_BPF_VIRT_VIRTIO_H */
