// SPDX-License-Identifier: MIT
/*
 * rawsend: put hand-made Ethernet frames on an interface through a packet
 * socket, for the arp and defrag tests. The frames are what the tests
 * need to be exact: an ARP reply nobody asked for, one IPv4 fragment of a
 * datagram whose other fragments never come.
 *
 *   rawsend IFACE hex HEXBYTES
 *       the frame as given (Ethernet header included)
 *   rawsend IFACE arp OP SHA SPA THA TPA [ETH_DST]
 *       an Ethernet/IPv4 ARP frame; OP is request or reply (or a number);
 *       ETH_DST defaults to broadcast for requests and THA for replies;
 *       the Ethernet source is SHA
 *   rawsend IFACE ipfrag DST_MAC SRC_IP DST_IP ID OFFSET MF LEN [PROTO]
 *       one IPv4 fragment: LEN payload bytes at byte OFFSET (a multiple of
 *       8), more-fragments flag MF (0/1), protocol PROTO (default 17); the
 *       payload is a counting pattern, the header checksum is computed;
 *       the Ethernet source is the interface's MAC
 *   rawsend IFACE udp DST_MAC SRC_IP DST_IP SPORT DPORT ID [VLAN [COUNT]]
 *       COUNT (default 1) UDP datagrams of 16 payload bytes with IPv4 ids
 *       ID, ID+1, ...; VLAN 1..4094 puts an 802.1Q tag with that VLAN id
 *       in the frame (0: untagged), for the flow --vlan tests; the
 *       Ethernet source is the interface's MAC, the UDP checksum is 0
 *   rawsend IFACE tcp DST_MAC SRC_IP DST_IP SPORT DPORT FLAGS [COUNT]
 *       COUNT (default 1) TCP segments without payload carrying the TCP
 *       flag byte FLAGS (e.g. 0x12 SYN+ACK, 0x03 SYN+FIN), sequence
 *       numbers 1000, 1001, ...; both checksums are right so a receiver
 *       (conntrack) judges the segment by its flags and state alone, for
 *       the OVS conntrack-invalid tests
 *
 * Exit 0 when the frame was sent, 1 on a send error, 2 on bad arguments.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static void usage(void)
{
	fprintf(stderr,
		"usage: rawsend IFACE hex HEXBYTES\n"
		"       rawsend IFACE arp request|reply SHA SPA THA TPA [ETH_DST]\n"
		"       rawsend IFACE ipfrag DST_MAC SRC_IP DST_IP ID OFFSET MF LEN [PROTO]\n"
		"       rawsend IFACE udp DST_MAC SRC_IP DST_IP SPORT DPORT ID [VLAN [COUNT]]\n"
		"       rawsend IFACE tcp DST_MAC SRC_IP DST_IP SPORT DPORT FLAGS [COUNT]\n");
	exit(2);
}

static void bad(const char *what, const char *v)
{
	fprintf(stderr, "rawsend: error: bad %s '%s'\n", what, v);
	exit(2);
}

static void parse_mac(const char *s, uint8_t m[6])
{
	unsigned v[6];

	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
		bad("MAC", s);
	for (int i = 0; i < 6; i++) {
		if (v[i] > 255)
			bad("MAC", s);
		m[i] = (uint8_t)v[i];
	}
}

static void parse_ip(const char *s, uint8_t out[4])
{
	if (inet_pton(AF_INET, s, out) != 1)
		bad("IPv4 address", s);
}

static unsigned long parse_num(const char *s, unsigned long max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || *end || end == s || v > max)
		bad("number", s);
	return v;
}

static uint16_t csum(const uint8_t *p, size_t n)
{
	uint32_t s = 0;

	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static size_t build_hex(const char *hex, uint8_t *f, size_t cap)
{
	size_t n = 0, len = strlen(hex);

	if (len % 2 || len / 2 > cap)
		bad("hex frame", hex);
	for (size_t i = 0; i < len; i += 2) {
		unsigned v;

		if (sscanf(hex + i, "%2x", &v) != 1)
			bad("hex frame", hex);
		f[n++] = (uint8_t)v;
	}
	return n;
}

static size_t build_arp(int argc, char **argv, uint8_t *f)
{
	uint8_t sha[6], tha[6], dst[6];
	unsigned long op;

	if (argc < 5)
		usage();
	op = !strcmp(argv[0], "request") ? 1 : !strcmp(argv[0], "reply") ? 2 :
	     parse_num(argv[0], 65535);
	parse_mac(argv[1], sha);
	parse_mac(argv[3], tha);
	if (argc > 5)
		parse_mac(argv[5], dst);
	else if (op == 1)
		memset(dst, 0xff, 6);
	else
		memcpy(dst, tha, 6);
	memcpy(f, dst, 6);
	memcpy(f + 6, sha, 6);
	f[12] = 0x08;
	f[13] = 0x06;
	f[14] = 0; f[15] = 1;		/* Ethernet */
	f[16] = 0x08; f[17] = 0;	/* IPv4 */
	f[18] = 6; f[19] = 4;
	f[20] = (uint8_t)(op >> 8); f[21] = (uint8_t)op;
	memcpy(f + 22, sha, 6);
	parse_ip(argv[2], f + 28);
	memcpy(f + 32, tha, 6);
	parse_ip(argv[4], f + 38);
	return 42;
}

