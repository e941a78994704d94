/* SPDX-License-Identifier: MIT */
/*
 * Packet key extraction from an sk_buff, for tracing programs.
 *
 * Tracing hooks see the skb at different points: on receive, data already
 * points past the Ethernet header; on transmit it points at it. So the
 * parser starts from skb->head + mac_header when the MAC header is set and
 * falls back to the network header and skb->protocol otherwise. Every read
 * is a bounded bpf_probe_read_kernel of a fixed-size header; there are no
 * loops except the fixed two-level encapsulation walk (outer, VXLAN or
 * Geneve inner), which the compiler unrolls. Geneve's variable-length
 * options need no loop either: the header says their total length
 * (opt_len, in 4-byte units, at most 252 bytes), so the inner frame starts
 * at a computed offset that is masked to its 6-bit range.
 *
 * Only IPv4 is keyed today; IPv6 is an addition to this file.
 */
#ifndef ST_PARSE_BPF_H
#define ST_PARSE_BPF_H

#include "stages.h"

#define ST_ETH_P_IP    0x0800
#define ST_ETH_P_8021Q 0x8100
#define ST_ETH_P_8021AD 0x88A8
#define ST_ETH_P_TEB   0x6558	/* Transparent Ethernet Bridging */
#define ST_VXLAN_PORT  4789
#define ST_GENEVE_PORT 6081

/* st_parse_l3 results that mean "a tunnel header follows at *off". */
#define ST_TUN_VXLAN  1
#define ST_TUN_GENEVE 2

struct st_parse_out {
	__u32 outer_saddr, outer_daddr, vni;
	__u16 vlan;
	__u8 encap;
};

struct st_ethhdr_min {
	__u8 dst[6];
	__u8 src[6];
	__u16 proto;
};

struct st_iphdr_min {
	__u8 vihl;
	__u8 tos;
	__u16 tot_len;
	__u16 id;
	__u16 frag_off;
	__u8 ttl;
	__u8 protocol;
	__u16 check;
	__u32 saddr;
	__u32 daddr;
};

struct st_l4_min {
	__u16 sport;		/* ICMP: type, code */
	__u16 dport;		/* ICMP: checksum */
	__u32 w1;		/* UDP: len, csum; TCP: seq; ICMP: id, seq */
	__u32 w2;		/* TCP: ack */
	__u8 doff;		/* TCP data offset << 4 */
	__u8 flags;
};

/* Skip Ethernet and up to two VLAN tags; returns the L3 protocol (network
 * order) and advances *off, or 0 when the header cannot be read. */
static __always_inline __u16 st_parse_l2(const void *head, __u32 *off,
					 struct st_parse_out *po)
{
	struct st_ethhdr_min eth;
	__u16 proto;
	__u32 tag;

	if (bpf_probe_read_kernel(&eth, sizeof(eth), head + *off))
		return 0;
	*off += sizeof(eth);
	proto = eth.proto;
#pragma unroll
	for (int i = 0; i < 2; i++) {
		if (proto != bpf_htons(ST_ETH_P_8021Q) &&
		    proto != bpf_htons(ST_ETH_P_8021AD))
			break;
		if (bpf_probe_read_kernel(&tag, sizeof(tag), head + *off))
			return 0;
		if (!po->vlan)
			po->vlan = bpf_ntohs((__u16)tag) & 0x0fff;
		po->encap |= i ? ST_ENC_QINQ : ST_ENC_VLAN;
		proto = (__u16)(tag >> 16);
		*off += 4;
	}
	return proto;
}

/*
 * Parse IPv4 + L4 at head + off into key. Returns ST_TUN_VXLAN or
 * ST_TUN_GENEVE when the packet is a datagram to that tunnel's port whose
 * tunnel header starts at *off on return, 0 when the key is complete,
 * negative when the packet cannot be keyed.
 */
static __always_inline int st_parse_l3(const void *head, __u32 *off,
				       struct st_pkt_key *key, int allow_tunnel)
{
	struct st_iphdr_min ip;
	struct st_l4_min l4 = {};
	__u32 ihl, l4off, frag;

	if (bpf_probe_read_kernel(&ip, sizeof(ip), head + *off))
		return -1;
	if ((ip.vihl >> 4) != 4)
		return -1;
	ihl = (ip.vihl & 0x0f) * 4;
	if (ihl < 20)
		return -1;
	l4off = *off + ihl;
	frag = bpf_ntohs(ip.frag_off) & 0x1fff;

	key->saddr = ip.saddr;
	key->daddr = ip.daddr;
	key->proto = ip.protocol;
	key->sport = 0;
	key->dport = 0;
	key->disc1 = ((__u32)bpf_ntohs(ip.id) << 16) | frag;
	key->disc2 = bpf_ntohs(ip.tot_len);

	/* Non-first fragments carry no L4 header; the IP id keys them. */
	if (frag)
		return 0;

