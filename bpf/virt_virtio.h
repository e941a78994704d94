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
 *
 * Per-packet mode (--rx-path -v) adds one ring-buffer record per received
 * frame (struct st_vv_pkt): the stamps of its stages, taken from the
 * queue (interrupt callback and NAPI run that carried it), the CPU
 * (receive_buf just before napi_gro_receive) and the skb itself (GRO
 * entry, netif_receive_skb, socket enqueue). Zero stamp: stage not seen.
 */
#ifndef ST_BPF_VIRT_VIRTIO_H
#define ST_BPF_VIRT_VIRTIO_H

#include "st_types.h"
#include "pktkey.h"
#include "filter.h"

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
	ST_VVC_PKT_RB_FULL,	/* per-packet record lost: ring buffer full */
	ST_VVC_PKT_MAP_FULL,	/* per-packet: no room to follow one more skb */
	ST_VVC_PKT_FILTERED,	/* per-packet: did not match the header filter */
	ST_VVC_PKT_UNPARSED,	/* per-packet: filter set, frame not IPv4/unreadable */
	ST_VVC_PKT_REUSED,	/* followed skb seen at GRO again before it ended:
				 * emitted with end "unseen" (GRO merged/freed it
				 * without a tracepoint) */
	ST_VVC_MAX,
};

/* Per-packet configuration (array map, one entry). */
struct st_vv_cfg {
	__u32 pkt;		/* per-packet records on */
	__u32 pad;
	struct st_pkt_filter pf;
};

/* Stage stamps of one received frame, ns (bpf_ktime_get_ns); 0 = unseen. */
enum st_vv_stage {
	ST_VVS_IRQ = 0,		/* skb_recv_done of its queue before the NAPI run */
	ST_VVS_POLL,		/* virtnet_poll start of the run that took it */
	ST_VVS_RBUF,		/* receive_buf for it */
	ST_VVS_GRO,		/* napi_gro_receive_entry tracepoint */
	ST_VVS_NETIF,		/* netif_receive_skb tracepoint */
	ST_VVS_SOCK,		/* __udp_enqueue_schedule_skb / tcp_v4_do_rcv */
	ST_VVS_MAX,
};

enum st_vv_end {
	ST_VVE_SOCK = 1,	/* queued to / processed by a socket */
	ST_VVE_FREED,		/* consume_skb before a socket (ARP, RST to nobody..) */
	ST_VVE_DROPPED,		/* kfree_skb before a socket */
	ST_VVE_UNSEEN,		/* its skb came back to GRO: the end was not traced */
};

struct st_vv_pkt {
	__u64 ts[ST_VVS_MAX];
	__u32 netns, ifindex;
	__u32 queue, cpu;	/* queue pair; CPU of receive_buf */
	__u32 irq_cpu, len;	/* len: receive_buf's, virtio-net header included */
	struct st_pkt_key key;	/* 5-tuple; proto 0 = not IPv4 */
	__u32 end;		/* enum st_vv_end */
	__u32 drop_reason;	/* kfree_skb reason where the kernel has one */
};

_Static_assert(sizeof(struct st_vv_key) == 16, "st_vv_key layout");
_Static_assert(sizeof(struct st_vv_val) == 96, "st_vv_val layout");
_Static_assert(sizeof(struct st_vv_cfg) == 36, "st_vv_cfg layout");
_Static_assert(sizeof(struct st_vv_pkt) == 48 + 24 + 24 + 8, "st_vv_pkt layout");

#endif /* ST_BPF_VIRT_VIRTIO_H */
