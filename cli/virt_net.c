// SPDX-License-Identifier: MIT
/*
 * stagetrace virt tun | vhost | queues: the loader and the interval loop.
 *
 * All three modes use one BPF object (bpf/virt_net.bpf.c). Each mode names
 * the hooks it needs; only those are planned (fentry, else kprobe, else a
 * tracepoint where the hook has one), the others' programs stay out of the
 * kernel. A hook no method can attach on this kernel is reported with the
 * reason of every method tried; when the hook a mode cannot do without is
 * missing (tun_net_xmit for `tun`, handle_tx/handle_rx for `vhost` and
 * `queues`), the command says so and exits 1 instead of printing tables
 * that could only ever be empty.
 *
 * The BPF tables are cumulative: every interval this side reads them,
 * subtracts the previous read and hands the differences to the renderer
 * (cli/virt_show.c). Only the per-interval fill maximum is double
 * buffered (flip the generation, drain the idle half).
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "log.h"
#include "opts.h"
#include "virt_net.h"
#include "virt_net.skel.h"

#define VN_SUPPORTED (ST_LO_INTERVAL | ST_LO_DURATION | ST_LO_COUNT | ST_LO_VERBOSE | \
		      ST_LO_JSON | ST_LO_NETNS | ST_LO_DEV)

const char *const vn_counter_names[ST_VNC_MAX] = {
	[ST_VNC_XMIT] = "xmit_calls",
	[ST_VNC_XMIT_NOTUN] = "xmit_not_tun",
	[ST_VNC_XMIT_NOQ] = "xmit_no_queue",
	[ST_VNC_FILTERED] = "filtered",
	[ST_VNC_TUNQ_FULL] = "lost_tunq_map_full",
	[ST_VNC_VQ_FULL] = "lost_vq_map_full",
	[ST_VNC_MSG_NOVQ] = "msg_outside_worker",
	[ST_VNC_SIGNALS] = "signals",
};

struct vn {
	struct st_local_opts lo;
	struct vn_view view;
	struct virt_net_bpf *skel;
	struct st_local_hook hooks[VN_NHOOKS];
	int used[VN_NHOOKS];
	int ncpus;
	uint32_t gen;
	uint64_t counters[ST_VNC_MAX];
	struct vn_tunq *ptq;	/* previous cumulative reads */
	size_t nptq;
	struct vn_vq *pvq;
	size_t npvq;
};

