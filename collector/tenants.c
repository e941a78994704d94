// SPDX-License-Identifier: MIT
/* Tenants, tokens and named pairs; see tenants.h. */
#include "tenants.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "collector.h"
#include "log.h"

#define MIN_TOKEN_LEN 16

/* Tenant and pair ids: 1-47 of [A-Za-z0-9_.-]. */
static int valid_id(const char *s, size_t n)
{
	if (n == 0 || n >= 48)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("_.-", s[i]))
			return 0;
	return 1;
}

static int looks_like_cidr(const char *m)
{
	return isdigit((unsigned char)m[0]) && strchr(m, '.');
}

static int nets_overlap(const struct st_cidr *a, const struct st_cidr *b)
{
	uint32_t m = a->mask & b->mask;	/* the shorter prefix */

	return (a->addr & m) == (b->addr & m);
}

static int add_member(struct c_tenants *ts, struct c_tenant *t, const char *m,
		      const char *spec)
{
	if (looks_like_cidr(m)) {
		struct st_cidr net;

		if (st_parse_cidr(m, &net)) {
			fprintf(stderr, "error: --tenant %s: '%s' is not an IPv4 address or CIDR\n", spec, m);
			return -1;
		}
		for (int i = 0; i < ts->n; i++)
			for (int j = 0; j < ts->t[i].n_nets; j++)
				if (nets_overlap(&net, &ts->t[i].nets[j]) && &ts->t[i] != t) {
					fprintf(stderr, "error: --tenant %s: %s overlaps a network of tenant %s\n",
						spec, m, ts->t[i].name);
					return -1;
				}
		if (t->n_nets == C_MAX_MEMBERS)
			goto full;
		t->nets[t->n_nets++] = net;
		return 0;
	}
	if (strlen(m) >= 64) {
		fprintf(stderr, "error: --tenant %s: VM name '%s' is too long\n", spec, m);
		return -1;
	}
	for (int i = 0; i < ts->n; i++)
		for (int j = 0; j < ts->t[i].n_vms; j++)
			if (!strcmp(ts->t[i].vms[j], m)) {
				fprintf(stderr, "error: --tenant %s: VM %s is already in tenant %s\n",
					spec, m, ts->t[i].name);
				return -1;
			}
	if (t->n_vms == C_MAX_MEMBERS)
		goto full;
	t->vms[t->n_vms++] = strdup(m);
	return 0;
full:
	fprintf(stderr, "error: --tenant %s: more than %d members of one kind\n", spec, C_MAX_MEMBERS);
	return -1;
}

static int parse_tenant(struct c_tenants *ts, const char *spec)
{
	const char *eq = strchr(spec, '=');
	struct c_tenant *t;
	char *members, *save = NULL, *m;
	int rc = 0;

	if (!eq || !valid_id(spec, (size_t)(eq - spec)) || !eq[1]) {
		fprintf(stderr, "error: --tenant '%s': expected NAME=VM|CIDR[,VM|CIDR...] (NAME 1-47 of A-Z a-z 0-9 _ . -)\n",
			spec);
		return -1;
	}
	if (ts->n == C_MAX_TENANTS) {
		fprintf(stderr, "error: --tenant: at most %d tenants\n", C_MAX_TENANTS);
		return -1;
	}
	t = &ts->t[ts->n];
	memset(t, 0, sizeof(*t));
	memcpy(t->name, spec, (size_t)(eq - spec));
	if (c_tenant_find(ts, t->name) >= 0) {
		fprintf(stderr, "error: --tenant: tenant %s defined twice (list every member in one option)\n",
			t->name);
		return -1;
	}
	ts->n++;
	members = strdup(eq + 1);
	for (m = strtok_r(members, ",", &save); m && !rc; m = strtok_r(NULL, ",", &save))
		rc = add_member(ts, t, m, spec);
	free(members);
	return rc;
}

/* The first line of a token file; refuses short tokens. NULL after an error. */
static char *read_token(const char *opt, const char *path)
{
	FILE *f = fopen(path, "r");
	char buf[512], *nl;
	struct stat sb;

	if (!f) {
		fprintf(stderr, "error: %s %s: cannot read the token file\n", opt, path);
		return NULL;
	}
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	if (!fstat(fileno(f), &sb) && (sb.st_mode & 0004))
		pr_warn("%s %s: token file is world-readable", opt, path);
	fclose(f);
	if ((nl = strpbrk(buf, "\r\n")) != NULL)
		*nl = 0;
	if (strlen(buf) < MIN_TOKEN_LEN) {
		fprintf(stderr, "error: %s %s: token shorter than %d characters\n", opt, path,
			MIN_TOKEN_LEN);
		return NULL;
	}
	return strdup(buf);
}

