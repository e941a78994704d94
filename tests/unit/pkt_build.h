/* SPDX-License-Identifier: MIT */
/*
 * Packet crafting and the user-space harness for the BPF packet parser,
 * shared by the unit tests of the packet parser (pktkey_test.c), of the
 * tunnel decapsulation (tunnel_test.c) and of the packet id (pktid_test.c).
 *
 * The parser (bpf/parse.bpf.h) only touches a handful of sk_buff fields and
 * reads headers with bpf_probe_read_kernel, so a small shim is enough to
 * run it here: reads are memcpy, but a read that reaches past the end of
 * the crafted packet fails with -EFAULT and zeroes the destination, exactly
 * like a faulting read in the kernel. Every packet is crafted byte by byte
 * in a heap buffer of exactly its size, so an unchecked out-of-bounds read
 * would also show up under AddressSanitizer.
 *
 * Everything here is static inline (or a per-file static) so each test
 * binary gets its own copy and an unused builder is no warning; include it
 * from exactly one translation unit per test binary, after cmocka.h.
 */
#ifndef ST_PKT_BUILD_H
#define ST_PKT_BUILD_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <linux/types.h>
#include <stdlib.h>
#include <string.h>

/* ---- the BPF shim ------------------------------------------------------ */

/* Bounds of the packet currently under test; reads outside them fault. */
static const unsigned char *shim_lo, *shim_hi;
static unsigned shim_faults;

static inline long shim_probe_read(void *dst, unsigned sz, const void *src)
{
	const unsigned char *s = src;

	if (s < shim_lo || s > shim_hi || sz > (size_t)(shim_hi - s)) {
		/* The kernel helper zeroes the destination on failure. */
		memset(dst, 0, sz);
		shim_faults++;
		return -EFAULT;
	}
	memcpy(dst, src, sz);
	return 0;
}

#define bpf_probe_read_kernel(dst, sz, src) shim_probe_read((dst), (sz), (src))
#define BPF_CORE_READ(s, f) ((s)->f)
#define bpf_htons(x) htons(x)
#define bpf_ntohs(x) ntohs(x)
#define bpf_htonl(x) htonl(x)
#define bpf_ntohl(x) ntohl(x)

/* Only the fields the parser reads, with the kernel's types. */
struct sk_buff {
	unsigned char *head;
	__u16 mac_header, network_header;
	__u16 protocol, vlan_tci, vlan_proto;
};

/* The parser carries a clang loop pragma that gcc does not know. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunknown-pragmas"
#include "bpf/parse.bpf.h"
#pragma GCC diagnostic pop

/* ---- packet crafting ---------------------------------------------------- */

#define HEADROOM 32

struct pkt {
	unsigned char b[2048];
	size_t len;
};

static inline void put8(struct pkt *p, unsigned v)
{
	assert_true(p->len < sizeof(p->b));
	p->b[p->len++] = (unsigned char)v;
}

/* Multi-byte fields are written big-endian, as they appear on the wire. */
static inline void put16(struct pkt *p, unsigned v)
{
	put8(p, v >> 8);
	put8(p, v);
}

static inline void put32(struct pkt *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p, v & 0xffff);
}

static inline void put_mac(struct pkt *p, unsigned last)
{
	static const unsigned char oui[5] = { 0x52, 0x54, 0x00, 0x12, 0x34 };

	for (int i = 0; i < 5; i++)
		put8(p, oui[i]);
	put8(p, last);
}

static inline void eth(struct pkt *p, unsigned type)
{
	put_mac(p, 0x02);
	put_mac(p, 0x01);
	put16(p, type);
}

static inline void vlan_tag(struct pkt *p, unsigned tci, unsigned next)
{
	put16(p, tci);
	put16(p, next);
}

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))

struct ip_spec {
	uint32_t saddr, daddr;	/* host order */
	unsigned proto;
	unsigned id;
	unsigned frag;		/* flags and offset exactly as in the header */
	unsigned ttl;
	unsigned ihl;		/* in 32-bit words; 0 means 5 */
	unsigned version;	/* 0 means 4 */
	unsigned l4len;		/* bytes after the IP header (for tot_len) */
};

