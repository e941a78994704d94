// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Suspicious ARP: every ARP frame a device receives (net:netif_receive_skb)
 * or transmits (net:net_dev_start_xmit) becomes one ring-buffer event after
 * the netns, device and address filters; user space classifies it. A third
 * program on neigh:neigh_update reports the updates that would give a valid
 * IPv4 neighbour entry a different MAC address: the packet that contradicts
 * the neighbour table, checked against the table itself at the moment it
 * is applied.
 *
 * Each hook exists as tp_btf and raw_tp program around one static function;
 * user space keeps the pair the kernel takes. The receive program remembers
 * the ARP frame it saw in a per-CPU slot: neigh_update runs on the same CPU
 * in the same softirq while arp_rcv processes that frame, so the neighbour
 * event can say which ARP opcode caused it.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>

#include "arp.h"
#include "netparse.bpf.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* NUD_* states (uapi/linux/neighbour.h) whose MAC address is meaningful. */
#define NUD_WITH_MAC (0x02 | 0x04 | 0x08 | 0x10 | 0x80)
#define AF_INET 2

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct st_arp_cfg);
} arp_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u8);
} arp_netns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, struct st_arp_dev);
	__type(value, __u8);
} arp_devs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} arp_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ST_AC_MAX);
	__type(key, __u32);
	__type(value, __u64);
} arp_counters SEC(".maps");

/* The last ARP frame received on this CPU (see the file comment). */
struct arp_slot {
	__u64 ts;
	__u32 netns, ifindex, spa;
	__u16 op;
	__u8 sha[6];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct arp_slot);
} arp_last_rx SEC(".maps");

static __always_inline void ac_count(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&arp_counters, &idx);

	if (c)
		*c += 1;
}

/* 1 when (netns, ifindex) passes the netns and device filters. */
static __always_inline int arp_where_ok(const struct st_arp_cfg *c, __u32 netns,
					__u32 ifindex)
{
	if ((c->flags & ST_ARP_F_NETNS) && !bpf_map_lookup_elem(&arp_netns, &netns))
		return 0;
	if (c->flags & ST_ARP_F_DEV) {
		struct st_arp_dev dk = { .netns = netns, .ifindex = ifindex };

		if (!bpf_map_lookup_elem(&arp_devs, &dk))
			return 0;
	}
	return 1;
}

/* clang 14 does not inline __builtin_memcmp for BPF. */
static __always_inline int mac_eq(const __u8 *a, const __u8 *b)
{
	int d = 0;

#pragma unroll
	for (int i = 0; i < 6; i++)
		d |= a[i] ^ b[i];
	return !d;
}

static __always_inline __u32 ip4(const __u8 *b)
{
	__u32 v;

	__builtin_memcpy(&v, b, 4);
	return v;
}

