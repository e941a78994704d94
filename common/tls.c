// SPDX-License-Identifier: MIT
#include "tls.h"

#include <errno.h>
#include <stdlib.h>
#include <nng/supplemental/tls/tls.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static int is_tls(const char *url)
{
	return !strncmp(url, "tls+tcp://", 10) || !strncmp(url, "tls+tcp4://", 11) ||
	       !strncmp(url, "tls+tcp6://", 11);
}

static int is_local(const char *url)
{
	return !strncmp(url, "ipc://", 6) || !strncmp(url, "inproc://", 9) ||
	       !strncmp(url, "tcp://127.", 10) || !strncmp(url, "tcp://localhost:", 16) ||
	       !strncmp(url, "tcp://[::1]:", 12);
}

int st_tls_check(const char *url, const struct st_tls_opts *o, int listening,
		 char *err, size_t errlen)
{
	const char *files[3] = { o->cert, o->key, o->ca };
	const char *names[3] = { "--tls-cert", "--tls-key", "--tls-ca" };

	if (is_tls(url)) {
		for (int i = 0; i < 3; i++) {
			if (!files[i]) {
				snprintf(err, errlen, "%s is required for %s", names[i], url);
				return -EINVAL;
			}
			if (access(files[i], R_OK)) {
				snprintf(err, errlen, "%s %s: %s", names[i], files[i],
					 strerror(errno));
				return -EINVAL;
			}
		}
		return 0;
	}
	if (o->cert || o->key || o->ca) {
		snprintf(err, errlen, "TLS options given but %s is not a tls+tcp:// address", url);
		return -EINVAL;
	}
	if (!strncmp(url, "tcp", 3) && !o->insecure_plaintext &&
	    !is_local(url)) {
		snprintf(err, errlen, "%s is plaintext over the network: use tls+tcp:// "
			 "with --tls-cert/--tls-key/--tls-ca, or --insecure-plaintext", url);
		return -EINVAL;
	}
	return 0;
}

/* A whole PEM file as a NUL-terminated string (PEM is text). */
static char *read_pem(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && n < (1 << 20) &&
	    fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) != NULL) {
		if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		} else {
			buf[n] = '\0';
		}
	}
	fclose(f);
	return buf;
}

/*
 * A configuration with this side's certificate; ca NULL means peers are
 * not asked for a certificate (HTTPS endpoints that take bearer tokens),
 * else they must present one chaining to ca (mutual authentication).
 */
static int make_config(nng_tls_mode mode, const char *cert_path, const char *key_path,
		       const char *ca, nng_tls_config **out)
{
	nng_tls_config *c;
	char *cert = read_pem(cert_path), *key = read_pem(key_path);
	int rv;

	if (!cert || !key) {
		pr_err("TLS: cannot read %s", !cert ? cert_path : key_path);
		rv = NNG_EINVAL;
		goto out;
	}
	if ((rv = nng_tls_config_alloc(&c, mode)) != 0)
		goto out;
	if ((rv = nng_tls_config_auth_mode(c, ca ? NNG_TLS_AUTH_MODE_REQUIRED :
					   NNG_TLS_AUTH_MODE_NONE)) != 0 ||
	    (ca && (rv = nng_tls_config_ca_file(c, ca)) != 0) ||
	    (rv = nng_tls_config_own_cert(c, cert, key, NULL)) != 0) {
		pr_err("TLS configuration (%s, %s, %s): %s", cert_path, key_path, ca ? ca : "no CA",
		       nng_strerror(rv));
		nng_tls_config_free(c);
		goto out;
	}
	*out = c;
out:
	free(cert);
	free(key);
	return rv;
}

static int config(nng_tls_mode mode, const struct st_tls_opts *o, nng_tls_config **out)
{
	return make_config(mode, o->cert, o->key, o->ca, out);
}

int st_tls_server_config(const char *cert_path, const char *key_path, nng_tls_config **out)
{
	return make_config(NNG_TLS_MODE_SERVER, cert_path, key_path, NULL, out);
}

static void warn_plain(const char *url, const struct st_tls_opts *o)
{
	if (!strncmp(url, "tcp", 3) && o->insecure_plaintext)
		pr_warn("%s: plaintext, unauthenticated transport (--insecure-plaintext)", url);
}

int st_tls_dial(nng_socket s, const char *url, const struct st_tls_opts *o, nng_dialer *d)
{
	nng_tls_config *c = NULL;
	int rv;

	if ((rv = nng_dialer_create(d, s, url)) != 0)
		return rv;
	if (is_tls(url)) {
		if ((rv = config(NNG_TLS_MODE_CLIENT, o, &c)) != 0 ||
		    (rv = nng_dialer_set_ptr(*d, NNG_OPT_TLS_CONFIG, c)) != 0)
			goto out;
	} else {
		warn_plain(url, o);
	}
	/* Non-blocking: nng keeps redialling in the background. */
	rv = nng_dialer_start(*d, NNG_FLAG_NONBLOCK);
out:
	if (c)
		nng_tls_config_free(c);	/* the dialer holds its own reference */
	return rv;
}

int st_tls_listen(nng_socket s, const char *url, const struct st_tls_opts *o, nng_listener *l)
{
	nng_tls_config *c = NULL;
	int rv;

	if ((rv = nng_listener_create(l, s, url)) != 0)
		return rv;
	if (is_tls(url)) {
		if ((rv = config(NNG_TLS_MODE_SERVER, o, &c)) != 0 ||
		    (rv = nng_listener_set_ptr(*l, NNG_OPT_TLS_CONFIG, c)) != 0)
			goto out;
	} else {
		warn_plain(url, o);
	}
	rv = nng_listener_start(*l, 0);
out:
	if (c)
		nng_tls_config_free(c);
	return rv;
}

void st_tls_from_env(struct st_tls_opts *o)
{
	o->cert = getenv("ST_TLS_CERT");
	o->key = getenv("ST_TLS_KEY");
	o->ca = getenv("ST_TLS_CA");
	o->insecure_plaintext = getenv("ST_INSECURE_PLAINTEXT") != NULL;
}
