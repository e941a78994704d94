// SPDX-License-Identifier: MIT
/*
 * stagetrace qdisc: what the queueing disciplines do to packets, in one of
 * five modes (bpf/qdisc.h describes what each counts):
 *
 *   --latency (default)  enqueue -> dequeue time per qdisc, as histograms
 *   --dequeue            dequeue calls, batch sizes, empty calls, requeues
 *   --drops              qdisc drops: reason, location, queue depth at drop
 *   --xmit               TX queues: net_dev_queue -> start_xmit time, depth,
 *                        xmit results, timeouts, BQL stalls
 *   --tc                 qdisc create/destroy/reset, tc drop reasons
 *
 * This file parses the options, picks an attach method per hook of the mode
 * (a hook the mode can live without is reported and skipped), configures
 * the BPF side and runs the interval loop; cli/qdisc_drain.c drains the
 * generation maps into rows summed over CPUs, cli/qdisc_show.c renders them.
 */
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attach_probe.h"
#include "cli.h"
#include "localrun.h"
#include "log.h"
#include "opts.h"
#include "pktfilter.h"
#include "qdisc.h"
#include "qdisc.skel.h"

#define CMD "stagetrace qdisc"

_Static_assert(sizeof(struct st_qd_key) == 40, "st_qd_key layout");
_Static_assert(sizeof(struct st_qd_hkey) == 48, "st_qd_hkey layout");
_Static_assert(sizeof(struct st_qd_deq) == (7 + ST_QD_MAX_BATCH + 1) * 8, "st_qd_deq layout");
_Static_assert(sizeof(struct st_qd_dkey) == 56, "st_qd_dkey layout");
_Static_assert(sizeof(struct st_qd_dval) == 56, "st_qd_dval layout");
_Static_assert(sizeof(struct st_qd_xval) == 80, "st_qd_xval layout");
_Static_assert(sizeof(struct st_qd_ckey) == 48, "st_qd_ckey layout");
_Static_assert(sizeof(struct st_qd_event) == 144, "st_qd_event layout");

/* Header filters need a packet: the dequeue and tc modes have none. */
#define QD_PKT_OPTS (ST_LO_SRC | ST_LO_DST | ST_LO_PROTO | ST_LO_SPORT | ST_LO_DPORT)
#define QD_BASE_OPTS (ST_LO_INTERVAL | ST_LO_DURATION | ST_LO_COUNT | ST_LO_JSON | \
		      ST_LO_NETNS | ST_LO_DEV)

static unsigned mode_opts(int mode)
{
	switch (mode) {
	case ST_QD_LATENCY:
	case ST_QD_DROPS:
	case ST_QD_XMIT:
		return QD_BASE_OPTS | QD_PKT_OPTS | ST_LO_VERBOSE;
	case ST_QD_DEQUEUE:
	case ST_QD_TC:	/* -v: one line per classified packet, per tc drop */
		return QD_BASE_OPTS | ST_LO_VERBOSE;
	default:
		return QD_BASE_OPTS;
	}
}

static void add_hook(struct qd *q, const char *tp, int optional, const char *what)
{
	struct qd_hook *h = &q->hooks[q->nhooks++];

	memset(h, 0, sizeof(*h));
	h->tp = tp;
	h->optional = optional;
	h->what = what;
}

static void mode_hooks(struct qd *q)
{
	switch (q->mode) {
	case ST_QD_LATENCY:
		add_hook(q, "qdisc_enqueue", 0, "enqueue times");
		add_hook(q, "qdisc_dequeue", 0, "dequeue times");
		break;
	case ST_QD_DEQUEUE:
		add_hook(q, "qdisc_dequeue", 0, "dequeues");
		break;
	case ST_QD_DROPS:
		add_hook(q, "kfree_skb", 0, "drops");
		break;
	case ST_QD_XMIT:
		add_hook(q, "net_dev_queue", 0, "packets queued for transmit");
		add_hook(q, "net_dev_start_xmit", 0, "packets handed to drivers");
		add_hook(q, "net_dev_xmit", 1, "driver transmit results");
		add_hook(q, "net_dev_xmit_timeout", 1, "TX watchdog timeouts");
		add_hook(q, "dql_stall_detected", 1, "BQL stalls");
		break;
	case ST_QD_TC:
		add_hook(q, "qdisc_create", 1, "qdisc creation");
		add_hook(q, "qdisc_destroy", 1, "qdisc destruction");
		add_hook(q, "qdisc_reset", 1, "qdisc resets");
		add_hook(q, "kfree_skb", 1, "tc drop reasons");
		break;
	}
}

