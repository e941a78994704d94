// SPDX-License-Identifier: MIT
/*
 * stagetrace cpu futex: futex calls per (process, address, operation) with
 * count, total, mean and max time in the call and how they ended, plus a
 * wait-time histogram per waiting operation, per interval (futex.bt).
 *
 * The BPF side is bpf/cpu_futex.bpf.c on raw_syscalls sys_enter/sys_exit;
 * the syscall numbers come from this architecture's <sys/syscall.h>. The
 * address is the futex word in the process's memory: the same address in
 * two rows of one process is the same lock or condition variable.
 */
#include <bpf/bpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

#include "bpf/cpu_futex.h"
#include "cli.h"
#include "cpu.h"
#include "localrun.h"
#include "cpu_futex.skel.h"
#include "log.h"
#include "opts.h"
#include "timeutil.h"

#define CMD "stagetrace cpu futex"
#define FUTEX_SUPPORTED (ST_LO_INTERVAL | ST_LO_DURATION | ST_LO_COUNT | ST_LO_PID | ST_LO_JSON)

/* Added to the kernel in 5.16; older C library headers do not name it. */
#ifndef SYS_futex_waitv
#define SYS_futex_waitv (-1)
#endif

static const char *const counter_names[ST_FC_MAX] = {
	[ST_FC_ENTER] = "calls",
	[ST_FC_EXIT] = "recorded",
	[ST_FC_NOSTART] = "stale_entries",
	[ST_FC_LOST_TASKS] = "lost_tasks",
	[ST_FC_LOST_MAP] = "lost_map_full",
	[ST_FC_LOST_HIST] = "lost_hist",
};

struct futex {
	struct st_local_opts lo;
	uint32_t top;
	int waits_only;
	const char *method_force, *method;
	struct cpu_futex_bpf *skel;
	uint64_t counters[ST_FC_MAX];
	int ncpus;
};

struct row {
	struct st_futex_key k;
	struct st_futex_val v;
};

/* The futex commands of include/uapi/linux/futex.h. */
static const char *const cmd_names[] = {
	"WAIT", "WAKE", "FD", "REQUEUE", "CMP_REQUEUE", "WAKE_OP", "LOCK_PI",
	"UNLOCK_PI", "TRYLOCK_PI", "WAIT_BITSET", "WAKE_BITSET", "WAIT_REQUEUE_PI",
	"CMP_REQUEUE_PI", "LOCK_PI2",
};

static const char *op_name(uint32_t op, char *buf, size_t len)
{
	uint32_t cmd = op & 127;

	if (op == ST_FUTEX_OP_WAITV) {
		snprintf(buf, len, "WAITV");
		return buf;
	}
	if (cmd < sizeof(cmd_names) / sizeof(cmd_names[0]))
		snprintf(buf, len, "%s%s%s", cmd_names[cmd], op & 128 ? "_PRIVATE" : "",
			 op & 256 ? "|CLOCK_REALTIME" : "");
	else
		snprintf(buf, len, "op%u", op);
	return buf;
}

static int is_wait(uint32_t op)
{
	uint32_t cmd = op & 127;

	return op == ST_FUTEX_OP_WAITV || cmd == 0 || cmd == 6 || cmd == 9 || cmd == 11 ||
	       cmd == 13;
}

static int row_cmp(const void *a, const void *b)
{
	const struct row *x = a, *y = b;

	if (x->v.total_ns != y->v.total_ns)
		return x->v.total_ns < y->v.total_ns ? 1 : -1;
	return x->k.uaddr < y->k.uaddr ? -1 : x->k.uaddr > y->k.uaddr;
}

