// SPDX-License-Identifier: MIT
/*
 * vmsim - plays a virtual machine behind an existing persistent tap device.
 *
 * The stagetrace test bed needs "VMs" whose packets enter and leave a
 * hypervisor bridge exactly the way a real guest's packets would: through a
 * tap device written and read by a userspace process.  A real guest kernel
 * is far too heavy for a 2-core CI machine, so this program speaks just
 * enough Ethernet/ARP/IPv4/ICMP/UDP/TCP to act as both the server side (it
 * answers whatever is sent to it) and the client side (it generates paced
 * request/response traffic and reports round-trip times).
 *
 * Design notes:
 *  - Single thread, one ppoll() loop, CLOCK_MONOTONIC everywhere.  Nothing in
 *    the loop sleeps; delayed replies wait in a FIFO with their due time so
 *    that thousands of requests can be outstanding at once.
 *  - TCP is deliberately stateless: a data segment is answered by a segment
 *    carrying the same payload, seq = our own running counter and
 *    ack = their seq + payload length.  There is no handshake because nothing
 *    between the two VMs (bridges, veth, vxlan, tap) keeps TCP state, and the
 *    tracer only needs realistic-looking data segments to follow.
 *  - Probes (client requests) carry a 16-byte header in their payload: magic,
 *    originating IPv4 address, run tag and sequence number.  The responder
 *    echoes the payload unchanged, so the originator recognises its own probe
 *    coming back and never answers it.  That rule is what keeps two vmsim
 *    processes from bouncing a UDP or TCP packet back and forth forever.
 *  - Every IPv4 packet we craft gets the next value of a per-process IP ID
 *    counter, full checksums and no DF bit, so a tracer can key packets on
 *    (source address, IP ID) without ambiguity.
 *  - A unix stream socket (--ctl-listen) lets other processes ask the running
 *    VM to start traffic; "vmsim --ctl SOCKET COMMAND" is the matching tiny
 *    client so the test bed needs no socat.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define TOOL_NAME "vmsim"
#include "tool_util.h"

#define ETH_HDR 14
#define IP_HDR 20
#define UDP_HDR 8
#define TCP_HDR 20
#define ICMP_HDR 8
#define ARP_LEN 28
#define MAX_FRAME 1518          /* Ethernet MTU 1500 + header + VLAN slack. */
#define RX_BUF 65536            /* A tap can hand us more than MTU if misconfigured. */
#define PROBE_HDR 16            /* magic, origin, tag, seq */
#define PROBE_MAGIC 0x53545653u /* "STVS" */
#define MAX_RUNS 8
#define MAX_CTL 32
#define CTL_LINE 1024
#define ARP_CACHE 64
#define MAX_PROBES 5000000u     /* Bounds client memory to ~80 MB. */
#define RQ_MAX 65536u           /* Bounds the delayed-reply queue to ~100 MB. */
#define RX_BATCH 128            /* Frames handled per wake-up before timers run again. */
#define TX_BURST 64             /* Probes sent per wake-up when pacing catches up. */

enum proto { P_UDP, P_TCP, P_ICMP };
static const char *proto_name[] = { "udp", "tcp", "icmp" };

/* ---------------------------------------------------------------------- */
/* Small helpers                                                          */
/* ---------------------------------------------------------------------- */

/* Byte-wise accessors: frame buffers are not aligned for 32-bit fields. */
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

static uint64_t csum_add(uint64_t sum, const uint8_t *p, size_t n)
{
	while (n > 1) {
		sum += (uint32_t)(p[0] << 8 | p[1]);
		p += 2;
		n -= 2;
	}
	if (n)
		sum += (uint32_t)p[0] << 8;
	return sum;
}

static uint16_t csum_fold(uint64_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Sum of the IPv4 pseudo header that UDP and TCP checksums cover. */
static uint64_t pseudo_sum(uint32_t src, uint32_t dst, uint8_t proto, uint16_t len)
{
	uint8_t ph[12];

	put32(ph, src);
	put32(ph + 4, dst);
	ph[8] = 0;
	ph[9] = proto;
	put16(ph + 10, len);
	return csum_add(0, ph, sizeof(ph));
}

static bool parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	char tail;

	if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
		   &tail) != 6)
		return false;
	for (int i = 0; i < 6; i++) {
		if (v[i] > 255)
			return false;
		mac[i] = (uint8_t)v[i];
	}
	return true;
}

static bool parse_ip(const char *s, uint32_t *ip)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		return false;
	*ip = ntohl(a.s_addr);
	return true;
}

static const char *ip_str(uint32_t ip, char buf[16])
{
	snprintf(buf, 16, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
	return buf;
}

static bool parse_seconds(const char *s, double *out)
{
	char *end;
	double v;

	if (!s || !*s)
		return false;
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || !(v > 0) || v > 86400)
		return false;
	*out = v;
	return true;
}

/* ---------------------------------------------------------------------- */
/* Global VM state                                                        */
/* ---------------------------------------------------------------------- */

struct stats {
	uint64_t rx_frames, tx_frames, tx_errors;
	uint64_t arp_replies, icmp_replies, udp_replies, tcp_replies;
	uint64_t probe_replies, late_replies;
	uint64_t rx_ignored, rx_bad, reply_drops;
};

struct arp_entry {
	uint32_t ip;
	uint8_t mac[6];
};

/* One delayed reply frame waiting for its departure time. */
struct rq_entry {
	uint64_t due;
	uint16_t len;
	uint8_t data[MAX_FRAME];
};

struct run_spec {
	uint32_t peer;
	enum proto proto;
	uint64_t rate;        /* packets per second */
	uint64_t count;       /* 0 when duration is used */
	double duration;      /* seconds; 0 when count is used */
	uint16_t dport, sport;
	uint32_t size;        /* L4 payload bytes */
	uint64_t wait_ms;     /* how long to wait for replies after the last send */
	uint64_t arp_timeout_ms;
};

enum run_state { R_FREE, R_ARP, R_SEND, R_DRAIN };

