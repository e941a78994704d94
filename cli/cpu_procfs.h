/* SPDX-License-Identifier: MIT */
/*
 * /proc readers for `stagetrace cpu top`: snapshots of the kernel's own CPU
 * accounting, taken once per interval and subtracted. /proc/stat gives CPU
 * time per CPU and state in USER_HZ ticks; /proc/schedstat (only with
 * CONFIG_SCHEDSTATS) the run-queue wait per CPU; /proc/PID/stat a process's
 * utime + stime, thread count, state and last CPU; /proc/PID/task/TID/schedstat
 * (CONFIG_SCHED_INFO) each thread's run-queue wait in ns.
 */
#ifndef ST_CLI_CPU_PROCFS_H
#define ST_CLI_CPU_PROCFS_H

#include <stddef.h>
#include <stdint.h>

/* The fields of a "cpuN" line of /proc/stat, in USER_HZ ticks. */
enum { C_USER, C_NICE, C_SYS, C_IDLE, C_IOWAIT, C_IRQ, C_SOFTIRQ, C_STEAL, C_N };

struct cpustat {
	int cpu;		/* -1: the "cpu" total line */
	uint64_t t[C_N];
	uint64_t run_delay_ns;	/* /proc/schedstat; UINT64_MAX: unknown */
};

struct sys_snap {
	struct cpustat *cpus;	/* [0] is the total */
	size_t ncpus;
	uint64_t ctxt, forks, intr;
	uint64_t running, blocked;
	uint64_t mono_ns;
};

struct proc {
	uint32_t pid;
	uint64_t start;		/* starttime, to tell a reused pid apart */
	uint64_t ticks;		/* utime + stime */
	uint32_t threads;
	int cpu;		/* last CPU it ran on */
	char state;
	char comm[32];
	uint64_t read_at;	/* CLOCK_MONOTONIC ns when ticks were read */
	uint64_t run_ns;	/* cpu_proc_sched() at sched_at; */
	uint64_t wait_ns;	/* wait_ns UINT64_MAX: not read */
	uint64_t sched_at;	/* CLOCK_MONOTONIC ns */
	/* This interval, each over the time between its own two reads (a
	 * loaded machine can delay one read more than the other). */
	double pct;
	double wait_pct;	/* < 0: unknown */
};

void cpu_snap_free(struct sys_snap *s);
struct cpustat *cpu_snap_cpu(struct sys_snap *s, int cpu);
/* 0 or -errno; *have_schedstat: /proc/schedstat was there. */
int cpu_read_stat(struct sys_snap *s, int *have_schedstat);
/* One process; 0 or -errno. */
int cpu_read_proc(uint32_t pid, struct proc *p);
int cpu_proc_cmp_pid(const void *a, const void *b);
int cpu_proc_cmp_pct(const void *a, const void *b);	/* by pct, descending */
/* Every process (or only pid), sorted by pid; *out freed by the caller. */
size_t cpu_scan_procs(uint32_t only, struct proc **out);
/*
 * Time on a CPU and time runnable but waiting, summed over the threads pid
 * has now, in ns (/proc/PID/task/TID/schedstat, exact: no tick sampling).
 * 0, or -errno (gone, or no CONFIG_SCHED_INFO).
 */
int cpu_proc_sched(uint32_t pid, uint64_t *run_ns, uint64_t *wait_ns);

#endif /* ST_CLI_CPU_PROCFS_H */
