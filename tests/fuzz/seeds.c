// SPDX-License-Identifier: MIT
/*
 * Writes the seed corpora for the fuzz targets: seeds OUTDIR creates
 * OUTDIR/wire, OUTDIR/hist and OUTDIR/ingest with small valid (and a few
 * nearly valid) inputs, so the fuzzers start from realistic messages
 * instead of having to discover the protobuf and histogram formats.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hist.h"
#include "pktkey.h"
#include "stage_names.h"
#include "wire.h"

static const char *outdir;

static void write_file(const char *sub, const char *name, const void *buf, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/%s", outdir, sub, name);
	f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, len, f) != len || fclose(f)) {
		perror(path);
		exit(1);
	}
}

/* ---- wire: batches of host paths ----------------------------------------- */

struct stamp_spec {
	unsigned hook, role;
	uint64_t ts;
};

struct path_spec {
	uint32_t saddr, daddr;	/* host order */
	unsigned sport, dport, proto;
	uint32_t disc1;
	unsigned end;
	const char *vm_in, *vm_out;
	int n;
	struct stamp_spec st[8];
};

/* Packs a one-host batch of paths; returns a malloc'd buffer. */
static uint8_t *pack_batch(const char *host, uint64_t seq, uint64_t mono, int64_t off,
			   const struct path_spec *ps, int n, int with_health, size_t *len)
{
	st_envelope env = STAGETRACE__V1__ENVELOPE__INIT;
	st_batch b = STAGETRACE__V1__BATCH__INIT;
	Stagetrace__V1__ClockSample cs = STAGETRACE__V1__CLOCK_SAMPLE__INIT, *csp = &cs;
	Stagetrace__V1__StageDef defs[ST_HOOK_MAX * ST_ROLE_MAX], *defp[ST_HOOK_MAX * ST_ROLE_MAX];
	Stagetrace__V1__HostPath hp[8], *hpp[8];
	Stagetrace__V1__PacketKey keys[8];
	Stagetrace__V1__Encap encap = STAGETRACE__V1__ENCAP__INIT;
	Stagetrace__V1__Stamp st[8][8], *stp[8][8];
	Stagetrace__V1__Counter ctr = STAGETRACE__V1__COUNTER__INIT, *ctrp = &ctr;
	Stagetrace__V1__ProbeStatus pr = STAGETRACE__V1__PROBE_STATUS__INIT, *prp = &pr;
	uint8_t *buf;
	size_t nd = 0;

	env.version = ST_WIRE_VERSION;
	env.body_case = STAGETRACE__V1__ENVELOPE__BODY_BATCH;
	env.batch = &b;
	b.host = (char *)host;
	b.instance = 0x5eed0000 + (uint64_t)host[2];
	b.seq = seq;
	b.sample_k = 1;
	b.sample_n = 1;
	for (unsigned id = 0; id < ST_HOOK_MAX * ST_ROLE_MAX; id++) {
		const char *name = st_stage_name(id);

		if (!name)
			continue;
		stagetrace__v1__stage_def__init(&defs[nd]);
		defs[nd].id = id;
		defs[nd].name = (char *)name;
		defp[nd] = &defs[nd];
		nd++;
	}
	b.stages = defp;
	b.n_stages = nd;
	encap.flags = 0x4;
	encap.vni = 42;
	encap.outer_saddr = htonl(0xc0a8320b);
	encap.outer_daddr = htonl(0xc0a8320c);
	for (int i = 0; i < n; i++) {
		struct st_pkt_key k = { 0 };

		stagetrace__v1__host_path__init(&hp[i]);
		stagetrace__v1__packet_key__init(&keys[i]);
		k.saddr = htonl(ps[i].saddr);
		k.daddr = htonl(ps[i].daddr);
		/* ICMP keys hold the type byte as read in dport (little-endian
		 * host: the low byte); other ports are in network order. */
		k.sport = htons((uint16_t)ps[i].sport);
		k.dport = ps[i].proto == 1 ? (uint16_t)ps[i].dport : htons((uint16_t)ps[i].dport);
		k.proto = (uint8_t)ps[i].proto;
		k.disc1 = ps[i].disc1;
		k.disc2 = 128;
		keys[i].saddr = k.saddr;
		keys[i].daddr = k.daddr;
		keys[i].sport = k.sport;
		keys[i].dport = k.dport;
		keys[i].proto = k.proto;
		keys[i].disc1 = k.disc1;
		keys[i].disc2 = k.disc2;
		hp[i].packet_id = st_pkt_id(&k);
		hp[i].key = &keys[i];
		hp[i].end = ps[i].end;
		hp[i].vm_in = (char *)(ps[i].vm_in ? ps[i].vm_in : "");
		hp[i].vm_out = (char *)(ps[i].vm_out ? ps[i].vm_out : "");
		hp[i].encap = i == 0 ? &encap : NULL;
		for (int j = 0; j < ps[i].n; j++) {
			stagetrace__v1__stamp__init(&st[i][j]);
			st[i][j].stage = st_stage_id(ps[i].st[j].hook, ps[i].st[j].role);
			st[i][j].ts_ns = ps[i].st[j].ts;
			st[i][j].ifindex = 2 + ps[i].st[j].role;
			st[i][j].dev = ps[i].st[j].role == ST_ROLE_UPLINK ? "eth0" : "tap0";
			stp[i][j] = &st[i][j];
		}
		hp[i].stamps = stp[i];
		hp[i].n_stamps = (size_t)ps[i].n;
		hpp[i] = &hp[i];
	}
	b.paths = hpp;
	b.n_paths = (size_t)n;
	cs.mono_ns = mono;
	cs.realtime_ns = (int64_t)mono + off;
	cs.tai_ns = cs.realtime_ns + 37000000000LL;
	b.clock = &csp;
	b.n_clock = 1;
	if (with_health) {
		ctr.name = "bpf_paths_emitted";
		ctr.value = 12345;
		b.counters = &ctrp;
		b.n_counters = 1;
		pr.hook = "netif_rx";
		pr.method = "tp_btf";
		pr.status = "attached";
		b.probes = &prp;
		b.n_probes = 1;
	}
	if (st_wire_pack(&env, &buf, len)) {
		fprintf(stderr, "seeds: cannot pack\n");
		exit(1);
	}
	return buf;
}