struct run {
	enum run_state state;
	struct run_spec spec;
	int ctl;              /* index of the control client to answer, -1 = stdout */
	uint32_t tag;
	uint8_t peer_mac[6];
	uint64_t total, sent, received, dup;
	uint64_t *sent_ns;    /* send time of each probe */
	uint64_t *rtt_ns;     /* 0 = no reply yet */
	uint64_t start_ns, first_tx_ns, last_tx_ns;
	uint64_t arp_next_ns, arp_deadline_ns, drain_deadline_ns;
	uint32_t tcp_seq, tcp_ack;
};

struct ctl_client {
	int fd;               /* -1 when the slot is free */
	char buf[CTL_LINE];
	size_t len;
	int run;              /* run that will produce the answer, or -1 */
};

static struct {
	int tap;
	int listen_fd;
	char tap_name[IFNAMSIZ];
	uint8_t mac[6];
	uint32_t ip;
	int prefix;
	unsigned mtu;
	uint64_t reply_delay_ns;
	uint16_t ip_id;
	uint32_t tcp_seq;
	uint32_t next_tag;
	struct stats st;
	struct arp_entry arp[ARP_CACHE];
	unsigned arp_n, arp_next_slot;
	struct tool_fifo rq;  /* delayed replies, of struct rq_entry */
	struct run runs[MAX_RUNS];
	struct ctl_client ctl[MAX_CTL];
	char *ctl_path;
	bool cli_run_done;
	int exit_code;
} vm = { .rq = TOOL_FIFO_INIT(struct rq_entry, 256, RQ_MAX) };

/* ---------------------------------------------------------------------- */
/* Transmit path                                                          */
/* ---------------------------------------------------------------------- */

