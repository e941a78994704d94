// SPDX-License-Identifier: MIT
/*
 * Unit tests for the packet key as the BPF-side parser (bpf/parse.bpf.h)
 * builds it, compiled in user space, on plain, VLAN, fragmented, truncated
 * and non-IPv4 frames. The tunnel (VXLAN, Geneve) cases live in
 * tunnel_test.c, the id, sampling and flow hash properties of
 * common/pktkey.h in pktid_test.c; the packet builders and the parser shim
 * they all use are in pkt_build.h.
 */
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

#include "unit_stubs.h"
#include "pkt_build.h"

/* ---- parser tests ------------------------------------------------------ */

static void test_udp_plain(void **state)
{
	struct pkt p;
	struct parsed r;
	struct st_pkt_key want = plain_udp_key();

	plain_udp(&p);
	r = parse_frame(&p, 14);
	assert_int_equal(r.rc, 0);
	assert_key(&r.key, &want);
	/* Nothing about encapsulation is reported for a plain frame. */
	assert_int_equal(r.po.encap, 0);
	assert_int_equal(r.po.vlan, 0);
	assert_int_equal(r.po.vni, 0);
	assert_int_equal(r.po.outer_saddr, 0);
	assert_int_equal(r.po.outer_daddr, 0);
	/* The key's pad bytes are not part of the parser's output. */
	assert_memory_equal(r.key.pad, "\0\0\0", 3);
}

static void test_udp_ip_options(void **state)
{
	struct pkt p = { .len = 0 };
	struct ip_spec ip = { .saddr = A_ADDR, .daddr = B_ADDR, .proto = 17,
			      .id = 7, .ihl = 7, .l4len = 8 + 10 };
	struct st_pkt_key want = expect_key(A_ADDR, B_ADDR, 1111, 2222, 17,
					    7u << 16, 28 + 8 + 10);
	struct parsed r;

	eth(&p, 0x0800);
	ipv4(&p, &ip);
	udp(&p, 1111, 2222, 10);
	payload(&p, 10);
	r = parse_frame(&p, 14);
	assert_int_equal(r.rc, 0);
	/* The L4 header is found after the 8 option bytes. */
	assert_key(&r.key, &want);
}

static void test_tcp_options(void **state)
{
	struct pkt p = { .len = 0 };
	const unsigned optlen = 12, pay = 333;
	struct ip_spec ip = { .saddr = A_ADDR, .daddr = B_ADDR, .proto = 6,
			      .id = 0x1111, .frag = 0x4000 /* DF */,
			      .l4len = 20 + optlen + pay };
	struct st_pkt_key want = expect_key(A_ADDR, B_ADDR, 51000, 443, 6,
					    0xdeadbeef, pay);
	struct parsed r;

	eth(&p, 0x0800);
	ipv4(&p, &ip);
	tcp(&p, 51000, 443, 0xdeadbeef, 0x01020304, optlen);
	payload(&p, pay);
	r = parse_frame(&p, 14);
	assert_int_equal(r.rc, 0);
	/* seq in host order; disc2 is the payload length, options excluded. */
	assert_key(&r.key, &want);

	/* A pure ACK (no payload) has disc2 0. */
	memset(&p, 0, sizeof(p));
	ip.l4len = 20;
	eth(&p, 0x0800);
	ipv4(&p, &ip);
	tcp(&p, 51000, 443, 5, 6, 0);
	r = parse_frame(&p, 14);
	want = expect_key(A_ADDR, B_ADDR, 51000, 443, 6, 5, 0);
	assert_int_equal(r.rc, 0);
	assert_key(&r.key, &want);
}