static int parse_token(struct c_tenants *ts, const char *spec)
{
	const char *eq = strchr(spec, '=');
	char name[48];
	int t;

	if (!eq || !valid_id(spec, (size_t)(eq - spec)) || !eq[1]) {
		fprintf(stderr, "error: --tenant-token '%s': expected TENANT=FILE\n", spec);
		return -1;
	}
	memcpy(name, spec, (size_t)(eq - spec));
	name[eq - spec] = 0;
	if ((t = c_tenant_find(ts, name)) < 0) {
		fprintf(stderr, "error: --tenant-token %s: no tenant %s (define it with --tenant)\n", spec, name);
		return -1;
	}
	if (ts->t[t].token) {
		fprintf(stderr, "error: --tenant-token %s: tenant %s has a token already\n", spec, name);
		return -1;
	}
	return (ts->t[t].token = read_token("--tenant-token", eq + 1)) ? 0 : -1;
}

static int parse_pair_id(struct c_tenants *ts, const char *spec)
{
	const char *eq = strchr(spec, '='), *gt = eq ? strchr(eq, '>') : NULL;
	struct c_pair_id *p;

	if (!eq || !gt || !valid_id(spec, (size_t)(eq - spec)) || gt == eq + 1 || !gt[1] ||
	    strchr(gt + 1, '>') || gt - eq - 1 >= 64 || strlen(gt + 1) >= 64) {
		fprintf(stderr, "error: --pair-id '%s': expected ID=SRC>DST (VM names or addresses)\n", spec);
		return -1;
	}
	if (ts->n_pairs == C_MAX_PAIR_IDS) {
		fprintf(stderr, "error: --pair-id: at most %d named pairs\n", C_MAX_PAIR_IDS);
		return -1;
	}
	p = &ts->pairs[ts->n_pairs];
	memset(p, 0, sizeof(*p));
	memcpy(p->id, spec, (size_t)(eq - spec));
	if (c_pair_id_find(ts, p->id)) {
		fprintf(stderr, "error: --pair-id %s: id %s defined twice\n", spec, p->id);
		return -1;
	}
	p->src = strndup(eq + 1, (size_t)(gt - eq - 1));
	p->dst = strdup(gt + 1);
	ts->n_pairs++;
	return 0;
}

int c_tenants_parse(struct c_tenants *ts, const struct st_strlist *tenants,
		    const struct st_strlist *tokens, const char *admin_token_file,
		    const struct st_strlist *pair_ids)
{
	for (int i = 0; i < tenants->n; i++)
		if (parse_tenant(ts, tenants->v[i]))
			return ST_EXIT_USAGE;
	for (int i = 0; i < tokens->n; i++)
		if (parse_token(ts, tokens->v[i]))
			return ST_EXIT_USAGE;
	for (int i = 0; i < pair_ids->n; i++)
		if (parse_pair_id(ts, pair_ids->v[i]))
			return ST_EXIT_USAGE;
	if (admin_token_file &&
	    !(ts->admin_token = read_token("--api-admin-token", admin_token_file)))
		return ST_EXIT_USAGE;
	for (int i = 0; i < ts->n; i++) {
		for (int j = i + 1; j < ts->n; j++) {
			if (ts->t[i].token && ts->t[j].token && !strcmp(ts->t[i].token, ts->t[j].token)) {
				fprintf(stderr, "error: --tenant-token: tenants %s and %s share a token\n",
					ts->t[i].name, ts->t[j].name);
				return ST_EXIT_USAGE;
			}
		}
		if (ts->t[i].token && ts->admin_token && !strcmp(ts->t[i].token, ts->admin_token)) {
			fprintf(stderr, "error: --tenant-token: tenant %s has the admin token\n", ts->t[i].name);
			return ST_EXIT_USAGE;
		}
	}
	return 0;
}

