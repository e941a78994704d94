/* SPDX-License-Identifier: MIT */
/*
 * Shared between bpf/defrag.bpf.c and cli/defrag.c: IPv4 fragment flows,
 * the per-interval counts, events, configuration and counter indices.
 * Plain fixed-width types only.
 *
 * A flow is one datagram being reassembled: (netns, source, destination,
 * IP id, protocol), as the kernel keys its reassembly queues. Counts are
 * double buffered like drops' (see bpf/drops.h): programs add to counts0
 * or counts1 by the generation number user space flips every interval.
 */
#ifndef ST_BPF_DEFRAG_H
#define ST_BPF_DEFRAG_H

#include "st_types.h"
#include "filter.h"

#define ST_DEFRAG_MAX_FLOWS 65536
#define ST_DEFRAG_MAX_KEYS  4096

struct st_frag_key {
	__u32 saddr, daddr;	/* network order */
	__u16 id;		/* host order */
	__u8 proto;
	__u8 pad;
	__u32 netns;
};

/* What a datagram's fragments looked like so far. */
struct st_frag_flow {
	__u64 first_ts, last_ts;
	__u32 frags;		/* fragments received */
	__u32 bytes;		/* their payload bytes */
	__u32 end;		/* datagram payload length, once the last fragment came */
	__u32 ifindex;		/* device of the first fragment seen */
	__u32 drops;		/* fragments of it dropped */
	__u32 reason;		/* failure reason (skb_drop_reason) */
	__u64 location;		/* where it failed */
	__u8 have_first, have_last;
	__u8 state;		/* ST_FS_* */
	__u8 pad[5];
};

enum st_frag_state {
	ST_FS_PENDING = 0,
	ST_FS_COMPLETE = 1,	/* every byte of it received */
	ST_FS_FAILED = 2,	/* its reassembly queue was killed */
};

/* The kinds of count. */
enum st_frag_kind {
	ST_FK_FRAGMENT = 1,	/* fragment received */
	ST_FK_COMPLETE,		/* datagram whose fragments all arrived */
	ST_FK_FAILED,		/* datagram whose reassembly failed (reason) */
	ST_FK_DROPPED,		/* fragment dropped (reason) */
	ST_FK_REASSEMBLED,	/* ip_defrag returned the whole datagram (hook) */
	ST_FK_QUEUE_ERROR,	/* ip_frag_queue failed (reason = errno) (hook) */
	ST_FK_EXPIRED,		/* ip_expire ran for a queue (hook) */
};

struct st_frag_ckey {
	__u32 netns;
	__u32 ifindex;
	__u32 kind;
	__u32 reason;
};

struct st_frag_cval {
	__u64 count;
	__u64 bytes;
};

enum st_frag_ev {
	ST_FE_FRAGMENT = 1,	/* -v only */
	ST_FE_COMPLETE,		/* -v only */
	ST_FE_FAILED,		/* always */
	ST_FE_REASSEMBLED,	/* hook, -v only */
	ST_FE_EXPIRED,		/* hook, -v only */
};

struct st_frag_event {
	__u64 ts;
	__u64 location;		/* FAILED: kernel address that freed the fragment */
	__u32 kind;		/* ST_FE_* */
	__u32 reason;		/* FAILED: drop reason */
	__u32 ifindex;
	__u16 offset;		/* FRAGMENT: byte offset */
	__u16 len;		/* FRAGMENT: payload bytes */
	__u8 more;		/* FRAGMENT: MF */
	__u8 unseen;		/* FAILED: no fragment of it was seen by us */
	__u8 pad[6];
	struct st_frag_key key;
	struct st_frag_flow flow;	/* COMPLETE/FAILED: the flow so far */
};

#define ST_FG_NETNS  0x1
#define ST_FG_DEV    0x2
#define ST_FG_EVENTS 0x4	/* -v: every fragment and completion */

/* Where the kernel discards a whole reassembly queue without a reason of
 * its own: ip_frag_queue (inlined into ip_defrag on some builds) frees the
 * offending fragment with the default reason after killing the queue
 * (overlap, a last fragment that contradicts the length, ...). User space
 * fills the address ranges from /proc/kallsyms and the reason from BTF. */
#define ST_DEFRAG_KILL_RANGES 2

struct st_defrag_cfg {
	__u32 flags;
	__u32 kill_reason;	/* NOT_SPECIFIED's value; 0: no ranges */
	struct st_pkt_filter pf;	/* protocol and addresses only */
	__u32 pad;
	__u64 kill_lo[ST_DEFRAG_KILL_RANGES];	/* [lo, hi) of the functions */
	__u64 kill_hi[ST_DEFRAG_KILL_RANGES];
};

struct st_frag_dev {
	__u32 netns;
	__u32 ifindex;
};

enum st_defrag_counter {
	ST_GC_RX_CALLS = 0,	/* netif_receive_skb calls */
	ST_GC_FRAGMENTS,	/* IPv4 fragments among them */
	ST_GC_FILTERED,		/* fragments or drops stopped by a filter */
	ST_GC_DROP_CALLS,	/* kfree_skb calls */
	ST_GC_FRAG_DROPS,	/* of those: an IPv4 fragment */
	ST_GC_FLOW_FULL,	/* flow table full: fragment counted, flow not kept */
	ST_GC_MAP_FULL,		/* count map full: lost count */
	ST_GC_RINGBUF_FULL,	/* lost event */
	ST_GC_NO_NETNS,		/* failure whose netns could not be found */
	ST_GC_AFTER_REASM,	/* fragment freed with its reassembled datagram */
	ST_GC_MAX,
};

/* Both compilers see these: a field added on one side only breaks the build. */
_Static_assert(sizeof(struct st_frag_key) == 16, "st_frag_key layout");
_Static_assert(sizeof(struct st_frag_flow) == 56, "st_frag_flow layout");
_Static_assert(sizeof(struct st_frag_event) == 112, "st_frag_event layout");
_Static_assert(sizeof(struct st_frag_ckey) == 16, "st_frag_ckey layout");
_Static_assert(sizeof(struct st_defrag_cfg) == 72, "st_defrag_cfg layout");
_Static_assert(sizeof(struct st_frag_cval) == 16, "st_frag_cval layout (= struct st_count)");

#endif /* ST_BPF_DEFRAG_H */
