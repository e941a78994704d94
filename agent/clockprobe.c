// SPDX-License-Identifier: MIT
/*
 * Control-channel clock probes: once a second the agent sends a ClockProbe
 * carrying t1 (its monotonic clock, as it stamps packets) on its own nng
 * context of the collector connection; the collector echoes t1 with t2/t3
 * (its realtime clock at arrival and departure); t4 is read in the nng
 * completion callback, as close to the arrival as user space gets. The
 * completed (t1, t2, t3, t4) exchanges ride to the collector in the next
 * batch, where they give this host's offset to within RTT/2.
 *
 * Threading as everywhere in the agent: the nng callback only records the
 * exchange under a mutex and wakes the loop; the loop owns the list.
 */
#include "agent.h"

#include <nng/nng.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "timeutil.h"
#include "wire.h"

enum { PR_IDLE, PR_SENDING, PR_RECEIVING };

struct st_clockprobe {
	struct st_agent *a;
	nng_ctx ctx;
	nng_aio *aio;
	uv_timer_t timer;
	pthread_mutex_t mu;
	int state;		/* under mu */
	uint64_t t1;		/* skewed agent monotonic of the probe in flight */
	Stagetrace__V1__ClockExchange done[64];	/* under mu */
	uint32_t ndone;
	uint64_t sent, answered, failed;
};

static void probe_cb(void *arg)
{
	struct st_clockprobe *p = arg;
	int rv = nng_aio_result(p->aio);
	uint64_t t4 = st_agent_mono(p->a, st_mono_ns());
	st_envelope *env = NULL;
	const char *why;
	nng_msg *m;

	pthread_mutex_lock(&p->mu);
	if (p->state == PR_SENDING && rv == 0) {
		p->state = PR_RECEIVING;
		pthread_mutex_unlock(&p->mu);
		nng_aio_set_timeout(p->aio, 1000);
		nng_ctx_recv(p->ctx, p->aio);
		return;
	}
	if (p->state == PR_SENDING) {
		nng_msg_free(nng_aio_get_msg(p->aio));
	} else if (rv == 0) {
		m = nng_aio_get_msg(p->aio);
		if (st_wire_unpack(nng_msg_body(m), nng_msg_len(m), &env, &why) == 0 &&
		    env->body_case == STAGETRACE__V1__ENVELOPE__BODY_CLOCK_ECHO &&
		    env->clock_echo->t1 == p->t1 && p->ndone < 64) {
			Stagetrace__V1__ClockExchange *x = &p->done[p->ndone++];

			stagetrace__v1__clock_exchange__init(x);
			x->t1 = p->t1;
			x->t2 = env->clock_echo->t2;
			x->t3 = env->clock_echo->t3;
			x->t4 = t4;
			p->answered++;
		} else {
			p->failed++;
		}
		st_wire_free(env);
		nng_msg_free(m);
	} else {
		p->failed++;
	}
	p->state = PR_IDLE;
	pthread_mutex_unlock(&p->mu);
}

static void timer_cb(uv_timer_t *t)
{
	struct st_clockprobe *p = t->data;
	Stagetrace__V1__Envelope env = STAGETRACE__V1__ENVELOPE__INIT;
	Stagetrace__V1__ClockProbe cp = STAGETRACE__V1__CLOCK_PROBE__INIT;
	uint8_t *buf;
	size_t len;
	nng_msg *m;

	pthread_mutex_lock(&p->mu);
	if (p->state != PR_IDLE) {
		pthread_mutex_unlock(&p->mu);
		return;
	}
	p->state = PR_SENDING;
	pthread_mutex_unlock(&p->mu);
	env.version = ST_WIRE_VERSION;
	env.body_case = STAGETRACE__V1__ENVELOPE__BODY_CLOCK_PROBE;
	env.clock_probe = &cp;
	if (nng_msg_alloc(&m, 0))
		goto fail;
	/* t1 is taken last, just before the send. */
	p->t1 = cp.t1 = st_agent_mono(p->a, st_mono_ns());
	if (st_wire_pack(&env, &buf, &len)) {
		nng_msg_free(m);
		goto fail;
	}
	nng_msg_append(m, buf, len);
	free(buf);
	nng_aio_set_msg(p->aio, m);
	nng_aio_set_timeout(p->aio, 1000);
	p->sent++;
	nng_ctx_send(p->ctx, p->aio);
	return;
fail:
	pthread_mutex_lock(&p->mu);
	p->state = PR_IDLE;
	p->failed++;
	pthread_mutex_unlock(&p->mu);
}

struct st_clockprobe *st_clockprobe_new(struct st_agent *a, nng_socket sock,
					unsigned interval_ms)
{
	struct st_clockprobe *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->a = a;
	pthread_mutex_init(&p->mu, NULL);
	if (nng_ctx_open(&p->ctx, sock) || nng_aio_alloc(&p->aio, probe_cb, p)) {
		free(p);
		return NULL;
	}
	uv_timer_init(a->loop, &p->timer);
	p->timer.data = p;
	uv_timer_start(&p->timer, timer_cb, 100, interval_ms);
	return p;
}

/* Move finished exchanges into out (up to max); returns how many. */
uint32_t st_clockprobe_take(struct st_clockprobe *p,
			    Stagetrace__V1__ClockExchange *out, uint32_t max)
{
	uint32_t n;

	pthread_mutex_lock(&p->mu);
	n = p->ndone < max ? p->ndone : max;
	memcpy(out, p->done, n * sizeof(*out));
	memmove(p->done, p->done + n, (p->ndone - n) * sizeof(*out));
	p->ndone -= n;
	pthread_mutex_unlock(&p->mu);
	return n;
}

void st_clockprobe_counters(struct st_clockprobe *p, uint64_t *sent,
			    uint64_t *answered, uint64_t *failed)
{
	pthread_mutex_lock(&p->mu);
	*sent = p->sent;
	*answered = p->answered;
	*failed = p->failed;
	pthread_mutex_unlock(&p->mu);
}

void st_clockprobe_free(struct st_clockprobe *p)
{
	if (!p)
		return;
	uv_timer_stop(&p->timer);
	nng_aio_stop(p->aio);
	nng_aio_free(p->aio);
	nng_ctx_close(p->ctx);
	uv_close((uv_handle_t *)&p->timer, NULL);
	uv_run(p->a->loop, UV_RUN_NOWAIT);
	pthread_mutex_destroy(&p->mu);
	free(p);
}
