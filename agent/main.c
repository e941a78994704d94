// SPDX-License-Identifier: MIT
/*
 * stagetrace-agent: loads the stage programs, feeds host paths to the
 * collector. See agent.h for the threading model.
 */
#include "agent.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "attach_probe.h"
#include "log.h"
#include "pktfilter.h"
#include "loopstop.h"
#include "stage_names.h"
#include "stages.skel.h"
#include "timeutil.h"
#include "wire.h"

static void push_path(struct st_agent *a, const struct st_path *p)
{
	void *hp;

	if (a->n_pending == a->cap_pending) {
		uint32_t cap = a->cap_pending ? a->cap_pending * 2 : 256;
		void **np = realloc(a->pending, cap * sizeof(void *));

		if (!np) {
			a->paths_dropped_full++;
			return;
		}
		a->pending = np;
		a->cap_pending = cap;
	}
	hp = st_convert_path(a, p);
	if (!hp) {
		a->paths_dropped_full++;
		return;
	}
	a->pending[a->n_pending++] = hp;
	if (a->n_pending >= a->cfg.batch_max)
		st_sender_flush(a->sender);
}

static int on_path(void *ctx, void *data, size_t len)
{
	struct st_agent *a = ctx;

	if (len < sizeof(struct st_path))
		return 0;
	a->paths_in++;
	push_path(a, data);
	return 0;
}

static void rb_cb(uv_poll_t *h, int status, int events)
{
	struct st_agent *a = h->data;

	a->ring_polls++;
	ring_buffer__consume(a->rb);
}

static void drain_cb(uv_timer_t *t)
{
	struct st_agent *a = t->data;

	ring_buffer__consume(a->rb);
}

static void flush_cb(uv_timer_t *t)
{
	struct st_agent *a = t->data;

	ring_buffer__consume(a->rb);
	st_sender_flush(a->sender);
}

/*
 * Paths whose end the BPF side never saw (the packet left through a hook
 * that is not traced, or a path that the kernel handled in an unexpected
 * way) are emitted as timeouts instead of rotting in the LRU map, so every
 * started path is accounted for.
 */
static void sweep_one(struct st_path *p, void *ctx)
{
	struct st_agent *a = ctx;

	a->paths_timeout++;
	push_path(a, p);
}

static void sweep_cb(uv_timer_t *t)
{
	struct st_agent *a = t->data;

	st_stage_sweep(bpf_map__fd(a->skel->maps.paths), st_mono_ns(),
		       (uint64_t)a->cfg.path_timeout_ms * 1000000ull, sweep_one, a);
}

static void rescan_cb(uv_timer_t *t)
{
	st_devices_scan(t->data);
	st_agent_ovsdp_refresh(t->data);
}

static void stop_loop(struct st_agent *a)
{
	if (a->stopping) {
		/* A second signal while draining: the operator means it. */
		pr_warn("second signal: exiting without draining");
		_exit(ST_EXIT_FAIL);
	}
	a->stopping = 1;
	uv_stop(a->loop);
}

static void stop_cb(void *arg) { stop_loop(arg); }


static int config_bpf(struct st_agent *a)
{
	struct st_config c = { 0 };
	uint32_t zero = 0;

	c.sample_n = a->cfg.sample_n;
	c.sample_k = a->cfg.sample_k;
	if (a->cfg.netns.n)
		c.flags |= ST_F_NETNS;
	/* Paths on a virtio-net device end at the driver's start_xmit
	 * return only when that hook is there to end them (planned, and
	 * not failed at attach: the config is written again then). */
	if (a->probes[ST_HOOK_VIRTIO_TX].method &&
	    strcmp(a->probes[ST_HOOK_VIRTIO_TX].status, "failed"))
		c.flags |= ST_F_GUEST_TX;
	st_pkt_filter_set(&c.pf, a->cfg.proto ? st_proto_number(a->cfg.proto) : 0,
			  a->cfg.sport, a->cfg.dport, &a->cfg.src, &a->cfg.dst, a->cfg.either);
	return bpf_map_update_elem(bpf_map__fd(a->skel->maps.cfg), &zero, &c, BPF_ANY);
}

