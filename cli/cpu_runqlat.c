// SPDX-License-Identifier: MIT
/*
 * stagetrace cpu runqlat: how long runnable threads wait for a CPU, from
 * the moment they are woken (or preempted while still runnable) to the
 * moment they run, as log-linear histograms per interval: one for
 * everything, one per CPU (--per-cpu, the CPU it ran on) or one per
 * process (--per-pid).
 *
 * The BPF side is bpf/cpu_sched.bpf.c in run-queue mode; histograms are the
 * sparse in-kernel ones of bpf/cpu_hist.h, so the quantiles printed under
 * each histogram have sub-bucket precision (within 1/128 of the value)
 * whatever the rows on screen show.
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

#define CMD "stagetrace cpu runqlat"
#define RQ_SUPPORTED (ST_LO_INTERVAL | ST_LO_DURATION | ST_LO_COUNT | ST_LO_PID | ST_LO_JSON)

struct runqlat {
	struct st_local_opts lo;
	int per_cpu, per_pid;
	const char *method_force, *method;
	struct cpu_sched_bpf *skel;
	uint64_t counters[ST_SC_MAX];
	int ncpus;
};

static const char *proc_comm(uint32_t pid, char *buf, size_t len)
{
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%u/comm", pid);
	snprintf(buf, len, "?");
	f = fopen(path, "re");
	if (f) {
		if (fgets(buf, (int)len, f))
			buf[strcspn(buf, "\n")] = '\0';
		fclose(f);
	}
	return buf;
}

static int report(void *ctx, uint32_t old_gen, double secs)
{
	struct runqlat *r = ctx;
	struct cpu_sched_bpf *s = r->skel;
	int fd = bpf_map__fd(old_gen & 1 ? s->maps.hist1 : s->maps.hist0);
	uint64_t delta[ST_SC_MAX];
	struct cpu_hist *hs = NULL;
	size_t n = cpu_hist_drain(fd, &hs);
	const char *by = r->per_cpu ? "cpu" : r->per_pid ? "pid" : "all";
	char t[16], comm[64];

	cpu_counters_read(bpf_map__fd(s->maps.sched_counters), r->ncpus, ST_SC_MAX,
			  r->counters, delta);
	st_local_hms(t, sizeof(t));
	if (r->lo.json) {
		json_object *j = json_object_new_object(), *arr = json_object_new_array();
		json_object *lost = json_object_new_object(), *att = json_object_new_object();

		json_object_object_add(j, "type", json_object_new_string("interval"));
		json_object_object_add(j, "time", json_object_new_string(t));
		json_object_object_add(j, "unix_s", json_object_new_double(st_real_ns() / 1e9));
		json_object_object_add(j, "interval_s", json_object_new_double(secs));
		json_object_object_add(j, "by", json_object_new_string(by));
		for (size_t i = 0; i < n; i++) {
			json_object *h = st_local_hist_json(&hs[i].h);

			if (r->per_cpu)
				json_object_object_add(h, "cpu", json_object_new_int64(hs[i].id));
			if (r->per_pid) {
				json_object_object_add(h, "pid", json_object_new_int64(hs[i].id));
				json_object_object_add(h, "comm", json_object_new_string(
					proc_comm(hs[i].id, comm, sizeof(comm))));
			}
			json_object_array_add(arr, h);
		}
		json_object_object_add(j, "hists", arr);
		json_object_object_add(lost, "tasks", json_object_new_int64((int64_t)delta[ST_SC_LOST_TASKS]));
		json_object_object_add(lost, "map_full", json_object_new_int64((int64_t)delta[ST_SC_LOST_MAP]));
		json_object_object_add(j, "lost", lost);
		json_object_object_add(j, "switches", json_object_new_int64((int64_t)delta[ST_SC_SWITCHES]));
		json_object_object_add(j, "wakeups", json_object_new_int64((int64_t)delta[ST_SC_WAKEUPS]));
		json_object_object_add(att, "tracepoints", json_object_new_string(
			"sched:sched_switch,sched:sched_wakeup,sched:sched_wakeup_new"));
		json_object_object_add(att, "method", json_object_new_string(r->method));
		json_object_object_add(j, "attach", att);
		printf("%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
		json_object_put(j);
	} else {
		uint64_t total = 0;

		for (size_t i = 0; i < n; i++)
			total += hs[i].h.count;
		printf("%s run-queue latency, %llu samples%s\n", t, (unsigned long long)total,
		       r->per_cpu ? ", per CPU" : r->per_pid ? ", per process" : "");
		if (!n)
			printf("    (no samples)\n");
		for (size_t i = 0; i < n; i++) {
			if (r->per_cpu)
				printf("\n  cpu %u\n", hs[i].id);
			else if (r->per_pid)
				printf("\n  pid %u (%s)\n", hs[i].id, proc_comm(hs[i].id, comm, sizeof(comm)));
			st_local_hist_print(&hs[i].h, "    ");
		}
		if (delta[ST_SC_LOST_TASKS] || delta[ST_SC_LOST_MAP])
			printf("%-8s lost: %llu samples (task map full), %llu (histogram map full)\n", t,
			       (unsigned long long)delta[ST_SC_LOST_TASKS],
			       (unsigned long long)delta[ST_SC_LOST_MAP]);
		printf("\n");
	}
	free(hs);
	return 0;
}

struct cpu_sched_bpf *cpu_runq_open(int by, uint32_t tgid, const char *force,
				    const char *cmd, const char **method)
{
	struct cpu_sched_bpf *skel = cpu_sched_bpf__open();
	int err;

	if (!skel) {
		fprintf(stderr, "error: cannot open the scheduler BPF object: %s\n", strerror(errno));
		return NULL;
	}
	*method = cpu_pick_method(skel->obj, "sched_switch", force, cmd);
	if (!*method)
		goto fail;
	skel->rodata->st_runqlat = 1;
	skel->rodata->st_tgid = tgid;
	skel->rodata->st_rq_by = (uint8_t)by;
	/* The off-CPU maps are unused in this mode. */
	bpf_map__set_max_entries(skel->maps.offcpu0, 1);
	bpf_map__set_max_entries(skel->maps.offcpu1, 1);
	bpf_map__set_max_entries(skel->maps.offcpu_start, 1);
	bpf_map__set_max_entries(skel->maps.sched_stacks, 1);
	bpf_map__set_max_entries(skel->maps.sched_events, 4096);
	err = cpu_sched_bpf__load(skel);
	if (err) {
		fprintf(stderr, "error: loading the scheduler BPF programs (%s) failed: %s\n",
			*method, strerror(-err));
		goto fail;
	}
	err = cpu_sched_bpf__attach(skel);
	if (err) {
		fprintf(stderr, "error: attaching to sched_switch/sched_wakeup (%s) failed: %s\n",
			*method, strerror(-err));
		goto fail;
	}
	return skel;
