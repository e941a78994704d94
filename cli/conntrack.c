// SPDX-License-Identifier: MIT
/*
 * stagetrace conntrack: connection tracking as it happens in one network
 * namespace: new/update/destroy events per interval, per protocol and
 * state (TCP states; UNREPLIED/REPLIED/ASSURED otherwise), zone and mark,
 * with the timeouts the kernel reports in its events; the kernel's own
 * conntrack statistics (invalid, insert_failed, drop, early_drop, ...) as
 * deltas; the per-state timeouts configured in the namespace; and drops
 * whose reason is about netfilter or conntrack.
 *
 * There are no conntrack tracepoints. Events come from ctnetlink
 * (cli/ctnetlink.c, the NFNLGRP_CONNTRACK_* groups), which the kernel
 * sends for every netns that has a listener; statistics from the same
 * interface. The BPF side (bpf/conntrack.bpf.c) adds drops from
 * skb:kfree_skb and, where fentry/fexit or kprobes attach, verdicts of
 * nf_conntrack_in, timeout refreshes, deletions and the OVS conntrack
 * result (--ovs-invalid). A hook that does not attach is reported as
 * unavailable with the reason.
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bpf/conntrack.h"
#include "conntrack.skel.h"
#include "cli.h"
#include "ctnetlink.h"
#include "local.h"
#include "localrun.h"
#include "log.h"
#include "opts.h"
#include "timeutil.h"

#define CMD "stagetrace conntrack"
#define CT_SUPPORTED (ST_LO_INTERVAL | ST_LO_DURATION | ST_LO_COUNT | ST_LO_SRC | ST_LO_DST | \
		      ST_LO_VERBOSE | ST_LO_JSON | ST_LO_NETNS | ST_LO_PROTO | ST_LO_SPORT | \
		      ST_LO_DPORT)
#define NHOOKS 5	/* nf_conntrack_in, refresh, delete, ovs_ct_execute, ovs_ct_update_key */
#define NTIMEOUTS 13

_Static_assert(sizeof(struct st_ct_key) == 24, "st_ct_key layout");
_Static_assert(sizeof(struct st_ct_ovs_event) == 40, "st_ct_ovs_event layout");

static const char *const timeout_names[NTIMEOUTS] = {
	"tcp_timeout_syn_sent", "tcp_timeout_syn_recv", "tcp_timeout_established",
	"tcp_timeout_fin_wait", "tcp_timeout_close_wait", "tcp_timeout_last_ack",
	"tcp_timeout_time_wait", "tcp_timeout_close", "tcp_timeout_unacknowledged",
	"udp_timeout", "udp_timeout_stream", "icmp_timeout", "generic_timeout",
};

static const char *const counter_names[ST_CC_MAX] = {
	[ST_CC_DROP_CALLS] = "drop_calls",
	[ST_CC_DROPS] = "drops_counted",
	[ST_CC_FILTERED] = "filtered_netns",
	[ST_CC_MAP_FULL] = "lost_map_full",
	[ST_CC_RINGBUF_FULL] = "lost_ovs_events",
};

/* Events of one interval, grouped. */
struct row {
	int type;
	uint8_t proto;
	char state[16];
	int order;		/* TCP state value, so rows follow the protocol */
	uint16_t zone;
	uint32_t mark;
	uint64_t count;
	int64_t tmin, tmax;	/* -1: no timeout in these events */
};

struct ct {
	struct st_local_opts lo;
	int ovs;
	const char *method_force;
	const char *method;
	uint32_t netns;
	int evfd;
	struct conntrack_bpf *skel;
	struct bpf_link *drop_link;
	struct ring_buffer *rb;
	struct st_local_hook hooks[NHOOKS];
	struct st_ksyms ksyms;
	int have_ksyms;
	struct st_enum_names reasons;
	int have_reasons;
	char reason_names[256];
	int64_t timeouts[NTIMEOUTS];
	uint64_t stats[ST_CTS_N];
	int have_stats;
	char stats_err[128];
	struct row *rows;
	size_t nrows, caprows;
	uint64_t nl_lost, nl_lost_total, events_total, filtered_events;
	uint64_t counters[ST_CC_MAX];
	int ncpus;
};

static const char *type_name(int t)
{
	return t == ST_CT_NEW ? "new" : t == ST_CT_UPDATE ? "update" : "destroy";
}

static const char *proto_name(uint8_t p, char *buf, size_t len)
{
	switch (p) {
	case 1: return "icmp";
	case 6: return "tcp";
	case 17: return "udp";
	case 132: return "sctp";
	case 47: return "gre";
	}
	snprintf(buf, len, "proto%u", p);
	return buf;
}

static void state_of(const struct st_ct_event *e, char *buf, size_t len)
{
	if (e->has_tcp_state)
		snprintf(buf, len, "%s", st_ct_tcp_state_name(e->tcp_state));
	else if (e->proto == 6 || e->type == ST_CT_DESTROY)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%s", e->status & (1u << 2) ? "ASSURED" :
			 e->status & (1u << 1) ? "REPLIED" : "UNREPLIED");
}