/* Appends an IPv4 header with a correct checksum; returns its offset. */
static inline size_t ipv4(struct pkt *p, const struct ip_spec *s)
{
	size_t at = p->len;
	unsigned ihl = s->ihl ? s->ihl : 5;
	uint32_t sum = 0;

	put8(p, (s->version ? s->version : 4) << 4 | ihl);
	put8(p, 0);
	put16(p, ihl * 4 + s->l4len);
	put16(p, s->id);
	put16(p, s->frag);
	put8(p, s->ttl ? s->ttl : 64);
	put8(p, s->proto);
	put16(p, 0);
	put32(p, s->saddr);
	put32(p, s->daddr);
	/* Options, when asked for, are NOPs ending in an end-of-list. */
	for (unsigned i = 20; i < ihl * 4; i++)
		put8(p, i + 1 == ihl * 4 ? 0 : 1);
	for (size_t i = at; i < at + ihl * 4; i += 2)
		sum += (uint32_t)p->b[i] << 8 | p->b[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	p->b[at + 10] = (unsigned char)(~sum >> 8);
	p->b[at + 11] = (unsigned char)~sum;
	return at;
}

static inline void payload(struct pkt *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		put8(p, 'a' + i % 26);
}

static inline void udp(struct pkt *p, unsigned sport, unsigned dport, size_t paylen)
{
	put16(p, sport);
	put16(p, dport);
	put16(p, 8 + paylen);
	put16(p, 0);
}

/* TCP header with optlen bytes of options (a multiple of 4). */
static inline void tcp(struct pkt *p, unsigned sport, unsigned dport, uint32_t seq,
		       uint32_t ack, unsigned optlen)
{
	put16(p, sport);
	put16(p, dport);
	put32(p, seq);
	put32(p, ack);
	put8(p, ((20 + optlen) / 4) << 4);
	put8(p, 0x18);		/* PSH, ACK */
	put16(p, 64240);
	put16(p, 0);
	put16(p, 0);
	/* MSS, then NOP padding and a timestamp-sized filler. */
	if (optlen >= 4) {
		put8(p, 2);
		put8(p, 4);
		put16(p, 1460);
		for (unsigned i = 4; i < optlen; i++)
			put8(p, 1);
	}
}

static inline void icmp_echo(struct pkt *p, unsigned type, unsigned id, unsigned seq)
{
	put8(p, type);
	put8(p, 0);
	put16(p, 0x1234);	/* checksum: not checked by the parser */
	put16(p, id);
	put16(p, seq);
}

static inline void vxlan(struct pkt *p, unsigned flags, uint32_t vni)
{
	put8(p, flags);
	put8(p, 0);
	put16(p, 0);
	put32(p, vni << 8);
}

/* The reference flow used throughout: 10.0.0.1:40000 -> 10.0.0.2:5201. */
#define A_ADDR IP(10, 0, 0, 1)
#define B_ADDR IP(10, 0, 0, 2)
#define A_PORT 40000
#define B_PORT 5201
#define UDP_PAY 100
#define UDP_IPID 0x4d2e

/* An inner or plain UDP packet (no L2): IP + UDP + payload. */
static inline void udp_ip(struct pkt *p, uint32_t s, uint32_t d, unsigned sp, unsigned dp,
			  unsigned id, size_t paylen)
{
	struct ip_spec ip = { .saddr = s, .daddr = d, .proto = 17, .id = id,
			      .l4len = 8 + paylen };

	ipv4(p, &ip);
	udp(p, sp, dp, paylen);
	payload(p, paylen);
}

/* ---- running the parser ----------------------------------------------- */

struct skb_spec {
	int no_mac;		/* mac_header unset (0xffff) */
	unsigned nh;		/* network header offset into the frame */
	unsigned protocol;	/* skb->protocol, host order */
	unsigned vlan_tci, vlan_proto;
};

struct parsed {
	int rc;
	struct st_pkt_key key;
	struct st_parse_out po;
	uint64_t id;
};

/*
 * Copies the frame into a heap buffer of exactly HEADROOM + len bytes, the
 * frame starting after the headroom like in a real skb, and runs the
 * parser on it.
 */
static inline struct parsed run_parser(const unsigned char *frame, size_t len,
				       const struct skb_spec *ss)
{
	unsigned char *buf = malloc(HEADROOM + len);
	struct sk_buff skb = { 0 };
	struct parsed r;

	assert_non_null(buf);
	memset(buf, 0xee, HEADROOM);
	memcpy(buf + HEADROOM, frame, len);
	shim_lo = buf;
	shim_hi = buf + HEADROOM + len;
	skb.head = buf;
	skb.mac_header = ss->no_mac ? 0xffff : HEADROOM;
	skb.network_header = (__u16)(HEADROOM + ss->nh);
	skb.protocol = htons((uint16_t)ss->protocol);
	skb.vlan_tci = (__u16)ss->vlan_tci;
	skb.vlan_proto = ss->vlan_proto ? htons((uint16_t)ss->vlan_proto) : 0;
	/* Garbage in the key proves the parser writes every field it owns. */
	memset(&r, 0, sizeof(r));
	memset(&r.key, 0xa5, sizeof(r.key));
	memset(r.key.pad, 0, sizeof(r.key.pad));
	r.rc = st_parse_skb(&skb, &r.key, &r.po);
	r.id = st_pkt_id(&r.key);
	free(buf);
	shim_lo = shim_hi = NULL;
	return r;
}

static inline struct parsed parse_frame(const struct pkt *p, unsigned nh)
{
	struct skb_spec ss = { .nh = nh };

	return run_parser(p->b, p->len, &ss);
}

static inline struct st_pkt_key expect_key(uint32_t s, uint32_t d, unsigned sp, unsigned dp,
					   unsigned proto, uint32_t disc1, uint32_t disc2)
{
	struct st_pkt_key k;

	memset(&k, 0, sizeof(k));
	k.saddr = htonl(s);
	k.daddr = htonl(d);
	k.sport = htons((uint16_t)sp);
	k.dport = htons((uint16_t)dp);
	k.proto = (__u8)proto;
	k.disc1 = disc1;
	k.disc2 = disc2;
	return k;
}

static inline void assert_key(const struct st_pkt_key *got, const struct st_pkt_key *want)
{
	assert_int_equal(got->saddr, want->saddr);
	assert_int_equal(got->daddr, want->daddr);
	assert_int_equal(got->sport, want->sport);
	assert_int_equal(got->dport, want->dport);
	assert_int_equal(got->proto, want->proto);
	assert_int_equal(got->disc1, want->disc1);
	assert_int_equal(got->disc2, want->disc2);
	assert_int_equal(st_pkt_id(got), st_pkt_id(want));
}

/* The reference UDP packet as it leaves the sending VM. */
static inline void plain_udp(struct pkt *p)
{
	memset(p, 0, sizeof(*p));
	eth(p, 0x0800);
	udp_ip(p, A_ADDR, B_ADDR, A_PORT, B_PORT, UDP_IPID, UDP_PAY);
}

static inline struct st_pkt_key plain_udp_key(void)
{
	return expect_key(A_ADDR, B_ADDR, A_PORT, B_PORT, 17,
			  (uint32_t)UDP_IPID << 16, 20 + 8 + UDP_PAY);
}


/* Outer Ethernet/IPv4/UDP(4789)/VXLAN around an inner frame. */
static inline void vxlan_wrap(struct pkt *p, const struct pkt *inner, unsigned flags,
			      uint32_t vni)
{
	struct ip_spec ip = { .saddr = IP(192, 168, 50, 11), .daddr = IP(192, 168, 50, 12),
			      .proto = 17, .id = 0x0101, .frag = 0x4000,
			      .l4len = (unsigned)(8 + 8 + inner->len) };

	memset(p, 0, sizeof(*p));
	eth(p, 0x0800);
	ipv4(p, &ip);
	udp(p, 49152 + 77, 4789, 8 + inner->len);
	vxlan(p, flags, vni);
	memcpy(p->b + p->len, inner->b, inner->len);
	p->len += inner->len;
}

/* An ICMP echo (type 8) or echo reply (type 0) with 56 bytes of data, parsed. */
static inline struct parsed parse_icmp(uint32_t s, uint32_t d, unsigned type,
				       unsigned id, unsigned seq)
{
	struct pkt p = { .len = 0 };
	struct ip_spec ip = { .saddr = s, .daddr = d, .proto = 1, .id = 0x3333,
			      .l4len = 8 + 56 };

	eth(&p, 0x0800);
	ipv4(&p, &ip);
	icmp_echo(&p, type, id, seq);
	payload(&p, 56);
	return parse_frame(&p, 14);
}

#endif /* ST_PKT_BUILD_H */