static void hooks_init(struct virt_net_bpf *s, struct st_local_hook *h)
{
	h[VN_H_XMIT] = (struct st_local_hook){
		.name = "tun_net_xmit", .n = 4,
		.alts = { { "fentry", "tun_net_xmit" }, { "kprobe", "tun_net_xmit" },
			  { "tp_btf", "net_dev_start_xmit" }, { "raw_tp", "net_dev_start_xmit" } },
		.prog = { s->progs.fentry_tun_net_xmit, s->progs.kprobe_tun_net_xmit,
			  s->progs.btf_tun_xmit, s->progs.raw_tun_xmit },
	};
	h[VN_H_HANDLE_TX] = (struct st_local_hook){
		.name = "handle_tx", .n = 2,
		.alts = { { "fentry", "handle_tx" }, { "kprobe", "handle_tx" } },
		.prog = { s->progs.fentry_handle_tx, s->progs.kprobe_handle_tx },
	};
	h[VN_H_HANDLE_RX] = (struct st_local_hook){
		.name = "handle_rx", .n = 2,
		.alts = { { "fentry", "handle_rx" }, { "kprobe", "handle_rx" } },
		.prog = { s->progs.fentry_handle_rx, s->progs.kprobe_handle_rx },
	};
	h[VN_H_SENDMSG] = (struct st_local_hook){
		.name = "tun_sendmsg", .n = 2,
		.alts = { { "fentry", "tun_sendmsg" }, { "kprobe", "tun_sendmsg" } },
		.prog = { s->progs.fentry_tun_sendmsg, s->progs.kprobe_tun_sendmsg },
	};
	h[VN_H_RECVMSG] = (struct st_local_hook){
		.name = "tun_recvmsg", .n = 2,
		.alts = { { "fentry", "tun_recvmsg" }, { "kprobe", "tun_recvmsg" } },
		.prog = { s->progs.fentry_tun_recvmsg, s->progs.kprobe_tun_recvmsg },
	};
	h[VN_H_USED] = (struct st_local_hook){
		.name = "vhost_add_used_and_signal_n", .n = 2,
		.alts = { { "fentry", "vhost_add_used_and_signal_n" },
			  { "kprobe", "vhost_add_used_and_signal_n" } },
		.prog = { s->progs.fentry_used_signal, s->progs.kprobe_used_signal },
	};
	h[VN_H_SIGNAL] = (struct st_local_hook){
		.name = "eventfd_signal", .n = 4,
		.alts = { { "fentry", "eventfd_signal" }, { "kprobe", "eventfd_signal" },
			  { "fentry", "eventfd_signal_mask" }, { "kprobe", "eventfd_signal_mask" } },
		.prog = { s->progs.fentry_eventfd_signal, s->progs.kprobe_eventfd_signal,
			  s->progs.fentry_eventfd_signal_mask, s->progs.kprobe_eventfd_signal_mask },
	};
	h[VN_H_PEEK] = (struct st_local_hook){
		.name = "vhost_net_buf_peek", .n = 2,
		.alts = { { "fexit", "vhost_net_buf_peek" }, { "kprobe", "vhost_net_buf_peek" } },
		.prog = { s->progs.fexit_buf_peek, s->progs.kprobe_buf_peek },
		.prog2 = { NULL, s->progs.kretprobe_buf_peek },
		.ret2 = { 0, 1 },
	};
}

static void *ops_open(void) { return virt_net_bpf__open(); }
static struct bpf_object *ops_obj(void *s) { return ((struct virt_net_bpf *)s)->obj; }
static int ops_load(void *s) { return virt_net_bpf__load(s); }
static void ops_destroy(void *s) { virt_net_bpf__destroy(s); }
static void ops_init(void *s, struct st_local_hook *h) { hooks_init(s, h); }

static const struct st_hook_object_ops hook_ops = {
	ops_open, ops_obj, ops_load, ops_destroy, ops_init,
};

/* The hooks of each mode; the first group is what it cannot do without. */
static void mode_hooks(struct vn *v)
{
	memset(v->used, 0, sizeof(v->used));
	switch (v->view.mode) {
	case VN_TUN:
		v->used[VN_H_XMIT] = v->used[VN_H_SENDMSG] = v->used[VN_H_RECVMSG] = 1;
		break;
	case VN_VHOST:
	case VN_QUEUES:
		for (int i = 0; i < VN_NHOOKS; i++)
			v->used[i] = 1;
		if (v->view.mode == VN_VHOST)
			v->used[VN_H_XMIT] = 0;
		/* Peeks run per received frame: only when asked for. */
		v->used[VN_H_PEEK] = v->view.peek;
		break;
	}
}

static int essential_ok(const struct vn *v)
{
	if (v->view.mode == VN_TUN)
		return v->hooks[VN_H_XMIT].attached;
	return v->hooks[VN_H_HANDLE_TX].attached || v->hooks[VN_H_HANDLE_RX].attached;
}

