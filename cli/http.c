// SPDX-License-Identifier: MIT
/*
 * The CLI's side of the collector's HTTP query API: POST the query to
 * BASE/v1/query with the bearer token, return the JSON body. Used by
 * cli_query() when the collector URL is http:// or https://, so every
 * query command works against the API unchanged. The token comes from
 * $STAGETRACE_TOKEN, or the first line of $STAGETRACE_TOKEN_FILE; https
 * verifies the server against $STAGETRACE_CA (a PEM bundle).
 */
#include "cli.h"

#include <arpa/inet.h>
#include <nng/nng.h>
#include <nng/supplemental/http/http.h>
#include <nng/supplemental/tls/tls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opts.h"

/* The token, or NULL after an error message (exit code in *rc). */
static char *token(int *rc)
{
	const char *t = getenv("STAGETRACE_TOKEN"), *f = getenv("STAGETRACE_TOKEN_FILE");
	char buf[512], *nl;
	FILE *fp;

	if (t && *t)
		return strdup(t);
	if (!f || !*f) {
		fprintf(stderr, "error: the HTTP API needs a token: set STAGETRACE_TOKEN or STAGETRACE_TOKEN_FILE\n");
		*rc = ST_EXIT_USAGE;
		return NULL;
	}
	if (!(fp = fopen(f, "r")) || !fgets(buf, sizeof(buf), fp)) {
		fprintf(stderr, "error: STAGETRACE_TOKEN_FILE %s: cannot read a token\n", f);
		if (fp)
			fclose(fp);
		*rc = ST_EXIT_USAGE;
		return NULL;
	}
	fclose(fp);
	if ((nl = strpbrk(buf, "\r\n")) != NULL)
		*nl = 0;
	return strdup(buf);
}

static int is_ip(const char *host)
{
	struct in6_addr a;

	return inet_pton(AF_INET, host, &a) == 1 || inet_pton(AF_INET6, host, &a) == 1;
}

static int tls_setup(nng_http_client *cli, const nng_url *u, nng_tls_config **cfg)
{
	const char *ca = getenv("STAGETRACE_CA");
	int rv;

	if (!ca || !*ca) {
		fprintf(stderr, "error: https needs the CA that signed the collector's certificate: set STAGETRACE_CA\n");
		return ST_EXIT_USAGE;
	}
	/* mbedTLS 2.28 matches host names, not IP addresses, against the
	 * certificate: for an address, the chain to the CA is what is checked
	 * (as on the agents' tls+tcp:// connections). */
	if ((rv = nng_tls_config_alloc(cfg, NNG_TLS_MODE_CLIENT)) != 0 ||
	    (rv = nng_tls_config_ca_file(*cfg, ca)) != 0 ||
	    (!is_ip(u->u_hostname) &&
	     (rv = nng_tls_config_server_name(*cfg, u->u_hostname)) != 0) ||
	    (rv = nng_http_client_set_tls(cli, *cfg)) != 0) {
		fprintf(stderr, "error: TLS set-up (STAGETRACE_CA %s): %s\n", ca, nng_strerror(rv));
		return ST_EXIT_FAIL;
	}
	return 0;
}

int cli_http_query(const char *url, double timeout_s, const char *body, char **out)
{
	nng_url *u = NULL;
	nng_http_client *cli = NULL;
	nng_http_req *req = NULL;
	nng_http_res *res = NULL;
	nng_tls_config *tls = NULL;
	nng_aio *aio = NULL;
	char *tok = NULL, auth[600], path[512];
	void *data;
	size_t len, pl;
	int rc = ST_EXIT_FAIL, rv;

	*out = NULL;
	if (!(tok = token(&rc)))
		return rc;
	if ((rv = nng_url_parse(&u, url)) != 0) {
		fprintf(stderr, "error: collector URL %s: %s\n", url, nng_strerror(rv));
		free(tok);
		return ST_EXIT_USAGE;
	}
	pl = strlen(u->u_path);
	while (pl && u->u_path[pl - 1] == '/')
		pl--;
	snprintf(path, sizeof(path), "%.*s/v1/query", (int)pl, u->u_path);
	snprintf(auth, sizeof(auth), "Bearer %s", tok);
	if ((rv = nng_http_client_alloc(&cli, u)) != 0)
		goto nng_fail;
	if (!strcmp(u->u_scheme, "https") && (rc = tls_setup(cli, u, &tls)) != 0)
		goto out;
	if ((rv = nng_http_req_alloc(&req, u)) != 0 ||
	    (rv = nng_http_req_set_method(req, "POST")) != 0 ||
	    (rv = nng_http_req_set_uri(req, path)) != 0 ||
	    (rv = nng_http_req_set_header(req, "Content-Type", "application/json")) != 0 ||
	    (rv = nng_http_req_set_header(req, "Authorization", auth)) != 0 ||
	    (rv = nng_http_req_copy_data(req, body, strlen(body))) != 0 ||
	    (rv = nng_aio_alloc(&aio, NULL, NULL)) != 0)
		goto nng_fail;
	/* A query only reads, so a connection the far end shut before any
	 * answer came (seen once in CI with nng 1.5's TLS client while the
	 * collector was busy) is tried once more, and said. */
	for (int attempt = 0; attempt < 2; attempt++) {
		if (res)
			nng_http_res_free(res);
		res = NULL;
		if ((rv = nng_http_res_alloc(&res)) != 0)
			goto nng_fail;
		nng_aio_set_timeout(aio, (nng_duration)(timeout_s * 1000));
		nng_http_client_transact(cli, req, res, aio);
		nng_aio_wait(aio);
		rv = nng_aio_result(aio);
		if (attempt || (rv != NNG_ECONNSHUT && rv != NNG_ECONNRESET && rv != NNG_ECLOSED))
			break;
		fprintf(stderr, "warning: collector API %s: %s before an answer; trying once more\n",
			url, nng_strerror(rv));
	}
	if (rv != 0) {
		fprintf(stderr, "error: collector API %s did not answer: %s\n", url, nng_strerror(rv));
		rc = ST_EXIT_UNREACHABLE;
		goto out;
	}
	nng_http_res_get_data(res, &data, &len);
	if (nng_http_res_get_status(res) == 401) {
		fprintf(stderr, "error: collector API %s: token refused (401)\n", url);
		rc = ST_EXIT_FAIL;
		goto out;
	}
	/* Other statuses carry {"ok":false,"error":...}: the caller reports it. */
	if ((*out = malloc(len + 1)) != NULL) {
		memcpy(*out, data, len);
		(*out)[len] = 0;
		rc = 0;
	}
	goto out;
nng_fail:
	fprintf(stderr, "error: collector API %s: %s\n", url, nng_strerror(rv));
	rc = rv == NNG_EADDRINVAL || rv == NNG_ENOTSUP ? ST_EXIT_USAGE : ST_EXIT_FAIL;
out:
	if (aio)
		nng_aio_free(aio);
	if (res)
		nng_http_res_free(res);
	if (req)
		nng_http_req_free(req);
	if (cli)
		nng_http_client_free(cli);
	if (tls)
		nng_tls_config_free(tls);
	nng_url_free(u);
	free(tok);
	return rc;
}
