/* SPDX-License-Identifier: MIT */
/*
 * Tenants, their API tokens, and named pairs.
 *
 *   --tenant NAME=MEMBER[,MEMBER...]   MEMBER a VM name or an IPv4 CIDR
 *   --tenant-token NAME=FILE           bearer token of a tenant (file: one line)
 *   --api-admin-token FILE             the operator's token: sees everything
 *   --pair-id ID=SRC>DST               a pair operators track by name
 *
 * Membership is decided when a query is answered, not when rows are
 * written: an endpoint (a VM name or an address, as the matrix names it)
 * belongs to a tenant when its name is listed, or when its address - the
 * name itself, or any address the collector has seen the VM use (kept in
 * the store's names table, so it survives restarts) - falls in one of the
 * tenant's CIDRs. A cell belongs to a tenant when both endpoints do.
 * Deciding late means a corrected tenant definition applies to the stored
 * history at once and a pair is stored once, not once per tenant; the cost
 * is a membership test per answered cell, which is cheap next to reading
 * the histogram. docs/queries.md explains the choice.
 *
 * Overlapping tenants are refused at start: a VM listed twice, or two
 * tenants' CIDRs overlapping, would let one tenant see another's traffic.
 */
#ifndef ST_TENANTS_H
#define ST_TENANTS_H

#include <stddef.h>
#include <stdint.h>

#include "opts.h"
#include "u64map.h"

#define C_MAX_TENANTS 64
#define C_MAX_MEMBERS 256
#define C_MAX_PAIR_IDS 256

struct st_collector;

struct c_tenant {
	char name[48];
	char *vms[C_MAX_MEMBERS];
	int n_vms;
	struct st_cidr nets[C_MAX_MEMBERS];
	int n_nets;
	char *token;		/* NULL: no API access */
};

struct c_pair_id {
	char id[48];
	char *src, *dst;
};

struct c_tenants {
	struct c_tenant t[C_MAX_TENANTS];
	int n;
	char *admin_token;
	struct c_pair_id pairs[C_MAX_PAIR_IDS];
	int n_pairs;
	/* Endpoint name hash -> tenant + 2 (c_tenant_of_cached). */
	struct st_u64map cache;
	int cache_on;
};

/*
 * Parse and validate the options. 0, or ST_EXIT_USAGE after one line on
 * stderr naming the option and value.
 */
int c_tenants_parse(struct c_tenants *ts, const struct st_strlist *tenants,
		    const struct st_strlist *tokens, const char *admin_token_file,
		    const struct st_strlist *pair_ids);
void c_tenants_free(struct c_tenants *ts);

/* Index of the tenant called name, or -1. */
int c_tenant_find(const struct c_tenants *ts, const char *name);
/* Index of the tenant an endpoint belongs to, or -1. */
int c_tenant_of(struct st_collector *c, const char *endpoint);
/* The same through a cache of endpoint names (the per-packet path: tenant
 * SLOs). Call c_tenant_cache_clear() when what c_tenant_of reads changes. */
int c_tenant_of_cached(struct st_collector *c, const char *endpoint);
void c_tenant_cache_clear(struct st_collector *c);
/* Does scope (-1: everything, else a tenant index) see src -> dst? */
int c_in_scope(struct st_collector *c, int scope, const char *src, const char *dst);
/* The named pair id of (src, dst), or NULL. */
const char *c_pair_id_of(const struct c_tenants *ts, const char *src, const char *dst);
/* The pair called id, or NULL. */
const struct c_pair_id *c_pair_id_find(const struct c_tenants *ts, const char *id);

/* Who a bearer token is: -2 nobody, -1 admin, else a tenant index.
 * Compares in constant time per configured token. */
int c_token_who(const struct c_tenants *ts, const char *token);

#endif /* ST_TENANTS_H */
