// SPDX-License-Identifier: MIT
/*
 * stagetrace arp: suspicious ARP per network namespace and device.
 *
 * The BPF side (bpf/arp.bpf.c) hands over every ARP frame received or sent
 * and every neighbour update that would change a valid entry's MAC. This
 * side classifies frames in ring-buffer order, which is the order the
 * kernel saw them in:
 *
 *   probe        sender IP 0.0.0.0 (duplicate address detection); normal
 *   gratuitous   sender IP == target IP (an announcement, request or reply)
 *   unsolicited  a received reply for which this (netns, device) sent no
 *                request for that IP within the window; each request is
 *                answered once, a second reply is unsolicited
 *   conflict     an IP claimed (as sender) by a MAC other than the one that
 *                claimed it on the same (netns, device) within the window
 *   spoofed      the kernel was about to replace a valid neighbour entry's
 *                MAC with the one a received frame claims (neigh_update)
 *
 * Unsolicited, conflict and spoofed are judged on received frames only;
 * transmitted ones record requests and claims (a host that answers for an
 * IP claims it). Flagged frames are printed as event lines as they come
 * (every frame with -v); every interval prints the counts per (device,
 * direction). Lost events (ring full) and full state tables are counted
 * and printed; nothing is sampled.
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bpf/arp.h"
#include "arp_class.h"
#include "arp.skel.h"
#include "cli.h"
#include "local.h"
#include "localrun.h"
#include "log.h"
#include "opts.h"
#include "timeutil.h"

#define CMD "stagetrace arp"
#define ARP_SUPPORTED (ST_LO_INTERVAL | ST_LO_DURATION | ST_LO_COUNT | ST_LO_SRC | \
		       ST_LO_DST | ST_LO_VERBOSE | ST_LO_JSON | ST_LO_NETNS | ST_LO_DEV)
/* Requests and claims remembered at most (each); expired ones are
 * forgotten, and a table full of live entries counts the next as lost. */
#define ARP_STATE_MAX 8192

static const char *const counter_names[ST_AC_MAX] = {
	[ST_AC_RX_CALLS] = "rx_calls",
	[ST_AC_TX_CALLS] = "tx_calls",
	[ST_AC_ARP] = "arp_frames",
	[ST_AC_NOT_ETH_IP] = "not_ethernet_ipv4",
	[ST_AC_FILTERED] = "filtered",
	[ST_AC_NEIGH_CALLS] = "neigh_calls",
	[ST_AC_NEIGH_CHANGES] = "neigh_mac_changes",
	[ST_AC_EMITTED] = "emitted",
	[ST_AC_RINGBUF_FULL] = "lost_events",
};

/* Counts of one (netns, device, direction) in the current interval. */
struct row {
	uint32_t netns, ifindex;
	uint8_t dir;
	uint64_t request, reply, other, probe, gratuitous, unsolicited, conflict, spoofed;
};

struct arp {
	struct st_local_opts lo;
	double window;
	const char *method_force;
	const char *method[3];	/* rx, tx, neigh */
	char why_neigh[400];
	struct arp_bpf *skel;
	struct ring_buffer *rb;
	struct st_arp_state st;
	struct row *rows;
	size_t nrows, caprows;
	uint64_t state_lost_seen, admin_changes;
	uint64_t counters[ST_AC_MAX];
	uint64_t flagged_total, frames_total;
	int ncpus;
	int header_done;
};

static const char *op_name(uint16_t op, char *buf, size_t len)
{
	switch (op) {
	case 0: return "-";
	case 1: return "request";
	case 2: return "reply";
	case 3: return "rarp-req";
	case 4: return "rarp-rep";
	case 8: return "inarp-req";
	case 9: return "inarp-rep";
	}
	snprintf(buf, len, "op%u", op);
	return buf;
}

