/* SPDX-License-Identifier: MIT */
/*
 * A small HTTP server for the daemons' endpoints (/metrics of collector
 * and agent, the collector's JSON query API), on nng's HTTP server: we
 * parse no HTTP ourselves.
 *
 * Threading: nng calls its handlers on its own threads. Ours only queue the
 * request's aio under a mutex and wake the libuv loop (uv_async_send); the
 * loop runs the route's callback, which may read any daemon state, and
 * completes the aio with the reply. No cancellation routine is registered:
 * the server began the aio, and a connection that closes while its request
 * waits in our queue cannot free the aio before we finish it (its reaper
 * waits for us), so the queue never holds a dangling pointer. Stopping
 * marks the server closed (later requests are answered 503 on the nng
 * thread), answers what is queued with 503, and only then stops the nng
 * server, which waits for its connections.
 *
 * https:// URLs are served with TLS from a certificate and key; clients are
 * not asked for certificates there (the query API authenticates with
 * bearer tokens).
 */
#ifndef ST_HTTPSRV_H
#define ST_HTTPSRV_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* One request and its reply, handed to a route's callback on the loop. */
struct st_http_exchange {
	/* Request; valid during the callback. */
	const char *method;
	const char *uri;		/* path and ?query as sent */
	const char *authorization;	/* header value or NULL */
	const void *body;
	size_t body_len;
	/* Reply, filled in by the callback. Status 0 means 500. */
	uint16_t status;
	const char *content_type;	/* static string; default text/plain */
	char *out;			/* malloc'd body, freed by the server */
	size_t out_len;
	const char *www_authenticate;	/* static string or NULL */
};

typedef void (*st_http_fn)(void *arg, struct st_http_exchange *x);

struct st_http_route {
	const char *path;	/* exact path, or a prefix when tree is set */
	int tree;
	const char *method;	/* "GET", "POST", or NULL for any */
	size_t max_body;	/* request body collected up to this; 0 = none */
	st_http_fn fn;
	void *arg;
};

struct st_httpsrv;

/*
 * Serve routes[0..n) at url (http://ADDR:PORT or https://ADDR:PORT; any
 * path in the URL is ignored, routes carry theirs). what names the server
 * in errors and logs ("--metrics"). For https, cert and key are PEM files.
 * Call on the loop thread. 0 and *out, or an exit code after one line on
 * stderr (ST_EXIT_USAGE for a bad URL, ST_EXIT_FAIL otherwise).
 */
int st_httpsrv_start(uv_loop_t *loop, const char *url, const char *what,
		     const struct st_http_route *routes, size_t n, const char *cert,
		     const char *key, struct st_httpsrv **out);
/* Stop (see above) and free; NULL is a no-op. Loop thread, after uv_run. */
void st_httpsrv_stop(struct st_httpsrv *s);

/* Reply helpers for callbacks: body copied; status set. */
void st_http_reply(struct st_http_exchange *x, uint16_t status, const char *ctype,
		   const char *body, size_t len);
/* {"ok":false,"error":msg} with status. */
void st_http_reply_error(struct st_http_exchange *x, uint16_t status, const char *msg);

/* "?a=1&b=x%20y" -> value of name, %-decoded into buf; 1 found, 0 not. */
int st_http_query_param(const char *uri, const char *name, char *buf, size_t len);

#endif /* ST_HTTPSRV_H */
