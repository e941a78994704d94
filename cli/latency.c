// SPDX-License-Identifier: MIT
/*
 * stagetrace latency: stage-by-stage latency of packets through this host,
 * measured by the agent's own stage programs (bpf/stages.bpf.c), loaded
 * in-process with the agent's attach plans (common/stage_attach.c), so a
 * local figure and a collector's figure come from the same stamps and
 * carry the same stage names.
 *
 *   --host      packets of this host's sockets: rx (device receive ->
 *               stack -> socket read) and tx (device queue -> driver), and
 *               packets routed through it (fwd)
 *   --vm PAT    packets that enter or leave through the taps whose names
 *               match PAT: from_vm (tap receive -> bridge/OVS -> uplink
 *               driver) and to_vm (uplink receive -> ... -> VM read)
 *
 * The BPF side joins the stamps of one packet (same packet key) in its
 * paths map and emits the whole host path at its end (driver hand-off on
 * an uplink, socket or VM read, drop, free). This side adds every segment
 * to a histogram per direction (-v: one block per packet instead), sweeps
 * paths that never ended, and prints what the BPF side could not record
 * with every interval. Device roles, which name the stages and decide
 * where a path ends, come from cli/latency_devs.c.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attach_probe.h"
#include "cli.h"
#include "latency_int.h"
#include "localrun.h"
#include "log.h"
#include "opts.h"
#include "pktfilter.h"
#include "stage_names.h"
#include "stages.skel.h"
#include "timeutil.h"

#define CMD "stagetrace latency"
#define LAT_SUPPORTED (ST_LO_ALL & ~ST_LO_PID)
/* Ring buffer drain and sweep cadence: the BPF side does not wake us per
 * path (bpf/stages.bpf.c, st_emit). */
#define LAT_DRAIN_MS 20
#define LAT_SWEEP_MS 250

static int on_event(void *ctx, void *data, size_t len)
{
	if (len >= sizeof(struct st_path))
		lat_path(ctx, data);
	return 0;
}

static void on_timeout(struct st_path *p, void *ctx)
{
	lat_path(ctx, p);
}

static void sweep(struct lat *l)
{
	st_stage_sweep(bpf_map__fd(l->skel->maps.paths), st_mono_ns(),
		       (uint64_t)(l->timeout_s * 1e9), on_timeout, l);
}

static int load(struct lat *l)
{
	enum st_log_level lvl;
	int err;

	for (int datapath_off = 0; datapath_off < 2; datapath_off++) {
		l->skel = stages_bpf__open();
		if (!l->skel) {
			fprintf(stderr, "error: cannot open the stage BPF object: %s\n",
				strerror(errno));
			return ST_EXIT_FAIL;
		}
		/* The plan warns per unavailable hook; this command lists
		 * them itself (text and JSON), once. */
		lvl = st_log_get_level();
		st_log_set_level(ST_LOG_ERROR);
		err = st_stage_plan(l->skel->obj, l->probes, l->method_force, datapath_off);
		st_log_set_level(lvl);
		if (err) {
			fprintf(stderr, "error: no stage hook can be attached on this kernel%s%s\n",
				l->method_force ? " with --method " : "",
				l->method_force ? l->method_force : "");
			return ST_EXIT_FAIL;
		}
		err = stages_bpf__load(l->skel);
		if (!err)
			return 0;
		/* As the agent does: a datapath program the verifier refused
		 * (its probe passed) must not cost the host-stack stages. */
		fprintf(stderr, "warning: loading the stage programs failed (%s)%s\n",
			strerror(-err), datapath_off ? "" : "; retrying with the host-stack hooks only");
		stages_bpf__destroy(l->skel);
		l->skel = NULL;
	}
	return ST_EXIT_FAIL;
}

