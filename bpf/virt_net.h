/* SPDX-License-Identifier: MIT */
/*
 * Shared between bpf/virt_net.bpf.c and cli/virt_net.c: what the tun and
 * vhost-net tracer counts, in plain fixed-width types.
 *
 * Two tables, both cumulative since the start (user space prints the
 * difference between two reads, so no increment is lost between
 * intervals and nothing has to be drained):
 *   tun queues   (netns, ifindex, queue index) of a tun/tap device: frames
 *                the host sent into the queue (tun_net_xmit), how many of
 *                them found the queue's ptr_ring full (the kernel drops
 *                those), the ring's fill level seen by each frame, and the
 *                frames and bytes a vhost worker moved through the queue's
 *                socket (tun_sendmsg: guest -> host, tun_recvmsg: host ->
 *                guest).
 *   virtqueues   one row per vhost virtqueue (its kernel address): which
 *                worker thread serves it, which tun queue is its backend
 *                (learned from the virtqueue's socket, never configured),
 *                handler runs, packets and bytes, used-ring updates and
 *                the guest notifications (eventfd signals on its call
 *                eventfd, matched by the eventfd object the virtqueue
 *                holds), and on RX the peeks at the next frame's length
 *                (vhost_net_buf_peek: calls, empty, head bytes).
 * The highest fill level per interval is the one value that is not
 * cumulative: it lives in its own map (vn_fillmax) keyed by the tun queue
 * and the generation parity; user space flips the generation and drains
 * the entries of the idle one, so no maximum leaks into the next interval.
 */
#ifndef ST_BPF_VIRT_NET_H
#define ST_BPF_VIRT_NET_H

#include "st_types.h"

#define ST_VN_MAX_TUNQ 4096
#define ST_VN_MAX_VQ   1024

struct st_vn_tunq_key {
	__u32 netns;
	__u32 ifindex;
	__u32 queue;
	__u32 gen;		/* vn_fillmax only: generation parity; else 0 */
};

struct st_vn_tunq_val {
	__u64 xmit_pkts;	/* frames offered to the queue (tun_net_xmit) */
	__u64 xmit_bytes;
	__u64 xmit_full;	/* of which found the ring full: dropped */
	__u64 fill_sum;		/* sum of the fill level each frame saw */
	__u32 ring_size;	/* entries of the queue's ptr_ring */
	__u32 fill_last;	/* fill level the last frame saw */
	__u64 sent_pkts;	/* tun_sendmsg: frames from a vhost TX queue */
	__u64 sent_bytes;	/* Ethernet frame bytes, vnet header excluded */
	__u64 recv_pkts;	/* tun_recvmsg: frames to a vhost RX queue */
	__u64 recv_bytes;
};

/* vq index inside a vhost-net device (drivers/vhost/net.c). */
#define ST_VN_VQ_RX 0
#define ST_VN_VQ_TX 1

struct st_vn_vq_val {
	__u64 dev;		/* the vhost_net (groups the RX/TX pair) */
	__u32 idx;		/* ST_VN_VQ_RX or ST_VN_VQ_TX */
	__u32 worker;		/* thread id of the vhost worker */
	__u32 worker_tgid;
	__u32 netns;		/* backend tun queue, when it is a tun */
	__u32 ifindex;
	__u32 tunq;
	__u32 backend;		/* ST_VN_BE_* */
	__u32 pad;
	char comm[16];		/* the worker's name ("vhost-<owner pid>") */
	__u64 handle_calls;	/* handle_tx / handle_rx runs */
	__u64 pkts;		/* frames moved (tun_sendmsg / tun_recvmsg) */
	__u64 bytes;
	__u64 used_calls;	/* vhost_add_used_and_signal_n calls */
	__u64 used_heads;	/* buffers returned to the guest */
	__u64 signals;		/* eventfd signals on the call eventfd */
	__u64 peeks;		/* vhost_net_buf_peek calls (RX) */
	__u64 peek_empty;	/* of which found nothing to receive */
	__u64 peek_bytes;	/* sum of the head lengths found */
};

#define ST_VN_BE_NONE 0		/* no backend socket */
#define ST_VN_BE_TUN  1		/* a tun/tap queue */
#define ST_VN_BE_OTHER 2	/* macvtap or another socket */

/* Filters (tun side). */
#define ST_VN_F_NETNS 0x1
#define ST_VN_F_DEV   0x2

struct st_vn_cfg {
	__u32 flags;
	__u32 pad;
};

struct st_vn_dev {
	__u32 netns;
	__u32 ifindex;
};

enum st_vn_counter {
	ST_VNC_XMIT = 0,	/* tun_net_xmit calls seen */
	ST_VNC_XMIT_NOTUN,	/* tracepoint fallback: not a tun device */
	ST_VNC_XMIT_NOQ,	/* queue index beyond numqueues (kernel drops) */
	ST_VNC_FILTERED,	/* not in the --netns/--dev selection */
	ST_VNC_TUNQ_FULL,	/* lost: the tun queue map had no room */
	ST_VNC_VQ_FULL,		/* lost: the virtqueue map had no room */
	ST_VNC_MSG_NOVQ,	/* tun_sendmsg/recvmsg outside a known worker */
	ST_VNC_SIGNALS,		/* eventfd signals on a vhost call eventfd */
	ST_VNC_MAX,
};

/* Both sides compile these structs: their sizes must agree. */
_Static_assert(sizeof(struct st_vn_tunq_key) == 16, "st_vn_tunq_key layout");
_Static_assert(sizeof(struct st_vn_tunq_val) == 72, "st_vn_tunq_val layout");
_Static_assert(sizeof(struct st_vn_vq_val) == 128, "st_vn_vq_val layout");
_Static_assert(sizeof(struct st_vn_cfg) == 8, "st_vn_cfg layout");

#endif /* ST_BPF_VIRT_NET_H */
