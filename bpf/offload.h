/* SPDX-License-Identifier: MIT */
/*
 * Shared between bpf/offload.bpf.c and cli/offload.c: the segmentation
 * offload parameters (skb_shared_info gso_size, gso_segs, gso_type) of the
 * packets a device is asked to send, counted per device, hook, flow and
 * GSO type, and the packets whose parameters do not make sense.
 *
 * Two hooks see each packet: net_dev_queue (what the stack built, before
 * any software segmentation) and net_dev_start_xmit (what the driver gets:
 * with TSO off and GSO on, the stack has cut the packet up in between).
 * Counting is double buffered by generation, as in bpf/drops.h.
 */
#ifndef ST_BPF_OFFLOAD_H
#define ST_BPF_OFFLOAD_H

#include "st_types.h"
#include "pktkey.h"
#include "filter.h"

#define ST_OF_MAX_KEYS 8192

enum st_of_hook {
	ST_OF_QUEUE = 0,	/* net_dev_queue */
	ST_OF_XMIT = 1,		/* net_dev_start_xmit */
};

/* Why a packet's GSO parameters are abnormal (bits). */
#define ST_OA_UNKNOWN_BITS 0x1	/* gso_type bits this kernel does not define */
#define ST_OA_NO_TYPE      0x2	/* gso_size set, no protocol GSO type */
#define ST_OA_NO_SIZE      0x4	/* gso_segs > 1 but gso_size 0 (TCP sets a
				 * GSO type on every skb: a type alone is normal) */
#define ST_OA_L4_MISMATCH  0x8	/* TCPV4/6 type on non-TCP, UDP_L4 on non-UDP */
#define ST_OA_OVER_MTU     0x10	/* gso_size larger than the device MTU */

struct st_of_key {
	__u32 netns;
	__u32 ifindex;
	__u32 hook;		/* st_of_hook */
	__u32 gso_type;		/* skb_shinfo(skb)->gso_type */
	__u32 saddr, daddr;	/* network order; 0 when not IPv4 */
	__u16 sport, dport;	/* network order */
	__u8 proto;
	__u8 pad[3];
};

struct st_of_val {
	__u64 packets;
	__u64 bytes;		/* skb->len */
	__u64 gso_packets;	/* gso_size != 0 */
	__u64 segs_sum, segs_max;	/* gso_segs of GSO packets */
	__u64 size_sum, size_min, size_max;	/* gso_size of GSO packets */
	__u64 abnormal;		/* packets with any ST_OA_* */
	__u64 why;		/* OR of their ST_OA_* bits */
};

struct st_of_event {
	__u64 ts;
	__u32 netns, ifindex;
	__u32 hook;
	__u32 gso_type;
	__u32 len;		/* skb->len */
	__u32 mtu;
	__u16 gso_size, gso_segs;
	__u32 why;		/* ST_OA_* (0 for -v events of normal packets) */
	__u8 keyed;
	__u8 pad[7];
	struct st_pkt_key key;
};

/* Configuration: filters, and the GSO type bits and values this kernel
 * defines (from its BTF enum), for the checks above. */
#define ST_OFF_NETNS    0x1
#define ST_OFF_DEV      0x2
#define ST_OFF_EVENTS   0x100	/* -v: one event per GSO packet */
#define ST_OFF_ABNORMAL 0x200	/* --abnormal: count only abnormal packets */

struct st_of_cfg {
	__u32 flags;
	__u32 known_types;	/* OR of every SKB_GSO_* value */
	__u32 tcp_types;	/* SKB_GSO_TCPV4 | SKB_GSO_TCPV6 */
	__u32 udp_types;	/* SKB_GSO_UDP_L4 */
	__u32 proto_types;	/* every type naming a protocol (not DODGY, ECN, ...) */
	__u32 tunnel_types;	/* encapsulation types: inner L4 differs */
	__u32 netns;		/* ST_OFF_NETNS: only this netns inode */
	__u32 dev_netns, dev_ifindex;	/* ST_OFF_DEV: only this device */
	__u32 pad;
	struct st_pkt_filter pf;
};

enum st_of_counter {
	ST_OC_CALLS = 0,
	ST_OC_FILTERED,
	ST_OC_FILTER_HDR,
	ST_OC_COUNTED,
	ST_OC_ABNORMAL,
	ST_OC_MAP_FULL,
	ST_OC_RINGBUF_FULL,
	ST_OC_MAX,
};

#endif /* ST_BPF_OFFLOAD_H */
