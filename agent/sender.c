// SPDX-License-Identifier: MIT
/*
 * Batches to the collector over nng REQ/REP.
 *
 * Converted host paths wait in the agent until a flush packs them, with a
 * clock triple, counters and probe status, into one Batch with a
 * per-instance sequence number, and appends it to a bounded queue. The
 * head of the queue is in flight until the collector acks its sequence;
 * a failure or time-out resends the same batch after a back-off (the
 * collector drops duplicates by (instance, seq)), so a collector restart
 * loses nothing the agent still holds. When the queue is full the oldest
 * waiting batch is dropped and counted: memory stays bounded and the loss
 * is visible.
 *
 * nng completes sends and receives on its own threads. The callback only
 * advances the send/receive state of the one aio, stores the outcome under
 * a mutex and wakes the loop with uv_async_send; all decisions happen on
 * the loop.
 */
#include "agent.h"

#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timex.h>

#include "log.h"
#include "stage_names.h"
#include "timeutil.h"
#include "wire.h"

struct qitem {
	uint8_t *buf;
	size_t len;
	uint64_t seq;
	uint32_t npaths;
	struct qitem *next;
};

enum io_state { IO_IDLE, IO_SENDING, IO_RECEIVING, IO_DONE };

struct st_sender {
	struct st_agent *a;
	nng_socket sock;
	nng_ctx ctx;
	nng_dialer dialer;
	nng_aio *aio;
	uv_async_t wake;
	uv_timer_t retry;
	unsigned backoff_ms;

	pthread_mutex_t mu;
	enum io_state state;	/* under mu */
	int io_err;		/* under mu */
	uint8_t *reply;		/* under mu */
	size_t reply_len;

	struct qitem *head, *tail;
	uint32_t qlen;
	int in_flight;
	uint64_t seq;
	uint64_t sent, acked, retries, dropped_batches, dropped_paths, rejected;
	int connected_logged;
};

static void io_done(struct st_sender *s, int err, nng_msg *m)
{
	pthread_mutex_lock(&s->mu);
	s->state = IO_DONE;
	s->io_err = err;
	if (m) {
		s->reply_len = nng_msg_len(m);
		s->reply = malloc(s->reply_len ? s->reply_len : 1);
		if (s->reply)
			memcpy(s->reply, nng_msg_body(m), s->reply_len);
		else
			s->io_err = NNG_ENOMEM;
		nng_msg_free(m);
	}
	pthread_mutex_unlock(&s->mu);
	uv_async_send(&s->wake);
}

/* nng thread. */
static void aio_cb(void *arg)
{
	struct st_sender *s = arg;
	int rv = nng_aio_result(s->aio);
	enum io_state st;

	pthread_mutex_lock(&s->mu);
	st = s->state;
	pthread_mutex_unlock(&s->mu);

	if (st == IO_SENDING) {
		if (rv != 0) {
			nng_msg_free(nng_aio_get_msg(s->aio));
			io_done(s, rv, NULL);
			return;
		}
		pthread_mutex_lock(&s->mu);
		s->state = IO_RECEIVING;
		pthread_mutex_unlock(&s->mu);
		nng_aio_set_timeout(s->aio, 3000);
		nng_ctx_recv(s->ctx, s->aio);
		return;
	}
	if (st == IO_RECEIVING)
		io_done(s, rv, rv == 0 ? nng_aio_get_msg(s->aio) : NULL);
}

static void send_head(struct st_sender *s)
{
	nng_msg *m;

	if (s->in_flight || !s->head || s->a->stopping > 1)
		return;
	if (nng_msg_alloc(&m, 0) || nng_msg_append(m, s->head->buf, s->head->len)) {
		pr_warn("cannot allocate nng message; will retry");
		uv_timer_start(&s->retry, NULL, 0, 0);
		return;
	}
	pthread_mutex_lock(&s->mu);
	s->state = IO_SENDING;
	pthread_mutex_unlock(&s->mu);
	s->in_flight = 1;
	nng_aio_set_msg(s->aio, m);
	nng_aio_set_timeout(s->aio, 3000);
	nng_ctx_send(s->ctx, s->aio);
	s->sent++;
}

