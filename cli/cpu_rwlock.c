// SPDX-License-Identifier: MIT
/*
 * stagetrace cpu rwlock: time threads spend in pthread_rwlock_wrlock and
 * pthread_rwlock_rdlock, per (process, lock, operation, caller, stack),
 * with a histogram per operation (pthread_rwlock_wrlock.bt).
 *
 * Uprobes need a file and an offset: the C library is the one the target
 * process has mapped (-p), else the one `ldconfig -p` names, else --lib.
 * The function's offset comes from the library's own ELF symbols
 * (common/usym.c), so versioned symbols (pthread_rwlock_wrlock@@GLIBC_2.34)
 * and C libraries where the functions live in libpthread both work.
 */
#include <bpf/bpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpf/cpu_rwlock.h"
#include "cli.h"
#include "cpu.h"
#include "cpu_rwlock.skel.h"
#include "log.h"
#include "opts.h"
#include "timeutil.h"

#define CMD "stagetrace cpu rwlock"
#define RW_SUPPORTED (ST_LO_INTERVAL | ST_LO_DURATION | ST_LO_COUNT | ST_LO_PID | ST_LO_JSON)

static const char *const counter_names[ST_RC_MAX] = {
	[ST_RC_CALLS] = "calls",
	[ST_RC_RECORDED] = "recorded",
	[ST_RC_SHORT] = "filtered_short",
	[ST_RC_NOSTART] = "no_start",
	[ST_RC_LOST_TASKS] = "lost_tasks",
	[ST_RC_LOST_MAP] = "lost_map_full",
	[ST_RC_LOST_STACK] = "lost_stack",
	[ST_RC_LOST_HIST] = "lost_hist",
};

static const char *const op_names[] = { "wrlock", "rdlock" };
static const char *const fn_names[] = { "pthread_rwlock_wrlock", "pthread_rwlock_rdlock" };

struct rwlock {
	struct st_local_opts lo;
	double min_us;
	uint32_t top;
	int stacks, no_rd;
	const char *lib;
	char libpath[4200];
	uint64_t offs[2];
	struct cpu_rwlock_bpf *skel;
	struct bpf_link *links[4];
	struct cpu_syms syms;
	uint64_t counters[ST_RC_MAX];
	int ncpus;
};

struct row {
	struct st_rwlock_key k;
	struct st_rwlock_val v;
};

/* A 64-bit ELF file (the class this program runs as). */
static int elf64(const char *path)
{
	unsigned char id[5];
	FILE *f = fopen(path, "re");
	int ok;

	if (!f)
		return 0;
	ok = fread(id, 1, 5, f) == 5 && !memcmp(id, "\177ELF", 4) &&
	     id[4] == (sizeof(void *) == 8 ? 2 : 1);
	fclose(f);
	return ok;
}

/* Both functions in path? Offsets into offs. */
static int lib_has(const char *path, uint64_t offs[2])
{
	return elf64(path) && !st_elf_func_offset(path, fn_names[0], &offs[0]) &&
	       !st_elf_func_offset(path, fn_names[1], &offs[1]);
}

/* The C library to probe; 0, or ST_EXIT_FAIL after a one-line error. */
static int find_lib(struct rwlock *r)
{
	static const char *const prefixes[] = { "libc.so", "libpthread.so" };
	char line[1024];
	FILE *p;

	if (r->lib) {
		snprintf(r->libpath, sizeof(r->libpath), "%s", r->lib);
		if (lib_has(r->libpath, r->offs))
			return 0;
		fprintf(stderr, "error: --lib %s: no %s/%s in its symbols (or not a %d-bit ELF file)\n",
			r->lib, fn_names[0], fn_names[1], (int)sizeof(void *) * 8);
		return ST_EXIT_FAIL;
	}
	if (r->lo.pid) {
		for (size_t i = 0; i < 2; i++)
			if (!st_proc_find_lib(r->lo.pid, prefixes[i], r->libpath, sizeof(r->libpath)) &&
			    lib_has(r->libpath, r->offs))
				return 0;
		fprintf(stderr, "error: process %u maps no C library with %s (static binary? "
			"give --lib)\n", r->lo.pid, fn_names[0]);
		return ST_EXIT_FAIL;
	}
	/* "\tlibc.so.6 (libc6,x86-64) => /lib/x86_64-linux-gnu/libc.so.6" */
	p = popen("ldconfig -p 2>/dev/null || /sbin/ldconfig -p 2>/dev/null", "r");
	while (p && fgets(line, sizeof(line), p)) {
		char *arrow = strstr(line, "=> "), *name = line + strspn(line, " \t");

		if (!arrow || (strncmp(name, "libc.so.", 8) && strncmp(name, "libpthread.so.", 14)))
			continue;
		arrow += 3;
		arrow[strcspn(arrow, "\n")] = '\0';
		snprintf(r->libpath, sizeof(r->libpath), "%s", arrow);
		if (lib_has(r->libpath, r->offs)) {
			pclose(p);
			return 0;
		}
	}
	if (p)
		pclose(p);
	fprintf(stderr, "error: no C library with %s found by ldconfig -p (give --lib or -p)\n",
		fn_names[0]);
	return ST_EXIT_FAIL;
}

