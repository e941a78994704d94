// SPDX-License-Identifier: MIT
/*
 * stagetrace rtt: ICMP echo round trips and losses measured in the kernel,
 * split into stages (bpf/rtt.h explains the stamps and the matching).
 *
 * This file loads and attaches the BPF side, and runs the loop: every
 * tick it consumes answered exchanges from the ring buffer into the
 * interval histograms, and walks the map of exchanges in flight to retire
 * the ones older than --timeout as lost. Retiring is a delete that either
 * this side or the BPF side wins, so an exchange is reported once. At the
 * end of each interval the BPF counters are read and the interval printed;
 * at the end of the run, a summary over all intervals.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "localrun.h"
#include "log.h"
#include "opts.h"
#include "pktfilter.h"
#include "rtt.h"
#include "rtt.skel.h"
#include "timeutil.h"

#define CMD "stagetrace rtt"
#define RTT_SUPPORTED (ST_LO_INTERVAL | ST_LO_DURATION | ST_LO_COUNT | ST_LO_SRC | \
		       ST_LO_DST | ST_LO_VERBOSE | ST_LO_JSON | ST_LO_NETNS | ST_LO_DEV)

static void record(struct rtt *r, const struct st_rtt_key *k, const struct st_rtt_val *v)
{
	uint64_t d[RTT_NH];
	int n = rtt_durations(r->mode, v->t, d);

	for (int i = 0; i < n; i++) {
		if (d[i] == UINT64_MAX)
			continue;
		st_hist_add(&r->iv[i], d[i]);
		st_hist_add(&r->all[i], d[i]);
	}
	r->iv_answered++;
	r->answered++;
	if (r->lo.verbose)
		rtt_print_exchange(r, k, v, 0);
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct rtt *r = ctx;
	const struct st_rtt_event *e = data;

	if (size >= sizeof(*e))
		record(r, &e->key, &e->val);
	return 0;
}

/*
 * Retire exchanges older than the timeout (all of them when final). Keys
 * are collected first: deleting while walking restarts the walk.
 */
static void scan(struct rtt *r, int final)
{
	int fd = bpf_map__fd(r->skel->maps.rtt_pending);
	struct st_rtt_key *keys = r->scan_keys;
	uint64_t now = st_mono_ns(), tmo = (uint64_t)(r->timeout * 1e9);
	size_t n = 0;
	if (bpf_map_get_next_key(fd, NULL, &keys[0]) == 0) {
		n = 1;
		while (n < r->max_inflight &&
		       bpf_map_get_next_key(fd, &keys[n - 1], &keys[n]) == 0)
			n++;
	}
	for (size_t i = 0; i < n; i++) {
		struct st_rtt_val v;

		uint64_t start;

		if (bpf_map_lookup_elem(fd, &keys[i], &v))
			continue;
		/* tx entries made by the ip_output hook start there. An entry
		 * made after now was read (start > now) is young, not lost. */
		start = v.t[0] ? v.t[0] : v.t[4];
		if (!final && (!start || start > now || now - start < tmo))
			continue;
		if (bpf_map_delete_elem(fd, &keys[i]))
			continue;	/* the BPF side completed it first */
		if (r->mode == ST_RTT_TX && v.t[2]) {
			/* The reply came, but its processing was never seen
			 * (no free hook, or freed elsewhere): answered. */
			r->iv_noend++;
			r->noend++;
			record(r, &keys[i], &v);
		} else if (final && (start > now || now - start < tmo)) {
			r->pending_at_end++;
		} else {
			r->iv_lost++;
			r->lost++;
			if (r->lo.verbose)
				rtt_print_exchange(r, &keys[i], &v, 1);
		}
	}
}

/* The optional function hook and the programs of its alternatives. */
static void ip_hook_init(struct rtt_bpf *s, struct st_local_hook *h)
{
	*h = (struct st_local_hook){
		.name = "ip_output", .n = 2,
		.alts = { { "fentry", "ip_output" }, { "kprobe", "ip_output" } },
		.prog = { s->progs.fentry_ip_output, s->progs.kprobe_ip_output },
	};
}

