// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Segmentation offload parameters of transmitted packets (bpf/offload.h),
 * at net:net_dev_queue and net:net_dev_start_xmit.
 *
 * skb_shared_info sits at skb->head + skb->end. Whether skb->end is an
 * offset (64-bit kernels: sk_buff_data_t is unsigned int) or a pointer is
 * read from the running kernel's BTF with bpf_core_field_size, never
 * assumed. The GSO type values the checks use come from user space, which
 * reads them from the kernel's BTF enum; nothing here knows a bit value.
 *
 * Each packet: device filters -> shared info -> checks -> count per (device,
 * hook, flow, gso_type) in the current generation's map -> an event for
 * abnormal packets (always) or every GSO packet (-v).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>

#include "offload.h"
#include "parse.bpf.h"
#include "filter.bpf.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

volatile __u32 offload_gen;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct st_of_cfg);
} of_cfg SEC(".maps");

#define OF_ROW_MAP(name)					\
	struct {						\
		__uint(type, BPF_MAP_TYPE_PERCPU_HASH);		\
		__uint(max_entries, ST_OF_MAX_KEYS);		\
		__type(key, struct st_of_key);			\
		__type(value, struct st_of_val);		\
	} name SEC(".maps")

OF_ROW_MAP(of_rows0);
OF_ROW_MAP(of_rows1);

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} of_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ST_OC_MAX);
	__type(key, __u32);
	__type(value, __u64);
} of_counters SEC(".maps");

static __always_inline void oc(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&of_counters, &idx);

	if (c)
		*c += 1;
}

static __always_inline struct skb_shared_info *of_shinfo(struct sk_buff *skb)
{
	__u64 head = (__u64)BPF_CORE_READ(skb, head);

	if (bpf_core_field_size(skb->end) == 4)
		return (struct skb_shared_info *)(head + (__u32)BPF_CORE_READ(skb, end));
	return (struct skb_shared_info *)(__u64)BPF_CORE_READ(skb, end);
}

static __always_inline __u32 of_check(const struct st_of_cfg *c, __u32 type, __u16 size,
				      __u16 segs, __u32 mtu, const struct st_pkt_key *pk,
				      int keyed)
{
	__u32 why = 0;

	if (type & ~c->known_types)
		why |= ST_OA_UNKNOWN_BITS;
	if (size && !(type & c->proto_types))
		why |= ST_OA_NO_TYPE;
	if (!size && segs > 1)
		why |= ST_OA_NO_SIZE;
	if (size && mtu && size > mtu)
		why |= ST_OA_OVER_MTU;
	/* The outer header of a tunnelled packet is not the L4 GSO works on. */
	if (keyed && size && !(type & c->tunnel_types)) {
		if ((type & c->tcp_types) && pk->proto != 6)
			why |= ST_OA_L4_MISMATCH;
		if ((type & c->udp_types) && pk->proto != 17)
			why |= ST_OA_L4_MISMATCH;
	}
	return why;
}

static __always_inline void of_add(void *map, const struct st_of_key *k, __u32 len,
				   __u16 size, __u16 segs, __u32 why)
{
	struct st_of_val *v = bpf_map_lookup_elem(map, k), nv = {};

	if (!v) {
		bpf_map_update_elem(map, k, &nv, BPF_NOEXIST);
		v = bpf_map_lookup_elem(map, k);
		if (!v) {
			oc(ST_OC_MAP_FULL);
			return;
		}
	}
	v->packets++;
	v->bytes += len;
	if (size) {
		v->gso_packets++;
		v->segs_sum += segs;
		if (segs > v->segs_max)
			v->segs_max = segs;
		v->size_sum += size;
		if (!v->size_min || size < v->size_min)
			v->size_min = size;
		if (size > v->size_max)
			v->size_max = size;
	}
	if (why) {
		v->abnormal++;
		v->why |= why;
	}
	oc(ST_OC_COUNTED);
}