/* The header filters apply to the original direction's tuple. */
static int event_passes(const struct ct *c, const struct st_ct_event *e)
{
	if (c->lo.proto_set && e->proto != c->lo.proto_num)
		return 0;
	if (c->lo.src.set && (e->src & c->lo.src.mask) != c->lo.src.addr)
		return 0;
	if (c->lo.dst.set && (e->dst & c->lo.dst.mask) != c->lo.dst.addr)
		return 0;
	if (c->lo.sport && ntohs(e->sport) != c->lo.sport)
		return 0;
	if (c->lo.dport && ntohs(e->dport) != c->lo.dport)
		return 0;
	return 1;
}

static void on_ct_event(void *ctx, const struct st_ct_event *e)
{
	struct ct *c = ctx;
	char st[16], pb[16], sa[INET_ADDRSTRLEN], da[INET_ADDRSTRLEN], t[16];
	const char *pn;
	struct row *r = NULL;

	if (!event_passes(c, e)) {
		c->filtered_events++;
		return;
	}
	c->events_total++;
	state_of(e, st, sizeof(st));
	pn = proto_name(e->proto, pb, sizeof(pb));
	for (size_t i = 0; i < c->nrows; i++) {
		struct row *x = &c->rows[i];

		if (x->type == e->type && x->proto == e->proto && !strcmp(x->state, st) &&
		    x->zone == e->zone && x->mark == e->mark) {
			r = x;
			break;
		}
	}
	if (!r) {
		if (c->nrows == c->caprows) {
			size_t cap = c->caprows ? c->caprows * 2 : 16;
			struct row *nv = realloc(c->rows, cap * sizeof(*nv));

			if (!nv)
				return;
			c->rows = nv;
			c->caprows = cap;
		}
		r = &c->rows[c->nrows++];
		memset(r, 0, sizeof(*r));
		r->type = e->type;
		r->proto = e->proto;
		snprintf(r->state, sizeof(r->state), "%s", st);
		r->order = e->has_tcp_state ? e->tcp_state : 100;
		r->zone = e->zone;
		r->mark = e->mark;
		r->tmin = r->tmax = -1;
	}
	r->count++;
	if (e->timeout >= 0) {
		if (r->tmin < 0 || e->timeout < r->tmin)
			r->tmin = e->timeout;
		if (e->timeout > r->tmax)
			r->tmax = e->timeout;
	}
	if (!c->lo.verbose)
		return;
	inet_ntop(AF_INET, &e->src, sa, sizeof(sa));
	inet_ntop(AF_INET, &e->dst, da, sizeof(da));
	st_local_hms(t, sizeof(t));
	if (c->lo.json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "type", json_object_new_string("event"));
		json_object_object_add(o, "event", json_object_new_string(type_name(e->type)));
		json_object_object_add(o, "time", json_object_new_string(t));
		json_object_object_add(o, "proto", json_object_new_string(pn));
		json_object_object_add(o, "src", json_object_new_string(sa));
		json_object_object_add(o, "dst", json_object_new_string(da));
		json_object_object_add(o, "sport", json_object_new_int(ntohs(e->sport)));
		json_object_object_add(o, "dport", json_object_new_int(ntohs(e->dport)));
		json_object_object_add(o, "state", json_object_new_string(st));
		json_object_object_add(o, "timeout", e->timeout >= 0 ? json_object_new_int64(e->timeout) : NULL);
		json_object_object_add(o, "zone", json_object_new_int(e->zone));
		json_object_object_add(o, "mark", json_object_new_int64(e->mark));
		json_object_object_add(o, "status", json_object_new_int64(e->status));
		json_object_object_add(o, "id", json_object_new_int64(e->id));
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
		return;
	}
	printf("%-8s %-7s %-4s %s:%u -> %s:%u state=%s timeout=", t, type_name(e->type), pn, sa,
	       ntohs(e->sport), da, ntohs(e->dport), st);
	if (e->timeout >= 0)
		printf("%lld", (long long)e->timeout);
	else
		printf("-");
	printf(" zone=%u mark=%u id=%u\n", e->zone, e->mark, e->id);
}

/* ---- OVS invalid events --------------------------------------------------- */