static void retry_cb(uv_timer_t *t)
{
	send_head(t->data);
}

static void pop_head(struct st_sender *s)
{
	struct qitem *q = s->head;

	s->head = q->next;
	if (!s->head)
		s->tail = NULL;
	s->qlen--;
	free(q->buf);
	free(q);
}

/* Loop thread: the outcome of one request. */
static void wake_cb(uv_async_t *h)
{
	struct st_sender *s = h->data;
	st_envelope *env = NULL;
	const char *why;
	uint8_t *reply;
	size_t rlen;
	int err;

	pthread_mutex_lock(&s->mu);
	if (s->state != IO_DONE) {
		pthread_mutex_unlock(&s->mu);
		return;
	}
	s->state = IO_IDLE;
	err = s->io_err;
	reply = s->reply;
	rlen = s->reply_len;
	s->reply = NULL;
	pthread_mutex_unlock(&s->mu);
	s->in_flight = 0;

	if (err == 0 && st_wire_unpack(reply, rlen, &env, &why) == 0 &&
	    env->body_case == STAGETRACE__V1__ENVELOPE__BODY_ACK &&
	    env->ack->seq == s->head->seq) {
		if (env->ack->status == 2) {
			/* The collector refused the batch as invalid: resending
			 * would fail the same way, so it is dropped and counted. */
			pr_warn("collector rejected batch %lu: %s",
				(unsigned long)env->ack->seq, env->ack->error);
			s->rejected++;
			s->dropped_paths += s->head->npaths;
		}
		s->acked++;
		pop_head(s);
		s->backoff_ms = 0;
		if (!s->connected_logged) {
			pr_info("connected to collector %s", s->a->cfg.collector);
			s->connected_logged = 1;
		}
		send_head(s);
	} else {
		s->retries++;
		s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : 100;
		if (s->backoff_ms > 2000)
			s->backoff_ms = 2000;
		if (s->connected_logged || s->retries == 1)
			pr_warn("batch %lu not acknowledged (%s); retrying in %u ms",
				(unsigned long)s->head->seq,
				err ? nng_strerror(err) : "bad reply", s->backoff_ms);
		s->connected_logged = 0;
		uv_timer_start(&s->retry, retry_cb, s->backoff_ms, 0);
	}
	st_wire_free(env);
	free(reply);
}

struct st_sender *st_sender_new(struct st_agent *a)
{
	struct st_sender *s = calloc(1, sizeof(*s));
	int rv;

	if (!s)
		return NULL;
	s->a = a;
	pthread_mutex_init(&s->mu, NULL);
	if ((rv = nng_req0_open(&s->sock)) != 0 ||
	    (rv = nng_socket_set_ms(s->sock, NNG_OPT_REQ_RESENDTIME,
				    NNG_DURATION_INFINITE)) != 0 ||
	    (rv = nng_socket_set_ms(s->sock, NNG_OPT_RECONNMINT, 100)) != 0 ||
	    (rv = nng_socket_set_ms(s->sock, NNG_OPT_RECONNMAXT, 2000)) != 0 ||
	    (rv = nng_ctx_open(&s->ctx, s->sock)) != 0 ||
	    (rv = nng_aio_alloc(&s->aio, aio_cb, s)) != 0) {
		pr_err("nng set-up: %s", nng_strerror(rv));
		free(s);
		return NULL;
	}
	/* Non-blocking dial (st_tls_dial): the agent starts even when the
	 * collector is not up yet, and nng keeps redialling in the background. */
	rv = st_tls_dial(s->sock, a->cfg.collector, &a->cfg.tls, &s->dialer);
	if (rv != 0) {
		pr_err("collector address %s: %s", a->cfg.collector, nng_strerror(rv));
		nng_aio_free(s->aio);
		nng_close(s->sock);
		free(s);
		return NULL;
	}
	uv_async_init(a->loop, &s->wake, wake_cb);
	s->wake.data = s;
	uv_timer_init(a->loop, &s->retry);
	s->retry.data = s;
	return s;
}

