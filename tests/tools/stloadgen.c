// SPDX-License-Identifier: MIT
/*
 * stloadgen: synthetic agent traffic for the benchmark.
 *
 *   stloadgen load URL [--duration S] [--batch N] [--lag N]
 *       Plays two agents ("lg-hv1", "lg-hv2"), one thread and one REQ
 *       socket each, sending Batches to a collector's ingest address as fast
 *       as the acks come back (one batch in flight per host, like a real
 *       agent). Every request between VM "lg-a" (on lg-hv1) and VM "lg-b"
 *       (on lg-hv2) yields a "left" host path on one host and a "delivered"
 *       host path with the same packet id on the other, and every request
 *       has a reply travelling back the same way, so each batch is half
 *       departures and half arrivals and every path can be joined. The two
 *       threads stay within --lag batches of each other so both halves of a
 *       packet reach the collector close together (well inside its
 *       correlation window). Prints one JSON line with the acked paths per
 *       second.
 *
 *   stloadgen sink URL [--duration S]
 *       A stand-in collector: listens on URL, decodes every batch and acks
 *       it at once, storing and correlating nothing. Lets agents run at full
 *       speed without a real collector competing for the CPU. Runs until
 *       SIGINT/SIGTERM (or --duration), then prints one JSON line of counts.
 *
 * Exit status: 0 ok, 1 runtime failure, 2 usage error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "pktkey.h"
#include "stage_names.h"
#include "timeutil.h"
#include "tls.h"
#include "wire.h"

#define LG_STAMPS 4
#define LG_HOSTS 2

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static double secs_since(uint64_t t0)
{
	return (double)(st_mono_ns() - t0) / 1e9;
}

/* ------------------------------------------------------------------------ */
/* load                                                                     */
/* ------------------------------------------------------------------------ */

struct lg_shared {
	const char *url;
	uint32_t batch;		/* paths per batch, even */
	uint32_t lag;		/* max batches one host may run ahead */
	uint64_t deadline;	/* mono ns */
	uint64_t t_start;	/* mono ns; also the synthetic time of request 0 */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t done[LG_HOSTS];	/* batches acked per host */
	int failed;
};

struct lg_host {
	struct lg_shared *sh;
	int idx;
	char name[16];
	uint64_t instance;
	uint64_t batches, paths, bad_acks, errors;
	uint64_t bytes;
	double ack_us_sum;
};

/* One hop of a synthetic host path: which stage, and when after the start. */
struct lg_hop {
	unsigned hook, role;
	uint32_t dt_ns;
	const char *dev;
};

/* Leaving a host: the VM's frame enters by its tap and goes out the uplink. */
static const struct lg_hop hops_left[LG_STAMPS] = {
	{ ST_HOOK_NETIF_RECEIVE_SKB, ST_ROLE_VM, 0, "tap-lg" },
	{ ST_HOOK_NET_DEV_QUEUE, ST_ROLE_UPLINK, 2100, "eth0" },
	{ ST_HOOK_NET_DEV_START_XMIT, ST_ROLE_UPLINK, 3300, "eth0" },
	{ ST_HOOK_NET_DEV_XMIT, ST_ROLE_UPLINK, 3900, "eth0" },
};

/* Arriving: in by the uplink, out to the tap, read by the VM. */
static const struct lg_hop hops_arrive[LG_STAMPS] = {
	{ ST_HOOK_NETIF_RECEIVE_SKB, ST_ROLE_UPLINK, 0, "eth0" },
	{ ST_HOOK_NET_DEV_QUEUE, ST_ROLE_VM, 1800, "tap-lg" },
	{ ST_HOOK_NET_DEV_START_XMIT, ST_ROLE_VM, 2700, "tap-lg" },
	{ ST_HOOK_SKB_COPY_DATAGRAM, ST_ROLE_VM, 9500, "tap-lg" },
};

#define LG_WIRE_NS 15000ull	/* departure start -> arrival start */
#define LG_TURN_NS 40000ull	/* request start -> reply start */
/*
 * Request r happened at t_start + r * LG_SPACING_NS on both hosts: one
 * timeline shared by the two threads, so the halves of a packet agree
 * whenever each host packs its batch. 10 us apart is 100k requests per
 * second, about what one collector ingests, so the synthetic clock stays
 * near the real one (the collector files paths by minute).
 */
#define LG_SPACING_NS 10000ull