static void test_icmp_echo(void **state)
{
	struct parsed req = parse_icmp(A_ADDR, B_ADDR, 8, 0x0bad, 17);
	struct parsed rep = parse_icmp(B_ADDR, A_ADDR, 0, 0x0bad, 17);
	struct parsed next = parse_icmp(A_ADDR, B_ADDR, 8, 0x0bad, 18);
	struct st_pkt_key k;

	assert_int_equal(req.rc, 0);
	assert_int_equal(rep.rc, 0);
	/* sport holds the echo id as read (network order), dport the type and
	 * code bytes as read, disc1 the sequence in host order. */
	assert_int_equal(req.key.saddr, htonl(A_ADDR));
	assert_int_equal(req.key.daddr, htonl(B_ADDR));
	assert_int_equal(req.key.proto, 1);
	assert_int_equal(req.key.sport, htons(0x0bad));
	assert_memory_equal(&req.key.dport, "\x08\x00", 2);
	assert_int_equal(req.key.disc1, 17);
	assert_int_equal(req.key.disc2, 20 + 8 + 56);

	assert_int_equal(rep.key.saddr, htonl(B_ADDR));
	assert_int_equal(rep.key.daddr, htonl(A_ADDR));
	assert_int_equal(rep.key.sport, htons(0x0bad));
	assert_memory_equal(&rep.key.dport, "\x00\x00", 2);
	assert_int_equal(rep.key.disc1, 17);

	/* Request and reply, and consecutive requests, are different packets. */
	assert_int_not_equal(req.id, rep.id);
	assert_int_not_equal(req.id, next.id);
	assert_int_equal(next.key.disc1, 18);

	/* The reply with the request's addresses reversed back is still not the
	 * request: the type byte tells them apart. */
	k = rep.key;
	k.saddr = req.key.saddr;
	k.daddr = req.key.daddr;
	assert_int_not_equal(st_pkt_id(&k), req.id);
}

static void test_udp_request_reply_differ(void **state)
{
	struct pkt req, rep = { .len = 0 };
	struct parsed a, b;

	plain_udp(&req);
	eth(&rep, 0x0800);
	udp_ip(&rep, B_ADDR, A_ADDR, B_PORT, A_PORT, UDP_IPID, UDP_PAY);
	a = parse_frame(&req, 14);
	b = parse_frame(&rep, 14);
	assert_int_equal(a.rc, 0);
	assert_int_equal(b.rc, 0);
	assert_int_equal(b.key.saddr, a.key.daddr);
	assert_int_equal(b.key.sport, a.key.dport);
	/* Same IP id and length, reversed direction: a different packet. */
	assert_int_not_equal(a.id, b.id);
	/* But the same flow for the symmetric hash. */
	assert_int_equal(st_flow_hash_sym(&a.key), st_flow_hash_sym(&b.key));
}

static void test_fragments(void **state)
{
	struct pkt first = { .len = 0 }, later = { .len = 0 };
	struct ip_spec ip1 = { .saddr = A_ADDR, .daddr = B_ADDR, .proto = 17,
			       .id = 0xabcd, .frag = 0x2000 /* MF, offset 0 */,
			       .l4len = 1480 };
	struct ip_spec ip2 = { .saddr = A_ADDR, .daddr = B_ADDR, .proto = 17,
			       .id = 0xabcd, .frag = 185 /* offset 1480/8 */,
			       .l4len = 520 };
	struct st_pkt_key w1 = expect_key(A_ADDR, B_ADDR, 7000, 8000, 17,
					  0xabcdu << 16, 1500);
	struct st_pkt_key w2 = expect_key(A_ADDR, B_ADDR, 0, 0, 17,
					  0xabcdu << 16 | 185, 540);
	struct parsed r1, r2;

	eth(&first, 0x0800);
	ipv4(&first, &ip1);
	udp(&first, 7000, 8000, 2000 - 8);
	payload(&first, 1480 - 8);
	/* A non-first fragment: the bytes after the IP header are payload, not
	 * a UDP header, and must not be read as ports. */
	eth(&later, 0x0800);
	ipv4(&later, &ip2);
	payload(&later, 520);
	r1 = parse_frame(&first, 14);
	r2 = parse_frame(&later, 14);
	assert_int_equal(r1.rc, 0);
	assert_int_equal(r2.rc, 0);
	assert_key(&r1.key, &w1);
	assert_key(&r2.key, &w2);
	assert_int_not_equal(r1.id, r2.id);

	/* A non-first fragment needs only the IP header to be readable. */
	later.len = 14 + 20;
	r2 = parse_frame(&later, 14);
	assert_int_equal(r2.rc, 0);
	assert_key(&r2.key, &w2);

	/* The fragment of a TCP segment is keyed the same way. */
	later.b[14 + 9] = 6;
	r2 = parse_frame(&later, 14);
	assert_int_equal(r2.rc, 0);
	assert_int_equal(r2.key.proto, 6);
	assert_int_equal(r2.key.disc1, 0xabcdu << 16 | 185);
	assert_int_equal(r2.key.sport, 0);
}