static void enqueue(struct st_sender *s, uint8_t *buf, size_t len, uint32_t npaths)
{
	struct qitem *q = calloc(1, sizeof(*q));

	if (!q) {
		free(buf);
		s->dropped_batches++;
		s->dropped_paths += npaths;
		return;
	}
	q->buf = buf;
	q->len = len;
	q->seq = s->seq;
	q->npaths = npaths;
	if (s->tail)
		s->tail->next = q;
	else
		s->head = q;
	s->tail = q;
	s->qlen++;
	/* Bounded memory: drop the oldest batch that is not in flight. */
	while (s->qlen > s->a->cfg.queue_max && s->head && s->head->next) {
		struct qitem *victim = s->in_flight ? s->head->next : s->head;

		if (s->in_flight) {
			s->head->next = victim->next;
			if (s->tail == victim)
				s->tail = s->head;
			s->qlen--;
			s->dropped_batches++;
			s->dropped_paths += victim->npaths;
			free(victim->buf);
			free(victim);
		} else {
			s->dropped_batches++;
			s->dropped_paths += victim->npaths;
			pop_head(s);
		}
	}
	send_head(s);
}

void st_sender_flush(struct st_sender *s)
{
	struct st_agent *a = s->a;
	Stagetrace__V1__Envelope env = STAGETRACE__V1__ENVELOPE__INIT;
	Stagetrace__V1__Batch b = STAGETRACE__V1__BATCH__INIT;
	Stagetrace__V1__ClockSample cs = STAGETRACE__V1__CLOCK_SAMPLE__INIT;
	Stagetrace__V1__ClockSample *csp = &cs;
	Stagetrace__V1__StageDef defs[256], *defp[256];
	Stagetrace__V1__ProbeStatus pst[ST_HOOK_MAX], *pstp[ST_HOOK_MAX];
	uint8_t used[ST_HOOK_MAX * ST_ROLE_MAX] = { 0 };
	struct st_clock_triple ct;
	Stagetrace__V1__ClockExchange xs[64], *xsp[64];
	Stagetrace__V1__TestSkew ts = STAGETRACE__V1__TEST_SKEW__INIT;
	uint32_t nx = 0;
	void **counters = NULL;
	size_t ncounters = 0, ndefs = 0;
	uint8_t *buf;
	size_t len;
	uint32_t npaths = a->n_pending;
	int rv;

	b.host = (char *)a->cfg.host;
	b.instance = a->instance;
	b.seq = ++s->seq;
	b.sample_k = a->cfg.sample_k;
	b.sample_n = a->cfg.sample_n;
	for (uint32_t i = 0; i < npaths; i++) {
		Stagetrace__V1__HostPath *hp = a->pending[i];

		for (size_t j = 0; j < hp->n_stamps; j++)
			if (hp->stamps[j]->stage < sizeof(used))
				used[hp->stamps[j]->stage] = 1;
	}
	for (uint32_t id = 0; id < sizeof(used) && ndefs < 256; id++) {
		if (!used[id])
			continue;
		stagetrace__v1__stage_def__init(&defs[ndefs]);
		defs[ndefs].id = id;
		defs[ndefs].name = (char *)st_stage_name(id);
		defp[ndefs] = &defs[ndefs];
		ndefs++;
	}
	b.stages = defp;
	b.n_stages = ndefs;
	st_clock_triple_read(&ct);
	{
		/* A skewed host's realtime is skewed alike: the whole host clock
		 * is off, which is what a test of the estimator needs. */
		int64_t d = (int64_t)(st_agent_mono(a, ct.mono_ns) - ct.mono_ns);
		struct timex tx = { 0 };

		cs.mono_ns = ct.mono_ns + (uint64_t)d;
		cs.realtime_ns = ct.real_ns + d;
		cs.tai_ns = ct.tai_ns + d;
		/* esterror is the kernel's (NTP/PTP daemon's) own bound, in us;
		 * an unsynchronised clock reports TIME_ERROR: bound unknown. */
		if (adjtimex(&tx) != TIME_ERROR && tx.esterror > 0)
			cs.est_error_ns = (uint64_t)tx.esterror * 1000;
	}
	b.clock = &csp;
	b.n_clock = 1;
	if (a->probe) {
		nx = st_clockprobe_take(a->probe, xs, 64);
		for (uint32_t i = 0; i < nx; i++)
			xsp[i] = &xs[i];
		b.exchanges = xsp;
		b.n_exchanges = nx;
	}
	if (a->skew.active) {
		ts.offset_ns = a->skew.offset_ns;
		ts.drift_ppb = a->skew.drift_ppb;
		ts.origin_mono = a->skew.origin;
		b.test_skew = &ts;
	}
	b.paths = (Stagetrace__V1__HostPath **)a->pending;
	b.n_paths = npaths;
	st_agent_counters_fill(a, &counters, &ncounters);
	b.counters = (Stagetrace__V1__Counter **)counters;
	b.n_counters = ncounters;
	for (unsigned h = 1; h < ST_HOOK_MAX; h++) {
		stagetrace__v1__probe_status__init(&pst[h]);
		pst[h].hook = (char *)st_hook_name(h);
		pst[h].method = (char *)(a->probes[h].method ? a->probes[h].method : "");
		pst[h].status = (char *)a->probes[h].status;
		pst[h].reason = a->probes[h].reason;
		pstp[h - 1] = &pst[h];
	}
	b.probes = pstp;
	b.n_probes = ST_HOOK_MAX - 1;
	env.version = ST_WIRE_VERSION;
	env.body_case = STAGETRACE__V1__ENVELOPE__BODY_BATCH;
	env.batch = &b;

	rv = st_wire_pack(&env, &buf, &len);
	for (size_t i = 0; i < ncounters; i++) {
		Stagetrace__V1__Counter *c = counters[i];

		free(c->name);
		free(c);
	}
	free(counters);
	for (uint32_t i = 0; i < npaths; i++)
		st_convert_free(a->pending[i]);
	a->n_pending = 0;
	if (rv) {
		pr_warn("cannot pack batch: %s", strerror(-rv));
		s->dropped_batches++;
		s->dropped_paths += npaths;
		return;
	}
	enqueue(s, buf, len, npaths);
}

