/* SPDX-License-Identifier: MIT */
/*
 * Shared between bpf/flow.bpf.c and cli/flow.c: one event per packet of the
 * filtered flow at every hook it passes (device receive, device queue,
 * qdisc enqueue/dequeue, hand-off to the driver, drop, free, socket read). User space
 * joins the events of one packet by its packet id (common/pktkey.h: the
 * 5-tuple and a per-packet discriminator, the same at every hop) into a
 * path, because the same packet may be a different skb after a hop, and
 * one skb may carry different packets over time.
 * Plain fixed-width types only.
 */
#ifndef ST_BPF_FLOW_H
#define ST_BPF_FLOW_H

#include "st_types.h"
#include "pktkey.h"
#include "filter.h"

enum st_flow_stage {
	ST_FS_RX = 0,		/* net:netif_receive_skb */
	ST_FS_QUEUE,		/* net:net_dev_queue */
	ST_FS_ENQ,		/* qdisc:qdisc_enqueue */
	ST_FS_DEQ,		/* qdisc:qdisc_dequeue */
	ST_FS_XMIT,		/* net:net_dev_start_xmit */
	ST_FS_DROP,		/* skb:kfree_skb */
	ST_FS_FREE,		/* skb:consume_skb */
	ST_FS_READ,		/* skb:skb_copy_datagram_iovec (a socket read) */
	ST_FS_MAX,
};

struct st_flow_event {
	__u64 ts;		/* bpf_ktime_get_ns() */
	__u64 pkt_id;		/* st_pkt_id(&key) */
	struct st_pkt_key key;
	__u32 netns;
	__u32 ifindex;
	__u32 len;		/* skb->len */
	__u32 reason;		/* ST_FS_DROP: enum skb_drop_reason value */
	__u32 cpu;
	__u16 vlan;		/* 802.1Q id seen at this hop (0: none) */
	__u8 stage;		/* enum st_flow_stage */
	__u8 encap;		/* ST_ENC_* seen at this hop */
};

#define ST_FF_NETNS 0x1		/* only netns present in flow_netns */
#define ST_FF_DEV   0x2		/* only (netns, ifindex) present in flow_devs */
#define ST_FF_VLAN  0x4		/* only packets seen with 802.1Q tag vlan */

struct st_flow_cfg {
	__u32 flags;		/* ST_FF_* */
	__u16 vlan;
	__u16 pad;
	struct st_pkt_filter pf;
};

struct st_flow_dev {
	__u32 netns;
	__u32 ifindex;
};

enum st_flow_counter {
	ST_FC_CALLS = 0,	/* hook calls on IPv4 skbs */
	ST_FC_FILTERED,		/* refused by a filter */
	ST_FC_EVENTS,		/* events emitted */
	ST_FC_RINGBUF_FULL,	/* lost: an event that did not fit in the ring */
	ST_FC_VLAN_MAP_FULL,	/* lost: a tagged packet not remembered (untagged hops lost) */
	ST_FC_MAX,
};

/* Packets remembered as tagged, so their untagged hops pass --vlan. */
#define ST_FLOW_VLAN_PKTS 65536

_Static_assert(sizeof(struct st_flow_event) == 64, "st_flow_event layout");
_Static_assert(sizeof(struct st_flow_cfg) == 36, "st_flow_cfg layout");

#endif /* ST_BPF_FLOW_H */
