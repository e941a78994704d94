// SPDX-License-Identifier: MIT
/*
 * stagetrace flow: what it prints. With -v one block per packet (its hops
 * in time order, each with the time since the first hop and since the
 * previous one); otherwise one table per interval with a row per
 * transition between consecutive hops, ordered by where the transition
 * sits in the paths on average, so the table reads like a path. Losses
 * (full ring, full tables) are printed with every interval that had them.
 */
#include <arpa/inet.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flow.h"
#include "timeutil.h"

const char *const flow_stage_names[ST_FS_MAX] = {
	[ST_FS_RX] = "rx",
	[ST_FS_QUEUE] = "queue",
	[ST_FS_ENQ] = "enq",
	[ST_FS_DEQ] = "deq",
	[ST_FS_XMIT] = "xmit",
	[ST_FS_DROP] = "drop",
	[ST_FS_FREE] = "free",
	[ST_FS_READ] = "read",
};

static const char *proto_name(uint8_t p, char *buf, size_t len)
{
	switch (p) {
	case 1: return "icmp";
	case 6: return "tcp";
	case 17: return "udp";
	}
	snprintf(buf, len, "proto%u", p);
	return buf;
}

/* A device, or for a hop with no device (a socket's) "socket@NETNS". */
static const char *dev_name(uint32_t netns, uint32_t ifindex, char *buf, size_t len)
{
	const char *ns;

	if (ifindex)
		return st_local_dev_name(netns, ifindex);
	ns = st_local_netns_name(netns);
	if (ns)
		snprintf(buf, len, "socket@%s", ns);
	else
		snprintf(buf, len, "socket@%u", netns);
	return buf;
}

static const char *place(const struct flow_place *pl, char *buf, size_t len)
{
	char d[96];

	snprintf(buf, len, "%s %s", flow_stage_names[pl->stage],
		 dev_name(pl->netns, pl->ifindex, d, sizeof(d)));
	return buf;
}

static const char *reason_name(struct flow *f, uint32_t r, char *buf, size_t len)
{
	const char *n = f->have_reasons ? st_enum_name(&f->reasons, r) : NULL;

	if (n)
		return n;
	snprintf(buf, len, "reason%u", r);
	return buf;
}

/* "ipid=N" (UDP, other), "seq=N" (TCP, ICMP echo). */
static const char *disc(const struct st_pkt_key *k, char *buf, size_t len)
{
	if (k->proto == 6 || k->proto == 1)
		snprintf(buf, len, "seq=%u", k->disc1);
	else
		snprintf(buf, len, "ipid=%u", k->disc1 >> 16);
	return buf;
}

