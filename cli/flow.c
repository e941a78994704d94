// SPDX-License-Identifier: MIT
/*
 * stagetrace flow: the hop-by-hop path of the packets of one filtered
 * flow on this host (bpf/flow.bpf.c emits one event per hook a packet
 * passes).
 *
 * Events are joined per packet id in a table. A packet's path ends when no
 * event of it has come for --settle (a packet still in flight after that
 * long would be split in two paths: the setting is the longest hold the
 * operator expects on this host). A finished path is sorted by time
 * stamp (events of one packet may come from several CPUs' ring buffer
 * reservations in any order), printed with -v, and its consecutive hops
 * are added to the per-transition histograms of the interval table.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "flow.h"
#include "flow.skel.h"
#include "localrun.h"
#include "log.h"
#include "opts.h"
#include "pktfilter.h"
#include "timeutil.h"

#define CMD "stagetrace flow"
#define FLOW_SUPPORTED (ST_LO_ALL & ~(ST_LO_PID | ST_LO_VM))

static const char *const tps[ST_FS_MAX] = {
	[ST_FS_RX] = "netif_receive_skb",
	[ST_FS_QUEUE] = "net_dev_queue",
	[ST_FS_ENQ] = "qdisc_enqueue",
	[ST_FS_DEQ] = "qdisc_dequeue",
	[ST_FS_XMIT] = "net_dev_start_xmit",
	[ST_FS_DROP] = "kfree_skb",
	[ST_FS_FREE] = "consume_skb",
	[ST_FS_READ] = "skb_copy_datagram_iovec",
};

static int on_event(void *ctx, void *data, size_t size)
{
	struct flow *f = ctx;
	const struct st_flow_event *e = data;
	struct flow_pkt *p;
	struct flow_hop *h;

	if (size < sizeof(*e))
		return 0;
	p = st_u64map_get(&f->pkts, e->pkt_id);
	if (!p) {
		if (f->pkts.len >= FLOW_MAX_PKTS || !(p = calloc(1, sizeof(*p)))) {
			f->table_full++;
			f->iv_table_full++;
			return 0;
		}
		p->key = e->key;
		p->id = e->pkt_id;
		if (st_u64map_put(&f->pkts, e->pkt_id, p)) {
			free(p);
			f->table_full++;
			f->iv_table_full++;
			return 0;
		}
	}
	p->seen = st_mono_ns();
	if (p->n == FLOW_MAX_HOPS) {
		p->truncated++;
		return 0;
	}
	h = &p->hops[p->n++];
	h->ts = e->ts;
	h->netns = e->netns;
	h->ifindex = e->ifindex;
	h->reason = e->reason;
	h->len = e->len;
	h->vlan = e->vlan;
	h->stage = e->stage;
	return 0;
}

static int same_place(const struct flow_place *a, const struct flow_hop *h)
{
	return a->stage == h->stage && a->netns == h->netns && a->ifindex == h->ifindex;
}

static void add_transition(struct flow *f, const struct flow_hop *a, const struct flow_hop *b,
			   uint32_t pos)
{
	struct flow_trans *t = NULL;

	for (size_t i = 0; i < f->ntrans; i++)
		if (same_place(&f->trans[i].from, a) && same_place(&f->trans[i].to, b)) {
			t = &f->trans[i];
			break;
		}
	if (!t) {
		if (f->ntrans == FLOW_MAX_TRANS) {
			f->trans_full++;
			return;
		}
		t = &f->trans[f->ntrans++];
		t->from = (struct flow_place){ a->stage, a->netns, a->ifindex };
		t->to = (struct flow_place){ b->stage, b->netns, b->ifindex };
		st_hist_init(&t->iv);
		st_hist_init(&t->all);
	}
	t->pos_sum += pos;
	st_hist_add(&t->iv, b->ts - a->ts);
	st_hist_add(&t->all, b->ts - a->ts);
}

void flow_sort_hops(struct flow_pkt *p)
{
	/* Insertion sort by time stamp: paths are short, and stable, so two
	 * hops with one stamp keep the order their events came in. */
	for (uint32_t i = 1; i < p->n; i++) {
		struct flow_hop h = p->hops[i];
		uint32_t j = i;

		while (j && p->hops[j - 1].ts > h.ts) {
			p->hops[j] = p->hops[j - 1];
			j--;
		}
		p->hops[j] = h;
	}
}

