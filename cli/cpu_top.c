// SPDX-License-Identifier: MIT
/*
 * stagetrace cpu top: CPU utilisation per CPU and the busiest processes,
 * one table per interval (cpu_monitor.sh).
 *
 * Everything comes from /proc, on purpose: the kernel already accounts
 * CPU time per CPU (/proc/stat) and per task at every tick and context
 * switch, so reading the counters twice costs nothing while the system
 * runs, needs no root, and sees every CPU state (irq, softirq, steal,
 * iowait) that a sched_switch probe cannot tell apart. Processes are ranked
 * by clock ticks from /proc/PID/stat (one cheap read each); the rows shown
 * then get exact run and run-queue wait times from their threads'
 * /proc/PID/task/TID/schedstat (CONFIG_SCHED_INFO), one read for both, so
 * the two shares are over the same window. Per CPU, run-queue wait comes
 * from /proc/schedstat when the kernel has CONFIG_SCHEDSTATS, else from the
 * runqlat BPF programs with --bpf, else the column says "-". What /proc
 * cannot show: processes that start and exit within one interval (their
 * time is in the CPU lines but in no process row).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cpu.h"
#include "cpu_procfs.h"
#include "cpu_sched.skel.h"
#include "log.h"
#include "bpf/cpu_sched.h"
#include "opts.h"
#include "timeutil.h"

#define CMD "stagetrace cpu top"
#define TOP_SUPPORTED (ST_LO_INTERVAL | ST_LO_DURATION | ST_LO_COUNT | ST_LO_PID | ST_LO_JSON)

struct top {
	struct st_local_opts lo;
	uint32_t ntop;
	long hz;
	struct sys_snap prev;
	struct proc *pprev;
	int bpf;			/* --bpf: per-CPU run-queue wait from sched tracepoints */
	const char *method;
	struct cpu_sched_bpf *skel;
	size_t npprev;
	int have_schedstat;
};

/* ---- report ------------------------------------------------------------------------ */

static double pct(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0;
}

struct cpu_line {
	int cpu;
	double usr, sys, irq, iowait, steal, idle, busy, rqwait;	/* % */
};

static void cpu_delta(const struct cpustat *a, const struct cpustat *b, double secs,
		      struct cpu_line *l)
{
	uint64_t d[C_N], all = 0;

	for (int i = 0; i < C_N; i++) {
		d[i] = b->t[i] >= a->t[i] ? b->t[i] - a->t[i] : 0;
		all += d[i];
	}
	l->cpu = b->cpu;
	l->usr = pct(d[C_USER] + d[C_NICE], all);
	l->sys = pct(d[C_SYS], all);
	l->irq = pct(d[C_IRQ] + d[C_SOFTIRQ], all);
	l->iowait = pct(d[C_IOWAIT], all);
	l->steal = pct(d[C_STEAL], all);
	l->idle = pct(d[C_IDLE], all);
	l->busy = all ? 100.0 - l->idle - l->iowait : 0;
	l->rqwait = -1;
	if (a->run_delay_ns != UINT64_MAX && b->run_delay_ns != UINT64_MAX && secs > 0)
		l->rqwait = 100.0 * (double)(b->run_delay_ns - a->run_delay_ns) / (secs * 1e9);
}

/* A percentage with two decimals, printed as such (not as %.17g). */
static json_object *jdbl(double v)
{
	char b[32];

	snprintf(b, sizeof(b), "%.2f", v);
	return json_object_new_double_s(strtod(b, NULL), b);
}