static int on_ovs_event(void *ctx, void *data, size_t size)
{
	struct ct *c = ctx;
	const struct st_ct_ovs_event *e = data;
	char t[32], sa[INET_ADDRSTRLEN], da[INET_ADDRSTRLEN], pb[16];

	if (size < sizeof(*e))
		return 0;
	st_local_mono_hms(e->ts, t, sizeof(t));
	inet_ntop(AF_INET, &e->saddr, sa, sizeof(sa));
	inet_ntop(AF_INET, &e->daddr, da, sizeof(da));
	if (c->lo.json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "type", json_object_new_string("event"));
		json_object_object_add(o, "event", json_object_new_string("ovs_ct_invalid"));
		json_object_object_add(o, "time", json_object_new_string(t));
		json_object_object_add(o, "dev", json_object_new_string(st_local_dev_name(e->netns, e->ifindex)));
		json_object_object_add(o, "proto", json_object_new_string(proto_name(e->proto, pb, sizeof(pb))));
		json_object_object_add(o, "src", json_object_new_string(sa));
		json_object_object_add(o, "dst", json_object_new_string(da));
		json_object_object_add(o, "sport", json_object_new_int(ntohs(e->sport)));
		json_object_object_add(o, "dport", json_object_new_int(ntohs(e->dport)));
		json_object_object_add(o, "zone", json_object_new_int(e->zone));
		json_object_object_add(o, "mark", json_object_new_int64(e->mark));
		json_object_object_add(o, "ct_state", json_object_new_int(e->ct_state));
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
		return 0;
	}
	printf("%s ovs-invalid %s %s:%u -> %s:%u zone=%u mark=%u ct_state=0x%02x dev=%s\n", t,
	       proto_name(e->proto, pb, sizeof(pb)), sa, ntohs(e->sport), da, ntohs(e->dport),
	       e->zone, e->mark, e->ct_state, st_local_dev_name(e->netns, e->ifindex));
	return 0;
}

/* ---- the namespace's configuration ----------------------------------------- */

static void read_timeouts(struct ct *c)
{
	int self = st_local_netns_enter(c->netns);

	for (int i = 0; i < NTIMEOUTS; i++) {
		char path[160];
		long long v;
		FILE *f;

		c->timeouts[i] = -1;
		if (self < 0 && self != ST_LOCAL_NETNS_SAME)
			continue;
		snprintf(path, sizeof(path), "/proc/sys/net/netfilter/nf_conntrack_%s", timeout_names[i]);
		f = fopen(path, "r");
		if (f && fscanf(f, "%lld", &v) == 1)
			c->timeouts[i] = v;
		if (f)
			fclose(f);
	}
	st_local_netns_leave(self);
}

/* ---- intervals ---------------------------------------------------------------- */

static int row_cmp(const void *x, const void *y)
{
	const struct row *a = x, *b = y;

	if (a->type != b->type)
		return a->type - b->type;
	if (a->proto != b->proto)
		return a->proto - b->proto;
	if (a->order != b->order)
		return a->order - b->order;
	if (a->zone != b->zone)
		return a->zone - b->zone;
	return strcmp(a->state, b->state);
}

static const char *bpf_row_desc(const struct st_ct_key *k, char *buf, size_t len, struct ct *c)
{
	char rb[32], loc[160];
	const char *n;

	switch (k->kind) {
	case ST_CK_DROP:
		n = c->have_reasons ? st_enum_name(&c->reasons, k->a) : NULL;
		if (!n) {
			snprintf(rb, sizeof(rb), "reason%u", k->a);
			n = rb;
		}
		st_ksyms_fmt(c->have_ksyms ? &c->ksyms : NULL, k->loc, loc, sizeof(loc));
		snprintf(buf, len, "drop %s at %s dev %s", n, loc, st_local_dev_name(k->netns, k->b));
		break;
	case ST_CK_IN:
		snprintf(buf, len, "nf_conntrack_in verdict %s%s", k->a == 1 ? "ACCEPT" :
			 k->a == 0 ? "DROP" : "other", k->b ? " (no conntrack attached: invalid)" : "");
		break;
	case ST_CK_REFRESH:
		snprintf(buf, len, "refresh %s timeout %us",
			 k->a == 255 ? "non-tcp" : st_ct_tcp_state_name((uint8_t)k->a), k->b);
		break;
	case ST_CK_DELETE:
		snprintf(buf, len, "delete proto %u %s", k->b,
			 k->a == 255 ? "" : st_ct_tcp_state_name((uint8_t)k->a));
		break;
	case ST_CK_OVS:
		snprintf(buf, len, "ovs ct_state 0x%02x zone %u%s", k->a, k->b,
			 k->a & 0x10 ? " INVALID" : "");
		break;
	default:
		snprintf(buf, len, "kind%u", k->kind);
	}
	return buf;
}