void c_tenants_free(struct c_tenants *ts)
{
	for (int i = 0; i < ts->n; i++) {
		for (int j = 0; j < ts->t[i].n_vms; j++)
			free(ts->t[i].vms[j]);
		free(ts->t[i].token);
	}
	for (int i = 0; i < ts->n_pairs; i++) {
		free(ts->pairs[i].src);
		free(ts->pairs[i].dst);
	}
	free(ts->admin_token);
	if (ts->cache_on)
		st_u64map_free(&ts->cache);
	memset(ts, 0, sizeof(*ts));
}

int c_tenant_find(const struct c_tenants *ts, const char *name)
{
	for (int i = 0; i < ts->n; i++)
		if (!strcmp(ts->t[i].name, name))
			return i;
	return -1;
}

static int addr_tenant(const struct c_tenants *ts, uint32_t a)
{
	for (int i = 0; i < ts->n; i++)
		for (int j = 0; j < ts->t[i].n_nets; j++)
			if ((a & ts->t[i].nets[j].mask) == ts->t[i].nets[j].addr)
				return i;
	return -1;
}

int c_tenant_of(struct st_collector *c, const char *endpoint)
{
	const struct c_tenants *ts = &c->tenants;
	struct in_addr a;
	size_t it = 0;
	uint64_t k;
	void *v;

	if (!ts->n)
		return -1;
	for (int i = 0; i < ts->n; i++)
		for (int j = 0; j < ts->t[i].n_vms; j++)
			if (!strcmp(ts->t[i].vms[j], endpoint))
				return i;
	if (inet_pton(AF_INET, endpoint, &a) == 1)
		return addr_tenant(ts, a.s_addr);
	/* A VM name: any address it was seen with. */
	while (st_u64map_next(&c->ipnames, &it, &k, &v)) {
		int t;

		if (strcmp(v, endpoint))
			continue;
		if ((t = addr_tenant(ts, (uint32_t)k)) >= 0)
			return t;
	}
	return -1;
}

static uint64_t name_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h | 1;
}

/*
 * Cached by name hash alone: two names with the same 64-bit hash would
 * share an answer. With at most a few thousand endpoint names the chance
 * is ~1e-13; the uncached path is the reference (queries use it).
 */
int c_tenant_of_cached(struct st_collector *c, const char *endpoint)
{
	struct c_tenants *ts = &c->tenants;
	uint64_t h = name_hash(endpoint);
	void *v;
	int t;

	if (!ts->n)
		return -1;
	if (!ts->cache_on) {
		st_u64map_init(&ts->cache, 256);
		ts->cache_on = 1;
	}
	if ((v = st_u64map_get(&ts->cache, h)) != NULL)
		return (int)(uintptr_t)v - 2;
	t = c_tenant_of(c, endpoint);
	if (ts->cache.len < 100000)
		st_u64map_put(&ts->cache, h, (void *)(uintptr_t)(t + 2));
	return t;
}

void c_tenant_cache_clear(struct st_collector *c)
{
	if (c->tenants.cache_on) {
		st_u64map_free(&c->tenants.cache);
		c->tenants.cache_on = 0;
	}
}

int c_in_scope(struct st_collector *c, int scope, const char *src, const char *dst)
{
	return scope < 0 || (c_tenant_of(c, src) == scope && c_tenant_of(c, dst) == scope);
}

const char *c_pair_id_of(const struct c_tenants *ts, const char *src, const char *dst)
{
	for (int i = 0; i < ts->n_pairs; i++)
		if (!strcmp(ts->pairs[i].src, src) && !strcmp(ts->pairs[i].dst, dst))
			return ts->pairs[i].id;
	return NULL;
}

const struct c_pair_id *c_pair_id_find(const struct c_tenants *ts, const char *id)
{
	for (int i = 0; i < ts->n_pairs; i++)
		if (!strcmp(ts->pairs[i].id, id))
			return &ts->pairs[i];
	return NULL;
}

/* Equal in time independent of where they differ (lengths may leak). */
static int token_eq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char d = la != lb;

	for (size_t i = 0; i < la; i++)
		d |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
	return d == 0;
}

int c_token_who(const struct c_tenants *ts, const char *token)
{
	int who = -2;

	if (!token || !*token)
		return -2;
	if (ts->admin_token && token_eq(token, ts->admin_token))
		who = -1;
	for (int i = 0; i < ts->n; i++)
		if (ts->t[i].token && token_eq(token, ts->t[i].token))
			who = i;
	return who;
}
