// SPDX-License-Identifier: MIT
/*
 * stagetrace defrag: IPv4 fragments per device, datagrams whose fragments
 * all arrived, reassembly failures with the kernel's reason and location,
 * and the kernel's own reassembly counters per network namespace.
 *
 * The BPF side (bpf/defrag.bpf.c) follows every datagram's fragments in a
 * flow table and counts into generation-flipped maps (as drops does), so
 * each count lands in exactly one interval. Failures come as events, one
 * per datagram, and print as they come; with -v every fragment,
 * completion and hook event prints too. Which drop reasons kill a
 * reassembly queue is read from the running kernel's BTF (every
 * skb_drop_reason named FRAG_* or IP_FRAG*), never compiled in.
 *
 * "Complete" is what the wire delivered: every payload byte of the
 * datagram was received. Whether the kernel reassembled it is the
 * kernel's to say: its ReasmOKs counter of the namespace (read from
 * /proc/net/snmp inside it) and, where a kprobe or fexit on ip_defrag
 * attaches, the per-device REASSEMBLED count. Hooks that cannot attach on
 * this kernel are listed as unavailable with the reason.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "defrag_int.h"
#include "log.h"
#include "opts.h"
#include "pktfilter.h"
#include "timeutil.h"

#define CMD "stagetrace defrag"

/* ---- set-up ------------------------------------------------------------------- */

/* The function hooks and the programs of each alternative. */
static void hooks_init(struct defrag_bpf *s, struct st_local_hook *h)
{
	h[0] = (struct st_local_hook){
		.name = "ip_defrag", .n = 2,
		.alts = { { "fexit", "ip_defrag" }, { "kprobe", "ip_defrag" } },
		.prog = { s->progs.fexit_ip_defrag, s->progs.kprobe_ip_defrag },
		.prog2 = { NULL, s->progs.kretprobe_ip_defrag },
		.ret2 = { 0, 1 },
	};
	h[1] = (struct st_local_hook){
		.name = "ip_frag_queue", .n = 2,
		.alts = { { "fexit", "ip_frag_queue" }, { "kprobe", "ip_frag_queue" } },
		.prog = { s->progs.fexit_ip_frag_queue, s->progs.kprobe_ip_frag_queue },
		.prog2 = { NULL, s->progs.kretprobe_ip_frag_queue },
		.ret2 = { 0, 1 },
	};
	h[2] = (struct st_local_hook){
		.name = "ip_expire", .n = 2,
		.alts = { { "fentry", "ip_expire" }, { "kprobe", "ip_expire" } },
		.prog = { s->progs.fentry_ip_expire, s->progs.kprobe_ip_expire },
	};
}

/* The skeleton, as st_local_hooks_check() drives it. */
static void *ops_open(void) { return defrag_bpf__open(); }
static struct bpf_object *ops_obj(void *s) { return ((struct defrag_bpf *)s)->obj; }
static int ops_load(void *s) { return defrag_bpf__load(s); }
static void ops_destroy(void *s) { defrag_bpf__destroy(s); }
static void ops_init(void *s, struct st_local_hook *h) { hooks_init(s, h); }

static const struct st_hook_object_ops hook_ops = {
	ops_open, ops_obj, ops_load, ops_destroy, ops_init,
};

/* [lo, hi) of kernel function name, else of its first compiler clone
 * (name.isra.N, ...; never name.cold, which is no entry point): from its
 * address to the next symbol's. 0, or -ENOENT. */
static int sym_range(const struct st_ksyms *ks, const char *name, uint64_t *lo, uint64_t *hi)
{
	size_t n = strlen(name);

	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i + 1 < ks->n; i++) {
			const char *s = ks->v[i].name;

			if (ks->v[i].module || strncmp(s, name, n))
				continue;
			if (pass == 0 ? s[n] != 0 : (s[n] != '.' || strstr(s + n, ".cold")))
				continue;
			*lo = ks->v[i].addr;
			for (size_t j = i + 1; j < ks->n; j++)
				if (ks->v[j].addr > *lo) {
					*hi = ks->v[j].addr;
					return 0;
				}
		}
	}
	return -ENOENT;
}

/*
 * Where a drop with the default reason means "queue discarded": inside
 * ip_defrag and ip_frag_queue (when it is not inlined). Needs kallsyms and
 * the NOT_SPECIFIED value; without them such failures are counted as
 * dropped fragments only, and the banner says so.
 */