	if (ip.protocol == 6 /* TCP */) {
		if (bpf_probe_read_kernel(&l4, 14, head + l4off))
			return -1;
		key->sport = l4.sport;
		key->dport = l4.dport;
		key->disc1 = bpf_ntohl(l4.w1);
		key->disc2 = bpf_ntohs(ip.tot_len) - ihl - (l4.doff >> 4) * 4;
	} else if (ip.protocol == 17 /* UDP */) {
		if (bpf_probe_read_kernel(&l4, 8, head + l4off))
			return -1;
		key->sport = l4.sport;
		key->dport = l4.dport;
		if (allow_tunnel && l4.dport == bpf_htons(ST_VXLAN_PORT)) {
			*off = l4off + 8;
			return ST_TUN_VXLAN;
		}
		if (allow_tunnel && l4.dport == bpf_htons(ST_GENEVE_PORT)) {
			*off = l4off + 8;
			return ST_TUN_GENEVE;
		}
	} else if (ip.protocol == 1 /* ICMP */) {
		if (bpf_probe_read_kernel(&l4, 8, head + l4off))
			return -1;
		/* type/code in sport's bytes; echo id and seq in w1. */
		key->dport = l4.sport;
		key->sport = (__u16)l4.w1;
		key->disc1 = bpf_ntohs((__u16)(l4.w1 >> 16));
	}
	return 0;
}

/*
 * Build the key of the innermost IPv4 packet in skb. 0 on success.
 * is_ip: the caller knows the packet is IPv4 even if skb->protocol does not
 * say so yet (ip_send_skb runs before __ip_local_out sets it, with no MAC
 * header yet either).
 */
static __always_inline int st_parse_skb_ip(struct sk_buff *skb,
					   struct st_pkt_key *key,
					   struct st_parse_out *po, int is_ip)
{
	const void *head = BPF_CORE_READ(skb, head);
	__u16 mac = BPF_CORE_READ(skb, mac_header);
	__u16 nh = BPF_CORE_READ(skb, network_header);
	__u16 proto;
	__u32 off;
	int rc;

	/*
	 * A frame a NAPI driver hands to GRO (napi_gro_receive_entry: virtio-
	 * net, most NICs) has its MAC header set by eth_type_trans but no
	 * network header yet: nh is still 0 from the skb's allocation, which
	 * is never a real network header (there is always headroom).
	 */
	if (mac != (__u16)~0U && (mac < nh || nh == 0)) {
		off = mac;
		proto = st_parse_l2(head, &off, po);
	} else {
		off = nh;
		proto = is_ip ? bpf_htons(ST_ETH_P_IP) : BPF_CORE_READ(skb, protocol);
	}
	/* A VLAN tag the driver already stripped lives in skb->vlan_tci. */
	if (!po->vlan) {
		__u16 tci = BPF_CORE_READ(skb, vlan_tci);
		if (BPF_CORE_READ(skb, vlan_proto)) {
			po->vlan = tci & 0x0fff;
			po->encap |= ST_ENC_VLAN;
		}
	}
	if (proto != bpf_htons(ST_ETH_P_IP))
		return -1;
	rc = st_parse_l3(head, &off, key, 1);
	if (rc <= 0)
		return rc;

	/* A tunnel: keep the outer addresses, then key the inner packet. */
	po->outer_saddr = key->saddr;
	po->outer_daddr = key->daddr;
	if (rc == ST_TUN_VXLAN) {
		__u32 vx[2];

		if (bpf_probe_read_kernel(vx, sizeof(vx), head + off))
			return -1;
		if (!(vx[0] & bpf_htonl(0x08000000)))
			return -1;
		po->vni = bpf_ntohl(vx[1]) >> 8;
		po->encap |= ST_ENC_VXLAN;
		off += 8;
		proto = st_parse_l2(head, &off, po);
	} else {
		/*
		 * Geneve (RFC 8926): version (2 bits) and options length (6
		 * bits, in 4-byte units), flags, protocol type, VNI (24 bits),
		 * reserved; the options follow. Linux sends Ethernet inside
		 * (0x6558) and, for an L3 device, IPv4 directly (0x0800).
		 */
		__u8 gh[8];
		__u32 optlen;
		__u16 gproto;

		if (bpf_probe_read_kernel(gh, sizeof(gh), head + off))
			return -1;
		if (gh[0] >> 6)
			return -1;
		optlen = (gh[0] & 0x3f) * 4;
		po->vni = ((__u32)gh[4] << 16) | ((__u32)gh[5] << 8) | gh[6];
		po->encap |= ST_ENC_GENEVE;
		off += 8 + optlen;
		__builtin_memcpy(&gproto, gh + 2, sizeof(gproto));
		proto = gproto;		/* network order, like eth.proto */
		if (proto == bpf_htons(ST_ETH_P_TEB))
			proto = st_parse_l2(head, &off, po);
	}
	if (proto != bpf_htons(ST_ETH_P_IP))
		return -1;
	rc = st_parse_l3(head, &off, key, 0);
	return rc < 0 ? rc : 0;
}

static __always_inline int st_parse_skb(struct sk_buff *skb,
					struct st_pkt_key *key,
					struct st_parse_out *po)
{
	return st_parse_skb_ip(skb, key, po, 0);
}

#endif /* ST_PARSE_BPF_H */