void flow_print_packet(struct flow *f, const struct flow_pkt *p)
{
	char t[32], pb[16], sa[INET_ADDRSTRLEN], da[INET_ADDRSTRLEN], db[32], rb[48], nb[96];
	const struct st_pkt_key *k = &p->key;
	uint64_t t0 = p->hops[0].ts;
	int ports = k->proto == 6 || k->proto == 17;

	st_local_mono_hms(t0, t, sizeof(t));
	inet_ntop(AF_INET, &k->saddr, sa, sizeof(sa));
	inet_ntop(AF_INET, &k->daddr, da, sizeof(da));
	if (f->lo.json) {
		json_object *o = json_object_new_object(), *arr = json_object_new_array();

		json_object_object_add(o, "type", json_object_new_string("packet"));
		json_object_object_add(o, "time", json_object_new_string(t));
		json_object_object_add(o, "proto", json_object_new_string(
			proto_name(k->proto, pb, sizeof(pb))));
		json_object_object_add(o, "src", json_object_new_string(sa));
		json_object_object_add(o, "dst", json_object_new_string(da));
		if (ports) {
			json_object_object_add(o, "sport", json_object_new_int(ntohs(k->sport)));
			json_object_object_add(o, "dport", json_object_new_int(ntohs(k->dport)));
		}
		if (k->proto == 6 || k->proto == 1)
			json_object_object_add(o, "seq", json_object_new_int64(k->disc1));
		else
			json_object_object_add(o, "ip_id", json_object_new_int64(k->disc1 >> 16));
		json_object_object_add(o, "total_us", json_object_new_double(
			(p->hops[p->n - 1].ts - t0) / 1e3));
		for (uint32_t i = 0; i < p->n; i++) {
			const struct flow_hop *h = &p->hops[i];
			json_object *j = json_object_new_object();

			json_object_object_add(j, "stage", json_object_new_string(
				flow_stage_names[h->stage]));
			json_object_object_add(j, "dev", json_object_new_string(
				dev_name(h->netns, h->ifindex, nb, sizeof(nb))));
			json_object_object_add(j, "netns", json_object_new_int64(h->netns));
			json_object_object_add(j, "ifindex", json_object_new_int64(h->ifindex));
			json_object_object_add(j, "t_us", json_object_new_double((h->ts - t0) / 1e3));
			json_object_object_add(j, "delta_us", json_object_new_double(
				i ? (h->ts - p->hops[i - 1].ts) / 1e3 : 0));
			json_object_object_add(j, "len", json_object_new_int64(h->len));
			json_object_object_add(j, "vlan", json_object_new_int(h->vlan));
			if (h->stage == ST_FS_DROP)
				json_object_object_add(j, "reason", json_object_new_string(
					reason_name(f, h->reason, rb, sizeof(rb))));
			json_object_array_add(arr, j);
		}
		json_object_object_add(o, "hops", arr);
		json_object_object_add(o, "hops_not_recorded", json_object_new_int64(p->truncated));
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
		return;
	}
	if (ports)
		printf("%s %s %s:%u -> %s:%u %s, %u hops, %.1f us\n", t,
		       proto_name(k->proto, pb, sizeof(pb)), sa, ntohs(k->sport), da,
		       ntohs(k->dport), disc(k, db, sizeof(db)), p->n,
		       (p->hops[p->n - 1].ts - t0) / 1e3);
	else
		printf("%s %s %s -> %s %s, %u hops, %.1f us\n", t,
		       proto_name(k->proto, pb, sizeof(pb)), sa, da, disc(k, db, sizeof(db)), p->n,
		       (p->hops[p->n - 1].ts - t0) / 1e3);
	for (uint32_t i = 0; i < p->n; i++) {
		const struct flow_hop *h = &p->hops[i];

		printf("  %10.1f us %+10.1f us  %-5s %s len=%u", (h->ts - t0) / 1e3,
		       i ? (h->ts - p->hops[i - 1].ts) / 1e3 : 0.0, flow_stage_names[h->stage],
		       dev_name(h->netns, h->ifindex, nb, sizeof(nb)), h->len);
		if (h->vlan)
			printf(" vlan=%u", h->vlan);
		if (h->stage == ST_FS_DROP)
			printf(" reason=%s", reason_name(f, h->reason, rb, sizeof(rb)));
		printf("\n");
	}
	if (p->truncated)
		printf("  (%u more hops not recorded: more than %d)\n", p->truncated, FLOW_MAX_HOPS);
}

/* Transitions with samples in h (iv or all), ordered by mean position. */
static size_t ordered(struct flow *f, int all, struct flow_trans **out)
{
	size_t n = 0;

	for (size_t i = 0; i < f->ntrans; i++)
		if ((all ? f->trans[i].all.count : f->trans[i].iv.count))
			out[n++] = &f->trans[i];
	for (size_t i = 1; i < n; i++) {
		struct flow_trans *t = out[i];
		double pt = t->pos_sum / (double)t->all.count;
		size_t j = i;

		while (j && out[j - 1]->pos_sum / (double)out[j - 1]->all.count > pt) {
			out[j] = out[j - 1];
			j--;
		}
		out[j] = t;
	}
	return n;
}

static json_object *place_json(const struct flow_place *pl)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "stage", json_object_new_string(flow_stage_names[pl->stage]));
	char d[96];

	json_object_object_add(o, "dev", json_object_new_string(
		dev_name(pl->netns, pl->ifindex, d, sizeof(d))));
	json_object_object_add(o, "netns", json_object_new_int64(pl->netns));
	json_object_object_add(o, "ifindex", json_object_new_int64(pl->ifindex));
	return o;
}

