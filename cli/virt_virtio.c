// SPDX-License-Identifier: MIT
/*
 * stagetrace virt virtio: the guest side of a virtio-net NIC, run inside
 * the VM. Per device and queue pair, per interval: RX interrupt callbacks
 * (skb_recv_done) and the CPU of the last one, NAPI runs (virtnet_poll),
 * frames per run and runs that used their whole budget, frames and bytes
 * handed up (receive_buf), the wait from interrupt to NAPI run, and the
 * frames the guest transmitted (start_xmit).
 *
 * Hooks are planned per function (fentry/fexit, else kprobe/kretprobe);
 * each missing one is reported with its reason, and the command exits 1
 * when neither skb_recv_done nor virtnet_poll can be seen (no virtio-net
 * here, or no way to probe it). Tables are cumulative in BPF; this side
 * prints the difference of two reads.
 *
 * --rx-path -v adds one record per received frame (cli/virt_virtio_pkt.c
 * prints them) through six more hooks, planned only in that mode: the GRO
 * entry and netif_receive_skb tracepoints, the UDP and TCP socket entries,
 * and the kfree_skb/consume_skb tracepoints that end a frame that never
 * reached a socket. The header filters (--src-ip, --proto, ...) apply to
 * those records only, in BPF, and are refused without them.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stddef.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpf/virt_virtio.h"
#include "cli.h"
#include "local.h"
#include "localrun.h"
#include "log.h"
#include "opts.h"
#include "timeutil.h"
#include "pktfilter.h"
#include "virt_net.h"
#include "virt_virtio.h"
#include "virt_virtio.skel.h"

#define VV_FILTERS (ST_LO_SRC | ST_LO_DST | ST_LO_PROTO | ST_LO_SPORT | ST_LO_DPORT)
#define VV_SUPPORTED (ST_LO_INTERVAL | ST_LO_DURATION | ST_LO_COUNT | ST_LO_VERBOSE | ST_LO_JSON | \
		      VV_FILTERS)

/* The first VV_NQHOOKS feed the per-queue tables; the rest only the
 * per-packet records. */
enum {
	VV_H_IRQ, VV_H_POLL, VV_H_RX, VV_H_TX, VV_NQHOOKS,
	VV_H_GRO = VV_NQHOOKS, VV_H_NETIF, VV_H_UDP, VV_H_TCP, VV_H_KFREE, VV_H_CONSUME,
	VV_NHOOKS
};

static const char *const counter_names[ST_VVC_MAX] = {
	[ST_VVC_MAP_FULL] = "lost_map_full", [ST_VVC_NO_DEV] = "no_dev",
	[ST_VVC_NOT_VIRTIO] = "not_virtio", [ST_VVC_PKT_RB_FULL] = "pkt_lost_ringbuf_full",
	[ST_VVC_PKT_MAP_FULL] = "pkt_lost_inflight_full", [ST_VVC_PKT_FILTERED] = "pkt_filtered",
	[ST_VVC_PKT_UNPARSED] = "pkt_filtered_unparsed", [ST_VVC_PKT_REUSED] = "pkt_end_unseen",
};

struct vv_row {
	struct st_vv_key k;
	struct st_vv_val c, d;	/* cumulative, difference (st_local_cum_read's layout) */
};
_Static_assert(sizeof(struct vv_row) == sizeof(struct st_vv_key) + 2 * sizeof(struct st_vv_val),
	       "vv_row is st_local_cum_read's row");

struct vv {
	struct st_local_opts lo;
	int poll, irq, rxpath, pkt;
	struct virt_virtio_bpf *skel;
	struct ring_buffer *rb;
	struct vv_pkt_out out;
	struct st_local_hook hooks[VV_NHOOKS];
	struct vv_row *prev;
	size_t nprev;
	int ncpus;
	uint64_t counters[ST_VVC_MAX];
};