static void finish(struct flow *f, struct flow_pkt *p)
{
	flow_sort_hops(p);
	for (uint32_t i = 1; i < p->n; i++)
		add_transition(f, &p->hops[i - 1], &p->hops[i], i);
	f->iv_pkts++;
	f->all_pkts++;
	if (p->truncated) {
		f->iv_truncated++;
		f->all_truncated++;
	}
	if (f->lo.verbose)
		flow_print_packet(f, p);
}

/* End the paths quiet for --settle (all of them when final). */
static void settle(struct flow *f, int final)
{
	uint64_t now = st_mono_ns(), quiet = (uint64_t)(f->settle * 1e9);
	struct flow_pkt **done = NULL;
	size_t n = 0, it = 0;
	uint64_t k;
	void *v;

	if (!f->pkts.len)
		return;
	done = calloc(f->pkts.len, sizeof(*done));
	if (!done)
		return;
	while (st_u64map_next(&f->pkts, &it, &k, &v)) {
		struct flow_pkt *p = v;

		if (final || now - p->seen >= quiet)
			done[n++] = p;
	}
	/* Oldest first, so -v lines come in the order packets started. */
	for (size_t i = 1; i < n; i++) {
		struct flow_pkt *p = done[i];
		size_t j = i;

		while (j && done[j - 1]->hops[0].ts > p->hops[0].ts) {
			done[j] = done[j - 1];
			j--;
		}
		done[j] = p;
	}
	for (size_t i = 0; i < n; i++) {
		st_u64map_del(&f->pkts, done[i]->id);
		finish(f, done[i]);
		free(done[i]);
	}
	free(done);
}

static void read_counters(struct flow *f, uint64_t delta[ST_FC_MAX])
{
	int fd = bpf_map__fd(f->skel->maps.flow_counters);

	for (uint32_t i = 0; i < ST_FC_MAX; i++) {
		uint64_t sum = st_local_percpu_sum(fd, i, f->ncpus);

		delta[i] = sum - f->counters[i];
		f->counters[i] = sum;
	}
}

static int setup_bpf(struct flow *f)
{
	struct st_flow_cfg cfg = { 0 };
	uint32_t zero = 0;
	uint8_t one = 1;
	int err;

	f->skel = flow_bpf__open();
	if (!f->skel) {
		fprintf(stderr, "error: cannot open the flow BPF object: %s\n", strerror(errno));
		return ST_EXIT_FAIL;
	}
	for (int i = 0; i < ST_FS_MAX; i++) {
		struct flow_hook *h = &f->hooks[i];

		h->tp = tps[i];
		h->optional = i != ST_FS_RX && i != ST_FS_QUEUE && i != ST_FS_XMIT;
		h->method = st_local_tp_select(f->skel->obj, h->tp, f->method_force, h->why,
					       sizeof(h->why));
		if (!h->method && !h->optional) {
			fprintf(stderr, "error: %s cannot attach to %s: %s\n", CMD, h->tp, h->why);
			return ST_EXIT_FAIL;
		}
		if (!h->method && !f->lo.json)
			fprintf(stderr, "warning: no %s hops on this kernel (%s: %s)\n",
				flow_stage_names[i], h->tp, h->why);
	}
	if (f->vlan == 0)
		bpf_map__set_max_entries(f->skel->maps.flow_vlan_pkts, 1);
	err = flow_bpf__load(f->skel);
	if (err) {
		fprintf(stderr, "error: loading the flow BPF programs failed: %s\n", strerror(-err));
		return ST_EXIT_FAIL;
	}
	if (f->lo.netns_set) {
		cfg.flags |= ST_FF_NETNS;
		bpf_map_update_elem(bpf_map__fd(f->skel->maps.flow_netns), &f->lo.netns_ino, &one,
				    BPF_ANY);
	}
	if (f->lo.dev_set) {
		struct st_flow_dev dk = { f->lo.dev_netns, f->lo.dev_ifindex };

		cfg.flags |= ST_FF_DEV;
		bpf_map_update_elem(bpf_map__fd(f->skel->maps.flow_devs), &dk, &one, BPF_ANY);
	}
	if (f->vlan) {
		cfg.flags |= ST_FF_VLAN;
		cfg.vlan = (uint16_t)f->vlan;
	}
	st_pkt_filter_set(&cfg.pf, f->lo.proto_set ? f->lo.proto_num : 0, f->lo.sport,
			  f->lo.dport, &f->lo.src, &f->lo.dst, 0);
	if (bpf_map_update_elem(bpf_map__fd(f->skel->maps.flow_cfg), &zero, &cfg, BPF_ANY)) {
		fprintf(stderr, "error: cannot configure the flow BPF programs: %s\n",
			strerror(errno));
		return ST_EXIT_FAIL;
	}
	f->rb = ring_buffer__new(bpf_map__fd(f->skel->maps.flow_events), on_event, f, NULL);
	if (!f->rb) {
		fprintf(stderr, "error: cannot open the flow ring buffer: %s\n", strerror(errno));
		return ST_EXIT_FAIL;
	}
	err = flow_bpf__attach(f->skel);
	if (err) {
		fprintf(stderr, "error: attaching the flow BPF programs failed: %s\n",
			strerror(-err));
		return ST_EXIT_FAIL;
	}
	return 0;
}

