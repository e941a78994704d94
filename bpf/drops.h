/* SPDX-License-Identifier: MIT */
/*
 * Shared between bpf/drops.bpf.c and cli/drops.c: the key and value of the
 * per-interval drop counts, the per-drop event of verbose mode, the filter
 * configuration and the counter indices. Plain fixed-width types only.
 *
 * Counting is double buffered: the BPF side adds each drop to counts0 or
 * counts1, chosen by the generation number user space flips at every
 * interval, so user space drains a map no program writes to any more and no
 * increment is lost between reading a count and deleting it.
 */
#ifndef ST_BPF_DROPS_H
#define ST_BPF_DROPS_H

#include "st_types.h"
#include "pktkey.h"
#include "filter.h"

/* Distinct (location, reason, netns, device, stack) rows per interval. */
#define ST_DROPS_MAX_KEYS   16384
#define ST_DROPS_MAX_STACKS 8192
#define ST_DROPS_STACK_DEPTH 32

struct st_drop_key {
	__u64 location;		/* kernel address that called kfree_skb */
	__u32 reason;		/* enum skb_drop_reason value (0: none) */
	__u32 netns;		/* netns inode of the device (or socket) */
	__u32 ifindex;		/* 0: the skb had no device */
	__s32 stack_id;		/* -1: stacks off or not captured */
};

struct st_drop_val {
	__u64 count;
	__u64 bytes;		/* sum of skb->len */
};

/* One drop, for verbose mode only (ring buffer). */
struct st_drop_event {
	__u64 ts;		/* bpf_ktime_get_ns() */
	__u64 location;
	__u32 pid;		/* task the drop happened in (any task in softirq) */
	__u32 cpu;
	char comm[16];
	__u32 reason;
	__u32 netns;
	__u32 ifindex;
	__s32 stack_id;
	__u32 len;		/* skb->len */
	__u8 keyed;		/* key holds a parsed IPv4 packet */
	__u8 pad[3];
	struct st_pkt_key key;
};

/* Filters, applied in this order: netns and device (pointer chasing
 * only), then protocol, ports and addresses (needs the packet parsed). */
#define ST_DF_NETNS  0x1	/* only netns present in drop_netns */
#define ST_DF_DEV    0x2	/* only (netns, ifindex) present in drop_devs */
#define ST_DF_STACKS 0x100	/* record a kernel stack id per drop */
#define ST_DF_EVENTS 0x200	/* emit one ring buffer event per drop */


struct st_drops_cfg {
	__u32 flags;		/* ST_DF_* */
	__u32 pad;
	struct st_pkt_filter pf;	/* header filter (bpf/filter.h) */
};

struct st_drop_dev {
	__u32 netns;
	__u32 ifindex;
};

enum st_drop_counter {
	ST_DC_CALLS = 0,	/* every kfree_skb */
	ST_DC_FILTER_NETNS,	/* not in a selected netns */
	ST_DC_FILTER_DEV,	/* not on a selected device */
	ST_DC_PARSE_SKIP,	/* header filter set, packet not IPv4/unreadable */
	ST_DC_FILTER_L34,	/* did not match protocol/port/address filters */
	ST_DC_COUNTED,		/* added to a count */
	ST_DC_MAP_FULL,		/* lost: the count map had no room for a new row */
	ST_DC_STACK_FAIL,	/* counted without stack: stack map full/collision */
	ST_DC_RINGBUF_FULL,	/* lost event (counted all the same) */
	ST_DC_MAX,
};

#endif /* ST_BPF_DROPS_H */