static void hooks_init(struct virt_virtio_bpf *s, struct st_local_hook *h)
{
	h[VV_H_IRQ] = (struct st_local_hook){
		.name = "skb_recv_done", .n = 2,
		.alts = { { "fentry", "skb_recv_done" }, { "kprobe", "skb_recv_done" } },
		.prog = { s->progs.fentry_skb_recv_done, s->progs.kprobe_skb_recv_done },
	};
	h[VV_H_POLL] = (struct st_local_hook){
		.name = "virtnet_poll", .n = 2,
		.alts = { { "fexit", "virtnet_poll" }, { "kprobe", "virtnet_poll" } },
		.prog = { s->progs.fexit_virtnet_poll, s->progs.kprobe_virtnet_poll },
		.prog2 = { s->progs.fentry_virtnet_poll, s->progs.kretprobe_virtnet_poll },
		.ret2 = { 0, 1 },
	};
	h[VV_H_RX] = (struct st_local_hook){
		.name = "receive_buf", .n = 2,
		.alts = { { "fentry", "receive_buf" }, { "kprobe", "receive_buf" } },
		.prog = { s->progs.fentry_receive_buf, s->progs.kprobe_receive_buf },
	};
	h[VV_H_TX] = (struct st_local_hook){
		.name = "start_xmit", .n = 2,
		.alts = { { "fentry", "start_xmit" }, { "kprobe", "start_xmit" } },
		.prog = { s->progs.fentry_start_xmit, s->progs.kprobe_start_xmit },
	};
	h[VV_H_GRO] = (struct st_local_hook){
		.name = "napi_gro_receive_entry", .n = 2,
		.alts = { { "tp_btf", "napi_gro_receive_entry" }, { "raw_tp", "napi_gro_receive_entry" } },
		.prog = { s->progs.btf_vv_gro, s->progs.raw_vv_gro },
	};
	h[VV_H_NETIF] = (struct st_local_hook){
		.name = "netif_receive_skb", .n = 2,
		.alts = { { "tp_btf", "netif_receive_skb" }, { "raw_tp", "netif_receive_skb" } },
		.prog = { s->progs.btf_vv_netif, s->progs.raw_vv_netif },
	};
	h[VV_H_UDP] = (struct st_local_hook){
		.name = "udp socket", .n = 2,
		.alts = { { "fentry", "__udp_enqueue_schedule_skb" },
			  { "kprobe", "__udp_enqueue_schedule_skb" } },
		.prog = { s->progs.fentry_vv_udp, s->progs.kprobe_vv_udp },
	};
	h[VV_H_TCP] = (struct st_local_hook){
		.name = "tcp socket", .n = 2,
		.alts = { { "fentry", "tcp_v4_do_rcv" }, { "kprobe", "tcp_v4_do_rcv" } },
		.prog = { s->progs.fentry_vv_tcp, s->progs.kprobe_vv_tcp },
	};
	h[VV_H_KFREE] = (struct st_local_hook){
		.name = "kfree_skb", .n = 2,
		.alts = { { "tp_btf", "kfree_skb" }, { "raw_tp", "kfree_skb" } },
		.prog = { s->progs.btf_vv_kfree, s->progs.raw_vv_kfree },
	};
	h[VV_H_CONSUME] = (struct st_local_hook){
		.name = "consume_skb", .n = 2,
		.alts = { { "tp_btf", "consume_skb" }, { "raw_tp", "consume_skb" } },
		.prog = { s->progs.btf_vv_consume, s->progs.raw_vv_consume },
	};
}

/* Without per-packet records the per-packet programs are not loaded. */
static void pkt_hooks_off(struct st_local_hook *h)
{
	for (int i = VV_NQHOOKS; i < VV_NHOOKS; i++)
		for (size_t a = 0; a < h[i].n; a++) {
			if (h[i].prog[a])
				bpf_program__set_autoload(h[i].prog[a], false);
			if (h[i].prog2[a])
				bpf_program__set_autoload(h[i].prog2[a], false);
		}
}

static int pkt_setup(struct vv *v)
{
	struct st_vv_cfg cfg = { .pkt = 1 };
	uint32_t zero = 0;

	st_pkt_filter_set(&cfg.pf, v->lo.proto_set ? v->lo.proto_num : 0, v->lo.sport,
			  v->lo.dport, &v->lo.src, &v->lo.dst, 0);
	if (bpf_map_update_elem(bpf_map__fd(v->skel->maps.vv_cfg), &zero, &cfg, BPF_ANY)) {
		fprintf(stderr, "error: cannot configure the virtio BPF programs: %s\n",
			strerror(errno));
		return ST_EXIT_FAIL;
	}
	v->out.json = v->lo.json;
	v->rb = ring_buffer__new(bpf_map__fd(v->skel->maps.vv_pkts), vv_pkt_event, &v->out, NULL);
	if (!v->rb) {
		fprintf(stderr, "error: cannot open the per-packet ring buffer: %s\n", strerror(errno));
		return ST_EXIT_FAIL;
	}
	return 0;
}

