// SPDX-License-Identifier: MIT
#include "cli.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "opts.h"

const char *cli_collector_default(void)
{
	const char *e = getenv("STAGETRACE_COLLECTOR");

	return e && *e ? e : CLI_DEFAULT_COLLECTOR;
}

static int check_answer(const char *url, json_object *ans, json_object **out);

int cli_query(const char *url, double timeout_s, json_object *q, json_object **out)
{
	const char *body = json_object_to_json_string_ext(q, JSON_C_TO_STRING_PLAIN);
	nng_socket s;
	nng_msg *m = NULL;
	json_object *ans;
	struct json_tokener *tok;
	int rv;

	*out = NULL;
	if (!strncmp(url, "http://", 7) || !strncmp(url, "https://", 8)) {
		char *text = NULL;

		if ((rv = cli_http_query(url, timeout_s, body, &text)) != 0)
			return rv;
		ans = json_tokener_parse(text);
		free(text);
		return check_answer(url, ans, out);
	}
	if ((rv = nng_req0_open(&s)) != 0) {
		fprintf(stderr, "error: nng: %s\n", nng_strerror(rv));
		return ST_EXIT_FAIL;
	}
	nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, (nng_duration)(timeout_s * 1000));
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, (nng_duration)(timeout_s * 1000));
	if ((rv = nng_dial(s, url, NULL, 0)) != 0) {
		fprintf(stderr, "error: collector %s unreachable: %s\n", url, nng_strerror(rv));
		nng_close(s);
		return rv == NNG_EADDRINVAL || rv == NNG_ENOTSUP ? ST_EXIT_USAGE :
								  ST_EXIT_UNREACHABLE;
	}
	if ((rv = nng_send(s, (void *)body, strlen(body), 0)) != 0 ||
	    (rv = nng_recvmsg(s, &m, 0)) != 0) {
		fprintf(stderr, "error: collector %s did not answer: %s\n", url, nng_strerror(rv));
		nng_close(s);
		return ST_EXIT_UNREACHABLE;
	}
	tok = json_tokener_new();
	ans = tok ? json_tokener_parse_ex(tok, nng_msg_body(m), (int)nng_msg_len(m)) : NULL;
	json_tokener_free(tok);
	nng_msg_free(m);
	nng_close(s);
	return check_answer(url, ans, out);
}

/* Takes ans: 0 with *out set when it is a successful answer. */
static int check_answer(const char *url, json_object *ans, json_object **out)
{
	json_object *ok, *err;

	if (!ans || !json_object_object_get_ex(ans, "ok", &ok)) {
		fprintf(stderr, "error: collector %s sent a malformed answer\n", url);
		json_object_put(ans);
		return ST_EXIT_FAIL;
	}
	if (!json_object_get_boolean(ok)) {
		fprintf(stderr, "error: collector: %s\n",
			json_object_object_get_ex(ans, "error", &err) ?
			json_object_get_string(err) : "query failed");
		json_object_put(ans);
		return ST_EXIT_FAIL;
	}
	*out = ans;
	return 0;
}

int cli_simple_query(int argc, char **argv, const char *query,
		     const struct st_cmd_help *help, json_object **ans, int *json)
{
	const char *url = cli_collector_default();
	double timeout = 5;
	int rc;
	json_object *q;
	struct st_opt opts[] = {
		{ "collector", 'C', ST_OPT_STR, &url, "URL", "collector query address (default $STAGETRACE_COLLECTOR or " CLI_DEFAULT_COLLECTOR ")" },
		{ "json", 'j', ST_OPT_FLAG, json, NULL, "print the collector's JSON answer" },
		{ "timeout", 't', ST_OPT_DURATION, &timeout, "DUR", "give up on the collector after this (default 5s)", 0.01, 3600 },
		ST_OPT_END,
	};

	*ans = NULL;
	if (st_opts_parse_noargs(argc, argv, opts, help, &rc))
		return rc == ST_EXIT_OK ? ST_EXIT_HELP : rc;
	q = json_object_new_object();
	json_object_object_add(q, "query", json_object_new_string(query));
	rc = cli_query(url, timeout, q, ans);
	json_object_put(q);
	return rc;
}

void cli_scope_init(struct cli_scope *s)
{
	*s = (struct cli_scope){ .url = cli_collector_default(), .last = 3600, .timeout = 5 };
}

int cli_range(double last, uint64_t *since, uint64_t *until)
{
	if (!*until)
		*until = (uint64_t)time(NULL);
	if (!*since)
		*since = *until > (uint64_t)last ? *until - (uint64_t)last : 0;
	if (*since > *until) {
		fprintf(stderr, "error: --since is after --until\n");
		return ST_EXIT_USAGE;
	}
	return 0;
}

int cli_query_matrix(const char *url, double timeout, uint64_t since, uint64_t until,
		     json_object **ans)
{
	return cli_query_matrix_scoped(url, timeout, since, until, NULL, NULL, ans);
}

int cli_query_matrix_scoped(const char *url, double timeout, uint64_t since, uint64_t until,
			    const char *tenant, const char *pair_id, json_object **ans)
{
	json_object *q = json_object_new_object();
	int rc;

	json_object_object_add(q, "query", json_object_new_string("matrix"));
	json_object_object_add(q, "since", json_object_new_int64((int64_t)since));
	json_object_object_add(q, "until", json_object_new_int64((int64_t)until));
	if (tenant)
		json_object_object_add(q, "tenant", json_object_new_string(tenant));
	if (pair_id)
		json_object_object_add(q, "pair_id", json_object_new_string(pair_id));
	rc = cli_query(url, timeout, q, ans);
	json_object_put(q);
	return rc;
}

json_object *cli_range_query(const char *name, uint64_t since, uint64_t until, const char *src,
			     const char *dst)
{
	json_object *q = json_object_new_object();

	json_object_object_add(q, "query", json_object_new_string(name));
	json_object_object_add(q, "since", json_object_new_int64((int64_t)since));
	json_object_object_add(q, "until", json_object_new_int64((int64_t)until));
	if (src)
		json_object_object_add(q, "src", json_object_new_string(src));
	if (dst)
		json_object_object_add(q, "dst", json_object_new_string(dst));
	return q;
}