static const struct st_cmd_help help = {
	.name = "stagetrace-agent",
	.args = "[OPTIONS]",
	.summary = "Stamp packets at every host-stack stage and ship host paths to the collector.",
	.description =
"The agent loads the stage programs, one attach method per hook chosen by a\n"
"real load on this kernel: host-stack tracepoints tp_btf, else raw_tp; the\n"
"OVS, bridge and vhost-net datapath functions fentry, else kprobe, else\n"
"their tracepoint (see stagetrace probes and docs/stages.md; a datapath\n"
"module loaded after the agent started is not seen until it restarts).\n"
"It keys every packet by its inner IPv4 5-tuple and a per-packet\n"
"discriminator, samples consistently\n"
"(packet id mod N < K, the same decision on every host), joins a packet's\n"
"stamps on this host and sends one host path per sampled packet to the\n"
"collector over nng. It keeps running when the collector is down, retries,\n"
"and counts every path it could not deliver.\n"
"\n"
"Device roles: taps (driver tun) are VM ports named after the device unless\n"
"--vm DEV=NAME names them; --uplink marks devices towards other hosts;\n"
"vxlan/geneve devices are tunnels; bridges are bridges.",
	.examples =
"  stagetrace-agent --collector tcp://10.0.0.5:7730 --uplink eth0\n"
"  stagetrace-agent --netns hv1 --uplink eth0 --vm tap-vma=vma --sample 1/16\n"
"  stagetrace-agent --probes --json",
};

static int parse_signed(const char *s, double limit, double *out)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end || !(v >= -limit && v <= limit))
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_sample(const char *s, uint32_t *n, uint32_t *k)
{
	uint64_t kk, nn;
	char buf[64], *slash;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (!slash)
		return -EINVAL;
	*slash = '\0';
	if (st_parse_u64(buf, &kk) || st_parse_u64(slash + 1, &nn) || nn == 0 ||
	    kk == 0 || kk > nn || nn > UINT32_MAX)
		return -EINVAL;
	*n = (uint32_t)nn;
	*k = (uint32_t)kk;
	return 0;
}

