/* SPDX-License-Identifier: MIT */
/*
 * The packet key and packet id.
 *
 * A packet is recognised at every stage on every host by a key built only
 * from header fields that no hop on the path rewrites: the IPv4 5-tuple of
 * the innermost packet (VLAN tags and VXLAN outer headers are peeled off)
 * plus a per-packet discriminator:
 *
 *   UDP and other IP protocols: IPv4 id and fragment offset, and IP length
 *   TCP:  sequence number and payload length
 *   ICMP: echo id/sequence and type
 *
 * The 64-bit packet id is a hash of the key. The same function is compiled
 * into the BPF programs and into user space (tests, collector, tools), so
 * a test can predict the id the kernel will compute. Sampling is consistent
 * across hosts: a packet is traced when id % n < k, which every agent
 * decides alone with the same answer.
 *
 * Addresses and ports are kept in network byte order exactly as read from
 * the packet; the hash consumes them as raw words, so no host has to agree
 * on byte order conversions.
 */
#ifndef ST_PKTKEY_H
#define ST_PKTKEY_H

#include "st_types.h"

struct st_pkt_key {
	__u32 saddr;	/* network order */
	__u32 daddr;	/* network order */
	__u16 sport;	/* network order; ICMP: echo id */
	__u16 dport;	/* network order; ICMP: type and code bytes as read */
	__u8 proto;
	__u8 pad[3];
	__u32 disc1;	/* TCP: seq; ICMP: echo seq; other: ip id << 16 | frag */
	__u32 disc2;	/* TCP: payload length; other: IP total length */
};

/* The finaliser of a 64-bit mixing function (splitmix64). Good avalanche,
 * a handful of instructions, no tables: cheap enough for every probe. */
static __always_inline __u64 st_mix64(__u64 x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

static __always_inline __u64 st_pkt_id(const struct st_pkt_key *k)
{
	__u64 w0 = ((__u64)k->saddr << 32) | k->daddr;
	__u64 w1 = ((__u64)k->sport << 48) | ((__u64)k->dport << 32) |
		   ((__u64)k->proto << 24);
	__u64 w2 = ((__u64)k->disc1 << 32) | k->disc2;
	__u64 h = 0x5374616765547263ULL; /* "StageTrc" */

	h = st_mix64(h ^ w0);
	h = st_mix64(h ^ w1);
	h = st_mix64(h ^ w2);
	/* Zero is reserved to mean "no packet". */
	return h ? h : 1;
}

/* Consistent sampling: k out of every n ids. n == 0 disables tracing. */
static __always_inline int st_sampled(__u64 id, __u32 n, __u32 k)
{
	if (n == 0)
		return 0;
	return (id % n) < k;
}

/*
 * The value sampling is decided on. Usually the packet id; for ICMP echo a
 * direction-independent hash of the addresses and echo id/sequence, so a
 * request and its reply are traced together and the destination's reply
 * time can be measured even at 1/N sampling.
 */
static __always_inline __u64 st_sample_value(const struct st_pkt_key *k, __u64 id)
{
	__u32 a = k->saddr, b = k->daddr;

	if (k->proto != 1)
		return id;
	if (a > b) {
		__u32 t = a; a = b; b = t;
	}
	return st_mix64((((__u64)a << 32) | b) ^
			st_mix64(((__u64)k->sport << 32) | k->disc1));
}

/*
 * A direction-independent flow hash: both directions of a flow give the
 * same value, so a future sharded collector sees request and reply of a
 * pair on one node.
 */
static __always_inline __u64 st_flow_hash_sym(const struct st_pkt_key *k)
{
	__u32 a = k->saddr, b = k->daddr;
	__u16 pa = k->sport, pb = k->dport;

	if (a > b || (a == b && pa > pb)) {
		__u32 t = a; a = b; b = t;
		__u16 tp = pa; pa = pb; pb = tp;
	}
	return st_mix64((((__u64)a << 32) | b) ^
			st_mix64(((__u64)pa << 16 | pb) ^ ((__u64)k->proto << 40)));
}

#endif /* ST_PKTKEY_H */
