// SPDX-License-Identifier: MIT
/*
 * vmsim packet I/O: the transmit path (Ethernet/IPv4 framing, checksums,
 * the delayed-reply FIFO), ARP (cache, requests, answers) and the receive
 * path, the responder that answers ICMP echo, UDP and TCP data segments
 * addressed to the VM and hands echoed probes of our own runs to
 * vmsim_run.c.
 *
 * Every IPv4 packet built here takes the next value of the per-process IP
 * ID counter, full checksums and no DF bit, so a tracer can key packets on
 * (source address, IP ID) without ambiguity.  Frames come from and go to
 * the one tap in vm.tap; nothing here blocks.
 */

#include "vmsim.h"

/* ---------------------------------------------------------------------- */
/* Transmit path                                                          */
/* ---------------------------------------------------------------------- */

void tap_send(const uint8_t *frame, size_t len)
{
	ssize_t n = write(vm.tap, frame, len);

	if (n == (ssize_t)len)
		vm.st.tx_frames++;
	else
		vm.st.tx_errors++;
}

/*
 * Writes Ethernet + IPv4 headers for an l4len-byte payload of protocol proto
 * and returns the frame length.  The IP ID comes from the per-process
 * counter so every crafted packet is distinguishable.
 */
size_t build_ipv4(uint8_t *f, const uint8_t dmac[6], uint32_t dst, uint8_t proto,
		  size_t l4len)
{
	uint8_t *ip = f + ETH_HDR;

	memcpy(f, dmac, 6);
	memcpy(f + 6, vm.mac, 6);
	put16(f + 12, 0x0800);
	ip[0] = 0x45;
	ip[1] = 0;
	put16(ip + 2, (uint16_t)(IP_HDR + l4len));
	put16(ip + 4, vm.ip_id++);
	put16(ip + 6, 0);       /* no DF, no fragmentation */
	ip[8] = 64;
	ip[9] = proto;
	put16(ip + 10, 0);
	put32(ip + 12, vm.ip);
	put32(ip + 16, dst);
	put16(ip + 10, csum_fold(csum_add(0, ip, IP_HDR)));
	return ETH_HDR + IP_HDR + l4len;
}

void l4_checksum(uint8_t *f, size_t l4len, uint8_t proto, uint32_t dst)
{
	uint8_t *l4 = f + ETH_HDR + IP_HDR;
	size_t off = proto == IPPROTO_UDP ? 6 : proto == IPPROTO_TCP ? 16 : 2;
	uint64_t sum = proto == IPPROTO_ICMP ? 0 : pseudo_sum(vm.ip, dst, proto, (uint16_t)l4len);
	uint16_t c;

	put16(l4 + off, 0);
	c = csum_fold(csum_add(sum, l4, l4len));
	if (proto == IPPROTO_UDP && c == 0)
		c = 0xffff;  /* zero means "no checksum" for UDP */
	put16(l4 + off, c);
}

/*
 * Sends a reply now or queues it until rx_ns + reply delay.  The delay is
 * counted from the moment the request was read so that our own processing
 * time does not add to it.
 */
static void emit_reply(const uint8_t *f, size_t len, uint64_t rx_ns)
{
	struct rq_entry *e;

	if (!vm.reply_delay_ns) {
		tap_send(f, len);
		return;
	}
	e = tool_fifo_push(&vm.rq);
	if (!e) {
		vm.st.reply_drops++;
		return;
	}
	e->due = rx_ns + vm.reply_delay_ns;
	e->len = (uint16_t)len;
	memcpy(e->data, f, len);
}

/*
 * Sends queued replies whose time has come.  The queue is FIFO: with a fixed
 * delay the due times are already sorted; after "set reply_delay_us" lowers
 * the delay, newer replies briefly wait behind older ones rather than
 * overtaking them, which is the less surprising behaviour for a test.
 */
void rq_flush(uint64_t now)
{
	uint32_t n = tool_fifo_due(&vm.rq, now);

	for (uint32_t i = 0; i < n; i++) {
		const struct rq_entry *e = tool_fifo_at(&vm.rq, i);

		tap_send(e->data, e->len);
	}
	tool_fifo_pop(&vm.rq, n);
}

/* ---------------------------------------------------------------------- */
/* ARP                                                                    */
/* ---------------------------------------------------------------------- */