static const char *nud_name(uint8_t s)
{
	switch (s) {
	case 0x01: return "incomplete";
	case 0x02: return "reachable";
	case 0x04: return "stale";
	case 0x08: return "delay";
	case 0x10: return "probe";
	case 0x20: return "failed";
	case 0x40: return "noarp";
	case 0x80: return "permanent";
	}
	return "none";
}

static const char *mac_str(const uint8_t *m, char *buf, size_t len)
{
	snprintf(buf, len, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
	return buf;
}

static const char *ip_str(uint32_t ip, char *buf, size_t len)
{
	return inet_ntop(AF_INET, &ip, buf, len);
}

static struct row *row_get(struct arp *a, uint32_t netns, uint32_t ifindex, uint8_t dir)
{
	for (size_t i = 0; i < a->nrows; i++)
		if (a->rows[i].netns == netns && a->rows[i].ifindex == ifindex &&
		    a->rows[i].dir == dir)
			return &a->rows[i];
	if (a->nrows == a->caprows) {
		size_t cap = a->caprows ? a->caprows * 2 : 16;
		struct row *nv = realloc(a->rows, cap * sizeof(*nv));

		if (!nv)
			return NULL;
		a->rows = nv;
		a->caprows = cap;
	}
	memset(&a->rows[a->nrows], 0, sizeof(a->rows[0]));
	a->rows[a->nrows].netns = netns;
	a->rows[a->nrows].ifindex = ifindex;
	a->rows[a->nrows].dir = dir;
	return &a->rows[a->nrows++];
}

static void flags_str(unsigned f, const uint8_t prev[6], char *buf, size_t len)
{
	char mb[24];
	size_t n = 0;

	buf[0] = 0;
	if (f & ST_ARPF_PROBE)
		n += snprintf(buf + n, len - n, "%sprobe", n ? "," : "");
	if ((f & ST_ARPF_GRATUITOUS) && n < len)
		n += snprintf(buf + n, len - n, "%sgratuitous", n ? "," : "");
	if ((f & ST_ARPF_UNSOLICITED) && n < len)
		n += snprintf(buf + n, len - n, "%sunsolicited", n ? "," : "");
	if ((f & ST_ARPF_CONFLICT) && n < len)
		n += snprintf(buf + n, len - n, "%sconflict(was %s)", n ? "," : "",
			      mac_str(prev, mb, sizeof(mb)));
	if (!n)
		snprintf(buf, len, "-");
}

static void print_header(struct arp *a)
{
	if (a->header_done || a->lo.json)
		return;
	a->header_done = 1;
	printf("%-15s %-20s %-3s %-8s %-33s %-33s %s\n", "TIME", "DEV", "DIR", "OP",
	       "SENDER", "TARGET", "FLAGS");
}

static void on_packet(struct arp *a, const struct st_arp_event *e)
{
	char t[32], ob[16], s1[INET_ADDRSTRLEN], s2[INET_ADDRSTRLEN], m1[24], m2[24], m3[24];
	char fl[96], who1[48], who2[48];
	const char *opn;
	uint8_t prev[6] = { 0 };
	unsigned f = st_arp_classify(&a->st, e, prev);
	const char *dev = st_local_dev_name(e->netns, e->ifindex);
	const char *dir = e->dir == ST_ARP_RX ? "rx" : "tx";
	struct row *r = row_get(a, e->netns, e->ifindex, e->dir);
	int flagged = !!(f & (ST_ARPF_GRATUITOUS | ST_ARPF_UNSOLICITED | ST_ARPF_CONFLICT));

	a->frames_total++;
	a->flagged_total += flagged;
	if (r) {
		r->request += e->op == 1;
		r->reply += e->op == 2;
		r->other += e->op != 1 && e->op != 2;
		r->probe += !!(f & ST_ARPF_PROBE);
		r->gratuitous += !!(f & ST_ARPF_GRATUITOUS);
		r->unsolicited += !!(f & ST_ARPF_UNSOLICITED);
		r->conflict += !!(f & ST_ARPF_CONFLICT);
	}
	if (!flagged && !a->lo.verbose)
		return;
	st_local_mono_hms(e->ts, t, sizeof(t));
	opn = op_name(e->op, ob, sizeof(ob));
	ip_str(e->spa, s1, sizeof(s1));
	ip_str(e->tpa, s2, sizeof(s2));
	mac_str(e->sha, m1, sizeof(m1));
	mac_str(e->tha, m2, sizeof(m2));
	mac_str(e->eth_dst, m3, sizeof(m3));
	if (a->lo.json) {
		json_object *o = json_object_new_object(), *fa = json_object_new_array();

		json_object_object_add(o, "type", json_object_new_string("event"));
		json_object_object_add(o, "event", json_object_new_string("arp"));
		json_object_object_add(o, "time", json_object_new_string(t));
		json_object_object_add(o, "netns", json_object_new_int64(e->netns));
		json_object_object_add(o, "ifindex", json_object_new_int64(e->ifindex));
		json_object_object_add(o, "dev", json_object_new_string(dev));
		json_object_object_add(o, "dir", json_object_new_string(dir));
		json_object_object_add(o, "op", json_object_new_string(opn));
		json_object_object_add(o, "sender_ip", json_object_new_string(s1));
		json_object_object_add(o, "sender_mac", json_object_new_string(m1));
		json_object_object_add(o, "target_ip", json_object_new_string(s2));
		json_object_object_add(o, "target_mac", json_object_new_string(m2));
		json_object_object_add(o, "eth_dst", json_object_new_string(m3));
		if (f & ST_ARPF_PROBE)
			json_object_array_add(fa, json_object_new_string("probe"));
		if (f & ST_ARPF_GRATUITOUS)
			json_object_array_add(fa, json_object_new_string("gratuitous"));
		if (f & ST_ARPF_UNSOLICITED)
			json_object_array_add(fa, json_object_new_string("unsolicited"));
		if (f & ST_ARPF_CONFLICT)
			json_object_array_add(fa, json_object_new_string("conflict"));
		json_object_object_add(o, "flags", fa);
		if (f & ST_ARPF_CONFLICT)
			json_object_object_add(o, "previous_mac", json_object_new_string(
				mac_str(prev, m3, sizeof(m3))));
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
		return;
	}
	print_header(a);
	flags_str(f, prev, fl, sizeof(fl));
	snprintf(who1, sizeof(who1), "%s %s", s1, m1);
	snprintf(who2, sizeof(who2), "%s %s", s2, m2);
	printf("%-15s %-20s %-3s %-8s %-33s %-33s %s\n", t, dev, dir, opn, who1, who2, fl);
}

static void on_neigh(struct arp *a, const struct st_arp_event *e)
{
	char t[32], ob[16], ip[INET_ADDRSTRLEN], m1[24], m2[24], who[48];
	const char *dev = st_local_dev_name(e->netns, e->ifindex), *opn;
	int admin = e->nlmsg_pid != 0;
	struct row *r;

	/* Changes an administrator made over netlink are no attack. */
	if (admin) {
		a->admin_changes++;
		if (!a->lo.verbose)
			return;
	} else if ((r = row_get(a, e->netns, e->ifindex, ST_ARP_RX))) {
		r->spoofed++;
		a->flagged_total++;
	}
	st_local_mono_hms(e->ts, t, sizeof(t));
	opn = op_name(e->op, ob, sizeof(ob));
	ip_str(e->spa, ip, sizeof(ip));
	mac_str(e->sha, m1, sizeof(m1));
	mac_str(e->tha, m2, sizeof(m2));
	if (a->lo.json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "type", json_object_new_string("event"));
		json_object_object_add(o, "event", json_object_new_string(admin ? "neigh_admin_change" : "spoofed"));
		json_object_object_add(o, "time", json_object_new_string(t));
		json_object_object_add(o, "netns", json_object_new_int64(e->netns));
		json_object_object_add(o, "ifindex", json_object_new_int64(e->ifindex));
		json_object_object_add(o, "dev", json_object_new_string(dev));
		json_object_object_add(o, "dir", json_object_new_string("rx"));
		json_object_object_add(o, "op", json_object_new_string(opn));
		json_object_object_add(o, "ip", json_object_new_string(ip));
		json_object_object_add(o, "mac", json_object_new_string(m1));
		json_object_object_add(o, "table_mac", json_object_new_string(m2));
		json_object_object_add(o, "table_state", json_object_new_string(nud_name(e->old_state)));
		json_object_object_add(o, "new_state", json_object_new_string(nud_name(e->new_state)));
		json_object_object_add(o, "update_flags", json_object_new_int64(e->nflags));
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
		return;
	}
	print_header(a);
	snprintf(who, sizeof(who), "%s %s", ip, m1);
	printf("%-15s %-20s %-3s %-8s %-33s %-33s %s(table had %s %s)\n", t, dev, "rx", opn,
	       who, "-", admin ? "admin-change" : "spoofed", m2, nud_name(e->old_state));
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct arp *a = ctx;
	const struct st_arp_event *e = data;

	if (size < sizeof(*e))
		return 0;
	if (e->kind == ST_ARP_PACKET)
		on_packet(a, e);
	else if (e->kind == ST_ARP_NEIGH)
		on_neigh(a, e);
	return 0;
}

