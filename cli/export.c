// SPDX-License-Identifier: MIT
/*
 * stagetrace export --pcapng FILE: the collector's stored sampled paths
 * (the drill-down store of `stagetrace paths`) as a pcapng file that
 * Wireshark and tcpdump open, one packet per path, each annotated with its
 * stage timestamps.
 *
 * What is in a packet: the collector keeps no packet bytes, only each
 * path's flow key (addresses, protocol, ports, IP id / TCP seq / ICMP id
 * and seq) and its stamps. The export rebuilds the IPv4 and transport
 * headers from that key (checksums computed, no payload; the capture
 * length is the header length), so filters and flow views work, and puts
 * the stage breakdown in the packet's comment:
 *   "stagetrace vma->vmb pkt 5e1d...: tap_rcv +0.000us, nic_queue +5.6us, ..., total 47.4us"
 * The packet's time is its first stamp on the collector's timeline
 * (nanosecond resolution, if_tsresol 9). Link type RAW (IPv4 from the
 * first byte). pcapng is written by hand: it is four block types of fixed
 * layout (https://www.ietf.org/archive/id/draft-ietf-opsawg-pcapng), and
 * libpcap cannot write comments.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "opts.h"

#define LINKTYPE_RAW 101

struct flowkey {
	uint32_t s, d;		/* network order */
	uint8_t proto;
	uint16_t sp, dp;	/* host order */
	uint32_t a, b;		/* UDP: ip id; TCP: seq; ICMP: id, seq */
};

/* The flow text of collector/paths.c (c_path_flow) back into a key. */
static int parse_flow(const char *f, struct flowkey *k)
{
	char s[32], d[32], proto[8];
	unsigned sp, dp, a, b;
	struct in_addr x, y;

	memset(k, 0, sizeof(*k));
	if (sscanf(f, "%31[0-9.] -> %31[0-9.] ICMP id=%u seq=%u", s, d, &a, &b) == 4) {
		k->proto = 1;
		k->a = a;
		k->b = b;
	} else if (sscanf(f, "%31[0-9.]:%u -> %31[0-9.]:%u %7s %*[a-z]=%u", s, &sp, d, &dp, proto, &a) == 6) {
		k->proto = !strcmp(proto, "TCP") ? 6 : !strcmp(proto, "UDP") ? 17 : 0;
		k->sp = (uint16_t)sp;
		k->dp = (uint16_t)dp;
		k->a = a;
	} else {
		return -1;
	}
	if (!k->proto || inet_pton(AF_INET, s, &x) != 1 || inet_pton(AF_INET, d, &y) != 1)
		return -1;
	k->s = x.s_addr;
	k->d = y.s_addr;
	return 0;
}

static uint16_t csum(const uint8_t *p, size_t n, uint32_t sum)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		sum += (uint32_t)(p[n - 1] << 8);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)(v >> 16)); put16(p + 2, (uint16_t)v); }

/* IPv4 + transport header for k into buf (>= 40 bytes); the length. */
static size_t build(const struct flowkey *k, uint8_t *buf)
{
	size_t tl = k->proto == 6 ? 20 : 8, len = 20 + tl;
	uint8_t *t = buf + 20;
	uint32_t pseudo = 0;

	memset(buf, 0, len);
	buf[0] = 0x45;
	put16(buf + 2, (uint16_t)len);
	put16(buf + 4, k->proto == 17 ? (uint16_t)k->a : 0);
	buf[8] = 64;
	buf[9] = k->proto;
	memcpy(buf + 12, &k->s, 4);
	memcpy(buf + 16, &k->d, 4);
	put16(buf + 10, csum(buf, 20, 0));
	if (k->proto == 1) {
		t[0] = 8;	/* echo request */
		put16(t + 4, (uint16_t)k->a);
		put16(t + 6, (uint16_t)k->b);
		put16(t + 2, csum(t, tl, 0));
		return len;
	}
	put16(t, k->sp);
	put16(t + 2, k->dp);
	if (k->proto == 6) {
		put32(t + 4, k->a);
		t[12] = 5 << 4;
		t[13] = 0x10;	/* ACK */
		put16(t + 14, 65535);
	} else {
		put16(t + 4, (uint16_t)tl);
	}
	/* Pseudo-header: addresses, protocol, transport length. */
	for (int i = 0; i < 8; i += 2)
		pseudo += (uint32_t)(buf[12 + i] << 8 | buf[13 + i]);
	pseudo += k->proto + (uint32_t)tl;
	put16(t + (k->proto == 6 ? 16 : 6), csum(t, tl, pseudo));
	return len;
}