int main(int argc, char **argv)
{
	struct st_agent *a = calloc(1, sizeof(*a));
	const char *sample = "1/1";
	char hostname[256];
	int rc, err = ST_EXIT_FAIL, check_only = 0;
	struct st_opt opts[] = {
		{ "collector", 'C', ST_OPT_STR, &a->cfg.collector, "URL", "collector address (default tcp://127.0.0.1:7730)" },
		{ "host", 'H', ST_OPT_STR, &a->cfg.host, "NAME", "host name reported to the collector (default: hostname)" },
		{ "netns", 0, ST_OPT_LIST, &a->cfg.netns, "NAME", "trace only this network namespace (/run/netns/NAME or a path); repeatable" },
		{ "uplink", 'u', ST_OPT_LIST, &a->cfg.uplinks, "DEV", "device towards other hypervisors; repeatable" },
		{ "vm", 0, ST_OPT_LIST, &a->cfg.vms, "DEV=NAME", "name the VM behind a tap device; repeatable" },
		{ "libvirt-dir", 0, ST_OPT_STR, &a->cfg.libvirt_dir, "DIR", "libvirt domain status files naming the VMs behind taps (default /run/libvirt/qemu)" },
		{ "no-vm-discovery", 0, ST_OPT_FLAG, &a->cfg.no_vm_discovery, NULL, "name taps only by --vm (not from libvirt or qemu command lines)" },
		{ "sample", 0, ST_OPT_STR, &sample, "K/N", "trace packets whose id mod N < K (default 1/1: all)" },
		{ "src-ip", 0, ST_OPT_CIDR, &a->cfg.src, "CIDR", "only packets from this address or network" },
		{ "dst-ip", 0, ST_OPT_CIDR, &a->cfg.dst, "CIDR", "only packets to this address or network" },
		{ "sport", 0, ST_OPT_PORT, &a->cfg.sport, "PORT", "only this source port" },
		{ "dport", 0, ST_OPT_PORT, &a->cfg.dport, "PORT", "only this destination port" },
		{ "proto", 0, ST_OPT_STR, &a->cfg.proto, "P", "only tcp, udp or icmp" },
		{ "either-direction", 0, ST_OPT_FLAG, &a->cfg.either, NULL, "address/port filters also match the reverse direction" },
		{ "batch", 0, ST_OPT_U32, &a->cfg.batch_max, "N", "paths per batch (default 512)", 1, 100000 },
		{ "flush-ms", 0, ST_OPT_U32, &a->cfg.flush_ms, "MS", "send a batch at least this often (default 200)", 10, 60000 },
		{ "queue", 0, ST_OPT_U32, &a->cfg.queue_max, "N", "batches kept while the collector is away (default 1024)", 1, 1000000 },
		{ "poll-ms", 0, ST_OPT_U32, &a->cfg.poll_ms, "MS", "drain the ring buffer this often (default 20)", 1, 10000 },
		{ "path-timeout-ms", 0, ST_OPT_U32, &a->cfg.path_timeout_ms, "MS", "emit unfinished host paths after this (default 1000)", 10, 600000 },
		{ "duration", 'd', ST_OPT_DURATION, &a->cfg.duration, "SEC", "exit after this long (default: run until signalled)" },
		{ "probes", 0, ST_OPT_FLAG, &a->cfg.probes_only, NULL, "print the attach plan result for every hook and exit" },
		{ "json", 0, ST_OPT_FLAG, &a->cfg.json, NULL, "JSON output for --probes" },
		{ "force-method", 0, ST_OPT_STR, &a->cfg.force_method, "M", "diagnostics: only try attach method M (fentry, kprobe, tp_btf or raw_tp)" },
		{ "clock-probe-ms", 0, ST_OPT_U32, &a->cfg.clock_probe_ms, "MS", "clock exchange with the collector this often (default 1000; 0: off)", 0, 3600000 },
		{ "test-clock-offset-us", 0, ST_OPT_STR, &a->cfg.test_offset_us, "US", "TEST ONLY: add this offset to every time the agent reports" },
		{ "test-clock-drift-ppm", 0, ST_OPT_STR, &a->cfg.test_drift_ppm, "PPM", "TEST ONLY: let the reported clock drift by this much" },
		ST_TLS_OPTS(&a->cfg.tls),
		{ "metrics", 0, ST_OPT_STR, &a->cfg.metrics, "URL", "serve the agent's own Prometheus metrics at URL/metrics, e.g. http://127.0.0.1:9732 (default off)" },
		{ "config", 0, ST_OPT_STR, &a->cfg.config, "FILE", "read options from FILE (name = value per line; the command line wins)" },
		{ "check-config", 0, ST_OPT_FLAG, &check_only, NULL, "validate the options, the --config file and the TLS files, then exit (0: valid)" },
		{ "verbose", 'v', ST_OPT_FLAG, &a->cfg.verbose, NULL, "debug logging" },
		ST_OPT_END,
	};

	if (!a)
		return ST_EXIT_FAIL;
	st_log_init(argv[0], ST_LOG_INFO);
	a->cfg.collector = "tcp://127.0.0.1:7730";	/* local: plaintext allowed */
	a->cfg.batch_max = 512;
	a->cfg.flush_ms = 200;
	a->cfg.queue_max = 1024;
	a->cfg.path_timeout_ms = 1000;
	a->cfg.clock_probe_ms = 1000;
	a->cfg.poll_ms = 20;
	if (st_opts_parse_daemon(argc, argv, opts, &help, &a->cfg.config, &rc))
		return rc;
	{
		char why[256];

		if (!a->cfg.probes_only &&
		    st_tls_check(a->cfg.collector, &a->cfg.tls, 0, why, sizeof(why))) {
			fprintf(stderr, "error: --collector: %s\n", why);
			return ST_EXIT_USAGE;
		}
	}
	if (parse_sample(sample, &a->cfg.sample_n, &a->cfg.sample_k)) {
		fprintf(stderr, "error: --sample: invalid value '%s' (expected K/N with 1 <= K <= N)\n", sample);
		return ST_EXIT_USAGE;
	}
	if (a->cfg.proto && st_proto_number(a->cfg.proto) < 0) {
		fprintf(stderr, "error: --proto: invalid value '%s' (expected tcp, udp or icmp)\n", a->cfg.proto);
		return ST_EXIT_USAGE;
	}
	if (a->cfg.force_method && !st_attach_method_known(a->cfg.force_method)) {
		fprintf(stderr, "error: --force-method: invalid value '%s' (expected fentry, kprobe, tp_btf or raw_tp)\n", a->cfg.force_method);
		return ST_EXIT_USAGE;
	}
	for (int i = 0; i < a->cfg.netns.n; i++) {
		uint32_t ino;

		if (st_netns_inode(a->cfg.netns.v[i], &ino)) {
			fprintf(stderr, "error: --netns: no such network namespace '%s'\n", a->cfg.netns.v[i]);
			return ST_EXIT_USAGE;
		}
	}
	for (int i = 0; i < a->cfg.vms.n; i++)
		if (!strchr(a->cfg.vms.v[i], '=') || a->cfg.vms.v[i][0] == '=') {
			fprintf(stderr, "error: --vm: invalid value '%s' (expected DEV=NAME)\n", a->cfg.vms.v[i]);
			return ST_EXIT_USAGE;
		}
	if (a->cfg.test_offset_us || a->cfg.test_drift_ppm) {
		double off = 0, ppm = 0;

		if ((a->cfg.test_offset_us && parse_signed(a->cfg.test_offset_us, 1e9, &off)) ||
		    (a->cfg.test_drift_ppm && parse_signed(a->cfg.test_drift_ppm, 1e5, &ppm))) {
			fprintf(stderr, "error: --test-clock-offset-us/--test-clock-drift-ppm: "
				"invalid value (expected a number, |offset| <= 1e9 us, |drift| <= 1e5 ppm)\n");
			return ST_EXIT_USAGE;
		}
		a->skew.offset_ns = (int64_t)(off * 1000);
		a->skew.drift_ppb = (int64_t)(ppm * 1000);
		a->skew.origin = st_mono_ns();
		a->skew.active = 1;
	}
	/* Everything above needs neither privileges nor the kernel: a
	 * configuration check (deployment tools validate a file before
	 * installing it) stops here. */
	if (check_only) {
		printf("config ok\n");
		return ST_EXIT_OK;
	}
	if (!a->cfg.host) {
		gethostname(hostname, sizeof(hostname));
		hostname[sizeof(hostname) - 1] = '\0';
		a->cfg.host = hostname;
	}
	if (a->cfg.verbose)
		st_log_set_level(ST_LOG_DEBUG);
	st_log_route_libbpf();
	a->start_real_ns = st_real_ns();
	if (getrandom(&a->instance, sizeof(a->instance), 0) != sizeof(a->instance))
		a->instance = st_real_ns() ^ ((uint64_t)getpid() << 32);

	/* Open the object, choose an attach method per hook, load, attach. */
	a->skel = stages_bpf__open();
	if (!a->skel) {
		pr_err("cannot open BPF object: %s", strerror(errno));
		goto out;
	}
	if (st_attach_plan(a)) {
		pr_err("no stage hook can be attached on this kernel");
		if (a->cfg.probes_only)
			st_probes_print(a, a->cfg.json);
		goto out;
	}
	if ((rc = stages_bpf__load(a->skel)) != 0) {
		/* A datapath program the verifier refused (its two-instruction
		 * probe passed) must not cost the host-stack stages: once more
		 * without the datapath hooks, which then say why. */
		pr_warn("loading BPF programs failed: %s; retrying with the host-stack hooks only",
			strerror(-rc));
		stages_bpf__destroy(a->skel);
		a->datapath_off = 1;
		a->skel = stages_bpf__open();
		if (!a->skel || st_attach_plan(a) || (rc = stages_bpf__load(a->skel)) != 0) {
			pr_err("loading BPF programs failed: %s (run with -v for the verifier log)",
			       strerror(rc ? -rc : errno));
			goto out;
		}
	}
	if (config_bpf(a)) {
		pr_err("cannot write BPF config: %s", strerror(errno));
		goto out;
	}
	if (st_devices_scan(a) && a->cfg.netns.n) {
		pr_err("cannot scan the requested network namespaces");
		goto out;
	}
	if (st_attach_all(a)) {
		pr_err("no stage hook attached");
		if (a->cfg.probes_only)
			st_probes_print(a, a->cfg.json);
		goto out;
	}
	if (a->probes[ST_HOOK_VIRTIO_TX].method && !a->probes[ST_HOOK_VIRTIO_TX].link &&
	    config_bpf(a)) {
		pr_err("cannot write BPF config: %s", strerror(errno));
		goto out;
	}
	if (a->cfg.probes_only) {
		st_probes_print(a, a->cfg.json);
		err = ST_EXIT_OK;
		goto out;
	}

	/* Attached: from here on only map fds and setns are needed. */
	if (st_agent_drop_caps(a))
		pr_warn("running with the capabilities it started with");
	a->loop = uv_default_loop();
	if (a->cfg.metrics && (err = st_agent_metrics_start(a, a->cfg.metrics)) != 0)
		goto out;
	err = ST_EXIT_FAIL;
	a->rb = ring_buffer__new(bpf_map__fd(a->skel->maps.events), on_path, a, NULL);
	if (!a->rb) {
		pr_err("ring buffer: %s", strerror(errno));
		goto out;
	}
	a->sender = st_sender_new(a);
	if (!a->sender)
		goto out;
	if (a->cfg.clock_probe_ms)
		a->probe = st_clockprobe_new(a, st_sender_socket(a->sender), a->cfg.clock_probe_ms);
	if (a->skew.active)
		pr_warn("TEST ONLY clock skew active: offset %+ld ns, drift %+ld ppb",
			(long)a->skew.offset_ns, (long)a->skew.drift_ppb);
	uv_poll_init(a->loop, &a->rb_poll, ring_buffer__epoll_fd(a->rb));
	a->rb_poll.data = a;
	uv_poll_start(&a->rb_poll, UV_READABLE, rb_cb);
	uv_timer_init(a->loop, &a->flush_timer);
	a->flush_timer.data = a;
	uv_timer_start(&a->flush_timer, flush_cb, a->cfg.flush_ms, a->cfg.flush_ms);
	/* The BPF side does not wake us per path (see st_emit): drain the
	 * ring every poll interval; the poll handle still catches the forced
	 * wake-ups of a filling ring. */
	uv_timer_init(a->loop, &a->drain_timer);
	a->drain_timer.data = a;
	uv_timer_start(&a->drain_timer, drain_cb, a->cfg.poll_ms, a->cfg.poll_ms);
	uv_timer_init(a->loop, &a->sweep_timer);
	a->sweep_timer.data = a;
	uv_timer_start(&a->sweep_timer, sweep_cb, 250, 250);
	uv_timer_init(a->loop, &a->rescan_timer);
	a->rescan_timer.data = a;
	uv_timer_start(&a->rescan_timer, rescan_cb, 2000, 2000);
	st_agent_ovsdp_refresh(a);
	st_loop_stop_init(a->loop, &a->stop, a->cfg.duration, stop_cb, a);
	pr_info("tracing: host %s, %d device(s) in %d netns, sample %u/%u, collector %s",
		a->cfg.host, a->devs.n, a->devs.n_netns, a->cfg.sample_k,
		a->cfg.sample_n, a->cfg.collector);

	uv_run(a->loop, UV_RUN_DEFAULT);

	/* Shutdown: collect what is left in BPF, send it, report losses. */
	st_agent_metrics_stop(a);
	uv_poll_stop(&a->rb_poll);
	uv_timer_stop(&a->flush_timer);
	uv_timer_stop(&a->drain_timer);
	uv_timer_stop(&a->sweep_timer);
	uv_timer_stop(&a->rescan_timer);
	st_loop_stop_disarm(&a->stop);
	ring_buffer__consume(a->rb);
	a->cfg.path_timeout_ms = 0;
	sweep_cb(&a->sweep_timer);
	st_sender_flush(a->sender);
	st_sender_drain(a->sender, 3000);
	{
		uint64_t sent, acked, retries, db, dp, q, bc[ST_C_MAX];

		st_sender_counters(a->sender, &sent, &acked, &retries, &db, &dp, &q);
		st_read_bpf_counters(a, bc);
		pr_info("done: paths %lu (timed out %lu), batches acked %lu, retried %lu, "
			"dropped %lu batches / %lu paths, undelivered %lu batches, "
			"bpf lost %lu ringbuf + %lu lru",
			(unsigned long)a->paths_in, (unsigned long)a->paths_timeout,
			(unsigned long)acked, (unsigned long)retries, (unsigned long)db,
			(unsigned long)dp, (unsigned long)q,
			(unsigned long)bc[ST_C_RINGBUF_FULL], (unsigned long)bc[ST_C_LRU_FAIL]);
		err = (dp + q) ? ST_EXIT_FAIL : ST_EXIT_OK;
		if (q)
			pr_warn("collector unreachable at exit: %lu batch(es) undelivered",
				(unsigned long)q);
	}
	uv_close((uv_handle_t *)&a->rb_poll, NULL);
	uv_close((uv_handle_t *)&a->flush_timer, NULL);
	uv_close((uv_handle_t *)&a->drain_timer, NULL);
	uv_close((uv_handle_t *)&a->sweep_timer, NULL);
	uv_close((uv_handle_t *)&a->rescan_timer, NULL);
	st_loop_stop_close(&a->stop);
	st_clockprobe_free(a->probe);
	a->probe = NULL;
	st_sender_free(a->sender);
	a->sender = NULL;
	uv_run(a->loop, UV_RUN_NOWAIT);
	uv_loop_close(a->loop);
out:
	st_agent_metrics_stop(a);
	ring_buffer__free(a->rb);
	stages_bpf__destroy(a->skel);
	free(a->pending);
	free(a->cfg.netns.v);
	free(a->cfg.uplinks.v);
	free(a->cfg.vms.v);
	free(a);
	return err;
}