static int run(struct flow *f)
{
	struct st_local_ticker t;

	if (!f->lo.json)
		fprintf(stderr, "Tracing the flow's hops%s... Ctrl-C to end.\n",
			f->lo.verbose ? "" : ", one table per interval");
	st_local_ticker_init(&t, f->lo.interval, f->lo.duration);
	for (;;) {
		uint64_t deadline = st_local_ticker_next(&t), delta[ST_FC_MAX];
		double secs;
		int stop;

		for (size_t i = 0; i < f->ntrans; i++)
			st_hist_init(&f->trans[i].iv);
		f->iv_pkts = f->iv_truncated = f->iv_table_full = 0;
		while (!st_local_stop && st_mono_ns() < deadline) {
			st_local_wait(deadline, f->rb, 50);
			settle(f, 0);
		}
		ring_buffer__consume(f->rb);
		stop = st_local_ticker_end(&t, st_mono_ns(), f->lo.count, &secs);
		if (stop)
			settle(f, 1);
		read_counters(f, delta);
		flow_print_interval(f, delta, secs);
		if (stop)
			break;
	}
	return 0;
}

static const struct st_cmd_help flow_help = {
	.name = CMD,
	.summary = "Hop-by-hop path of the packets of one filtered flow on this host.",
	.description =
"Follows every packet of the flow selected by the header filters (at least\n"
"one of --src-ip, --dst-ip, --proto, --sport, --dport, --vlan is required)\n"
"through the hooks it passes on this host, in every network namespace\n"
"unless --netns is given:\n"
"  rx       device receive (netif_receive_skb)\n"
"  queue    device queue (net_dev_queue)\n"
"  enq/deq  qdisc enqueue and dequeue (a device with a qdisc)\n"
"  xmit     handed to the driver (net_dev_start_xmit)\n"
"  drop     dropped, with the kernel's reason (kfree_skb)\n"
"  free     consumed (consume_skb): e.g. a datagram freed after a socket\n"
"           read it (no device then: shown as socket@NETNS), or the\n"
"           clone sent with an ARP request while the packet waits for\n"
"           its neighbour entry (a free before the first queue)\n"
"  read     copied to a reader by a socket (skb_copy_datagram_iovec;\n"
"           UDP copies linear datagrams without this tracepoint)\n"
"each with its device and namespace. Forwarding shows as rx on one device\n"
"followed by queue/xmit on another in the same namespace; netfilter and\n"
"routing have no tracepoint and are inside that step. A packet is\n"
"recognised at every hop by its 5-tuple and IPv4 id (TCP: sequence), so NAT\n"
"splits its path. -v prints each packet's path with the time since its\n"
"first hop and since the previous one; otherwise one table per interval:\n"
"per transition between consecutive hops, the count and latency.\n"
"--vlan ID keeps packets seen with that 802.1Q tag (in the frame or in\n"
"skb->vlan_tci), with their hops after the tag was removed; hops before\n"
"the first tagged one are not shown. Replaces vpc-vm-udp-datapath.bt and\n"
"trace_vlanvm_udp_workload.bt.",
	.examples =
"  stagetrace flow --proto udp --dst-ip 10.0.2.1 --dport 5000 -v\n"
"  stagetrace flow --vlan 100 --proto udp -i 5\n"
"  stagetrace flow --src-ip 10.0.1.0/24 --netns hv1 --json -d 10",
};

