// SPDX-License-Identifier: MIT
/*
 * What the cpu modes share (see cpu.h): attach method selection, stack
 * printing with kernel and user symbols, counter and histogram draining,
 * and the interval loop with generation flips.
 */
#include "cpu.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bpf/cpu_hist.h"
#include "attach_probe.h"
#include "localrun.h"
#include "log.h"
#include "opts.h"
#include "timeutil.h"

/* ---- attach ----------------------------------------------------------------- */

int cpu_check_pid(uint32_t pid)
{
	if (!pid || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
		return 0;
	fprintf(stderr, "error: -p %u: no such process\n", pid);
	return ST_EXIT_USAGE;
}

const char *cpu_pick_method(struct bpf_object *obj, const char *tp, const char *force,
			    const char *cmd)
{
	const char *method;
	struct bpf_program *p;
	char why[400] = "";

	/* The main hook decides the method (probed, or forced); every other
	 * tracepoint pair of the object must then take the same one. */
	method = st_local_tp_select(obj, tp, force, why, sizeof(why));
	if (!method) {
		fprintf(stderr, "error: %s cannot attach to %s: %s\n", cmd, tp, why);
		return NULL;
	}
	bpf_object__for_each_program(p, obj) {
		const char *n = bpf_program__name(p);

		if (strncmp(n, "btf_", 4) || !strcmp(n + 4, tp))
			continue;
		if (!st_local_tp_select(obj, n + 4, method, why, sizeof(why))) {
			fprintf(stderr, "error: %s cannot attach to %s: %s\n", cmd, n + 4, why);
			return NULL;
		}
	}
	return method;
}

/* ---- symbols ------------------------------------------------------------------ */

void cpu_syms_init(struct cpu_syms *s)
{
	memset(s, 0, sizeof(*s));
	if (st_ksyms_load(&s->ksyms))
		pr_warn("cannot read /proc/kallsyms; kernel frames are printed as addresses");
	else
		s->have_ksyms = 1;
	s->usyms = st_usyms_new();
}

void cpu_syms_free(struct cpu_syms *s)
{
	if (s->have_ksyms)
		st_ksyms_free(&s->ksyms);
	st_usyms_free(s->usyms);
	memset(s, 0, sizeof(*s));
}

int cpu_stack_frames(struct cpu_syms *s, int fd, int32_t id, int depth, int user,
		     uint32_t pid, json_object *arr, const char *indent)
{
	uint64_t *ips;
	char buf[512];
	int n = 0;

	if (id < 0 || depth <= 0)
		return 0;
	ips = calloc((size_t)depth, sizeof(*ips));
	if (!ips || bpf_map_lookup_elem(fd, &id, ips)) {
		free(ips);
		return 0;
	}
	for (int i = 0; i < depth && ips[i]; i++) {
		/* The first kernel frames are the BPF program and the tracing
		 * glue that called it: they say nothing about the task. */
		if (!user && !n && s->have_ksyms) {
			const struct st_ksym *k = st_ksyms_find(&s->ksyms, ips[i]);

			if (!k || ips[i] - k->addr >= 0x100000 ||
			    !strncmp(k->name, "bpf_trace_run", 13) ||
			    !strncmp(k->name, "__bpf_trace_", 12) ||
			    !strncmp(k->name, "__traceiter_", 12) ||
			    !strncmp(k->name, "bpf_prog_", 9))
				continue;
		}
		n++;
		if (user)
			st_usyms_fmt(s->usyms, pid, ips[i], buf, sizeof(buf));
		else
			st_ksyms_fmt(s->have_ksyms ? &s->ksyms : NULL, ips[i], buf, sizeof(buf));
		if (arr)
			json_object_array_add(arr, json_object_new_string(buf));
		else
			printf("%s%s\n", indent, buf);
	}
	free(ips);
	return n;
}

/* ---- counters and histograms ------------------------------------------------ */

void cpu_counters_read(int fd, int ncpus, uint32_t n, uint64_t *totals, uint64_t *delta)
{
	for (uint32_t i = 0; i < n; i++) {
		uint64_t sum = st_local_percpu_sum(fd, i, ncpus);

		delta[i] = sum - totals[i];
		totals[i] = sum;
	}
}

size_t cpu_map_drain(int fd, size_t ksz, size_t vsz, size_t voff, size_t row_size,
		     size_t max, void **rows)
{
	void *keys = NULL, *vals = NULL;
	size_t n = st_local_map_drain(fd, ksz, vsz, max, &keys, &vals);
	unsigned char *r = calloc(n ? n : 1, row_size);

	*rows = r;
	if (!r || (!keys && max) || (!vals && max)) {
		/* Whatever was read is gone from the map: say so. */
		pr_warn("out of memory draining a BPF map; %zu rows lost", n);
		n = 0;
	}
	for (size_t i = 0; r && i < n; i++) {
		memcpy(r + i * row_size, (unsigned char *)keys + i * ksz, ksz);
		memcpy(r + i * row_size + voff, (unsigned char *)vals + i * vsz, vsz);
	}
	free(keys);
	free(vals);
	return n;
}

static int hist_cmp(const void *a, const void *b)
{
	const struct cpu_hist *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static struct cpu_hist *hist_for(struct cpu_hist **v, size_t *n, uint32_t id)
{
	struct cpu_hist *nv;

	for (size_t i = 0; i < *n; i++)
		if ((*v)[i].id == id)
			return &(*v)[i];
	nv = realloc(*v, (*n + 1) * sizeof(*nv));
	if (!nv)
		return NULL;
	*v = nv;
	nv = &(*v)[(*n)++];
	nv->id = id;
	st_hist_init(&nv->h);
	return nv;
}

size_t cpu_hist_drain(int fd, struct cpu_hist **out)
{
	struct hrow {
		struct st_cpu_hkey k;
		uint64_t v;
	} *rows = NULL;
	size_t nr = CPU_DRAIN(fd, ST_CPU_HIST_MAX_ENTRIES, &rows);
	struct cpu_hist *v = NULL;
	size_t n = 0;

	*out = NULL;
	for (size_t i = 0; i < nr; i++) {
		struct cpu_hist *h = hist_for(&v, &n, rows[i].k.id);
		uint64_t val = rows[i].v;

		if (!h)
			break;
		switch (rows[i].k.bucket) {
		case ST_CPU_HB_SUM:
			h->h.sum += val;
			break;
		case ST_CPU_HB_MIN:
			h->h.min = val;
			break;
		case ST_CPU_HB_MAX:
			h->h.max = val;
			break;
		default:
			if (rows[i].k.bucket < ST_HIST_NBUCKETS) {
				h->h.buckets[rows[i].k.bucket] += val;
				h->h.count += val;
			}
		}
	}
	free(rows);
	/* A full map can have kept the buckets but not the min/max entries:
	 * fall back to the bounds of the outermost buckets. */
	for (size_t i = 0; i < n; i++) {
		struct st_hist *h = &v[i].h;

		for (uint32_t b = 0; h->count && b < ST_HIST_NBUCKETS; b++)
			if (h->buckets[b]) {
				if (h->min == UINT64_MAX || h->min < st_hist_bucket_low(b))
					h->min = st_hist_bucket_low(b);
				break;
			}
		for (uint32_t b = ST_HIST_NBUCKETS; h->count && b-- > 0;)
			if (h->buckets[b]) {
				if (h->max < st_hist_bucket_low(b))
					h->max = st_hist_bucket_high(b) - 1;
				break;
			}
		if (!h->count)
			h->min = UINT64_MAX;
	}
	if (n)
		qsort(v, n, sizeof(*v), hist_cmp);
	*out = v;
	return n;
}

const char *cpu_fmt_ns(uint64_t ns, char *buf, size_t len)
{
	if (ns < 10000)
		snprintf(buf, len, "%lluns", (unsigned long long)ns);
	else if (ns < 10000000)
		snprintf(buf, len, "%.1fus", ns / 1e3);
	else if (ns < 10000000000ull)
		snprintf(buf, len, "%.1fms", ns / 1e6);
	else
		snprintf(buf, len, "%.2fs", ns / 1e9);
	return buf;
}

const char *cpu_comm(const char comm[16], char buf[17])
{
	memcpy(buf, comm, 16);
	buf[16] = '\0';
	return buf;
}

/* ---- the loop ------------------------------------------------------------------ */

int cpu_loop_run(struct cpu_loop *l)
{
	struct st_local_ticker tk;
	uint32_t gen = 0, idle = 0;
	int rc, stop;

	st_local_ticker_init(&tk, l->lo->interval, l->lo->duration);
	for (;;) {
		uint64_t next = st_local_ticker_next(&tk), now;
		double secs;

		while (st_mono_ns() < next && !st_local_stop)
			st_local_wait(next, l->rb, 100);
		now = st_mono_ns();
		/* Switch the programs to the other maps, let those already
		 * running finish, and drain the ones left idle. */
		if (l->gen)
			idle = (uint32_t)st_local_gen_flip(l->gen, &gen, l->rb);
		else if (l->rb)
			ring_buffer__consume(l->rb);
		stop = st_local_ticker_end(&tk, now, l->lo->count, &secs);
		rc = l->report(l->ctx, idle, secs);
		if (rc)
			return rc;
		fflush(stdout);
		if (stop)
			break;
	}
	return 0;
}