static void test_vlan_8021q(void **state)
{
	struct pkt p = { .len = 0 }, plain;
	struct st_pkt_key want = plain_udp_key();
	struct parsed r, rp;

	eth(&p, 0x8100);
	vlan_tag(&p, 0x6000 | 123 /* PCP 3 */, 0x0800);
	udp_ip(&p, A_ADDR, B_ADDR, A_PORT, B_PORT, UDP_IPID, UDP_PAY);
	r = parse_frame(&p, 18);
	assert_int_equal(r.rc, 0);
	assert_key(&r.key, &want);
	assert_int_equal(r.po.vlan, 123);
	assert_int_equal(r.po.encap, ST_ENC_VLAN);
	assert_int_equal(r.po.vni, 0);

	plain_udp(&plain);
	rp = parse_frame(&plain, 14);
	assert_int_equal(rp.rc, 0);
	assert_int_equal(r.id, rp.id);
}

static void test_vlan_qinq(void **state)
{
	struct pkt p = { .len = 0 };
	struct st_pkt_key want = plain_udp_key();
	struct parsed r;

	eth(&p, 0x88a8);
	vlan_tag(&p, 100, 0x8100);
	vlan_tag(&p, 200, 0x0800);
	udp_ip(&p, A_ADDR, B_ADDR, A_PORT, B_PORT, UDP_IPID, UDP_PAY);
	r = parse_frame(&p, 22);
	assert_int_equal(r.rc, 0);
	assert_key(&r.key, &want);
	/* The outermost (service) tag is the one reported. */
	assert_int_equal(r.po.vlan, 100);
	assert_int_equal(r.po.encap, ST_ENC_VLAN | ST_ENC_QINQ);

	/* A third tag is beyond what the parser peels: not keyed. */
	memset(&p, 0, sizeof(p));
	eth(&p, 0x88a8);
	vlan_tag(&p, 100, 0x8100);
	vlan_tag(&p, 200, 0x8100);
	vlan_tag(&p, 300, 0x0800);
	udp_ip(&p, A_ADDR, B_ADDR, A_PORT, B_PORT, UDP_IPID, UDP_PAY);
	r = parse_frame(&p, 26);
	assert_int_not_equal(r.rc, 0);
}


static void test_ipv6_rejected(void **state)
{
	struct pkt p = { .len = 0 };
	struct parsed r;
	struct skb_spec ss = { .no_mac = 1, .nh = 0, .protocol = 0x86dd };

	eth(&p, 0x86dd);
	put32(&p, 0x60000000);
	put16(&p, 8);
	put8(&p, 17);
	put8(&p, 64);
	for (int i = 0; i < 32; i++)
		put8(&p, i);
	udp(&p, 1, 2, 0);
	r = parse_frame(&p, 14);
	assert_int_not_equal(r.rc, 0);

	/* The same through skb->protocol. */
	r = run_parser(p.b + 14, p.len - 14, &ss);
	assert_int_not_equal(r.rc, 0);

	/* An IPv4 ethertype with a version 6 header is not keyed either. */
	memset(&p, 0, sizeof(p));
	eth(&p, 0x0800);
	{
		struct ip_spec ip = { .saddr = A_ADDR, .daddr = B_ADDR, .proto = 17,
				      .version = 6, .l4len = 8 };

		ipv4(&p, &ip);
	}
	udp(&p, 1, 2, 0);
	r = parse_frame(&p, 14);
	assert_int_not_equal(r.rc, 0);

	/* Nor is an IPv4 header with IHL below 5. */
	p.b[14] = 0x44;
	r = parse_frame(&p, 14);
	assert_int_not_equal(r.rc, 0);

	/* Nor ARP. */
	memset(&p, 0, sizeof(p));
	eth(&p, 0x0806);
	payload(&p, 28);
	r = parse_frame(&p, 14);
	assert_int_not_equal(r.rc, 0);
}