static int flow_cmd(struct flow *f, int argc, char **argv)
{
	struct st_opt opts[ST_LOCAL_NOPTS + 8];
	size_t no = 0;
	int rc, ec;

	st_local_opts_init(&f->lo);
	st_local_opts_table(&f->lo, FLOW_SUPPORTED, opts, &no, sizeof(opts) / sizeof(opts[0]) - 4);
	opts[no++] = (struct st_opt){ "vlan", 0, ST_OPT_U32, &f->vlan, "ID",
				      "only packets seen with 802.1Q VLAN id ID (1..4094)",
				      1, 4094 };
	opts[no++] = (struct st_opt){ "settle", 0, ST_OPT_DURATION, &f->settle, "T",
				      "a path ends when its packet was not seen for T "
				      "(default 200ms)", 0.001, 60 };
	opts[no++] = (struct st_opt){ "method", 0, ST_OPT_STR, &f->method_force,
				      "tp_btf|raw_tp", "attach method (default: probed)" };
	opts[no] = (struct st_opt)ST_OPT_END;

	if (st_opts_parse_noargs(argc, argv, opts, &flow_help, &ec))
		return ec;
	if ((rc = st_local_validate(&f->lo, FLOW_SUPPORTED, CMD)))
		return rc;
	if ((rc = st_local_method_check(f->method_force)))
		return rc;
	if (!f->vlan && !f->lo.src.set && !f->lo.dst.set && !f->lo.proto_set && !f->lo.sport &&
	    !f->lo.dport) {
		fprintf(stderr, "error: %s needs a flow: at least one of --src-ip, --dst-ip, "
			"--proto, --sport, --dport, --vlan\n", CMD);
		return ST_EXIT_USAGE;
	}
	if ((rc = st_local_require_root(CMD)))
		return rc;

	st_log_route_libbpf();
	f->ncpus = libbpf_num_possible_cpus();
	if (f->ncpus <= 0) {
		fprintf(stderr, "error: cannot count CPUs: %s\n", strerror(-f->ncpus));
		return ST_EXIT_FAIL;
	}
	if (st_u64map_init(&f->pkts, 1024)) {
		fprintf(stderr, "error: out of memory\n");
		return ST_EXIT_FAIL;
	}
	if (st_btf_enum_load("skb_drop_reason", "SKB_DROP_REASON_", &f->reasons) == 0)
		f->have_reasons = 1;
	rc = setup_bpf(f);
	if (!rc) {
		st_local_signals();
		rc = run(f);
		flow_print_summary(f);
	}
	ring_buffer__free(f->rb);
	flow_bpf__destroy(f->skel);
	{
		size_t it = 0;
		uint64_t k;
		void *v;

		while (st_u64map_next(&f->pkts, &it, &k, &v))
			free(v);
	}
	st_u64map_free(&f->pkts);
	if (f->have_reasons)
		st_enum_names_free(&f->reasons);
	st_local_dev_names_free();
	return rc;
}

int cmd_flow(int argc, char **argv)
{
	/* Heap, not stack: the transition histograms take a few MiB. */
	struct flow *f = calloc(1, sizeof(*f));
	int rc;

	if (!f) {
		fprintf(stderr, "error: out of memory\n");
		return ST_EXIT_FAIL;
	}
	f->settle = 0.2;
	rc = flow_cmd(f, argc, argv);
	free(f);
	return rc;
}
