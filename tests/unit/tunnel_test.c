// SPDX-License-Identifier: MIT
/*
 * Unit tests for the tunnel cases of the BPF packet parser
 * (bpf/parse.bpf.h), compiled in user space: a VXLAN or Geneve packet is
 * keyed on its inner IPv4 packet, so it gets the same id as that packet
 * seen without the tunnel on another host, while the outer addresses, the
 * VNI and the encapsulation (and any VLAN tag, inner or outer) are
 * reported in the parse output. Malformed tunnels (missing VXLAN I flag,
 * unknown Geneve version, non-IPv4 inner frames, options past the end) are
 * not keyed. The packet builders and the parser shim are in pkt_build.h.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>

#include "unit_stubs.h"
#include "pkt_build.h"

/* ---- VXLAN and Geneve -------------------------------------------------- */

static void test_vxlan(void **state)
{
	struct pkt inner, outer;
	struct st_pkt_key want = plain_udp_key();
	struct parsed r, rp;

	plain_udp(&inner);
	vxlan_wrap(&outer, &inner, 0x08, 42);
	r = parse_frame(&outer, 14);
	assert_int_equal(r.rc, 0);
	/* The key is the inner packet's ... */
	assert_key(&r.key, &want);
	/* ... and the tunnel is described in the parse output. */
	assert_int_equal(r.po.outer_saddr, htonl(IP(192, 168, 50, 11)));
	assert_int_equal(r.po.outer_daddr, htonl(IP(192, 168, 50, 12)));
	assert_int_equal(r.po.vni, 42);
	assert_int_equal(r.po.encap, ST_ENC_VXLAN);
	assert_int_equal(r.po.vlan, 0);

	/* The cross-host promise: the same id as the plain packet. */
	rp = parse_frame(&inner, 14);
	assert_int_equal(rp.rc, 0);
	assert_int_equal(r.id, rp.id);

	/* A large VNI survives the 24-bit shift. */
	vxlan_wrap(&outer, &inner, 0x08, 0xfedcba);
	r = parse_frame(&outer, 14);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.po.vni, 0xfedcba);
	assert_int_equal(r.id, rp.id);
}

static void test_vxlan_inner_vlan(void **state)
{
	struct pkt inner = { .len = 0 }, outer, plain;
	struct st_pkt_key want = plain_udp_key();
	struct parsed r, rp;

	eth(&inner, 0x8100);
	vlan_tag(&inner, 77, 0x0800);
	udp_ip(&inner, A_ADDR, B_ADDR, A_PORT, B_PORT, UDP_IPID, UDP_PAY);
	vxlan_wrap(&outer, &inner, 0x08, 42);
	r = parse_frame(&outer, 14);
	assert_int_equal(r.rc, 0);
	assert_key(&r.key, &want);
	assert_int_equal(r.po.vni, 42);
	assert_int_equal(r.po.vlan, 77);
	assert_int_equal(r.po.encap, ST_ENC_VXLAN | ST_ENC_VLAN);
	assert_int_equal(r.po.outer_saddr, htonl(IP(192, 168, 50, 11)));

	plain_udp(&plain);
	rp = parse_frame(&plain, 14);
	assert_int_equal(r.id, rp.id);
}

static void test_vxlan_outer_vlan(void **state)
{
	struct pkt inner, vx, outer = { .len = 0 };
	struct parsed r;

	/* Outer frame tagged (VLAN 10) carrying VXLAN: the tag and the tunnel
	 * are both reported, the key is still the inner packet's. */
	plain_udp(&inner);
	vxlan_wrap(&vx, &inner, 0x08, 9);
	eth(&outer, 0x8100);
	vlan_tag(&outer, 10, 0x0800);
	memcpy(outer.b + outer.len, vx.b + 14, vx.len - 14);
	outer.len += vx.len - 14;
	r = parse_frame(&outer, 18);
	assert_int_equal(r.rc, 0);
	{
		struct st_pkt_key want = plain_udp_key();

		assert_key(&r.key, &want);
	}
	assert_int_equal(r.po.vlan, 10);
	assert_int_equal(r.po.vni, 9);
	assert_int_equal(r.po.encap, ST_ENC_VXLAN | ST_ENC_VLAN);
}

static void test_vxlan_rejects(void **state)
{
	struct pkt inner, outer;
	struct parsed r;

	/* The I flag is mandatory. */
	plain_udp(&inner);
	vxlan_wrap(&outer, &inner, 0x00, 42);
	r = parse_frame(&outer, 14);
	assert_int_not_equal(r.rc, 0);

	/* The inner frame must be IPv4 (here: ARP). */
	memset(&inner, 0, sizeof(inner));
	eth(&inner, 0x0806);
	payload(&inner, 28);
	vxlan_wrap(&outer, &inner, 0x08, 42);
	r = parse_frame(&outer, 14);
	assert_int_not_equal(r.rc, 0);

	/* Nested VXLAN is not followed: the inner UDP 4789 datagram is keyed
	 * as the plain UDP packet it is. */
	{
		struct pkt in2 = { .len = 0 }, mid;

		eth(&in2, 0x0800);
		udp_ip(&in2, A_ADDR, B_ADDR, 1234, 4789, 9, 30);
		vxlan_wrap(&mid, &in2, 0x08, 5);
		r = parse_frame(&mid, 14);
		assert_int_equal(r.rc, 0);
		assert_int_equal(r.key.saddr, htonl(A_ADDR));
		assert_int_equal(r.key.dport, htons(4789));
		assert_int_equal(r.key.disc2, 20 + 8 + 30);
		assert_int_equal(r.po.vni, 5);
	}
}