/* The Ethernet header (to the MAC in argv[0], from src_mac, IPv4) and the
 * 20-byte IPv4 header of a frame: total length, id, the flags/fragment
 * word, TTL 64, protocol, addresses from argv[1] and argv[2], checksum. */
static void eth_ipv4(char **argv, const uint8_t src_mac[6], uint8_t *f, size_t ip_len,
		     unsigned long id, unsigned frag, unsigned proto)
{
	uint8_t *ip = f + 14;
	uint16_t c;

	parse_mac(argv[0], f);
	memcpy(f + 6, src_mac, 6);
	f[12] = 0x08;
	f[13] = 0x00;
	memset(ip, 0, 20);
	ip[0] = 0x45;
	ip[2] = (uint8_t)(ip_len >> 8);
	ip[3] = (uint8_t)ip_len;
	ip[4] = (uint8_t)(id >> 8);
	ip[5] = (uint8_t)id;
	ip[6] = (uint8_t)(frag >> 8);
	ip[7] = (uint8_t)frag;
	ip[8] = 64;
	ip[9] = (uint8_t)proto;
	parse_ip(argv[1], ip + 12);
	parse_ip(argv[2], ip + 16);
	c = csum(ip, 20);
	ip[10] = (uint8_t)(c >> 8);
	ip[11] = (uint8_t)c;
}

static size_t build_ipfrag(int argc, char **argv, const uint8_t src_mac[6], uint8_t *f,
			   size_t cap)
{
	unsigned long id, off, mf, len, proto = 17;
	uint8_t *ip = f + 14;

	if (argc < 7)
		usage();
	id = parse_num(argv[3], 65535);
	off = parse_num(argv[4], 65528);
	mf = parse_num(argv[5], 1);
	len = parse_num(argv[6], cap - 34);
	if (argc > 7)
		proto = parse_num(argv[7], 255);
	if (off % 8)
		bad("OFFSET (not a multiple of 8)", argv[4]);
	eth_ipv4(argv, src_mac, f, 20 + len, id, (mf ? 0x2000u : 0) | (unsigned)(off / 8),
		 (unsigned)proto);
	for (unsigned long i = 0; i < len; i++)
		ip[20 + i] = (uint8_t)(off + i);
	return 34 + len;
}

/* One UDP datagram with IPv4 id id, tagged when vlan != 0. */
static size_t build_udp(int argc, char **argv, const uint8_t src_mac[6], unsigned long id,
			uint8_t *f)
{
	unsigned long sport, dport, vlan = 0;
	size_t l2 = 14;
	uint8_t *ip, *udp;

	if (argc < 6)
		usage();
	parse_mac(argv[0], f);
	memcpy(f + 6, src_mac, 6);
	sport = parse_num(argv[3], 65535);
	dport = parse_num(argv[4], 65535);
	if (argc > 6)
		vlan = parse_num(argv[6], 4094);
	if (vlan) {
		f[12] = 0x81;
		f[13] = 0x00;
		f[14] = (uint8_t)(vlan >> 8);
		f[15] = (uint8_t)vlan;
		l2 = 18;
	}
	f[l2 - 2] = 0x08;
	f[l2 - 1] = 0x00;
	ip = f + l2;
	udp = ip + 20;
	memset(ip, 0, 20 + 8 + 16);
	ip[0] = 0x45;
	ip[3] = 20 + 8 + 16;
	ip[4] = (uint8_t)(id >> 8);
	ip[5] = (uint8_t)id;
	ip[6] = 0x40;	/* DF */
	ip[8] = 64;
	ip[9] = 17;
	parse_ip(argv[1], ip + 12);
	parse_ip(argv[2], ip + 16);
	{
		uint16_t c = csum(ip, 20);

		ip[10] = (uint8_t)(c >> 8);
		ip[11] = (uint8_t)c;
	}
	udp[0] = (uint8_t)(sport >> 8);
	udp[1] = (uint8_t)sport;
	udp[2] = (uint8_t)(dport >> 8);
	udp[3] = (uint8_t)dport;
	udp[5] = 8 + 16;
	for (int i = 0; i < 16; i++)
		udp[8 + i] = (uint8_t)i;
	return l2 + 20 + 8 + 16;
}