static void kill_ranges(struct defrag *d, struct st_defrag_cfg *cfg)
{
	static const char *const fns[ST_DEFRAG_KILL_RANGES] = { "ip_defrag", "ip_frag_queue" };
	int64_t ns = -1;
	int n = 0;

	for (size_t i = 0; d->have_reasons && i < d->reasons.n; i++)
		if (!strcmp(d->reasons.v[i].name, "NOT_SPECIFIED"))
			ns = d->reasons.v[i].val;
	if (ns < 0 || !d->have_ksyms)
		return;
	for (int i = 0; i < ST_DEFRAG_KILL_RANGES; i++) {
		uint64_t lo, hi;

		if (sym_range(&d->ksyms, fns[i], &lo, &hi))
			continue;
		cfg->kill_lo[n] = lo;
		cfg->kill_hi[n] = hi;
		n++;
	}
	if (n) {
		cfg->kill_reason = (uint32_t)ns;
		d->kill_known = 1;
	}
}

static int setup_bpf(struct defrag *d)
{
	static const char *const tps[2] = { "netif_receive_skb", "kfree_skb" };
	struct st_defrag_cfg cfg = { 0 };
	uint32_t zero = 0;
	uint8_t one = 1;
	size_t used = 0;
	int err;

	for (int i = 0; i < 2; i++) {
		char why[400] = "";

		d->method[i] = d->method_force ? d->method_force : st_probe_best(tps[i], why, sizeof(why));
		if (!d->method[i]) {
			fprintf(stderr, "error: cannot attach to %s: %s\n", tps[i], why);
			return ST_EXIT_FAIL;
		}
	}
	d->skel = defrag_bpf__open();
	if (!d->skel) {
		fprintf(stderr, "error: cannot open the defrag BPF object: %s\n", strerror(errno));
		return ST_EXIT_FAIL;
	}
	bpf_program__set_autoload(d->skel->progs.btf_frag_rx, !strcmp(d->method[0], "tp_btf"));
	bpf_program__set_autoload(d->skel->progs.raw_frag_rx, !strcmp(d->method[0], "raw_tp"));
	bpf_program__set_autoload(d->skel->progs.btf_frag_drop, !strcmp(d->method[1], "tp_btf"));
	bpf_program__set_autoload(d->skel->progs.raw_frag_drop, !strcmp(d->method[1], "raw_tp"));
	hooks_init(d->skel, d->hooks);
	st_local_hooks_plan(d->hooks, NHOOKS);
	if (!d->lo.verbose)
		bpf_map__set_max_entries(d->skel->maps.frag_events, 1 << 18);
	err = defrag_bpf__load(d->skel);
	if (err) {
		fprintf(stderr, "error: loading the defrag BPF programs failed: %s\n", strerror(-err));
		return ST_EXIT_FAIL;
	}
	/* Reasons that kill a reassembly queue, by name from the kernel's BTF. */
	for (size_t i = 0; d->have_reasons && i < d->reasons.n; i++) {
		const char *nm = d->reasons.v[i].name;
		uint32_t v = (uint32_t)d->reasons.v[i].val;

		if (strncmp(nm, "FRAG_", 5) && strncmp(nm, "IP_FRAG", 7))
			continue;
		bpf_map_update_elem(bpf_map__fd(d->skel->maps.fail_reasons), &v, &one, BPF_ANY);
		used += snprintf(d->fail_names + used, used < sizeof(d->fail_names) ?
				 sizeof(d->fail_names) - used : 0, "%s%s", used ? ", " : "", nm);
	}
	if (!used)
		snprintf(d->fail_names, sizeof(d->fail_names), "none (the kernel's BTF names no FRAG_* drop reason)");
	kill_ranges(d, &cfg);
	if (d->lo.netns_set) {
		cfg.flags |= ST_FG_NETNS;
		bpf_map_update_elem(bpf_map__fd(d->skel->maps.frag_netns), &d->lo.netns_ino, &one, BPF_ANY);
	}
	if (d->lo.dev_set) {
		struct st_frag_dev dk = { d->lo.dev_netns, d->lo.dev_ifindex };

		cfg.flags |= ST_FG_DEV;
		bpf_map_update_elem(bpf_map__fd(d->skel->maps.frag_devs), &dk, &one, BPF_ANY);
	}
	st_pkt_filter_set(&cfg.pf, d->lo.proto_set ? d->lo.proto_num : 0, 0, 0,
			  &d->lo.src, &d->lo.dst, 0);
	if (d->lo.verbose)
		cfg.flags |= ST_FG_EVENTS;
	if (bpf_map_update_elem(bpf_map__fd(d->skel->maps.defrag_cfg), &zero, &cfg, BPF_ANY)) {
		fprintf(stderr, "error: cannot configure the defrag BPF programs: %s\n", strerror(errno));
		return ST_EXIT_FAIL;
	}
	d->rb = ring_buffer__new(bpf_map__fd(d->skel->maps.frag_events), defrag_on_event, d, NULL);
	if (!d->rb) {
		fprintf(stderr, "error: cannot open the defrag event ring buffer: %s\n", strerror(errno));
		return ST_EXIT_FAIL;
	}
	{
		struct bpf_program *p[4] = { d->skel->progs.btf_frag_rx, d->skel->progs.raw_frag_rx,
					     d->skel->progs.btf_frag_drop, d->skel->progs.raw_frag_drop };

		/* One by one: the hook programs attach through their plans. */
		for (int i = 0; i < 4; i++) {
			if (!bpf_program__autoload(p[i]))
				continue;
			d->tp_links[i] = bpf_program__attach(p[i]);
			if (!d->tp_links[i]) {
				fprintf(stderr, "error: attaching %s failed: %s\n", bpf_program__name(p[i]),
					strerror(errno));
				return ST_EXIT_FAIL;
			}
		}
	}
	st_local_hooks_attach(d->hooks, NHOOKS);
	return 0;
}