static void report(struct ct *c, int fd, double secs)
{
	struct st_ct_key cur, next, keys[256];
	struct st_ct_val vals[256];
	uint64_t st[ST_CTS_N] = { 0 }, dst[ST_CTS_N] = { 0 }, delta[ST_CC_MAX];
	int cfd = bpf_map__fd(c->skel->maps.ct_counters);
	size_t nk = 0, m = 0;
	void *prev = NULL;
	char t[16], pb[16], desc[256];
	int stats_ok;

	while (nk < 256 && !bpf_map_get_next_key(fd, prev, &next)) {
		keys[nk++] = next;
		cur = next;
		prev = &cur;
	}
	for (size_t i = 0; i < nk; i++) {
		if (bpf_map_lookup_elem(fd, &keys[i], &vals[m]))
			continue;
		bpf_map_delete_elem(fd, &keys[i]);
		keys[m++] = keys[i];
	}
	for (uint32_t i = 0; i < ST_CC_MAX; i++) {
		uint64_t v = st_local_percpu_sum(cfd, i, c->ncpus);

		delta[i] = v - c->counters[i];
		c->counters[i] = v;
	}
	stats_ok = c->have_stats && !st_ct_stats_read(c->netns, st);
	if (stats_ok)
		for (int i = 0; i < ST_CTS_N; i++) {
			dst[i] = st[i] - c->stats[i];
			c->stats[i] = st[i];
		}
	st_local_hms(t, sizeof(t));
	qsort(c->rows, c->nrows, sizeof(*c->rows), row_cmp);
	if (c->lo.json) {
		json_object *o = json_object_new_object(), *arr = json_object_new_array();
		json_object *sto = json_object_new_object(), *tmo = json_object_new_object();
		json_object *ba = json_object_new_array(), *cnt = json_object_new_object();
		json_object *lost = json_object_new_object();

		json_object_object_add(o, "type", json_object_new_string("interval"));
		json_object_object_add(o, "time", json_object_new_string(t));
		json_object_object_add(o, "unix_s", json_object_new_double(st_real_ns() / 1e9));
		json_object_object_add(o, "interval_s", json_object_new_double(secs));
		json_object_object_add(o, "netns", json_object_new_int64(c->netns));
		for (size_t i = 0; i < c->nrows; i++) {
			const struct row *r = &c->rows[i];
			json_object *e = json_object_new_object();

			json_object_object_add(e, "event", json_object_new_string(type_name(r->type)));
			json_object_object_add(e, "proto", json_object_new_string(proto_name(r->proto, pb, sizeof(pb))));
			json_object_object_add(e, "state", json_object_new_string(r->state));
			json_object_object_add(e, "zone", json_object_new_int(r->zone));
			json_object_object_add(e, "mark", json_object_new_int64(r->mark));
			json_object_object_add(e, "count", json_object_new_int64(r->count));
			json_object_object_add(e, "timeout_min", r->tmin >= 0 ? json_object_new_int64(r->tmin) : NULL);
			json_object_object_add(e, "timeout_max", r->tmax >= 0 ? json_object_new_int64(r->tmax) : NULL);
			json_object_array_add(arr, e);
		}
		json_object_object_add(o, "rows", arr);
		if (stats_ok) {
			for (int i = 0; i < ST_CTS_N; i++)
				json_object_object_add(sto, st_cts_names[i], json_object_new_int64(dst[i]));
			json_object_object_add(o, "stats", sto);
		} else {
			json_object_put(sto);
			json_object_object_add(o, "stats", NULL);
		}
		for (int i = 0; i < NTIMEOUTS; i++)
			json_object_object_add(tmo, timeout_names[i], c->timeouts[i] >= 0 ?
					       json_object_new_int64(c->timeouts[i]) : NULL);
		json_object_object_add(o, "timeouts", tmo);
		for (size_t i = 0; i < m; i++) {
			json_object *e = json_object_new_object();
			static const char *const kinds[] = { "?", "drop", "in", "refresh", "delete", "ovs" };

			json_object_object_add(e, "kind", json_object_new_string(kinds[keys[i].kind <= ST_CK_OVS ? keys[i].kind : 0]));
			json_object_object_add(e, "what", json_object_new_string(bpf_row_desc(&keys[i], desc, sizeof(desc), c)));
			json_object_object_add(e, "a", json_object_new_int64(keys[i].a));
			json_object_object_add(e, "b", json_object_new_int64(keys[i].b));
			json_object_object_add(e, "netns", json_object_new_int64(keys[i].netns));
			json_object_object_add(e, "count", json_object_new_int64(vals[i].count));
			if (keys[i].kind == ST_CK_DROP) {
				const char *rn = c->have_reasons ? st_enum_name(&c->reasons, keys[i].a) : NULL;
				char loc[160];

				json_object_object_add(e, "reason", rn ? json_object_new_string(rn) : NULL);
				json_object_object_add(e, "location", json_object_new_string(
					st_ksyms_fmt(c->have_ksyms ? &c->ksyms : NULL, keys[i].loc, loc, sizeof(loc))));
			}
			json_object_array_add(ba, e);
		}
		json_object_object_add(o, "kernel", ba);
		for (int i = 0; i < ST_CC_MAX; i++)
			json_object_object_add(cnt, counter_names[i], json_object_new_int64(delta[i]));
		json_object_object_add(o, "counters", cnt);
		json_object_object_add(lost, "netlink", json_object_new_int64(c->nl_lost));
		json_object_object_add(lost, "map_full", json_object_new_int64(delta[ST_CC_MAP_FULL]));
		json_object_object_add(lost, "ovs_events", json_object_new_int64(delta[ST_CC_RINGBUF_FULL]));
		json_object_object_add(o, "lost", lost);
		json_object_object_add(o, "hooks", st_local_hooks_json(c->hooks, NHOOKS));
		json_object_object_add(o, "drop_reasons", json_object_new_string(c->reason_names));
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
	} else {
		printf("%-8s %-7s %-5s %-12s %5s %10s %7s %s\n", "TIME", "EVENT", "PROTO", "STATE",
		       "ZONE", "MARK", "COUNT", "TIMEOUT");
		if (!c->nrows)
			printf("%-8s %-7s %-5s %-12s %5s %10s %7d %s\n", t, "-", "-", "-", "-", "-", 0, "-");
		for (size_t i = 0; i < c->nrows; i++) {
			const struct row *r = &c->rows[i];
			char tb[48] = "-";

			if (r->tmin >= 0 && r->tmin == r->tmax)
				snprintf(tb, sizeof(tb), "%lld", (long long)r->tmin);
			else if (r->tmin >= 0)
				snprintf(tb, sizeof(tb), "%lld-%lld", (long long)r->tmin, (long long)r->tmax);
			printf("%-8s %-7s %-5s %-12s %5u %10u %7llu %s\n", t, type_name(r->type),
			       proto_name(r->proto, pb, sizeof(pb)), r->state, r->zone, r->mark,
			       (unsigned long long)r->count, tb);
		}
		if (stats_ok) {
			printf("%-8s stats:", t);
			for (int i = 0; i < ST_CTS_N; i++)
				printf(" %s +%llu", st_cts_names[i], (unsigned long long)dst[i]);
			printf("\n");
		}
		for (size_t i = 0; i < m; i++)
			printf("%-8s kernel: %s x%llu\n", t, bpf_row_desc(&keys[i], desc, sizeof(desc), c),
			       (unsigned long long)vals[i].count);
		if (c->nl_lost || delta[ST_CC_MAP_FULL] || delta[ST_CC_RINGBUF_FULL])
			printf("%-8s lost: %llu netlink overruns (events dropped by the kernel), %llu counts (map full), %llu OVS events\n",
			       t, (unsigned long long)c->nl_lost, (unsigned long long)delta[ST_CC_MAP_FULL],
			       (unsigned long long)delta[ST_CC_RINGBUF_FULL]);
		printf("\n");
	}
	fflush(stdout);
	c->nl_lost_total += c->nl_lost;
	c->nl_lost = 0;
	c->nrows = 0;
}