nng_socket st_sender_socket(const struct st_sender *s)
{
	return s->sock;
}

void st_sender_counters(const struct st_sender *s, uint64_t *sent, uint64_t *acked,
			uint64_t *retries, uint64_t *dropped_batches,
			uint64_t *dropped_paths, uint64_t *queued)
{
	*sent = s->sent;
	*acked = s->acked;
	*retries = s->retries;
	*dropped_batches = s->dropped_batches;
	*dropped_paths = s->dropped_paths;
	*queued = s->qlen;
}

static void drain_timeout(uv_timer_t *t)
{
	uv_stop(t->loop);
}

void st_sender_drain(struct st_sender *s, unsigned timeout_ms)
{
	uv_timer_t t;
	uint64_t deadline = st_mono_ns() + (uint64_t)timeout_ms * 1000000ull;

	uv_timer_init(s->a->loop, &t);
	while (s->head && st_mono_ns() < deadline) {
		send_head(s);
		uv_timer_start(&t, drain_timeout, 50, 0);
		uv_run(s->a->loop, UV_RUN_ONCE);
	}
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(s->a->loop, UV_RUN_NOWAIT);
	if (s->head)
		pr_warn("%u batches not delivered at exit", s->qlen);
}

void st_sender_free(struct st_sender *s)
{
	if (!s)
		return;
	nng_aio_stop(s->aio);
	nng_aio_free(s->aio);
	nng_ctx_close(s->ctx);
	nng_close(s->sock);
	while (s->head) {
		s->dropped_paths += s->head->npaths;
		pop_head(s);
	}
	uv_close((uv_handle_t *)&s->wake, NULL);
	uv_close((uv_handle_t *)&s->retry, NULL);
	/* libuv needs the handles' memory until their close callbacks ran. */
	uv_run(s->a->loop, UV_RUN_NOWAIT);
	pthread_mutex_destroy(&s->mu);
	free(s->reply);
	free(s);
}