static void *ops_open(void) { return virt_virtio_bpf__open(); }
static struct bpf_object *ops_obj(void *s) { return ((struct virt_virtio_bpf *)s)->obj; }
static int ops_load(void *s) { return virt_virtio_bpf__load(s); }
static void ops_destroy(void *s) { virt_virtio_bpf__destroy(s); }
static void ops_init(void *s, struct st_local_hook *h) { hooks_init(s, h); }

static const struct st_hook_object_ops hook_ops = {
	ops_open, ops_obj, ops_load, ops_destroy, ops_init,
};

static int setup_bpf(struct vv *v)
{
	char hb[900];
	int err, nh;

	v->skel = virt_virtio_bpf__open();
	if (!v->skel) {
		fprintf(stderr, "error: cannot open the virtio BPF object: %s\n", strerror(errno));
		return ST_EXIT_FAIL;
	}
	hooks_init(v->skel, v->hooks);
	if (!v->pkt)
		pkt_hooks_off(v->hooks);
	nh = v->pkt ? VV_NHOOKS : VV_NQHOOKS;
	st_local_hooks_plan(v->hooks, nh);
	err = virt_virtio_bpf__load(v->skel);
	if (err) {
		fprintf(stderr, "error: loading the virtio BPF programs failed: %s\n", strerror(-err));
		return ST_EXIT_FAIL;
	}
	st_local_hooks_attach(v->hooks, nh);
	fprintf(stderr, "stagetrace virt virtio: hooks on this kernel:\n");
	for (int i = 0; i < nh; i++)
		fprintf(stderr, "  %-14s %s\n", v->hooks[i].name,
			st_local_hook_status(&v->hooks[i], hb, sizeof(hb)));
	if (!v->hooks[VV_H_IRQ].attached && !v->hooks[VV_H_POLL].attached) {
		fprintf(stderr, "error: stagetrace virt virtio cannot see anything on this kernel: "
			"skb_recv_done and virtnet_poll are unavailable (reasons above)\n");
		return ST_EXIT_FAIL;
	}
	/* Per packet, the frame's skb is first seen at the GRO entry, and only
	 * after receive_buf named its queue: both are needed for any record. */
	if (v->pkt && (!v->hooks[VV_H_RX].attached || !v->hooks[VV_H_GRO].attached)) {
		fprintf(stderr, "error: stagetrace virt virtio --rx-path -v cannot follow frames on "
			"this kernel: receive_buf and napi_gro_receive_entry are both needed "
			"(reasons above)\n");
		return ST_EXIT_FAIL;
	}
	return v->pkt ? pkt_setup(v) : 0;
}

/* The per-queue rows and what they gained since the last read: every
 * counter before lat_max is a running sum. */
static size_t read_rows(struct vv *v, struct vv_row **out)
{
	return st_local_cum_read(bpf_map__fd(v->skel->maps.vv_q), sizeof(struct st_vv_key),
				 sizeof(struct st_vv_val),
				 offsetof(struct st_vv_val, lat_max) / sizeof(__u64), ST_VV_MAX_Q,
				 v->prev, v->nprev, (void **)out);
}

static int active(const struct st_vv_val *d)
{
	return d->irqs || d->polls || d->rx_pkts || d->tx_pkts;
}

static double lat_avg_us(const struct st_vv_val *d)
{
	return d->lat_n ? (double)d->lat_sum / (double)d->lat_n / 1e3 : 0;
}