/* ---- set-up ------------------------------------------------------------------- */

static void hooks_init(struct ct *c)
{
	struct conntrack_bpf *s = c->skel;

	c->hooks[0] = (struct st_local_hook){
		.name = "nf_conntrack_in", .n = 2,
		.alts = { { "fexit", "nf_conntrack_in" }, { "kprobe", "nf_conntrack_in" } },
		.prog = { s->progs.fexit_nf_conntrack_in, s->progs.kprobe_nf_conntrack_in },
		.prog2 = { NULL, s->progs.kretprobe_nf_conntrack_in }, .ret2 = { 0, 1 },
	};
	c->hooks[1] = (struct st_local_hook){
		.name = "__nf_ct_refresh_acct", .n = 2,
		.alts = { { "fentry", "__nf_ct_refresh_acct" }, { "kprobe", "__nf_ct_refresh_acct" } },
		.prog = { s->progs.fentry_nf_ct_refresh, s->progs.kprobe_nf_ct_refresh },
	};
	c->hooks[2] = (struct st_local_hook){
		.name = "nf_ct_delete", .n = 2,
		.alts = { { "fentry", "nf_ct_delete" }, { "kprobe", "nf_ct_delete" } },
		.prog = { s->progs.fentry_nf_ct_delete, s->progs.kprobe_nf_ct_delete },
	};
	c->hooks[3] = (struct st_local_hook){
		.name = "ovs_ct_execute", .n = 2,
		.alts = { { "fexit", "ovs_ct_execute" }, { "kprobe", "ovs_ct_execute" } },
		.prog = { s->progs.fexit_ovs_ct_execute, s->progs.kprobe_ovs_ct_execute },
		.prog2 = { NULL, s->progs.kretprobe_ovs_ct_execute }, .ret2 = { 0, 1 },
	};
	c->hooks[4] = (struct st_local_hook){
		.name = "ovs_ct_update_key", .n = 2,
		.alts = { { "fexit", "ovs_ct_update_key" }, { "kprobe", "ovs_ct_update_key" } },
		.prog = { s->progs.fexit_ovs_ct_update_key, s->progs.kprobe_ovs_ct_update_key },
		.prog2 = { NULL, s->progs.kretprobe_ovs_ct_update_key }, .ret2 = { 0, 1 },
	};
}

/* Where __nf_ct_refresh_acct keeps extra_jiffies: after ct, ctinfo, and
 * an skb on kernels that still pass one. */
