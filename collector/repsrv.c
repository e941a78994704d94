// SPDX-License-Identifier: MIT
#include "repsrv.h"

#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "timeutil.h"

enum ctx_state { CX_RECV, CX_WAIT, CX_SEND };

struct repctx {
	struct st_repsrv *srv;
	nng_ctx ctx;
	nng_aio *aio;
	enum ctx_state state;
	nng_msg *req;		/* handed to the loop */
	int64_t recv_ns;
	struct repctx *next;	/* ready queue link, under srv->mu */
};

struct st_repsrv {
	nng_socket sock;
	nng_listener listener;
	uv_async_t wake;
	pthread_mutex_t mu;
	struct repctx *ready;	/* under mu */
	struct repctx *ctxs;
	int nctx;
	st_rep_handler handler;
	void *arg;
	uint64_t requests;
	int closing;
};

/* nng thread. */
static void ctx_cb(void *p)
{
	struct repctx *c = p;
	struct st_repsrv *s = c->srv;
	int rv = nng_aio_result(c->aio);

	if (c->state == CX_SEND) {
		if (rv != 0)
			nng_msg_free(nng_aio_get_msg(c->aio));
		c->state = CX_RECV;
		if (!s->closing)
			nng_ctx_recv(c->ctx, c->aio);
		return;
	}
	if (rv != 0) {
		/* NNG_ECLOSED at shutdown; anything else: keep receiving. */
		if (rv != NNG_ECLOSED && !s->closing)
			nng_ctx_recv(c->ctx, c->aio);
		return;
	}
	c->recv_ns = (int64_t)st_real_ns();
	c->req = nng_aio_get_msg(c->aio);
	c->state = CX_WAIT;
	pthread_mutex_lock(&s->mu);
	c->next = s->ready;
	s->ready = c;
	pthread_mutex_unlock(&s->mu);
	uv_async_send(&s->wake);
}

/* Loop thread. */
static void wake_cb(uv_async_t *h)
{
	struct st_repsrv *s = h->data;
	struct repctx *list, *c;

	pthread_mutex_lock(&s->mu);
	list = s->ready;
	s->ready = NULL;
	pthread_mutex_unlock(&s->mu);
	while ((c = list) != NULL) {
		uint8_t *resp = NULL;
		size_t rlen = 0;
		nng_msg *m;

		list = c->next;
		s->requests++;
		s->handler(s->arg, c->recv_ns, nng_msg_body(c->req),
			   nng_msg_len(c->req), &resp, &rlen);
		nng_msg_free(c->req);
		c->req = NULL;
		if (nng_msg_alloc(&m, 0) || (rlen && nng_msg_append(m, resp, rlen))) {
			pr_warn("out of memory building a reply");
			free(resp);
			c->state = CX_RECV;
			nng_ctx_recv(c->ctx, c->aio);
			continue;
		}
		free(resp);
		c->state = CX_SEND;
		nng_aio_set_msg(c->aio, m);
		nng_ctx_send(c->ctx, c->aio);
	}
}

struct st_repsrv *st_repsrv_new(uv_loop_t *loop, const char *url,
				const struct st_tls_opts *tls, int nctx,
				st_rep_handler h, void *arg, int *err)
{
	struct st_repsrv *s = calloc(1, sizeof(*s));
	int rv;

	*err = 0;
	if (!s || !(s->ctxs = calloc(nctx, sizeof(*s->ctxs)))) {
		free(s);
		*err = NNG_ENOMEM;
		return NULL;
	}
	s->nctx = nctx;
	s->handler = h;
	s->arg = arg;
	pthread_mutex_init(&s->mu, NULL);
	if ((rv = nng_rep0_open(&s->sock)) != 0 ||
	    (rv = nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ, 16u << 20)) != 0 ||
	    (rv = st_tls_listen(s->sock, url, tls, &s->listener)) != 0) {
		*err = rv;
		if (nng_socket_id(s->sock) > 0)
			nng_close(s->sock);
		free(s->ctxs);
		free(s);
		return NULL;
	}
	uv_async_init(loop, &s->wake, wake_cb);
	s->wake.data = s;
	for (int i = 0; i < nctx; i++) {
		struct repctx *c = &s->ctxs[i];

		c->srv = s;
		nng_ctx_open(&c->ctx, s->sock);
		nng_aio_alloc(&c->aio, ctx_cb, c);
		c->state = CX_RECV;
		nng_ctx_recv(c->ctx, c->aio);
	}
	return s;
}

uint64_t st_repsrv_requests(const struct st_repsrv *s)
{
	return s->requests;
}

void st_repsrv_free(struct st_repsrv *s)
{
	if (!s)
		return;
	s->closing = 1;
	for (int i = 0; i < s->nctx; i++)
		nng_aio_stop(s->ctxs[i].aio);
	nng_close(s->sock);
	for (int i = 0; i < s->nctx; i++) {
		nng_aio_free(s->ctxs[i].aio);
		if (s->ctxs[i].req)
			nng_msg_free(s->ctxs[i].req);
	}
	uv_close((uv_handle_t *)&s->wake, NULL);
	uv_run(s->wake.loop, UV_RUN_NOWAIT);
	pthread_mutex_destroy(&s->mu);
	free(s->ctxs);
	free(s);
}
