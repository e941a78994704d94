/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Header parsing the arp, defrag and conntrack programs share: where an
 * skb's device lives (netns inode, ifindex), where its L3 header starts and
 * what it is, and fixed-size reads of an ARP header and of an IPv4 header
 * with its fragment fields.
 *
 * The L3 offset is found as parse.bpf.h finds it: from the MAC header when
 * it is set (so receive and transmit hooks agree, VLAN tags skipped), else
 * from the network header with skb->protocol. Every read is one bounded
 * bpf_probe_read_kernel of a fixed-size struct; nothing loops over packet
 * data, so the verifier's cost does not depend on the packet.
 */
#ifndef ST_NETPARSE_BPF_H
#define ST_NETPARSE_BPF_H

#include "parse.bpf.h"

#define ST_ETH_P_ARP 0x0806

/* The device's netns and ifindex; the socket's netns when there is no
 * device (locally generated packets before routing). */
static __always_inline void st_skb_where(const struct sk_buff *skb, __u32 *netns,
					 __u32 *ifindex)
{
	struct net_device *dev = BPF_CORE_READ(skb, dev);

	*netns = 0;
	*ifindex = 0;
	if (dev) {
		*netns = BPF_CORE_READ(dev, nd_net.net, ns.inum);
		*ifindex = BPF_CORE_READ(dev, ifindex);
	} else {
		struct sock *sk = BPF_CORE_READ(skb, sk);

		if (sk)
			*netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	}
}

/*
 * Locate the L3 header: *head and *off on return point at it. Returns the
 * L3 protocol in network order, or 0 when the headers are unreadable.
 */
static __always_inline __u16 st_skb_l3(const struct sk_buff *skb, const void **head,
				       __u32 *off)
{
	struct st_parse_out po = {};
	__u16 mac = BPF_CORE_READ(skb, mac_header);
	__u16 nh = BPF_CORE_READ(skb, network_header);

	*head = BPF_CORE_READ(skb, head);
	if (mac != (__u16)~0U && mac < nh) {
		*off = mac;
		return st_parse_l2(*head, off, &po);
	}
	*off = nh;
	return BPF_CORE_READ(skb, protocol);
}

/* An Ethernet/IPv4 ARP header (RFC 826 with hlen 6, plen 4): 28 bytes,
 * addresses as byte arrays since they are not aligned. */
struct st_arphdr {
	__u16 htype;
	__u16 ptype;
	__u8 hlen;
	__u8 plen;
	__u16 op;
	__u8 sha[6];
	__u8 spa[4];
	__u8 tha[6];
	__u8 tpa[4];
} __attribute__((packed));

/* 0 when the ARP header at head + off is Ethernet/IPv4, -1 otherwise. */
static __always_inline int st_read_arp(const void *head, __u32 off, struct st_arphdr *a)
{
	if (bpf_probe_read_kernel(a, sizeof(*a), head + off))
		return -1;
	if (a->htype != bpf_htons(1) || a->ptype != bpf_htons(ST_ETH_P_IP) ||
	    a->hlen != 6 || a->plen != 4)
		return -1;
	return 0;
}

/* IPv4 fragment fields (host order) of the header at head + off. */
struct st_ipfrag {
	__u32 saddr, daddr;	/* network order */
	__u16 id;
	__u16 offset;		/* bytes */
	__u16 tot_len;
	__u16 payload;		/* tot_len - header length */
	__u8 proto;
	__u8 more;		/* MF set */
	__u8 df;
	__u8 ihl;		/* bytes */
};

/* 0 when head + off is a readable IPv4 header, -1 otherwise. */
static __always_inline int st_read_ipv4(const void *head, __u32 off, struct st_ipfrag *f)
{
	struct st_iphdr_min ip;
	__u16 fo;

	if (bpf_probe_read_kernel(&ip, sizeof(ip), head + off))
		return -1;
	if ((ip.vihl >> 4) != 4 || (ip.vihl & 0x0f) < 5)
		return -1;
	fo = bpf_ntohs(ip.frag_off);
	f->saddr = ip.saddr;
	f->daddr = ip.daddr;
	f->id = bpf_ntohs(ip.id);
	f->offset = (fo & 0x1fff) * 8;
	f->more = !!(fo & 0x2000);
	f->df = !!(fo & 0x4000);
	f->tot_len = bpf_ntohs(ip.tot_len);
	f->ihl = (ip.vihl & 0x0f) * 4;
	f->payload = f->tot_len > f->ihl ? f->tot_len - f->ihl : 0;
	f->proto = ip.protocol;
	return 0;
}

#endif /* ST_NETPARSE_BPF_H */