static uint32_t refresh_arg(void)
{
	struct btf *vm = btf__load_vmlinux_btf();
	uint32_t arg = 2;
	int id;

	if (libbpf_get_error(vm))
		return arg;
	id = btf__find_by_name_kind(vm, "__nf_ct_refresh_acct", BTF_KIND_FUNC);
	if (id > 0) {
		const struct btf_type *fp = btf__type_by_id(vm, btf__type_by_id(vm, id)->type);
		const struct btf_param *p = btf_params(fp);

		for (int i = 0; i < btf_vlen(fp); i++)
			if (!strcmp(btf__name_by_offset(vm, p[i].name_off), "extra_jiffies"))
				arg = i;
	}
	btf__free(vm);
	return arg;
}

static int setup_bpf(struct ct *c)
{
	struct st_ct_cfg cfg = { 0 };
	char why[400] = "";
	uint32_t zero = 0;
	uint8_t one = 1;
	size_t used = 0;
	int err;

	c->method = c->method_force ? c->method_force : st_probe_best("kfree_skb", why, sizeof(why));
	if (!c->method) {
		fprintf(stderr, "error: cannot attach to skb:kfree_skb: %s\n", why);
		return ST_EXIT_FAIL;
	}
	c->skel = conntrack_bpf__open();
	if (!c->skel) {
		fprintf(stderr, "error: cannot open the conntrack BPF object: %s\n", strerror(errno));
		return ST_EXIT_FAIL;
	}
	c->skel->rodata->refresh_jiffies_arg = refresh_arg();
	bpf_program__set_autoload(c->skel->progs.btf_ct_drop, !strcmp(c->method, "tp_btf"));
	bpf_program__set_autoload(c->skel->progs.raw_ct_drop, !strcmp(c->method, "raw_tp"));
	hooks_init(c);
	/* The OVS hooks are only tried with --ovs-invalid. */
	st_local_hooks_plan(c->hooks, c->ovs ? NHOOKS : 3);
	if (!c->ovs)
		for (int i = 3; i < NHOOKS; i++) {
			for (size_t a = 0; a < c->hooks[i].n; a++) {
				bpf_program__set_autoload(c->hooks[i].prog[a], false);
				if (c->hooks[i].prog2[a])
					bpf_program__set_autoload(c->hooks[i].prog2[a], false);
			}
			c->hooks[i].choice.index = -1;
			snprintf(c->hooks[i].choice.why, sizeof(c->hooks[i].choice.why),
				 "not requested (--ovs-invalid)");
		}
	err = conntrack_bpf__load(c->skel);
	if (err) {
		fprintf(stderr, "error: loading the conntrack BPF programs failed: %s\n", strerror(-err));
		return ST_EXIT_FAIL;
	}
	for (size_t i = 0; c->have_reasons && i < c->reasons.n; i++) {
		const char *nm = c->reasons.v[i].name;
		uint32_t v = (uint32_t)c->reasons.v[i].val;

		if (strncmp(nm, "NF_CONNTRACK", 12) && strncmp(nm, "NETFILTER", 9) &&
		    strncmp(nm, "NF_", 3))
			continue;
		bpf_map_update_elem(bpf_map__fd(c->skel->maps.ct_reasons), &v, &one, BPF_ANY);
		used += snprintf(c->reason_names + used, used < sizeof(c->reason_names) ?
				 sizeof(c->reason_names) - used : 0, "%s%s", used ? ", " : "", nm);
	}
	if (!used)
		snprintf(c->reason_names, sizeof(c->reason_names), "none");
	cfg.flags = ST_CTF_NETNS | (c->ovs ? ST_CTF_OVS : 0);
	bpf_map_update_elem(bpf_map__fd(c->skel->maps.ct_netns), &c->netns, &one, BPF_ANY);
	if (bpf_map_update_elem(bpf_map__fd(c->skel->maps.ct_cfg), &zero, &cfg, BPF_ANY)) {
		fprintf(stderr, "error: cannot configure the conntrack BPF programs: %s\n", strerror(errno));
		return ST_EXIT_FAIL;
	}
	if (c->ovs) {
		c->rb = ring_buffer__new(bpf_map__fd(c->skel->maps.ovs_events), on_ovs_event, c, NULL);
		if (!c->rb) {
			fprintf(stderr, "error: cannot open the OVS event ring buffer: %s\n", strerror(errno));
			return ST_EXIT_FAIL;
		}
	}
	c->drop_link = bpf_program__attach(!strcmp(c->method, "tp_btf") ? c->skel->progs.btf_ct_drop :
					   c->skel->progs.raw_ct_drop);
	if (!c->drop_link) {
		fprintf(stderr, "error: attaching to skb:kfree_skb (%s) failed: %s\n", c->method,
			strerror(errno));
		return ST_EXIT_FAIL;
	}
	st_local_hooks_attach(c->hooks, NHOOKS);
	return 0;
}

