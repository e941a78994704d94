// SPDX-License-Identifier: MIT
/*
 * stsend: send hostile or hand-made messages to a collector's ingest
 * socket and print the collector's answer, for the robustness tests.
 *
 *   stsend URL garbage N        N random messages of random size
 *   stsend URL truncated        a valid batch cut at every 7th length
 *   stsend URL version          a valid batch with wire version 99
 *   stsend URL empty            an envelope with no body
 *   stsend URL valid            one valid batch (host "stsend")
 *
 * TLS material comes from ST_TLS_CERT/ST_TLS_KEY/ST_TLS_CA for tls+tcp://.
 * Prints one line per message: "ack seq=S status=T" or "noreply". Exits 0
 * when every message got an ack, 1 otherwise.
 */
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tls.h"
#include "wire.h"

static nng_socket sock;

static int send_one(const uint8_t *buf, size_t len)
{
	nng_msg *m = NULL;
	st_envelope *env;
	const char *why;
	int rv;

	if ((rv = nng_send(sock, (void *)buf, len, 0)) != 0 ||
	    (rv = nng_recvmsg(sock, &m, 0)) != 0) {
		printf("noreply %s\n", nng_strerror(rv));
		return 1;
	}
	if (st_wire_unpack(nng_msg_body(m), nng_msg_len(m), &env, &why) ||
	    env->body_case != STAGETRACE__V1__ENVELOPE__BODY_ACK) {
		printf("badreply\n");
		nng_msg_free(m);
		return 1;
	}
	printf("ack seq=%lu status=%u\n", (unsigned long)env->ack->seq, env->ack->status);
	st_wire_free(env);
	nng_msg_free(m);
	return 0;
}

static void valid_batch(uint32_t version, int with_body, uint8_t **buf, size_t *len)
{
	Stagetrace__V1__Envelope env = STAGETRACE__V1__ENVELOPE__INIT;
	Stagetrace__V1__Batch b = STAGETRACE__V1__BATCH__INIT;
	Stagetrace__V1__HostPath hp = STAGETRACE__V1__HOST_PATH__INIT, *hpp = &hp;
	Stagetrace__V1__PacketKey k = STAGETRACE__V1__PACKET_KEY__INIT;
	Stagetrace__V1__Stamp st = STAGETRACE__V1__STAMP__INIT, *stp = &st;

	k.saddr = 0x0100000a;
	k.daddr = 0x0200000a;
	k.proto = 17;
	st.stage = 1;
	st.ts_ns = 1000;
	hp.packet_id = 42;
	hp.key = &k;
	hp.stamps = &stp;
	hp.n_stamps = 1;
	hp.end = 5;
	b.host = "stsend";
	b.instance = 7;
	b.seq = 1;
	b.paths = &hpp;
	b.n_paths = 1;
	env.version = version;
	if (with_body) {
		env.body_case = STAGETRACE__V1__ENVELOPE__BODY_BATCH;
		env.batch = &b;
	}
	*len = stagetrace__v1__envelope__get_packed_size(&env);
	*buf = malloc(*len + 1);
	stagetrace__v1__envelope__pack(&env, *buf);
}

int main(int argc, char **argv)
{
	uint8_t *buf;
	size_t len;
	int fails = 0;
	struct st_tls_opts tls;
	nng_dialer d;

	if (argc < 3) {
		fprintf(stderr, "usage: stsend URL garbage N|truncated|version|empty|valid\n");
		return 2;
	}
	st_tls_from_env(&tls);
	if (nng_req0_open(&sock) || st_tls_dial(sock, argv[1], &tls, &d)) {
		fprintf(stderr, "stsend: cannot reach %s\n", argv[1]);
		return 1;
	}
	nng_socket_set_ms(sock, NNG_OPT_RECVTIMEO, 5000);
	nng_socket_set_ms(sock, NNG_OPT_SENDTIMEO, 5000);
	srandom(1);
	if (!strcmp(argv[2], "garbage")) {
		int n = argc > 3 ? atoi(argv[3]) : 100;

		for (int i = 0; i < n; i++) {
			size_t l = (size_t)(random() % 512);
			uint8_t g[512];

			for (size_t j = 0; j < l; j++)
				g[j] = (uint8_t)random();
			fails += send_one(g, l);
		}
	} else if (!strcmp(argv[2], "truncated")) {
		valid_batch(ST_WIRE_VERSION, 1, &buf, &len);
		for (size_t l = 1; l < len; l += 7)
			fails += send_one(buf, l);
		free(buf);
	} else if (!strcmp(argv[2], "version") || !strcmp(argv[2], "empty") ||
		   !strcmp(argv[2], "valid")) {
		valid_batch(!strcmp(argv[2], "version") ? 99 : ST_WIRE_VERSION,
			    strcmp(argv[2], "empty") != 0, &buf, &len);
		fails += send_one(buf, len);
		free(buf);
	} else {
		fprintf(stderr, "stsend: unknown mode %s\n", argv[2]);
		return 2;
	}
	nng_close(sock);
	return fails ? 1 : 0;
}