static const char *const all_tps[] = {
	"qdisc_enqueue", "qdisc_dequeue", "kfree_skb", "net_dev_queue",
	"net_dev_start_xmit", "net_dev_xmit", "net_dev_xmit_timeout",
	"dql_stall_detected", "qdisc_create", "qdisc_destroy", "qdisc_reset",
};

/* The drop reasons of the mode, by name from the kernel's enum. */
static int fill_reasons(struct qd *q)
{
	int fd = bpf_map__fd(q->skel->maps.qd_reasons), n = 0;

	if (!q->have_reasons)
		return 0;
	for (size_t i = 0; i < q->reasons.n; i++) {
		const char *nm = q->reasons.v[i].name;
		uint32_t r = (uint32_t)q->reasons.v[i].val;
		uint8_t kind = 0;

		if (q->mode == ST_QD_DROPS &&
		    (!strncmp(nm, "QDISC_", 6) || !strncmp(nm, "CAKE_", 5) || !strncmp(nm, "FQ_", 3)))
			kind = 1;
		else if (q->mode == ST_QD_TC && !strncmp(nm, "TC_", 3))
			kind = 2;
		if (kind && !bpf_map_update_elem(fd, &r, &kind, BPF_ANY))
			n++;
	}
	return n;
}

/*
 * tcf_classify's struct tcf_result * argument: the fourth since the
 * tcf_block argument came (5.14), the third before; read from the running
 * kernel's BTF prototype.
 */
static uint32_t tcf_res_arg(void)
{
	struct btf *btf = btf__load_vmlinux_btf();
	uint32_t idx = 3;
	int id;

	if (!btf)
		return idx;
	id = btf__find_by_name_kind(btf, "tcf_classify", BTF_KIND_FUNC);
	if (id > 0) {
		const struct btf_type *proto = btf__type_by_id(btf, btf__type_by_id(btf, id)->type);

		if (proto && btf_is_func_proto(proto) && btf_vlen(proto) == 4)
			idx = 2;
	}
	btf__free(btf);
	return idx;
}

/* The classifier hook: no tracepoint; fexit, else kprobe + kretprobe. */
static void tcf_hooks_init(struct qdisc_bpf *s, struct st_local_hook *h)
{
	h[0] = (struct st_local_hook){
		.name = "tcf_classify", .n = 2,
		.alts = { { "fexit", "tcf_classify" }, { "kprobe", "tcf_classify" } },
		.prog = { s->progs.fexit_tcf_classify, s->progs.kprobe_tcf_classify },
		.prog2 = { NULL, s->progs.kretprobe_tcf_classify },
		.ret2 = { 0, 1 },
	};
	s->rodata->qd_tcf_res_arg = tcf_res_arg();
}

/* The skeleton as st_local_hooks_check() drives it (--check-hooks). */
static void *ops_open(void) { return qdisc_bpf__open(); }
static struct bpf_object *ops_obj(void *s) { return ((struct qdisc_bpf *)s)->obj; }
static int ops_load(void *s) { return qdisc_bpf__load(s); }
static void ops_destroy(void *s) { qdisc_bpf__destroy(s); }
static void ops_init(void *s, struct st_local_hook *h) { tcf_hooks_init(s, h); }

static const struct st_hook_object_ops hook_ops = {
	ops_open, ops_obj, ops_load, ops_destroy, ops_init,
};