static void tap_send(const uint8_t *frame, size_t len)
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
static size_t build_ipv4(uint8_t *f, const uint8_t dmac[6], uint32_t dst, uint8_t proto,
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

static void l4_checksum(uint8_t *f, size_t l4len, uint8_t proto, uint32_t dst)
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
static void rq_flush(uint64_t now)
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

static const uint8_t bcast_mac[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

static struct arp_entry *arp_lookup(uint32_t ip)
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

static void arp_send(uint16_t op, const uint8_t dmac[6], const uint8_t tha[6], uint32_t tpa)
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

static void runs_on_arp(uint32_t ip, const uint8_t mac[6], uint64_t now);

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
/* Client runs                                                            */
/* ---------------------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array, in whole microseconds. */
static uint64_t pct_us(const uint64_t *v, uint64_t n, double q)
{
	uint64_t idx = (uint64_t)ceil(q * (double)n);

	if (idx < 1)
		idx = 1;
	if (idx > n)
		idx = n;
	return (v[idx - 1] + 500) / 1000;
}

static void ctl_answer(int ci, const char *line);

/* Formats the summary line of a run, including rtt percentiles. */
static void run_report(struct run *r, char *out, size_t outsz)
{
	uint64_t n = 0, *v = NULL;
	char ipb[16], rtt[256];
	double send_s = r->sent > 1 ? (double)(r->last_tx_ns - r->first_tx_ns) / 1e9 : 0;

	if (r->received)
		v = malloc(r->received * sizeof(*v));
	if (v) {
		for (uint64_t i = 0; i < r->sent; i++)
			if (r->rtt_ns[i])
				v[n++] = r->rtt_ns[i];
		qsort(v, n, sizeof(*v), cmp_u64);
	}
	if (n)
		snprintf(rtt, sizeof(rtt),
			 "{\"min\":%" PRIu64 ",\"p50\":%" PRIu64 ",\"p90\":%" PRIu64
			 ",\"p99\":%" PRIu64 ",\"max\":%" PRIu64 "}",
			 pct_us(v, n, 0), pct_us(v, n, 0.5), pct_us(v, n, 0.9), pct_us(v, n, 0.99),
			 pct_us(v, n, 1));
	else
		snprintf(rtt, sizeof(rtt),
			 "{\"min\":null,\"p50\":null,\"p90\":null,\"p99\":null,\"max\":null}");
	free(v);
	snprintf(out, outsz,
		 "{\"sent\":%" PRIu64 ",\"received\":%" PRIu64 ",\"lost\":%" PRIu64
		 ",\"rtt_us\":%s,\"dup\":%" PRIu64 ",\"proto\":\"%s\",\"peer\":\"%s\""
		 ",\"rate\":%" PRIu64 ",\"size\":%u,\"send_s\":%.3f,\"pps\":%.0f}",
		 r->sent, r->received, r->sent - r->received, rtt, r->dup,
		 proto_name[r->spec.proto], ip_str(r->spec.peer, ipb), r->spec.rate, r->spec.size,
		 send_s, send_s > 0 ? (double)(r->sent - 1) / send_s : 0.0);
}

static void run_free(struct run *r)
{
	free(r->sent_ns);
	free(r->rtt_ns);
	memset(r, 0, sizeof(*r));
	r->state = R_FREE;
	r->ctl = -1;
}

/* Delivers a run's final line to whoever asked for it and releases the run. */
static void run_finish(struct run *r, const char *error)
{
	char line[1024];

	if (error)
		snprintf(line, sizeof(line), "{\"error\":\"%s\"}", error);
	else
		run_report(r, line, sizeof(line));
	if (r->ctl >= 0) {
		ctl_answer(r->ctl, line);
	} else {
		if (error) {
			fprintf(stderr, "vmsim: error: %s\n", error);
			vm.exit_code = 3;
		} else {
			printf("%s\n", line);
			fflush(stdout);
		}
		vm.cli_run_done = true;
	}
	run_free(r);
}

static const char *run_start(const struct run_spec *spec, int ctl, uint64_t now)
{
	struct run *r = NULL;
	struct arp_entry *e;
	uint64_t total;

	for (int i = 0; i < MAX_RUNS; i++)
		if (vm.runs[i].state == R_FREE) {
			r = &vm.runs[i];
			break;
		}
	if (!r)
		return "too many concurrent traffic runs";
	if (spec->peer == vm.ip)
		return "peer is this VM's own address";
	if (vm.prefix && ((spec->peer ^ vm.ip) >> (32 - vm.prefix)))
		return "peer is not on this VM's subnet (vmsim has no router support)";
	total = spec->count ? spec->count : (uint64_t)ceil((double)spec->rate * spec->duration);
	if (total == 0)
		total = 1;
	if (total > MAX_PROBES)
		return "too many probes for one run (limit 5000000)";
	memset(r, 0, sizeof(*r));
	r->sent_ns = calloc(total, sizeof(uint64_t));
	r->rtt_ns = calloc(total, sizeof(uint64_t));
	if (!r->sent_ns || !r->rtt_ns) {
		run_free(r);
		return "out of memory";
	}
	r->spec = *spec;
	r->ctl = ctl;
	r->total = total;
	/*
	 * The tag identifies the run in echoed payloads and doubles as the ICMP
	 * echo identifier; mixing in a counter keeps back-to-back runs apart so a
	 * late reply from the previous run is never credited to the next one.
	 */
	r->tag = (vm.next_tag++ * 0x9e3779b9u) ^ (uint32_t)getpid();
	r->tcp_seq = r->tag * 2654435761u;
	r->start_ns = now;
	e = arp_lookup(spec->peer);
	if (e) {
		memcpy(r->peer_mac, e->mac, 6);
		r->state = R_SEND;
	} else {
		r->state = R_ARP;
		r->arp_next_ns = now;
		r->arp_deadline_ns = now + spec->arp_timeout_ms * 1000000ull;
	}
	return NULL;
}

static void runs_on_arp(uint32_t ip, const uint8_t mac[6], uint64_t now)
{
	for (int i = 0; i < MAX_RUNS; i++) {
		struct run *r = &vm.runs[i];

		if (r->state == R_ARP && r->spec.peer == ip) {
			memcpy(r->peer_mac, mac, 6);
			r->state = R_SEND;
			r->start_ns = now;  /* pacing starts once the peer is known */
		}
	}
}

static void send_probe(struct run *r)
{
	static uint8_t f[MAX_FRAME];
	uint8_t *l4 = f + ETH_HDR + IP_HDR;
	size_t hdr = r->spec.proto == P_UDP ? UDP_HDR : r->spec.proto == P_TCP ? TCP_HDR : ICMP_HDR;
	uint8_t *pl = l4 + hdr;
	uint32_t seq = (uint32_t)r->sent;
	uint8_t ipproto;

	put32(pl, PROBE_MAGIC);
	put32(pl + 4, vm.ip);
	put32(pl + 8, r->tag);
	put32(pl + 12, seq);
	/* A position-dependent filler makes payload corruption visible in captures. */
	for (uint32_t i = PROBE_HDR; i < r->spec.size; i++)
		pl[i] = (uint8_t)(i * 7);
	switch (r->spec.proto) {
	case P_UDP:
		ipproto = IPPROTO_UDP;
		put16(l4, r->spec.sport);
		put16(l4 + 2, r->spec.dport);
		put16(l4 + 4, (uint16_t)(UDP_HDR + r->spec.size));
		break;
	case P_TCP:
		ipproto = IPPROTO_TCP;
		put16(l4, r->spec.sport);
		put16(l4 + 2, r->spec.dport);
		put32(l4 + 4, r->tcp_seq);
		put32(l4 + 8, r->tcp_ack);
		l4[12] = 5 << 4;
		l4[13] = 0x18;  /* PSH|ACK: an ordinary data segment */
		put16(l4 + 14, 65535);
		put16(l4 + 18, 0);
		r->tcp_seq += r->spec.size;
		break;
	default:
		ipproto = IPPROTO_ICMP;
		l4[0] = 8;
		l4[1] = 0;
		put16(l4 + 4, (uint16_t)r->tag);
		put16(l4 + 6, (uint16_t)seq);
		break;
	}
	size_t len = build_ipv4(f, r->peer_mac, r->spec.peer, ipproto, hdr + r->spec.size);

	l4_checksum(f, hdr + r->spec.size, ipproto, r->spec.peer);
	r->sent_ns[r->sent] = now_ns();
	tap_send(f, len);
	if (!r->sent)
		r->first_tx_ns = r->sent_ns[0];
	r->last_tx_ns = r->sent_ns[r->sent];
	r->sent++;
}

/* Credits an echoed probe to its run, or counts it as late if no run claims it. */
static void match_probe(enum proto p, uint32_t src, const uint8_t *pl, uint64_t rx_ns,
			uint32_t tcp_next_ack, const uint8_t *icmp)
{
	uint32_t tag = get32(pl + 8), seq = get32(pl + 12);

	/* An echo reply must also carry the identifier and sequence we sent. */
	if (icmp && (get16(icmp + 4) != (uint16_t)tag || get16(icmp + 6) != (uint16_t)seq)) {
		vm.st.rx_bad++;
		return;
	}

	for (int i = 0; i < MAX_RUNS; i++) {
		struct run *r = &vm.runs[i];

		if ((r->state != R_SEND && r->state != R_DRAIN) || r->tag != tag ||
		    r->spec.proto != p || r->spec.peer != src)
			continue;
		if (seq >= r->sent) {
			vm.st.late_replies++;
			return;
		}
		if (r->rtt_ns[seq]) {
			r->dup++;
			return;
		}
		/* A zero rtt would read as "not received", so round it up to 1 ns. */
		r->rtt_ns[seq] = rx_ns > r->sent_ns[seq] ? rx_ns - r->sent_ns[seq] : 1;
		r->received++;
		if (p == P_TCP)
			r->tcp_ack = tcp_next_ack;
		vm.st.probe_replies++;
		return;
	}
	/* A reply to a run that already ended (or a stray copy): drop it silently. */
	vm.st.late_replies++;
}

/* Advances every run's state machine; returns the next time it needs us. */
static uint64_t runs_tick(uint64_t now)
{
	uint64_t next = UINT64_MAX;

	for (int i = 0; i < MAX_RUNS; i++) {
		struct run *r = &vm.runs[i];

		switch (r->state) {
		case R_ARP:
			if (now >= r->arp_deadline_ns) {
				char msg[128], ipb[16];

				snprintf(msg, sizeof(msg),
					 "arp: %s did not answer within %" PRIu64 " ms",
					 ip_str(r->spec.peer, ipb), r->spec.arp_timeout_ms);
				run_finish(r, msg);
				continue;
			}
			if (now >= r->arp_next_ns) {
				static const uint8_t zero[6];

				arp_send(1, bcast_mac, zero, r->spec.peer);
				r->arp_next_ns = now + 200000000ull;  /* retry every 200 ms */
			}
			next = r->arp_next_ns < r->arp_deadline_ns ? r->arp_next_ns : r->arp_deadline_ns;
			break;
		case R_SEND: {
			int burst = 0;
			uint64_t due = 0;

			while (r->sent < r->total && burst < TX_BURST) {
				/* Slot times are computed from the start so rounding never drifts. */
				due = r->start_ns + (uint64_t)((double)r->sent * 1e9 / (double)r->spec.rate);
				if (due > now)
					break;
				send_probe(r);
				burst++;
			}
			if (r->sent == r->total) {
				r->state = R_DRAIN;
				r->drain_deadline_ns = now_ns() + r->spec.wait_ms * 1000000ull;
			} else {
				if (burst == TX_BURST)
					due = now;  /* more are already due: come straight back */
				if (due < next)
					next = due;
				break;
			}
		}
			/* fall through */
		case R_DRAIN:
			if (r->received == r->sent || now >= r->drain_deadline_ns) {
				run_finish(r, NULL);
				continue;
			}
			if (r->drain_deadline_ns < next)
				next = r->drain_deadline_ns;
			break;
		default:
			break;
		}
	}
	return next;
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

static void handle_frame(const uint8_t *f, size_t len, uint64_t rx_ns)
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

/* ---------------------------------------------------------------------- */
/* Control socket                                                         */
/* ---------------------------------------------------------------------- */

static void ctl_close(int ci)
{
	struct ctl_client *c = &vm.ctl[ci];

	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->len = 0;
	/* A client that hangs up abandons its run; nobody is left to read the result. */
	if (c->run >= 0 && vm.runs[c->run].state != R_FREE && vm.runs[c->run].ctl == ci)
		run_free(&vm.runs[c->run]);
	c->run = -1;
}

static void ctl_answer(int ci, const char *line)
{
	struct ctl_client *c = &vm.ctl[ci];
	size_t n = strlen(line);
	char *buf = malloc(n + 2);

	if (buf && c->fd >= 0) {
		memcpy(buf, line, n);
		buf[n] = '\n';
		/*
		 * Answers are a few hundred bytes, far below the socket buffer, so a
		 * short blocking send cannot stall the loop in practice.
		 */
		if (send(c->fd, buf, n + 1, MSG_NOSIGNAL) < 0)
			tool_log("control reply lost: %s", strerror(errno));
	}
	free(buf);
	c->run = -1;  /* the run is being freed by the caller, do not free it again */
	ctl_close(ci);
}

/*
 * Parses "key=value" tokens of a traffic command into spec.  The same keys
 * are accepted as the client command-line options, so documentation of one
 * applies to the other.
 */
static const char *spec_set(struct run_spec *s, const char *key, const char *val)
{
	uint64_t v;

	if (!strcmp(key, "peer")) {
		if (!parse_ip(val, &s->peer))
			return "peer: not an IPv4 address";
	} else if (!strcmp(key, "proto")) {
		if (!strcmp(val, "udp"))
			s->proto = P_UDP;
		else if (!strcmp(val, "tcp"))
			s->proto = P_TCP;
		else if (!strcmp(val, "icmp"))
			s->proto = P_ICMP;
		else
			return "proto: must be udp, tcp or icmp";
	} else if (!strcmp(key, "rate")) {
		if (!parse_u64(val, 1000000, &v) || !v)
			return "rate: must be 1..1000000 packets per second";
		s->rate = v;
	} else if (!strcmp(key, "count")) {
		if (!parse_u64(val, MAX_PROBES, &v) || !v)
			return "count: must be 1..5000000";
		s->count = v;
	} else if (!strcmp(key, "duration")) {
		if (!parse_seconds(val, &s->duration))
			return "duration: must be a positive number of seconds";
	} else if (!strcmp(key, "dport") || !strcmp(key, "sport")) {
		if (!parse_u64(val, 65535, &v) || !v)
			return "port: must be 1..65535";
		if (key[0] == 'd')
			s->dport = (uint16_t)v;
		else
			s->sport = (uint16_t)v;
	} else if (!strcmp(key, "size")) {
		if (!parse_u64(val, 65535, &v))
			return "size: not a number";
		s->size = (uint32_t)v;
	} else if (!strcmp(key, "wait_ms")) {
		if (!parse_u64(val, 600000, &v))
			return "wait_ms: must be 0..600000";
		s->wait_ms = v;
	} else if (!strcmp(key, "arp_timeout_ms")) {
		if (!parse_u64(val, 600000, &v) || !v)
			return "arp_timeout_ms: must be 1..600000";
		s->arp_timeout_ms = v;
	} else {
		return "unknown traffic parameter";
	}
	return NULL;
}

static void spec_defaults(struct run_spec *s)
{
	memset(s, 0, sizeof(*s));
	s->proto = P_UDP;
	s->rate = 1000;
	s->dport = 7000;
	s->sport = 40000;
	s->size = 64;
	s->wait_ms = 1000;
	s->arp_timeout_ms = 3000;
}

static const char *spec_check(struct run_spec *s)
{
	unsigned hdr = s->proto == P_TCP ? TCP_HDR : s->proto == P_UDP ? UDP_HDR : ICMP_HDR;
	unsigned max = vm.mtu - IP_HDR - hdr;
	static char msg[96];

	if (!s->peer)
		return "peer is required";
	if (s->count && s->duration > 0)
		return "give either count or duration, not both";
	if (!s->count && !(s->duration > 0))
		return "count or duration is required";
	if (s->size < PROBE_HDR || s->size > max) {
		snprintf(msg, sizeof(msg), "size: must be %u..%u bytes of payload for %s", PROBE_HDR,
			 max, proto_name[s->proto]);
		return msg;
	}
	return NULL;
}

static void json_escape(const char *in, char *out, size_t outsz)
{
	size_t o = 0;

	for (; *in && o + 7 < outsz; in++) {
		unsigned char ch = (unsigned char)*in;

		if (ch == '"' || ch == '\\') {
			out[o++] = '\\';
			out[o++] = (char)ch;
		} else if (ch < 0x20) {
			o += (size_t)snprintf(out + o, outsz - o, "\\u%04x", ch);
		} else {
			out[o++] = (char)ch;
		}
	}
	out[o] = 0;
}

static void ctl_error(int ci, const char *what)
{
	char esc[256], line[320];

	json_escape(what, esc, sizeof(esc));
	snprintf(line, sizeof(line), "{\"error\":\"%s\"}", esc);
	ctl_answer(ci, line);
}

static void ctl_command(int ci, char *line, uint64_t now)
{
	char *save = NULL, *verb = strtok_r(line, " \t\r\n", &save);
	char out[1024], macb[18], ipb[16];

	if (!verb) {
		ctl_error(ci, "empty command (try: ping, stats, garp, traffic, set)");
		return;
	}
	snprintf(macb, sizeof(macb), "%02x:%02x:%02x:%02x:%02x:%02x", vm.mac[0], vm.mac[1],
		 vm.mac[2], vm.mac[3], vm.mac[4], vm.mac[5]);
	if (!strcmp(verb, "ping")) {
		snprintf(out, sizeof(out),
			 "{\"ok\":true,\"tap\":\"%s\",\"ip\":\"%s\",\"prefix\":%d,\"mac\":\"%s\","
			 "\"pid\":%d,\"reply_delay_us\":%" PRIu64 "}",
			 vm.tap_name, ip_str(vm.ip, ipb), vm.prefix, macb, (int)getpid(),
			 vm.reply_delay_ns / 1000);
		ctl_answer(ci, out);
	} else if (!strcmp(verb, "stats")) {
		snprintf(out, sizeof(out),
			 "{\"tap\":\"%s\",\"rx_frames\":%" PRIu64 ",\"tx_frames\":%" PRIu64
			 ",\"tx_errors\":%" PRIu64 ",\"arp_replies\":%" PRIu64
			 ",\"icmp_replies\":%" PRIu64 ",\"udp_replies\":%" PRIu64
			 ",\"tcp_replies\":%" PRIu64 ",\"probe_replies\":%" PRIu64
			 ",\"late_replies\":%" PRIu64 ",\"rx_ignored\":%" PRIu64
			 ",\"rx_bad\":%" PRIu64 ",\"reply_drops\":%" PRIu64 ",\"reply_queue\":%u}",
			 vm.tap_name, vm.st.rx_frames, vm.st.tx_frames, vm.st.tx_errors,
			 vm.st.arp_replies, vm.st.icmp_replies, vm.st.udp_replies, vm.st.tcp_replies,
			 vm.st.probe_replies, vm.st.late_replies, vm.st.rx_ignored, vm.st.rx_bad,
			 vm.st.reply_drops, vm.rq.len);
		ctl_answer(ci, out);
	} else if (!strcmp(verb, "garp")) {
		/*
		 * Re-announcing on demand lets the test bed teach the bridges our
		 * MAC once their ports are forwarding; the announcement sent at
		 * start-up can be lost while a port is still coming up.
		 */
		arp_send(1, bcast_mac, bcast_mac, vm.ip);
		ctl_answer(ci, "{\"ok\":true}");
	} else if (!strcmp(verb, "set")) {
		char *tok;
		uint64_t v;

		while ((tok = strtok_r(NULL, " \t\r\n", &save))) {
			if (strncmp(tok, "reply_delay_us=", 15) || !parse_u64(tok + 15, 10000000, &v)) {
				ctl_error(ci, "set: only reply_delay_us=0..10000000 is supported");
				return;
			}
			vm.reply_delay_ns = v * 1000;
		}
		ctl_answer(ci, "{\"ok\":true}");
	} else if (!strcmp(verb, "traffic")) {
		struct run_spec s;
		const char *err;
		char *tok;

		spec_defaults(&s);
		while ((tok = strtok_r(NULL, " \t\r\n", &save))) {
			char *eq = strchr(tok, '=');
			char msg[160];

			if (!eq) {
				snprintf(msg, sizeof(msg), "traffic: expected key=value, got '%.64s'", tok);
				ctl_error(ci, msg);
				return;
			}
			*eq = 0;
			err = spec_set(&s, tok, eq + 1);
			if (err) {
				snprintf(msg, sizeof(msg), "traffic: %s (%.32s)", err, tok);
				ctl_error(ci, msg);
				return;
			}
		}
		err = spec_check(&s);
		if (!err)
			err = run_start(&s, ci, now);
		if (err) {
			char msg[160];

			snprintf(msg, sizeof(msg), "traffic: %s", err);
			ctl_error(ci, msg);
			return;
		}
		for (int i = 0; i < MAX_RUNS; i++)
			if (vm.runs[i].state != R_FREE && vm.runs[i].ctl == ci)
				vm.ctl[ci].run = i;
	} else {
		ctl_error(ci, "unknown command (try: ping, stats, garp, traffic, set)");
	}
}

static void ctl_accept(void)
{
	for (;;) {
		int fd = accept4(vm.listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		int ci = -1;

		if (fd < 0)
			return;
		for (int i = 0; i < MAX_CTL; i++)
			if (vm.ctl[i].fd < 0) {
				ci = i;
				break;
			}
		if (ci < 0) {
			static const char busy[] = "{\"error\":\"too many control connections\"}\n";

			if (send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL) < 0) {
				/* Nothing more can be done for a client we cannot even tell. */
			}
			close(fd);
			continue;
		}
		vm.ctl[ci].fd = fd;
		vm.ctl[ci].len = 0;
		vm.ctl[ci].run = -1;
	}
}

static void ctl_read(int ci, uint64_t now)
{
	struct ctl_client *c = &vm.ctl[ci];
	ssize_t n;
	char *nl;

	if (c->run >= 0) {
		/* Busy with a run: only watch for the client hanging up. */
		char tmp[64];

		n = recv(c->fd, tmp, sizeof(tmp), 0);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			ctl_close(ci);
		return;
	}
	n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len, 0);
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			ctl_close(ci);
		return;
	}
	c->len += (size_t)n;
	c->buf[c->len] = 0;
	nl = strchr(c->buf, '\n');
	if (nl || n == 0 || c->len == sizeof(c->buf) - 1) {
		if (nl)
			*nl = 0;
		if (!nl && c->len == sizeof(c->buf) - 1) {
			ctl_error(ci, "command line too long");
			return;
		}
		if (n == 0 && !c->len) {
			ctl_close(ci);
			return;
		}
		ctl_command(ci, c->buf, now);
	}
}

/* ---------------------------------------------------------------------- */
/* Setup                                                                  */
/* ---------------------------------------------------------------------- */

static int tap_open(const char *name)
{
	int fd, s;

	/*
	 * TUNSETIFF would silently create a fresh, non-persistent tap if the name
	 * is unknown; that device would not be in any bridge, so insist that the
	 * test bed created it first.
	 */
	if (!if_nametoindex(name))
		die(1, "tap '%s' does not exist in this network namespace "
		       "(create it first: ip tuntap add dev %s mode tap)", name, name);
	fd = tool_tap_attach(name, "");

	/* Bring the link up (harmless if it already is) and learn its MTU. */
	if (tool_link_up(name) < 0)
		tool_log("could not set %s up: %s", name, strerror(errno));
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s >= 0) {
		struct ifreq q = { 0 };

		snprintf(q.ifr_name, IFNAMSIZ, "%s", name);
		if (ioctl(s, SIOCGIFMTU, &q) == 0 && q.ifr_mtu >= 576 && q.ifr_mtu <= 1500)
			vm.mtu = (unsigned)q.ifr_mtu;
		close(s);
	}
	return fd;
}

