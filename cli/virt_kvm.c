// SPDX-License-Identifier: MIT
/*
 * stagetrace virt kvm: KVM interrupt injections through irqfd, per VM
 * (the VMM's pid, kvm->userspace_pid) and GSI: how often the eventfd
 * fired, how many injections KVM did at once (in the signalling task) or
 * deferred to a kworker, how many merged, and the latency from the
 * eventfd signal to the injection as a log-linear histogram. -v prints one
 * line per injection. Replaces kvm_irqfd_stats_summary.py.
 *
 * Counts come from a cumulative BPF hash per (VM, GSI, eventfd): this
 * side prints differences, so an interval boundary loses nothing and a
 * full event ring only thins the histograms (the loss is printed). The
 * latencies come from one ring buffer event per injection. Which hooks
 * this kernel has is decided by real load (cli/virt_kvm_bpf.c); without
 * irqfd_wakeup only KVM's tracepoint counts remain, and the command says so.
 */
#include <bpf/bpf.h>
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
#include "timeutil.h"
#include "virt_kvm.h"
#include "virt_kvm.skel.h"

#define CMD "stagetrace virt kvm"
#define KVM_SUPPORTED (ST_LO_INTERVAL | ST_LO_DURATION | ST_LO_COUNT | ST_LO_PID | \
		       ST_LO_VERBOSE | ST_LO_JSON)

/* One (VM, GSI, eventfd) row: counts as last read, this interval's latencies. */
struct kvm_row {
	struct st_kvm_key key;
	struct st_kvm_val prev, cur;
	struct st_hist lat;	/* eventfd signal -> injection, ns */
	uint64_t no_stamp;	/* injections whose signal was not seen */
};

struct kvm_cmd {
	struct st_local_opts lo;
	const char *family;	/* --method */
	struct st_kvm_bpf k;
	struct kvm_row *rows;
	size_t nrows, cap;
	uint64_t injections, lost_rows;
};

static struct kvm_row *row_get(struct kvm_cmd *c, const struct st_kvm_key *k)
{
	for (size_t i = 0; i < c->nrows; i++)
		if (!memcmp(&c->rows[i].key, k, sizeof(*k)))
			return &c->rows[i];
	if (c->nrows == c->cap) {
		size_t nc = c->cap ? 2 * c->cap : 16;
		struct kvm_row *r = realloc(c->rows, nc * sizeof(*r));

		if (!r) {
			c->lost_rows++;
			return NULL;
		}
		c->rows = r;
		c->cap = nc;
	}
	memset(&c->rows[c->nrows], 0, sizeof(c->rows[0]));
	c->rows[c->nrows].key = *k;
	st_hist_init(&c->rows[c->nrows].lat);
	return &c->rows[c->nrows++];
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct kvm_cmd *c = ctx;
	const struct st_kvm_event *e = data;
	struct st_kvm_key key;
	struct kvm_row *r;
	char t[32], comm[17];

	if (size < sizeof(*e) || e->kind != ST_KE_INJECT)
		return 0;
	c->injections++;
	key = (struct st_kvm_key){ .vm_pid = e->vm_pid, .gsi = e->gsi, .eventfd = e->eventfd };
	r = row_get(c, &key);
	if (r && e->t_signal && e->ts >= e->t_signal)
		st_hist_add(&r->lat, e->ts - e->t_signal);
	else if (r)
		r->no_stamp++;
	if (!c->lo.verbose)
		return 0;
	memcpy(comm, e->comm, 16);
	comm[16] = '\0';
	st_local_mono_hms(e->ts, t, sizeof(t));
	if (c->lo.json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "type", json_object_new_string("event"));
		json_object_object_add(o, "time", json_object_new_string(t));
		json_object_object_add(o, "ts_ns", json_object_new_int64((int64_t)e->ts));
		json_object_object_add(o, "vm_pid", json_object_new_int64(e->vm_pid));
		json_object_object_add(o, "gsi", json_object_new_int64(e->gsi));
		json_object_object_add(o, "how", json_object_new_string(e->count == 1 ? "inline" : "deferred"));
		json_object_object_add(o, "ret", json_object_new_int(e->ret));
		json_object_object_add(o, "signal_to_inject_ns", e->t_signal ?
				       json_object_new_int64((int64_t)(e->ts - e->t_signal)) : NULL);
		json_object_object_add(o, "wakeup_to_inject_ns",
				       json_object_new_int64((int64_t)(e->ts - e->t_wake)));
		json_object_object_add(o, "tid", json_object_new_int64(e->tid));
		json_object_object_add(o, "comm", json_object_new_string(comm));
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
	} else {
		char lat[32] = "-";

		if (e->t_signal)
			snprintf(lat, sizeof(lat), "%.3f", (double)(e->ts - e->t_signal) / 1e3);
		printf("%-15s %-8u %-5u %-9s %10s %10.3f %-7u %s\n", t, e->vm_pid, e->gsi,
		       e->count == 1 ? "inline" : "deferred", lat,
		       (double)(e->ts - e->t_wake) / 1e3, e->tid, comm);
	}
	return 0;
}