/* ---- intervals ----------------------------------------------------------- */

static int row_cmp(const void *x, const void *y)
{
	const struct row *p = x, *q = y;

	if (p->netns != q->netns)
		return p->netns < q->netns ? -1 : 1;
	if (p->ifindex != q->ifindex)
		return p->ifindex < q->ifindex ? -1 : 1;
	return (int)p->dir - (int)q->dir;
}

static void report(struct arp *a, double secs)
{
	uint64_t delta[ST_AC_MAX], state_lost = a->st.lost - a->state_lost_seen;
	int fd = bpf_map__fd(a->skel->maps.arp_counters);
	char t[16];

	for (uint32_t i = 0; i < ST_AC_MAX; i++) {
		uint64_t v = st_local_percpu_sum(fd, i, a->ncpus);

		delta[i] = v - a->counters[i];
		a->counters[i] = v;
	}
	st_local_hms(t, sizeof(t));
	qsort(a->rows, a->nrows, sizeof(*a->rows), row_cmp);
	if (a->lo.json) {
		json_object *o = json_object_new_object(), *arr = json_object_new_array();
		json_object *cnt = json_object_new_object(), *lost = json_object_new_object();

		json_object_object_add(o, "type", json_object_new_string("interval"));
		json_object_object_add(o, "time", json_object_new_string(t));
		json_object_object_add(o, "unix_s", json_object_new_double(st_real_ns() / 1e9));
		json_object_object_add(o, "interval_s", json_object_new_double(secs));
		for (size_t i = 0; i < a->nrows; i++) {
			const struct row *r = &a->rows[i];
			json_object *e = json_object_new_object();

			json_object_object_add(e, "dev", json_object_new_string(
				st_local_dev_name(r->netns, r->ifindex)));
			json_object_object_add(e, "netns", json_object_new_int64(r->netns));
			json_object_object_add(e, "ifindex", json_object_new_int64(r->ifindex));
			json_object_object_add(e, "dir", json_object_new_string(r->dir == ST_ARP_RX ? "rx" : "tx"));
			json_object_object_add(e, "request", json_object_new_int64(r->request));
			json_object_object_add(e, "reply", json_object_new_int64(r->reply));
			json_object_object_add(e, "other_op", json_object_new_int64(r->other));
			json_object_object_add(e, "probe", json_object_new_int64(r->probe));
			json_object_object_add(e, "gratuitous", json_object_new_int64(r->gratuitous));
			json_object_object_add(e, "unsolicited", json_object_new_int64(r->unsolicited));
			json_object_object_add(e, "conflict", json_object_new_int64(r->conflict));
			json_object_object_add(e, "spoofed", json_object_new_int64(r->spoofed));
			json_object_array_add(arr, e);
		}
		json_object_object_add(o, "rows", arr);
		json_object_object_add(lost, "events", json_object_new_int64(delta[ST_AC_RINGBUF_FULL]));
		json_object_object_add(lost, "state", json_object_new_int64(state_lost));
		json_object_object_add(o, "lost", lost);
		for (int i = 0; i < ST_AC_MAX; i++)
			json_object_object_add(cnt, counter_names[i], json_object_new_int64(delta[i]));
		json_object_object_add(cnt, "neigh_admin_changes", json_object_new_int64(a->admin_changes));
		json_object_object_add(o, "counters", cnt);
		{
			json_object *att = json_object_new_object();

			json_object_object_add(att, "netif_receive_skb", json_object_new_string(a->method[0]));
			json_object_object_add(att, "net_dev_start_xmit", json_object_new_string(a->method[1]));
			json_object_object_add(att, "neigh_update", a->method[2] ?
					       json_object_new_string(a->method[2]) : NULL);
			json_object_object_add(o, "attach", att);
		}
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
	} else {
		printf("%-8s %-24s %-3s %7s %7s %6s %10s %11s %8s %7s\n", "TIME", "DEV", "DIR",
		       "REQUEST", "REPLY", "PROBE", "GRATUITOUS", "UNSOLICITED", "CONFLICT", "SPOOFED");
		if (!a->nrows)
			printf("%-8s %-24s %-3s %7d %7d %6d %10d %11d %8d %7d\n", t, "-", "-",
			       0, 0, 0, 0, 0, 0, 0);
		for (size_t i = 0; i < a->nrows; i++) {
			const struct row *r = &a->rows[i];

			printf("%-8s %-24s %-3s %7llu %7llu %6llu %10llu %11llu %8llu %7llu\n", t,
			       st_local_dev_name(r->netns, r->ifindex), r->dir == ST_ARP_RX ? "rx" : "tx",
			       (unsigned long long)r->request, (unsigned long long)r->reply,
			       (unsigned long long)r->probe, (unsigned long long)r->gratuitous,
			       (unsigned long long)r->unsolicited, (unsigned long long)r->conflict,
			       (unsigned long long)r->spoofed);
		}
		if (delta[ST_AC_RINGBUF_FULL] || state_lost)
			printf("%-8s lost: %llu events (ring full), %llu requests/claims (state table full)\n",
			       t, (unsigned long long)delta[ST_AC_RINGBUF_FULL],
			       (unsigned long long)state_lost);
		printf("\n");
		a->header_done = 0;
	}
	fflush(stdout);
	a->state_lost_seen = a->st.lost;
	a->admin_changes = 0;
	a->nrows = 0;
}