static int setup_bpf(struct vn *v, const char *cmd)
{
	struct st_local_hook plan[VN_NHOOKS];
	struct st_vn_cfg cfg = { 0 };
	uint32_t zero = 0;
	uint8_t one = 1;
	size_t np = 0;
	int err;

	v->skel = virt_net_bpf__open();
	if (!v->skel) {
		fprintf(stderr, "error: cannot open the virt BPF object: %s\n", strerror(errno));
		return ST_EXIT_FAIL;
	}
	hooks_init(v->skel, v->hooks);
	mode_hooks(v);
	/* Plan the mode's hooks; every program of the others stays out. */
	for (int i = 0; i < VN_NHOOKS; i++) {
		if (v->used[i]) {
			plan[np++] = v->hooks[i];
			continue;
		}
		for (size_t a = 0; a < v->hooks[i].n; a++) {
			bpf_program__set_autoload(v->hooks[i].prog[a], 0);
			if (v->hooks[i].prog2[a])
				bpf_program__set_autoload(v->hooks[i].prog2[a], 0);
		}
		snprintf(v->hooks[i].choice.why, sizeof(v->hooks[i].choice.why), "not used by this mode");
		v->hooks[i].choice.index = -1;
	}
	st_local_hooks_plan(plan, np);
	np = 0;
	for (int i = 0; i < VN_NHOOKS; i++)
		if (v->used[i])
			v->hooks[i] = plan[np++];
	err = virt_net_bpf__load(v->skel);
	if (err) {
		fprintf(stderr, "error: loading the virt BPF programs failed: %s\n", strerror(-err));
		return ST_EXIT_FAIL;
	}
	if (v->lo.netns_set) {
		cfg.flags |= ST_VN_F_NETNS;
		bpf_map_update_elem(bpf_map__fd(v->skel->maps.vn_netns), &v->lo.netns_ino, &one, BPF_ANY);
	}
	if (v->lo.dev_set) {
		struct st_vn_dev dk = { v->lo.dev_netns, v->lo.dev_ifindex };

		cfg.flags |= ST_VN_F_DEV;
		bpf_map_update_elem(bpf_map__fd(v->skel->maps.vn_devs), &dk, &one, BPF_ANY);
	}
	if (bpf_map_update_elem(bpf_map__fd(v->skel->maps.vn_cfg), &zero, &cfg, BPF_ANY)) {
		fprintf(stderr, "error: cannot configure the virt BPF programs: %s\n", strerror(errno));
		return ST_EXIT_FAIL;
	}
	st_local_hooks_attach(v->hooks, VN_NHOOKS);
	{
		char hb[900];

		/* On stderr even with --json: the JSON stream stays clean and
		 * a reader (or a test) still learns what is attached. */
		fprintf(stderr, "%s: hooks on this kernel:\n", cmd);
		for (int i = 0; i < VN_NHOOKS; i++)
			if (v->used[i])
				fprintf(stderr, "  %-28s %s\n", v->hooks[i].name,
					st_local_hook_status(&v->hooks[i], hb, sizeof(hb)));
	}
	if (!essential_ok(v)) {
		fprintf(stderr, "error: %s cannot see anything on this kernel: %s unavailable "
			"(reasons above)\n", cmd, v->view.mode == VN_TUN ? "tun_net_xmit" :
			"handle_tx and handle_rx are");
		return ST_EXIT_FAIL;
	}
	return 0;
}

/* ---- reading the tables ------------------------------------------------- */

static const struct vn_tunq *find_tq(const struct vn_tunq *a, size_t n,
				     const struct st_vn_tunq_key *k)
{
	for (size_t i = 0; i < n; i++)
		if (a[i].k.netns == k->netns && a[i].k.ifindex == k->ifindex &&
		    a[i].k.queue == k->queue)
			return &a[i];
	return NULL;
}

#define SUB(f) d.f = c.f - (p ? p->cur.f : 0)