/* The skeleton, as st_local_hooks_check() drives it (--check-hooks). */
static void *ops_open(void) { return rtt_bpf__open(); }
static struct bpf_object *ops_obj(void *s) { return ((struct rtt_bpf *)s)->obj; }
static int ops_load(void *s) { return rtt_bpf__load(s); }
static void ops_destroy(void *s) { rtt_bpf__destroy(s); }
static void ops_init(void *s, struct st_local_hook *h) { ip_hook_init(s, h); }

static const struct st_hook_object_ops hook_ops = {
	ops_open, ops_obj, ops_load, ops_destroy, ops_init,
};

static void read_counters(struct rtt *r, uint64_t delta[ST_RC_MAX])
{
	int fd = bpf_map__fd(r->skel->maps.rtt_counters);

	for (uint32_t i = 0; i < ST_RC_MAX; i++) {
		uint64_t sum = st_local_percpu_sum(fd, i, r->ncpus);

		delta[i] = sum - r->counters[i];
		r->counters[i] = sum;
	}
}

static int setup_bpf(struct rtt *r)
{
	static const char *const tx_tps[] = { "net_dev_queue", "net_dev_start_xmit",
		"netif_receive_skb", "consume_skb", "kfree_skb" };
	struct st_rtt_cfg cfg = { .mode = (uint32_t)r->mode };
	uint32_t zero = 0;
	uint8_t one = 1;
	int err, frees = 0;

	r->skel = rtt_bpf__open();
	if (!r->skel) {
		fprintf(stderr, "error: cannot open the rtt BPF object: %s\n", strerror(errno));
		return ST_EXIT_FAIL;
	}
	/* rx needs no free hooks; tx can do without them (see scan()). */
	r->nhooks = r->mode == ST_RTT_TX ? 5 : 3;
	for (int i = 0; i < 5; i++) {
		struct rtt_hook *h = &r->hooks[i];

		h->tp = tx_tps[i];
		h->optional = i >= 3;
		if (i >= r->nhooks) {
			st_local_tp_off(r->skel->obj, h->tp);
			continue;
		}
		h->method = st_local_tp_select(r->skel->obj, h->tp, r->method_force, h->why,
					       sizeof(h->why));
		if (h->method) {
			frees += h->optional;
		} else if (!h->optional) {
			fprintf(stderr, "error: %s cannot attach to %s: %s\n", CMD, h->tp, h->why);
			return ST_EXIT_FAIL;
		}
	}
	if (r->mode == ST_RTT_TX && frees < 2 && !r->lo.json)
		fprintf(stderr, "warning: %s; the recv stage ends only when a reply is freed "
			"through the other hook, else the reply's receive ends the round trip\n",
			!r->hooks[3].method ? r->hooks[3].why : r->hooks[4].why);
	/* The optional function hook: planned by real load, never fatal. */
	ip_hook_init(r->skel, &r->ip_hook);
	st_local_hooks_plan(&r->ip_hook, 1);
	bpf_program__set_autoattach(r->skel->progs.fentry_ip_output, false);
	bpf_program__set_autoattach(r->skel->progs.kprobe_ip_output, false);
	if (!r->lo.verbose)
		bpf_map__set_max_entries(r->skel->maps.rtt_events, 1 << 18);
	bpf_map__set_max_entries(r->skel->maps.rtt_pending, r->max_inflight);
	err = rtt_bpf__load(r->skel);
	if (err) {
		fprintf(stderr, "error: loading the rtt BPF programs failed: %s\n", strerror(-err));
		return ST_EXIT_FAIL;
	}
	if (r->lo.netns_set) {
		cfg.flags |= ST_RTF_NETNS;
		bpf_map_update_elem(bpf_map__fd(r->skel->maps.rtt_netns), &r->lo.netns_ino, &one,
				    BPF_ANY);
	}
	if (r->lo.dev_set) {
		struct st_rtt_dev dk = { r->lo.dev_netns, r->lo.dev_ifindex };

		cfg.flags |= ST_RTF_DEV;
		bpf_map_update_elem(bpf_map__fd(r->skel->maps.rtt_devs), &dk, &one, BPF_ANY);
	}
	st_pkt_filter_set(&cfg.pf, 0, 0, 0, &r->lo.src, &r->lo.dst, 0);
	if (bpf_map_update_elem(bpf_map__fd(r->skel->maps.rtt_cfg), &zero, &cfg, BPF_ANY)) {
		fprintf(stderr, "error: cannot configure the rtt BPF programs: %s\n",
			strerror(errno));
		return ST_EXIT_FAIL;
	}
	r->rb = ring_buffer__new(bpf_map__fd(r->skel->maps.rtt_events), on_event, r, NULL);
	if (!r->rb) {
		fprintf(stderr, "error: cannot open the rtt ring buffer: %s\n", strerror(errno));
		return ST_EXIT_FAIL;
	}
	err = rtt_bpf__attach(r->skel);
	if (err) {
		fprintf(stderr, "error: attaching the rtt BPF programs failed: %s\n",
			strerror(-err));
		return ST_EXIT_FAIL;
	}
	st_local_hooks_attach(&r->ip_hook, 1);
	return 0;
}

