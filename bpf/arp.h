/* SPDX-License-Identifier: MIT */
/*
 * Shared between bpf/arp.bpf.c and cli/arp.c: the event the BPF side emits
 * for every ARP packet it sees (received or transmitted) and for every
 * neighbour-table update that would replace a valid entry's MAC address,
 * the filter configuration and the counter indices. Plain fixed-width
 * types only.
 *
 * Classifying a packet as unsolicited or conflicting needs memory of what
 * came before (requests sent, addresses claimed), so the BPF side only
 * parses and filters and user space classifies, in ring-buffer order. The
 * neighbour check happens in the kernel, at the neigh_update tracepoint,
 * where the entry the packet is about to overwrite can still be read.
 */
#ifndef ST_BPF_ARP_H
#define ST_BPF_ARP_H

#include "st_types.h"

enum st_arp_kind {
	ST_ARP_PACKET = 1,	/* an ARP packet on a device */
	ST_ARP_NEIGH = 2,	/* neigh_update with a MAC different from a valid entry's */
};

#define ST_ARP_RX 0
#define ST_ARP_TX 1

struct st_arp_event {
	__u64 ts;		/* bpf_ktime_get_ns() */
	__u32 netns;
	__u32 ifindex;
	__u8 kind;		/* ST_ARP_PACKET or ST_ARP_NEIGH */
	__u8 dir;		/* packet: ST_ARP_RX or ST_ARP_TX */
	__u16 op;		/* ARP opcode, host order. Neigh: op of the
				 * ARP packet this CPU is processing, 0 if the
				 * update did not come from one */
	__u32 spa;		/* packet: sender IP; neigh: the entry's IP (network order) */
	__u32 tpa;		/* packet: target IP */
	__u8 sha[6];		/* packet: sender MAC; neigh: the new MAC */
	__u8 tha[6];		/* packet: target MAC; neigh: the entry's MAC */
	__u8 eth_dst[6];	/* packet: Ethernet destination */
	__u8 old_state;		/* neigh: NUD_* state before the update */
	__u8 new_state;		/* neigh: NUD_* state asked for */
	__u32 nflags;		/* neigh: NEIGH_UPDATE_F_* flags */
	__u32 nlmsg_pid;	/* neigh: netlink port of an admin change, 0 from ARP */
	__u32 cpu;
};

#define ST_ARP_F_NETNS 0x1	/* only netns present in arp_netns */
#define ST_ARP_F_DEV   0x2	/* only (netns, ifindex) present in arp_devs */
#define ST_ARP_F_SRC   0x4	/* sender IP in src/src_mask */
#define ST_ARP_F_DST   0x8	/* target IP in dst/dst_mask */

struct st_arp_cfg {
	__u32 flags;
	__u32 src, src_mask;	/* network order */
	__u32 dst, dst_mask;
};

struct st_arp_dev {
	__u32 netns;
	__u32 ifindex;
};

enum st_arp_counter {
	ST_AC_RX_CALLS = 0,	/* netif_receive_skb calls */
	ST_AC_TX_CALLS,		/* net_dev_start_xmit calls */
	ST_AC_ARP,		/* ARP frames seen (both directions) */
	ST_AC_NOT_ETH_IP,	/* ARP, but not Ethernet/IPv4 or unreadable */
	ST_AC_FILTERED,		/* ARP stopped by a netns/dev/address filter */
	ST_AC_NEIGH_CALLS,	/* neigh_update calls */
	ST_AC_NEIGH_CHANGES,	/* of those: a valid IPv4 entry's MAC would change */
	ST_AC_EMITTED,		/* events written to the ring */
	ST_AC_RINGBUF_FULL,	/* events lost: ring full */
	ST_AC_MAX,
};

/* Both compilers see these: a field added on one side only breaks the build. */
_Static_assert(sizeof(struct st_arp_event) == 64, "st_arp_event layout");
_Static_assert(sizeof(struct st_arp_cfg) == 20, "st_arp_cfg layout");

#endif /* ST_BPF_ARP_H */