static void show(struct vv *v, struct vv_row *r, size_t n, double secs)
{
	uint64_t cnt[ST_VVC_MAX];
	char t[16];
	int any = 0;

	for (uint32_t i = 0; i < ST_VVC_MAX; i++) {
		uint64_t s = st_local_percpu_sum(bpf_map__fd(v->skel->maps.vv_counters), i, v->ncpus);

		cnt[i] = s - v->counters[i];
		v->counters[i] = s;
	}
	st_local_hms(t, sizeof(t));
	if (v->lo.json) {
		json_object *o = json_object_new_object(), *a = json_object_new_array();

		json_object_object_add(o, "type", json_object_new_string("interval"));
		json_object_object_add(o, "mode", json_object_new_string("virtio"));
		json_object_object_add(o, "time", json_object_new_string(t));
		json_object_object_add(o, "unix_s", json_object_new_double(st_real_ns() / 1e9));
		json_object_object_add(o, "interval_s", json_object_new_double(secs));
		for (size_t i = 0; i < n; i++) {
			const struct st_vv_val *d = &r[i].d;
			json_object *e;

			if (!v->lo.verbose && !active(d))
				continue;
			e = json_object_new_object();
			json_object_object_add(e, "dev", json_object_new_string(
				st_local_dev_name(r[i].k.netns, r[i].k.ifindex)));
			json_object_object_add(e, "ifindex", json_object_new_int64(r[i].k.ifindex));
			json_object_object_add(e, "queue", json_object_new_int64(r[i].k.queue));
			json_object_object_add(e, "irqs", json_object_new_int64(d->irqs));
			json_object_object_add(e, "irq_cpu", json_object_new_int64(r[i].c.irq_cpu));
			json_object_object_add(e, "polls", json_object_new_int64(d->polls));
			json_object_object_add(e, "poll_pkts", json_object_new_int64(d->poll_pkts));
			json_object_object_add(e, "budget_hits", json_object_new_int64(d->budget_hits));
			json_object_object_add(e, "budget", json_object_new_int64(r[i].c.budget));
			json_object_object_add(e, "rx_pkts", json_object_new_int64(d->rx_pkts));
			json_object_object_add(e, "rx_bytes", json_object_new_int64(d->rx_bytes));
			json_object_object_add(e, "irq_to_poll_avg_us", json_object_new_double(lat_avg_us(d)));
			json_object_object_add(e, "irq_to_poll_n", json_object_new_int64(d->lat_n));
			json_object_object_add(e, "irq_to_poll_max_us_since_start",
					       json_object_new_double(r[i].c.lat_max / 1e3));
			json_object_object_add(e, "tx_pkts", json_object_new_int64(d->tx_pkts));
			json_object_object_add(e, "tx_bytes", json_object_new_int64(d->tx_bytes));
			json_object_array_add(a, e);
		}
		json_object_object_add(o, "queues", a);
		for (uint32_t i = 0; i < ST_VVC_MAX; i++)
			if (i < ST_VVC_PKT_RB_FULL || v->pkt)
				json_object_object_add(o, counter_names[i], json_object_new_int64(cnt[i]));
		if (v->pkt)
			json_object_object_add(o, "pkt_printed", json_object_new_int64(v->out.printed));
		json_object_object_add(o, "hooks", st_local_hooks_json(v->hooks,
					v->pkt ? VV_NHOOKS : VV_NQHOOKS));
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
		fflush(stdout);
		return;
	}
	if (v->pkt) {
		/* Per-packet mode: the records are the output; per interval only
		 * what they could not show. */
		for (uint32_t i = ST_VVC_MAP_FULL; i < ST_VVC_MAX; i++)
			if (cnt[i])
				printf("%-8s %s: %llu\n", t, counter_names[i], (unsigned long long)cnt[i]);
		fflush(stdout);
		return;
	}
	printf("%-8s %-12s %5s", "TIME", "DEV", "QUEUE");
	if (v->irq)
		printf(" %7s %4s", "IRQS", "CPU");
	if (v->poll)
		printf(" %7s %8s %8s %6s", "POLLS", "PKTS", "PKTS/RUN", "FULL");
	if (v->rxpath)
		printf(" %8s %9s %10s %10s", "RX_PKTS", "RX_KB", "IRQ>POLL", "MAX(us)");
	printf(" %8s %9s\n", "TX_PKTS", "TX_KB");
	for (size_t i = 0; i < n; i++) {
		const struct st_vv_val *d = &r[i].d;

		if (!v->lo.verbose && !active(d))
			continue;
		any = 1;
		printf("%-8s %-12s %5u", t, st_local_dev_name(r[i].k.netns, r[i].k.ifindex),
		       r[i].k.queue);
		if (v->irq)
			printf(" %7llu %4u", (unsigned long long)d->irqs, r[i].c.irq_cpu);
		if (v->poll)
			printf(" %7llu %8llu %8.2f %6llu", (unsigned long long)d->polls,
			       (unsigned long long)d->poll_pkts,
			       d->polls ? (double)d->poll_pkts / (double)d->polls : 0.0,
			       (unsigned long long)d->budget_hits);
		if (v->rxpath)
			printf(" %8llu %9.1f %8.1fus %10.1f", (unsigned long long)d->rx_pkts,
			       d->rx_bytes / 1024.0, lat_avg_us(d), r[i].c.lat_max / 1e3);
		printf(" %8llu %9.1f\n", (unsigned long long)d->tx_pkts, d->tx_bytes / 1024.0);
	}
	if (!any)
		printf("%-8s (no virtio-net activity)\n", t);
	if (cnt[ST_VVC_MAP_FULL])
		printf("%-8s lost: %llu events (queue map full)\n", t,
		       (unsigned long long)cnt[ST_VVC_MAP_FULL]);
	printf("\n");
	fflush(stdout);
}