/* --check-hooks: every hook program through the verifier. */
static int check_hooks(struct ct *c)
{
	int missing = 0;

	if (!c->lo.json)
		printf("%-20s %-10s %-24s %-28s %s\n", "HOOK", "METHOD", "TARGET", "PROGRAM", "LOAD");
	for (size_t i = 0; i < NHOOKS; i++) {
		int any = 0;

		for (size_t a = 0; ; a++) {
			int err;

			c->skel = conntrack_bpf__open();
			if (!c->skel)
				return ST_EXIT_FAIL;
			hooks_init(c);
			if (a >= c->hooks[i].n) {
				conntrack_bpf__destroy(c->skel);
				c->skel = NULL;
				break;
			}
			st_local_hook_only(c->skel->obj, &c->hooks[i], a);
			err = conntrack_bpf__load(c->skel);
			st_local_hook_check_print(&c->hooks[i], a, err, c->lo.json);
			any |= !err;
			conntrack_bpf__destroy(c->skel);
			c->skel = NULL;
		}
		missing += !any;
	}
	memset(c->hooks, 0, sizeof(c->hooks));
	return missing ? ST_EXIT_FAIL : ST_EXIT_OK;
}

static int run(struct ct *c)
{
	uint64_t start = st_mono_ns(), end = 0, last = start, sched = start;
	uint64_t step = (uint64_t)(c->lo.interval * 1e9);
	uint32_t gen = 0, done = 0;

	if (c->lo.duration > 0)
		end = start + (uint64_t)(c->lo.duration * 1e9);
	if (!c->lo.json) {
		char hb[900];
		const char *nm = st_local_netns_name(c->netns);

		fprintf(stderr, "Tracing conntrack in netns %s (%u): ctnetlink events, statistics%s%s; "
			"drops (kfree_skb %s) with reasons %s\n", nm ? nm : "(ours)", c->netns,
			c->have_stats ? "" : " unavailable: ", c->have_stats ? "" : c->stats_err,
			c->method, c->reason_names);
		fprintf(stderr, "  timeouts:");
		for (int i = 0; i < NTIMEOUTS; i++)
			if (c->timeouts[i] >= 0)
				fprintf(stderr, " %s=%lld", timeout_names[i], (long long)c->timeouts[i]);
		fprintf(stderr, "\n");
		for (int i = 0; i < NHOOKS; i++)
			fprintf(stderr, "  hook %s: %s\n", c->hooks[i].name,
				st_local_hook_status(&c->hooks[i], hb, sizeof(hb)));
		if (c->ovs && !c->hooks[3].attached && !c->hooks[4].attached)
			fprintf(stderr, "conntrack --ovs-invalid: unavailable: no OVS conntrack hook attaches on this kernel\n");
		fprintf(stderr, "Ctrl-C to end.\n");
	}
	for (;;) {
		uint64_t next, now;
		int fd;

		sched += step;
		if (sched < st_mono_ns())
			sched = st_mono_ns() + step;
		next = end && sched > end ? end : sched;
		while (st_mono_ns() < next && !st_local_stop) {
			struct pollfd p = { .fd = c->evfd, .events = POLLIN };
			uint64_t left = (next - st_mono_ns()) / 1000000;
			int rc;

			if (c->rb)
				ring_buffer__consume(c->rb);
			if (poll(&p, 1, left > 100 ? 100 : (int)left + 1) > 0) {
				rc = st_ct_events_read(c->evfd, on_ct_event, c);
				if (rc == -ENOBUFS)
					c->nl_lost++;
			}
		}
		now = st_mono_ns();
		if (st_ct_events_read(c->evfd, on_ct_event, c) == -ENOBUFS)
			c->nl_lost++;
		fd = bpf_map__fd(gen & 1 ? c->skel->maps.counts1 : c->skel->maps.counts0);
		gen++;
		__atomic_store_n(&c->skel->bss->ct_gen, gen, __ATOMIC_SEQ_CST);
		usleep(2000);
		if (c->rb)
			ring_buffer__consume(c->rb);
		report(c, fd, (now - last) / 1e9);
		last = now;
		done++;
		if (st_local_stop || (c->lo.count && done >= c->lo.count) || (end && now >= end))
			break;
	}
	return 0;
}

