// SPDX-License-Identifier: MIT
/*
 * The OVS upcall matrix, answered from the stored per-minute histograms.
 *
 * On a megaflow miss the kernel datapath queues the packet to ovs-vswitchd
 * (the agent's ovs_upcall stamp) and userspace re-injects it with
 * OVS_PACKET_CMD_EXECUTE (the next ovs_exec stamp of the same packet id).
 * The correlator charges that interval to the stage "upcall@HOST"
 * (c_upcall_stage), so every stored pair row already says how long the
 * upcall took and on which hypervisor; a flow-table hit is charged to
 * "ovs_exec" (ovs_in -> actions: the lookup). This query groups those rows
 *   - per pair: upcalls, hits, miss ratio, upcall latency, per host;
 *   - per host (operator only: tenants do not see hypervisor names):
 *     upcalls, their rate over the minutes that had any, latency, and the
 *     kernel datapath's own lookup counters (hit, missed, lost, flows,
 *     masks) as the host's agent last reported them — those count every
 *     packet of every flow, traced or not, since the datapath was created.
 * Request: {"query":"upcall", since, until[, src, dst, tenant, pair_id]}.
 */
#include "collector.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define UP_HOSTS C_MAX_HOSTS

/* One (pair, host) of upcalls, or the pair's hits (host -1). */
struct up_cell {
	char *src, *dst;
	int host;		/* index in the up_host table, -1: hits */
	uint64_t hits;
	struct st_hist h;
};

struct up_host {
	char name[64];
	struct st_hist h;
	int64_t first_min, last_min;
};

static int host_slot(struct up_host *hs, int *n, const char *name)
{
	for (int i = 0; i < *n; i++)
		if (!strcmp(hs[i].name, name))
			return i;
	if (*n == UP_HOSTS)
		return -1;
	snprintf(hs[*n].name, sizeof(hs[0].name), "%s", name);
	st_hist_init(&hs[*n].h);
	hs[*n].first_min = INT64_MAX;
	hs[*n].last_min = INT64_MIN;
	return (*n)++;
}

static struct up_cell *cell_get(struct up_cell **cells, size_t *n, const char *src,
				const char *dst, int host)
{
	struct up_cell *r;

	/* Few pairs see upcalls and OVS hits; a linear search is enough. */
	for (size_t i = 0; i < *n; i++)
		if ((*cells)[i].host == host && !strcmp((*cells)[i].src, src) &&
		    !strcmp((*cells)[i].dst, dst))
			return &(*cells)[i];
	r = realloc(*cells, (*n + 1) * sizeof(**cells));
	if (!r)
		return NULL;
	*cells = r;
	r = &r[(*n)++];
	r->src = strdup(src);
	r->dst = strdup(dst);
	r->host = host;
	r->hits = 0;
	st_hist_init(&r->h);
	return r;
}

/* The kernel datapath counters a host's agent reported (agent/ovsdp.c). */
static json_object *datapath_json(const struct c_host *ho)
{
	static const char *const keys[] = { "hit", "missed", "lost", "flows", "masks", "mask_hit" };
	json_object *o = NULL;

	for (int i = 0; i < ho->n_counters; i++) {
		const char *n = ho->counters[i].name;

		if (strncmp(n, "ovs_dp_", 7))
			continue;
		for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
			if (!strcmp(n + 7, keys[k])) {
				if (!o)
					o = json_object_new_object();
				json_object_object_add(o, keys[k],
						       json_object_new_int64((int64_t)ho->counters[i].value));
			}
	}
	return o;
}