static int ctl_listen(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		die(2, "--ctl-listen: path too long (max %zu bytes)", sizeof(sa.sun_path) - 1);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die(1, "socket: %s", strerror(errno));
	unlink(path);  /* a stale socket from a killed predecessor would block bind */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die(1, "bind %s: %s", path, strerror(errno));
	if (listen(fd, 16) < 0)
		die(1, "listen %s: %s", path, strerror(errno));
	return fd;
}

/* ---------------------------------------------------------------------- */
/* --ctl client mode                                                      */
/* ---------------------------------------------------------------------- */

static int ctl_client_main(const char *path, int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char cmd[CTL_LINE], buf[4096];
	size_t len = 0, got = 0;
	int fd;

	if (argc < 1)
		die(2, "--ctl needs a command, e.g.: vmsim --ctl SOCKET 'traffic peer=10.10.0.2 count=10'");
	cmd[0] = 0;
	for (int i = 0; i < argc; i++) {
		size_t l = strlen(argv[i]);

		if (len + l + 2 > sizeof(cmd))
			die(2, "--ctl: command too long");
		if (i)
			cmd[len++] = ' ';
		memcpy(cmd + len, argv[i], l);
		len += l;
	}
	cmd[len++] = '\n';
	if (strlen(path) >= sizeof(sa.sun_path))
		die(2, "--ctl: path too long");
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die(1, "connect to %s: %s (is the VM running?)", path, strerror(errno));
	if (write(fd, cmd, len) != (ssize_t)len)
		die(1, "send to %s: %s", path, strerror(errno));
	for (;;) {
		ssize_t n = read(fd, buf + got, sizeof(buf) - 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		if (memchr(buf, '\n', got) || got == sizeof(buf) - 1)
			break;
	}
	close(fd);
	buf[got] = 0;
	if (!got)
		die(1, "%s closed the connection without an answer", path);
	fputs(buf, stdout);
	if (buf[got - 1] != '\n')
		fputc('\n', stdout);
	return strncmp(buf, "{\"error\"", 8) == 0 ? 1 : 0;
}

/* ---------------------------------------------------------------------- */
/* main                                                                   */
/* ---------------------------------------------------------------------- */

static void usage(FILE *out)
{
	fprintf(out,
"usage: vmsim --tap NAME --mac MAC --ip A.B.C.D[/PREFIX] [options]\n"
"       vmsim --ctl SOCKET COMMAND...\n"
"\n"
"Plays a VM behind an existing persistent tap device: answers ARP, ICMP echo,\n"
"UDP (any port, payload echoed) and TCP data segments (stateless, see below),\n"
"and optionally generates paced request traffic and reports RTTs as JSON.\n"
"\n"
"VM options:\n"
"  --tap NAME             tap device to attach to (must already exist)\n"
"  --mac MAC              the VM's MAC address\n"
"  --ip A.B.C.D[/P]       the VM's IPv4 address (prefix default 24)\n"
"  --reply-delay-us N     hold every reply N microseconds before sending (default 0)\n"
"  --ctl-listen PATH      accept control commands on this unix socket\n"
"  --pidfile PATH         write our pid here once ready (removed on exit)\n"
"  --no-garp              do not announce the address with a gratuitous ARP\n"
"  --quiet                no informational messages on stderr\n"
"\n"
"Client options (run one traffic test, print a JSON line, exit):\n"
"  --peer IP              address to send requests to (same subnet)\n"
"  --proto udp|tcp|icmp   request type (default udp)\n"
"  --rate PPS             requests per second (default 1000)\n"
"  --count N | --duration S   how many requests, or for how long\n"
"  --dport P --sport P    UDP/TCP ports (default 7000 / 40000)\n"
"  --size BYTES           L4 payload size, >= 16 (default 64)\n"
"  --wait-ms MS           wait for late replies after the last send (default 1000)\n"
"  --arp-timeout-ms MS    give up resolving the peer after MS (default 3000)\n"
"\n"
"Control commands (one line, answered with one JSON line):\n"
"  ping | stats | garp | set reply_delay_us=N |\n"
"  traffic peer=IP [proto= rate= count=|duration= dport= sport= size= wait_ms= arp_timeout_ms=]\n"
"\n"
"Output of a run: {\"sent\":N,\"received\":N,\"lost\":N,\"rtt_us\":{\"min\":..,\"p50\":..,\n"
"\"p90\":..,\"p99\":..,\"max\":..},...}.  TCP is stateless: a data segment is answered\n"
"with the same payload, seq = our counter, ack = their seq + length; no handshake.\n");
}

enum {
	O_TAP = 256, O_MAC, O_IP, O_DELAY, O_CTL_LISTEN, O_PIDFILE, O_NOGARP, O_QUIET,
	O_PEER, O_PROTO, O_RATE, O_COUNT, O_DURATION, O_DPORT, O_SPORT, O_SIZE, O_WAIT,
	O_ARPTO, O_CTL,
};

int main(int argc, char **argv)
{
	/*
	 * --pidfile and --quiet keep codes of 256 and up rather than those of
	 * TOOL_COMMON_OPTIONS: with a code below 256, "--quiet=1" would set
	 * optopt and be reported as the short option "-q".
	 */
	static const struct option opts[] = {
		{ "tap", required_argument, 0, O_TAP },
		{ "mac", required_argument, 0, O_MAC },
		{ "ip", required_argument, 0, O_IP },
		{ "reply-delay-us", required_argument, 0, O_DELAY },
		{ "ctl-listen", required_argument, 0, O_CTL_LISTEN },
		{ "pidfile", required_argument, 0, O_PIDFILE },
		{ "no-garp", no_argument, 0, O_NOGARP },
		{ "quiet", no_argument, 0, O_QUIET },
		{ "peer", required_argument, 0, O_PEER },
		{ "proto", required_argument, 0, O_PROTO },
		{ "rate", required_argument, 0, O_RATE },
		{ "count", required_argument, 0, O_COUNT },
		{ "duration", required_argument, 0, O_DURATION },
		{ "dport", required_argument, 0, O_DPORT },
		{ "sport", required_argument, 0, O_SPORT },
		{ "size", required_argument, 0, O_SIZE },
		{ "wait-ms", required_argument, 0, O_WAIT },
		{ "arp-timeout-ms", required_argument, 0, O_ARPTO },
		{ "ctl", required_argument, 0, O_CTL },
		{ "help", no_argument, 0, 'h' },
		{ 0 },
	};
	static const char *spec_key[] = {
		[O_PEER - O_PEER] = "peer", [O_PROTO - O_PEER] = "proto",
		[O_RATE - O_PEER] = "rate", [O_COUNT - O_PEER] = "count",
		[O_DURATION - O_PEER] = "duration", [O_DPORT - O_PEER] = "dport",
		[O_SPORT - O_PEER] = "sport", [O_SIZE - O_PEER] = "size",
		[O_WAIT - O_PEER] = "wait_ms", [O_ARPTO - O_PEER] = "arp_timeout_ms",
	};
	const char *tap = NULL, *ctl_path = NULL, *ctl_client = NULL;
	bool have_mac = false, have_ip = false, garp = true, client = false, client_opt = false;
	struct run_spec spec;
	struct pollfd pfd[2 + MAX_CTL];
	uint8_t *rxbuf;
	sigset_t empty;
	uint64_t v;
	int c;

	spec_defaults(&spec);
	vm.mtu = 1500;
	vm.listen_fd = -1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		switch (c) {
		case O_TAP:
			if (strlen(optarg) >= IFNAMSIZ || !*optarg)
				die(2, "--tap: interface name must be 1..%d characters", IFNAMSIZ - 1);
			tap = optarg;
			break;
		case O_MAC:
			if (!parse_mac(optarg, vm.mac) || (vm.mac[0] & 1))
				die(2, "--mac: '%s' is not a unicast MAC address", optarg);
			have_mac = true;
			break;
		case O_IP: {
			char buf[32], *slash;

			snprintf(buf, sizeof(buf), "%s", optarg);
			slash = strchr(buf, '/');
			vm.prefix = 24;
			if (slash) {
				*slash = 0;
				if (!parse_u64(slash + 1, 32, &v) || v < 1)
					die(2, "--ip: prefix must be 1..32 in '%s'", optarg);
				vm.prefix = (int)v;
			}
			if (!parse_ip(buf, &vm.ip) || !vm.ip)
				die(2, "--ip: '%s' is not an IPv4 address", optarg);
			have_ip = true;
			break;
		}
		case O_DELAY:
			if (!parse_u64(optarg, 10000000, &v))
				die(2, "--reply-delay-us: must be 0..10000000");
			vm.reply_delay_ns = v * 1000;
			break;
		case O_CTL_LISTEN:
			ctl_path = optarg;
			break;
		case O_PIDFILE:
			tool_pidfile = optarg;
			break;
		case O_NOGARP:
			garp = false;
			break;
		case O_QUIET:
			tool_quiet = true;
			break;
		case O_CTL:
			ctl_client = optarg;
			break;
		default:
			if (c >= O_PEER && c <= O_ARPTO) {
				const char *err = spec_set(&spec, spec_key[c - O_PEER], optarg);

				if (err)
					die(2, "--%s", err);
				if (c == O_PEER)
					client = true;
				else
					client_opt = true;
				break;
			}
			/*
			 * An unknown short option is named by optopt, because argv
			 * may hold it inside a group such as -xh.  An unknown long
			 * option leaves optopt at 0, and tool_option() names it
			 * from argv.
			 */
			if (c == '?' && optopt > 0 && optopt < 256)
				die(2, "unknown option '-%c' (see -h)", optopt);
			tool_option(c, argv, usage);
		}
	}
	if (ctl_client)
		return ctl_client_main(ctl_client, argc - optind, argv + optind);
	if (optind < argc)
		die(2, "unexpected argument '%s' (see -h)", argv[optind]);
	if (!tap || !have_mac || !have_ip)
		die(2, "--tap, --mac and --ip are required (see -h)");
	if (client_opt && !client)
		die(2, "client options (--proto, --rate, ...) need --peer");
	if (client) {
		/* Checked against a 1500-byte MTU now and the tap's real MTU below. */
		const char *err = spec_check(&spec);

		if (err)
			die(2, "%s", err);
	}

	vm.tap = tap_open(tap);
	snprintf(vm.tap_name, sizeof(vm.tap_name), "%s", tap);
	if (client) {
		const char *err = spec_check(&spec);

		if (err)
			die(2, "%s", err);
	}
	if (getrandom(&vm.ip_id, sizeof(vm.ip_id), 0) < 0 ||
	    getrandom(&vm.tcp_seq, sizeof(vm.tcp_seq), 0) < 0) {
		vm.ip_id = (uint16_t)getpid();
		vm.tcp_seq = (uint32_t)now_ns();
	}
	vm.next_tag = (uint32_t)now_ns();
	for (int i = 0; i < MAX_CTL; i++) {
		vm.ctl[i].fd = -1;
		vm.ctl[i].run = -1;
	}
	for (int i = 0; i < MAX_RUNS; i++)
		vm.runs[i].ctl = -1;
	if (ctl_path) {
		vm.listen_fd = ctl_listen(ctl_path);
		vm.ctl_path = (char *)ctl_path;
	}
	rxbuf = malloc(RX_BUF);
	if (!rxbuf)
		die(1, "out of memory");

	tool_loop_setup(&empty, false);
	signal(SIGPIPE, SIG_IGN);

	/* Announce ourselves so the bridges learn our port before any request. */
	if (garp)
		arp_send(1, bcast_mac, bcast_mac, vm.ip);
	/* Written after the announcement: its existence means "ready". */
	tool_write_pidfile();
	{
		char ipb[16];

		tool_log("%s up: %s/%d %02x:%02x:%02x:%02x:%02x:%02x reply delay %" PRIu64 " us",
			 tap, ip_str(vm.ip, ipb), vm.prefix, vm.mac[0], vm.mac[1], vm.mac[2],
			 vm.mac[3], vm.mac[4], vm.mac[5], vm.reply_delay_ns / 1000);
	}
	if (client) {
		const char *err = run_start(&spec, -1, now_ns());

		if (err)
			die(2, "%s", err);
	}

	while (!stop_signal && !vm.cli_run_done) {
		uint64_t now = now_ns(), next = runs_tick(now);
		int n = 0, nctl = 0, ctl_idx[MAX_CTL];

		if (vm.cli_run_done)
			break;
		rq_flush(now);
		if (tool_fifo_next_due(&vm.rq) < next)
			next = tool_fifo_next_due(&vm.rq);
		pfd[n++] = (struct pollfd){ .fd = vm.tap, .events = POLLIN };
		if (vm.listen_fd >= 0)
			pfd[n++] = (struct pollfd){ .fd = vm.listen_fd, .events = POLLIN };
		for (int i = 0; i < MAX_CTL; i++)
			if (vm.ctl[i].fd >= 0) {
				ctl_idx[nctl++] = i;
				pfd[n++] = (struct pollfd){ .fd = vm.ctl[i].fd, .events = POLLIN };
			}
		if (!tool_ppoll(pfd, (nfds_t)n, now, next, &empty))
			continue;
		if (pfd[0].revents & (POLLERR | POLLHUP | POLLNVAL))
			die(1, "tap %s went away", tap);
		if (pfd[0].revents & POLLIN) {
			for (int i = 0; i < RX_BATCH; i++) {
				ssize_t r = read(vm.tap, rxbuf, RX_BUF);

				if (r < 0) {
					if (errno == EAGAIN || errno == EINTR)
						break;
					die(1, "read %s: %s", tap, strerror(errno));
				}
				handle_frame(rxbuf, (size_t)r, now_ns());
			}
		}
		now = now_ns();
		if (vm.listen_fd >= 0 && (pfd[1].revents & POLLIN))
			ctl_accept();
		for (int i = 0; i < nctl; i++) {
			struct pollfd *p = &pfd[(vm.listen_fd >= 0 ? 2 : 1) + i];

			if (p->revents && vm.ctl[ctl_idx[i]].fd == p->fd)
				ctl_read(ctl_idx[i], now);
		}
	}

	if (stop_signal)
		tool_log("signal %d, exiting", (int)stop_signal);
	tool_log("rx %" PRIu64 " tx %" PRIu64 " replies arp %" PRIu64 " icmp %" PRIu64
		 " udp %" PRIu64 " tcp %" PRIu64 " probe-replies %" PRIu64 " drops %" PRIu64,
		 vm.st.rx_frames, vm.st.tx_frames, vm.st.arp_replies, vm.st.icmp_replies,
		 vm.st.udp_replies, vm.st.tcp_replies, vm.st.probe_replies, vm.st.reply_drops);
	for (int i = 0; i < MAX_CTL; i++)
		if (vm.ctl[i].fd >= 0)
			ctl_close(i);
	if (vm.ctl_path)
		unlink(vm.ctl_path);
	tool_remove_pidfile();
	free(rxbuf);
	tool_fifo_free(&vm.rq);
	if (stop_signal && vm.exit_code == 0 && vm.cli_run_done == false && client)
		return 130;  /* interrupted before the run could report */
	return vm.exit_code;
}