/* ---- set-up -------------------------------------------------------------- */

static int setup_bpf(struct arp *a)
{
	static const char *const tps[3] = { "netif_receive_skb", "net_dev_start_xmit", "neigh_update" };
	struct bpf_program *btf[3], *raw[3];
	struct st_arp_cfg cfg = { 0 };
	uint32_t zero = 0;
	uint8_t one = 1;
	int err;

	for (int i = 0; i < 3; i++) {
		char why[400] = "";

		if (a->method_force) {
			a->method[i] = a->method_force;
			continue;
		}
		a->method[i] = st_probe_best(tps[i], why, sizeof(why));
		if (!a->method[i] && i < 2) {
			fprintf(stderr, "error: cannot attach to net:%s: %s\n", tps[i], why);
			return ST_EXIT_FAIL;
		}
		if (!a->method[i])
			snprintf(a->why_neigh, sizeof(a->why_neigh), "%s", why);
	}
	a->skel = arp_bpf__open();
	if (!a->skel) {
		fprintf(stderr, "error: cannot open the arp BPF object: %s\n", strerror(errno));
		return ST_EXIT_FAIL;
	}
	btf[0] = a->skel->progs.btf_arp_rx;
	btf[1] = a->skel->progs.btf_arp_tx;
	btf[2] = a->skel->progs.btf_arp_neigh;
	raw[0] = a->skel->progs.raw_arp_rx;
	raw[1] = a->skel->progs.raw_arp_tx;
	raw[2] = a->skel->progs.raw_arp_neigh;
	for (int i = 0; i < 3; i++) {
		bpf_program__set_autoload(btf[i], a->method[i] && !strcmp(a->method[i], "tp_btf"));
		bpf_program__set_autoload(raw[i], a->method[i] && !strcmp(a->method[i], "raw_tp"));
	}
	err = arp_bpf__load(a->skel);
	if (err) {
		fprintf(stderr, "error: loading the arp BPF programs failed: %s\n", strerror(-err));
		return ST_EXIT_FAIL;
	}
	if (a->lo.netns_set) {
		cfg.flags |= ST_ARP_F_NETNS;
		bpf_map_update_elem(bpf_map__fd(a->skel->maps.arp_netns), &a->lo.netns_ino, &one, BPF_ANY);
	}
	if (a->lo.dev_set) {
		struct st_arp_dev dk = { a->lo.dev_netns, a->lo.dev_ifindex };

		cfg.flags |= ST_ARP_F_DEV;
		bpf_map_update_elem(bpf_map__fd(a->skel->maps.arp_devs), &dk, &one, BPF_ANY);
	}
	if (a->lo.src.set) {
		cfg.flags |= ST_ARP_F_SRC;
		cfg.src = a->lo.src.addr;
		cfg.src_mask = a->lo.src.mask;
	}
	if (a->lo.dst.set) {
		cfg.flags |= ST_ARP_F_DST;
		cfg.dst = a->lo.dst.addr;
		cfg.dst_mask = a->lo.dst.mask;
	}
	if (bpf_map_update_elem(bpf_map__fd(a->skel->maps.arp_cfg), &zero, &cfg, BPF_ANY)) {
		fprintf(stderr, "error: cannot configure the arp BPF programs: %s\n", strerror(errno));
		return ST_EXIT_FAIL;
	}
	a->rb = ring_buffer__new(bpf_map__fd(a->skel->maps.arp_events), on_event, a, NULL);
	if (!a->rb) {
		fprintf(stderr, "error: cannot open the arp event ring buffer: %s\n", strerror(errno));
		return ST_EXIT_FAIL;
	}
	err = arp_bpf__attach(a->skel);
	if (err) {
		fprintf(stderr, "error: attaching the arp BPF programs failed: %s\n", strerror(-err));
		return ST_EXIT_FAIL;
	}
	return 0;
}

