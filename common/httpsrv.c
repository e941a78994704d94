// SPDX-License-Identifier: MIT
/* The daemons' HTTP endpoints on nng's HTTP server; see httpsrv.h. */
#include "httpsrv.h"

#include <ctype.h>
#include <json-c/json.h>
#include <nng/nng.h>
#include <nng/supplemental/http/http.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "opts.h"
#include "tls.h"

struct h_route {
	struct st_http_route r;
	struct st_httpsrv *srv;
};

struct h_req {
	nng_aio *aio;
	struct h_route *route;
	struct h_req *next;
};

struct st_httpsrv {
	uv_loop_t *loop;
	nng_http_server *srv;
	int started;
	uv_async_t wake;
	struct h_route *routes;
	size_t nroutes;

	pthread_mutex_t mu;
	struct h_req *head, **tail;	/* under mu */
	int closing;			/* under mu */
};

/* Completes a handler aio (any thread). */
static void finish(nng_aio *aio, const struct st_http_exchange *x)
{
	nng_http_res *res = NULL;
	uint16_t status = x && x->status ? x->status : NNG_HTTP_STATUS_INTERNAL_SERVER_ERROR;
	int rv;

	if (!x || (!x->out && status >= 400 && !x->www_authenticate)) {
		rv = nng_http_res_alloc_error(&res, status);
	} else if ((rv = nng_http_res_alloc(&res)) == 0 &&
		   (rv = nng_http_res_set_status(res, status)) == 0 &&
		   (rv = nng_http_res_set_header(res, "Content-Type",
						 x->content_type ? x->content_type :
						 "text/plain; charset=utf-8")) == 0 &&
		   (!x->www_authenticate ||
		    (rv = nng_http_res_set_header(res, "WWW-Authenticate", x->www_authenticate)) == 0)) {
		rv = nng_http_res_copy_data(res, x->out ? x->out : "", x->out ? x->out_len : 0);
	}
	if (rv) {
		if (res)
			nng_http_res_free(res);
		/* The server closes the connection. */
		nng_aio_finish(aio, rv);
		return;
	}
	nng_aio_set_output(aio, 0, res);
	nng_aio_finish(aio, 0);
}

static void finish_status(nng_aio *aio, uint16_t status)
{
	struct st_http_exchange x = { .status = status };

	finish(aio, &x);
}

/* nng thread: queue the request for the loop. */
static void handler_cb(nng_aio *aio)
{
	nng_http_handler *h = nng_aio_get_input(aio, 1);
	struct h_route *route = nng_http_handler_get_data(h);
	struct st_httpsrv *s = route->srv;
	struct h_req *r = malloc(sizeof(*r));

	pthread_mutex_lock(&s->mu);
	if (r && !s->closing) {
		r->aio = aio;
		r->route = route;
		r->next = NULL;
		*s->tail = r;
		s->tail = &r->next;
		/* Under the lock: once closing is set, the handle may go. */
		uv_async_send(&s->wake);
		pthread_mutex_unlock(&s->mu);
		return;
	}
	pthread_mutex_unlock(&s->mu);
	free(r);
	finish_status(aio, NNG_HTTP_STATUS_SERVICE_UNAVAILABLE);
}

static struct h_req *take_all(struct st_httpsrv *s, int closing)
{
	struct h_req *list;

	pthread_mutex_lock(&s->mu);
	list = s->head;
	s->head = NULL;
	s->tail = &s->head;
	if (closing)
		s->closing = 1;
	pthread_mutex_unlock(&s->mu);
	return list;
}

/* Loop thread: run each waiting request's route. */
static void wake_cb(uv_async_t *a)
{
	struct st_httpsrv *s = a->data;
	struct h_req *list = take_all(s, 0), *r;

	while ((r = list) != NULL) {
		nng_http_req *req = nng_aio_get_input(r->aio, 0);
		struct st_http_exchange x = { 0 };
		void *body = NULL;
		size_t blen = 0;

		list = r->next;
		x.method = nng_http_req_get_method(req);
		x.uri = nng_http_req_get_uri(req);
		x.authorization = nng_http_req_get_header(req, "Authorization");
		nng_http_req_get_data(req, &body, &blen);
		x.body = body;
		x.body_len = blen;
		r->route->r.fn(r->route->r.arg, &x);
		finish(r->aio, &x);
		free(x.out);
		free(r);
	}
}

void st_http_reply(struct st_http_exchange *x, uint16_t status, const char *ctype,
		   const char *body, size_t len)
{
	free(x->out);
	x->out = NULL;
	x->out_len = 0;
	x->status = status;
	x->content_type = ctype;
	if (body && (x->out = malloc(len ? len : 1)) != NULL) {
		memcpy(x->out, body, len);
		x->out_len = len;
	} else if (body) {
		x->status = NNG_HTTP_STATUS_INTERNAL_SERVER_ERROR;
	}
}

void st_http_reply_error(struct st_http_exchange *x, uint16_t status, const char *msg)
{
	json_object *o = json_object_new_object();
	const char *t;

	json_object_object_add(o, "ok", json_object_new_boolean(0));
	json_object_object_add(o, "error", json_object_new_string(msg));
	t = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	st_http_reply(x, status, "application/json", t, strlen(t));
	json_object_put(o);
}

static int hexval(int c)
{
	return isdigit(c) ? c - '0' : isxdigit(c) ? (tolower(c) - 'a' + 10) : -1;
}