/*
 * Outer Ethernet/IPv4/UDP(6081)/Geneve around an inner frame: version
 * ver, optwords 4-byte words of options (each a TLV header with class,
 * type and length, then filler), protocol type gproto.
 */
static void geneve_wrap(struct pkt *p, const struct pkt *inner, unsigned ver,
			unsigned optwords, unsigned gproto, uint32_t vni)
{
	size_t glen = 8 + optwords * 4;
	struct ip_spec ip = { .saddr = IP(192, 168, 60, 21), .daddr = IP(192, 168, 60, 22),
			      .proto = 17, .id = 0x0202, .frag = 0x4000,
			      .l4len = (unsigned)(8 + glen + inner->len) };

	memset(p, 0, sizeof(*p));
	eth(p, 0x0800);
	ipv4(p, &ip);
	udp(p, 49152 + 99, 6081, glen + inner->len);
	put8(p, ver << 6 | optwords);
	put8(p, 0);			/* O and C flags clear */
	put16(p, gproto);
	put8(p, vni >> 16);
	put8(p, vni >> 8);
	put8(p, vni);
	put8(p, 0);
	/* Options as TLVs: class 0x0103, type 0x80, length in words after
	 * the 4-byte option header. One option covering all the words. */
	if (optwords) {
		put16(p, 0x0103);
		put8(p, 0x80);
		put8(p, optwords - 1);
		for (unsigned i = 1; i < optwords; i++)
			put32(p, 0xdead0000 | i);
	}
	memcpy(p->b + p->len, inner->b, inner->len);
	p->len += inner->len;
}

static void test_geneve(void **state)
{
	struct pkt inner, outer, l3;
	struct st_pkt_key want = plain_udp_key();
	struct parsed r, rp;

	plain_udp(&inner);
	rp = parse_frame(&inner, 14);
	assert_int_equal(rp.rc, 0);

	/* No options, inner Ethernet: keyed on the inner packet, with the
	 * same id as the plain packet. */
	geneve_wrap(&outer, &inner, 0, 0, 0x6558, 77);
	r = parse_frame(&outer, 14);
	assert_int_equal(r.rc, 0);
	assert_key(&r.key, &want);
	assert_int_equal(r.id, rp.id);
	assert_int_equal(r.po.outer_saddr, htonl(IP(192, 168, 60, 21)));
	assert_int_equal(r.po.outer_daddr, htonl(IP(192, 168, 60, 22)));
	assert_int_equal(r.po.vni, 77);
	assert_int_equal(r.po.encap, ST_ENC_GENEVE);

	/* Options of every size up to the 6-bit maximum (252 bytes) are
	 * skipped; a 24-bit VNI survives. */
	for (unsigned w = 1; w <= 63; w += (w < 4 ? 1 : 17)) {
		geneve_wrap(&outer, &inner, 0, w, 0x6558, 0xabcdef);
		r = parse_frame(&outer, 14);
		assert_int_equal(r.rc, 0);
		assert_key(&r.key, &want);
		assert_int_equal(r.id, rp.id);
		assert_int_equal(r.po.vni, 0xabcdef);
	}
	geneve_wrap(&outer, &inner, 0, 63, 0x6558, 5);
	r = parse_frame(&outer, 14);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.id, rp.id);

	/* An L3 Geneve device carries IPv4 with no inner Ethernet. */
	memset(&l3, 0, sizeof(l3));
	memcpy(l3.b, inner.b + 14, inner.len - 14);
	l3.len = inner.len - 14;
	geneve_wrap(&outer, &l3, 0, 2, 0x0800, 9);
	r = parse_frame(&outer, 14);
	assert_int_equal(r.rc, 0);
	assert_key(&r.key, &want);
	assert_int_equal(r.id, rp.id);
	assert_int_equal(r.po.vni, 9);
}

static void test_geneve_rejects(void **state)
{
	struct pkt inner, outer;
	struct parsed r;

	plain_udp(&inner);
	/* Unknown version. */
	geneve_wrap(&outer, &inner, 1, 0, 0x6558, 77);
	r = parse_frame(&outer, 14);
	assert_int_not_equal(r.rc, 0);
	/* Inner ARP frame. */
	memset(&inner, 0, sizeof(inner));
	eth(&inner, 0x0806);
	payload(&inner, 28);
	geneve_wrap(&outer, &inner, 0, 1, 0x6558, 77);
	r = parse_frame(&outer, 14);
	assert_int_not_equal(r.rc, 0);
	/* Options claiming more than the packet holds: the read past the end
	 * faults and the packet is not keyed. */
	plain_udp(&inner);
	geneve_wrap(&outer, &inner, 0, 0, 0x6558, 77);
	outer.b[14 + 20 + 8] = 63;
	outer.len = 14 + 20 + 8 + 8 + 40;
	r = parse_frame(&outer, 14);
	assert_int_not_equal(r.rc, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vxlan),
		cmocka_unit_test(test_vxlan_inner_vlan),
		cmocka_unit_test(test_vxlan_outer_vlan),
		cmocka_unit_test(test_vxlan_rejects),
		cmocka_unit_test(test_geneve),
		cmocka_unit_test(test_geneve_rejects),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
