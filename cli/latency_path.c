// SPDX-License-Identifier: MIT
/*
 * stagetrace latency --path tap-to-irq: for packets the host writes to a
 * tap whose queue a vhost-net worker serves and whose call eventfd KVM has
 * bound with irqfd, the time from tun_net_xmit (the packet enters the
 * tap's ring) through the worker's handle_rx, vhost_add_used_and_signal_n
 * (the buffer is the guest's), eventfd_signal and irqfd_wakeup to the
 * interrupt injection. Replaces tun_tx_to_kvm_irq.py.
 *
 * The BPF side (bpf/virt_kvm.bpf.c, path mode) emits one event per stage;
 * cli/tapirq_join.c joins them queue -> eventfd -> GSI as the kernel
 * reveals them at run time, one record per packet. Each interval prints
 * histograms of the whole path and of its three segments, and how many
 * packets each interrupt covered; -v prints every record.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "hist.h"
#include "local.h"
#include "localrun.h"
#include "log.h"
#include "opts.h"
#include "tapirq_join.h"
#include "timeutil.h"
#include "virt_kvm.h"

#define CMD "stagetrace latency --path tap-to-irq"
#define LP_SUPPORTED (ST_LO_INTERVAL | ST_LO_DURATION | ST_LO_COUNT | ST_LO_PID | \
		      ST_LO_VERBOSE | ST_LO_JSON | ST_LO_DEV | ST_LO_NETNS)

enum { H_TOTAL, H_VHOST, H_SIGNAL, H_INJECT, H_N };
static const char *const seg_names[H_N] = {
	"tun_net_xmit -> injection (total)",
	"tun_net_xmit -> vhost used (tap queue + copy)",
	"vhost used -> eventfd_signal",
	"eventfd_signal -> injection (irqfd)",
};
static const char *const seg_keys[H_N] = { "total", "xmit_to_used", "used_to_signal",
					   "signal_to_inject" };

struct lpath {
	struct st_local_opts lo;
	const char *family;	/* --method */
	const char *path;
	struct st_kvm_bpf k;
	struct st_tj j;
	struct st_hist h[H_N];
	uint64_t packets, signals, batch_max;
	uint64_t tj_prev[ST_TJ_MAX];
};

static void on_record(void *ctx, const struct st_tj_rec *r)
{
	struct lpath *p = ctx;
	uint64_t seg[H_N] = {
		r->t_inject - r->t_xmit, r->t_used - r->t_xmit, r->t_signal - r->t_used,
		r->t_inject - r->t_signal,
	};
	char t[32];

	for (int i = 0; i < H_N; i++)
		st_hist_add(&p->h[i], seg[i]);
	p->packets++;
	if (r->batch > p->batch_max)
		p->batch_max = r->batch;
	if (!p->lo.verbose)
		return;
	st_local_mono_hms(r->t_xmit, t, sizeof(t));
	if (p->lo.json) {
		json_object *o = json_object_new_object(), *ts = json_object_new_object();

		json_object_object_add(o, "type", json_object_new_string("path"));
		json_object_object_add(o, "time", json_object_new_string(t));
		json_object_object_add(o, "vm_pid", json_object_new_int64(r->vm_pid));
		json_object_object_add(o, "gsi", json_object_new_int64(r->gsi));
		json_object_object_add(o, "dev", json_object_new_string(
			st_local_dev_name(r->netns, r->ifindex)));
		json_object_object_add(o, "queue", json_object_new_int64(r->queue));
		json_object_object_add(o, "batch", json_object_new_int64(r->batch));
		json_object_object_add(o, "how", json_object_new_string(r->how == 1 ? "inline" : "deferred"));
		json_object_object_add(ts, "tun_net_xmit", json_object_new_int64((int64_t)r->t_xmit));
		json_object_object_add(ts, "handle_rx", r->t_rx ?
				       json_object_new_int64((int64_t)r->t_rx) : NULL);
		json_object_object_add(ts, "vhost_used", json_object_new_int64((int64_t)r->t_used));
		json_object_object_add(ts, "eventfd_signal", json_object_new_int64((int64_t)r->t_signal));
		json_object_object_add(ts, "irqfd_wakeup", json_object_new_int64((int64_t)r->t_wake));
		json_object_object_add(ts, "inject", json_object_new_int64((int64_t)r->t_inject));
		json_object_object_add(o, "ts_ns", ts);
		json_object_object_add(o, "total_ns", json_object_new_int64((int64_t)seg[H_TOTAL]));
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
		return;
	}
	printf("%-15s %-7u %-4u %-12s %-3u %9.2f %9.2f %9.2f %9.2f %5u %s\n", t, r->vm_pid, r->gsi,
	       st_local_dev_name(r->netns, r->ifindex), r->queue, seg[H_VHOST] / 1e3,
	       seg[H_SIGNAL] / 1e3, seg[H_INJECT] / 1e3, seg[H_TOTAL] / 1e3, r->batch,
	       r->how == 1 ? "inline" : "deferred");
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct lpath *p = ctx;

	if (size >= sizeof(struct st_kvm_event))
		st_tj_event(&p->j, data);
	return 0;
}

