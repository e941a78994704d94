/* SPDX-License-Identifier: MIT */
/*
 * A request/reply server on an nng REP socket whose handler runs on the
 * libuv loop.
 *
 * nng receives on several contexts in parallel (so a slow client never
 * blocks another). Completion callbacks run on nng threads: they only move
 * a received message onto a locked queue and wake the loop with
 * uv_async_send. The loop calls the handler, which returns the reply
 * bytes; the reply is sent on the same context, whose next receive is
 * posted when the send completes. All collector state is therefore touched
 * by the loop thread only.
 */
#ifndef ST_REPSRV_H
#define ST_REPSRV_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "tls.h"

struct st_repsrv;

/* Fill *resp (malloc'd) and *resp_len. Returning non-zero closes nothing:
 * the handler must always produce a reply (an error reply if need be). */
/* recv_ns: realtime when nng completed the receive (on its thread). */
typedef void (*st_rep_handler)(void *arg, int64_t recv_ns, const uint8_t *req,
			       size_t len, uint8_t **resp, size_t *resp_len);

struct st_repsrv *st_repsrv_new(uv_loop_t *loop, const char *url,
				const struct st_tls_opts *tls, int nctx,
				st_rep_handler h, void *arg, int *err);
void st_repsrv_free(struct st_repsrv *s);
uint64_t st_repsrv_requests(const struct st_repsrv *s);

#endif /* ST_REPSRV_H */