/* Headers the parser must read for each shape, and the frame itself. */
struct trunc_case {
	const char *name;
	struct pkt p;
	size_t need;	/* shortest length the parser can key */
	unsigned nh;
};

static void truncations(const struct trunc_case *tc)
{
	struct parsed full = parse_frame(&tc->p, tc->nh);

	assert_int_equal(full.rc, 0);
	for (size_t len = 0; len < tc->p.len; len++) {
		struct skb_spec ss = { .nh = tc->nh };
		struct parsed r;

		shim_faults = 0;
		r = run_parser(tc->p.b, len, &ss);
		if (len < tc->need) {
			if (r.rc == 0)
				fail_msg("%s: keyed although truncated to %zu of %zu bytes",
					 tc->name, len, tc->need);
			/* The rejection came from a failed (bounded) read. */
			assert_true(shim_faults > 0);
		} else {
			if (r.rc != 0)
				fail_msg("%s: not keyed at %zu bytes (needs %zu)",
					 tc->name, len, tc->need);
			assert_int_equal(r.id, full.id);
			assert_int_equal(shim_faults, 0);
		}
	}
}

static void test_truncated(void **state)
{
	static struct trunc_case tc[6];
	struct pkt inner;

	memset(tc, 0, sizeof(tc));
	tc[0].name = "udp";
	plain_udp(&tc[0].p);
	tc[0].need = 14 + 20 + 8;
	tc[0].nh = 14;

	tc[1].name = "tcp";
	{
		struct ip_spec ip = { .saddr = A_ADDR, .daddr = B_ADDR, .proto = 6,
				      .id = 1, .l4len = 32 + 10 };

		eth(&tc[1].p, 0x0800);
		ipv4(&tc[1].p, &ip);
		tcp(&tc[1].p, 1000, 2000, 99, 0, 12);
		payload(&tc[1].p, 10);
	}
	/* The parser reads the first 14 bytes of TCP: ports, seq, ack, doff. */
	tc[1].need = 14 + 20 + 14;
	tc[1].nh = 14;

	tc[2].name = "icmp";
	{
		struct ip_spec ip = { .saddr = A_ADDR, .daddr = B_ADDR, .proto = 1,
				      .id = 1, .l4len = 8 + 8 };

		eth(&tc[2].p, 0x0800);
		ipv4(&tc[2].p, &ip);
		icmp_echo(&tc[2].p, 8, 1, 2);
		payload(&tc[2].p, 8);
	}
	tc[2].need = 14 + 20 + 8;
	tc[2].nh = 14;

	tc[3].name = "qinq";
	eth(&tc[3].p, 0x88a8);
	vlan_tag(&tc[3].p, 100, 0x8100);
	vlan_tag(&tc[3].p, 200, 0x0800);
	udp_ip(&tc[3].p, A_ADDR, B_ADDR, A_PORT, B_PORT, UDP_IPID, 20);
	tc[3].need = 22 + 20 + 8;
	tc[3].nh = 22;

	tc[4].name = "vxlan";
	plain_udp(&inner);
	vxlan_wrap(&tc[4].p, &inner, 0x08, 42);
	tc[4].need = 14 + 20 + 8 + 8 + 14 + 20 + 8;
	tc[4].nh = 14;

	tc[5].name = "ip-options";
	{
		struct ip_spec ip = { .saddr = A_ADDR, .daddr = B_ADDR, .proto = 17,
				      .id = 1, .ihl = 15, .l4len = 8 };

		eth(&tc[5].p, 0x0800);
		ipv4(&tc[5].p, &ip);
		udp(&tc[5].p, 1, 2, 0);
	}
	tc[5].need = 14 + 60 + 8;
	tc[5].nh = 14;

	for (size_t i = 0; i < sizeof(tc) / sizeof(tc[0]); i++)
		truncations(&tc[i]);
}

