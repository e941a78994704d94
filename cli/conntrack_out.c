// SPDX-License-Identifier: MIT
/*
 * stagetrace conntrack, output: ctnetlink events grouped per interval into
 * (event, protocol, state, zone, mark) rows with the timeouts they
 * carried (each event printed with -v), OVS invalid packets, and per
 * interval the kernel's statistics as deltas and the BPF side's counts
 * (drops; hook results where hooks attach).
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conntrack_int.h"
#include "timeutil.h"

const char *const ct_timeout_names[NTIMEOUTS] = {
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
	/* Address filters are IPv4: an IPv6 entry never matches one. */
	if ((c->lo.src.set || c->lo.dst.set) && e->family != AF_INET)
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

void ct_on_event(void *ctx, const struct st_ct_event *e)
{
	struct ct *c = ctx;
	char st[16], pb[16], sa[INET6_ADDRSTRLEN], da[INET6_ADDRSTRLEN], t[16];
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
	if (e->family == AF_INET6) {
		inet_ntop(AF_INET6, e->src6, sa, sizeof(sa));
		inet_ntop(AF_INET6, e->dst6, da, sizeof(da));
	} else {
		inet_ntop(AF_INET, &e->src, sa, sizeof(sa));
		inet_ntop(AF_INET, &e->dst, da, sizeof(da));
	}
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
	{
		/* IPv6 addresses in brackets, so the port stays readable. */
		int v6 = e->family == AF_INET6;
		char from[INET6_ADDRSTRLEN + 8], to[INET6_ADDRSTRLEN + 8];

		snprintf(from, sizeof(from), "%s%s%s:%u", v6 ? "[" : "", sa, v6 ? "]" : "", ntohs(e->sport));
		snprintf(to, sizeof(to), "%s%s%s:%u", v6 ? "[" : "", da, v6 ? "]" : "", ntohs(e->dport));
		printf("%-8s %-7s %-4s %s -> %s state=%s timeout=", t, type_name(e->type), pn, from, to, st);
	}
	if (e->timeout >= 0)
		printf("%lld", (long long)e->timeout);
	else
		printf("-");
	printf(" zone=%u mark=%u id=%u\n", e->zone, e->mark, e->id);
}

/* ---- OVS invalid events --------------------------------------------------- */

int ct_on_ovs_event(void *ctx, void *data, size_t size)
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

void ct_read_timeouts(struct ct *c)
{
	int self = st_local_netns_enter(c->netns);

	for (int i = 0; i < NTIMEOUTS; i++) {
		char path[160];
		long long v;
		FILE *f;

		c->timeouts[i] = -1;
		if (self < 0 && self != ST_LOCAL_NETNS_SAME)
			continue;
		snprintf(path, sizeof(path), "/proc/sys/net/netfilter/nf_conntrack_%s", ct_timeout_names[i]);
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

void ct_report(struct ct *c, int fd, double secs)
{
	struct st_ct_key cur, next, *keys = calloc(ST_CT_MAX_KEYS, sizeof(*keys));
	struct st_ct_val *vals = calloc(ST_CT_MAX_KEYS, sizeof(*vals));
	uint64_t st[ST_CTS_N] = { 0 }, dst[ST_CTS_N] = { 0 }, delta[ST_CC_MAX];
	int cfd = bpf_map__fd(c->skel->maps.ct_counters);
	size_t nk = 0, m = 0;
	void *prev = NULL;
	char t[16], pb[16], desc[256];
	int stats_ok;

	/* The whole map: it holds at most ST_CT_MAX_KEYS rows. */
	while (keys && vals && nk < ST_CT_MAX_KEYS && !bpf_map_get_next_key(fd, prev, &next)) {
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
			json_object_object_add(tmo, ct_timeout_names[i], c->timeouts[i] >= 0 ?
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
		json_object_object_add(o, "events_unavailable", c->events_err[0] ?
				       json_object_new_string(c->events_err) : NULL);
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
	free(keys);
	free(vals);
	c->nl_lost_total += c->nl_lost;
	c->nl_lost = 0;
	c->nrows = 0;
}