static int report(void *ctx, uint32_t old_gen, double secs)
{
	struct futex *f = ctx;
	struct cpu_futex_bpf *s = f->skel;
	int fd = bpf_map__fd(old_gen & 1 ? s->maps.futex1 : s->maps.futex0);
	int hfd = bpf_map__fd(old_gen & 1 ? s->maps.fhist1 : s->maps.fhist0);
	uint64_t delta[ST_FC_MAX], calls = 0, waits = 0, wait_ns = 0;
	struct row *rows = NULL;
	struct cpu_hist *hs = NULL;
	size_t n = CPU_DRAIN(fd, ST_FUTEX_MAX_KEYS, &rows), nh = cpu_hist_drain(hfd, &hs), shown = 0;
	char t[16], ob[48], a[32], b[32], c[32], comm[17];

	cpu_counters_read(bpf_map__fd(s->maps.futex_counters), f->ncpus, ST_FC_MAX,
			  f->counters, delta);
	st_local_hms(t, sizeof(t));
	qsort(rows, n, sizeof(*rows), row_cmp);
	for (size_t i = 0; i < n; i++) {
		calls += rows[i].v.count;
		if (is_wait(rows[i].k.op)) {
			waits += rows[i].v.count;
			wait_ns += rows[i].v.total_ns;
		}
	}
	if (f->lo.json) {
		json_object *j = json_object_new_object(), *arr = json_object_new_array();
		json_object *ha = json_object_new_array(), *cnt = json_object_new_object();
		json_object *lost = json_object_new_object(), *att = json_object_new_object();

		json_object_object_add(j, "type", json_object_new_string("interval"));
		json_object_object_add(j, "time", json_object_new_string(t));
		json_object_object_add(j, "unix_s", json_object_new_double(st_real_ns() / 1e9));
		json_object_object_add(j, "interval_s", json_object_new_double(secs));
		json_object_object_add(j, "calls", json_object_new_int64((int64_t)calls));
		json_object_object_add(j, "waits", json_object_new_int64((int64_t)waits));
		json_object_object_add(j, "wait_ns", json_object_new_int64((int64_t)wait_ns));
		json_object_object_add(j, "rows", json_object_new_int64((int64_t)n));
		for (size_t i = 0; i < n && shown < f->top; i++) {
			const struct row *r = &rows[i];
			json_object *o;
			char ua[24];

			if (f->waits_only && !is_wait(r->k.op))
				continue;
			shown++;
			o = json_object_new_object();
			snprintf(ua, sizeof(ua), "0x%llx", (unsigned long long)r->k.uaddr);
			json_object_object_add(o, "pid", json_object_new_int64(r->k.tgid));
			json_object_object_add(o, "comm", json_object_new_string(cpu_comm(r->v.comm, comm)));
			json_object_object_add(o, "uaddr", json_object_new_string(ua));
			json_object_object_add(o, "op", json_object_new_string(op_name(r->k.op, ob, sizeof(ob))));
			json_object_object_add(o, "op_code", json_object_new_int64(r->k.op));
			json_object_object_add(o, "wait", json_object_new_boolean(is_wait(r->k.op)));
			json_object_object_add(o, "count", json_object_new_int64((int64_t)r->v.count));
			json_object_object_add(o, "total_ns", json_object_new_int64((int64_t)r->v.total_ns));
			json_object_object_add(o, "max_ns", json_object_new_int64((int64_t)r->v.max_ns));
			json_object_object_add(o, "errors", json_object_new_int64((int64_t)r->v.errors));
			json_object_object_add(o, "timeouts", json_object_new_int64((int64_t)r->v.timeouts));
			json_object_object_add(o, "eagain", json_object_new_int64((int64_t)r->v.again));
			json_object_array_add(arr, o);
		}
		json_object_object_add(j, "futexes", arr);
		for (size_t i = 0; i < nh; i++) {
			json_object *h = st_local_hist_json(&hs[i].h);

			json_object_object_add(h, "op", json_object_new_string(op_name(hs[i].id, ob, sizeof(ob))));
			json_object_array_add(ha, h);
		}
		json_object_object_add(j, "hists", ha);
		json_object_object_add(lost, "tasks", json_object_new_int64((int64_t)delta[ST_FC_LOST_TASKS]));
		json_object_object_add(lost, "map_full", json_object_new_int64((int64_t)delta[ST_FC_LOST_MAP]));
		json_object_object_add(lost, "hist", json_object_new_int64((int64_t)delta[ST_FC_LOST_HIST]));
		json_object_object_add(j, "lost", lost);
		for (int i = 0; i < ST_FC_MAX; i++)
			json_object_object_add(cnt, counter_names[i], json_object_new_int64((int64_t)delta[i]));
		json_object_object_add(j, "counters", cnt);
		json_object_object_add(att, "tracepoints", json_object_new_string(
			"raw_syscalls:sys_enter,raw_syscalls:sys_exit"));
		json_object_object_add(att, "method", json_object_new_string(f->method));
		json_object_object_add(j, "attach", att);
		printf("%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
		json_object_put(j);
	} else {
		printf("%s futex: %llu calls, %llu waits, %s waiting\n", t, (unsigned long long)calls,
		       (unsigned long long)waits, cpu_fmt_ns(wait_ns, a, sizeof(a)));
		printf("%-7s %-16s %-18s %-20s %8s %8s %10s %10s %10s\n", "PID", "COMM", "UADDR", "OP",
		       "CALLS", "ERRORS", "TOTAL", "AVG", "MAX");
		for (size_t i = 0; i < n && shown < f->top; i++) {
			const struct row *r = &rows[i];

			if (f->waits_only && !is_wait(r->k.op))
				continue;
			shown++;
			printf("%-7u %-16s 0x%-16llx %-20s %8llu %8llu %10s %10s %10s\n", r->k.tgid,
			       cpu_comm(r->v.comm, comm), (unsigned long long)r->k.uaddr,
			       op_name(r->k.op, ob, sizeof(ob)), (unsigned long long)r->v.count,
			       (unsigned long long)r->v.errors, cpu_fmt_ns(r->v.total_ns, a, sizeof(a)),
			       cpu_fmt_ns(r->v.count ? r->v.total_ns / r->v.count : 0, b, sizeof(b)),
			       cpu_fmt_ns(r->v.max_ns, c, sizeof(c)));
		}
		if (n > shown && !f->waits_only)
			printf("(%zu more rows; --top N shows more)\n", n - shown);
		for (size_t i = 0; i < nh; i++) {
			printf("\n  wait time, %s\n", op_name(hs[i].id, ob, sizeof(ob)));
			st_local_hist_print(&hs[i].h, "    ");
		}
		if (delta[ST_FC_LOST_TASKS] || delta[ST_FC_LOST_MAP] || delta[ST_FC_LOST_HIST])
			printf("%-8s lost: %llu calls (in-flight map full), %llu (count map full), "
			       "%llu histogram samples\n", t,
			       (unsigned long long)delta[ST_FC_LOST_TASKS],
			       (unsigned long long)delta[ST_FC_LOST_MAP],
			       (unsigned long long)delta[ST_FC_LOST_HIST]);
		printf("\n");
	}
	free(rows);
	free(hs);
	return 0;
}

static int setup(struct futex *f)
{
	int err;

	f->skel = cpu_futex_bpf__open();
	if (!f->skel) {
		fprintf(stderr, "error: cannot open the futex BPF object: %s\n", strerror(errno));
		return ST_EXIT_FAIL;
	}
	f->method = cpu_pick_method(f->skel->obj, "sys_enter", f->method_force, CMD);
	if (!f->method)
		return ST_EXIT_FAIL;
	f->skel->rodata->st_nr_futex = SYS_futex;
	f->skel->rodata->st_nr_futex_waitv = SYS_futex_waitv;
	f->skel->rodata->st_tgid = f->lo.pid;
	err = cpu_futex_bpf__load(f->skel);
	if (err) {
		fprintf(stderr, "error: loading the futex BPF programs (%s) failed: %s\n",
			f->method, strerror(-err));
		return ST_EXIT_FAIL;
	}
	err = cpu_futex_bpf__attach(f->skel);
	if (err) {
		fprintf(stderr, "error: attaching to raw_syscalls sys_enter/sys_exit (%s) failed: %s\n",
			f->method, strerror(-err));
		return ST_EXIT_FAIL;
	}
	return 0;
}

int cpu_futex(int argc, char **argv)
{
	static const struct st_cmd_help help = {
		.name = CMD,
		.summary = "futex calls and wait time per process, address and operation.",
		.description =
"Times every futex(2) and futex_waitv(2) call from entry to return\n"
"(raw_syscalls sys_enter/sys_exit; no tracefs needed) and prints per\n"
"interval one row per (process, futex address, operation), the most time\n"
"first: calls, errors (-ETIMEDOUT, -EAGAIN ... ; --json splits them),\n"
"total, mean and max time. Then one wait-time histogram per waiting\n"
"operation (WAIT, WAIT_BITSET, LOCK_PI, LOCK_PI2, WAIT_REQUEUE_PI, WAITV).\n"
"The futex2 single-futex calls of Linux 6.7+ (futex_wait/futex_wake) are not\n"
"traced. Replaces futex.bt.",
		.examples =
"  stagetrace cpu futex -p 1234 -i 5\n"
"  stagetrace cpu futex --waits --top 5 -c 1\n"
"  stagetrace cpu futex -p 1234 --json -d 10",
	};
	struct futex f = { .top = 20 };
	struct st_opt opts[ST_LOCAL_NOPTS + 8];
	size_t no = 0;
	int rc, ec;

	st_local_opts_init(&f.lo);
	st_local_opts_table(&f.lo, FUTEX_SUPPORTED, opts, &no, sizeof(opts) / sizeof(opts[0]) - 4);
	opts[no++] = (struct st_opt){ "top", 0, ST_OPT_U32, &f.top, "N",
				      "rows per interval (default 20)", 1, 1e6 };
	opts[no++] = (struct st_opt){ "waits", 0, ST_OPT_FLAG, &f.waits_only, NULL,
				      "rows of waiting operations only" };
	opts[no++] = (struct st_opt){ "method", 0, ST_OPT_STR, &f.method_force,
				      "tp_btf|raw_tp", "attach method (default: probed)" };
	opts[no] = (struct st_opt)ST_OPT_END;

	if (st_opts_parse_noargs(argc, argv, opts, &help, &ec))
		return ec;
	if ((rc = st_local_validate(&f.lo, FUTEX_SUPPORTED, CMD)))
		return rc;
	if ((rc = cpu_check_pid(f.lo.pid)))
		return rc;
	if ((rc = st_local_method_check(f.method_force)))
		return rc;
	if ((rc = st_local_require_root(CMD)))
		return rc;
	st_log_route_libbpf();
	f.ncpus = libbpf_num_possible_cpus();
	if (f.ncpus <= 0) {
		fprintf(stderr, "error: cannot count CPUs: %s\n", strerror(-f.ncpus));
		return ST_EXIT_FAIL;
	}
	rc = setup(&f);
	if (!rc) {
		struct cpu_loop l = { .lo = &f.lo, .gen = &f.skel->bss->futex_gen,
				      .report = report, .ctx = &f };

		st_local_signals();
		if (!f.lo.json)
			fprintf(stderr, "Tracing futex calls (raw_syscalls, %s)... Ctrl-C to end.\n",
				f.method);
		rc = cpu_loop_run(&l);
		if (!f.lo.json)
			fprintf(stderr, "futex: %llu calls recorded; lost: %llu (in-flight map full), "
				"%llu (count map full), %llu histogram samples\n",
				(unsigned long long)f.counters[ST_FC_EXIT],
				(unsigned long long)f.counters[ST_FC_LOST_TASKS],
				(unsigned long long)f.counters[ST_FC_LOST_MAP],
				(unsigned long long)f.counters[ST_FC_LOST_HIST]);
	}
	cpu_futex_bpf__destroy(f.skel);
	return rc;
}