static int run(struct defrag *d)
{
	struct st_local_ticker tk;
	uint32_t gen = 0;

	if (!d->lo.json) {
		char hb[900];

		fprintf(stderr, "Tracing IPv4 fragments (netif_receive_skb %s, kfree_skb %s); "
			"reassembly failure reasons: %s%s\n", d->method[0], d->method[1], d->fail_names,
			d->kill_known ? ", NOT_SPECIFIED inside ip_defrag (queue discarded)" :
			"; queues discarded without a reason are not recognised (no kallsyms or BTF)");
		for (int i = 0; i < NHOOKS; i++)
			fprintf(stderr, "  hook %s: %s\n", d->hooks[i].name,
				st_local_hook_status(&d->hooks[i], hb, sizeof(hb)));
		fprintf(stderr, "Ctrl-C to end.\n");
	}
	st_local_ticker_init(&tk, d->lo.interval, d->lo.duration);
	for (;;) {
		uint64_t next = st_local_ticker_next(&tk), now;
		double secs;
		int fd, stop;

		while (st_mono_ns() < next && !st_local_stop)
			st_local_wait(next, d->rb, 100);
		now = st_mono_ns();
		/* Switch the programs to the other map, let those already
		 * running finish, then drain the one they left. */
		fd = bpf_map__fd(gen & 1 ? d->skel->maps.counts1 : d->skel->maps.counts0);
		gen++;
		__atomic_store_n(&d->skel->bss->defrag_gen, gen, __ATOMIC_SEQ_CST);
		usleep(2000);
		ring_buffer__consume(d->rb);
		stop = st_local_ticker_end(&tk, now, d->lo.count, &secs);
		defrag_report(d, fd, secs);
		if (stop)
			break;
	}
	return 0;
}

