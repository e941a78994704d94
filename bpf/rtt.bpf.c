// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * ICMP echo round trips with a per-stage split (bpf/rtt.h has the stamps
 * and the matching scheme).
 *
 * Every hook keys the packet with parse.bpf.h (ICMP: echo id in sport,
 * type and code in dport, sequence in disc1) and ignores anything that is
 * not an IPv4 echo request or reply. Whether a request was made here or
 * only passes through is told by skb->skb_iif: the receive path sets it,
 * so a locally generated packet (a ping, or the kernel's echo reply) has 0
 * and a forwarded one the index of the device it came in by.
 *
 * The transmit stamp is net_dev_start_xmit, taken before the driver gets
 * the skb: at net_dev_xmit the driver may already have freed it (a real
 * NIC's completion) or handed it on (veth moves it into the peer's netns),
 * so its headers and device can no longer be trusted.
 *
 * The same hooks serve both directions; the configured mode decides what
 * each one stamps. Each hook exists as a tp_btf and a raw_tp program
 * around one static function; user space keeps the pair member that loads
 * on this kernel.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>

#include "rtt.h"
#include "netparse.bpf.h"
#include "filter.bpf.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define ICMP_ECHOREPLY 0
#define ICMP_ECHO 8

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct st_rtt_cfg);
} rtt_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u8);
} rtt_netns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, struct st_rtt_dev);
	__type(value, __u8);
} rtt_devs SEC(".maps");

/* Exchanges in flight; a plain hash, not LRU, so a full map is seen and
 * counted instead of silently evicting an older request. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ST_RTT_MAX_PENDING);
	__type(key, struct st_rtt_key);
	__type(value, struct st_rtt_val);
} rtt_pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} rtt_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ST_RC_MAX);
	__type(key, __u32);
	__type(value, __u64);
} rtt_counters SEC(".maps");

static __always_inline void rc_count(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&rtt_counters, &idx);

	if (c)
		*c += 1;
}

/* What a hook saw: an echo request or reply, keyed, filtered. */
struct rtt_pkt {
	struct st_rtt_key key;
	__u32 ifindex;
	__u8 type;		/* ICMP_ECHO or ICMP_ECHOREPLY */
	__u8 local;		/* skb_iif == 0: made on this host */
};

/*
 * Classify a keyed packet: 0 when it is an echo request or reply that
 * passes the filters, with the exchange key oriented by mode (in tx the
 * requester is local, in rx the responder is).
 */
static __always_inline int rtt_classify(struct sk_buff *skb, const struct st_rtt_cfg *c,
					const struct st_pkt_key *pk, struct rtt_pkt *p)
{
	struct st_pkt_key req;
	__u32 netns, ifindex;
	int is_req;

	if (pk->proto != 1)
		return -1;
	p->type = bpf_ntohs(pk->dport) >> 8;
	if (p->type != ICMP_ECHO && p->type != ICMP_ECHOREPLY)
		return -1;
	is_req = p->type == ICMP_ECHO;

	st_skb_where(skb, &netns, &ifindex);
	if ((c->flags & ST_RTF_NETNS) && !bpf_map_lookup_elem(&rtt_netns, &netns))
		goto filtered;
	if (c->flags & ST_RTF_DEV) {
		struct st_rtt_dev dk = { .netns = netns, .ifindex = ifindex };

		if (!bpf_map_lookup_elem(&rtt_devs, &dk))
			goto filtered;
	}
	/* Address filters name the request's source and destination. */
	req = *pk;
	if (!is_req) {
		req.saddr = pk->daddr;
		req.daddr = pk->saddr;
	}
	if ((c->pf.flags & ST_PF_HEADERS) && !st_pf_match(&c->pf, &req))
		goto filtered;

	p->key.netns = netns;
	if (c->mode == ST_RTT_TX) {
		p->key.laddr = req.saddr;
		p->key.raddr = req.daddr;
	} else {
		p->key.laddr = req.daddr;
		p->key.raddr = req.saddr;
	}
	p->key.id = pk->sport;
	p->key.seq = (__u16)pk->disc1;
	p->ifindex = ifindex;
	p->local = BPF_CORE_READ(skb, skb_iif) == 0;
	return 0;
filtered:
	rc_count(ST_RC_FILTERED);
	return -1;
}

/* Parse skb at a device hook (MAC header or skb->protocol known). */
static __always_inline int rtt_parse(struct sk_buff *skb, const struct st_rtt_cfg *c,
				     struct rtt_pkt *p)
{
	struct st_parse_out po = {};
	struct st_pkt_key pk = {};

