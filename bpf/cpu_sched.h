/* SPDX-License-Identifier: MIT */
/*
 * Shared between bpf/cpu_sched.bpf.c and its users (cli/cpu_offcpu.c,
 * cli/cpu_runqlat.c): what the scheduler programs count and emit.
 *
 * One BPF object serves two modes because both follow a task through the
 * same two hooks. Off-CPU time: sched_switch stamps the task that leaves the
 * CPU, with its kernel and user stacks; when sched_switch brings it back,
 * the time in between is added to its (process, thread, comm, stacks) row.
 * Run-queue latency: sched_wakeup/sched_wakeup_new (and sched_switch for a
 * preempted task that stays runnable) stamp the moment a task becomes
 * runnable; when sched_switch puts it on a CPU, the wait goes into a
 * histogram (bpf/cpu_hist.h) per CPU, per process or for everything.
 */
#ifndef ST_BPF_CPU_SCHED_H
#define ST_BPF_CPU_SCHED_H

#include "st_types.h"
#include "cpu_hist.h"

#define ST_OFFCPU_MAX_KEYS    16384	/* (thread, stacks) rows per interval */
#define ST_OFFCPU_MAX_STACKS  16384
#define ST_OFFCPU_STACK_DEPTH 48
#define ST_SCHED_MAX_TASKS    65536	/* threads in flight (off CPU / runnable) */

/* Run-queue histogram grouping. */
#define ST_RQ_BY_ALL 0
#define ST_RQ_BY_CPU 1
#define ST_RQ_BY_PID 2

struct st_offcpu_key {
	__u32 tgid;
	__u32 tid;
	__s32 kstack;		/* -1: none / not captured */
	__s32 ustack;		/* -1: none (kernel thread) / not captured */
	char comm[16];
	char state;		/* st_task_state_char() when it left the CPU */
	__u8 pad[3];
};

struct st_offcpu_val {
	__u64 total_ns;
	__u64 count;
	__u64 max_ns;
};

/* One blocking episode, for -v (ring buffer). */
struct st_offcpu_event {
	__u64 ts_out;		/* bpf_ktime_get_ns() when it left the CPU */
	__u64 dur_ns;		/* until it ran again */
	__u32 tgid;
	__u32 tid;
	__u32 cpu_out;
	__u32 cpu_in;
	__s32 kstack;
	__s32 ustack;
	__u32 waker_tgid;	/* 0: not woken by a wakeup we saw */
	__u32 state;		/* task state when it left (0 = preempted) */
	char comm[16];
	char waker_comm[16];
};

_Static_assert(sizeof(struct st_offcpu_key) == 36, "st_offcpu_key layout");
_Static_assert(sizeof(struct st_offcpu_val) == 24, "st_offcpu_val layout");
_Static_assert(sizeof(struct st_offcpu_event) == 80, "st_offcpu_event layout");

/*
 * ps's letter for a task state, from the TASK_* bits of
 * include/linux/sched.h: R runnable (preempted, or woken before it could
 * block), S sleeping, D uninterruptible, I idle kernel thread (D plus
 * TASK_NOLOAD), T stopped, t traced. Off-CPU rows are split by it, since
 * waiting for a CPU (R) and waiting for an event (S, D) are different
 * problems.
 */
static __always_inline char st_task_state_char(__u32 s)
{
	if (s == 0)
		return 'R';
	if (s & 0x1)
		return 'S';
	if (s & 0x2)
		return (s & 0x400) ? 'I' : 'D';
	if (s & 0x4)
		return 'T';
	if (s & 0x8)
		return 't';
	return '?';
}

/* Bit of a state letter in the --state mask (0: every state). */
static __always_inline __u32 st_task_state_bit(char c)
{
	switch (c) {
	case 'R': return 0x1;
	case 'S': return 0x2;
	case 'D': return 0x4;
	case 'I': return 0x8;
	case 'T': return 0x10;
	case 't': return 0x20;
	}
	return 0x40;
}

enum st_sched_counter {
	ST_SC_SWITCHES = 0,	/* sched_switch calls */
	ST_SC_WAKEUPS,		/* sched_wakeup(_new) calls */
	ST_SC_SAMPLES,		/* episodes or latencies recorded */
	ST_SC_SHORT,		/* off-CPU episodes under the minimum */
	ST_SC_STATE,		/* off-CPU episodes in a state --state excludes */
	ST_SC_NOSTART,		/* switched in without a stamp (tracing began mid-way) */
	ST_SC_LOST_TASKS,	/* lost: the in-flight task map was full */
	ST_SC_LOST_MAP,		/* lost: the count/histogram map was full */
	ST_SC_LOST_STACK,	/* recorded without a stack (stack map full) */
	ST_SC_LOST_EVENTS,	/* lost -v event (ring full), counted all the same */
	ST_SC_MAX,
};

#endif /* ST_BPF_CPU_SCHED_H */