/* One block: type, body, padding to 32 bits, total length twice. */
static int block(FILE *f, uint32_t type, const void *body, size_t n)
{
	static const uint8_t zero[4];
	uint32_t total = (uint32_t)(12 + ((n + 3) & ~(size_t)3));

	return fwrite(&type, 4, 1, f) != 1 || fwrite(&total, 4, 1, f) != 1 ||
	       (n && fwrite(body, 1, n, f) != n) ||
	       fwrite(zero, 1, (4 - n % 4) % 4, f) != (4 - n % 4) % 4 ||
	       fwrite(&total, 4, 1, f) != 1 ? -1 : 0;
}

/* An option (code, value) into buf at *n, padded; returns 0 or -1 if full. */
static int opt(uint8_t *buf, size_t cap, size_t *n, uint16_t code, const void *v, size_t len)
{
	size_t need = 4 + ((len + 3) & ~(size_t)3);
	uint16_t l = (uint16_t)len;

	if (len > 65535 || *n + need + 4 > cap)
		return -1;
	memcpy(buf + *n, &code, 2);
	memcpy(buf + *n + 2, &l, 2);
	memcpy(buf + *n + 4, v, len);
	memset(buf + *n + 4 + len, 0, need - 4 - len);
	*n += need;
	return 0;
}

static int headers(FILE *f)
{
	uint8_t b[256];
	size_t n = 0;
	uint32_t magic = 0x1A2B3C4D;
	uint16_t major = 1, minor = 0, lt = LINKTYPE_RAW, res = 0;
	int64_t seclen = -1;
	uint32_t snap = 0;
	uint8_t tsres = 9;
	const char *app = "stagetrace export";

	memcpy(b, &magic, 4);
	memcpy(b + 4, &major, 2);
	memcpy(b + 6, &minor, 2);
	memcpy(b + 8, &seclen, 8);
	n = 16;
	opt(b, sizeof(b), &n, 4, app, strlen(app));	/* shb_userappl */
	memset(b + n, 0, 4);
	n += 4;						/* opt_endofopt */
	if (block(f, 0x0A0D0D0A, b, n))
		return -1;
	memcpy(b, &lt, 2);
	memcpy(b + 2, &res, 2);
	memcpy(b + 4, &snap, 4);
	n = 8;
	opt(b, sizeof(b), &n, 9, &tsres, 1);		/* if_tsresol: ns */
	memset(b + n, 0, 4);
	n += 4;
	return block(f, 1, b, n);
}

static const char *jstr(json_object *o, const char *k)
{
	json_object *v;

	return json_object_object_get_ex(o, k, &v) && v ? json_object_get_string(v) : "";
}

static int packet(FILE *f, json_object *p, uint64_t *skipped)
{
	uint8_t b[4096], pkt[64];
	char comment[2048];
	struct flowkey k;
	json_object *stages, *v;
	uint64_t ts = json_object_object_get_ex(p, "time_ns", &v) ? (uint64_t)json_object_get_int64(v) : 0;
	uint32_t if0 = 0, hi = (uint32_t)(ts >> 32), lo = (uint32_t)ts, len;
	size_t n, used;
	double at = 0;

	if (parse_flow(jstr(p, "flow"), &k)) {
		(*skipped)++;
		return 0;
	}
	len = (uint32_t)build(&k, pkt);
	used = (size_t)snprintf(comment, sizeof(comment), "stagetrace %s->%s pkt %s:", jstr(p, "src"),
				jstr(p, "dst"), jstr(p, "packet_id"));
	if (json_object_object_get_ex(p, "stages", &stages)) {
		for (size_t i = 0; i < json_object_array_length(stages) && used < sizeof(comment); i++) {
			json_object *s = json_object_array_get_idx(stages, i), *us;

			at += json_object_object_get_ex(s, "us", &us) ? json_object_get_double(us) : 0;
			used += (size_t)snprintf(comment + used, sizeof(comment) - used, "%s %s +%.1fus (at %.1fus)",
						 i ? "," : "", jstr(s, "stage"),
						 us ? json_object_get_double(us) : 0, at);
		}
	}
	if (used < sizeof(comment))
		snprintf(comment + used, sizeof(comment) - used, ", total %.1fus",
			 json_object_object_get_ex(p, "total_us", &v) ? json_object_get_double(v) : 0);
	memcpy(b, &if0, 4);
	memcpy(b + 4, &hi, 4);
	memcpy(b + 8, &lo, 4);
	memcpy(b + 12, &len, 4);
	memcpy(b + 16, &len, 4);
	memcpy(b + 20, pkt, len);
	n = 20 + ((len + 3) & ~3u);
	memset(b + 20 + len, 0, n - 20 - len);
	opt(b, sizeof(b), &n, 1, comment, strlen(comment));	/* opt_comment */
	memset(b + n, 0, 4);
	n += 4;
	return block(f, 6, b, n);
}