	if (BPF_CORE_READ(skb, protocol) != bpf_htons(ST_ETH_P_IP))
		return -1;
	if (st_parse_skb(skb, &pk, &po))
		return -1;
	return rtt_classify(skb, c, &pk, p);
}

/* A new exchange, first stamp t0: the request leaving (tx) or arriving
 * (rx, incoming set) by p's device. */
static __always_inline void rtt_track(const struct rtt_pkt *p, __u64 now, int incoming)
{
	struct st_rtt_val *old = bpf_map_lookup_elem(&rtt_pending, &p->key);
	struct st_rtt_val v = {};

	if (old) {
		/* Made by the ip_output hook: fill in the first stamp. A
		 * second (stacked) device's queue changes nothing. */
		if (!old->t[0]) {
			old->t[0] = now;
			old->ifindex_out = p->ifindex;
		}
		return;
	}
	v.t[0] = now;
	if (incoming)
		v.ifindex_in = p->ifindex;
	else
		v.ifindex_out = p->ifindex;
	if (bpf_map_update_elem(&rtt_pending, &p->key, &v, BPF_NOEXIST) == 0)
		rc_count(ST_RC_REQUESTS);
	else if (!bpf_map_lookup_elem(&rtt_pending, &p->key))
		rc_count(ST_RC_MAP_FULL);
}

/* The last stamp: whoever deletes the entry first owns the exchange. */
static __always_inline void rtt_complete(const struct rtt_pkt *p, struct st_rtt_val *v)
{
	struct st_rtt_event *e;
	struct st_rtt_val copy = *v;

	if (bpf_map_delete_elem(&rtt_pending, &p->key))
		return;		/* timed out in the meantime: user space counted it */
	rc_count(ST_RC_ANSWERED);
	e = bpf_ringbuf_reserve(&rtt_events, sizeof(*e), 0);
	if (!e) {
		rc_count(ST_RC_RINGBUF_FULL);
		return;
	}
	e->key = p->key;
	e->val = copy;
	bpf_ringbuf_submit(e, 0);
}

static __always_inline struct st_rtt_cfg *rtt_config(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&rtt_cfg, &zero);
}

static __always_inline int rtt_queue(__u64 *ctx)
{
	struct sk_buff *skb = (struct sk_buff *)ctx[0];
	struct st_rtt_cfg *c = rtt_config();
	struct rtt_pkt p = {};
	struct st_rtt_val *v;

	if (!c || !skb || rtt_parse(skb, c, &p))
		return 0;
	if (c->mode == ST_RTT_TX) {
		if (p.type == ICMP_ECHO && p.local)
			rtt_track(&p, bpf_ktime_get_ns(), 0);
		return 0;
	}
	if (p.type == ICMP_ECHO && !p.local) {
		/* rx: a request received here and now sent on: not ours. */
		if (bpf_map_delete_elem(&rtt_pending, &p.key) == 0)
			rc_count(ST_RC_FORWARDED);
		return 0;
	}
	if (p.type != ICMP_ECHOREPLY || !p.local)
		return 0;
	v = bpf_map_lookup_elem(&rtt_pending, &p.key);
	if (!v) {
		rc_count(ST_RC_UNMATCHED);
		return 0;
	}
	if (!v->t[1]) {
		v->t[1] = bpf_ktime_get_ns();
		v->ifindex_out = p.ifindex;
	}
	return 0;
}

static __always_inline int rtt_xmit(__u64 *ctx)
{
	struct sk_buff *skb = (struct sk_buff *)ctx[0];
	struct st_rtt_cfg *c = rtt_config();
	struct rtt_pkt p = {};
	struct st_rtt_val *v;

	if (!c || !skb || rtt_parse(skb, c, &p))
		return 0;
	if (!p.local)
		return 0;
	if (c->mode == ST_RTT_TX) {
		if (p.type != ICMP_ECHO)
			return 0;
		v = bpf_map_lookup_elem(&rtt_pending, &p.key);
		/* Stacked devices: the last transmit before the reply counts. */
		if (v && !v->t[2]) {
			v->t[1] = bpf_ktime_get_ns();
			v->ifindex_out = p.ifindex;
		}
		return 0;
	}
	if (p.type != ICMP_ECHOREPLY)
		return 0;
	v = bpf_map_lookup_elem(&rtt_pending, &p.key);
	/* Completed even when the reply's queueing was not seen (t1 = 0). */
	if (!v)
		return 0;
	v->t[2] = bpf_ktime_get_ns();
	rtt_complete(&p, v);
	return 0;
}

