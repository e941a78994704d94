/* SPDX-License-Identifier: MIT */
/*
 * Shared between bpf/cpu_futex.bpf.c and cli/cpu_futex.c: futex calls
 * counted per (process, address, operation), and the wait-time histograms.
 *
 * The syscall numbers are the running architecture's, given by user space
 * from <sys/syscall.h>, never compiled into the BPF object. futex_waitv
 * has no single address: its rows carry the address of the waiter array
 * and the pseudo operation ST_FUTEX_OP_WAITV.
 */
#ifndef ST_BPF_CPU_FUTEX_H
#define ST_BPF_CPU_FUTEX_H

#include "st_types.h"
#include "cpu_hist.h"

#define ST_FUTEX_MAX_KEYS  8192	/* (process, address, op) rows per interval */
#define ST_FUTEX_MAX_TASKS 65536	/* threads inside a futex call */

#define ST_FUTEX_OP_WAITV  0x10000	/* futex_waitv(2) */

struct st_futex_key {
	__u64 uaddr;
	__u32 tgid;
	__u32 op;		/* futex op argument (command and flags), or WAITV */
};

struct st_futex_val {
	__u64 count;
	__u64 total_ns;
	__u64 max_ns;
	__u64 errors;		/* returned < 0 */
	__u64 timeouts;		/* -ETIMEDOUT */
	__u64 again;		/* -EAGAIN: the word had changed already */
	char comm[16];		/* of the thread that made the row */
};

_Static_assert(sizeof(struct st_futex_key) == 16, "st_futex_key layout");
_Static_assert(sizeof(struct st_futex_val) == 64, "st_futex_val layout");

enum st_futex_counter {
	ST_FC_ENTER = 0,	/* futex calls entered (after the pid filter) */
	ST_FC_EXIT,		/* and returned, recorded */
	ST_FC_NOSTART,		/* entry left by a dead thread whose id was reused */
	ST_FC_LOST_TASKS,	/* lost: the in-flight map was full */
	ST_FC_LOST_MAP,		/* lost: the count map was full */
	ST_FC_LOST_HIST,	/* counted, but not in the histogram (map full) */
	ST_FC_MAX,
};

#endif /* ST_BPF_CPU_FUTEX_H */