int cmd_export(int argc, char **argv)
{
	const char *url = cli_collector_default(), *src = NULL, *dst = NULL, *out = NULL;
	double last = 3600, timeout = 30;
	uint32_t max = 10000;
	uint64_t since = 0, until = 0, skipped = 0;
	int rc;
	json_object *q, *ans, *paths;
	FILE *f;
	struct st_opt opts[] = {
		{ "pcapng", 'w', ST_OPT_STR, &out, "FILE", "write the packets to FILE (required; - for stdout)" },
		{ "collector", 'C', ST_OPT_STR, &url, "URL", "collector query address (default $STAGETRACE_COLLECTOR or " CLI_DEFAULT_COLLECTOR ")" },
		{ "src", 's', ST_OPT_STR, &src, "NAME", "only paths from this VM (or IP)" },
		{ "dst", 'D', ST_OPT_STR, &dst, "NAME", "only paths to this VM (or IP)" },
		{ "max", 'n', ST_OPT_U32, &max, "N", "at most N packets, the slowest first (default 10000)", 1, 10000 },
		{ "last", 'l', ST_OPT_DURATION, &last, "DUR", "time range ending now (default 1h)" },
		{ "timeout", 't', ST_OPT_DURATION, &timeout, "DUR", "give up on the collector after this (default 30s)", 0.01, 3600 },
		ST_OPT_END,
	};
	static const struct st_cmd_help help = {
		.name = "stagetrace export",
		.summary = "Write the stored sampled packets as pcapng, each with its stage timestamps.",
		.description =
"The collector keeps, per VM pair and minute, the slowest matched packets\n"
"with every stage (see 'stagetrace paths'). This writes them as a pcapng\n"
"file: one packet per path, its IPv4 and TCP/UDP/ICMP headers rebuilt from\n"
"the stored flow key (addresses, ports, IP id or TCP seq or ICMP id/seq;\n"
"checksums valid; no payload is stored, so none is written), time stamped\n"
"with its first stage (ns), and the stage breakdown in the packet comment\n"
"(Wireshark: pkt_comment; 'tshark -T fields -e frame.comment').\n"
"Paths whose flow cannot be rebuilt are counted and reported, not written.",
		.examples =
"  stagetrace export --pcapng slow.pcapng --last 15m\n"
"  stagetrace export --pcapng - --src vma | tcpdump -nn -r -",
	};

	if (st_opts_parse_noargs(argc, argv, opts, &help, &rc))
		return rc;
	if (!out) {
		fprintf(stderr, "error: stagetrace export needs --pcapng FILE\n");
		return ST_EXIT_USAGE;
	}
	if ((rc = cli_range(last, &since, &until)) != 0)
		return rc;
	q = cli_range_query("paths", since, until, src, dst);
	json_object_object_add(q, "slowest", json_object_new_int64(max));
	rc = cli_query(url, timeout, q, &ans);
	json_object_put(q);
	if (rc)
		return rc;
	f = strcmp(out, "-") ? fopen(out, "wb") : stdout;
	if (!f) {
		fprintf(stderr, "error: --pcapng %s: %s\n", out, strerror(errno));
		json_object_put(ans);
		return ST_EXIT_FAIL;
	}
	json_object_object_get_ex(ans, "paths", &paths);
	rc = headers(f);
	for (size_t i = 0; !rc && paths && i < json_object_array_length(paths); i++)
		rc = packet(f, json_object_array_get_idx(paths, i), &skipped);
	if ((f != stdout ? fclose(f) : fflush(f)) || rc) {
		fprintf(stderr, "error: --pcapng %s: write failed\n", out);
		json_object_put(ans);
		return ST_EXIT_FAIL;
	}
	fprintf(stderr, "%zu packets written to %s%s", paths ? json_object_array_length(paths) - skipped : 0,
		out, skipped ? "" : "\n");
	if (skipped)
		fprintf(stderr, "; %lu paths skipped (flow not rebuildable)\n", (unsigned long)skipped);
	rc = paths && json_object_array_length(paths) ? ST_EXIT_OK : ST_EXIT_NODATA;
	json_object_put(ans);
	return rc;
}
