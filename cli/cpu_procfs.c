// SPDX-License-Identifier: MIT
/*
 * The /proc readers of `stagetrace cpu top` (see cpu_procfs.h): CPU time
 * per CPU and state from /proc/stat, run-queue wait per CPU from
 * /proc/schedstat, and per process utime/stime, threads, state and last
 * CPU from /proc/PID/stat and run-queue wait from
 * /proc/PID/task/TID/schedstat. Parsers only; no policy.
 */
#include "cpu_procfs.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "timeutil.h"

#define MAX_CPUS 4096

/* ---- /proc/stat and /proc/schedstat ---------------------------------------- */

void cpu_snap_free(struct sys_snap *s)
{
	free(s->cpus);
	memset(s, 0, sizeof(*s));
}

struct cpustat *cpu_snap_cpu(struct sys_snap *s, int cpu)
{
	for (size_t i = 0; i < s->ncpus; i++)
		if (s->cpus[i].cpu == cpu)
			return &s->cpus[i];
	return NULL;
}

int cpu_read_stat(struct sys_snap *s, int *have_schedstat)
{
	char line[4096];
	FILE *f = fopen("/proc/stat", "re");
	size_t cap = 0;

	memset(s, 0, sizeof(*s));
	s->mono_ns = st_mono_ns();
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long v[C_N] = { 0 };
		int cpu = -1;

		if (!strncmp(line, "cpu", 3)) {
			char *p = line + 3;

			if (isdigit((unsigned char)*p))
				cpu = (int)strtol(p, &p, 10);
			if (sscanf(p, "%llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
				   &v[3], &v[4], &v[5], &v[6], &v[7]) < 4 || s->ncpus >= MAX_CPUS)
				continue;
			if (s->ncpus == cap) {
				struct cpustat *nv;

				cap = cap ? cap * 2 : 16;
				nv = realloc(s->cpus, cap * sizeof(*nv));
				if (!nv)
					break;
				s->cpus = nv;
			}
			s->cpus[s->ncpus].cpu = cpu;
			for (int i = 0; i < C_N; i++)
				s->cpus[s->ncpus].t[i] = v[i];
			s->cpus[s->ncpus].run_delay_ns = UINT64_MAX;
			s->ncpus++;
		} else if (sscanf(line, "ctxt %llu", &v[0]) == 1) {
			s->ctxt = v[0];
		} else if (sscanf(line, "processes %llu", &v[0]) == 1) {
			s->forks = v[0];
		} else if (sscanf(line, "intr %llu", &v[0]) == 1) {
			s->intr = v[0];
		} else if (sscanf(line, "procs_running %llu", &v[0]) == 1) {
			s->running = v[0];
		} else if (sscanf(line, "procs_blocked %llu", &v[0]) == 1) {
			s->blocked = v[0];
		}
	}
	fclose(f);

	/* "cpuN yld_count legacy sched_count sched_goidle ttwu_count
	 * ttwu_local rq_cpu_time run_delay pcount" (schedstats version 15+). */
	f = fopen("/proc/schedstat", "re");
	*have_schedstat = f != NULL;
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long long v[9];
		int cpu;

		if (sscanf(line, "cpu%d %llu %llu %llu %llu %llu %llu %llu %llu %llu", &cpu, &v[0],
			   &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8]) == 10) {
			struct cpustat *c = cpu_snap_cpu(s, cpu);

			if (c)
				c->run_delay_ns = v[7];
		}
	}
	if (f)
		fclose(f);
	return 0;
}

/* ---- processes ------------------------------------------------------------------ */

int cpu_read_proc(uint32_t pid, struct proc *p)
{
	char path[64], buf[2048], *rp;
	unsigned long long ut, st, start;
	long threads;
	int cpu;
	char state;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* comm is in parentheses and may itself contain ") ". */
	rp = strrchr(buf, ')');
	if (!rp || !strchr(buf, '('))
		return -EINVAL;
	/* After ")": state(3) ... utime(14) stime(15) ... num_threads(20)
	 * ... starttime(22) ... processor(39). */
	if (sscanf(rp + 2, "%c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d "
		   "%ld %*d %llu %*u %*d %*u %*u %*u %*u %*u %*u %*u %*u %*u %*u %*u %*u %*u "
		   "%*d %d", &state, &ut, &st, &threads, &start, &cpu) != 6)
		return -EINVAL;
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	p->state = state;
	p->ticks = ut + st;
	p->threads = (uint32_t)threads;
	p->start = start;
	p->cpu = cpu;
	p->read_at = st_mono_ns();
	n = (size_t)(rp - strchr(buf, '(') - 1);
	if (n >= sizeof(p->comm))
		n = sizeof(p->comm) - 1;
	memcpy(p->comm, strchr(buf, '(') + 1, n);
	p->comm[n] = '\0';
	return 0;
}

int cpu_proc_cmp_pid(const void *a, const void *b)
{
	const struct proc *x = a, *y = b;

	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

int cpu_proc_cmp_pct(const void *a, const void *b)
{
	const struct proc *x = a, *y = b;

	if (x->pct != y->pct)
		return x->pct < y->pct ? 1 : -1;
	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

/* Every process (or only pid), sorted by pid. */
size_t cpu_scan_procs(uint32_t only, struct proc **out)
{
	struct proc *v = NULL, p;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;

	*out = NULL;
	if (only) {
		v = malloc(sizeof(*v));
		if (v && !cpu_read_proc(only, v)) {
			*out = v;
			return 1;
		}
		free(v);
		return 0;
	}
	d = opendir("/proc");
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char *end;
		unsigned long pid = strtoul(de->d_name, &end, 10);

		if (*end || !pid || cpu_read_proc((uint32_t)pid, &p))
			continue;
		if (n == cap) {
			struct proc *nv;

			cap = cap ? cap * 2 : 512;
			nv = realloc(v, cap * sizeof(*nv));
			if (!nv)
				break;
			v = nv;
		}
		v[n++] = p;
	}
	closedir(d);
	if (n)
		qsort(v, n, sizeof(*v), cpu_proc_cmp_pid);
	*out = v;
	return n;
}

/* Run-queue wait of all threads of pid so far (ns); UINT64_MAX if unknown. */
int cpu_proc_sched(uint32_t pid, uint64_t *run_ns, uint64_t *wait_ns)
{
	char path[64];
	struct dirent *de;
	uint64_t run = 0, wait = 0;
	int any = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%u/task", pid);
	d = opendir(path);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		unsigned long long r, w;
		char p2[300];
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(p2, sizeof(p2), "/proc/%u/task/%s/schedstat", pid, de->d_name);
		f = fopen(p2, "re");
		if (!f)
			continue;
		if (fscanf(f, "%llu %llu", &r, &w) == 2) {
			run += r;
			wait += w;
			any = 1;
		}
		fclose(f);
	}
	closedir(d);
	if (!any)
		return -ENOENT;
	*run_ns = run;
	*wait_ns = wait;
	return 0;
}