/* One 20-byte TCP header (no options, no payload) with flag byte flags
 * and sequence number seq; the checksum covers the IPv4 pseudo-header. */
static size_t build_tcp(int argc, char **argv, const uint8_t src_mac[6], unsigned long seq,
			uint8_t *f)
{
	unsigned long sport, dport, flags;
	uint8_t *ip = f + 14, *th = f + 34, ph[12 + 20];
	uint16_t c;

	if (argc < 6)
		usage();
	sport = parse_num(argv[3], 65535);
	dport = parse_num(argv[4], 65535);
	flags = parse_num(argv[5], 255);
	eth_ipv4(argv, src_mac, f, 40, seq & 0xffff, 0x4000 /* DF */, 6);
	memset(th, 0, 20);
	th[0] = (uint8_t)(sport >> 8);
	th[1] = (uint8_t)sport;
	th[2] = (uint8_t)(dport >> 8);
	th[3] = (uint8_t)dport;
	th[4] = (uint8_t)(seq >> 24);
	th[5] = (uint8_t)(seq >> 16);
	th[6] = (uint8_t)(seq >> 8);
	th[7] = (uint8_t)seq;
	if (flags & 0x10)	/* an ACK acknowledges something */
		th[11] = 1;
	th[12] = 5 << 4;	/* data offset: 5 words */
	th[13] = (uint8_t)flags;
	th[14] = 0xfa;		/* window 64000 */
	/* Pseudo-header: addresses, zero, protocol, TCP length. */
	memcpy(ph, ip + 12, 8);
	ph[8] = 0;
	ph[9] = 6;
	ph[10] = 0;
	ph[11] = 20;
	memcpy(ph + 12, th, 20);
	c = csum(ph, sizeof(ph));
	th[16] = (uint8_t)(c >> 8);
	th[17] = (uint8_t)c;
	return 54;
}

int main(int argc, char **argv)
{
	unsigned long count = 1, id0 = 0;
	uint8_t frame[9000], mac[6];
	struct sockaddr_ll sll = { 0 };
	struct ifreq ifr = { 0 };
	size_t n;
	int fd;

	if (argc < 4)
		usage();
	fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (fd < 0) {
		fprintf(stderr, "rawsend: error: packet socket: %s\n", strerror(errno));
		return 1;
	}
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", argv[1]);
	if (ioctl(fd, SIOCGIFINDEX, &ifr)) {
		fprintf(stderr, "rawsend: error: no interface '%s'\n", argv[1]);
		return 2;
	}
	sll.sll_family = AF_PACKET;
	sll.sll_ifindex = ifr.ifr_ifindex;
	if (ioctl(fd, SIOCGIFHWADDR, &ifr)) {
		fprintf(stderr, "rawsend: error: no MAC for '%s'\n", argv[1]);
		return 1;
	}
	memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	if (!strcmp(argv[2], "hex"))
		n = build_hex(argv[3], frame, sizeof(frame));
	else if (!strcmp(argv[2], "arp"))
		n = build_arp(argc - 3, argv + 3, frame);
	else if (!strcmp(argv[2], "ipfrag"))
		n = build_ipfrag(argc - 3, argv + 3, mac, frame, sizeof(frame));
	else if (!strcmp(argv[2], "udp") && argc >= 9) {
		id0 = parse_num(argv[8], 65535);
		if (argc > 10)
			count = parse_num(argv[10], 100000);
		n = build_udp(argc - 3, argv + 3, mac, id0, frame);
	} else if (!strcmp(argv[2], "tcp") && argc >= 9) {
		if (argc > 9)
			count = parse_num(argv[9], 100000);
		id0 = 1000;
		n = build_tcp(argc - 3, argv + 3, mac, id0, frame);
	} else
		usage();
	if (n < 14)
		bad("frame (shorter than an Ethernet header)", argv[3]);
	sll.sll_halen = 6;
	memcpy(sll.sll_addr, frame, 6);
	for (unsigned long i = 0; i < count; i++) {
		if (i && !strcmp(argv[2], "tcp"))
			n = build_tcp(argc - 3, argv + 3, mac, id0 + i, frame);
		else if (i)
			n = build_udp(argc - 3, argv + 3, mac, (id0 + i) & 0xffff, frame);
		if (sendto(fd, frame, n, 0, (struct sockaddr *)&sll, sizeof(sll)) != (ssize_t)n) {
			fprintf(stderr, "rawsend: error: send on %s: %s\n", argv[1], strerror(errno));
			return 1;
		}
	}
	close(fd);
	return 0;
}
