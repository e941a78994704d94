/* SPDX-License-Identifier: MIT */
/*
 * `stagetrace cpu MODE`: the modes (one file each, cli/cpu_<mode>.c) and
 * what they share (cli/cpu_common.c).
 *
 * Every BPF mode runs the same loop (built on cli/localrun.h's ticker and
 * wait): load the object with the attach method the running kernel takes
 * (tp_btf, else raw_tp; probed by real load), attach, then every interval
 * flip the generation the programs count into, let running programs finish, drain the maps nobody writes any
 * more and print them, together with what the BPF side could not record.
 * Stacks are printed with kernel symbols from /proc/kallsyms and user
 * symbols from common/usym.c. Sparse in-kernel histograms (bpf/cpu_hist.h)
 * are drained into struct st_hist and printed with st_local_hist_print and
 * st_local_hist_json (cli/local.h), like every local command's.
 */
#ifndef ST_CLI_CPU_H
#define ST_CLI_CPU_H

#include <bpf/libbpf.h>
#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include "hist.h"
#include "local.h"
#include "usym.h"

int cpu_offcpu(int argc, char **argv);
int cpu_futex(int argc, char **argv);
int cpu_rwlock(int argc, char **argv);
int cpu_top(int argc, char **argv);
int cpu_runqlat(int argc, char **argv);

/* ---- attach ------------------------------------------------------------- */

struct cpu_sched_bpf;
/*
 * The scheduler object (bpf/cpu_sched.bpf.c) loaded and attached in
 * run-queue mode: histograms by ST_RQ_BY_*, only process tgid (0: all).
 * Shared by runqlat and top --bpf. NULL after a one-line error; *method is
 * the attach method used.
 */
struct cpu_sched_bpf *cpu_runq_open(int by, uint32_t tgid, const char *force,
				    const char *cmd, const char **method);

/*
 * Pick tp_btf or raw_tp for the tracepoint tp (or take force when not NULL)
 * with st_local_tp_select (cli/local.h), then give every other btf_<x> /
 * raw_<x> program pair of obj the same method. Returns the method, or NULL
 * after a one-line error.
 */
const char *cpu_pick_method(struct bpf_object *obj, const char *tp, const char *force,
			    const char *cmd);
/* -p names a live process? 0, or ST_EXIT_USAGE after a one-line error. */
int cpu_check_pid(uint32_t pid);

/* ---- symbols and stacks ------------------------------------------------- */

struct cpu_syms {
	struct st_ksyms ksyms;
	int have_ksyms;
	struct st_usyms *usyms;
};

void cpu_syms_init(struct cpu_syms *s);
void cpu_syms_free(struct cpu_syms *s);

/*
 * Frames of stack id in the stack map fd: kernel frames (user == 0) or user
 * frames of process pid. Into a JSON array when arr, else printed, one per
 * line after indent. Returns the number of frames.
 */
int cpu_stack_frames(struct cpu_syms *s, int fd, int32_t id, int depth, int user,
		     uint32_t pid, json_object *arr, const char *indent);

/* ---- counters, histograms ------------------------------------------------- */

/*
 * Drain (read and delete) up to max entries of a hash map that no program
 * writes any more into *rows, an array of row_size-byte rows with the key
 * at offset 0 and the value at voff (caller frees). Returns the count.
 */
size_t cpu_map_drain(int fd, size_t ksz, size_t vsz, size_t voff, size_t row_size,
		     size_t max, void **rows);
/* The same for rows of struct { key k; value v; }: CPU_DRAIN(fd, max, &rows).
 * Built on st_local_map_drain (cli/local.h). */
#define CPU_DRAIN(fd, max, rowsp)						\
	cpu_map_drain(fd, sizeof((*(rowsp))->k), sizeof((*(rowsp))->v),	\
		      offsetof(__typeof__(**(rowsp)), v), sizeof(**(rowsp)), max,	\
		      (void **)(rowsp))

/* Per-CPU array of n counters: this interval's deltas, totals kept
 * (st_local_percpu_sum of cli/localrun.h per counter). */
void cpu_counters_read(int fd, int ncpus, uint32_t n, uint64_t *totals, uint64_t *delta);

struct cpu_hist {
	uint32_t id;
	struct st_hist h;
};

/* Drain (read and delete) a sparse histogram map; *out is an array of
 * histograms sorted by id (caller frees). Returns the count. */
size_t cpu_hist_drain(int fd, struct cpu_hist **out);



/* ---- the interval loop ---------------------------------------------------- */

struct cpu_loop {
	struct st_local_opts *lo;
	struct ring_buffer *rb;	/* polled while waiting, may be NULL */
	volatile uint32_t *gen;	/* the BPF generation to flip, may be NULL */
	/* Called after the flip with the parity of the idle generation (the
	 * maps to drain) and the interval's length; returns 0 to go on. */
	int (*report)(void *ctx, uint32_t old_gen, double secs);
	void *ctx;
};

/* Run until -d, -c or a signal. Returns 0 or the report's status. */
int cpu_loop_run(struct cpu_loop *l);

/* "12.3ms" style duration of ns into buf. */
const char *cpu_fmt_ns(uint64_t ns, char *buf, size_t len);
/* A comm of exactly 16 bytes, NUL terminated into buf. */
const char *cpu_comm(const char comm[16], char buf[17]);

#endif /* ST_CLI_CPU_H */