static void table(struct flow *f, int all, const char *t, uint64_t pkts, uint64_t trunc,
		  const uint64_t c[ST_FC_MAX], uint64_t table_full, double secs)
{
	struct flow_trans *rows[FLOW_MAX_TRANS];
	size_t n = ordered(f, all, rows);
	char a[128], b[128];

	if (f->lo.json) {
		json_object *o = json_object_new_object(), *arr = json_object_new_array();
		json_object *lost = json_object_new_object(), *cnt = json_object_new_object();
		json_object *att = json_object_new_object();
		static const char *const cn[ST_FC_MAX] = { "calls", "filtered", "events",
			"lost_events", "lost_vlan_map_full" };

		json_object_object_add(o, "type", json_object_new_string(all ? "summary" : "interval"));
		json_object_object_add(o, "time", json_object_new_string(t));
		json_object_object_add(o, "unix_s", json_object_new_double(st_real_ns() / 1e9));
		if (!all)
			json_object_object_add(o, "interval_s", json_object_new_double(secs));
		json_object_object_add(o, "packets", json_object_new_int64(pkts));
		json_object_object_add(o, "truncated", json_object_new_int64(trunc));
		for (size_t i = 0; i < n; i++) {
			const struct st_hist *h = all ? &rows[i]->all : &rows[i]->iv;
			json_object *e = json_object_new_object();

			json_object_object_add(e, "from", place_json(&rows[i]->from));
			json_object_object_add(e, "to", place_json(&rows[i]->to));
			json_object_object_add(e, "latency", st_local_hist_json(h));
			json_object_array_add(arr, e);
		}
		json_object_object_add(o, "hops", arr);
		json_object_object_add(lost, "events", json_object_new_int64(c[ST_FC_RINGBUF_FULL]));
		json_object_object_add(lost, "vlan_map_full", json_object_new_int64(c[ST_FC_VLAN_MAP_FULL]));
		json_object_object_add(lost, "packet_table_full", json_object_new_int64(table_full));
		json_object_object_add(lost, "transition_table_full", json_object_new_int64(f->trans_full));
		json_object_object_add(o, "lost", lost);
		for (int i = 0; i < ST_FC_MAX; i++)
			json_object_object_add(cnt, cn[i], json_object_new_int64(c[i]));
		json_object_object_add(o, "counters", cnt);
		for (int i = 0; i < ST_FS_MAX; i++)
			json_object_object_add(att, f->hooks[i].tp, json_object_new_string(
				f->hooks[i].method ? f->hooks[i].method : "unavailable"));
		json_object_object_add(o, "attach", att);
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
		fflush(stdout);
		return;
	}
	if (c[ST_FC_RINGBUF_FULL] || c[ST_FC_VLAN_MAP_FULL] || table_full)
		printf("%s lost: %llu hop events (ring full), %llu tagged packets not remembered, "
		       "%llu packets not joined (table of %d full)\n", t,
		       (unsigned long long)c[ST_FC_RINGBUF_FULL],
		       (unsigned long long)c[ST_FC_VLAN_MAP_FULL], (unsigned long long)table_full,
		       FLOW_MAX_PKTS);
	if (f->lo.verbose && !all)
		return;
	printf("%s %s: %llu packets", t, all ? "total" : "flow", (unsigned long long)pkts);
	if (trunc)
		printf(" (%llu with more than %d hops)", (unsigned long long)trunc, FLOW_MAX_HOPS);
	printf("\n");
	if (n)
		printf("  %-34s %-34s %7s %9s %9s %9s %9s\n", "FROM", "TO", "COUNT", "AVG us",
		       "P50 us", "P90 us", "MAX us");
	for (size_t i = 0; i < n; i++) {
		const struct st_hist *h = all ? &rows[i]->all : &rows[i]->iv;

		printf("  %-34s %-34s %7llu %9.1f %9.1f %9.1f %9.1f\n",
		       place(&rows[i]->from, a, sizeof(a)), place(&rows[i]->to, b, sizeof(b)),
		       (unsigned long long)h->count, st_hist_mean(h) / 1e3,
		       st_hist_quantile(h, 0.5) / 1e3, st_hist_quantile(h, 0.9) / 1e3,
		       h->max / 1e3);
	}
	if (f->trans_full)
		printf("  (%llu transitions not kept: more than %d distinct)\n",
		       (unsigned long long)f->trans_full, FLOW_MAX_TRANS);
	printf("\n");
	fflush(stdout);
}

void flow_print_interval(struct flow *f, const uint64_t delta[ST_FC_MAX], double secs)
{
	char t[16];

	st_local_hms(t, sizeof(t));
	table(f, 0, t, f->iv_pkts, f->iv_truncated, delta, f->iv_table_full, secs);
}

void flow_print_summary(struct flow *f)
{
	char t[16];

	if (!f->lo.json && !f->lo.verbose && f->lo.count == 1)
		return;
	st_local_hms(t, sizeof(t));
	table(f, 1, t, f->all_pkts, f->all_truncated, f->counters, f->table_full, 0);
}