static int row_cmp(const void *a, const void *b)
{
	const struct row *x = a, *y = b;

	if (x->v.total_ns != y->v.total_ns)
		return x->v.total_ns < y->v.total_ns ? 1 : -1;
	return x->k.lock < y->k.lock ? -1 : x->k.lock > y->k.lock;
}

/* The user stack without its first frame (the rwlock function itself;
 * the caller, from the key, stands in for the frame the walk skips). */
static void stack_json(struct rwlock *r, const struct row *w, json_object *o)
{
	json_object *arr = json_object_new_array(), *all = json_object_new_array();
	char buf[512];

	json_object_array_add(arr, json_object_new_string(
		st_usyms_fmt(r->syms.usyms, w->k.tgid, w->k.caller, buf, sizeof(buf))));
	cpu_stack_frames(&r->syms, bpf_map__fd(r->skel->maps.rw_stacks), w->k.ustack,
			 ST_RWLOCK_STACK_DEPTH, 1, w->k.tgid, all, NULL);
	for (size_t i = 1; i < json_object_array_length(all); i++)
		json_object_array_add(arr, json_object_get(json_object_array_get_idx(all, i)));
	json_object_put(all);
	json_object_object_add(o, "stack", arr);
}

static int report(void *ctx, uint32_t old_gen, double secs)
{
	struct rwlock *r = ctx;
	struct cpu_rwlock_bpf *s = r->skel;
	int fd = bpf_map__fd(old_gen & 1 ? s->maps.rw1 : s->maps.rw0);
	int hfd = bpf_map__fd(old_gen & 1 ? s->maps.rwhist1 : s->maps.rwhist0);
	uint64_t delta[ST_RC_MAX], calls = 0, total = 0;
	struct row *rows = NULL;
	struct cpu_hist *hs = NULL;
	size_t n = CPU_DRAIN(fd, ST_RWLOCK_MAX_KEYS, &rows), nh = cpu_hist_drain(hfd, &hs), shown;
	char t[16], a[32], b[32], c[32], comm[17], caller[512];

	cpu_counters_read(bpf_map__fd(s->maps.rw_counters), r->ncpus, ST_RC_MAX, r->counters, delta);
	st_local_hms(t, sizeof(t));
	st_usyms_flush_pids(r->syms.usyms);
	qsort(rows, n, sizeof(*rows), row_cmp);
	for (size_t i = 0; i < n; i++) {
		calls += rows[i].v.count;
		total += rows[i].v.total_ns;
	}
	shown = n < r->top ? n : r->top;
	if (r->lo.json) {
		json_object *j = json_object_new_object(), *arr = json_object_new_array();
		json_object *ha = json_object_new_array(), *cnt = json_object_new_object();
		json_object *lost = json_object_new_object(), *att = json_object_new_object();

		json_object_object_add(j, "type", json_object_new_string("interval"));
		json_object_object_add(j, "time", json_object_new_string(t));
		json_object_object_add(j, "unix_s", json_object_new_double(st_real_ns() / 1e9));
		json_object_object_add(j, "interval_s", json_object_new_double(secs));
		json_object_object_add(j, "calls", json_object_new_int64((int64_t)calls));
		json_object_object_add(j, "total_ns", json_object_new_int64((int64_t)total));
		json_object_object_add(j, "rows", json_object_new_int64((int64_t)n));
		for (size_t i = 0; i < shown; i++) {
			const struct row *w = &rows[i];
			json_object *o = json_object_new_object();
			char la[24];

			snprintf(la, sizeof(la), "0x%llx", (unsigned long long)w->k.lock);
			json_object_object_add(o, "pid", json_object_new_int64(w->k.tgid));
			json_object_object_add(o, "comm", json_object_new_string(cpu_comm(w->v.comm, comm)));
			json_object_object_add(o, "lock", json_object_new_string(la));
			json_object_object_add(o, "op", json_object_new_string(op_names[w->k.op & 1]));
			json_object_object_add(o, "count", json_object_new_int64((int64_t)w->v.count));
			json_object_object_add(o, "total_ns", json_object_new_int64((int64_t)w->v.total_ns));
			json_object_object_add(o, "max_ns", json_object_new_int64((int64_t)w->v.max_ns));
			json_object_object_add(o, "errors", json_object_new_int64((int64_t)w->v.errors));
			json_object_object_add(o, "caller", json_object_new_string(
				st_usyms_fmt(r->syms.usyms, w->k.tgid, w->k.caller, caller, sizeof(caller))));
			if (r->stacks)
				stack_json(r, w, o);
			json_object_array_add(arr, o);
		}
		json_object_object_add(j, "locks", arr);
		for (size_t i = 0; i < nh; i++) {
			json_object *h = st_local_hist_json(&hs[i].h);

			json_object_object_add(h, "op", json_object_new_string(op_names[hs[i].id & 1]));
			json_object_array_add(ha, h);
		}
		json_object_object_add(j, "hists", ha);
		json_object_object_add(lost, "tasks", json_object_new_int64((int64_t)delta[ST_RC_LOST_TASKS]));
		json_object_object_add(lost, "map_full", json_object_new_int64((int64_t)delta[ST_RC_LOST_MAP]));
		json_object_object_add(lost, "stack", json_object_new_int64((int64_t)delta[ST_RC_LOST_STACK]));
		json_object_object_add(lost, "hist", json_object_new_int64((int64_t)delta[ST_RC_LOST_HIST]));
		json_object_object_add(j, "lost", lost);
		for (int i = 0; i < ST_RC_MAX; i++)
			json_object_object_add(cnt, counter_names[i], json_object_new_int64((int64_t)delta[i]));
		json_object_object_add(j, "counters", cnt);
		json_object_object_add(att, "library", json_object_new_string(r->libpath));
		json_object_object_add(att, "method", json_object_new_string("uprobe"));
		json_object_object_add(j, "attach", att);
		printf("%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
		json_object_put(j);
	} else {
		printf("%s rwlock: %llu calls, %s in the calls\n", t, (unsigned long long)calls,
		       cpu_fmt_ns(total, a, sizeof(a)));
		if (delta[ST_RC_SHORT])
			printf("%s (%llu calls under --min-us not shown)\n", t,
			       (unsigned long long)delta[ST_RC_SHORT]);
		printf("%-7s %-16s %-18s %-6s %7s %6s %10s %10s %10s  %s\n", "PID", "COMM", "LOCK", "OP",
		       "CALLS", "ERRORS", "TOTAL", "AVG", "MAX", "CALLER");
		for (size_t i = 0; i < shown; i++) {
			const struct row *w = &rows[i];

			printf("%-7u %-16s 0x%-16llx %-6s %7llu %6llu %10s %10s %10s  %s\n", w->k.tgid,
			       cpu_comm(w->v.comm, comm), (unsigned long long)w->k.lock,
			       op_names[w->k.op & 1], (unsigned long long)w->v.count,
			       (unsigned long long)w->v.errors, cpu_fmt_ns(w->v.total_ns, a, sizeof(a)),
			       cpu_fmt_ns(w->v.count ? w->v.total_ns / w->v.count : 0, b, sizeof(b)),
			       cpu_fmt_ns(w->v.max_ns, c, sizeof(c)),
			       st_usyms_fmt(r->syms.usyms, w->k.tgid, w->k.caller, caller, sizeof(caller)));
		}
		if (n > shown)
			printf("(%zu more rows; --top N shows more)\n", n - shown);
		for (size_t i = 0; i < nh; i++) {
			printf("\n  time in pthread_rwlock_%s\n", op_names[hs[i].id & 1]);
			st_local_hist_print(&hs[i].h, "    ");
		}
		if (r->stacks && shown) {
			printf("\n  stacks\n");
			for (size_t i = 0; i < shown; i++) {
				json_object *o = json_object_new_object(), *st;

				stack_json(r, &rows[i], o);
				st = json_object_object_get(o, "stack");
				printf("    %llu %s calls of %s (%u), %s:\n",
				       (unsigned long long)rows[i].v.count, op_names[rows[i].k.op & 1],
				       cpu_comm(rows[i].v.comm, comm), rows[i].k.tgid,
				       cpu_fmt_ns(rows[i].v.total_ns, a, sizeof(a)));
				for (size_t k = 0; k < json_object_array_length(st); k++)
					printf("      %s\n", json_object_get_string(
						json_object_array_get_idx(st, k)));
				json_object_put(o);
			}
		}
		if (delta[ST_RC_LOST_TASKS] || delta[ST_RC_LOST_MAP] || delta[ST_RC_LOST_STACK] ||
		    delta[ST_RC_LOST_HIST])
			printf("%-8s lost: %llu calls (in-flight map full), %llu (count map full), "
			       "%llu stacks, %llu histogram samples\n", t,
			       (unsigned long long)delta[ST_RC_LOST_TASKS],
			       (unsigned long long)delta[ST_RC_LOST_MAP],
			       (unsigned long long)delta[ST_RC_LOST_STACK],
			       (unsigned long long)delta[ST_RC_LOST_HIST]);
		printf("\n");
	}
	free(rows);
	free(hs);
	return 0;
}

static int setup(struct rwlock *r)
{
	struct bpf_program *entry[2];
	int err, pid = r->lo.pid ? (int)r->lo.pid : -1, nl = 0;

	r->skel = cpu_rwlock_bpf__open();
	if (!r->skel) {
		fprintf(stderr, "error: cannot open the rwlock BPF object: %s\n", strerror(errno));
		return ST_EXIT_FAIL;
	}
	r->skel->rodata->st_min_ns = (uint64_t)(r->min_us * 1000);
	r->skel->rodata->st_stacks = r->stacks;
	if (!r->stacks)
		bpf_map__set_max_entries(r->skel->maps.rw_stacks, 1);
	err = cpu_rwlock_bpf__load(r->skel);
	if (err) {
		fprintf(stderr, "error: loading the rwlock BPF programs failed: %s\n", strerror(-err));
		return ST_EXIT_FAIL;
	}
	entry[0] = r->skel->progs.rw_wrlock;
	entry[1] = r->skel->progs.rw_rdlock;
	for (int op = 0; op < (r->no_rd ? 1 : 2); op++) {
		/* The return probe first: an entry without its return would
		 * leave a thread in flight for ever. */
		r->links[nl] = bpf_program__attach_uprobe(r->skel->progs.rw_return, true, pid,
							  r->libpath, r->offs[op]);
		if (!r->links[nl]) {
			err = -errno;
			goto fail;
		}
		nl++;
		r->links[nl] = bpf_program__attach_uprobe(entry[op], false, pid, r->libpath,
							  r->offs[op]);
		if (!r->links[nl]) {
			err = -errno;
			goto fail;
		}
		nl++;
		continue;
fail:
		fprintf(stderr, "error: uprobe on %s (%s+0x%llx) failed: %s\n", fn_names[op],
			r->libpath, (unsigned long long)r->offs[op], strerror(-err));
		return ST_EXIT_FAIL;
	}
	return 0;
}

int cpu_rwlock(int argc, char **argv)
{
	static const struct st_cmd_help help = {
		.name = CMD,
		.summary = "pthread rwlock waits via uprobes: counts, time histograms, callers, stacks.",
		.description =
"Times every call of the C library's pthread_rwlock_wrlock and\n"
"pthread_rwlock_rdlock (uprobe at entry, uretprobe at return) and prints per\n"
"interval one row per (process, lock address, operation, caller), the most\n"
"time first, then a histogram of the time in the call per operation. The\n"
"time in the call is the wait for the lock plus the probes' own cost (an\n"
"uncontended call takes tens of ns, ~10 us under the probes); --min-us N\n"
"keeps only calls of at least N us, the real waits (the others are counted). --stacks adds the callers' user stacks. The\n"
"library is the one process -p has mapped, else ldconfig's libc.so.6, else\n"
"--lib. Statically linked programs need --lib pointing at the program.\n"
"Replaces pthread_rwlock_wrlock.bt.",
		.examples =
"  stagetrace cpu rwlock -p 1234 -i 5\n"
"  stagetrace cpu rwlock -p 1234 --min-us 1000 --stacks -c 1\n"
"  stagetrace cpu rwlock --lib /usr/lib/x86_64-linux-gnu/libc.so.6 --json -d 10",
	};
	struct rwlock r = { .top = 20 };
	struct st_opt opts[ST_LOCAL_NOPTS + 8];
	size_t no = 0;
	int rc, ec;

	st_local_opts_init(&r.lo);
	st_local_opts_table(&r.lo, RW_SUPPORTED, opts, &no, sizeof(opts) / sizeof(opts[0]) - 6);
	opts[no++] = (struct st_opt){ "min-us", 0, ST_OPT_DOUBLE, &r.min_us, "US",
				      "record only calls of at least US microseconds (default 0)",
				      0, 3.6e9 };
	opts[no++] = (struct st_opt){ "top", 0, ST_OPT_U32, &r.top, "N",
				      "rows per interval (default 20)", 1, 1e6 };
	opts[no++] = (struct st_opt){ "stacks", 0, ST_OPT_FLAG, &r.stacks, NULL,
				      "record and print the callers' user stacks" };
	opts[no++] = (struct st_opt){ "wronly", 0, ST_OPT_FLAG, &r.no_rd, NULL,
				      "pthread_rwlock_wrlock only (no rdlock probe)" };
	opts[no++] = (struct st_opt){ "lib", 0, ST_OPT_STR, &r.lib, "PATH",
				      "the library (or static program) to probe" };
	opts[no] = (struct st_opt)ST_OPT_END;

	if (st_opts_parse_noargs(argc, argv, opts, &help, &ec))
		return ec;
	if ((rc = st_local_validate(&r.lo, RW_SUPPORTED, CMD)))
		return rc;
	if ((rc = st_local_require_root(CMD)))
		return rc;
	if ((rc = cpu_check_pid(r.lo.pid)))
		return rc;
	if ((rc = find_lib(&r)))
		return rc;
	st_log_route_libbpf();
	r.ncpus = libbpf_num_possible_cpus();
	if (r.ncpus <= 0) {
		fprintf(stderr, "error: cannot count CPUs: %s\n", strerror(-r.ncpus));
		return ST_EXIT_FAIL;
	}
	cpu_syms_init(&r.syms);
	if (r.lo.pid) {
		char b[64];

		/* Read its maps now: it may have exited by the first report. */
		st_usyms_fmt(r.syms.usyms, r.lo.pid, 0, b, sizeof(b));
	}
	rc = setup(&r);
	if (!rc) {
		struct cpu_loop l = { .lo = &r.lo, .gen = &r.skel->bss->rwlock_gen,
				      .report = report, .ctx = &r };

		st_local_signals();
		if (!r.lo.json)
			fprintf(stderr, "Tracing pthread_rwlock_%s in %s (uprobes)... Ctrl-C to end.\n",
				r.no_rd ? "wrlock" : "wrlock/rdlock", r.libpath);
		rc = cpu_loop_run(&l);
		if (!r.lo.json)
			fprintf(stderr, "rwlock: %llu calls, %llu recorded, %llu under --min-us; lost: "
				"%llu (in-flight map full), %llu (count map full), %llu stacks\n",
				(unsigned long long)r.counters[ST_RC_CALLS],
				(unsigned long long)r.counters[ST_RC_RECORDED],
				(unsigned long long)r.counters[ST_RC_SHORT],
				(unsigned long long)r.counters[ST_RC_LOST_TASKS],
				(unsigned long long)r.counters[ST_RC_LOST_MAP],
				(unsigned long long)r.counters[ST_RC_LOST_STACK]);
	}
	for (int i = 3; i >= 0; i--)
		bpf_link__destroy(r.links[i]);
	cpu_rwlock_bpf__destroy(r.skel);
	cpu_syms_free(&r.syms);
	return rc;
}