static __always_inline int rtt_receive(__u64 *ctx)
{
	struct sk_buff *skb = (struct sk_buff *)ctx[0];
	struct st_rtt_cfg *c = rtt_config();
	struct rtt_pkt p = {};
	struct st_rtt_val *v;

	if (!c || !skb || rtt_parse(skb, c, &p))
		return 0;
	if (c->mode == ST_RTT_RX) {
		if (p.type == ICMP_ECHO)
			rtt_track(&p, bpf_ktime_get_ns(), 1);
		return 0;
	}
	if (p.type != ICMP_ECHOREPLY)
		return 0;
	v = bpf_map_lookup_elem(&rtt_pending, &p.key);
	if (!v) {
		rc_count(ST_RC_UNMATCHED);
		return 0;
	}
	/* The first device the reply arrives at (before any bridge above). */
	if (!v->t[2]) {
		v->t[2] = bpf_ktime_get_ns();
		v->ifindex_in = p.ifindex;
	}
	return 0;
}

/* tx: the reply freed after receive = the ICMP layer is done with it. */
static __always_inline int rtt_free(__u64 *ctx)
{
	struct sk_buff *skb = (struct sk_buff *)ctx[0];
	struct st_rtt_cfg *c = rtt_config();
	struct rtt_pkt p = {};
	struct st_rtt_val *v;

	if (!c || !skb || c->mode != ST_RTT_TX || rtt_parse(skb, c, &p) ||
	    p.type != ICMP_ECHOREPLY)
		return 0;
	v = bpf_map_lookup_elem(&rtt_pending, &p.key);
	if (!v || !v->t[2])
		return 0;
	v->t[3] = bpf_ktime_get_ns();
	rtt_complete(&p, v);
	return 0;
}

/*
 * ip_output(net, sk, skb): IP output of a datagram built here (ping and
 * raw sockets, the kernel's echo replies), after the OUTPUT chain. It is
 * every route's output function, so an out-of-line copy always runs (the
 * first choice, ip_send_skb, attached fine on Debian's 6.12 and saw no
 * ping at all: ip_push_pending_frames presumably has it inlined). Forwarded
 * packets pass it too; only
 * ones made here (skb_iif 0) count. skb->protocol and the MAC header are
 * not set yet, so the key comes from the network header; with a device
 * filter this hook stamps nothing (the device is only being chosen).
 */
static __always_inline int rtt_ip_out(struct sk_buff *skb)
{
	struct st_rtt_cfg *c = rtt_config();
	struct st_pkt_key pk = {};
	struct rtt_pkt p = {};
	struct st_rtt_val *v, nv = {};
	const void *head;
	__u32 off;

	if (!c || !skb || (c->flags & ST_RTF_DEV))
		return 0;
	head = BPF_CORE_READ(skb, head);
	off = BPF_CORE_READ(skb, network_header);
	if (st_parse_l3(head, &off, &pk, 0) || rtt_classify(skb, c, &pk, &p) || !p.local)
		return 0;
	if (c->mode == ST_RTT_TX) {
		if (p.type != ICMP_ECHO)
			return 0;
		nv.t[4] = bpf_ktime_get_ns();
		if (bpf_map_update_elem(&rtt_pending, &p.key, &nv, BPF_NOEXIST) == 0)
			rc_count(ST_RC_REQUESTS);
		else if (!bpf_map_lookup_elem(&rtt_pending, &p.key))
			rc_count(ST_RC_MAP_FULL);
		return 0;
	}
	if (p.type != ICMP_ECHOREPLY)
		return 0;
	v = bpf_map_lookup_elem(&rtt_pending, &p.key);
	if (v && !v->t[4])
		v->t[4] = bpf_ktime_get_ns();
	return 0;
}

SEC("fentry/ip_output")
int BPF_PROG(fentry_ip_output, struct net *net, struct sock *sk, struct sk_buff *skb)
{
	return rtt_ip_out(skb);
}

SEC("kprobe/ip_output")
int BPF_KPROBE(kprobe_ip_output, struct net *net, struct sock *sk, struct sk_buff *skb)
{
	return rtt_ip_out(skb);
}

#define RTT_HOOK(tp, fn)						\
	SEC("tp_btf/" #tp) int btf_##tp(__u64 *ctx) { return fn(ctx); } \
	SEC("raw_tp/" #tp) int raw_##tp(__u64 *ctx) { return fn(ctx); }

RTT_HOOK(net_dev_queue, rtt_queue)
RTT_HOOK(net_dev_start_xmit, rtt_xmit)
RTT_HOOK(netif_receive_skb, rtt_receive)
RTT_HOOK(consume_skb, rtt_free)
RTT_HOOK(kfree_skb, rtt_free)