/* Read the cumulative counts of every (VM, GSI, eventfd) into cur. */
static void read_counts(struct kvm_cmd *c)
{
	int fd = bpf_map__fd(c->k.skel->maps.kvm_counts);
	struct st_kvm_key k, next, *pk = NULL;
	struct st_kvm_val v;

	while (!bpf_map_get_next_key(fd, pk, &next)) {
		k = next;
		pk = &k;
		if (bpf_map_lookup_elem(fd, &k, &v))
			continue;
		struct kvm_row *r = row_get(c, &k);

		if (r)
			r->cur = v;
	}
}

#define D(f) (r->cur.f - r->prev.f)

static void report(struct kvm_cmd *c, double secs)
{
	uint64_t delta[ST_KC_MAX];
	char t[16];

	read_counts(c);
	st_kvm_bpf_counters(&c->k, delta);
	st_local_hms(t, sizeof(t));
	if (c->lo.json) {
		json_object *o = json_object_new_object(), *arr = json_object_new_array();
		json_object *cnt = json_object_new_object();

		json_object_object_add(o, "type", json_object_new_string("interval"));
		json_object_object_add(o, "time", json_object_new_string(t));
		json_object_object_add(o, "unix_s", json_object_new_double(st_real_ns() / 1e9));
		json_object_object_add(o, "interval_s", json_object_new_double(secs));
		for (size_t i = 0; i < c->nrows; i++) {
			struct kvm_row *r = &c->rows[i];
			json_object *e = json_object_new_object();
			char ef[24];

			if (!D(wakeups) && !D(deferred) && !r->lat.count)
				continue;
			snprintf(ef, sizeof(ef), "0x%llx", (unsigned long long)r->key.eventfd);
			json_object_object_add(e, "vm_pid", json_object_new_int64(r->key.vm_pid));
			json_object_object_add(e, "gsi", json_object_new_int64(r->key.gsi));
			json_object_object_add(e, "eventfd", json_object_new_string(ef));
			json_object_object_add(e, "wakeups", json_object_new_int64(D(wakeups)));
			json_object_object_add(e, "rate_per_s", json_object_new_double(
				secs > 0 ? D(wakeups) / secs : 0));
			json_object_object_add(e, "inline", json_object_new_int64(D(inline_inj)));
			json_object_object_add(e, "inline_failed", json_object_new_int64(D(inline_fail)));
			json_object_object_add(e, "deferred", json_object_new_int64(D(deferred)));
			json_object_object_add(e, "coalesced", json_object_new_int64(D(coalesced)));
			json_object_object_add(e, "no_signal_stamp", json_object_new_int64(r->no_stamp));
			json_object_object_add(e, "signal_to_inject", st_local_hist_json(&r->lat));
			json_object_array_add(arr, e);
		}
		json_object_object_add(o, "irqfds", arr);
		for (int i = 0; i < ST_KC_MAX; i++)
			json_object_object_add(cnt, st_kvm_counter_names[i], json_object_new_int64(delta[i]));
		json_object_object_add(o, "counters", cnt);
		json_object_object_add(o, "hooks", st_kvm_bpf_hooks_json(&c->k));
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
	} else if (!c->lo.verbose) {
		int any = 0;

		printf("%-8s %-8s %-5s %10s %9s %8s %8s %9s %6s\n", "TIME", "VM_PID", "GSI",
		       "WAKEUPS", "RATE/s", "INLINE", "DEFERRED", "COALESCED", "FAILED");
		for (size_t i = 0; i < c->nrows; i++) {
			struct kvm_row *r = &c->rows[i];

			if (!D(wakeups) && !D(deferred) && !r->lat.count)
				continue;
			any = 1;
			printf("%-8s %-8u %-5u %10llu %9.1f %8llu %8llu %9llu %6llu\n", t,
			       r->key.vm_pid, r->key.gsi, (unsigned long long)D(wakeups),
			       secs > 0 ? D(wakeups) / secs : 0.0, (unsigned long long)D(inline_inj),
			       (unsigned long long)D(deferred), (unsigned long long)D(coalesced),
			       (unsigned long long)D(inline_fail));
			if (r->lat.count) {
				printf("  eventfd signal -> injection:\n");
				st_local_hist_print(&r->lat, "    ");
			}
			if (r->no_stamp)
				printf("  %llu injection(s) without a signal stamp (signalled through "
				       "a path not hooked here)\n", (unsigned long long)r->no_stamp);
		}
		if (!any)
			printf("%-8s %-8s %-5s %10d\n", t, "-", "-", 0);
		printf("%-8s kvm:kvm_set_irq %llu, kvm:kvm_msi_set_irq %llu, irqfd hangups %llu\n", t,
		       (unsigned long long)delta[ST_KC_TP_SET_IRQ],
		       (unsigned long long)delta[ST_KC_TP_MSI], (unsigned long long)delta[ST_KC_HUP]);
	}
	if (!c->lo.json && (delta[ST_KC_MAP_FULL] || delta[ST_KC_RINGBUF_FULL] || c->lost_rows))
		printf("%-8s lost: %llu (map full), %llu events (ring full: latencies thinned), "
		       "%llu rows (no memory)\n", t, (unsigned long long)delta[ST_KC_MAP_FULL],
		       (unsigned long long)delta[ST_KC_RINGBUF_FULL], (unsigned long long)c->lost_rows);
	if (!c->lo.json && !c->lo.verbose)
		printf("\n");
	fflush(stdout);
	for (size_t i = 0; i < c->nrows; i++) {
		c->rows[i].prev = c->rows[i].cur;
		st_hist_init(&c->rows[i].lat);
		c->rows[i].no_stamp = 0;
	}
}