static int setup_bpf(struct qd *q)
{
	struct st_qd_cfg cfg = { .mode = (uint32_t)q->mode };
	uint32_t zero = 0;
	uint8_t one = 1;
	int err, usable = 0;

	q->skel = qdisc_bpf__open();
	if (!q->skel) {
		fprintf(stderr, "error: cannot open the qdisc BPF object: %s\n", strerror(errno));
		return ST_EXIT_FAIL;
	}
	for (size_t i = 0; i < sizeof(all_tps) / sizeof(all_tps[0]); i++)
		st_local_tp_off(q->skel->obj, all_tps[i]);
	/* The classifier programs attach through their plan, in --tc only. */
	{
		struct bpf_program *p[3] = { q->skel->progs.fexit_tcf_classify,
					     q->skel->progs.kprobe_tcf_classify,
					     q->skel->progs.kretprobe_tcf_classify };

		for (int i = 0; i < 3; i++) {
			bpf_program__set_autoload(p[i], false);
			bpf_program__set_autoattach(p[i], false);
		}
	}
	if (q->mode == ST_QD_TC) {
		tcf_hooks_init(q->skel, q->tcf);
		st_local_hooks_plan(q->tcf, 1);
		q->tcf_planned = 1;
	} else {
		bpf_map__set_max_entries(q->skel->maps.cls0, 1);
		bpf_map__set_max_entries(q->skel->maps.cls1, 1);
	}
	for (int i = 0; i < q->nhooks; i++) {
		struct qd_hook *h = &q->hooks[i];

		h->method = st_local_tp_select(q->skel->obj, h->tp, q->method_force,
					       h->why, sizeof(h->why));
		if (h->method) {
			usable++;
		} else if (!h->optional) {
			fprintf(stderr, "error: %s --%s cannot attach to %s: %s\n", CMD,
				q->mode_name, h->tp, h->why);
			return ST_EXIT_FAIL;
		} else if (!q->lo.json) {
			fprintf(stderr, "warning: no %s on this kernel (%s: %s)\n", h->what,
				h->tp, h->why);
		}
	}
	if (!usable) {
		fprintf(stderr, "error: %s --%s: none of its hooks attaches on this kernel\n",
			CMD, q->mode_name);
		return ST_EXIT_FAIL;
	}
	/* Maps of other modes shrink to one entry. */
	if (q->mode != ST_QD_LATENCY && q->mode != ST_QD_XMIT) {
		bpf_map__set_max_entries(q->skel->maps.hist0, 1);
		bpf_map__set_max_entries(q->skel->maps.hist1, 1);
		bpf_map__set_max_entries(q->skel->maps.hstat0, 1);
		bpf_map__set_max_entries(q->skel->maps.hstat1, 1);
		bpf_map__set_max_entries(q->skel->maps.qd_stamps, 1);
	}
	if (q->mode != ST_QD_DEQUEUE) {
		bpf_map__set_max_entries(q->skel->maps.deq0, 1);
		bpf_map__set_max_entries(q->skel->maps.deq1, 1);
	}
	if (q->mode != ST_QD_DROPS && q->mode != ST_QD_TC) {
		bpf_map__set_max_entries(q->skel->maps.drop0, 1);
		bpf_map__set_max_entries(q->skel->maps.drop1, 1);
	}
	if (q->mode != ST_QD_XMIT) {
		bpf_map__set_max_entries(q->skel->maps.xmit0, 1);
		bpf_map__set_max_entries(q->skel->maps.xmit1, 1);
	}
	if (!q->lo.verbose && q->mode != ST_QD_TC && q->mode != ST_QD_XMIT)
		bpf_map__set_max_entries(q->skel->maps.qd_events, 4096);
	err = qdisc_bpf__load(q->skel);
	if (err) {
		fprintf(stderr, "error: loading the qdisc BPF programs failed: %s\n", strerror(-err));
		return ST_EXIT_FAIL;
	}
	if (q->lo.netns_set) {
		cfg.flags |= ST_QF_NETNS;
		bpf_map_update_elem(bpf_map__fd(q->skel->maps.qd_netns), &q->lo.netns_ino, &one,
				    BPF_ANY);
	}
	if (q->lo.dev_set) {
		struct st_qd_dev d = { q->lo.dev_netns, q->lo.dev_ifindex };

		cfg.flags |= ST_QF_DEV;
		bpf_map_update_elem(bpf_map__fd(q->skel->maps.qd_devs), &d, &one, BPF_ANY);
	}
	st_pkt_filter_set(&cfg.pf, q->lo.proto_set ? q->lo.proto_num : 0, q->lo.sport,
			  q->lo.dport, &q->lo.src, &q->lo.dst, 0);
	if (q->lo.verbose)
		cfg.flags |= ST_QF_EVENTS;
	if ((q->mode == ST_QD_DROPS || q->mode == ST_QD_TC) && !fill_reasons(q) &&
	    !q->lo.json)
		fprintf(stderr, "warning: this kernel's enum skb_drop_reason has no %s reasons: "
			"such drops cannot be told from others\n",
			q->mode == ST_QD_TC ? "TC_*" : "QDISC_*");
	if (bpf_map_update_elem(bpf_map__fd(q->skel->maps.qd_cfg), &zero, &cfg, BPF_ANY)) {
		fprintf(stderr, "error: cannot configure the qdisc BPF programs: %s\n",
			strerror(errno));
		return ST_EXIT_FAIL;
	}
	q->rb = ring_buffer__new(bpf_map__fd(q->skel->maps.qd_events), qd_on_event, q, NULL);
	if (!q->rb) {
		fprintf(stderr, "error: cannot open the qdisc event ring buffer: %s\n",
			strerror(errno));
		return ST_EXIT_FAIL;
	}
	err = qdisc_bpf__attach(q->skel);
	if (err) {
		fprintf(stderr, "error: attaching the qdisc BPF programs failed: %s\n",
			strerror(-err));
		return ST_EXIT_FAIL;
	}
	if (q->tcf_planned)
		st_local_hooks_attach(q->tcf, 1);
	return 0;
}

