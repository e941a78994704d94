// SPDX-License-Identifier: MIT
/*
 * stagetrace cpu offcpu: where threads wait. Off-CPU time is summed per
 * (process, thread, comm, kernel stack, user stack) and printed as stack
 * counts per interval, the longest first; with -v every blocking episode is
 * one line with its wall-clock time, duration, state, CPUs and the task
 * that woke it (offcputime-ts.py's timestamps).
 *
 * The BPF side is bpf/cpu_sched.bpf.c in off-CPU mode. Stacks are taken
 * when the thread leaves the CPU, so they show where it blocked. User
 * stacks are walked by the kernel through frame pointers: code built
 * without them (most distribution libraries) loses the frames between the
 * blocking call and the nearest caller that keeps a frame pointer.
 */
#include <bpf/bpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpf/cpu_sched.h"
#include "cli.h"
#include "cpu.h"
#include "localrun.h"
#include "cpu_sched.skel.h"
#include "log.h"
#include "opts.h"
#include "timeutil.h"

#define CMD "stagetrace cpu offcpu"
#define OFFCPU_SUPPORTED (ST_LO_INTERVAL | ST_LO_DURATION | ST_LO_COUNT | ST_LO_PID | \
			  ST_LO_VERBOSE | ST_LO_JSON)

static const char *const counter_names[ST_SC_MAX] = {
	[ST_SC_SWITCHES] = "switches",
	[ST_SC_WAKEUPS] = "wakeups",
	[ST_SC_SAMPLES] = "episodes",
	[ST_SC_SHORT] = "filtered_short",
	[ST_SC_STATE] = "filtered_state",
	[ST_SC_NOSTART] = "no_start",
	[ST_SC_LOST_TASKS] = "lost_tasks",
	[ST_SC_LOST_MAP] = "lost_map_full",
	[ST_SC_LOST_STACK] = "lost_stack",
	[ST_SC_LOST_EVENTS] = "lost_events",
};

struct offcpu {
	struct st_local_opts lo;
	double min_us;
	const char *states;	/* --state letters */
	uint32_t state_mask;
	uint32_t top;
	int stacks, no_user;
	const char *method_force, *method;
	struct cpu_sched_bpf *skel;
	struct ring_buffer *rb;
	struct cpu_syms syms;
	uint64_t counters[ST_SC_MAX];
	int ncpus;
};

struct row {
	struct st_offcpu_key k;
	struct st_offcpu_val v;
};

static const char *state_name(uint32_t s, char *buf, size_t len)
{
	char c = st_task_state_char(s);

	if (c == '?')
		snprintf(buf, len, "0x%x", s);
	else
		snprintf(buf, len, "%c", c);
	return buf;
}

static int stack_fd(struct offcpu *o)
{
	return bpf_map__fd(o->skel->maps.sched_stacks);
}

/* Kernel frames, "--", user frames, as offcputime prints them. */
static void print_stacks(struct offcpu *o, int32_t kid, int32_t uid, uint32_t pid,
			 const char *indent)
{
	int nk = cpu_stack_frames(&o->syms, stack_fd(o), kid, ST_OFFCPU_STACK_DEPTH, 0, 0,
				  NULL, indent);
	if (!nk)
		printf("%s[no kernel stack]\n", indent);
	printf("%s--\n", indent);
	if (!cpu_stack_frames(&o->syms, stack_fd(o), uid, ST_OFFCPU_STACK_DEPTH, 1, pid,
			      NULL, indent))
		printf("%s%s\n", indent, uid < 0 ? "[no user stack]" : "[user stack gone]");
}

static void json_stacks(struct offcpu *o, json_object *obj, int32_t kid, int32_t uid,
			uint32_t pid)
{
	json_object *k = json_object_new_array(), *u = json_object_new_array();

	cpu_stack_frames(&o->syms, stack_fd(o), kid, ST_OFFCPU_STACK_DEPTH, 0, 0, k, NULL);
	cpu_stack_frames(&o->syms, stack_fd(o), uid, ST_OFFCPU_STACK_DEPTH, 1, pid, u, NULL);
	json_object_object_add(obj, "kernel", k);
	json_object_object_add(obj, "user", u);
}