#define US 1000ull
#define A_IP 0x0a000001u
#define B_IP 0x0a000002u

/* vma's packet leaving hv1 (stamps on hv1's clock, base m). */
static struct path_spec send_half(uint32_t s, uint32_t d, unsigned sp, unsigned dp,
				  unsigned proto, uint32_t disc1, const char *vm, uint64_t m)
{
	struct path_spec p = {
		s, d, sp, dp, proto, disc1, ST_END_LEFT, vm, NULL, 3,
		{ { ST_HOOK_NETIF_RX, ST_ROLE_VM, m },
		  { ST_HOOK_NET_DEV_QUEUE, ST_ROLE_UPLINK, m + 5 * US },
		  { ST_HOOK_NET_DEV_START_XMIT, ST_ROLE_UPLINK, m + 7 * US } },
	};

	return p;
}

static struct path_spec recv_half(uint32_t s, uint32_t d, unsigned sp, unsigned dp,
				  unsigned proto, uint32_t disc1, const char *vm, uint64_t m)
{
	struct path_spec p = {
		s, d, sp, dp, proto, disc1, ST_END_DELIVERED, NULL, vm, 4,
		{ { ST_HOOK_NAPI_GRO_RX, ST_ROLE_UPLINK, m + 57 * US },
		  { ST_HOOK_NET_DEV_QUEUE, ST_ROLE_VM, m + 70 * US },
		  { ST_HOOK_NET_DEV_START_XMIT, ST_ROLE_VM, m + 71 * US },
		  { ST_HOOK_SKB_COPY_DATAGRAM, ST_ROLE_VM, m + 90 * US } },
	};

	return p;
}

/* Appends a length-prefixed message to an ingest seed. */
static void seq_add(uint8_t *seq, size_t *n, const uint8_t *msg, size_t len)
{
	seq[(*n)++] = (uint8_t)(len >> 8);
	seq[(*n)++] = (uint8_t)len;
	memcpy(seq + *n, msg, len);
	*n += len;
}