static int setup(struct lat *l)
{
	struct st_config c = { 0 };
	uint32_t zero = 0;
	int rc;

	if ((rc = load(l)))
		return rc;
	/* Every packet is traced (sampling 1/1): a local tool counts exactly. */
	c.sample_n = 1;
	c.sample_k = 1;
	c.flags = ST_F_NETNS | (l->lo.dev_set ? ST_F_DEV : 0);
	/* As in the agent: a virtio-net TX path ends at virtio_tx when
	 * that hook is attached (guest virtio-net, docs/stages.md). */
	if (l->probes[ST_HOOK_VIRTIO_TX].method)
		c.flags |= ST_F_GUEST_TX;
	st_pkt_filter_set(&c.pf, l->lo.proto_set ? l->lo.proto_num : 0, l->lo.sport, l->lo.dport,
			  &l->lo.src, &l->lo.dst, 0);
	if (bpf_map_update_elem(bpf_map__fd(l->skel->maps.cfg), &zero, &c, BPF_ANY)) {
		fprintf(stderr, "error: cannot configure the stage programs: %s\n", strerror(errno));
		return ST_EXIT_FAIL;
	}
	if ((rc = lat_devices_scan(l))) {
		if (rc == -ENODEV && l->mode == LAT_VM)
			fprintf(stderr, "error: --vm '%s': no tap device matches%s%s\n", l->lo.vm,
				l->lo.netns_set ? " in netns " : "", l->lo.netns_set ? l->lo.netns : "");
		else
			fprintf(stderr, "error: cannot list the devices: %s\n", strerror(-rc));
		return ST_EXIT_FAIL;
	}
	l->rb = ring_buffer__new(bpf_map__fd(l->skel->maps.events), on_event, l, NULL);
	if (!l->rb) {
		fprintf(stderr, "error: cannot open the path ring buffer: %s\n", strerror(errno));
		return ST_EXIT_FAIL;
	}
	if (st_stage_attach(l->skel->obj, l->probes)) {
		fprintf(stderr, "error: no stage hook attached\n");
		return ST_EXIT_FAIL;
	}
	/* virtio_tx planned but not attached: virtio-net paths end at nic_tx. */
	if (l->probes[ST_HOOK_VIRTIO_TX].method && !l->probes[ST_HOOK_VIRTIO_TX].link) {
		c.flags &= ~ST_F_GUEST_TX;
		if (bpf_map_update_elem(bpf_map__fd(l->skel->maps.cfg), &zero, &c, BPF_ANY)) {
			fprintf(stderr, "error: cannot configure the stage programs: %s\n",
				strerror(errno));
			return ST_EXIT_FAIL;
		}
	}
	return 0;
}

static int run(struct lat *l)
{
	struct st_local_ticker t;
	uint64_t last_sweep = st_mono_ns();

	lat_print_hooks(l);
	if (!l->lo.json)
		fprintf(stderr, "Tracing %s: %u device(s)%s%s, %s... Ctrl-C to end.\n",
			l->mode == LAT_VM ? "VM paths" : "host paths", l->ndevs,
			l->mode == LAT_VM ? ", VM taps matching " : "",
			l->mode == LAT_VM ? l->lo.vm : "",
			l->lo.verbose ? "one block per packet" : "histograms per interval");
	st_local_ticker_init(&t, l->lo.interval, l->lo.duration);
	for (;;) {
		uint64_t next = st_local_ticker_next(&t), now;
		double secs;
		int stop;

		while ((now = st_mono_ns()) < next && !st_local_stop) {
			uint64_t until = now + LAT_DRAIN_MS * 1000000ull;

			st_local_wait(until < next ? until : next, NULL, LAT_DRAIN_MS);
			ring_buffer__consume(l->rb);
			if (st_mono_ns() - last_sweep >= LAT_SWEEP_MS * 1000000ull) {
				sweep(l);
				last_sweep = st_mono_ns();
			}
		}
		stop = st_local_ticker_end(&t, st_mono_ns(), l->lo.count, &secs);
		ring_buffer__consume(l->rb);
		sweep(l);
		lat_report(l, secs);
		if (stop)
			break;
		/* Taps come and go with their VMs. */
		if (lat_devices_scan(l) == -ENODEV && l->mode == LAT_VM && !l->lo.json)
			fprintf(stderr, "warning: no tap matches --vm '%s' any more\n", l->lo.vm);
	}
	return 0;
}

