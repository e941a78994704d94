/* SPDX-License-Identifier: MIT */
/*
 * Shared between bpf/conntrack.bpf.c and cli/conntrack.c: what the BPF side
 * counts next to the ctnetlink events user space reads (cli/ctnetlink.c).
 * Plain fixed-width types only.
 *
 * Everything is one count map, double buffered by generation like drops',
 * keyed by (netns, kind, a, b) where a and b depend on the kind: drops of
 * conntrack-related reasons (a = reason, location in loc), and, where the
 * function hooks attach, nf_conntrack_in verdicts, timeout refreshes per
 * TCP state with the timeout set, deletions, and OVS conntrack results.
 */
#ifndef ST_BPF_CONNTRACK_H
#define ST_BPF_CONNTRACK_H

#include "st_types.h"

#define ST_CT_MAX_KEYS 4096

enum st_ct_kind {
	ST_CK_DROP = 1,		/* a = skb_drop_reason, loc = where */
	ST_CK_IN,		/* nf_conntrack_in: a = verdict, b = 1 when no ct was attached */
	ST_CK_REFRESH,		/* __nf_ct_refresh_acct: a = TCP state (255 not TCP), b = timeout s */
	ST_CK_DELETE,		/* nf_ct_delete: a = TCP state (255 not TCP), b = protocol */
	ST_CK_OVS,		/* OVS ct: a = ct_state bits, b = zone */
};

struct st_ct_key {
	__u64 loc;
	__u32 netns;
	__u32 kind;
	__u32 a;
	__u32 b;
};

struct st_ct_val {
	__u64 count;
	__u64 bytes;
};

/* One OVS packet whose conntrack state came back invalid (ring buffer). */
struct st_ct_ovs_event {
	__u64 ts;
	__u32 netns;
	__u32 ifindex;
	__u32 saddr, daddr;	/* network order; 0 when not IPv4 */
	__u16 sport, dport;	/* network order */
	__u16 zone;
	__u8 proto;
	__u8 ct_state;
	__u32 mark;
	__u32 pad;
};

#define ST_CTF_NETNS 0x1
#define ST_CTF_OVS   0x2	/* emit an event per invalid OVS packet */

struct st_ct_cfg {
	__u32 flags;
	__u32 pad;
};

enum st_ct_counter {
	ST_CC_DROP_CALLS = 0,	/* kfree_skb calls */
	ST_CC_DROPS,		/* of those with a conntrack reason */
	ST_CC_FILTERED,		/* stopped by the netns filter */
	ST_CC_MAP_FULL,		/* lost counts */
	ST_CC_RINGBUF_FULL,	/* lost OVS events */
	ST_CC_MAX,
};

/* Both compilers see these: a field added on one side only breaks the build. */
_Static_assert(sizeof(struct st_ct_key) == 24, "st_ct_key layout");
_Static_assert(sizeof(struct st_ct_val) == 16, "st_ct_val layout (= struct st_count)");
_Static_assert(sizeof(struct st_ct_ovs_event) == 40, "st_ct_ovs_event layout");

#endif /* ST_BPF_CONNTRACK_H */