int cmd_defrag(int argc, char **argv)
{
	static const struct st_cmd_help help = {
		.name = CMD,
		.summary = "IPv4 fragments per device, complete datagrams, reassembly failures with reasons.",
		.description =
"Counts IPv4 fragments received (net:netif_receive_skb) per device and\n"
"follows each datagram (source, destination, IP id, protocol, netns):\n"
"COMPLETE when every payload byte arrived, FAILED when the kernel killed its\n"
"reassembly queue, with the drop reason (skb:kfree_skb; the running\n"
"kernel's FRAG_* reasons, e.g. FRAG_REASM_TIMEOUT, FRAG_TOO_FAR, or the\n"
"default reason inside ip_defrag, where the kernel discards a queue on an\n"
"overlapping fragment), a cause (timeout, too_far, discarded) and the\n"
"location. DROPPED counts fragments dropped for any reason. Failed\n"
"datagrams print one line each as they happen; -v prints every fragment\n"
"too. Every interval lists the --top oldest datagrams still waiting for\n"
"fragments and prints the kernel's reassembly counters of each\n"
"namespace that moved (ReasmReqds, ReasmOKs, ReasmFails, ReasmTimeout from\n"
"/proc/net/snmp, ReasmOverlaps from /proc/net/netstat).\n"
"REASSEMBLED per device needs a hook on ip_defrag (fexit or kprobe); hooks\n"
"on ip_frag_queue and ip_expire add queue errors and timer runs. Each is\n"
"used where it attaches and reported unavailable, with the reason,\n"
"elsewhere. Replaces linux-network-stack/trace_ip_defrag.py.",
		.examples =
"  stagetrace defrag\n"
"  stagetrace defrag --netns hv1 --proto udp -v\n"
"  stagetrace defrag --src-ip 10.0.0.0/24 --json -c 10",
	};
	struct defrag d = { .top = 5 };
	int check = 0;
	struct st_opt opts[ST_LOCAL_NOPTS + 4];
	size_t no = 0;
	int rc, ec;

	st_local_opts_init(&d.lo);
	st_local_opts_table(&d.lo, DEFRAG_SUPPORTED, opts, &no, sizeof(opts) / sizeof(opts[0]) - 3);
	opts[no++] = (struct st_opt){ "top", 0, ST_OPT_U32, &d.top, "N",
				      "waiting datagrams listed per interval, oldest first (default 5)", 0, 1000 };
	opts[no++] = (struct st_opt){ "method", 0, ST_OPT_STR, &d.method_force,
				      "tp_btf|raw_tp", "attach method of the tracepoints (default: probed)" };
	opts[no++] = (struct st_opt){ "check-hooks", 0, ST_OPT_FLAG, &check, NULL,
				      "load each hook program through the verifier (no attach), report, exit" };
	opts[no] = (struct st_opt)ST_OPT_END;
	if (st_opts_parse_noargs(argc, argv, opts, &help, &ec))
		return ec;
	if ((rc = st_local_validate(&d.lo, DEFRAG_SUPPORTED, CMD)))
		return rc;
	if ((rc = st_local_method_check(d.method_force)))
		return rc;
	if ((rc = st_local_require_root(CMD)))
		return rc;
	st_log_route_libbpf();
	d.ncpus = libbpf_num_possible_cpus();
	if (d.ncpus <= 0) {
		fprintf(stderr, "error: cannot count CPUs: %s\n", strerror(-d.ncpus));
		return ST_EXIT_FAIL;
	}
	d.have_ksyms = !st_ksyms_load(&d.ksyms);
	if (!d.have_ksyms)
		pr_warn("cannot read /proc/kallsyms; locations are printed as addresses");
	d.have_reasons = !st_btf_enum_load("skb_drop_reason", "SKB_DROP_REASON_", &d.reasons);
	if (!d.have_reasons)
		pr_warn("no enum skb_drop_reason in the kernel's BTF; failures cannot be told from drops");
	if (check) {
		rc = st_local_hooks_check(&hook_ops, NHOOKS, d.lo.json);
		goto out;
	}
	defrag_ns_baseline(&d);
	rc = setup_bpf(&d);
	if (!rc) {
		st_local_signals();
		rc = run(&d);
		if (!d.lo.json)
			fprintf(stderr, "defrag: %llu fragments, %llu datagrams complete, %llu failed; "
				"lost: %llu events, %llu counts, %llu flows\n",
				(unsigned long long)d.frags_total, (unsigned long long)d.complete_total,
				(unsigned long long)d.failed_total,
				(unsigned long long)d.counters[ST_GC_RINGBUF_FULL],
				(unsigned long long)d.counters[ST_GC_MAP_FULL],
				(unsigned long long)d.counters[ST_GC_FLOW_FULL]);
	}
out:
	st_local_hooks_destroy(d.hooks, NHOOKS);
	for (int i = 0; i < 4; i++)
		bpf_link__destroy(d.tp_links[i]);
	ring_buffer__free(d.rb);
	defrag_bpf__destroy(d.skel);
	if (d.have_ksyms)
		st_ksyms_free(&d.ksyms);
	if (d.have_reasons)
		st_enum_names_free(&d.reasons);
	st_local_dev_names_free();
	return rc;
}