int cmd_conntrack(int argc, char **argv)
{
	static const struct st_cmd_help help = {
		.name = CMD,
		.summary = "Conntrack events, states, timeouts, statistics and drops of one netns.",
		.description =
"Listens to the kernel's conntrack events (ctnetlink NEW/UPDATE/DESTROY) in\n"
"one network namespace (--netns, default ours) and prints, per interval,\n"
"the events per protocol, state (TCP states; UNREPLIED, REPLIED, ASSURED\n"
"otherwise), zone and mark with the timeouts the kernel set (TIMEOUT: the\n"
"seconds left the events carried). Every interval also prints the kernel's\n"
"conntrack statistics as deltas (invalid, insert_failed, drop, early_drop,\n"
"error, ...) and drops whose reason is netfilter's or conntrack's (names\n"
"read from the running kernel's BTF), with location. The banner lists the\n"
"namespace's configured timeouts per state. -v prints every event.\n"
"--src-ip/--dst-ip/--proto/--sport/--dport filter events on the original\n"
"tuple; statistics and drops are per namespace.\n"
"Where fexit/fentry or kprobes attach, nf_conntrack_in verdicts (and\n"
"packets left without conntrack: invalid), timeout refreshes per TCP state\n"
"and deletions are counted too; --ovs-invalid adds OVS conntrack results\n"
"(ovs_ct_execute / ovs_ct_update_key) and prints every packet OVS found\n"
"invalid. Hooks that cannot attach are listed as unavailable with the\n"
"reason. Replaces linux-network-stack/trace_conntrack.py and\n"
"other/trace-ovs-ct-invalid.bt.",
		.examples =
"  stagetrace conntrack --netns hv1\n"
"  stagetrace conntrack --proto tcp --dport 443 -v\n"
"  stagetrace conntrack --ovs-invalid --json",
	};
	struct ct c = { .evfd = -1 };
	struct st_opt opts[ST_LOCAL_NOPTS + 4];
	int check = 0, rc, ec;
	size_t no = 0;

	st_local_opts_init(&c.lo);
	st_local_opts_table(&c.lo, CT_SUPPORTED, opts, &no, sizeof(opts) / sizeof(opts[0]) - 3);
	opts[no++] = (struct st_opt){ "ovs-invalid", 0, ST_OPT_FLAG, &c.ovs, NULL,
				      "also hook OVS conntrack and print packets it found invalid" };
	opts[no++] = (struct st_opt){ "method", 0, ST_OPT_STR, &c.method_force,
				      "tp_btf|raw_tp", "attach method of kfree_skb (default: probed)" };
	opts[no++] = (struct st_opt){ "check-hooks", 0, ST_OPT_FLAG, &check, NULL,
				      "load each hook program through the verifier (no attach), report, exit" };
	opts[no] = (struct st_opt)ST_OPT_END;
	if (st_opts_parse_noargs(argc, argv, opts, &help, &ec))
		return ec;
	if ((rc = st_local_validate(&c.lo, CT_SUPPORTED, CMD)))
		return rc;
	if (c.method_force && strcmp(c.method_force, "tp_btf") && strcmp(c.method_force, "raw_tp")) {
		fprintf(stderr, "error: --method: invalid value '%s' (expected tp_btf or raw_tp)\n",
			c.method_force);
		return ST_EXIT_USAGE;
	}
	if ((rc = st_local_require_root(CMD)))
		return rc;
	st_log_route_libbpf();
	c.ncpus = libbpf_num_possible_cpus();
	if (c.ncpus <= 0) {
		fprintf(stderr, "error: cannot count CPUs: %s\n", strerror(-c.ncpus));
		return ST_EXIT_FAIL;
	}
	if (check) {
		rc = check_hooks(&c);
		goto out;
	}
	c.netns = c.lo.netns_set ? c.lo.netns_ino : st_local_self_netns();
	c.evfd = st_ct_events_open(c.netns);
	if (c.evfd < 0) {
		fprintf(stderr, "error: cannot listen to conntrack events in netns %u: %s\n", c.netns,
			strerror(-c.evfd));
		rc = ST_EXIT_FAIL;
		goto out;
	}
	rc = st_ct_stats_read(c.netns, c.stats);
	c.have_stats = !rc;
	if (rc)
		snprintf(c.stats_err, sizeof(c.stats_err), "%s", strerror(-rc));
	read_timeouts(&c);
	c.have_ksyms = !st_ksyms_load(&c.ksyms);
	c.have_reasons = !st_btf_enum_load("skb_drop_reason", "SKB_DROP_REASON_", &c.reasons);
	rc = setup_bpf(&c);
	if (!rc) {
		st_local_signals();
		rc = run(&c);
		if (!c.lo.json)
			fprintf(stderr, "conntrack: %llu events (%llu filtered out); lost: %llu netlink overruns, "
				"%llu counts (map full)\n", (unsigned long long)c.events_total,
				(unsigned long long)c.filtered_events, (unsigned long long)c.nl_lost_total,
				(unsigned long long)c.counters[ST_CC_MAP_FULL]);
	}
out:
	st_local_hooks_destroy(c.hooks, NHOOKS);
	if (c.evfd >= 0)
		close(c.evfd);
	ring_buffer__free(c.rb);
	bpf_link__destroy(c.drop_link);
	conntrack_bpf__destroy(c.skel);
	if (c.have_ksyms)
		st_ksyms_free(&c.ksyms);
	if (c.have_reasons)
		st_enum_names_free(&c.reasons);
	free(c.rows);
	st_local_dev_names_free();
	return rc;
}