fail:
	cpu_sched_bpf__destroy(skel);
	return NULL;
}

int cpu_runqlat(int argc, char **argv)
{
	static const struct st_cmd_help help = {
		.name = CMD,
		.summary = "Run-queue latency histograms: wakeup (or preemption) to running.",
		.description =
"Measures, for every thread that becomes runnable, the time until it runs:\n"
"from sched_wakeup/sched_wakeup_new, or from sched_switch when a thread is\n"
"preempted and stays runnable, to the sched_switch that puts it on a CPU.\n"
"Prints a log-linear histogram per interval (four rows per power of two;\n"
"the count, mean and quantiles under it use the full sub-bucket precision),\n"
"for everything, per CPU (--per-cpu) or per process (--per-pid). Samples\n"
"lost to full maps are printed with the interval. Replaces\n"
"sched_latency_monitor.sh.",
		.examples =
"  stagetrace cpu runqlat -i 5 -c 1\n"
"  stagetrace cpu runqlat --per-cpu\n"
"  stagetrace cpu runqlat -p 1234 --json -d 10",
	};
	struct runqlat r = { 0 };
	struct st_opt opts[ST_LOCAL_NOPTS + 8];
	size_t no = 0;
	int rc, ec;

	st_local_opts_init(&r.lo);
	st_local_opts_table(&r.lo, RQ_SUPPORTED, opts, &no, sizeof(opts) / sizeof(opts[0]) - 4);
	opts[no++] = (struct st_opt){ "per-cpu", 0, ST_OPT_FLAG, &r.per_cpu, NULL,
				      "one histogram per CPU (the one the thread ran on)" };
	opts[no++] = (struct st_opt){ "per-pid", 0, ST_OPT_FLAG, &r.per_pid, NULL,
				      "one histogram per process" };
	opts[no++] = (struct st_opt){ "method", 0, ST_OPT_STR, &r.method_force,
				      "tp_btf|raw_tp", "attach method (default: probed)" };
	opts[no] = (struct st_opt)ST_OPT_END;

	if (st_opts_parse_noargs(argc, argv, opts, &help, &ec))
		return ec;
	if ((rc = st_local_validate(&r.lo, RQ_SUPPORTED, CMD)))
		return rc;
	if ((rc = cpu_check_pid(r.lo.pid)))
		return rc;
	if ((rc = st_local_method_check(r.method_force)))
		return rc;
	if (r.per_cpu && r.per_pid) {
		fprintf(stderr, "error: --per-cpu and --per-pid exclude each other\n");
		return ST_EXIT_USAGE;
	}
	if ((rc = st_local_require_root(CMD)))
		return rc;
	st_log_route_libbpf();
	r.ncpus = libbpf_num_possible_cpus();
	if (r.ncpus <= 0) {
		fprintf(stderr, "error: cannot count CPUs: %s\n", strerror(-r.ncpus));
		return ST_EXIT_FAIL;
	}
	r.skel = cpu_runq_open(r.per_cpu ? ST_RQ_BY_CPU : r.per_pid ? ST_RQ_BY_PID : ST_RQ_BY_ALL,
			       r.lo.pid, r.method_force, CMD, &r.method);
	rc = r.skel ? 0 : ST_EXIT_FAIL;
	if (!rc) {
		struct cpu_loop l = { .lo = &r.lo, .gen = &r.skel->bss->sched_gen,
				      .report = report, .ctx = &r };

		st_local_signals();
		if (!r.lo.json)
			fprintf(stderr, "Tracing run-queue latency (sched_switch/sched_wakeup, %s)... "
				"Ctrl-C to end.\n", r.method);
		rc = cpu_loop_run(&l);
		if (!r.lo.json)
			fprintf(stderr, "runqlat: %llu samples; lost: %llu (task map full), "
				"%llu (histogram map full)\n",
				(unsigned long long)r.counters[ST_SC_SAMPLES],
				(unsigned long long)r.counters[ST_SC_LOST_TASKS],
				(unsigned long long)r.counters[ST_SC_LOST_MAP]);
	}
	cpu_sched_bpf__destroy(r.skel);
	return rc;
}