int st_http_query_param(const char *uri, const char *name, char *buf, size_t len)
{
	const char *q = uri ? strchr(uri, '?') : NULL;
	size_t nl = strlen(name);

	while (q && *q) {
		const char *p = q + 1, *end = strchr(p, '&');
		size_t o = 0;

		if (!end)
			end = p + strlen(p);
		if ((size_t)(end - p) > nl && !strncmp(p, name, nl) && p[nl] == '=') {
			for (p += nl + 1; p < end && o + 1 < len; p++) {
				int hi, lo;

				if (*p == '+') {
					buf[o++] = ' ';
				} else if (*p == '%' && end - p >= 3 && (hi = hexval(p[1])) >= 0 &&
					   (lo = hexval(p[2])) >= 0) {
					buf[o++] = (char)(hi * 16 + lo);
					p += 2;
				} else {
					buf[o++] = *p;
				}
			}
			buf[o] = 0;
			return 1;
		}
		q = *end ? end : NULL;
	}
	return 0;
}

static void srv_free(struct st_httpsrv *s)
{
	pthread_mutex_destroy(&s->mu);
	free(s->routes);
	free(s);
}

static int add_routes(struct st_httpsrv *s)
{
	for (size_t i = 0; i < s->nroutes; i++) {
		struct h_route *hr = &s->routes[i];
		nng_http_handler *h = NULL;
		int rv;

		if ((rv = nng_http_handler_alloc(&h, hr->r.path, handler_cb)) != 0 ||
		    (rv = nng_http_handler_set_data(h, hr, NULL)) != 0 ||
		    (rv = nng_http_handler_set_method(h, hr->r.method)) != 0 ||
		    (hr->r.tree && (rv = nng_http_handler_set_tree(h)) != 0) ||
		    (rv = nng_http_handler_collect_body(h, hr->r.max_body > 0, hr->r.max_body)) != 0 ||
		    (rv = nng_http_server_add_handler(s->srv, h)) != 0) {
			if (h)
				nng_http_handler_free(h);
			return rv;
		}
	}
	return 0;
}

int st_httpsrv_start(uv_loop_t *loop, const char *url, const char *what,
		     const struct st_http_route *routes, size_t n, const char *cert,
		     const char *key, struct st_httpsrv **out)
{
	struct st_httpsrv *s = calloc(1, sizeof(*s));
	nng_tls_config *tls = NULL;
	nng_url *u = NULL;
	int rv = 0, https;

	*out = NULL;
	if (!s || !(s->routes = calloc(n, sizeof(*s->routes)))) {
		fprintf(stderr, "error: %s: out of memory\n", what);
		free(s);
		return ST_EXIT_FAIL;
	}
	s->loop = loop;
	s->nroutes = n;
	s->tail = &s->head;
	pthread_mutex_init(&s->mu, NULL);
	for (size_t i = 0; i < n; i++)
		s->routes[i] = (struct h_route){ routes[i], s };

	if (nng_url_parse(&u, url) != 0 ||
	    (strcmp(u->u_scheme, "http") && strcmp(u->u_scheme, "https"))) {
		fprintf(stderr, "error: %s %s: expected http://ADDR:PORT or https://ADDR:PORT\n",
			what, url);
		if (u)
			nng_url_free(u);
		srv_free(s);
		return ST_EXIT_USAGE;
	}
	https = !strcmp(u->u_scheme, "https");
	if (https && (!cert || !key)) {
		fprintf(stderr, "error: %s %s: https needs a certificate and key (--tls-cert, --tls-key)\n",
			what, url);
		nng_url_free(u);
		srv_free(s);
		return ST_EXIT_USAGE;
	}
	if ((rv = nng_http_server_hold(&s->srv, u)) != 0) {
		s->srv = NULL;
		goto fail;
	}
	if (https && ((rv = st_tls_server_config(cert, key, &tls)) != 0 ||
		      (rv = nng_http_server_set_tls(s->srv, tls)) != 0))
		goto fail;
	if ((rv = add_routes(s)) != 0)
		goto fail;
	uv_async_init(loop, &s->wake, wake_cb);
	s->wake.data = s;
	if ((rv = nng_http_server_start(s->srv)) != 0) {
		uv_close((uv_handle_t *)&s->wake, NULL);
		uv_run(loop, UV_RUN_NOWAIT);
		goto fail;
	}
	s->started = 1;
	if (tls)
		nng_tls_config_free(tls);
	pr_info("%s: serving %s://%s:%s", what, u->u_scheme, u->u_hostname, u->u_port);
	nng_url_free(u);
	*out = s;
	return 0;

fail:
	fprintf(stderr, "error: %s %s: %s\n", what, url, nng_strerror(rv));
	if (tls)
		nng_tls_config_free(tls);
	if (s->srv)
		nng_http_server_release(s->srv);
	nng_url_free(u);
	srv_free(s);
	return rv == NNG_EADDRINVAL || rv == NNG_ENOTSUP ? ST_EXIT_USAGE : ST_EXIT_FAIL;
}

void st_httpsrv_stop(struct st_httpsrv *s)
{
	struct h_req *list, *r;

	if (!s)
		return;
	/* From here on the handler answers 503 itself and never wakes us. */
	list = take_all(s, 1);
	while ((r = list) != NULL) {
		list = r->next;
		finish_status(r->aio, NNG_HTTP_STATUS_SERVICE_UNAVAILABLE);
		free(r);
	}
	if (s->started)
		nng_http_server_stop(s->srv);
	nng_http_server_release(s->srv);
	if (s->started) {
		uv_close((uv_handle_t *)&s->wake, NULL);
		uv_run(s->loop, UV_RUN_NOWAIT);
	}
	srv_free(s);
}