static void read_tunq(struct vn *v, struct vn_snap *s, int idle)
{
	int fd = bpf_map__fd(v->skel->maps.vn_tunq), mfd = bpf_map__fd(v->skel->maps.vn_fillmax);
	struct st_vn_tunq_key k, *prev = NULL;
	struct st_vn_tunq_key *mk;
	size_t nm;

	s->tq = calloc(ST_VN_MAX_TUNQ, sizeof(*s->tq));
	if (!s->tq)
		return;
	while (s->ntq < ST_VN_MAX_TUNQ && !bpf_map_get_next_key(fd, prev, &k)) {
		struct vn_tunq *t = &s->tq[s->ntq];
		struct st_vn_tunq_val c, d;
		const struct vn_tunq *p;

		prev = &t->k;
		t->k = k;
		if (bpf_map_lookup_elem(fd, &k, &c))
			continue;
		p = find_tq(v->ptq, v->nptq, &k);
		d = c;
		SUB(xmit_pkts); SUB(xmit_bytes); SUB(xmit_full); SUB(fill_sum);
		SUB(sent_pkts); SUB(sent_bytes); SUB(recv_pkts); SUB(recv_bytes);
		d.ring_size = c.ring_size;
		d.fill_last = c.fill_last;
		t->d = d;
		t->cur = c;
		s->ntq++;
	}
	/* The idle generation's maxima: collect their keys, then read and
	 * delete each (deleting while walking would restart the walk). */
	mk = calloc(2 * ST_VN_MAX_TUNQ, sizeof(*mk));
	for (nm = 0, prev = NULL; mk && nm < 2 * ST_VN_MAX_TUNQ &&
	     !bpf_map_get_next_key(mfd, prev, &mk[nm]); prev = &mk[nm - 1])
		nm++;
	for (size_t i = 0; i < nm; i++) {
		struct vn_tunq *t;
		uint32_t mv;

		if (mk[i].gen != (uint32_t)idle || bpf_map_lookup_elem(mfd, &mk[i], &mv))
			continue;
		bpf_map_delete_elem(mfd, &mk[i]);
		t = (struct vn_tunq *)find_tq(s->tq, s->ntq, &mk[i]);
		if (t && mv > t->fill_max)
			t->fill_max = mv;
	}
	free(mk);
}

static void read_vq(struct vn *v, struct vn_snap *s)
{
	int fd = bpf_map__fd(v->skel->maps.vn_vq);
	uint64_t k, *prev = NULL;

	s->vq = calloc(ST_VN_MAX_VQ, sizeof(*s->vq));
	if (!s->vq)
		return;
	while (s->nvq < ST_VN_MAX_VQ && !bpf_map_get_next_key(fd, prev, &k)) {
		struct vn_vq *q = &s->vq[s->nvq];
		struct st_vn_vq_val c, d;
		const struct vn_vq *p = NULL;

		prev = &q->addr;
		q->addr = k;
		if (bpf_map_lookup_elem(fd, &k, &c))
			continue;
		for (size_t i = 0; i < v->npvq; i++)
			if (v->pvq[i].addr == k)
				p = &v->pvq[i];
		d = c;
		SUB(handle_calls); SUB(pkts); SUB(bytes); SUB(used_calls); SUB(used_heads);
		SUB(signals); SUB(peeks); SUB(peek_empty); SUB(peek_bytes);
		q->d = d;
		q->cur = c;
		s->nvq++;
	}
}

static void read_counters(struct vn *v, struct vn_snap *s)
{
	int fd = bpf_map__fd(v->skel->maps.vn_counters);

	for (uint32_t i = 0; i < ST_VNC_MAX; i++) {
		uint64_t sum = st_local_percpu_sum(fd, i, v->ncpus);

		s->counters[i] = sum - v->counters[i];
		v->counters[i] = sum;
	}
}