/* Storage for one batch, reused: protobuf-c structs point into these. */
struct lg_batch {
	uint32_t n;
	Stagetrace__V1__HostPath *hp;
	Stagetrace__V1__HostPath **hpp;
	Stagetrace__V1__PacketKey *key;
	Stagetrace__V1__Stamp *st;
	Stagetrace__V1__Stamp **stp;
	Stagetrace__V1__StageDef defs[2 * LG_STAMPS];
	Stagetrace__V1__StageDef *defp[2 * LG_STAMPS];
	size_t ndefs;
};

static int lg_batch_alloc(struct lg_batch *b, uint32_t n)
{
	memset(b, 0, sizeof(*b));
	b->n = n;
	b->hp = calloc(n, sizeof(*b->hp));
	b->hpp = calloc(n, sizeof(*b->hpp));
	b->key = calloc(n, sizeof(*b->key));
	b->st = calloc((size_t)n * LG_STAMPS, sizeof(*b->st));
	b->stp = calloc((size_t)n * LG_STAMPS, sizeof(*b->stp));
	if (!b->hp || !b->hpp || !b->key || !b->st || !b->stp)
		return -1;
	for (unsigned i = 0; i < 2 * LG_STAMPS; i++) {
		const struct lg_hop *h = i < LG_STAMPS ? &hops_left[i] :
						       &hops_arrive[i - LG_STAMPS];
		uint32_t id = st_stage_id(h->hook, h->role);
		size_t j;

		for (j = 0; j < b->ndefs; j++)
			if (b->defs[j].id == id)
				break;
		if (j < b->ndefs)
			continue;
		stagetrace__v1__stage_def__init(&b->defs[b->ndefs]);
		b->defs[b->ndefs].id = id;
		b->defs[b->ndefs].name = (char *)st_stage_name(id);
		b->defp[b->ndefs] = &b->defs[b->ndefs];
		b->ndefs++;
	}
	return 0;
}

static void lg_batch_free(struct lg_batch *b)
{
	free(b->hp);
	free(b->hpp);
	free(b->key);
	free(b->st);
	free(b->stp);
}

/* Addresses 10.99.0.1 (lg-a) and 10.99.0.2 (lg-b), network byte order. */
#define LG_ADDR_A 0x0100630au
#define LG_ADDR_B 0x0200630au
#define LG_PORT_SERVER 0x581bu	/* htons(7000) */

/*
 * The client port (network order) is picked per run, so the packet ids of
 * two runs against the same collector never meet in its pending table.
 */
static uint16_t lg_port_client;

/*
 * Fills path slot i of the batch: request or reply number r, seen on host
 * idx, departing or arriving there.
 */
static void lg_fill_path(struct lg_batch *b, uint32_t i, uint64_t r, int reply,
			 int arriving, uint64_t t0)
{
	Stagetrace__V1__HostPath *hp = &b->hp[i];
	Stagetrace__V1__PacketKey *k = &b->key[i];
	const struct lg_hop *hops = arriving ? hops_arrive : hops_left;
	struct st_pkt_key pk = { 0 };
	uint64_t start = t0 + (reply ? LG_TURN_NS : 0) + (arriving ? LG_WIRE_NS : 0);
	/* A little spread per packet so the histograms are not a single bin. */
	uint32_t jitter = (uint32_t)(r % 97) * 13;

	pk.saddr = reply ? LG_ADDR_B : LG_ADDR_A;
	pk.daddr = reply ? LG_ADDR_A : LG_ADDR_B;
	pk.sport = reply ? LG_PORT_SERVER : lg_port_client;
	pk.dport = reply ? lg_port_client : LG_PORT_SERVER;
	pk.proto = 17;
	pk.disc1 = (uint32_t)r;
	pk.disc2 = 92;

	stagetrace__v1__packet_key__init(k);
	k->saddr = pk.saddr;
	k->daddr = pk.daddr;
	k->sport = pk.sport;
	k->dport = pk.dport;
	k->proto = pk.proto;
	k->disc1 = pk.disc1;
	k->disc2 = pk.disc2;

	stagetrace__v1__host_path__init(hp);
	hp->packet_id = st_pkt_id(&pk);
	hp->key = k;
	hp->netns = 4026530000u + (uint32_t)(arriving ^ reply);
	hp->end = arriving ? ST_END_DELIVERED : ST_END_LEFT;
	hp->stamps = &b->stp[(size_t)i * LG_STAMPS];
	hp->n_stamps = LG_STAMPS;
	for (unsigned j = 0; j < LG_STAMPS; j++) {
		Stagetrace__V1__Stamp *s = &b->st[(size_t)i * LG_STAMPS + j];

		stagetrace__v1__stamp__init(s);
		s->stage = st_stage_id(hops[j].hook, hops[j].role);
		s->ts_ns = start + hops[j].dt_ns + (j ? jitter : 0);
		s->ifindex = hops[j].role == ST_ROLE_VM ? 5 : 2;
		s->dev = (char *)hops[j].dev;
		hp->stamps[j] = s;
	}
	/* Sender VM on departure, receiver VM on arrival. */
	hp->vm_in = (char *)(arriving ? "" : (reply ? "lg-b" : "lg-a"));
	hp->vm_out = (char *)(arriving ? (reply ? "lg-a" : "lg-b") : "");
	b->hpp[i] = hp;
}

