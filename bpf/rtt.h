/* SPDX-License-Identifier: MIT */
/*
 * Shared between bpf/rtt.bpf.c and cli/rtt.c: ICMP echo round trips
 * measured in the kernel, split into stages.
 *
 * An echo exchange is one entry of a bounded hash map keyed by (netns,
 * local address, remote address, echo id, echo sequence), so a request and
 * its reply find the same entry whichever direction they travel. Each hook
 * writes its time stamp into the entry once. The hook that writes the last
 * stamp deletes the entry and, only when its delete succeeded, reports the
 * exchange through the ring buffer; user space removes entries older than
 * the timeout the same way and, when its delete succeeded, counts a loss.
 * So an exchange is either answered or lost, never both, and nothing is
 * inferred from a map that fills up: a request that finds no room is
 * counted as untracked.
 *
 * Direction tx (echo requests this host sends) stamps:
 *   T0 request at net_dev_queue, T1 request at net_dev_start_xmit,
 *   T2 reply at netif_receive_skb, T3 reply freed after ICMP processing
 *   (consume_skb or kfree_skb: the ICMP layer is done with it).
 * Direction rx (echo requests this host answers) stamps:
 *   T0 request at netif_receive_skb, T1 reply at net_dev_queue,
 *   T2 reply at net_dev_start_xmit.
 * Both: T4 at ip_output (IP output of the request in tx, of the reply
 * in rx), an optional function hook (fentry, else kprobe) that kernels
 * without either do not have; in tx it comes before T0 and creates the
 * entry, T0 then fills in.
 * Plain fixed-width types only.
 */
#ifndef ST_BPF_RTT_H
#define ST_BPF_RTT_H

#include "st_types.h"
#include "filter.h"

#define ST_RTT_MAX_PENDING 16384
#define ST_RTT_NT 5

enum st_rtt_mode {
	ST_RTT_TX = 0,
	ST_RTT_RX = 1,
};

struct st_rtt_key {
	__u32 netns;
	__u32 laddr;		/* this host's address, network order */
	__u32 raddr;		/* the peer's, network order */
	__u16 id;		/* echo id, network order as on the wire */
	__u16 seq;		/* echo sequence, host order */
};

struct st_rtt_val {
	__u64 t[ST_RTT_NT];	/* bpf_ktime_get_ns(); 0 = not seen yet */
	__u32 ifindex_out;	/* device the request (tx) / reply (rx) left by */
	__u32 ifindex_in;	/* device the reply (tx) / request (rx) came in by */
};

/* One answered exchange (ring buffer). */
struct st_rtt_event {
	struct st_rtt_key key;
	struct st_rtt_val val;
};

#define ST_RTF_NETNS 0x1	/* only netns present in rtt_netns */
#define ST_RTF_DEV   0x2	/* only (netns, ifindex) present in rtt_devs */

struct st_rtt_cfg {
	__u32 flags;		/* ST_RTF_* */
	__u32 mode;		/* enum st_rtt_mode */
	struct st_pkt_filter pf;	/* request's direction: src = requester */
};

struct st_rtt_dev {
	__u32 netns;
	__u32 ifindex;
};

enum st_rtt_counter {
	ST_RC_REQUESTS = 0,	/* requests tracked (an entry was created) */
	ST_RC_ANSWERED,		/* exchanges completed and reported */
	ST_RC_UNMATCHED,	/* replies with no tracked request (late or foreign) */
	ST_RC_FORWARDED,	/* rx: a request this host forwarded, not answered */
	ST_RC_MAP_FULL,		/* lost: no room for a new request */
	ST_RC_RINGBUF_FULL,	/* lost: answered, but the event did not fit */
	ST_RC_FILTERED,		/* echo packets refused by netns/dev/address filters */
	ST_RC_MAX,
};

_Static_assert(sizeof(struct st_rtt_key) == 16, "st_rtt_key layout");
_Static_assert(sizeof(struct st_rtt_val) == 48, "st_rtt_val layout");
_Static_assert(sizeof(struct st_rtt_event) == 64, "st_rtt_event layout");

#endif /* ST_BPF_RTT_H */