static int run(struct kvm_cmd *c)
{
	struct st_local_ticker tk;
	int fn_hooks = st_kvm_hook_ok(&c->k, ST_KH_WAKEUP);

	if (!c->lo.json) {
		fprintf(stderr, "Tracing KVM irqfd injections%s:\n", fn_hooks ? "" :
			" (irqfd_wakeup cannot be hooked on this kernel: only KVM's tracepoint "
			"counts are shown, no per-VM/GSI rows and no latency)");
		st_kvm_bpf_describe(&c->k);
		fprintf(stderr, "Ctrl-C to end.\n");
	}
	if (c->lo.verbose && !c->lo.json)
		printf("%-15s %-8s %-5s %-9s %10s %10s %-7s %s\n", "TIME", "VM_PID", "GSI", "HOW",
		       "SIG->INJ_us", "WAKE->INJ", "TID", "COMM");
	st_local_ticker_init(&tk, c->lo.interval, c->lo.duration);
	for (;;) {
		double secs;
		int stop = st_local_ticker_wait(&tk, c->k.rb, c->lo.count, &secs);

		ring_buffer__consume(c->k.rb);
		report(c, secs);
		if (stop)
			break;
	}
	return 0;
}

int st_cmd_virt_kvm(int argc, char **argv)
{
	static const struct st_cmd_help help = {
		.name = CMD,
		.summary = "KVM irqfd interrupt injections per VM and GSI, with eventfd->inject latency.",
		.description =
"Counts, per VM (the VMM's pid, kvm->userspace_pid) and GSI, every time an\n"
"irqfd's eventfd fires into KVM (irqfd_wakeup with EPOLLIN) and how KVM\n"
"injected it: INLINE (kvm_arch_set_irq_inatomic delivered it in the\n"
"signalling task: vhost worker, VMM thread), DEFERRED (-EWOULDBLOCK, done\n"
"by irqfd_inject in a kworker), COALESCED (deferred again before the\n"
"work ran: merged into one injection), FAILED (no vCPU took it). Below\n"
"each row, the latency from the eventfd signal (eventfd_signal[_mask] or a\n"
"write(2) to the eventfd, in the same task) to the injection as a\n"
"log-linear histogram. KVM's kvm:kvm_set_irq and kvm:kvm_msi_set_irq\n"
"tracepoint counts are printed as a cross-check. -v prints one line per\n"
"injection instead. GSI and eventfd are read from struct kvm_kernel_irqfd\n"
"with CO-RE at run time. Function hooks use fentry/fexit, else\n"
"kprobe/kretprobe; the command lists which hook got which method, or why\n"
"none (kernels without kprobes and fentry see only the tracepoint counts).\n"
"Replaces kvm_irqfd_stats_summary.py.",
		.examples =
"  stagetrace virt kvm -i 5\n"
"  stagetrace virt kvm -p $(pidof qemu-system-x86_64) -v\n"
"  stagetrace virt kvm --json -c 3\n"
"  stagetrace virt kvm --check-hooks",
	};
	struct kvm_cmd c;
	struct st_kvm_cfg cfg = { 0 };
	struct st_opt opts[ST_LOCAL_NOPTS + 4];
	size_t no = 0;
	int rc, ec, check = 0;

	memset(&c, 0, sizeof(c));
	st_local_opts_init(&c.lo);
	st_local_opts_table(&c.lo, KVM_SUPPORTED, opts, &no, sizeof(opts) / sizeof(opts[0]) - 3);
	opts[no++] = (struct st_opt){ "method", 0, ST_OPT_STR, &c.family, "fentry|kprobe",
				      "only this attach method family for kernel functions (default: fentry, else kprobe)" };
	opts[no++] = (struct st_opt){ "check-hooks", 0, ST_OPT_FLAG, &check, NULL,
				      "load each hook program through the verifier (no attach), report, exit" };
	opts[no] = (struct st_opt)ST_OPT_END;
	if (st_opts_parse_noargs(argc, argv, opts, &help, &ec))
		return ec;
	if ((rc = st_local_validate(&c.lo, KVM_SUPPORTED, CMD)))
		return rc;
	if ((rc = st_kvm_family_check(CMD, c.family)))
		return rc;
	if ((rc = st_local_require_root(CMD)))
		return rc;
	st_log_route_libbpf();
	if (check)
		return st_kvm_bpf_check(0, c.lo.json);
	if (c.lo.pid) {
		cfg.flags |= ST_KF_PID;
		cfg.pid = c.lo.pid;
	}
	rc = st_kvm_bpf_open(&c.k, &cfg, 0, c.family, on_event, &c);
	if (!rc && !st_kvm_hook_ok(&c.k, ST_KH_WAKEUP) && !c.k.tp_method[0] && !c.k.tp_method[1]) {
		fprintf(stderr, "error: no KVM hook works on this kernel:\n");
		st_kvm_bpf_describe(&c.k);
		rc = ST_EXIT_FAIL;
	}
	if (!rc) {
		st_local_signals();
		rc = run(&c);
		if (!c.lo.json)
			fprintf(stderr, "virt kvm: %llu injection events; lost: %llu (map full), "
				"%llu events (ring full)\n", (unsigned long long)c.injections,
				(unsigned long long)c.k.counters[ST_KC_MAP_FULL],
				(unsigned long long)c.k.counters[ST_KC_RINGBUF_FULL]);
	}
	st_kvm_bpf_close(&c.k);
	free(c.rows);
	return rc;
}