/*
 * Batch number k of host idx: requests [k*n/2, (k+1)*n/2). Host 0 (lg-hv1,
 * where lg-a lives) sees the requests leave and the replies arrive; host 1
 * the opposite.
 */
static int lg_pack(struct lg_host *h, struct lg_batch *b, uint64_t k,
		   uint8_t **buf, size_t *len)
{
	Stagetrace__V1__Envelope env = STAGETRACE__V1__ENVELOPE__INIT;
	Stagetrace__V1__Batch bt = STAGETRACE__V1__BATCH__INIT;
	Stagetrace__V1__ClockSample cs = STAGETRACE__V1__CLOCK_SAMPLE__INIT, *csp = &cs;
	struct st_clock_triple ct;
	uint32_t half = b->n / 2;

	st_clock_triple_read(&ct);
	for (uint32_t i = 0; i < half; i++) {
		uint64_t r = k * half + i, t = h->sh->t_start + r * LG_SPACING_NS;

		lg_fill_path(b, 2 * i, r, 0, h->idx == 1, t);
		lg_fill_path(b, 2 * i + 1, r, 1, h->idx == 0, t);
	}
	bt.host = h->name;
	bt.instance = h->instance;
	bt.seq = k + 1;
	bt.stages = b->defp;
	bt.n_stages = b->ndefs;
	cs.mono_ns = ct.mono_ns;
	cs.realtime_ns = ct.real_ns;
	cs.tai_ns = ct.tai_ns;
	bt.clock = &csp;
	bt.n_clock = 1;
	bt.paths = b->hpp;
	bt.n_paths = b->n;
	/* Every packet traced, like an agent with the default --sample 1/1
	 * (the collector only pairs UDP/TCP replies with requests then). */
	bt.sample_k = 1;
	bt.sample_n = 1;
	env.version = ST_WIRE_VERSION;
	env.body_case = STAGETRACE__V1__ENVELOPE__BODY_BATCH;
	env.batch = &bt;
	return st_wire_pack(&env, buf, len);
}

/* Blocks until this host may send batch k (the other host is close enough). */
static int lg_wait_turn(struct lg_host *h, uint64_t k)
{
	struct lg_shared *sh = h->sh;
	int other = 1 - h->idx, ok;

	pthread_mutex_lock(&sh->mu);
	while (!sh->failed && !stop_flag && st_mono_ns() < sh->deadline &&
	       k > sh->done[other] + sh->lag) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&sh->cv, &sh->mu, &ts);
	}
	ok = !sh->failed && !stop_flag && st_mono_ns() < sh->deadline;
	pthread_mutex_unlock(&sh->mu);
	return ok;
}

