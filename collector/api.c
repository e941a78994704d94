// SPDX-License-Identifier: MIT
/*
 * The query API over HTTP(S): the same queries as the CLI's nng socket,
 * as JSON, for dashboards, report jobs and tenants' own tooling.
 *
 *   POST /v1/query            body: {"query": NAME, ...} (docs/queries.md)
 *   GET  /v1/NAME?PARAMS      NAME matrix|paths|gap|upcall|slo|tenants|hosts|clocks|stats;
 *                             PARAMS since, until (Unix s), last (e.g. 5m),
 *                             src, dst, tenant, pair_id, slowest
 *
 * Every request needs "Authorization: Bearer TOKEN". The operator's token
 * (--api-admin-token) sees everything; a tenant's (--tenant-token) sees
 * only cells whose both ends are that tenant's, and gets 403 for fleet
 * queries (hosts, clocks, stats) and for other tenants. 401 without a
 * valid token. Every request and every refusal is counted (stats query,
 * /metrics) and refusals are logged. Served by common/httpsrv.c, so all of
 * this runs on the collector's loop thread.
 */
#include "api.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector.h"
#include "httpsrv.h"
#include "log.h"
#include "timeutil.h"

#define API_MAX_BODY 65536

static const char *const get_queries[] = {
	"matrix", "paths", "gap", "upcall", "slo", "tenants", "hosts", "clocks", "stats",
};

static void answer(struct st_collector *c, struct st_http_exchange *x, json_object *o, int status)
{
	const char *t = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);

	if (status == 400 || status == 404)
		c->c.api_bad++;
	else if (status == 403)
		c->c.api_forbidden++;
	st_http_reply(x, (uint16_t)status, "application/json", t, strlen(t));
	json_object_put(o);
}

/* Query parameters of a GET as the request object of a query. */
static json_object *from_params(const char *name, const char *uri, char *err, size_t elen)
{
	static const char *const strs[] = { "src", "dst", "tenant", "pair_id" };
	json_object *q = json_object_new_object();
	char v[256];
	uint64_t n;

	json_object_object_add(q, "query", json_object_new_string(name));
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		if (st_http_query_param(uri, strs[i], v, sizeof(v)))
			json_object_object_add(q, strs[i], json_object_new_string(v));
	if (st_http_query_param(uri, "last", v, sizeof(v))) {
		double s;

		if (st_parse_duration(v, &s) || s <= 0) {
			snprintf(err, elen, "last=%.60s: expected a duration such as 300, 5m or 2h", v);
			goto bad;
		}
		json_object_object_add(q, "since", json_object_new_int64(
			(int64_t)(st_real_ns() / 1000000000ull) - (int64_t)s));
	}
	static const char *const nums[] = { "since", "until", "slowest", "port" };
	for (size_t i = 0; i < 4; i++) {
		if (!st_http_query_param(uri, nums[i], v, sizeof(v)))
			continue;
		if (st_parse_u64(v, &n) || n > (uint64_t)INT64_MAX) {
			snprintf(err, elen, "%s=%.60s: expected a non-negative integer", nums[i], v);
			goto bad;
		}
		json_object_object_add(q, nums[i], json_object_new_int64((int64_t)n));
	}
	return q;
bad:
	json_object_put(q);
	return NULL;
}

static const char *bearer(const char *auth)
{
	if (!auth || strncasecmp(auth, "Bearer ", 7))
		return NULL;
	auth += 7;
	while (*auth == ' ')
		auth++;
	return auth;
}

static void api_cb(void *arg, struct st_http_exchange *x)
{
	struct st_collector *c = arg;
	const char *path = x->uri + strlen("/v1/");
	size_t plen = strcspn(path, "?");
	json_object *q = NULL;
	char name[32], err[160];
	int who, status;

	c->c.api_requests++;
	who = c_token_who(&c->tenants, bearer(x->authorization));
	if (who == -2) {
		c->c.api_unauthorized++;
		pr_warn("api: %s %.80s refused: %s", x->method, x->uri,
			x->authorization ? "unknown token" : "no bearer token");
		x->www_authenticate = "Bearer realm=\"stagetrace\"";
		st_http_reply_error(x, 401, "a valid bearer token is required");
		return;
	}
	if (plen == 0 || plen >= sizeof(name)) {
		c->c.api_bad++;
		st_http_reply_error(x, 404, "unknown endpoint; see /v1/query and /v1/NAME");
		return;
	}
	memcpy(name, path, plen);
	name[plen] = 0;
	if (!strcmp(name, "query")) {
		struct json_tokener *tok;

		if (strcmp(x->method, "POST")) {
			c->c.api_bad++;
			st_http_reply_error(x, 405, "use POST for /v1/query");
			return;
		}
		tok = json_tokener_new();
		q = tok ? json_tokener_parse_ex(tok, x->body ? x->body : "", (int)x->body_len) : NULL;
		json_tokener_free(tok);
	} else {
		size_t i;

		for (i = 0; i < sizeof(get_queries) / sizeof(get_queries[0]); i++)
			if (!strcmp(name, get_queries[i]))
				break;
		if (i == sizeof(get_queries) / sizeof(get_queries[0])) {
			c->c.api_bad++;
			st_http_reply_error(x, 404, "unknown endpoint; see /v1/query and /v1/NAME");
			return;
		}
		if (strcmp(x->method, "GET")) {
			c->c.api_bad++;
			st_http_reply_error(x, 405, "use GET for /v1/NAME");
			return;
		}
		if (!(q = from_params(name, x->uri, err, sizeof(err)))) {
			c->c.api_bad++;
			st_http_reply_error(x, 400, err);
			return;
		}
	}
	{
		json_object *ans = c_query_run(c, q, who, &status);

		if (status == 403)
			pr_warn("api: tenant %s refused: %s", who >= 0 ? c->tenants.t[who].name : "-",
				json_object_get_string(json_object_object_get(ans, "error")));
		answer(c, x, ans, status);
	}
	json_object_put(q);
}

int c_api_start(struct st_collector *c, const char *url)
{
	struct st_http_route r = {
		.path = "/v1", .tree = 1, .method = NULL, .max_body = API_MAX_BODY,
		.fn = api_cb, .arg = c,
	};
	int tokens = c->tenants.admin_token != NULL;

	for (int i = 0; i < c->tenants.n; i++)
		tokens += c->tenants.t[i].token != NULL;
	if (!tokens) {
		fprintf(stderr, "error: --api %s: no token would be accepted; give --api-admin-token and/or --tenant-token\n",
			url);
		return ST_EXIT_USAGE;
	}
	return st_httpsrv_start(c->loop, url, "--api", &r, 1, c->cfg.tls.cert, c->cfg.tls.key,
				&c->api);
}

void c_api_stop(struct st_collector *c)
{
	st_httpsrv_stop(c->api);
	c->api = NULL;
}