static int run(struct rtt *r)
{
	struct st_local_ticker t;

	if (!r->lo.json) {
		char hb[900];

		fprintf(stderr, "Tracing ICMP echo %s (timeout %.3f s); hook ip_output: %s\n"
			"Ctrl-C to end.\n",
			r->mode == ST_RTT_TX ? "requests sent from here and their replies" :
					       "requests answered here",
			r->timeout, st_local_hook_status(&r->ip_hook, hb, sizeof(hb)));
	}
	st_local_ticker_init(&t, r->lo.interval, r->lo.duration);
	for (;;) {
		uint64_t deadline = st_local_ticker_next(&t), delta[ST_RC_MAX];
		double secs;
		int stop;

		for (int i = 0; i < RTT_NH; i++)
			st_hist_init(&r->iv[i]);
		r->iv_answered = r->iv_lost = r->iv_noend = 0;
		while (!st_local_stop && st_mono_ns() < deadline) {
			st_local_wait(deadline, r->rb, 100);
			scan(r, 0);
		}
		ring_buffer__consume(r->rb);
		stop = st_local_ticker_end(&t, st_mono_ns(), r->lo.count, &secs);
		read_counters(r, delta);
		rtt_print_interval(r, delta, secs);
		if (stop)
			break;
	}
	ring_buffer__consume(r->rb);
	scan(r, 1);
	return 0;
}