static void report(struct lpath *p, double secs)
{
	uint64_t delta[ST_KC_MAX], tj[ST_TJ_MAX];
	uint64_t sig;
	char t[16];

	st_kvm_bpf_counters(&p->k, delta);
	for (int i = 0; i < ST_TJ_MAX; i++) {
		tj[i] = p->j.stats[i] - p->tj_prev[i];
		p->tj_prev[i] = p->j.stats[i];
	}
	sig = tj[ST_TJ_SIGNALS];
	st_local_hms(t, sizeof(t));
	if (p->lo.json) {
		json_object *o = json_object_new_object(), *hs = json_object_new_object();
		json_object *lost = json_object_new_object();

		json_object_object_add(o, "type", json_object_new_string("interval"));
		json_object_object_add(o, "time", json_object_new_string(t));
		json_object_object_add(o, "interval_s", json_object_new_double(secs));
		json_object_object_add(o, "packets", json_object_new_int64(p->packets));
		json_object_object_add(o, "signals", json_object_new_int64(sig));
		json_object_object_add(o, "packets_per_signal", json_object_new_double(
			sig ? (double)p->packets / sig : 0));
		json_object_object_add(o, "batch_max", json_object_new_int64(p->batch_max));
		json_object_object_add(o, "tap_xmits", json_object_new_int64(tj[ST_TJ_XMIT]));
		for (int i = 0; i < H_N; i++)
			json_object_object_add(hs, seg_keys[i], st_local_hist_json(&p->h[i]));
		json_object_object_add(o, "latency", hs);
		json_object_object_add(lost, "used_without_xmit", json_object_new_int64(tj[ST_TJ_USED_NO_XMIT]));
		json_object_object_add(lost, "unsignalled", json_object_new_int64(tj[ST_TJ_UNSIGNALLED]));
		json_object_object_add(lost, "fifo_full", json_object_new_int64(tj[ST_TJ_FIFO_FULL]));
		json_object_object_add(lost, "no_memory", json_object_new_int64(tj[ST_TJ_NO_MEM]));
		json_object_object_add(lost, "events", json_object_new_int64(delta[ST_KC_RINGBUF_FULL]));
		json_object_object_add(lost, "map_full", json_object_new_int64(delta[ST_KC_MAP_FULL]));
		json_object_object_add(o, "unjoined", lost);
		json_object_object_add(o, "hooks", st_kvm_bpf_hooks_json(&p->k));
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
	} else if (!p->lo.verbose) {
		printf("%-8s %llu packets, %llu interrupts (%.2f packets each, at most %llu), "
		       "%llu tap xmits\n", t, (unsigned long long)p->packets, (unsigned long long)sig,
		       sig ? (double)p->packets / sig : 0.0, (unsigned long long)p->batch_max,
		       (unsigned long long)tj[ST_TJ_XMIT]);
		for (int i = 0; p->packets && i < H_N; i++) {
			printf("  %s:\n", seg_names[i]);
			st_local_hist_print(&p->h[i], "    ");
		}
	}
	if (!p->lo.json && (tj[ST_TJ_USED_NO_XMIT] || tj[ST_TJ_UNSIGNALLED] || tj[ST_TJ_FIFO_FULL] ||
			    tj[ST_TJ_NO_MEM] || delta[ST_KC_RINGBUF_FULL] || delta[ST_KC_MAP_FULL]))
		printf("%-8s not joined: %llu buffers without a tap stamp, %llu packets without "
		       "an interrupt, %llu stamps of unserved queues; lost: %llu events (ring full), "
		       "%llu (map full), %llu (no memory)\n", t,
		       (unsigned long long)tj[ST_TJ_USED_NO_XMIT], (unsigned long long)tj[ST_TJ_UNSIGNALLED],
		       (unsigned long long)tj[ST_TJ_FIFO_FULL], (unsigned long long)delta[ST_KC_RINGBUF_FULL],
		       (unsigned long long)delta[ST_KC_MAP_FULL], (unsigned long long)tj[ST_TJ_NO_MEM]);
	if (!p->lo.json && !p->lo.verbose)
		printf("\n");
	fflush(stdout);
	for (int i = 0; i < H_N; i++)
		st_hist_init(&p->h[i]);
	p->packets = p->batch_max = 0;
}

