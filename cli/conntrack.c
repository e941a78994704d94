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
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "conntrack_int.h"
#include "log.h"
#include "opts.h"
#include "timeutil.h"

#define CMD "stagetrace conntrack"

/* ---- set-up ------------------------------------------------------------------- */

/* The function hooks and the programs of each alternative; the last two
 * are OVS's. */
static void hooks_init(struct conntrack_bpf *s, struct st_local_hook *h)
{
	h[0] = (struct st_local_hook){
		.name = "nf_conntrack_in", .n = 2,
		.alts = { { "fexit", "nf_conntrack_in" }, { "kprobe", "nf_conntrack_in" } },
		.prog = { s->progs.fexit_nf_conntrack_in, s->progs.kprobe_nf_conntrack_in },
		.prog2 = { NULL, s->progs.kretprobe_nf_conntrack_in }, .ret2 = { 0, 1 },
	};
	h[1] = (struct st_local_hook){
		.name = "__nf_ct_refresh_acct", .n = 2,
		.alts = { { "fentry", "__nf_ct_refresh_acct" }, { "kprobe", "__nf_ct_refresh_acct" } },
		.prog = { s->progs.fentry_nf_ct_refresh, s->progs.kprobe_nf_ct_refresh },
	};
	h[2] = (struct st_local_hook){
		.name = "nf_ct_delete", .n = 2,
		.alts = { { "fentry", "nf_ct_delete" }, { "kprobe", "nf_ct_delete" } },
		.prog = { s->progs.fentry_nf_ct_delete, s->progs.kprobe_nf_ct_delete },
	};
	h[3] = (struct st_local_hook){
		.name = "ovs_ct_execute", .n = 2,
		.alts = { { "fexit", "ovs_ct_execute" }, { "kprobe", "ovs_ct_execute" } },
		.prog = { s->progs.fexit_ovs_ct_execute, s->progs.kprobe_ovs_ct_execute },
		.prog2 = { NULL, s->progs.kretprobe_ovs_ct_execute }, .ret2 = { 0, 1 },
	};
	h[4] = (struct st_local_hook){
		.name = "ovs_ct_update_key", .n = 2,
		.alts = { { "fexit", "ovs_ct_update_key" }, { "kprobe", "ovs_ct_update_key" } },
		.prog = { s->progs.fexit_ovs_ct_update_key, s->progs.kprobe_ovs_ct_update_key },
		.prog2 = { NULL, s->progs.kretprobe_ovs_ct_update_key }, .ret2 = { 0, 1 },
	};
}

/* The skeleton, as st_local_hooks_check() drives it. */
/* CONFIG_HZ is a weak __kconfig extern; where the kernel's configuration
 * cannot be read (no /boot/config-*, no /proc/config.gz: common in VMs and
 * containers) libbpf would refuse the whole object, so HZ is given as 0,
 * which the programs take as "timeouts unknown". */
static struct conntrack_bpf *ct_open(void)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo);

	if (!st_local_kconfig_readable())
		oo.kconfig = "CONFIG_HZ=0\n";
	return conntrack_bpf__open_opts(&oo);
}

static void *ops_open(void) { return ct_open(); }
static struct bpf_object *ops_obj(void *s) { return ((struct conntrack_bpf *)s)->obj; }
static int ops_load(void *s) { return conntrack_bpf__load(s); }
static void ops_destroy(void *s) { conntrack_bpf__destroy(s); }
static void ops_init(void *s, struct st_local_hook *h) { hooks_init(s, h); }