static int report(void *ctx, uint32_t gen, double secs_loop)
{
	struct top *t = ctx;
	struct sys_snap now;
	struct proc *cur = NULL;
	size_t ncur, shown = 0;
	struct cpu_line *lines;
	double secs, ctxs, forks, intrs;
	char tb[16];
	int hs;

	if (cpu_read_stat(&now, &hs)) {
		fprintf(stderr, "error: cannot read /proc/stat: %s\n", strerror(errno));
		return ST_EXIT_FAIL;
	}
	ncur = cpu_scan_procs(t->lo.pid, &cur);
	secs = (now.mono_ns - t->prev.mono_ns) / 1e9;
	st_local_hms(tb, sizeof(tb));
	lines = calloc(now.ncpus ? now.ncpus : 1, sizeof(*lines));
	for (size_t i = 0; lines && i < now.ncpus; i++) {
		struct cpustat *a = cpu_snap_cpu(&t->prev, now.cpus[i].cpu);

		if (a)
			cpu_delta(a, &now.cpus[i], secs, &lines[i]);
		else
			lines[i].cpu = now.cpus[i].cpu, lines[i].rqwait = -1;
	}
	if (t->skel && lines) {
		/* Per CPU: the waits that ended on it between the two
		 * generation flips, over the time between the flips. */
		int fd = bpf_map__fd(gen & 1 ? t->skel->maps.hist1 : t->skel->maps.hist0);
		struct cpu_hist *hs_ = NULL;
		size_t nh = cpu_hist_drain(fd, &hs_);

		for (size_t i = 0; i < now.ncpus; i++) {
			if (lines[i].cpu < 0)
				continue;
			lines[i].rqwait = 0;
			for (size_t k = 0; k < nh; k++)
				if (hs_[k].id == (uint32_t)lines[i].cpu && secs_loop > 0)
					lines[i].rqwait = 100.0 * (double)hs_[k].h.sum /
							  (secs_loop * 1e9);
		}
		free(hs_);
	}
	/* The "all" line: the mean over the CPUs, when every CPU has one. */
	for (size_t i = 0; lines && i < now.ncpus; i++) {
		double sum = 0;
		size_t n = 0, known = 0;

		if (lines[i].cpu >= 0)
			continue;
		for (size_t k = 0; k < now.ncpus; k++)
			if (lines[k].cpu >= 0) {
				n++;
				if (lines[k].rqwait >= 0) {
					sum += lines[k].rqwait;
					known++;
				}
			}
		lines[i].rqwait = n && known == n ? sum / (double)n : -1;
	}
	ctxs = secs > 0 ? (now.ctxt - t->prev.ctxt) / secs : 0;
	forks = secs > 0 ? (now.forks - t->prev.forks) / secs : 0;
	intrs = secs > 0 ? (now.intr - t->prev.intr) / secs : 0;

	/* Per process: ticks since the previous scan of the same process,
	 * over the time between the two reads. */
	for (size_t i = 0; i < ncur; i++) {
		struct proc key = { .pid = cur[i].pid };
		struct proc *p = t->npprev ? bsearch(&key, t->pprev, t->npprev, sizeof(key),
						     cpu_proc_cmp_pid) : NULL;
		int same = p && p->start == cur[i].start;
		/* A process born during the interval counts from zero. */
		uint64_t base = same ? p->ticks : 0;
		double win = same ? (cur[i].read_at - p->read_at) / 1e9 : secs;

		cur[i].pct = win > 0 ? 100.0 * (double)(cur[i].ticks - base) / (double)t->hz / win : 0;
		cur[i].run_ns = same ? p->run_ns : 0;
		cur[i].wait_ns = same ? p->wait_ns : UINT64_MAX;
		cur[i].sched_at = same ? p->sched_at : 0;
		cur[i].wait_pct = -1;
	}
	/* Keep this scan (sorted by pid) as the next baseline. */
	free(t->pprev);
	t->pprev = malloc((ncur ? ncur : 1) * sizeof(*cur));
	if (t->pprev)
		memcpy(t->pprev, cur, ncur * sizeof(*cur));
	t->npprev = t->pprev ? ncur : 0;
	/* Wait baselines are read for the rows shown only (below); the
	 * others have none for the next interval rather than a stale one. */
	for (size_t i = 0; i < t->npprev; i++)
		t->pprev[i].wait_ns = UINT64_MAX;
	qsort(cur, ncur, sizeof(*cur), cpu_proc_cmp_pct);

	/*
	 * The rows shown: exact CPU and wait time from the threads' schedstat
	 * (a directory walk, so only for them). A row that was shown last
	 * interval too has a baseline: its CPU% and RQWT% are then exact and
	 * over one window, so they add up to at most 100 % per thread. A row
	 * new to the table keeps its CPU% from clock ticks (which the kernel
	 * scales to the exact total, but only over the process's lifetime, so
	 * one interval can be off by tens of %) and has no RQWT% yet.
	 */
	shown = ncur < t->ntop ? ncur : t->ntop;
	for (size_t i = 0; i < shown; i++) {
		struct proc key = { .pid = cur[i].pid }, *p;
		uint64_t run, wait, at;

		if (cpu_proc_sched(cur[i].pid, &run, &wait))
			continue;
		at = st_mono_ns();
		if (cur[i].wait_ns != UINT64_MAX && at > cur[i].sched_at &&
		    run >= cur[i].run_ns && wait >= cur[i].wait_ns) {
			cur[i].pct = 100.0 * (double)(run - cur[i].run_ns) /
				     (double)(at - cur[i].sched_at);
			cur[i].wait_pct = 100.0 * (double)(wait - cur[i].wait_ns) /
					  (double)(at - cur[i].sched_at);
		}
		p = bsearch(&key, t->pprev, t->npprev, sizeof(key), cpu_proc_cmp_pid);
		if (p) {
			p->run_ns = run;
			p->wait_ns = wait;
			p->sched_at = at;
		}
	}
	/* The exact figures can reorder the rows shown. */
	qsort(cur, shown, sizeof(*cur), cpu_proc_cmp_pct);

	if (t->lo.json) {
		json_object *j = json_object_new_object(), *ca = json_object_new_array();
		json_object *pa = json_object_new_array();

		json_object_object_add(j, "type", json_object_new_string("interval"));
		json_object_object_add(j, "time", json_object_new_string(tb));
		json_object_object_add(j, "unix_s", json_object_new_double(st_real_ns() / 1e9));
		json_object_object_add(j, "interval_s", json_object_new_double(secs));
		json_object_object_add(j, "ctxt_per_s", jdbl(ctxs));
		json_object_object_add(j, "forks_per_s", jdbl(forks));
		json_object_object_add(j, "intr_per_s", jdbl(intrs));
		json_object_object_add(j, "procs_running", json_object_new_int64((int64_t)now.running));
		json_object_object_add(j, "procs_blocked", json_object_new_int64((int64_t)now.blocked));
		for (size_t i = 0; lines && i < now.ncpus; i++) {
			json_object *c = json_object_new_object();

			if (lines[i].cpu < 0)
				json_object_object_add(c, "cpu", json_object_new_string("all"));
			else
				json_object_object_add(c, "cpu", json_object_new_int(lines[i].cpu));
			json_object_object_add(c, "busy", jdbl(lines[i].busy));
			json_object_object_add(c, "usr", jdbl(lines[i].usr));
			json_object_object_add(c, "sys", jdbl(lines[i].sys));
			json_object_object_add(c, "irq", jdbl(lines[i].irq));
			json_object_object_add(c, "iowait", jdbl(lines[i].iowait));
			json_object_object_add(c, "steal", jdbl(lines[i].steal));
			json_object_object_add(c, "idle", jdbl(lines[i].idle));
			json_object_object_add(c, "rq_wait", lines[i].rqwait < 0 ? NULL :
					       jdbl(lines[i].rqwait));
			json_object_array_add(ca, c);
		}
		json_object_object_add(j, "cpus", ca);
		for (size_t i = 0; i < shown; i++) {
			json_object *p = json_object_new_object();

			json_object_object_add(p, "pid", json_object_new_int64(cur[i].pid));
			json_object_object_add(p, "comm", json_object_new_string(cur[i].comm));
			json_object_object_add(p, "cpu_pct", jdbl(cur[i].pct));
			json_object_object_add(p, "rq_wait_pct", cur[i].wait_pct < 0 ? NULL :
					       jdbl(cur[i].wait_pct));
			json_object_object_add(p, "threads", json_object_new_int64(cur[i].threads));
			json_object_object_add(p, "last_cpu", json_object_new_int(cur[i].cpu));
			json_object_object_add(p, "state", json_object_new_string_len(&cur[i].state, 1));
			json_object_array_add(pa, p);
		}
		json_object_object_add(j, "procs", pa);
		json_object_object_add(j, "source", json_object_new_string(
			t->skel ? "/proc/stat,/proc/PID,bpf:sched_switch/sched_wakeup" :
			t->have_schedstat ? "/proc/stat,/proc/schedstat,/proc/PID" :
					    "/proc/stat,/proc/PID"));
		printf("%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
		json_object_put(j);
	} else {
		char rq[16];

		printf("%s  ctxsw/s %.0f  forks/s %.0f  intr/s %.0f  running %llu  blocked %llu\n", tb,
		       ctxs, forks, intrs, (unsigned long long)now.running,
		       (unsigned long long)now.blocked);
		printf("%-5s %6s %6s %6s %6s %6s %6s %6s %7s\n", "CPU", "BUSY%", "USR%", "SYS%",
		       "IRQ%", "IOWT%", "STEAL%", "IDLE%", "RQWT%");
		for (size_t i = 0; lines && i < now.ncpus; i++) {
			char name[16];
			const struct cpu_line *l = &lines[i];

			if (l->cpu < 0)
				snprintf(name, sizeof(name), "all");
			else
				snprintf(name, sizeof(name), "%d", l->cpu);
			if (l->rqwait < 0)
				snprintf(rq, sizeof(rq), "-");
			else
				snprintf(rq, sizeof(rq), "%.1f", l->rqwait);
			printf("%-5s %6.1f %6.1f %6.1f %6.1f %6.1f %6.1f %6.1f %7s\n", name, l->busy,
			       l->usr, l->sys, l->irq, l->iowait, l->steal, l->idle, rq);
		}
		printf("%-7s %-16s %6s %7s %4s %3s %s\n", "PID", "COMM", "CPU%", "RQWT%", "THR", "CPU",
		       "S");
		for (size_t i = 0; i < shown; i++) {
			if (cur[i].wait_pct < 0)
				snprintf(rq, sizeof(rq), "-");
			else
				snprintf(rq, sizeof(rq), "%.1f", cur[i].wait_pct);
			printf("%-7u %-16s %6.1f %7s %4u %3d %c\n", cur[i].pid, cur[i].comm, cur[i].pct,
			       rq, cur[i].threads, cur[i].cpu, cur[i].state);
		}
		if (t->lo.pid && !ncur)
			printf("(process %u is gone)\n", t->lo.pid);
		printf("\n");
	}
	free(lines);
	free(cur);
	cpu_snap_free(&t->prev);
	t->prev = now;
	t->have_schedstat = hs;
	return 0;
}

int cpu_top(int argc, char **argv)
{
	static const struct st_cmd_help help = {
		.name = CMD,
		.summary = "CPU utilisation per CPU and the busiest processes, per interval (/proc).",
		.description =
"Every interval: context switches, forks and interrupts per second, the\n"
"running and blocked task counts; per CPU (and 'all') the busy, user,\n"
"system, irq+softirq, iowait, steal and idle shares and the run-queue wait\n"
"(RQWT%: time tasks spent waiting for that CPU, a sum over tasks, so 200\n"
"is two waiting on average); then the top processes by\n"
"CPU (100 % = one CPU) with the share of the interval their threads spent\n"
"runnable but waiting (RQWT%), threads, last CPU and state.\n"
"\n"
"Sources: /proc/stat; /proc/PID/stat to rank processes (clock ticks);\n"
"/proc/PID/task/TID/schedstat for the rows shown (exact ns; a row new to\n"
"the table shows tick-based CPU% and no RQWT% yet). No root is needed.\n"
"Per-CPU RQWT% comes from /proc/schedstat, which needs CONFIG_SCHEDSTATS\n"
"('-' without it), or with --bpf (root) from the sched_switch/sched_wakeup\n"
"tracepoints; a wait counts in the interval it ends in. Processes that\n"
"start and exit within one interval appear in the CPU lines but in no\n"
"process row. Replaces cpu_monitor.sh.",
		.examples =
"  stagetrace cpu top\n"
"  stagetrace cpu top -i 5 --top 20\n"
"  stagetrace cpu top -p 1234 --json -c 3",
	};
	struct top t = { .ntop = 10 };
	struct st_opt opts[ST_LOCAL_NOPTS + 6];
	size_t no = 0;
	int rc, ec;

	st_local_opts_init(&t.lo);
	st_local_opts_table(&t.lo, TOP_SUPPORTED, opts, &no, sizeof(opts) / sizeof(opts[0]) - 2);
	opts[no++] = (struct st_opt){ "top", 0, ST_OPT_U32, &t.ntop, "N",
				      "processes per interval (default 10)", 1, 1e6 };
	opts[no++] = (struct st_opt){ "bpf", 0, ST_OPT_FLAG, &t.bpf, NULL,
				      "per-CPU run-queue wait from sched tracepoints (root)" };
	opts[no] = (struct st_opt)ST_OPT_END;

	if (st_opts_parse_noargs(argc, argv, opts, &help, &ec))
		return ec;
	if ((rc = st_local_validate(&t.lo, TOP_SUPPORTED, CMD)))
		return rc;
	if ((rc = cpu_check_pid(t.lo.pid)))
		return rc;
	if (t.bpf) {
		if ((rc = st_local_require_root(CMD)))
			return rc;
		st_log_route_libbpf();
		t.skel = cpu_runq_open(ST_RQ_BY_CPU, 0, NULL, CMD, &t.method);
		if (!t.skel)
			return ST_EXIT_FAIL;
	}
	t.hz = sysconf(_SC_CLK_TCK);
	if (t.hz <= 0)
		t.hz = 100;
	if (cpu_read_stat(&t.prev, &t.have_schedstat)) {
		fprintf(stderr, "error: cannot read /proc/stat: %s\n", strerror(errno));
		cpu_sched_bpf__destroy(t.skel);
		return ST_EXIT_FAIL;
	}
	t.npprev = cpu_scan_procs(t.lo.pid, &t.pprev);
	for (size_t i = 0; i < t.npprev; i++) {
		struct proc *p = &t.pprev[i];

		if (cpu_proc_sched(p->pid, &p->run_ns, &p->wait_ns))
			p->wait_ns = UINT64_MAX;
		p->sched_at = st_mono_ns();
	}
	{
		struct cpu_loop l = { .lo = &t.lo, .report = report, .ctx = &t,
				      .gen = t.skel ? &t.skel->bss->sched_gen : NULL };

		st_local_signals();
		rc = cpu_loop_run(&l);
	}
	cpu_snap_free(&t.prev);
	free(t.pprev);
	cpu_sched_bpf__destroy(t.skel);
	return rc;
}