/* The hooks the path cannot do without, or NULL when all attached. */
static const char *missing_hook(const struct lpath *p)
{
	static const enum st_kvm_hook need[] = { ST_KH_TUN_XMIT, ST_KH_HANDLE_RX, ST_KH_USED,
						 ST_KH_WAKEUP };

	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++)
		if (!st_kvm_hook_ok(&p->k, need[i]))
			return p->k.hooks[need[i]].name;
	if (!st_kvm_hook_ok(&p->k, ST_KH_EVFD_MASK) && !st_kvm_hook_ok(&p->k, ST_KH_EVFD))
		return "eventfd_signal[_mask]";
	if (!st_kvm_hook_ok(&p->k, ST_KH_INATOMIC) && !st_kvm_hook_ok(&p->k, ST_KH_INJECT))
		return "kvm_arch_set_irq_inatomic / irqfd_inject";
	return NULL;
}

int st_cmd_latency_path(int argc, char **argv)
{
	static const struct st_cmd_help help = {
		.name = CMD,
		.summary = "Tap xmit -> vhost RX -> eventfd -> irqfd -> guest interrupt, per packet.",
		.description =
"For packets the host sends into a tap served by vhost-net whose RX call\n"
"eventfd KVM has bound with irqfd (a VM's virtio-net queue): the time from\n"
"tun_net_xmit (the packet enters the tap queue's ring) to vhost's\n"
"vhost_add_used_and_signal_n (the buffer is handed to the guest), to\n"
"eventfd_signal of the queue's call eventfd, to KVM's injection (inline in\n"
"the vhost worker, or deferred to a kworker by irqfd_inject). The queue ->\n"
"eventfd -> GSI chain is learned from the kernel objects at run time.\n"
"One interrupt usually covers several packets: each interval says how many\n"
"packets each interrupt covered, and prints histograms of the whole path\n"
"and of its segments; -v prints one record per packet (TIME VM GSI DEV Q,\n"
"then XMIT->USED USED->SIG SIG->INJ TOTAL in us, BATCH, HOW). Packets that\n"
"cannot be joined (sent before tracing, lost events, no interrupt) are\n"
"counted and printed. Needs the functions hooked with fentry or kprobe;\n"
"kernels without both cannot trace this path and the command says so.\n"
"Replaces tun_tx_to_kvm_irq.py.",
		.examples =
"  stagetrace latency --path tap-to-irq -i 5\n"
"  stagetrace latency --path tap-to-irq --dev vnet3 -v\n"
"  stagetrace latency --path tap-to-irq -p $(pidof qemu-system-x86_64) --json -c 3",
	};
	struct lpath p;
	struct st_kvm_cfg cfg = { 0 };
	struct st_opt opts[ST_LOCAL_NOPTS + 5];
	size_t no = 0;
	int rc, ec, check = 0;
	const char *miss;

	memset(&p, 0, sizeof(p));
	st_local_opts_init(&p.lo);
	st_local_opts_table(&p.lo, LP_SUPPORTED, opts, &no, sizeof(opts) / sizeof(opts[0]) - 4);
	opts[no++] = (struct st_opt){ "path", 0, ST_OPT_STR, &p.path, "tap-to-irq",
				      "the path to trace (only tap-to-irq here)" };
	opts[no++] = (struct st_opt){ "method", 0, ST_OPT_STR, &p.family, "fentry|kprobe",
				      "only this attach method family for kernel functions (default: fentry, else kprobe)" };
	opts[no++] = (struct st_opt){ "check-hooks", 0, ST_OPT_FLAG, &check, NULL,
				      "load each hook program through the verifier (no attach), report, exit" };
	opts[no] = (struct st_opt)ST_OPT_END;
	if (st_opts_parse_noargs(argc, argv, opts, &help, &ec))
		return ec;
	if (p.path && strcmp(p.path, "tap-to-irq")) {
		fprintf(stderr, "error: %s: unknown --path '%s' (only tap-to-irq)\n", CMD, p.path);
		return ST_EXIT_USAGE;
	}
	if ((rc = st_local_validate(&p.lo, LP_SUPPORTED, CMD)))
		return rc;
	if (p.lo.netns_set && !p.lo.dev_set) {
		fprintf(stderr, "error: %s: --netns selects the namespace of --dev; give --dev too\n", CMD);
		return ST_EXIT_USAGE;
	}
	if ((rc = st_kvm_family_check(CMD, p.family)))
		return rc;
	if ((rc = st_local_require_root(CMD)))
		return rc;
	st_log_route_libbpf();
	if (check)
		return st_kvm_bpf_check(1, p.lo.json);
	cfg.flags = ST_KF_PATH;
	if (p.lo.pid) {
		cfg.flags |= ST_KF_PID;
		cfg.pid = p.lo.pid;
	}
	if (p.lo.dev_set) {
		cfg.flags |= ST_KF_DEV;
		cfg.netns = p.lo.dev_netns;
		cfg.ifindex = p.lo.dev_ifindex;
	}
	if (st_tj_init(&p.j, on_record, &p)) {
		fprintf(stderr, "error: %s: out of memory\n", CMD);
		return ST_EXIT_FAIL;
	}
	for (int i = 0; i < H_N; i++)
		st_hist_init(&p.h[i]);
	rc = st_kvm_bpf_open(&p.k, &cfg, 1, p.family, on_event, &p);
	if (!rc && (miss = missing_hook(&p))) {
		/* One line; the per-hook reasons (a dozen lines) only with -v. */
		fprintf(stderr, "error: %s: %s cannot be hooked on this kernel, so the path cannot "
			"be traced%s\n", CMD, miss, p.lo.verbose ? ":" :
			" (-v lists every hook and why; 'stagetrace probes' the stages)");
		if (p.lo.verbose)
			st_kvm_bpf_describe(&p.k);
		rc = ST_EXIT_FAIL;
	}
	if (!rc) {
		struct st_local_ticker tk;

		if (!p.lo.json) {
			fprintf(stderr, "Tracing tap xmit -> vhost RX -> eventfd -> irqfd injection:\n");
			st_kvm_bpf_describe(&p.k);
			fprintf(stderr, "Ctrl-C to end.\n");
		}
		if (p.lo.verbose && !p.lo.json)
			printf("%-15s %-7s %-4s %-12s %-3s %9s %9s %9s %9s %5s %s\n", "TIME", "VM_PID",
			       "GSI", "DEV", "Q", "XMIT->USED", "USED->SIG", "SIG->INJ", "TOTAL_us",
			       "BATCH", "HOW");
		st_local_signals();
		st_local_ticker_init(&tk, p.lo.interval, p.lo.duration);
		for (;;) {
			double secs;
			int stop = st_local_ticker_wait(&tk, p.k.rb, p.lo.count, &secs);

			ring_buffer__consume(p.k.rb);
			report(&p, secs);
			if (stop)
				break;
		}
		if (!p.lo.json)
			fprintf(stderr, "latency tap-to-irq: %llu packet records, %llu interrupts, "
				"%llu tap xmits\n", (unsigned long long)p.j.stats[ST_TJ_RECORDS],
				(unsigned long long)p.j.stats[ST_TJ_SIGNALS],
				(unsigned long long)p.j.stats[ST_TJ_XMIT]);
	}
	st_kvm_bpf_close(&p.k);
	st_tj_free(&p.j);
	st_local_dev_names_free();
	return rc;
}