static __always_inline int arp_packet(const struct sk_buff *skb, __u8 dir)
{
	__u32 zero = 0, netns, ifindex, off;
	struct st_arp_cfg *c = bpf_map_lookup_elem(&arp_cfg, &zero);
	struct st_ethhdr_min eth;
	struct st_arp_event *e;
	struct st_arphdr a;
	const void *head;
	__u16 mac;

	if (!c || !skb)
		return 0;
	ac_count(dir == ST_ARP_RX ? ST_AC_RX_CALLS : ST_AC_TX_CALLS);
	/* Cheap test first: most frames are not ARP. */
	if (st_skb_l3(skb, &head, &off) != bpf_htons(ST_ETH_P_ARP))
		return 0;
	ac_count(ST_AC_ARP);
	if (st_read_arp(head, off, &a)) {
		ac_count(ST_AC_NOT_ETH_IP);
		return 0;
	}
	st_skb_where(skb, &netns, &ifindex);
	if (!arp_where_ok(c, netns, ifindex) ||
	    ((c->flags & ST_ARP_F_SRC) && (ip4(a.spa) & c->src_mask) != c->src) ||
	    ((c->flags & ST_ARP_F_DST) && (ip4(a.tpa) & c->dst_mask) != c->dst)) {
		ac_count(ST_AC_FILTERED);
		return 0;
	}
	if (dir == ST_ARP_RX) {
		struct arp_slot *s = bpf_map_lookup_elem(&arp_last_rx, &zero);

		if (s) {
			s->ts = bpf_ktime_get_ns();
			s->netns = netns;
			s->ifindex = ifindex;
			s->spa = ip4(a.spa);
			s->op = bpf_ntohs(a.op);
			__builtin_memcpy(s->sha, a.sha, 6);
		}
	}
	e = bpf_ringbuf_reserve(&arp_events, sizeof(*e), 0);
	if (!e) {
		ac_count(ST_AC_RINGBUF_FULL);
		return 0;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->ts = bpf_ktime_get_ns();
	e->netns = netns;
	e->ifindex = ifindex;
	e->kind = ST_ARP_PACKET;
	e->dir = dir;
	e->op = bpf_ntohs(a.op);
	e->spa = ip4(a.spa);
	e->tpa = ip4(a.tpa);
	__builtin_memcpy(e->sha, a.sha, 6);
	__builtin_memcpy(e->tha, a.tha, 6);
	/* The Ethernet destination tells broadcast from unicast. */
	mac = BPF_CORE_READ(skb, mac_header);
	if (mac != (__u16)~0U && !bpf_probe_read_kernel(&eth, sizeof(eth), head + mac))
		__builtin_memcpy(e->eth_dst, eth.dst, 6);
	e->cpu = bpf_get_smp_processor_id();
	bpf_ringbuf_submit(e, 0);
	ac_count(ST_AC_EMITTED);
	return 0;
}

static __always_inline int arp_neigh(struct neighbour *n, const __u8 *lladdr, __u8 state,
				     __u32 flags, __u32 nlmsg_pid)
{
	__u32 zero = 0, netns, ifindex, ip = 0;
	struct st_arp_cfg *c = bpf_map_lookup_elem(&arp_cfg, &zero);
	struct st_arp_event *e;
	struct net_device *dev;
	struct arp_slot *s;
	__u8 old, newmac[6], oldmac[6];
	__u64 now;

	if (!c || !n)
		return 0;
	ac_count(ST_AC_NEIGH_CALLS);
	if (!lladdr || BPF_CORE_READ(n, tbl, family) != AF_INET)
		return 0;
	old = BPF_CORE_READ(n, nud_state);
	if (!(old & NUD_WITH_MAC))
		return 0;
	if (bpf_probe_read_kernel(newmac, 6, lladdr) ||
	    bpf_probe_read_kernel(oldmac, 6, &n->ha[0]) ||
	    bpf_probe_read_kernel(&ip, 4, &n->primary_key[0]))
		return 0;
	if (mac_eq(newmac, oldmac))
		return 0;
	ac_count(ST_AC_NEIGH_CHANGES);
	dev = BPF_CORE_READ(n, dev);
	netns = BPF_CORE_READ(dev, nd_net.net, ns.inum);
	ifindex = BPF_CORE_READ(dev, ifindex);
	if (!arp_where_ok(c, netns, ifindex) ||
	    ((c->flags & ST_ARP_F_SRC) && (ip & c->src_mask) != c->src)) {
		ac_count(ST_AC_FILTERED);
		return 0;
	}
	e = bpf_ringbuf_reserve(&arp_events, sizeof(*e), 0);
	if (!e) {
		ac_count(ST_AC_RINGBUF_FULL);
		return 0;
	}
	__builtin_memset(e, 0, sizeof(*e));
	now = bpf_ktime_get_ns();
	e->ts = now;
	e->netns = netns;
	e->ifindex = ifindex;
	e->kind = ST_ARP_NEIGH;
	e->spa = ip;
	__builtin_memcpy(e->sha, newmac, 6);
	__builtin_memcpy(e->tha, oldmac, 6);
	e->old_state = old;
	e->new_state = state;
	e->nflags = flags;
	e->nlmsg_pid = nlmsg_pid;
	e->cpu = bpf_get_smp_processor_id();
	/* The frame arp_rcv is processing now, if this update is its doing. */
	s = bpf_map_lookup_elem(&arp_last_rx, &zero);
	if (s && now - s->ts < 1000000 && s->netns == netns && s->ifindex == ifindex &&
	    s->spa == ip && mac_eq(s->sha, newmac))
		e->op = s->op;
	bpf_ringbuf_submit(e, 0);
	ac_count(ST_AC_EMITTED);
	return 0;
}

SEC("tp_btf/netif_receive_skb")
int BPF_PROG(btf_arp_rx, struct sk_buff *skb)
{
	return arp_packet(skb, ST_ARP_RX);
}

SEC("raw_tp/netif_receive_skb")
int BPF_PROG(raw_arp_rx, struct sk_buff *skb)
{
	return arp_packet(skb, ST_ARP_RX);
}

SEC("tp_btf/net_dev_start_xmit")
int BPF_PROG(btf_arp_tx, struct sk_buff *skb)
{
	return arp_packet(skb, ST_ARP_TX);
}

SEC("raw_tp/net_dev_start_xmit")
int BPF_PROG(raw_arp_tx, struct sk_buff *skb)
{
	return arp_packet(skb, ST_ARP_TX);
}

SEC("tp_btf/neigh_update")
int BPF_PROG(btf_arp_neigh, struct neighbour *n, const __u8 *lladdr, __u8 state,
	     __u32 flags, __u32 nlmsg_pid)
{
	return arp_neigh(n, lladdr, state, flags, nlmsg_pid);
}

SEC("raw_tp/neigh_update")
int BPF_PROG(raw_arp_neigh, struct neighbour *n, const __u8 *lladdr, __u8 state,
	     __u32 flags, __u32 nlmsg_pid)
{
	return arp_neigh(n, lladdr, state, flags, nlmsg_pid);
}
