// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The hop-by-hop path of one filtered flow: every hook a packet passes
 * emits one event (bpf/flow.h), user space joins them per packet.
 *
 * Each event: IPv4 only (skb->protocol) -> netns and device filters ->
 * key the packet (parse.bpf.h: through 802.1Q tags in the frame or in
 * skb->vlan_tci, and VXLAN) -> header filter (required by user space, so
 * the ring carries one flow, not the host's traffic) -> VLAN filter ->
 * event. The VLAN filter passes a packet seen with the tag and remembers
 * its packet id, so the hops after the tag is removed (or before it is
 * re-inserted) of the same packet still pass; hops before the first tagged
 * one cannot be known to belong to it and are not shown.
 *
 * The device of a hop is the skb's, except at qdisc_enqueue/dequeue where
 * it is the queue's device. Each hook exists as a tp_btf and a raw_tp
 * program around one static function; user space keeps the one that loads.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>

#include "flow.h"
#include "netparse.bpf.h"
#include "filter.bpf.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct st_flow_cfg);
} flow_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u8);
} flow_netns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, struct st_flow_dev);
	__type(value, __u8);
} flow_devs SEC(".maps");

/* Packet ids seen with the --vlan tag. LRU: an old packet's id may go,
 * its path is long over; a failed insert is counted all the same. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, ST_FLOW_VLAN_PKTS);
	__type(key, __u64);
	__type(value, __u8);
} flow_vlan_pkts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} flow_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ST_FC_MAX);
	__type(key, __u32);
	__type(value, __u64);
} flow_counters SEC(".maps");

static __always_inline void fc_count(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&flow_counters, &idx);

	if (c)
		*c += 1;
}

/* dev: the hop's device when it is not skb->dev (qdisc hooks), else NULL. */
static __always_inline int fl_hop(struct sk_buff *skb, struct net_device *dev, __u8 stage,
				  __u32 reason)
{
	__u32 zero = 0;
	struct st_flow_cfg *c = bpf_map_lookup_elem(&flow_cfg, &zero);
	struct st_parse_out po = {};
	struct st_pkt_key k = {};
	struct st_flow_event *e;
	__u32 netns, ifindex;
	__u64 id;
	__u16 proto;
	__u8 one = 1;

	if (!c || !skb)
		return 0;
	/* Cheap pre-check; 0 is a packet socket's frame of unknown type. */
	proto = BPF_CORE_READ(skb, protocol);
	if (proto != bpf_htons(ST_ETH_P_IP) && proto != bpf_htons(ST_ETH_P_8021Q) &&
	    proto != bpf_htons(ST_ETH_P_8021AD) && proto != 0)
		return 0;
	fc_count(ST_FC_CALLS);
	if (dev) {
		netns = BPF_CORE_READ(dev, nd_net.net, ns.inum);
		ifindex = BPF_CORE_READ(dev, ifindex);
	} else {
		st_skb_where(skb, &netns, &ifindex);
	}
	if ((c->flags & ST_FF_NETNS) && !bpf_map_lookup_elem(&flow_netns, &netns))
		goto filtered;
	if (c->flags & ST_FF_DEV) {
		struct st_flow_dev dk = { .netns = netns, .ifindex = ifindex };

		if (!bpf_map_lookup_elem(&flow_devs, &dk))
			goto filtered;
	}
	if (st_parse_skb(skb, &k, &po) || !st_pf_match(&c->pf, &k))
		goto filtered;
	id = st_pkt_id(&k);
	if (c->flags & ST_FF_VLAN) {
		if ((po.encap & (ST_ENC_VLAN | ST_ENC_QINQ)) && po.vlan == c->vlan) {
			if (bpf_map_update_elem(&flow_vlan_pkts, &id, &one, BPF_ANY))
				fc_count(ST_FC_VLAN_MAP_FULL);
		} else if (!bpf_map_lookup_elem(&flow_vlan_pkts, &id)) {
			goto filtered;
		}
	}
	e = bpf_ringbuf_reserve(&flow_events, sizeof(*e), 0);
	if (!e) {
		fc_count(ST_FC_RINGBUF_FULL);
		return 0;
	}
	e->ts = bpf_ktime_get_ns();
	e->pkt_id = id;
	e->key = k;
	e->netns = netns;
	e->ifindex = ifindex;
	e->len = BPF_CORE_READ(skb, len);
	e->reason = reason;
	e->cpu = bpf_get_smp_processor_id();
	e->vlan = (po.encap & (ST_ENC_VLAN | ST_ENC_QINQ)) ? po.vlan : 0;
	e->stage = stage;
	e->encap = po.encap;
	bpf_ringbuf_submit(e, 0);
	fc_count(ST_FC_EVENTS);
	return 0;
filtered:
	fc_count(ST_FC_FILTERED);
	return 0;
}

static __always_inline int fl_rx(__u64 *ctx)
{
	return fl_hop((struct sk_buff *)ctx[0], NULL, ST_FS_RX, 0);
}

static __always_inline int fl_queue(__u64 *ctx)
{
	return fl_hop((struct sk_buff *)ctx[0], NULL, ST_FS_QUEUE, 0);
}

static __always_inline int fl_xmit(__u64 *ctx)
{
	return fl_hop((struct sk_buff *)ctx[0], NULL, ST_FS_XMIT, 0);
}

/* qdisc_enqueue(qdisc, txq, skb), qdisc_dequeue(qdisc, txq, packets, skb):
 * the queue's device, since skb->dev may not be set yet at enqueue. */
static __always_inline int fl_enq(__u64 *ctx)
{
	struct Qdisc *q = (struct Qdisc *)ctx[0];

	return fl_hop((struct sk_buff *)ctx[2], BPF_CORE_READ(q, dev_queue, dev), ST_FS_ENQ, 0);
}

static __always_inline int fl_deq(__u64 *ctx)
{
	struct Qdisc *q = (struct Qdisc *)ctx[0];

	return fl_hop((struct sk_buff *)ctx[3], BPF_CORE_READ(q, dev_queue, dev), ST_FS_DEQ, 0);
}

/* kfree_skb has a reason since 5.17; older kernels pass none. */
static __always_inline int fl_drop(__u64 *ctx)
{
	__u32 reason = 0;

	if (bpf_core_enum_value_exists(enum skb_drop_reason, SKB_DROP_REASON_NOT_SPECIFIED))
		reason = (__u32)ctx[2];
	return fl_hop((struct sk_buff *)ctx[0], NULL, ST_FS_DROP, reason);
}

static __always_inline int fl_free(__u64 *ctx)
{
	return fl_hop((struct sk_buff *)ctx[0], NULL, ST_FS_FREE, 0);
}

static __always_inline int fl_read(__u64 *ctx)
{
	return fl_hop((struct sk_buff *)ctx[0], NULL, ST_FS_READ, 0);
}

#define FL_HOOK(tp, fn)						\
	SEC("tp_btf/" #tp) int btf_##tp(__u64 *ctx) { return fn(ctx); } \
	SEC("raw_tp/" #tp) int raw_##tp(__u64 *ctx) { return fn(ctx); }

FL_HOOK(netif_receive_skb, fl_rx)
FL_HOOK(net_dev_queue, fl_queue)
FL_HOOK(qdisc_enqueue, fl_enq)
FL_HOOK(qdisc_dequeue, fl_deq)
FL_HOOK(net_dev_start_xmit, fl_xmit)
FL_HOOK(kfree_skb, fl_drop)
FL_HOOK(consume_skb, fl_free)
FL_HOOK(skb_copy_datagram_iovec, fl_read)