static void summary(struct lat *l)
{
	uint64_t key, next, *prev = NULL;
	size_t open = 0;
	int fd = bpf_map__fd(l->skel->maps.paths);

	/* Packets still between stages when we stopped: not lost, not
	 * measured either; said rather than silently dropped. */
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		open++;
	}
	if (l->lo.json)
		return;
	fprintf(stderr, "latency: %llu packets shown, %llu timed out, %zu still in flight at exit; "
		"lost: %llu (ring full), %llu (path map full), %llu stamps (program busy); "
		"%llu paths of the other mode not shown%s\n",
		(unsigned long long)l->t_shown, (unsigned long long)l->t_timeout, open,
		(unsigned long long)l->counters[ST_C_RINGBUF_FULL],
		(unsigned long long)l->counters[ST_C_LRU_FAIL], (unsigned long long)l->misses,
		(unsigned long long)(l->t_paths - l->t_shown),
		l->scan_errors ? "; device scans failed" : "");
}

int cmd_latency(int argc, char **argv)
{
	static const struct st_cmd_help help = {
		.name = CMD,
		.args = "--host | --vm PATTERN",
		.summary = "Stage-by-stage latency of host-stack or VM packets through this host.",
		.description =
"Loads the agent's stage programs (same hooks, same attach plans, same stage\n"
"names as stagetrace-agent) and joins the stamps of each packet on this host.\n"
"\n"
"--host: packets of this host's sockets. rx: device receive (dev_rx/nic_rx,\n"
"nic_rcv) -> socket read (sock_rx); tx: send (sock_tx: ip_send_skb, UDP) ->\n"
"device queue (nic_queue) -> driver (nic_tx), so nic_queue -> nic_tx is the\n"
"qdisc's time; fwd: routed through. sock_tx needs fentry or kprobes (there\n"
"is no tracepoint there) and sees datagrams only (TCP's send is not a\n"
"stage); otherwise a tx path starts at the queue.\n"
"--vm PATTERN: packets through the taps whose names match the shell pattern\n"
"(\"tap-vm1*\", \"vnet*\"). from_vm: vhost_tx (vhost-net worker) -> tap_rcv ->\n"
"br_in/br_fwd or ovs_in/ovs_upcall/ovs_exec/ovs_out -> nic_queue -> nic_tx;\n"
"to_vm: nic_rx -> nic_rcv -> ... -> tap_queue -> tap_tx -> vm_rx (the VM's\n"
"read).\n"
"Hooks this kernel cannot attach are listed as unavailable with the reason\n"
"(stagetrace probes shows the same); their stages are simply absent.\n"
"\n"
"Every segment (two consecutive stages) gets a log-linear histogram per\n"
"direction and interval, plus first-to-last totals; -v prints one block per\n"
"packet instead (time, flow, each stage with its device and delta). Each\n"
"interval also says how many paths never ended (timed out after --timeout),\n"
"how many end stamps found no open path (normal: the free after a read) and\n"
"what the BPF side lost (ring or map full). --vm takes a pattern (not with\n"
"--dev); with --netns only that namespace is searched for its taps.\n"
"Device roles come from the link kinds: tun = VM tap, bridge/openvswitch =\n"
"bridge, vxlan/geneve = tunnel, loopback = other, everything else = uplink.\n"
"Replaces system_network_latency_details.py (--host -v),\n"
"vm_network_latency_details.py (--vm VM -v) and\n"
"vm_network_latency_summary.py (--vm VM).\n"
"\n"
"--path tap-to-irq (its own options: stagetrace latency --path tap-to-irq -h):\n"
"packets written to a VM's tap, through vhost-net, to the interrupt KVM\n"
"injects into the guest (tun_net_xmit -> handle_rx -> used ring -> eventfd\n"
"signal -> irqfd wakeup -> injection).",
		.examples =
"  stagetrace latency --host --proto udp --dport 53 -i 5\n"
"  stagetrace latency --host --netns hv1 -v --src-ip 10.0.0.0/24\n"
"  stagetrace latency --vm 'tap-vma*' -c 10\n"
"  stagetrace latency --vm vnet3 -v --json -d 30\n"
"  stagetrace latency --path tap-to-irq --dev vnet3 -v",
	};
	struct lat l = { .timeout_s = 1.0 };

	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--path") || !strncmp(argv[i], "--path=", 7))
			return st_cmd_latency_path(argc, argv);
	struct st_opt opts[ST_LOCAL_NOPTS + 8];
	size_t no = 0;
	int rc, ec;

	st_local_opts_init(&l.lo);
	st_local_opts_table(&l.lo, LAT_SUPPORTED, opts, &no, sizeof(opts) / sizeof(opts[0]) - 4);
	opts[no++] = (struct st_opt){ "host", 0, ST_OPT_FLAG, &l.host, NULL,
				      "packets of this host's sockets (rx, tx) and routed through it" };
	opts[no++] = (struct st_opt){ "timeout", 0, ST_OPT_DURATION, &l.timeout_s, "SEC",
				      "a packet with no end stage for this long is counted as timed out (default 1)" };
	opts[no++] = (struct st_opt){ "method", 0, ST_OPT_STR, &l.method_force, "M",
				      "only try attach method M for every hook (fentry, kprobe, tp_btf, raw_tp)" };
	opts[no] = (struct st_opt)ST_OPT_END;

	if (st_opts_parse_noargs(argc, argv, opts, &help, &ec))
		return ec;
	if ((rc = st_local_validate(&l.lo, LAT_SUPPORTED, CMD)))
		return rc;
	if (!!l.host + !!l.lo.vm != 1) {
		fprintf(stderr, "error: %s needs exactly one of --host and --vm PATTERN\n", CMD);
		return ST_EXIT_USAGE;
	}
	if (l.lo.vm && !l.lo.vm[0]) {
		fprintf(stderr, "error: --vm: empty pattern\n");
		return ST_EXIT_USAGE;
	}
	if (l.lo.vm && l.lo.dev) {
		fprintf(stderr, "error: --vm and --dev are exclusive\n");
		return ST_EXIT_USAGE;
	}
	if (!(l.timeout_s >= 0.01 && l.timeout_s <= 600)) {
		fprintf(stderr, "error: --timeout: invalid value (expected 0.01 to 600 seconds)\n");
		return ST_EXIT_USAGE;
	}
	if (l.method_force && !st_attach_method_known(l.method_force)) {
		fprintf(stderr, "error: --method: invalid value '%s' (expected fentry, kprobe, tp_btf or raw_tp)\n",
			l.method_force);
		return ST_EXIT_USAGE;
	}
	if ((rc = st_local_require_root(CMD)))
		return rc;
	l.mode = l.host ? LAT_HOST : LAT_VM;

	st_log_route_libbpf();
	l.ncpus = libbpf_num_possible_cpus();
	if (l.ncpus <= 0) {
		fprintf(stderr, "error: cannot count CPUs: %s\n", strerror(-l.ncpus));
		return ST_EXIT_FAIL;
	}
	rc = setup(&l);
	if (!rc) {
		st_local_signals();
		rc = run(&l);
		summary(&l);
	}
	st_stage_detach(l.probes);
	ring_buffer__free(l.rb);
	stages_bpf__destroy(l.skel);
	st_nlns_free(&l.ns);
	free(l.keys);
	free(l.segs);
	st_local_dev_names_free();
	return rc;
}