const uint8_t bcast_mac[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

struct arp_entry *arp_lookup(uint32_t ip)
{
	for (unsigned i = 0; i < vm.arp_n; i++)
		if (vm.arp[i].ip == ip)
			return &vm.arp[i];
	return NULL;
}

static void arp_learn(uint32_t ip, const uint8_t mac[6])
{
	struct arp_entry *e = arp_lookup(ip);

	if (!ip || (mac[0] & 1))
		return;
	if (!e) {
		/* Round-robin replacement is plenty for a handful of peers. */
		if (vm.arp_n < ARP_CACHE)
			e = &vm.arp[vm.arp_n++];
		else
			e = &vm.arp[vm.arp_next_slot++ % ARP_CACHE];
		e->ip = ip;
	}
	memcpy(e->mac, mac, 6);
}

void arp_send(uint16_t op, const uint8_t dmac[6], const uint8_t tha[6], uint32_t tpa)
{
	uint8_t f[ETH_HDR + ARP_LEN + 18] = { 0 };  /* padded to the 60-byte minimum */
	uint8_t *a = f + ETH_HDR;

	memcpy(f, dmac, 6);
	memcpy(f + 6, vm.mac, 6);
	put16(f + 12, 0x0806);
	put16(a, 1);
	put16(a + 2, 0x0800);
	a[4] = 6;
	a[5] = 4;
	put16(a + 6, op);
	memcpy(a + 8, vm.mac, 6);
	put32(a + 14, vm.ip);
	memcpy(a + 18, tha, 6);
	put32(a + 24, tpa);
	tap_send(f, sizeof(f));
}


static void handle_arp(const uint8_t *f, size_t len, uint64_t now)
{
	const uint8_t *a = f + ETH_HDR;
	uint32_t spa, tpa;
	uint16_t op;

	if (len < ETH_HDR + ARP_LEN || get16(a) != 1 || get16(a + 2) != 0x0800 || a[4] != 6 ||
	    a[5] != 4) {
		vm.st.rx_bad++;
		return;
	}
	op = get16(a + 6);
	spa = get32(a + 14);
	tpa = get32(a + 24);
	if (op == 1 && tpa == vm.ip) {
		arp_learn(spa, a + 8);
		/* Answer straight to the asker's hardware address; no lookup needed. */
		arp_send(2, a + 8, a + 8, spa);
		vm.st.arp_replies++;
		runs_on_arp(spa, a + 8, now);
	} else if (op == 2 && tpa == vm.ip) {
		arp_learn(spa, a + 8);
		runs_on_arp(spa, a + 8, now);
	} else {
		vm.st.rx_ignored++;
	}
}


/* ---------------------------------------------------------------------- */
/* Receive path: the responder                                            */
/* ---------------------------------------------------------------------- */

static bool is_own_probe(const uint8_t *pl, size_t plen)
{
	return plen >= PROBE_HDR && get32(pl) == PROBE_MAGIC && get32(pl + 4) == vm.ip;
}

static void handle_ipv4(const uint8_t *f, size_t len, uint64_t rx_ns)
{
	static uint8_t out[MAX_FRAME];
	const uint8_t *ip = f + ETH_HDR, *l4;
	size_t ihl, tot, l4len;
	uint32_t src, dst;

	if (len < ETH_HDR + IP_HDR || (ip[0] >> 4) != 4) {
		vm.st.rx_bad++;
		return;
	}
	ihl = (size_t)(ip[0] & 15) * 4;
	tot = get16(ip + 2);
	if (ihl < IP_HDR || tot < ihl || tot > len - ETH_HDR ||
	    csum_fold(csum_add(0, ip, ihl)) != 0) {
		vm.st.rx_bad++;
		return;
	}
	src = get32(ip + 12);
	dst = get32(ip + 16);
	/* Fragments are never produced by the test traffic; ignore rather than reassemble. */
	if (dst != vm.ip || (get16(ip + 6) & 0x3fff)) {
		vm.st.rx_ignored++;
		return;
	}
	l4 = ip + ihl;
	l4len = tot - ihl;

	switch (ip[9]) {
	case IPPROTO_ICMP:
		if (l4len < ICMP_HDR)
			break;
		if (l4[0] == 8 && l4[1] == 0) {
			if (ETH_HDR + IP_HDR + l4len > sizeof(out))
				break;
			memcpy(out + ETH_HDR + IP_HDR, l4, l4len);
			out[ETH_HDR + IP_HDR] = 0;  /* echo reply, same id/seq/data */
			size_t n = build_ipv4(out, f + 6, src, IPPROTO_ICMP, l4len);
			l4_checksum(out, l4len, IPPROTO_ICMP, src);
			emit_reply(out, n, rx_ns);
			vm.st.icmp_replies++;
			return;
		}
		if (l4[0] == 0 && is_own_probe(l4 + ICMP_HDR, l4len - ICMP_HDR)) {
			match_probe(P_ICMP, src, l4 + ICMP_HDR, rx_ns, 0, l4);
			return;
		}
		vm.st.rx_ignored++;
		return;
	case IPPROTO_UDP: {
		size_t ulen;

		if (l4len < UDP_HDR)
			break;
		ulen = get16(l4 + 4);
		if (ulen < UDP_HDR || ulen > l4len)
			break;
		if (is_own_probe(l4 + UDP_HDR, ulen - UDP_HDR)) {
			match_probe(P_UDP, src, l4 + UDP_HDR, rx_ns, 0, NULL);
			return;
		}
		if (ETH_HDR + IP_HDR + ulen > sizeof(out))
			break;
		uint8_t *u = out + ETH_HDR + IP_HDR;
		memcpy(u, l4, ulen);
		put16(u, get16(l4 + 2));
		put16(u + 2, get16(l4));
		size_t n = build_ipv4(out, f + 6, src, IPPROTO_UDP, ulen);
		l4_checksum(out, ulen, IPPROTO_UDP, src);
		emit_reply(out, n, rx_ns);
		vm.st.udp_replies++;
		return;
	}
	case IPPROTO_TCP: {
		size_t doff;
		uint8_t flags;

		if (l4len < TCP_HDR)
			break;
		doff = (size_t)(l4[12] >> 4) * 4;
		if (doff < TCP_HDR || doff > l4len)
			break;
		flags = l4[13];
		size_t plen = l4len - doff;
		const uint8_t *pl = l4 + doff;
		uint32_t their_next = get32(l4 + 4) + (uint32_t)plen;

		/* Only data segments are answered; SYN/FIN/RST and bare ACKs are not. */
		if (!plen || (flags & 0x07)) {
			vm.st.rx_ignored++;
			return;
		}
		if (is_own_probe(pl, plen)) {
			match_probe(P_TCP, src, pl, rx_ns, their_next, NULL);
			return;
		}
		if (ETH_HDR + IP_HDR + TCP_HDR + plen > sizeof(out))
			break;
		uint8_t *t = out + ETH_HDR + IP_HDR;
		put16(t, get16(l4 + 2));
		put16(t + 2, get16(l4));
		put32(t + 4, vm.tcp_seq);
		put32(t + 8, their_next);
		t[12] = 5 << 4;
		t[13] = 0x18;
		put16(t + 14, 65535);
		put16(t + 18, 0);
		memcpy(t + TCP_HDR, pl, plen);
		vm.tcp_seq += (uint32_t)plen;
		size_t n = build_ipv4(out, f + 6, src, IPPROTO_TCP, TCP_HDR + plen);
		l4_checksum(out, TCP_HDR + plen, IPPROTO_TCP, src);
		emit_reply(out, n, rx_ns);
		vm.st.tcp_replies++;
		return;
	}
	default:
		vm.st.rx_ignored++;
		return;
	}
	vm.st.rx_bad++;
}

void handle_frame(const uint8_t *f, size_t len, uint64_t rx_ns)
{
	vm.st.rx_frames++;
	if (len < ETH_HDR) {
		vm.st.rx_bad++;
		return;
	}
	/* The bridge floods unknown unicast; frames for other VMs are not ours. */
	if (memcmp(f, vm.mac, 6) != 0 && !(f[0] & 1)) {
		vm.st.rx_ignored++;
		return;
	}
	switch (get16(f + 12)) {
	case 0x0806:
		handle_arp(f, len, rx_ns);
		break;
	case 0x0800:
		handle_ipv4(f, len, rx_ns);
		break;
	default:
		vm.st.rx_ignored++;
		break;
	}
}