static int run(struct qd *q)
{
	struct st_local_ticker t;
	uint32_t gen = 0;

	st_local_ticker_init(&t, q->lo.interval, q->lo.duration);
	if (q->mode == ST_QD_TC)
		qd_tcstats_sample(q);	/* the baseline */
	qd_show_start(q);
	for (;;) {
		double secs;
		int stop = st_local_ticker_wait(&t, q->rb, q->lo.count, &secs);
		int idle = st_local_gen_flip(&q->skel->bss->qdisc_gen, &gen, q->rb);

		qd_drain(q, idle);
		if (q->mode == ST_QD_TC)
			qd_tcstats_sample(q);
		qd_show_interval(q, secs);
		qd_free_rows(q);
		if (stop)
			break;
	}
	return 0;
}

int cmd_qdisc(int argc, char **argv)
{
	static const struct st_cmd_help help = {
		.name = CMD,
		.summary = "Queueing disciplines: latency, dequeue patterns, drops, TX queues, tc events.",
		.description =
"One mode per run:\n"
"  --latency  (default) time from qdisc_enqueue to qdisc_dequeue per qdisc\n"
"             (netns, device, handle, kind, TX queue), as log-linear\n"
"             histograms with p50/p90/p99; -v: one line per packet.\n"
"  --dequeue  per qdisc: dequeue calls, empty calls (nothing to send or\n"
"             throttled), packets and bytes, packets per call (batch\n"
"             sizes; -v prints their distribution), requeues.\n"
"  --drops    drops with a qdisc reason (QDISC_*, FQ_*, CAKE_* of the\n"
"             running kernel's enum skb_drop_reason): per qdisc, reason\n"
"             and location, with the queue depth (qlen, backlog) at the\n"
"             drop; -v: one line per drop.\n"
"  --xmit     per TX queue: packets queued (net_dev_queue) and handed to\n"
"             the driver (net_dev_start_xmit), the time between, queue\n"
"             depth at enqueue, BQL bytes in flight, driver results\n"
"             (ok/busy/error), watchdog timeouts, BQL stalls.\n"
"  --tc       qdisc create/destroy/reset events as they happen; per interval\n"
"             the drops with tc reasons (TC_*) and every qdisc and class\n"
"             whose counters moved (rtnetlink, as tc -s shows them): how\n"
"             many packets the classifiers sent to each class. Where a\n"
"             function hook on tcf_classify attaches (fexit, else kprobe +\n"
"             kretprobe; there is no tracepoint), also the classifier\n"
"             results per interval, counted per (qdisc whose filters ran,\n"
"             TC_ACT_* verdict, class id), and with -v one line per\n"
"             classified packet (verdict, class id, flow). Where none\n"
"             attaches the command says so and shows the rest.\n"
"Header filters (--proto, ports, addresses) apply to latency, drops and\n"
"xmit; -v to latency, dequeue, drops and xmit. Replaces\n"
"qdisc_lateny_details.py, qdisc_drop_trace.py, trace-qdisc-dequeue.bt,\n"
"trace_dev_queue_xmit.bt and trace_tc_qdisc.bt.",
		.examples =
"  stagetrace qdisc --dev eth0 -i 5\n"
"  stagetrace qdisc --drops --netns hv1 --dev veth0 -v\n"
"  stagetrace qdisc --dequeue -c 3 --json\n"
"  stagetrace qdisc --xmit --dev eth0\n"
"  stagetrace qdisc --tc",
	};
	struct qd q = { .top = 20 };
	struct st_opt opts[ST_LOCAL_NOPTS + 11];
	int m_lat = 0, m_deq = 0, m_drops = 0, m_xmit = 0, m_tc = 0, check = 0, nm, rc, ec;
	size_t no = 0;

	st_local_opts_init(&q.lo);
	st_local_opts_table(&q.lo, ST_LO_ALL & ~(ST_LO_PID | ST_LO_VM), opts, &no,
			    sizeof(opts) / sizeof(opts[0]) - 8);
	opts[no++] = (struct st_opt){ "latency", 0, ST_OPT_FLAG, &m_lat, NULL,
				      "enqueue -> dequeue latency (default)" };
	opts[no++] = (struct st_opt){ "dequeue", 0, ST_OPT_FLAG, &m_deq, NULL, "dequeue patterns" };
	opts[no++] = (struct st_opt){ "drops", 0, ST_OPT_FLAG, &m_drops, NULL,
				      "qdisc drops with queue depth" };
	opts[no++] = (struct st_opt){ "xmit", 0, ST_OPT_FLAG, &m_xmit, NULL, "TX queue behaviour" };
	opts[no++] = (struct st_opt){ "tc", 0, ST_OPT_FLAG, &m_tc, NULL,
				      "qdisc lifecycle events, tc drops" };
	opts[no++] = (struct st_opt){ "top", 0, ST_OPT_U32, &q.top, "N",
				      "rows per table (default 20)", 1, 1e6 };
	opts[no++] = (struct st_opt){ "method", 0, ST_OPT_STR, &q.method_force,
				      "tp_btf|raw_tp", "attach method (default: probed)" };
	opts[no++] = (struct st_opt){ "check-hooks", 0, ST_OPT_FLAG, &check, NULL,
				      "load each tcf_classify hook program through the verifier (no attach), report, exit" };
	opts[no] = (struct st_opt)ST_OPT_END;

	if (st_opts_parse_noargs(argc, argv, opts, &help, &ec))
		return ec;
	nm = m_lat + m_deq + m_drops + m_xmit + m_tc;
	if (nm > 1) {
		fprintf(stderr, "error: --latency, --dequeue, --drops, --xmit and --tc are exclusive\n");
		return ST_EXIT_USAGE;
	}
	q.mode = m_deq ? ST_QD_DEQUEUE : m_drops ? ST_QD_DROPS : m_xmit ? ST_QD_XMIT :
		 m_tc ? ST_QD_TC : ST_QD_LATENCY;
	q.mode_name = m_deq ? "dequeue" : m_drops ? "drops" : m_xmit ? "xmit" :
		      m_tc ? "tc" : "latency";
	{
		char cmd[64];

		snprintf(cmd, sizeof(cmd), CMD " --%s", q.mode_name);
		if ((rc = st_local_validate(&q.lo, mode_opts(q.mode), cmd)))
			return rc;
	}
	if ((rc = st_local_method_check(q.method_force)))
		return rc;
	if ((rc = st_local_require_root(CMD)))
		return rc;

	st_log_route_libbpf();
	if (check)
		return st_local_hooks_check(&hook_ops, 1, q.lo.json);
	q.ncpus = libbpf_num_possible_cpus();
	if (q.ncpus <= 0) {
		fprintf(stderr, "error: cannot count CPUs: %s\n", strerror(-q.ncpus));
		return ST_EXIT_FAIL;
	}
	if (q.mode == ST_QD_DROPS || q.mode == ST_QD_TC) {
		if (st_ksyms_load(&q.ksyms))
			pr_warn("cannot read /proc/kallsyms; locations are printed as addresses");
		else
			q.have_ksyms = 1;
		if (!st_btf_enum_load("skb_drop_reason", "SKB_DROP_REASON_", &q.reasons))
			q.have_reasons = 1;
	}
	mode_hooks(&q);

	rc = setup_bpf(&q);
	if (!rc) {
		st_local_signals();
		rc = run(&q);
		if (!q.lo.json)
			fprintf(stderr, "qdisc --%s: %llu hook calls, %llu counted, %llu latencies; "
				"lost: %llu (map full), %llu events (ring full)\n", q.mode_name,
				(unsigned long long)q.counters[ST_QC_CALLS],
				(unsigned long long)q.counters[ST_QC_COUNTED],
				(unsigned long long)q.counters[ST_QC_MATCHED],
				(unsigned long long)q.counters[ST_QC_MAP_FULL],
				(unsigned long long)q.counters[ST_QC_RINGBUF_FULL]);
	}
	ring_buffer__free(q.rb);
	if (q.tcf_planned)
		st_local_hooks_destroy(q.tcf, 1);
	qdisc_bpf__destroy(q.skel);
	if (q.have_ksyms)
		st_ksyms_free(&q.ksyms);
	if (q.have_reasons)
		st_enum_names_free(&q.reasons);
	free(q.seen);
	qd_tcstats_free(&q);
	st_local_dev_names_free();
	return rc;
}