static int run(struct vn *v)
{
	struct st_local_ticker t;

	fprintf(stderr, "Tracing %s, one table per interval... Ctrl-C to end.\n",
		v->view.mode == VN_TUN ? "tun/tap queues" : v->view.mode == VN_VHOST ?
		"vhost-net virtqueues" : "tun queues and their vhost virtqueues");
	st_local_ticker_init(&t, v->lo.interval, v->lo.duration);
	for (;;) {
		struct vn_snap s = { 0 };
		int stop = st_local_ticker_wait(&t, NULL, v->lo.count, &s.secs);
		int idle = st_local_gen_flip(&v->skel->bss->vn_gen, &v->gen, NULL);

		read_tunq(v, &s, idle);
		read_vq(v, &s);
		read_counters(v, &s);
		vn_show(&v->view, &s);
		free(v->ptq);
		free(v->pvq);
		v->ptq = s.tq;
		v->nptq = s.ntq;
		v->pvq = s.vq;
		v->npvq = s.nvq;
		if (stop)
			break;
	}
	return 0;
}

/* ---- the three modes ---------------------------------------------------- */

static int vn_main(enum vn_mode mode, int argc, char **argv, const struct st_cmd_help *help)
{
	struct vn v = { .view = { .mode = mode } };
	struct st_opt opts[ST_LOCAL_NOPTS + 5];
	size_t no = 0;
	int check = 0, rc, ec;

	st_local_opts_init(&v.lo);
	st_local_opts_table(&v.lo, VN_SUPPORTED, opts, &no, sizeof(opts) / sizeof(opts[0]) - 4);
	if (mode == VN_VHOST) {
		opts[no++] = (struct st_opt){ "signals", 0, ST_OPT_FLAG, &v.view.signals, NULL,
			"guest notifications per virtqueue: used-ring updates and eventfd signals" };
		opts[no++] = (struct st_opt){ "queues", 0, ST_OPT_FLAG, &v.view.queues, NULL,
			"virtqueue <-> tun queue <-> worker, handler runs, packets and bytes" };
	}
	if (mode != VN_TUN)
		opts[no++] = (struct st_opt){ "peek", 0, ST_OPT_FLAG, &v.view.peek, NULL,
			mode == VN_VHOST ?
			"RX peeks at the next frame (vhost_net_buf_peek): calls, empty, head length" :
			"also hook vhost_net_buf_peek: peek counts in the JSON virtqueues" };
	opts[no++] = (struct st_opt){ "check-hooks", 0, ST_OPT_FLAG, &check, NULL,
				      "load each hook program through the verifier (no attach), report, exit" };
	opts[no] = (struct st_opt)ST_OPT_END;
	if (st_opts_parse_noargs(argc, argv, opts, help, &ec))
		return ec;
	if ((rc = st_local_validate(&v.lo, VN_SUPPORTED, help->name)))
		return rc;
	if (mode == VN_VHOST && !v.view.signals && !v.view.queues && !v.view.peek)
		v.view.signals = v.view.queues = 1;
	v.view.json = v.lo.json;
	v.view.verbose = v.lo.verbose;
	if ((rc = st_local_require_root(help->name)))
		return rc;
	st_log_route_libbpf();
	if (check)
		return st_local_hooks_check(&hook_ops, VN_NHOOKS, v.lo.json);
	v.ncpus = libbpf_num_possible_cpus();
	if (v.ncpus <= 0) {
		fprintf(stderr, "error: cannot count CPUs: %s\n", strerror(-v.ncpus));
		return ST_EXIT_FAIL;
	}
	rc = setup_bpf(&v, help->name);
	v.view.hooks = v.hooks;
	v.view.used = v.used;
	if (!rc) {
		st_local_signals();
		rc = run(&v);
	}
	st_local_hooks_destroy(v.hooks, VN_NHOOKS);
	virt_net_bpf__destroy(v.skel);
	free(v.ptq);
	free(v.pvq);
	st_local_dev_names_free();
	return rc;
}

#define HOOKS_NOTE \
"Hooks: fentry, else kprobe, on the functions named; tun_net_xmit falls\n" \
"back to the net_dev_start_xmit tracepoint (devices of link kind \"tun\").\n" \
"At start the command prints the method of each hook or why none works;\n" \
"without its main hook it exits 1. Exit status: 0 ok, 1 runtime failure\n" \
"or main hook unavailable, 2 usage error.\n"

