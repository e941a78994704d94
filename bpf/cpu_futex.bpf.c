// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * futex(2) and futex_waitv(2) calls for `stagetrace cpu futex`, from the
 * raw_syscalls sys_enter/sys_exit tracepoints (tp_btf or raw_tp: no tracefs
 * and no per-syscall tracepoints needed).
 *
 * sys_enter keeps (time, address, op) per thread when the syscall number is
 * one of the futex calls; sys_exit adds the call's duration to the
 * (process, address, op) row of the current generation and, for the
 * operations that wait, to that operation's histogram. Every sys_enter of
 * every task runs this program, so the syscall number test comes first.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#include "cpu_futex.h"
#include "cpu_hist.bpf.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* errno values are ABI; vmlinux.h has no macros. */
#define ST_EAGAIN    11
#define ST_ETIMEDOUT 110

/* Set before load by user space. */
const volatile __s64 st_nr_futex = -1;
const volatile __s64 st_nr_futex_waitv = -1;
const volatile __u32 st_tgid = 0;	/* 0: every process */

volatile __u32 futex_gen;

struct inflight {
	__u64 ts;
	__u64 uaddr;
	__u64 start_time;	/* of the task: tells a reused thread id apart */
	__u32 op;
	__u32 pad;
};

/* When the task started: a thread killed inside a futex call never
 * returns, and its entry must not be taken up by a later thread that
 * gets the same id. */
static __always_inline __u64 task_start(void)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();

	return BPF_CORE_READ(t, start_time);
}

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ST_FUTEX_MAX_TASKS);
	__type(key, __u32);
	__type(value, struct inflight);
} futex_start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ST_FUTEX_MAX_KEYS);
	__type(key, struct st_futex_key);
	__type(value, struct st_futex_val);
} futex0 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ST_FUTEX_MAX_KEYS);
	__type(key, struct st_futex_key);
	__type(value, struct st_futex_val);
} futex1 SEC(".maps");

ST_CPU_HIST_MAP(fhist0);
ST_CPU_HIST_MAP(fhist1);

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ST_FC_MAX);
	__type(key, __u32);
	__type(value, __u64);
} futex_counters SEC(".maps");

static __always_inline void fc_count(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&futex_counters, &idx);

	if (c)
		*c += 1;
}

/* The operations that block: FUTEX_WAIT (0), LOCK_PI (6), WAIT_BITSET
 * (9), WAIT_REQUEUE_PI (11), LOCK_PI2 (13) and futex_waitv. */
static __always_inline int is_wait(__u32 op)
{
	__u32 cmd = op & 127;

	if (op == ST_FUTEX_OP_WAITV)
		return 1;
	return cmd == 0 || cmd == 6 || cmd == 9 || cmd == 11 || cmd == 13;
}

/* sys_enter(struct pt_regs *regs, long id) */
static __always_inline int on_enter(__u64 *ctx)
{
	struct pt_regs *regs = (struct pt_regs *)ctx[0];
	__s64 id = (__s64)ctx[1];
	__u64 pt = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pt;
	struct inflight f = {};

	if (id != st_nr_futex && id != st_nr_futex_waitv)
		return 0;
	if (st_tgid && (pt >> 32) != st_tgid)
		return 0;
	fc_count(ST_FC_ENTER);
	f.ts = bpf_ktime_get_ns();
	f.start_time = task_start();
	f.uaddr = PT_REGS_PARM1_CORE_SYSCALL(regs);
	f.op = id == st_nr_futex ? (__u32)PT_REGS_PARM2_CORE_SYSCALL(regs) : ST_FUTEX_OP_WAITV;
	if (bpf_map_update_elem(&futex_start, &tid, &f, BPF_ANY))
		fc_count(ST_FC_LOST_TASKS);
	return 0;
}

/* sys_exit(struct pt_regs *regs, long ret) */
static __always_inline int on_exit(__u64 *ctx)
{
	__s64 ret = (__s64)ctx[1];
	__u64 pt = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pt;
	struct st_futex_val *v, nv = {};
	struct st_futex_key k = {};
	struct inflight *f;
	void *map, *hmap;
	__u64 d;

	f = bpf_map_lookup_elem(&futex_start, &tid);
	if (!f)
		return 0;
	if (f->start_time != task_start()) {
		/* Left by a dead thread of the same id. */
		bpf_map_delete_elem(&futex_start, &tid);
		fc_count(ST_FC_NOSTART);
		return 0;
	}
	d = bpf_ktime_get_ns() - f->ts;
	k.uaddr = f->uaddr;
	k.tgid = pt >> 32;
	k.op = f->op;
	bpf_map_delete_elem(&futex_start, &tid);

	map = futex_gen & 1 ? (void *)&futex1 : (void *)&futex0;
	hmap = futex_gen & 1 ? (void *)&fhist1 : (void *)&fhist0;
	v = bpf_map_lookup_elem(map, &k);
	if (!v) {
		bpf_get_current_comm(nv.comm, sizeof(nv.comm));
		bpf_map_update_elem(map, &k, &nv, BPF_NOEXIST);
		v = bpf_map_lookup_elem(map, &k);
		if (!v) {
			fc_count(ST_FC_LOST_MAP);
			return 0;
		}
	}
	__sync_fetch_and_add(&v->count, 1);
	__sync_fetch_and_add(&v->total_ns, d);
	if (d > v->max_ns)
		v->max_ns = d;	/* racy between threads of one process: may miss a max */
	if (ret < 0) {
		__sync_fetch_and_add(&v->errors, 1);
		if (ret == -ST_ETIMEDOUT)
			__sync_fetch_and_add(&v->timeouts, 1);
		else if (ret == -ST_EAGAIN)
			__sync_fetch_and_add(&v->again, 1);
	}
	fc_count(ST_FC_EXIT);
	if (is_wait(k.op) && st_cpu_hist_add(hmap, k.op == ST_FUTEX_OP_WAITV ? k.op : k.op & 127, d))
		fc_count(ST_FC_LOST_HIST);
	return 0;
}

SEC("tp_btf/sys_enter")
int btf_sys_enter(__u64 *ctx)
{
	return on_enter(ctx);
}

SEC("raw_tp/sys_enter")
int raw_sys_enter(__u64 *ctx)
{
	return on_enter(ctx);
}

SEC("tp_btf/sys_exit")
int btf_sys_exit(__u64 *ctx)
{
	return on_exit(ctx);
}

SEC("raw_tp/sys_exit")
int raw_sys_exit(__u64 *ctx)
{
	return on_exit(ctx);
}
