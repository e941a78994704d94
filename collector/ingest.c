// SPDX-License-Identifier: MIT
/*
 * Batch ingest: the trust boundary for agent traffic. Every message is
 * validated (common/wire.c); malformed ones are counted and answered with
 * a "rejected" ack, never trusted. Duplicates (an agent resending after a
 * lost ack) are recognised by (host, instance, seq) and acked without
 * being applied twice. A batch is acked only once it is in the inbox.
 */
#include "collector.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "timeutil.h"

static void reply_ack(uint64_t seq, uint32_t status, const char *error,
		      uint8_t **resp, size_t *rlen)
{
	if (st_wire_pack_ack(seq, status, error, resp, rlen)) {
		*resp = NULL;
		*rlen = 0;
	}
}

void c_ingest_batch(struct st_collector *c, st_envelope *env, int64_t inbox_id)
{
	const st_batch *b = env->batch;
	int h = c_host_get(c, b->host);

	if (h < 0) {
		pr_warn("too many hosts; batch from %s ignored", b->host);
		st_wire_free(env);
		return;
	}
	/* Replayed batches too: their clock triples and exchanges map their
	 * own stamps (the collector has no other clock data after a start). */
	c_host_update(c, h, b);
	c_clock_batch(c, h, b);
	c->c.batches++;
	if (!c_correlate_batch(c, h, env, inbox_id))
		st_wire_free(env);
}

static void reply_echo(const Stagetrace__V1__ClockProbe *p, int64_t t2,
		       uint8_t **resp, size_t *rlen)
{
	Stagetrace__V1__Envelope env = STAGETRACE__V1__ENVELOPE__INIT;
	Stagetrace__V1__ClockEcho e = STAGETRACE__V1__CLOCK_ECHO__INIT;

	e.t1 = p->t1;
	e.t2 = t2;
	env.version = ST_WIRE_VERSION;
	env.body_case = STAGETRACE__V1__ENVELOPE__BODY_CLOCK_ECHO;
	env.clock_echo = &e;
	/* t3 as late as possible: just before packing the reply. */
	e.t3 = (int64_t)st_real_ns();
	if (st_wire_pack(&env, resp, rlen)) {
		*resp = NULL;
		*rlen = 0;
	}
}

void c_ingest_handler(void *arg, int64_t recv_ns, const uint8_t *req, size_t len,
		      uint8_t **resp, size_t *rlen)
{
	struct st_collector *c = arg;
	st_envelope *env;
	const char *why;
	const st_batch *b;
	int64_t id = 0;
	int seen;

	if (st_wire_unpack(req, len, &env, &why) == 0 &&
	    env->body_case == STAGETRACE__V1__ENVELOPE__BODY_CLOCK_PROBE) {
		c->c.clock_probes++;
		reply_echo(env->clock_probe, recv_ns, resp, rlen);
		st_wire_free(env);
		return;
	}
	if (why || env->body_case != STAGETRACE__V1__ENVELOPE__BODY_BATCH) {
		if (!why) {
			why = "not a batch";
			st_wire_free(env);
		}
		c->c.batches_bad++;
		if (c->c.batches_bad < 10 || c->c.batches_bad % 1000 == 0)
			pr_warn("rejected message of %zu bytes: %s (%lu so far)", len, why,
				(unsigned long)c->c.batches_bad);
		reply_ack(0, 2, why, resp, rlen);
		return;
	}
	b = env->batch;
	seen = c_store_seen(c, b->host, b->instance, b->seq);
	if (seen == 1) {
		c->c.batches_dup++;
		reply_ack(b->seq, 1, NULL, resp, rlen);
		st_wire_free(env);
		return;
	}
	/* Batches without paths (heartbeats) update health only; they need no
	 * inbox row, but their sequence number is recorded all the same. */
	if (seen < 0 || c_store_inbox_put(c, b->host, b->instance, b->seq,
					  b->n_paths ? req : NULL, len, &id)) {
		/* Not stored, so not acked: the agent will resend. */
		reply_ack(0, 0, "store unavailable", resp, rlen);
		st_wire_free(env);
		return;
	}
	reply_ack(b->seq, 0, NULL, resp, rlen);
	c_ingest_batch(c, env, b->n_paths ? id : 0);
}
