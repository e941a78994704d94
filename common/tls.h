/* SPDX-License-Identifier: MIT */
/*
 * Transport security for the agent <-> collector connection.
 *
 * Agents and collector authenticate each other with certificates from one
 * CA (mutual TLS over nng's tls+tcp:// transport, mbedTLS underneath): the
 * collector requires a client certificate, the agent verifies the
 * collector's certificate and its name (the host in the URL). Plain tcp://
 * towards the network is refused unless --insecure-plaintext is given, and
 * then it is logged as a warning. ipc:// and inproc:// (same machine) need
 * no TLS; neither does a listener bound to a loopback address.
 *
 * Dialers and listeners are created unstarted, configured, then started,
 * so no connection is ever attempted without the configuration.
 */
#ifndef ST_TLS_H
#define ST_TLS_H

#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>

struct st_tls_opts {
	const char *cert;	/* PEM certificate */
	const char *key;	/* PEM private key */
	const char *ca;		/* PEM CA bundle peers must chain to */
	int insecure_plaintext;
};

/* The option table rows every daemon shares. */
#define ST_TLS_OPTS(o)                                                             \
	{ "tls-cert", 0, ST_OPT_STR, &(o)->cert, "PEM", "this side's certificate (tls+tcp://)" }, \
	{ "tls-key", 0, ST_OPT_STR, &(o)->key, "PEM", "this side's private key" },             \
	{ "tls-ca", 0, ST_OPT_STR, &(o)->ca, "PEM", "CA that the peer's certificate must chain to" }, \
	{ "insecure-plaintext", 0, ST_OPT_FLAG, &(o)->insecure_plaintext, NULL,             \
	  "allow unencrypted, unauthenticated tcp:// (logged as a warning)" }

/*
 * Validate the URL against the options: 0, or -EINVAL with a one-line
 * reason in err (naming the option to fix).
 */
int st_tls_check(const char *url, const struct st_tls_opts *o, int listening,
		 char *err, size_t errlen);
/* Test tools: the options from ST_TLS_CERT, ST_TLS_KEY, ST_TLS_CA. */
void st_tls_from_env(struct st_tls_opts *o);
/* Create, secure and start a dialer (non-blocking) or a listener. */
int st_tls_dial(nng_socket s, const char *url, const struct st_tls_opts *o,
		nng_dialer *d);
int st_tls_listen(nng_socket s, const char *url, const struct st_tls_opts *o,
		  nng_listener *l);

/* A server-side TLS configuration that asks clients for no certificate
 * (HTTPS endpoints that authenticate with tokens). 0 or an nng error. */
int st_tls_server_config(const char *cert, const char *key, nng_tls_config **out);

#endif /* ST_TLS_H */