static void *lg_thread(void *arg)
{
	struct lg_host *h = arg;
	struct lg_shared *sh = h->sh;
	struct lg_batch b;
	nng_socket sock;
	nng_dialer dialer;
	struct st_tls_opts tls;
	int rv;

	if (lg_batch_alloc(&b, sh->batch)) {
		fprintf(stderr, "stloadgen: out of memory\n");
		goto fail_nosock;
	}
	if ((rv = nng_req0_open(&sock)) != 0) {
		fprintf(stderr, "stloadgen: nng: %s\n", nng_strerror(rv));
		goto fail_nosock;
	}
	nng_socket_set_ms(sock, NNG_OPT_RECVTIMEO, 10000);
	nng_socket_set_ms(sock, NNG_OPT_SENDTIMEO, 10000);
	nng_socket_set_ms(sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	st_tls_from_env(&tls);
	if ((rv = st_tls_dial(sock, sh->url, &tls, &dialer)) != 0) {
		fprintf(stderr, "stloadgen: cannot reach %s: %s\n", sh->url, nng_strerror(rv));
		goto fail;
	}
	for (uint64_t k = 0; lg_wait_turn(h, k); k++) {
		uint8_t *buf;
		size_t len;
		nng_msg *m = NULL;
		st_envelope *env;
		const char *why;
		uint64_t t_send;

		if (lg_pack(h, &b, k, &buf, &len)) {
			fprintf(stderr, "stloadgen: cannot pack a batch\n");
			goto fail;
		}
		t_send = st_mono_ns();
		rv = nng_send(sock, buf, len, 0);
		free(buf);
		if (rv == 0)
			rv = nng_recvmsg(sock, &m, 0);
		if (rv != 0) {
			fprintf(stderr, "stloadgen: %s: batch %" PRIu64 ": %s\n", h->name, k + 1,
				nng_strerror(rv));
			h->errors++;
			goto fail;
		}
		h->ack_us_sum += (double)(st_mono_ns() - t_send) / 1e3;
		if (st_wire_unpack(nng_msg_body(m), nng_msg_len(m), &env, &why) ||
		    env->body_case != STAGETRACE__V1__ENVELOPE__BODY_ACK ||
		    env->ack->seq != k + 1 || env->ack->status != 0) {
			h->bad_acks++;
			if (h->bad_acks < 5)
				fprintf(stderr, "stloadgen: %s: batch %" PRIu64 " not acked cleanly\n",
					h->name, k + 1);
		} else {
			h->batches++;
			h->paths += b.n;
			h->bytes += len;
		}
		if (!why)
			st_wire_free(env);
		nng_msg_free(m);
		pthread_mutex_lock(&sh->mu);
		sh->done[h->idx] = k + 1;
		pthread_cond_broadcast(&sh->cv);
		pthread_mutex_unlock(&sh->mu);
	}
	nng_close(sock);
	lg_batch_free(&b);
	return NULL;
fail:
	nng_close(sock);
fail_nosock:
	lg_batch_free(&b);
	pthread_mutex_lock(&sh->mu);
	sh->failed = 1;
	pthread_cond_broadcast(&sh->cv);
	pthread_mutex_unlock(&sh->mu);
	return NULL;
}

static int cmd_load(const char *url, double duration, uint32_t batch, uint32_t lag)
{
	struct lg_shared sh = { .url = url, .batch = batch, .lag = lag };
	struct lg_host hosts[LG_HOSTS];
	pthread_t th[LG_HOSTS];
	uint64_t paths = 0, batches = 0, bad = 0, bytes = 0, inst;
	double secs, ack_us = 0;

	pthread_mutex_init(&sh.mu, NULL);
	pthread_cond_init(&sh.cv, NULL);
	if (getrandom(&inst, sizeof(inst), 0) != sizeof(inst))
		inst = st_real_ns();
	lg_port_client = htons((uint16_t)(10000 + inst % 50000));
	sh.t_start = st_mono_ns();
	sh.deadline = sh.t_start + (uint64_t)(duration * 1e9);
	for (int i = 0; i < LG_HOSTS; i++) {
		memset(&hosts[i], 0, sizeof(hosts[i]));
		hosts[i].sh = &sh;
		hosts[i].idx = i;
		hosts[i].instance = inst + (uint64_t)i;
		snprintf(hosts[i].name, sizeof(hosts[i].name), "lg-hv%d", i + 1);
		if (pthread_create(&th[i], NULL, lg_thread, &hosts[i])) {
			fprintf(stderr, "stloadgen: cannot start a thread\n");
			return 1;
		}
	}
	for (int i = 0; i < LG_HOSTS; i++)
		pthread_join(th[i], NULL);
	secs = secs_since(sh.t_start);
	for (int i = 0; i < LG_HOSTS; i++) {
		paths += hosts[i].paths;
		batches += hosts[i].batches;
		bad += hosts[i].bad_acks;
		bytes += hosts[i].bytes;
		ack_us += hosts[i].ack_us_sum;
	}
	printf("{\"mode\":\"load\",\"paths\":%" PRIu64 ",\"batches\":%" PRIu64
	       ",\"bad_acks\":%" PRIu64 ",\"batch_size\":%u,\"bytes_per_path\":%.1f"
	       ",\"seconds\":%.3f,\"paths_per_s\":%.0f,\"ack_us_mean\":%.1f,\"ok\":%s}\n",
	       paths, batches, bad, batch, paths ? (double)bytes / (double)paths : 0.0, secs,
	       secs > 0 ? (double)paths / secs : 0.0,
	       batches + bad ? ack_us / (double)(batches + bad) : 0.0,
	       sh.failed ? "false" : "true");
	fflush(stdout);
	return sh.failed ? 1 : 0;
}

/* ------------------------------------------------------------------------ */
/* sink                                                                     */
/* ------------------------------------------------------------------------ */

static int sink_ack(nng_socket sock, uint64_t seq, uint32_t status, const char *error)
{
	uint8_t *buf;
	size_t len;
	int rv;

	if (st_wire_pack_ack(seq, status, error, &buf, &len))
		return -1;
	rv = nng_send(sock, buf, len, 0);
	free(buf);
	return rv;
}

static int cmd_sink(const char *url, double duration)
{
	nng_socket sock;
	nng_listener lst;
	struct st_tls_opts tls;
	uint64_t t0 = st_mono_ns(), batches = 0, paths = 0, bad = 0;
	int rv;

	st_tls_from_env(&tls);
	if ((rv = nng_rep0_open(&sock)) != 0 || (rv = st_tls_listen(sock, url, &tls, &lst)) != 0) {
		fprintf(stderr, "stloadgen: cannot listen on %s: %s\n", url, nng_strerror(rv));
		return 1;
	}
	nng_socket_set_ms(sock, NNG_OPT_RECVTIMEO, 200);
	nng_socket_set_ms(sock, NNG_OPT_SENDTIMEO, 1000);
	while (!stop_flag && (duration <= 0 || secs_since(t0) < duration)) {
		nng_msg *m;
		st_envelope *env;
		const char *why;

		rv = nng_recvmsg(sock, &m, 0);
		if (rv == NNG_ETIMEDOUT)
			continue;
		if (rv != 0) {
			if (rv == NNG_ECLOSED || stop_flag)
				break;
			fprintf(stderr, "stloadgen: receive: %s\n", nng_strerror(rv));
			continue;
		}
		if (st_wire_unpack(nng_msg_body(m), nng_msg_len(m), &env, &why) ||
		    env->body_case != STAGETRACE__V1__ENVELOPE__BODY_BATCH) {
			if (!why)
				st_wire_free(env);
			bad++;
			sink_ack(sock, 0, 2, why ? why : "not a batch");
		} else {
			batches++;
			paths += env->batch->n_paths;
			sink_ack(sock, env->batch->seq, 0, NULL);
			st_wire_free(env);
		}
		nng_msg_free(m);
	}
	nng_close(sock);
	printf("{\"mode\":\"sink\",\"batches\":%" PRIu64 ",\"paths\":%" PRIu64
	       ",\"bad\":%" PRIu64 ",\"seconds\":%.3f}\n", batches, paths, bad, secs_since(t0));
	fflush(stdout);
	return 0;
}

/* ------------------------------------------------------------------------ */

static void usage(FILE *out)
{
	fprintf(out,
"usage: stloadgen load URL [--duration S] [--batch N] [--lag N]\n"
"       stloadgen sink URL [--duration S]\n"
"\n"
"load  play two agents sending joinable synthetic host paths to the collector\n"
"      at URL as fast as it acks them; print {\"paths_per_s\":..} as JSON\n"
"      --duration S   how long to send (default 5)\n"
"      --batch N      host paths per batch, even (default 512, as the agent)\n"
"      --lag N        max batches one host runs ahead of the other (default 4)\n"
"sink  listen on URL and ack every valid batch without storing it, until\n"
"      SIGINT/SIGTERM or --duration S; print the counts as JSON\n");
}

int main(int argc, char **argv)
{
	double duration = -1;
	long batch = 512, lag = 4;
	struct sigaction sa = { .sa_handler = on_signal };
	const char *mode, *url;

	if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		usage(stdout);
		return 0;
	}
	if (argc < 3) {
		usage(stderr);
		return 2;
	}
	mode = argv[1];
	url = argv[2];
	for (int i = 3; i < argc; i++) {
		char *end = NULL;

		if (i + 1 >= argc) {
			fprintf(stderr, "stloadgen: option %s needs a value\n", argv[i]);
			return 2;
		}
		if (!strcmp(argv[i], "--duration"))
			duration = strtod(argv[++i], &end);
		else if (!strcmp(argv[i], "--batch"))
			batch = strtol(argv[++i], &end, 10);
		else if (!strcmp(argv[i], "--lag"))
			lag = strtol(argv[++i], &end, 10);
		else {
			fprintf(stderr, "stloadgen: unknown option %s\n", argv[i]);
			return 2;
		}
		if (!end || *end) {
			fprintf(stderr, "stloadgen: bad value for %s\n", argv[i - 1]);
			return 2;
		}
	}
	if (batch < 2 || batch > 65536 || batch % 2 || lag < 0 || lag > 1000000) {
		fprintf(stderr, "stloadgen: --batch must be even in 2..65536, --lag >= 0\n");
		return 2;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (!strcmp(mode, "load"))
		return cmd_load(url, duration > 0 ? duration : 5, (uint32_t)batch, (uint32_t)lag);
	if (!strcmp(mode, "sink"))
		return cmd_sink(url, duration);
	fprintf(stderr, "stloadgen: unknown mode '%s'\n", mode);
	usage(stderr);
	return 2;
}
