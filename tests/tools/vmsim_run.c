// SPDX-License-Identifier: MIT
/*
 * vmsim client runs: paced request traffic to a peer VM and its report.
 *
 * A run resolves the peer by ARP, sends probes on a fixed schedule computed
 * from its start (so rounding never drifts), and credits each echoed probe
 * to its sequence number; when all replies are in or the wait after the
 * last send is over, one JSON line with the counts and RTT percentiles goes
 * to whoever started it (stdout for --peer, the control client otherwise).
 * Probes carry a 16-byte header (magic, origin address, run tag, sequence)
 * so the responder of the peer echoes them and we recognise our own.
 */

#include "vmsim.h"

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

void run_free(struct run *r)
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

const char *run_start(const struct run_spec *spec, int ctl, uint64_t now)
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

void runs_on_arp(uint32_t ip, const uint8_t mac[6], uint64_t now)
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
void match_probe(enum proto p, uint32_t src, const uint8_t *pl, uint64_t rx_ns,
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
uint64_t runs_tick(uint64_t now)
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