static __always_inline int of_packet(struct sk_buff *skb, struct net_device *dev, __u32 hook)
{
	__u32 zero = 0, type, mtu, why, len;
	struct st_of_cfg *c = bpf_map_lookup_elem(&of_cfg, &zero);
	struct skb_shared_info *si;
	struct st_parse_out po = {};
	struct st_pkt_key pk = {};
	struct st_of_key k = {};
	struct st_of_event *e;
	__u16 size, segs;
	int keyed;

	if (!c || !skb)
		return 0;
	oc(ST_OC_CALLS);
	if (!dev)
		dev = BPF_CORE_READ(skb, dev);
	if (!dev)
		return 0;
	k.netns = BPF_CORE_READ(dev, nd_net.net, ns.inum);
	k.ifindex = BPF_CORE_READ(dev, ifindex);
	if (((c->flags & ST_OFF_NETNS) && k.netns != c->netns) ||
	    ((c->flags & ST_OFF_DEV) && (k.netns != c->dev_netns || k.ifindex != c->dev_ifindex))) {
		oc(ST_OC_FILTERED);
		return 0;
	}
	keyed = st_parse_skb(skb, &pk, &po) == 0;
	if ((c->pf.flags & ST_PF_HEADERS) && (!keyed || !st_pf_match(&c->pf, &pk))) {
		oc(ST_OC_FILTER_HDR);
		return 0;
	}
	si = of_shinfo(skb);
	size = BPF_CORE_READ(si, gso_size);
	segs = BPF_CORE_READ(si, gso_segs);
	type = BPF_CORE_READ(si, gso_type);
	mtu = BPF_CORE_READ(dev, mtu);
	len = BPF_CORE_READ(skb, len);
	why = of_check(c, type, size, segs, mtu, &pk, keyed);
	if (why)
		oc(ST_OC_ABNORMAL);
	else if (c->flags & ST_OFF_ABNORMAL)
		return 0;

	k.hook = hook;
	k.gso_type = type;
	if (keyed) {
		k.saddr = pk.saddr;
		k.daddr = pk.daddr;
		k.proto = pk.proto;
		if (pk.proto == 6 || pk.proto == 17) {
			k.sport = pk.sport;
			k.dport = pk.dport;
		}
	}
	if (offload_gen & 1)
		of_add(&of_rows1, &k, len, size, segs, why);
	else
		of_add(&of_rows0, &k, len, size, segs, why);

	if (!why && !((c->flags & ST_OFF_EVENTS) && size))
		return 0;
	e = bpf_ringbuf_reserve(&of_events, sizeof(*e), 0);
	if (!e) {
		oc(ST_OC_RINGBUF_FULL);
		return 0;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->ts = bpf_ktime_get_ns();
	e->netns = k.netns;
	e->ifindex = k.ifindex;
	e->hook = hook;
	e->gso_type = type;
	e->len = len;
	e->mtu = mtu;
	e->gso_size = size;
	e->gso_segs = segs;
	e->why = why;
	e->keyed = keyed;
	e->key = pk;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tp_btf/net_dev_queue")
int btf_net_dev_queue(__u64 *ctx)
{
	return of_packet((struct sk_buff *)ctx[0], NULL, ST_OF_QUEUE);
}

SEC("raw_tp/net_dev_queue")
int raw_net_dev_queue(__u64 *ctx)
{
	return of_packet((struct sk_buff *)ctx[0], NULL, ST_OF_QUEUE);
}

SEC("tp_btf/net_dev_start_xmit")
int btf_net_dev_start_xmit(__u64 *ctx)
{
	return of_packet((struct sk_buff *)ctx[0], (struct net_device *)ctx[1], ST_OF_XMIT);
}

SEC("raw_tp/net_dev_start_xmit")
int raw_net_dev_start_xmit(__u64 *ctx)
{
	return of_packet((struct sk_buff *)ctx[0], (struct net_device *)ctx[1], ST_OF_XMIT);
}