int cmd_rtt(int argc, char **argv)
{
	static const struct st_cmd_help help = {
		.name = CMD,
		.summary = "ICMP echo round trips and losses, measured in the kernel, per stage.",
		.description =
"Matches every ICMP echo request with its reply by (netns, addresses, echo\n"
"id, sequence) in a bounded BPF hash and times both at the device and in\n"
"the stack, with no userspace clock in the path. Default direction (tx):\n"
"echo requests this host sends (any pinger: the request is one this host\n"
"made, not one it forwards), split into\n"
"  send     request: device queue -> handed to the driver (the qdisc)\n"
"  network  request to the driver -> reply at the device (driver, wire,\n"
"           peer)\n"
"  recv     reply: device receive -> ICMP done with it (the reply freed)\n"
"and the round trip rtt = request queued -> reply processed; with the\n"
"ip_output hook (fentry, else kprobe; the banner and JSON say when\n"
"neither loads)\n"
"  ip_out   request: IP output (after the OUTPUT chain) -> device queue,\n"
"           before rtt starts\n"
"--rx: echo requests that arrive here and the replies this host sends:\n"
"  stack    request at the device -> reply queued, with the hook split in\n"
"  icmp     request at the device -> reply at IP output (INPUT chain,\n"
"           ICMP, OUTPUT chain)\n"
"  ip_out   reply at IP output -> device queue\n"
"  send     reply: device queue -> handed to the driver\n"
"and reply_time = request at the device -> reply to the driver. A request\n"
"with no reply within --timeout is lost (tx) or unanswered (rx); a reply\n"
"with no tracked request is counted as unmatched. Hooks: net_dev_queue,\n"
"net_dev_start_xmit, netif_receive_skb, consume_skb and kfree_skb\n"
"(tp_btf, else raw_tp). Without the free hooks a reply's receive ends\n"
"the round trip and recv is not shown. Every stamp is taken in the\n"
"kernel: the pinger's own scheduling and wake-up are not included.\n"
"One set of histograms per interval, or one line per exchange with -v.\n"
"--src-ip/--dst-ip name the request's source and destination. Replaces\n"
"system_network_icmp_rtt.py.",
		.examples =
"  stagetrace rtt --dst-ip 10.0.0.2 -i 5\n"
"  stagetrace rtt --rx --netns hv2 -v\n"
"  stagetrace rtt --timeout 200ms --json -d 30",
	};
	struct rtt r = { .timeout = 1.0 };
	struct st_opt opts[ST_LOCAL_NOPTS + 8];
	size_t no = 0;
	int rc, ec, rx = 0, check = 0;

	r.max_inflight = ST_RTT_MAX_PENDING;

	st_local_opts_init(&r.lo);
	st_local_opts_table(&r.lo, RTT_SUPPORTED, opts, &no, sizeof(opts) / sizeof(opts[0]) - 6);
	opts[no++] = (struct st_opt){ "rx", 0, ST_OPT_FLAG, &rx, NULL,
				      "echo requests arriving here and this host's replies" };
	opts[no++] = (struct st_opt){ "timeout", 0, ST_OPT_DURATION, &r.timeout, "T",
				      "a request unanswered after T is lost (default 1s)",
				      0.001, 3600 };
	opts[no++] = (struct st_opt){ "max-inflight", 0, ST_OPT_U32, &r.max_inflight, "N",
				      "exchanges tracked at once (default 16384); requests "
				      "beyond are counted as untracked", 1, 1 << 22 };
	opts[no++] = (struct st_opt){ "method", 0, ST_OPT_STR, &r.method_force,
				      "tp_btf|raw_tp", "attach method (default: probed)" };
	opts[no++] = (struct st_opt){ "check-hooks", 0, ST_OPT_FLAG, &check, NULL,
				      "load each alternative of the ip_output hook through the "
				      "verifier (no attach), report, exit" };
	opts[no] = (struct st_opt)ST_OPT_END;

	if (st_opts_parse_noargs(argc, argv, opts, &help, &ec))
		return ec;
	if ((rc = st_local_validate(&r.lo, RTT_SUPPORTED, CMD)))
		return rc;
	if ((rc = st_local_method_check(r.method_force)))
		return rc;
	if ((rc = st_local_require_root(CMD)))
		return rc;
	r.mode = rx ? ST_RTT_RX : ST_RTT_TX;

	st_log_route_libbpf();
	if (check)
		return st_local_hooks_check(&hook_ops, 1, r.lo.json);
	r.ncpus = libbpf_num_possible_cpus();
	if (r.ncpus <= 0) {
		fprintf(stderr, "error: cannot count CPUs: %s\n", strerror(-r.ncpus));
		return ST_EXIT_FAIL;
	}
	for (int i = 0; i < RTT_NH; i++)
		st_hist_init(&r.all[i]);
	r.scan_keys = calloc(r.max_inflight, sizeof(*r.scan_keys));
	if (!r.scan_keys) {
		fprintf(stderr, "error: out of memory\n");
		return ST_EXIT_FAIL;
	}
	rc = setup_bpf(&r);
	if (!rc) {
		st_local_signals();
		rc = run(&r);
		rtt_print_summary(&r);
	}
	ring_buffer__free(r.rb);
	st_local_hooks_destroy(&r.ip_hook, 1);
	rtt_bpf__destroy(r.skel);
	free(r.scan_keys);
	st_local_dev_names_free();
	return rc;
}
