// SPDX-License-Identifier: MIT
/*
 * vmsim control socket (--ctl-listen): a unix stream socket on which other
 * processes send one-line commands (ping, stats, garp, set, traffic) and
 * get one JSON line back.  A traffic command answers when its run ends, so
 * a client stays connected until then; a client that hangs up abandons its
 * run.  The "key=value" parameters of a traffic command are parsed here
 * too, and main() uses the same parser for the client command-line
 * options, so documentation of one applies to the other.
 */

#include "vmsim.h"

void ctl_close(int ci)
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

void ctl_answer(int ci, const char *line)
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
const char *spec_set(struct run_spec *s, const char *key, const char *val)
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

void spec_defaults(struct run_spec *s)
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

const char *spec_check(struct run_spec *s)
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

void ctl_accept(void)
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

void ctl_read(int ci, uint64_t now)
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