static void test_no_mac_header(void **state)
{
	struct pkt p;
	struct st_pkt_key want = plain_udp_key();
	struct skb_spec ss = { .no_mac = 1, .nh = 0, .protocol = 0x0800 };
	struct parsed r;

	/* Only the IP packet is in the buffer: the parser starts at the network
	 * header and takes the L3 protocol from skb->protocol. */
	plain_udp(&p);
	r = run_parser(p.b + 14, p.len - 14, &ss);
	assert_int_equal(r.rc, 0);
	assert_key(&r.key, &want);
	assert_int_equal(r.po.encap, 0);

	/* A VLAN tag that the driver stripped into skb->vlan_tci is reported. */
	ss.vlan_tci = 0x2000 | 321;
	ss.vlan_proto = 0x8100;
	r = run_parser(p.b + 14, p.len - 14, &ss);
	assert_int_equal(r.rc, 0);
	assert_key(&r.key, &want);
	assert_int_equal(r.po.vlan, 321);
	assert_int_equal(r.po.encap, ST_ENC_VLAN);

	/* A non-IP skb->protocol is rejected without parsing the bytes. */
	ss.protocol = 0x0806;
	r = run_parser(p.b + 14, p.len - 14, &ss);
	assert_int_not_equal(r.rc, 0);

	/* mac_header equal to network_header (an L3 device) also means "no
	 * Ethernet header": the frame starts with IP. */
	{
		struct skb_spec l3 = { .nh = 0, .protocol = 0x0800 };

		r = run_parser(p.b + 14, p.len - 14, &l3);
		assert_int_equal(r.rc, 0);
		assert_key(&r.key, &want);
	}

	/* With the MAC header set, skb->protocol is ignored in favour of the
	 * Ethernet type actually in the frame. */
	{
		struct skb_spec mac = { .nh = 14, .protocol = 0x86dd };

		r = run_parser(p.b, p.len, &mac);
		assert_int_equal(r.rc, 0);
		assert_key(&r.key, &want);
	}
}

static void test_hop_invariance(void **state)
{
	struct pkt a, b;
	struct parsed ra, rb;

	/* What a router or bridge rewrites (MACs, TTL, checksum) and the
	 * payload bytes must not change the id. */
	plain_udp(&a);
	b = a;
	b.b[0] ^= 0xff;
	b.b[6] ^= 0xff;
	b.b[14 + 8] -= 3;	/* TTL */
	b.b[14 + 10] ^= 0x55;	/* IP checksum */
	b.b[14 + 20 + 6] ^= 0x77;	/* UDP checksum */
	b.b[b.len - 1] ^= 0x01;	/* payload */
	b.b[14 + 1] = 0xb8;	/* DSCP EF */
	ra = parse_frame(&a, 14);
	rb = parse_frame(&b, 14);
	assert_int_equal(ra.rc, 0);
	assert_int_equal(rb.rc, 0);
	assert_int_equal(ra.id, rb.id);

	/* The IP id does distinguish two otherwise equal datagrams. */
	b = a;
	b.b[14 + 5] ^= 1;
	rb = parse_frame(&b, 14);
	assert_int_not_equal(ra.id, rb.id);
	assert_int_equal(rb.key.disc1, (uint32_t)(UDP_IPID ^ 1) << 16);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_udp_plain),
		cmocka_unit_test(test_udp_ip_options),
		cmocka_unit_test(test_tcp_options),
		cmocka_unit_test(test_icmp_echo),
		cmocka_unit_test(test_udp_request_reply_differ),
		cmocka_unit_test(test_fragments),
		cmocka_unit_test(test_vlan_8021q),
		cmocka_unit_test(test_vlan_qinq),
		cmocka_unit_test(test_ipv6_rejected),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_no_mac_header),
		cmocka_unit_test(test_hop_invariance),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