static int run(struct vv *v)
{
	struct st_local_ticker t;

	fprintf(stderr, v->pkt ? "Tracing virtio-net received frames, one line each... Ctrl-C to end.\n"
			       : "Tracing virtio-net queues, one table per interval... Ctrl-C to end.\n");
	if (v->pkt && !v->lo.json)
		vv_pkt_header();
	st_local_ticker_init(&t, v->lo.interval, v->lo.duration);
	for (;;) {
		struct vv_row *r = NULL;
		double secs;
		int stop = st_local_ticker_wait(&t, v->rb, v->lo.count, &secs);
		size_t n;

		if (v->rb)
			ring_buffer__consume(v->rb);
		n = read_rows(v, &r);

		show(v, r, n, secs);
		free(v->prev);
		v->prev = r;
		v->nprev = n;
		if (stop)
			break;
	}
	return 0;
}

int virt_virtio(int argc, char **argv)
{
	static const struct st_cmd_help help = {
		.name = "stagetrace virt virtio",
		.summary = "guest virtio-net: RX interrupts, NAPI polls, RX path, TX, per queue.",
		.description =
"Run inside a VM. Per virtio-net device and queue pair, per interval:\n"
"--irq: RX interrupt callbacks (skb_recv_done) and the CPU of the last;\n"
"--poll: NAPI runs (virtnet_poll), frames they processed, frames per run\n"
"and FULL, the runs that used their whole budget (the queue had more);\n"
"--rx-path: frames and bytes handed up (receive_buf, virtio-net header\n"
"included), the average wait from interrupt callback to the NAPI run it\n"
"scheduled and the highest wait since the start. Without a flag all three\n"
"groups are shown; TX frames (start_xmit) always. Queues without activity\n"
"are left out unless -v. Replaces virtio-net/virtnet_poll_monitor.py,\n"
"virtnet_irq_monitor.py, virtionet-rx-path-monitor.bt and\n"
"virtionet-rx-path-summary.bt.\n"
"--rx-path -v: instead of the tables, one line per received frame: device,\n"
"queue pair, CPU, 5-tuple, receive_buf length, and the microseconds\n"
"between its stages: RX interrupt callback of its queue -> start of the\n"
"NAPI run that took it -> receive_buf -> GRO entry -> netif_receive_skb\n"
"-> socket (UDP enqueue, TCP segment processing); TOTAL from the first to\n"
"the last stage seen; END socket, consumed or dropped (before a socket),\n"
"or unseen (GRO merged it away). A stage not seen shows '-', and the wait\n"
"after it is shown in parentheses from the last stage seen (a NAPI run\n"
"that re-polled without an interrupt has no interrupt stamp). Only these\n"
"records take --src-ip, --dst-ip, --proto, --sport, --dport (IPv4; with a\n"
"filter, other frames are left out). Per interval, the frames the tracer\n"
"could not show or follow are counted (ring buffer or map full, GRO\n"
"merges).\n"
"--rcvbuf: the receive buffers instead, per device and queue pair: the\n"
"RX ring's size (RING, from the driver) and mode (mergeable, big, small),\n"
"ring refills (try_fill_recv) inside NAPI runs (FILLS_N, atomic\n"
"allocations) and outside them (FILLS_O: the device opening, the deferred\n"
"refill work, a resize), the ring slots each posted (POST_N, POST_O),\n"
"fills that ran out of memory (OOM) and deferred refill runs (REFILL,\n"
"refill_work: what the driver schedules after an OOM in NAPI), the\n"
"average time a fill took, the most slots a fill found free since the\n"
"start (MAX_FREE: how close the ring came to empty; a ring that empties\n"
"drops frames at the host), frames received (receive_buf) and frames\n"
"that spanned several mergeable buffers (MULTI); then histograms of the\n"
"received frame lengths (virtio-net header excluded) and of the\n"
"mergeable buffers' true sizes (what each frame cost in memory). Replaces\n"
"virtio-net/trace_virtio_net_rcvbuf.bt. Takes -i, -d, -c, -v, --json.\n"
"Hooks: fentry/fexit, else kprobe/kretprobe. Exit status: 0 ok, 1 runtime\n"
"failure or neither skb_recv_done nor virtnet_poll available (the reasons\n"
"are printed), 2 usage error.\n",
		.examples =
"  stagetrace virt virtio\n"
"  stagetrace virt virtio --poll -i 5\n"
"  stagetrace virt virtio --json -c 3\n"
"  stagetrace virt virtio --rx-path -v --proto udp --dport 5001\n"
"  stagetrace virt virtio --rcvbuf -i 10",
	};
	struct vv v = { 0 };
	struct st_opt opts[ST_LOCAL_NOPTS + 6];
	size_t no = 0;
	int check = 0, rcvbuf = 0, filters, rc, ec;

	st_local_opts_init(&v.lo);
	st_local_opts_table(&v.lo, VV_SUPPORTED, opts, &no, sizeof(opts) / sizeof(opts[0]) - 5);
	opts[no++] = (struct st_opt){ "poll", 0, ST_OPT_FLAG, &v.poll, NULL,
				      "NAPI runs, frames per run, budget exhausted" };
	opts[no++] = (struct st_opt){ "irq", 0, ST_OPT_FLAG, &v.irq, NULL,
				      "RX interrupt callbacks and their CPU" };
	opts[no++] = (struct st_opt){ "rx-path", 0, ST_OPT_FLAG, &v.rxpath, NULL,
				      "frames handed up, interrupt -> poll wait" };
	opts[no++] = (struct st_opt){ "rcvbuf", 0, ST_OPT_FLAG, &rcvbuf, NULL,
				      "receive buffers: ring refills, slots, OOM, frame and buffer sizes" };
	opts[no++] = (struct st_opt){ "check-hooks", 0, ST_OPT_FLAG, &check, NULL,
				      "load each hook program through the verifier (no attach), report, exit" };
	opts[no] = (struct st_opt)ST_OPT_END;
	if (st_opts_parse_noargs(argc, argv, opts, &help, &ec))
		return ec;
	if ((rc = st_local_validate(&v.lo, VV_SUPPORTED, help.name)))
		return rc;
	filters = v.lo.proto_set || v.lo.sport || v.lo.dport || v.lo.src.set || v.lo.dst.set;
	if (rcvbuf && (v.poll || v.irq || v.rxpath)) {
		fprintf(stderr, "error: %s: --rcvbuf is a mode of its own; leave out --poll, --irq "
			"and --rx-path\n", help.name);
		return ST_EXIT_USAGE;
	}
	if (rcvbuf && filters) {
		fprintf(stderr, "error: %s: --rcvbuf counts whole queues; --src-ip, --dst-ip, "
			"--proto, --sport and --dport do not apply\n", help.name);
		return ST_EXIT_USAGE;
	}
	v.pkt = v.rxpath && v.lo.verbose;
	if (!v.pkt && filters) {
		fprintf(stderr, "error: %s: --src-ip, --dst-ip, --proto, --sport and --dport "
			"filter the per-packet records only (--rx-path -v)\n", help.name);
		return ST_EXIT_USAGE;
	}
	if (!v.poll && !v.irq && !v.rxpath)
		v.poll = v.irq = v.rxpath = 1;
	if ((rc = st_local_require_root(help.name)))
		return rc;
	st_log_route_libbpf();
	if (rcvbuf)
		return virt_rcvbuf(&v.lo, check);
	if (check)
		return st_local_hooks_check(&hook_ops, VV_NHOOKS, v.lo.json);
	v.ncpus = libbpf_num_possible_cpus();
	if (v.ncpus <= 0) {
		fprintf(stderr, "error: cannot count CPUs: %s\n", strerror(-v.ncpus));
		return ST_EXIT_FAIL;
	}
	rc = setup_bpf(&v);
	if (!rc) {
		st_local_signals();
		rc = run(&v);
	}
	st_local_hooks_destroy(v.hooks, VV_NHOOKS);
	ring_buffer__free(v.rb);
	virt_virtio_bpf__destroy(v.skel);
	free(v.prev);
	st_local_dev_names_free();
	return rc;
}
