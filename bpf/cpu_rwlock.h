/* SPDX-License-Identifier: MIT */
/*
 * Shared between bpf/cpu_rwlock.bpf.c and cli/cpu_rwlock.c: calls of the C
 * library's pthread_rwlock_wrlock/rdlock counted per (process, lock,
 * operation, caller, user stack), and a time-in-call histogram per
 * operation.
 *
 * The caller is the return address read from the stack at the function's
 * entry. It is kept apart from the stack because the kernel walks user
 * stacks by frame pointer, and at the entry of a function the frame pointer
 * still belongs to the caller: the walk starts at the caller's caller, so
 * without this word the frame that took the lock would be missing.
 */
#ifndef ST_BPF_CPU_RWLOCK_H
#define ST_BPF_CPU_RWLOCK_H

#include "st_types.h"
#include "cpu_hist.h"

#define ST_RWLOCK_MAX_KEYS    8192
#define ST_RWLOCK_MAX_TASKS   65536
#define ST_RWLOCK_MAX_STACKS  8192
#define ST_RWLOCK_STACK_DEPTH 32

#define ST_RW_WR 0	/* pthread_rwlock_wrlock; also the histogram id */
#define ST_RW_RD 1	/* pthread_rwlock_rdlock */

struct st_rwlock_key {
	__u64 lock;		/* the pthread_rwlock_t's address */
	__u64 caller;		/* return address into the code that called */
	__u32 tgid;
	__u32 op;		/* ST_RW_* */
	__s32 ustack;		/* -1: not captured */
	__u32 pad;
};

struct st_rwlock_val {
	__u64 count;
	__u64 total_ns;
	__u64 max_ns;
	__u64 errors;		/* returned non-zero (EDEADLK, EAGAIN, ...) */
	__u32 tid;		/* a thread of the row, for its comm */
	char comm[16];
	__u32 pad;
};

_Static_assert(sizeof(struct st_rwlock_key) == 32, "st_rwlock_key layout");
_Static_assert(sizeof(struct st_rwlock_val) == 56, "st_rwlock_val layout");

enum st_rwlock_counter {
	ST_RC_CALLS = 0,	/* entries seen (after the pid filter) */
	ST_RC_RECORDED,		/* returns recorded */
	ST_RC_SHORT,		/* returns under --min-us, not recorded */
	ST_RC_NOSTART,		/* return without a recorded entry */
	ST_RC_LOST_TASKS,	/* lost: in-flight map full */
	ST_RC_LOST_MAP,		/* lost: count map full */
	ST_RC_LOST_STACK,	/* recorded without a stack */
	ST_RC_LOST_HIST,	/* recorded, not in the histogram (map full) */
	ST_RC_MAX,
};

#endif /* ST_BPF_CPU_RWLOCK_H */