static int run(struct arp *a)
{
	struct st_local_ticker tk;

	if (!a->lo.json) {
		fprintf(stderr, "Tracing ARP (netif_receive_skb %s, net_dev_start_xmit %s, neigh_update %s%s), "
			"window %gs... Ctrl-C to end.\n", a->method[0], a->method[1],
			a->method[2] ? a->method[2] : "unavailable: ", a->method[2] ? "" : a->why_neigh,
			a->window);
		if (!a->method[2])
			fprintf(stderr, "arp: spoofed replies (neighbour table check) cannot be seen on this kernel\n");
	}
	st_local_ticker_init(&tk, a->lo.interval, a->lo.duration);
	for (;;) {
		uint64_t next = st_local_ticker_next(&tk);
		double secs;
		int stop;

		while (st_mono_ns() < next && !st_local_stop)
			st_local_wait(next, a->rb, 100);
		ring_buffer__consume(a->rb);
		stop = st_local_ticker_end(&tk, st_mono_ns(), a->lo.count, &secs);
		report(a, secs);
		if (stop)
			break;
	}
	return 0;
}

int cmd_arp(int argc, char **argv)
{
	static const struct st_cmd_help help = {
		.name = CMD,
		.summary = "Suspicious ARP: gratuitous, unsolicited, conflicting and spoofed, per device.",
		.description =
"Sees every ARP frame a device receives (net:netif_receive_skb) or sends\n"
"(net:net_dev_start_xmit) in every network namespace, and every neighbour\n"
"update that would change a valid IPv4 entry's MAC (neigh:neigh_update).\n"
"Frames are flagged as\n"
"  gratuitous   sender IP == target IP (request or reply)\n"
"  unsolicited  a received reply to no request this netns/device sent for\n"
"               that IP within --window (each request answers one reply)\n"
"  conflict     the sender IP was claimed by another MAC on the same\n"
"               netns/device within --window (the old MAC is printed)\n"
"  spoofed      the kernel was about to replace the MAC of a valid neighbour\n"
"               entry with the one a frame claims (changes made with\n"
"               'ip neigh' are not flagged)\n"
"  probe        sender IP 0.0.0.0 (duplicate address detection), counted,\n"
"               not flagged.\n"
"Flagged frames print as event lines when they are seen (every frame with\n"
"-v); every interval prints the counts per device and direction. --src-ip\n"
"matches the sender IP, --dst-ip the target IP. Lost events (ring full) are\n"
"printed. Replaces other/trace-abnormal-arp.bt.",
		.examples =
"  stagetrace arp\n"
"  stagetrace arp --netns hv1 --dev br0 -i 10\n"
"  stagetrace arp --src-ip 10.0.0.1 -v --json",
	};
	struct arp a = { .window = 5 };
	struct st_opt opts[ST_LOCAL_NOPTS + 4];
	size_t no = 0;
	int rc, ec;

	st_local_opts_init(&a.lo);
	st_local_opts_table(&a.lo, ARP_SUPPORTED, opts, &no, sizeof(opts) / sizeof(opts[0]) - 2);
	opts[no++] = (struct st_opt){ "window", 'w', ST_OPT_DURATION, &a.window, "SEC",
				      "how long a request awaits its reply and a claim is remembered (default 5)",
				      0.001, 3600 };
	opts[no++] = (struct st_opt){ "method", 0, ST_OPT_STR, &a.method_force,
				      "tp_btf|raw_tp", "attach method (default: probed per hook)" };
	opts[no] = (struct st_opt)ST_OPT_END;

	if (st_opts_parse_noargs(argc, argv, opts, &help, &ec))
		return ec;
	if ((rc = st_local_validate(&a.lo, ARP_SUPPORTED, CMD)))
		return rc;
	if ((rc = st_local_method_check(a.method_force)))
		return rc;
	if ((rc = st_local_require_root(CMD)))
		return rc;
	st_log_route_libbpf();
	a.ncpus = libbpf_num_possible_cpus();
	if (a.ncpus <= 0 || st_arp_state_init(&a.st, ARP_STATE_MAX, a.window)) {
		fprintf(stderr, "error: out of memory or cannot count CPUs\n");
		rc = ST_EXIT_FAIL;
		goto out;
	}
	rc = setup_bpf(&a);
	if (!rc) {
		st_local_signals();
		rc = run(&a);
		if (!a.lo.json)
			fprintf(stderr, "arp: %llu frames, %llu flagged; lost: %llu events (ring full), "
				"%llu requests/claims (state table full)\n",
				(unsigned long long)a.frames_total, (unsigned long long)a.flagged_total,
				(unsigned long long)a.counters[ST_AC_RINGBUF_FULL],
				(unsigned long long)a.st.lost);
	}
out:
	ring_buffer__free(a.rb);
	arp_bpf__destroy(a.skel);
	st_arp_state_free(&a.st);
	free(a.rows);
	st_local_dev_names_free();
	return rc;
}