static const struct st_hook_object_ops hook_ops = {
	ops_open, ops_obj, ops_load, ops_destroy, ops_init,
};

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
	if (!st_local_kconfig_readable() && !c->lo.json)
		fprintf(stderr, "note: the kernel configuration is not readable: HZ unknown, "
			"refresh timeouts are not shown\n");
	c->skel = ct_open();
	if (!c->skel) {
		fprintf(stderr, "error: cannot open the conntrack BPF object: %s\n", strerror(errno));
		return ST_EXIT_FAIL;
	}
	c->skel->rodata->refresh_jiffies_arg = refresh_arg();
	bpf_program__set_autoload(c->skel->progs.btf_ct_drop, !strcmp(c->method, "tp_btf"));
	bpf_program__set_autoload(c->skel->progs.raw_ct_drop, !strcmp(c->method, "raw_tp"));
	hooks_init(c->skel, c->hooks);
	/* The OVS hooks are only tried with --ovs-invalid, and
	 * ovs_ct_update_key only where ovs_ct_execute cannot be hooked: the
	 * former runs inside the latter (the same packet would be reported
	 * twice) and also on every flow key extraction, before conntrack. */
	st_local_hooks_plan(c->hooks, c->ovs ? 4 : 3);
	if (c->ovs && c->hooks[3].choice.index < 0)
		st_local_hooks_plan(c->hooks + 4, 1);
	for (int i = 3; i < NHOOKS; i++) {
		if (c->ovs && (i == 3 || c->hooks[3].choice.index < 0))
			continue;
		for (size_t a = 0; a < c->hooks[i].n; a++) {
			bpf_program__set_autoload(c->hooks[i].prog[a], false);
			if (c->hooks[i].prog2[a])
				bpf_program__set_autoload(c->hooks[i].prog2[a], false);
		}
		c->hooks[i].choice.index = -1;
		snprintf(c->hooks[i].choice.why, sizeof(c->hooks[i].choice.why), "%s",
			 c->ovs ? "not needed: ovs_ct_execute is hooked" : "not requested (--ovs-invalid)");
	}
	err = conntrack_bpf__load(c->skel);
	if (err) {
		fprintf(stderr, "error: loading the conntrack BPF programs failed: %s\n", strerror(-err));
		return ST_EXIT_FAIL;
	}
	for (size_t i = 0; c->have_reasons && i < c->reasons.n; i++) {
		const char *nm = c->reasons.v[i].name;
		uint32_t v = (uint32_t)c->reasons.v[i].val;

		/* NF_CONNTRACK_* and other NF_* where the kernel has them,
		 * NETFILTER_DROP everywhere. */
		if (strncmp(nm, "NF_", 3) && strncmp(nm, "NETFILTER", 9))
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
		c->rb = ring_buffer__new(bpf_map__fd(c->skel->maps.ovs_events), ct_on_ovs_event, c, NULL);
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

static int run(struct ct *c)
{
	struct st_local_ticker tk;
	uint32_t gen = 0;

	if (!c->lo.json) {
		char hb[900];
		const char *nm = st_local_netns_name(c->netns);

		fprintf(stderr, "Tracing conntrack in netns %s (%u): ctnetlink events, statistics%s%s; "
			"drops (kfree_skb %s) with reasons %s\n", nm ? nm : c->netns == st_local_self_netns() ? "(ours)" : "(unnamed)", c->netns,
			c->have_stats ? "" : " unavailable: ", c->have_stats ? "" : c->stats_err,
			c->method, c->reason_names);
		fprintf(stderr, "  timeouts:");
		for (int i = 0; i < NTIMEOUTS; i++)
			if (c->timeouts[i] >= 0)
				fprintf(stderr, " %s=%lld", ct_timeout_names[i], (long long)c->timeouts[i]);
		fprintf(stderr, "\n");
		for (int i = 0; i < NHOOKS; i++)
			fprintf(stderr, "  hook %s: %s\n", c->hooks[i].name,
				st_local_hook_status(&c->hooks[i], hb, sizeof(hb)));
		if (c->ovs && !c->hooks[3].attached && !c->hooks[4].attached)
			fprintf(stderr, "conntrack --ovs-invalid: unavailable: no OVS conntrack hook attaches on this kernel\n");
		fprintf(stderr, "Ctrl-C to end.\n");
	}
	st_local_ticker_init(&tk, c->lo.interval, c->lo.duration);
	for (;;) {
		uint64_t next = st_local_ticker_next(&tk), now;
		double secs;
		int fd, stop;

		while (st_mono_ns() < next && !st_local_stop) {
			struct pollfd p = { .fd = c->evfd, .events = POLLIN };
			uint64_t left = (next - st_mono_ns()) / 1000000;
			int rc;

			if (c->rb)
				ring_buffer__consume(c->rb);
			if (poll(&p, 1, left > 100 ? 100 : (int)left + 1) > 0) {
				rc = st_ct_events_read(c->evfd, ct_on_event, c);
				if (rc == -ENOBUFS)
					c->nl_lost++;
			}
		}
		now = st_mono_ns();
		if (c->evfd >= 0 && st_ct_events_read(c->evfd, ct_on_event, c) == -ENOBUFS)
			c->nl_lost++;
		fd = bpf_map__fd(gen & 1 ? c->skel->maps.counts1 : c->skel->maps.counts0);
		gen++;
		__atomic_store_n(&c->skel->bss->ct_gen, gen, __ATOMIC_SEQ_CST);
		usleep(2000);
		if (c->rb)
			ring_buffer__consume(c->rb);
		stop = st_local_ticker_end(&tk, now, c->lo.count, &secs);
		ct_report(c, fd, secs);
		if (stop)
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
"(ovs_ct_execute; ovs_ct_update_key where that cannot be hooked) per\n"
"ct_state and zone, and prints every packet OVS found invalid with its\n"
"flow, zone and mark. Hooks that cannot attach are listed as unavailable\n"
"with the reason. Without ctnetlink (nf_conntrack_netlink not loaded) the\n"
"command warns and runs the kernel hooks alone. Replaces linux-network-stack/trace_conntrack.py and\n"
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
	if ((rc = st_local_method_check(c.method_force)))
		return rc;
	if ((rc = st_local_require_root(CMD)))
		return rc;
	st_log_route_libbpf();
	c.ncpus = libbpf_num_possible_cpus();
	if (c.ncpus <= 0) {
		fprintf(stderr, "error: cannot count CPUs: %s\n", strerror(-c.ncpus));
		return ST_EXIT_FAIL;
	}
	if (check) {
		rc = st_local_hooks_check(&hook_ops, NHOOKS, c.lo.json);
		goto out;
	}
	c.netns = c.lo.netns_set ? c.lo.netns_ino : st_local_self_netns();
	c.evfd = st_ct_events_open(c.netns);
	/* Without ctnetlink (nf_conntrack_netlink not loaded: OVS conntrack
	 * does not need it) the kernel hooks still work; say what is missing. */
	if (c.evfd == -EPROTONOSUPPORT) {
		snprintf(c.events_err, sizeof(c.events_err), "ctnetlink not available "
			 "(modprobe nf_conntrack_netlink): %s", strerror(-c.evfd));
		fprintf(stderr, "warning: no conntrack events: %s\n", c.events_err);
	} else if (c.evfd < 0) {
		fprintf(stderr, "error: cannot listen to conntrack events in netns %u: %s\n", c.netns,
			strerror(-c.evfd));
		rc = ST_EXIT_FAIL;
		goto out;
	}
	rc = st_ct_stats_read(c.netns, c.stats);
	c.have_stats = !rc;
	if (rc)
		snprintf(c.stats_err, sizeof(c.stats_err), "%s", strerror(-rc));
	ct_read_timeouts(&c);
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