static void wire_and_ingest_seeds(void)
{
	const uint64_t m1 = 1000000000000ull, m2 = 77000000000000ull;
	const int64_t o1 = 1764000010000000000ll - (int64_t)m1;
	const int64_t o2 = 1764000010000000000ll - (int64_t)m2;
	struct path_spec s[2], r[2], icmp_q[2], icmp_r[2];
	uint8_t *b1, *b2, *b3, *b4, seq[8192];
	size_t l1, l2, l3, l4, n;

	/* A UDP request and its reply, and an ICMP echo and its reply. */
	s[0] = send_half(A_IP, B_IP, 40000, 5201, 17, 0x1000u << 16, "vma", m1);
	r[0] = recv_half(A_IP, B_IP, 40000, 5201, 17, 0x1000u << 16, "vmb", m2);
	s[1] = send_half(B_IP, A_IP, 5201, 40000, 17, 0x2000u << 16, "vmb", m2 + 2000 * US);
	r[1] = recv_half(B_IP, A_IP, 5201, 40000, 17, 0x2000u << 16, "vma", m1 + 2000 * US);
	icmp_q[0] = send_half(A_IP, B_IP, 0x77, 8, 1, 1, "vma", m1 + 5000 * US);
	icmp_q[1] = recv_half(A_IP, B_IP, 0x77, 8, 1, 1, "vmb", m2 + 5000 * US);
	icmp_r[0] = send_half(B_IP, A_IP, 0x77, 0, 1, 1, "vmb", m2 + 5300 * US);
	icmp_r[1] = recv_half(B_IP, A_IP, 0x77, 0, 1, 1, "vma", m1 + 5300 * US);

	b1 = pack_batch("hv1", 1, m1 + 9000 * US, o1, (struct path_spec[]){ s[0], icmp_q[0] },
			2, 1, &l1);
	write_file("wire", "batch-hv1", b1, l1);
	b2 = pack_batch("hv2", 1, m2 + 9000 * US, o2,
			(struct path_spec[]){ r[0], s[1], icmp_q[1], icmp_r[0] }, 4, 1, &l2);
	write_file("wire", "batch-hv2", b2, l2);
	b3 = pack_batch("hv1", 2, m1 + 9500 * US, o1, (struct path_spec[]){ r[1], icmp_r[1] },
			2, 0, &l3);
	write_file("wire", "batch-hv1-replies", b3, l3);
	/* A heartbeat: health only, no paths. */
	b4 = pack_batch("hv1", 3, m1 + 9900 * US, o1, NULL, 0, 1, &l4);
	write_file("wire", "heartbeat", b4, l4);

	/* An ack, as the collector sends them. */
	{
		st_envelope env = STAGETRACE__V1__ENVELOPE__INIT;
		Stagetrace__V1__Ack ack = STAGETRACE__V1__ACK__INIT;
		uint8_t *buf;
		size_t len;

		env.version = ST_WIRE_VERSION;
		env.body_case = STAGETRACE__V1__ENVELOPE__BODY_ACK;
		env.ack = &ack;
		ack.seq = 7;
		ack.error = "store unavailable";
		if (st_wire_pack(&env, &buf, &len))
			exit(1);
		write_file("wire", "ack", buf, len);
		free(buf);
	}

	/* Ingest sequences: request and reply halves from both hosts, in
	 * order and reversed, a duplicate, and a local path. */
	n = 0;
	seq_add(seq, &n, b1, l1);
	seq_add(seq, &n, b2, l2);
	seq_add(seq, &n, b3, l3);
	seq_add(seq, &n, b4, l4);
	write_file("ingest", "exchange", seq, n);
	n = 0;
	seq_add(seq, &n, b3, l3);
	seq_add(seq, &n, b2, l2);
	seq_add(seq, &n, b1, l1);
	seq_add(seq, &n, b1, l1);
	write_file("ingest", "reversed-dup", seq, n);
	{
		struct path_spec local = {
			A_IP, 0x0a000003, 40000, 53, 17, 0x3000u << 16, ST_END_DELIVERED,
			"vma", "vmc", 4,
			{ { ST_HOOK_NETIF_RX, ST_ROLE_VM, m1 },
			  { ST_HOOK_NETIF_RECEIVE_SKB, ST_ROLE_BRIDGE, m1 + 3 * US },
			  { ST_HOOK_NET_DEV_START_XMIT, ST_ROLE_VM, m1 + 9 * US },
			  { ST_HOOK_SKB_COPY_DATAGRAM, ST_ROLE_VM, m1 + 25 * US } },
		};
		uint8_t *b5;
		size_t l5;

		b5 = pack_batch("hv1", 4, m1 + 100 * US, o1, &local, 1, 0, &l5);
		n = 0;
		seq_add(seq, &n, b5, l5);
		write_file("ingest", "local", seq, n);
		write_file("wire", "local", b5, l5);
		free(b5);
	}
	free(b1);
	free(b2);
	free(b3);
	free(b4);
}

/* ---- hist: encoded histograms ----------------------------------------------- */

static void hist_seed(const char *name, const struct st_hist *h)
{
	static uint8_t buf[65536];
	size_t len = st_hist_encode(h, buf, sizeof(buf));

	if (!len) {
		fprintf(stderr, "seeds: cannot encode %s\n", name);
		exit(1);
	}
	write_file("hist", name, buf, len);
}

static void hist_seeds(void)
{
	static struct st_hist h;
	uint64_t s = 12345;

	st_hist_init(&h);
	hist_seed("empty", &h);
	st_hist_add(&h, 0);
	hist_seed("zero", &h);
	st_hist_init(&h);
	st_hist_add(&h, 50000);
	hist_seed("one", &h);
	st_hist_init(&h);
	for (int i = 0; i < 2000; i++) {
		s = s * 6364136223846793005ull + 1442695040888963407ull;
		st_hist_add(&h, 1000 + (s >> 40) % 5000000);
	}
	hist_seed("spread", &h);
	st_hist_add_n(&h, UINT64_MAX / 3, 3);
	hist_seed("clamped", &h);
	st_hist_init(&h);
	for (uint64_t v = 1; v < (1ull << 41); v = v * 3 + 1)
		st_hist_add_n(&h, v, v % 7 + 1);
	hist_seed("octaves", &h);
}

int main(int argc, char **argv)
{
	static const char *subs[] = { "wire", "hist", "ingest" };
	char path[4096];

	if (argc != 2) {
		fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
		return 2;
	}
	outdir = argv[1];
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", outdir, subs[i]);
		if (mkdir(path, 0755) && errno != EEXIST) {
			perror(path);
			return 1;
		}
	}
	wire_and_ingest_seeds();
	hist_seeds();
	return 0;
}