int virt_tun(int argc, char **argv)
{
	static const struct st_cmd_help help = {
		.name = "stagetrace virt tun",
		.summary = "tun/tap queues: frames in, ring fill level, drops on a full ring.",
		.description =
"Per tun/tap device and queue, per interval: frames and bytes the host sent\n"
"into the queue (tun_net_xmit), how many found the queue's ring full (the\n"
"kernel drops those: the reader, qemu or vhost, is not keeping up), the\n"
"ring's fill level (average over the frames, highest seen, size), and the\n"
"frames a vhost worker moved through the queue's socket (FROM_VM:\n"
"tun_sendmsg, TO_VM: tun_recvmsg). Queues without traffic in the interval\n"
"are left out unless -v. Replaces tun/tun_ring_monitor.py and\n"
"tun/tun-tx-ring-stas.bt.\n" HOOKS_NOTE,
		.examples =
"  stagetrace virt tun\n"
"  stagetrace virt tun --dev tap0 -i 5\n"
"  stagetrace virt tun --netns hv1 --json -c 3",
	};

	return vn_main(VN_TUN, argc, argv, &help);
}

int virt_vhost(int argc, char **argv)
{
	static const struct st_cmd_help help = {
		.name = "stagetrace virt vhost",
		.summary = "vhost-net virtqueues: worker, tun queue, packets, guest signals.",
		.description =
"One row per vhost-net virtqueue that ran in the interval: its worker thread,\n"
"RX or TX, the tun queue behind it (learned from the virtqueue's backend\n"
"socket), handler runs (handle_tx/handle_rx), packets and bytes moved\n"
"(tun_sendmsg/tun_recvmsg in the worker's thread) and packets per run\n"
"(--queues); used-ring updates, buffers returned and eventfd signals on\n"
"the virtqueue's call eventfd, i.e. guest notifications (--signals); RX\n"
"peeks at the next frame's length (vhost_net_buf_peek: calls, empty ones,\n"
"average head length; --peek, only hooked when asked for). Without a flag\n"
"--queues and --signals are shown. --netns/--dev select\n"
"the tun side only. Replaces vhost-net/vhost_eventfd_count and\n"
"vhost_queue_correlation_simple/details.py (-v keeps idle virtqueues) and\n"
"vhost_buf_peek_stats.py (--peek).\n"
HOOKS_NOTE,
		.examples =
"  stagetrace virt vhost\n"
"  stagetrace virt vhost --signals -i 5\n"
"  stagetrace virt vhost --queues -v --json",
	};

	return vn_main(VN_VHOST, argc, argv, &help);
}

int virt_queues(int argc, char **argv)
{
	static const struct st_cmd_help help = {
		.name = "stagetrace virt queues",
		.summary = "tun queue <-> vhost virtqueue <-> worker, with rates.",
		.description =
"One row per tun/tap queue: frames into the queue, drops on a full ring and\n"
"the highest fill level, then the vhost virtqueue pair that serves it (RX:\n"
"host -> guest, TX: guest -> host), each with its worker thread, packets\n"
"per second and guest signals per second. The mapping is learned at run\n"
"time from kernel objects: each virtqueue's backend socket is the tun\n"
"queue's. -v adds idle rows and the virtqueues' kernel addresses; --peek\n"
"adds the RX peek counts of `virt vhost --peek` to the JSON virtqueues.\n"
"Replaces tun_to_vhost_queue_status_simple.py and\n"
"tun_to_vhost_queue_stats_details.py.\n" HOOKS_NOTE,
		.examples =
"  stagetrace virt queues\n"
"  stagetrace virt queues -v -i 5\n"
"  stagetrace virt queues --json -c 1",
	};

	return vn_main(VN_QUEUES, argc, argv, &help);
}
