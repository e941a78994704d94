/* SPDX-License-Identifier: MIT */
/*
 * The collector's query API over HTTP(S) with bearer tokens; see api.c for
 * the endpoints and the rules of who sees what.
 */
#ifndef ST_API_H
#define ST_API_H

struct st_collector;

/* Serve the API at url (http:// or https://, the latter with the
 * collector's --tls-cert/--tls-key). 0, or an exit code after one line. */
int c_api_start(struct st_collector *c, const char *url);
void c_api_stop(struct st_collector *c);

#endif /* ST_API_H */