static int scan(struct st_collector *c, int64_t since, int64_t until, int scope,
		const char *want_src, const char *want_dst, struct up_cell **cells,
		size_t *ncells, struct up_host *hs, int *nhs)
{
	sqlite3_stmt *st;
	size_t plen = strlen(C_UPCALL_PREFIX);

	if (sqlite3_prepare_v2(c->db, "SELECT minute,src,dst,stage,hist FROM hist WHERE tenant=''"
			       " AND minute BETWEEN ? AND ? AND (stage='ovs_exec' OR"
			       " substr(stage,1,7)='" C_UPCALL_PREFIX "')", -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, since);
	sqlite3_bind_int64(st, 2, until);
	while (sqlite3_step(st) == SQLITE_ROW) {
		int64_t minute = sqlite3_column_int64(st, 0);
		const char *src = (const char *)sqlite3_column_text(st, 1);
		const char *dst = (const char *)sqlite3_column_text(st, 2);
		const char *stage = (const char *)sqlite3_column_text(st, 3);
		const void *blob = sqlite3_column_blob(st, 4);
		size_t blen = (size_t)sqlite3_column_bytes(st, 4);
		int hits = !strcmp(stage, "ovs_exec"), hi = -1;
		struct up_cell *r;
		struct st_hist h;

		if ((want_src && strcmp(want_src, src)) || (want_dst && strcmp(want_dst, dst)) ||
		    !c_in_scope(c, scope, src, dst))
			continue;
		st_hist_init(&h);
		if (st_hist_merge_encoded(&h, blob, blen)) {
			pr_warn("unreadable stored histogram %s->%s %s", src, dst, stage);
			continue;
		}
		if (!hits && (hi = host_slot(hs, nhs, stage + plen)) < 0)
			continue;
		if (!(r = cell_get(cells, ncells, src, dst, hi)))
			break;
		if (hits) {
			r->hits += h.count;
			continue;
		}
		st_hist_merge(&r->h, &h);
		st_hist_merge(&hs[hi].h, &h);
		if (minute < hs[hi].first_min)
			hs[hi].first_min = minute;
		if (minute > hs[hi].last_min)
			hs[hi].last_min = minute;
	}
	sqlite3_finalize(st);
	return 0;
}

static int cell_cmp(const void *a, const void *b)
{
	const struct up_cell *x = a, *y = b;
	int r = strcmp(x->src, y->src);

	if (!r)
		r = strcmp(x->dst, y->dst);
	return r ? r : x->host - y->host;
}

static json_object *pairs_json(struct st_collector *c, struct up_cell *cells, size_t n,
			       const struct up_host *hs)
{
	json_object *arr = json_object_new_array();
	struct st_hist *all = malloc(sizeof(*all));

	if (!all)
		return arr;
	qsort(cells, n, sizeof(*cells), cell_cmp);
	for (size_t i = 0, j; i < n; i = j) {
		json_object *o = json_object_new_object(), *per = json_object_new_array();
		const char *src = cells[i].src, *dst = cells[i].dst;
		int ts = c_tenant_of(c, src), td = c_tenant_of(c, dst);
		const char *pid = c_pair_id_of(&c->tenants, src, dst);
		uint64_t hits = 0, look;

		st_hist_init(all);
		for (j = i; j < n && !strcmp(cells[j].src, src) && !strcmp(cells[j].dst, dst); j++) {
			json_object *ph;

			hits += cells[j].hits;
			if (cells[j].host < 0)
				continue;
			st_hist_merge(all, &cells[j].h);
			ph = c_hist_json(&cells[j].h);
			json_object_object_add(ph, "host", json_object_new_string(hs[cells[j].host].name));
			json_object_array_add(per, ph);
		}
		look = hits + all->count;
		json_object_object_add(o, "src", json_object_new_string(src));
		json_object_object_add(o, "dst", json_object_new_string(dst));
		json_object_object_add(o, "tenant", ts >= 0 && ts == td ?
				       json_object_new_string(c->tenants.t[ts].name) : NULL);
		json_object_object_add(o, "pair_id", pid ? json_object_new_string(pid) : NULL);
		json_object_object_add(o, "upcalls", json_object_new_int64((int64_t)all->count));
		json_object_object_add(o, "hits", json_object_new_int64((int64_t)hits));
		json_object_object_add(o, "miss_ratio", look ?
				       json_object_new_double((double)all->count / (double)look) : NULL);
		json_object_object_add(o, "latency", all->count ? c_hist_json(all) : NULL);
		json_object_object_add(o, "hosts", per);
		json_object_array_add(arr, o);
	}
	free(all);
	return arr;
}

static json_object *hosts_json(struct st_collector *c, const struct up_host *hs, int nhs)
{
	json_object *arr = json_object_new_array();
	int seen[C_MAX_HOSTS] = { 0 };

	for (int i = 0; i < nhs; i++) {
		json_object *o = json_object_new_object();
		int h = -1;
		double span = 60.0 * (double)(hs[i].last_min - hs[i].first_min + 1);

		for (int k = 0; k < c->n_hosts; k++)
			if (!strcmp(c->hosts[k].name, hs[i].name))
				h = k;
		json_object_object_add(o, "host", json_object_new_string(hs[i].name));
		json_object_object_add(o, "upcalls", json_object_new_int64((int64_t)hs[i].h.count));
		json_object_object_add(o, "upcalls_per_s", json_object_new_double(
			hs[i].h.count ? (double)hs[i].h.count / span : 0));
		json_object_object_add(o, "latency", c_hist_json(&hs[i].h));
		json_object_object_add(o, "datapath", h >= 0 ? datapath_json(&c->hosts[h]) : NULL);
		if (h >= 0)
			seen[h] = 1;
		json_object_array_add(arr, o);
	}
	/* Hosts with a datapath but no traced upcall in the range. */
	for (int k = 0; k < c->n_hosts; k++) {
		json_object *dp, *o;

		if (seen[k] || !(dp = datapath_json(&c->hosts[k])))
			continue;
		o = json_object_new_object();
		json_object_object_add(o, "host", json_object_new_string(c->hosts[k].name));
		json_object_object_add(o, "upcalls", json_object_new_int64(0));
		json_object_object_add(o, "upcalls_per_s", json_object_new_double(0));
		json_object_object_add(o, "latency", NULL);
		json_object_object_add(o, "datapath", dp);
		json_object_array_add(arr, o);
	}
	return arr;
}

void *c_upcall_query(struct st_collector *c, void *reqp, int scope)
{
	json_object *req = reqp, *o, *out;
	int64_t since = 0, until = INT64_MAX / 60000000000LL;
	const char *src = NULL, *dst = NULL;
	struct up_cell *cells = NULL;
	struct up_host *hs = calloc(UP_HOSTS, sizeof(*hs));
	size_t ncells = 0;
	int nhs = 0;

	if (!hs)
		return NULL;
	if (json_object_object_get_ex(req, "since", &o))
		since = json_object_get_int64(o) / 60;
	if (json_object_object_get_ex(req, "until", &o) && json_object_get_int64(o) > 0)
		until = json_object_get_int64(o) / 60;
	if (json_object_object_get_ex(req, "src", &o))
		src = json_object_get_string(o);
	if (json_object_object_get_ex(req, "dst", &o))
		dst = json_object_get_string(o);
	if (scan(c, since, until, scope, src, dst, &cells, &ncells, hs, &nhs)) {
		free(hs);
		return NULL;
	}
	out = json_object_new_object();
	json_object_object_add(out, "since", json_object_new_int64(since * 60));
	json_object_object_add(out, "pairs", pairs_json(c, cells, ncells, hs));
	if (scope < 0)
		json_object_object_add(out, "hosts", hosts_json(c, hs, nhs));
	for (size_t i = 0; i < ncells; i++) {
		free(cells[i].src);
		free(cells[i].dst);
	}
	free(cells);
	free(hs);
	return out;
}