/* ---- -v: one line per episode --------------------------------------------- */

static int on_event(void *ctx, void *data, size_t size)
{
	struct offcpu *o = ctx;
	const struct st_offcpu_event *e = data;
	char t[32], d[32], st[16], comm[17], wcomm[17];

	if (size < sizeof(*e))
		return 0;
	st_local_mono_hms(e->ts_out, t, sizeof(t));
	cpu_comm(e->comm, comm);
	cpu_comm(e->waker_comm, wcomm);
	state_name(e->state, st, sizeof(st));
	if (o->lo.json) {
		json_object *j = json_object_new_object();

		json_object_object_add(j, "type", json_object_new_string("event"));
		json_object_object_add(j, "time", json_object_new_string(t));
		json_object_object_add(j, "pid", json_object_new_int64(e->tgid));
		json_object_object_add(j, "tid", json_object_new_int64(e->tid));
		json_object_object_add(j, "comm", json_object_new_string(comm));
		json_object_object_add(j, "event", json_object_new_string("offcpu"));
		json_object_object_add(j, "dur_ns", json_object_new_int64((int64_t)e->dur_ns));
		json_object_object_add(j, "state", json_object_new_string(st));
		json_object_object_add(j, "cpu_out", json_object_new_int64(e->cpu_out));
		json_object_object_add(j, "cpu_in", json_object_new_int64(e->cpu_in));
		if (e->waker_tgid || wcomm[0]) {
			json_object_object_add(j, "waker_pid", json_object_new_int64(e->waker_tgid));
			json_object_object_add(j, "waker_comm", json_object_new_string(wcomm));
		}
		if (o->stacks)
			json_stacks(o, j, e->kstack, e->ustack, e->tgid);
		printf("%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
		json_object_put(j);
		return 0;
	}
	printf("%-15s %-7u %-16s %-6s dur=%s tid=%u state=%s cpu=%u->%u", t, e->tgid, comm,
	       "offcpu", cpu_fmt_ns(e->dur_ns, d, sizeof(d)), e->tid, st, e->cpu_out, e->cpu_in);
	if (e->waker_tgid || wcomm[0])
		printf(" waker=%u/%s", e->waker_tgid, wcomm);
	printf("\n");
	if (o->stacks)
		print_stacks(o, e->kstack, e->ustack, e->tgid, "        ");
	return 0;
}

/* ---- intervals -------------------------------------------------------------- */

static int row_cmp(const void *a, const void *b)
{
	const struct row *x = a, *y = b;

	if (x->v.total_ns != y->v.total_ns)
		return x->v.total_ns < y->v.total_ns ? 1 : -1;
	return x->k.tid < y->k.tid ? -1 : x->k.tid > y->k.tid;
}

static void print_lost(const uint64_t *delta, const char *t)
{
	if (delta[ST_SC_LOST_TASKS] || delta[ST_SC_LOST_MAP] || delta[ST_SC_LOST_STACK] ||
	    delta[ST_SC_LOST_EVENTS])
		printf("%-8s lost: %llu episodes (task map full), %llu (count map full), "
		       "%llu stacks, %llu events (ring full)\n", t,
		       (unsigned long long)delta[ST_SC_LOST_TASKS],
		       (unsigned long long)delta[ST_SC_LOST_MAP],
		       (unsigned long long)delta[ST_SC_LOST_STACK],
		       (unsigned long long)delta[ST_SC_LOST_EVENTS]);
}

static int report(void *ctx, uint32_t old_gen, double secs)
{
	struct offcpu *o = ctx;
	struct cpu_sched_bpf *s = o->skel;
	int fd = bpf_map__fd(old_gen & 1 ? s->maps.offcpu1 : s->maps.offcpu0);
	uint64_t delta[ST_SC_MAX], total = 0, episodes = 0;
	struct row *rows = NULL;
	size_t n = CPU_DRAIN(fd, ST_OFFCPU_MAX_KEYS, &rows), shown;
	char t[16], d[32], comm[17];

	cpu_counters_read(bpf_map__fd(s->maps.sched_counters), o->ncpus, ST_SC_MAX,
			  o->counters, delta);
	st_local_hms(t, sizeof(t));
	st_usyms_flush_pids(o->syms.usyms);
	qsort(rows, n, sizeof(*rows), row_cmp);
	for (size_t i = 0; i < n; i++) {
		total += rows[i].v.total_ns;
		episodes += rows[i].v.count;
	}
	shown = n < o->top ? n : o->top;

	if (o->lo.json) {
		json_object *j = json_object_new_object(), *arr = json_object_new_array();
		json_object *cnt = json_object_new_object(), *lost = json_object_new_object();
		json_object *att = json_object_new_object();

		json_object_object_add(j, "type", json_object_new_string("interval"));
		json_object_object_add(j, "time", json_object_new_string(t));
		json_object_object_add(j, "unix_s", json_object_new_double(st_real_ns() / 1e9));
		json_object_object_add(j, "interval_s", json_object_new_double(secs));
		json_object_object_add(j, "total_ns", json_object_new_int64((int64_t)total));
		json_object_object_add(j, "episodes", json_object_new_int64((int64_t)episodes));
		json_object_object_add(j, "rows", json_object_new_int64((int64_t)n));
		for (size_t i = 0; i < shown; i++) {
			json_object *r = json_object_new_object();

			json_object_object_add(r, "pid", json_object_new_int64(rows[i].k.tgid));
			json_object_object_add(r, "tid", json_object_new_int64(rows[i].k.tid));
			json_object_object_add(r, "comm", json_object_new_string(
				cpu_comm(rows[i].k.comm, comm)));
			json_object_object_add(r, "state", json_object_new_string_len(&rows[i].k.state, 1));
			json_object_object_add(r, "total_ns", json_object_new_int64((int64_t)rows[i].v.total_ns));
			json_object_object_add(r, "count", json_object_new_int64((int64_t)rows[i].v.count));
			json_object_object_add(r, "max_ns", json_object_new_int64((int64_t)rows[i].v.max_ns));
			json_stacks(o, r, rows[i].k.kstack, rows[i].k.ustack, rows[i].k.tgid);
			json_object_array_add(arr, r);
		}
		json_object_object_add(j, "stacks", arr);
		json_object_object_add(lost, "tasks", json_object_new_int64((int64_t)delta[ST_SC_LOST_TASKS]));
		json_object_object_add(lost, "map_full", json_object_new_int64((int64_t)delta[ST_SC_LOST_MAP]));
		json_object_object_add(lost, "stack", json_object_new_int64((int64_t)delta[ST_SC_LOST_STACK]));
		json_object_object_add(lost, "events", json_object_new_int64((int64_t)delta[ST_SC_LOST_EVENTS]));
		json_object_object_add(j, "lost", lost);
		for (int i = 0; i < ST_SC_MAX; i++)
			json_object_object_add(cnt, counter_names[i], json_object_new_int64((int64_t)delta[i]));
		json_object_object_add(j, "counters", cnt);
		json_object_object_add(att, "tracepoints", json_object_new_string(
			"sched:sched_switch,sched:sched_wakeup,sched:sched_wakeup_new"));
		json_object_object_add(att, "method", json_object_new_string(o->method));
		json_object_object_add(j, "attach", att);
		printf("%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
		json_object_put(j);
	} else if (!o->lo.verbose) {
		printf("%s off-CPU %s in %llu episodes, %zu stacks%s\n", t,
		       cpu_fmt_ns(total, d, sizeof(d)), (unsigned long long)episodes, n,
		       n > shown ? " (top ones shown; --top N for more)" : "");
		for (size_t i = 0; i < shown; i++) {
			const struct row *r = &rows[i];

			print_stacks(o, r->k.kstack, r->k.ustack, r->k.tgid, "    ");
			printf("    -                %s (%u/%u) %c\n", cpu_comm(r->k.comm, comm),
			       r->k.tgid, r->k.tid, r->k.state);
			printf("        %llu us in %llu episodes, max %s\n\n",
			       (unsigned long long)(r->v.total_ns / 1000),
			       (unsigned long long)r->v.count, cpu_fmt_ns(r->v.max_ns, d, sizeof(d)));
		}
	}
	if (!o->lo.json)
		print_lost(delta, t);
	free(rows);
	return 0;
}

static int setup(struct offcpu *o)
{
	int err;

	o->skel = cpu_sched_bpf__open();
	if (!o->skel) {
		fprintf(stderr, "error: cannot open the scheduler BPF object: %s\n", strerror(errno));
		return ST_EXIT_FAIL;
	}
	o->method = cpu_pick_method(o->skel->obj, "sched_switch", o->method_force, CMD);
	if (!o->method)
		return ST_EXIT_FAIL;
	o->skel->rodata->st_offcpu = 1;
	o->skel->rodata->st_events = o->lo.verbose;
	o->skel->rodata->st_tgid = o->lo.pid;
	o->skel->rodata->st_min_ns = (uint64_t)(o->min_us * 1000);
	o->skel->rodata->st_state_mask = o->state_mask;
	o->skel->rodata->st_user_stacks = !o->no_user;
	bpf_map__set_max_entries(o->skel->maps.hist0, 1);
	bpf_map__set_max_entries(o->skel->maps.hist1, 1);
	bpf_map__set_max_entries(o->skel->maps.runq_start, 1);
	if (!o->lo.verbose)
		bpf_map__set_max_entries(o->skel->maps.sched_events, 4096);
	err = cpu_sched_bpf__load(o->skel);
	if (err) {
		fprintf(stderr, "error: loading the scheduler BPF programs (%s) failed: %s\n",
			o->method, strerror(-err));
		return ST_EXIT_FAIL;
	}
	if (o->lo.verbose) {
		o->rb = ring_buffer__new(bpf_map__fd(o->skel->maps.sched_events), on_event, o, NULL);
		if (!o->rb) {
			fprintf(stderr, "error: cannot open the off-CPU event ring buffer: %s\n",
				strerror(errno));
			return ST_EXIT_FAIL;
		}
	}
	err = cpu_sched_bpf__attach(o->skel);
	if (err) {
		fprintf(stderr, "error: attaching to sched_switch/sched_wakeup (%s) failed: %s\n",
			o->method, strerror(-err));
		return ST_EXIT_FAIL;
	}
	return 0;
}

int cpu_offcpu(int argc, char **argv)
{
	static const struct st_cmd_help help = {
		.name = CMD,
		.summary = "Off-CPU time per thread and kernel+user stack (sched_switch).",
		.description =
"Sums the time threads spend off the CPU (blocked, sleeping or preempted)\n"
"per process, thread, comm, state (S, D, I: waiting for an event; R: for\n"
"a CPU), kernel stack and user stack, taken when the thread leaves the CPU,\n"
"and prints the top stacks per interval, the longest total first: kernel\n"
"frames, '--', user frames, '- comm (pid/tid) state', then the time.\n"
"-v prints one line per blocking episode instead (TIME PID COMM EVENT\n"
"DETAILS: time it left the CPU, duration, thread, state R/S/D/I, CPUs, the\n"
"task that woke it; --stacks adds its stacks). Episodes shorter than\n"
"--min-us, or that began in a state --state leaves out (--state S: sleeps\n"
"only; --state R: waits for a CPU only), are skipped in the kernel and\n"
"counted. User frames are resolved from /proc/PID/maps and ELF symbol\n"
"tables (no DWARF); the kernel walks user stacks by frame pointer, so code\n"
"built without frame pointers loses frames. Replaces offcputime-ts.py.",
		.examples =
"  stagetrace cpu offcpu -p 1234 -i 5\n"
"  stagetrace cpu offcpu -p 1234 --min-us 10000 -v --stacks\n"
"  stagetrace cpu offcpu --top 5 -c 1 --json",
	};
	struct offcpu o = { .min_us = 1, .top = 10 };
	struct st_opt opts[ST_LOCAL_NOPTS + 9];
	size_t no = 0;
	int rc, ec;

	st_local_opts_init(&o.lo);
	st_local_opts_table(&o.lo, OFFCPU_SUPPORTED, opts, &no, sizeof(opts) / sizeof(opts[0]) - 6);
	opts[no++] = (struct st_opt){ "min-us", 0, ST_OPT_DOUBLE, &o.min_us, "US",
				      "skip episodes shorter than US microseconds (default 1)",
				      0, 3.6e9 };
	opts[no++] = (struct st_opt){ "state", 0, ST_OPT_STR, &o.states, "LETTERS",
				      "only episodes that began in these states: R, S, D, I, T, t" };
	opts[no++] = (struct st_opt){ "top", 0, ST_OPT_U32, &o.top, "N",
				      "stacks per interval (default 10)", 1, 1e6 };
	opts[no++] = (struct st_opt){ "stacks", 0, ST_OPT_FLAG, &o.stacks, NULL,
				      "with -v: print each episode's stacks" };
	opts[no++] = (struct st_opt){ "no-user", 0, ST_OPT_FLAG, &o.no_user, NULL,
				      "kernel stacks only (cheaper)" };
	opts[no++] = (struct st_opt){ "method", 0, ST_OPT_STR, &o.method_force,
				      "tp_btf|raw_tp", "attach method (default: probed)" };
	opts[no] = (struct st_opt)ST_OPT_END;

	if (st_opts_parse_noargs(argc, argv, opts, &help, &ec))
		return ec;
	if ((rc = st_local_validate(&o.lo, OFFCPU_SUPPORTED, CMD)))
		return rc;
	if ((rc = cpu_check_pid(o.lo.pid)))
		return rc;
	if ((rc = st_local_method_check(o.method_force)))
		return rc;
	for (const char *c = o.states; c && *c; c++) {
		if (!strchr("RSDITt", *c)) {
			fprintf(stderr, "error: --state: '%c' is not a state (R, S, D, I, T or t)\n", *c);
			return ST_EXIT_USAGE;
		}
		o.state_mask |= st_task_state_bit(*c);
	}
	if (o.states && !o.state_mask) {
		fprintf(stderr, "error: --state needs at least one of R, S, D, I, T, t\n");
		return ST_EXIT_USAGE;
	}
	if (o.stacks && !o.lo.verbose) {
		fprintf(stderr, "error: --stacks is for -v (the tables always have stacks)\n");
		return ST_EXIT_USAGE;
	}
	if ((rc = st_local_require_root(CMD)))
		return rc;
	st_log_route_libbpf();
	o.ncpus = libbpf_num_possible_cpus();
	if (o.ncpus <= 0) {
		fprintf(stderr, "error: cannot count CPUs: %s\n", strerror(-o.ncpus));
		return ST_EXIT_FAIL;
	}
	cpu_syms_init(&o.syms);
	if (o.lo.pid) {
		char b[64];

		/* Read its maps now: it may have exited by the first report. */
		st_usyms_fmt(o.syms.usyms, o.lo.pid, 0, b, sizeof(b));
	}
	rc = setup(&o);
	if (!rc) {
		struct cpu_loop l = { .lo = &o.lo, .rb = o.rb, .gen = &o.skel->bss->sched_gen,
				      .report = report, .ctx = &o };

		st_local_signals();
		if (!o.lo.json)
			fprintf(stderr, "Tracing off-CPU time (sched_switch, %s)%s... Ctrl-C to end.\n",
				o.method, o.lo.verbose ? "" : ", top stacks per interval");
		if (o.lo.verbose && !o.lo.json)
			printf("%-15s %-7s %-16s %-6s %s\n", "TIME", "PID", "COMM", "EVENT", "DETAILS");
		rc = cpu_loop_run(&l);
		if (!o.lo.json)
			fprintf(stderr, "offcpu: %llu episodes, %llu shorter than --min-us; lost: "
				"%llu (task map full), %llu (count map full), %llu stacks, "
				"%llu events (ring full)\n",
				(unsigned long long)o.counters[ST_SC_SAMPLES],
				(unsigned long long)o.counters[ST_SC_SHORT],
				(unsigned long long)o.counters[ST_SC_LOST_TASKS],
				(unsigned long long)o.counters[ST_SC_LOST_MAP],
				(unsigned long long)o.counters[ST_SC_LOST_STACK],
				(unsigned long long)o.counters[ST_SC_LOST_EVENTS]);
	}
	ring_buffer__free(o.rb);
	cpu_sched_bpf__destroy(o.skel);
	cpu_syms_free(&o.syms);
	return rc;
}
