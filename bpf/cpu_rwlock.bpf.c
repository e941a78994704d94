// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * pthread_rwlock_wrlock/rdlock for `stagetrace cpu rwlock`: a uprobe on
 * each function's entry keeps (time, lock, operation, caller, user stack)
 * per thread; one uretprobe, attached to both, adds the time in the call to
 * the row of the current generation and to the operation's histogram.
 * Calls shorter than the minimum (uncontended ones take well under a
 * microsecond) are counted but not recorded when a minimum is set.
 *
 * User space attaches the programs to the C library the target uses, at
 * the file offsets it resolves from the library's ELF symbols; a -p filter
 * is the uprobe's own pid filter, so other processes never run them.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#include "cpu_rwlock.h"
#include "cpu_hist.bpf.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

const volatile __u64 st_min_ns = 0;
const volatile __u8 st_stacks = 1;

volatile __u32 rwlock_gen;

struct inflight {
	__u64 ts;
	__u64 lock;
	__u64 caller;
	__u32 op;
	__s32 ustack;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ST_RWLOCK_MAX_TASKS);
	__type(key, __u32);
	__type(value, struct inflight);
} rw_start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ST_RWLOCK_MAX_KEYS);
	__type(key, struct st_rwlock_key);
	__type(value, struct st_rwlock_val);
} rw0 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ST_RWLOCK_MAX_KEYS);
	__type(key, struct st_rwlock_key);
	__type(value, struct st_rwlock_val);
} rw1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, ST_RWLOCK_MAX_STACKS);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, ST_RWLOCK_STACK_DEPTH * sizeof(__u64));
} rw_stacks SEC(".maps");

ST_CPU_HIST_MAP(rwhist0);
ST_CPU_HIST_MAP(rwhist1);

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ST_RC_MAX);
	__type(key, __u32);
	__type(value, __u64);
} rw_counters SEC(".maps");

static __always_inline void rc_count(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&rw_counters, &idx);

	if (c)
		*c += 1;
}

static __always_inline int rw_enter(struct pt_regs *ctx, __u32 op)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct inflight f = {};
	int id;

	rc_count(ST_RC_CALLS);
	f.ts = bpf_ktime_get_ns();
	f.lock = PT_REGS_PARM1(ctx);
	f.op = op;
	f.ustack = -1;
	/* At the entry the return address is the word at the stack pointer. */
	bpf_probe_read_user(&f.caller, sizeof(f.caller), (void *)PT_REGS_SP(ctx));
	if (st_stacks) {
		id = bpf_get_stackid(ctx, &rw_stacks, BPF_F_USER_STACK);
		if (id >= 0)
			f.ustack = id;
		else
			rc_count(ST_RC_LOST_STACK);
	}
	if (bpf_map_update_elem(&rw_start, &tid, &f, BPF_ANY))
		rc_count(ST_RC_LOST_TASKS);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(rw_wrlock)
{
	return rw_enter(ctx, ST_RW_WR);
}

SEC("uprobe")
int BPF_KPROBE(rw_rdlock)
{
	return rw_enter(ctx, ST_RW_RD);
}

SEC("uretprobe")
int BPF_KRETPROBE(rw_return, long ret)
{
	__u64 pt = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pt;
	struct st_rwlock_val *v, nv = {};
	struct st_rwlock_key k = {};
	struct inflight *f;
	void *map, *hmap;
	__u64 d;

	f = bpf_map_lookup_elem(&rw_start, &tid);
	if (!f) {
		rc_count(ST_RC_NOSTART);
		return 0;
	}
	d = bpf_ktime_get_ns() - f->ts;
	k.lock = f->lock;
	k.caller = f->caller;
	k.tgid = pt >> 32;
	k.op = f->op;
	k.ustack = f->ustack;
	bpf_map_delete_elem(&rw_start, &tid);
	if (d < st_min_ns) {
		rc_count(ST_RC_SHORT);
		return 0;
	}
	map = rwlock_gen & 1 ? (void *)&rw1 : (void *)&rw0;
	hmap = rwlock_gen & 1 ? (void *)&rwhist1 : (void *)&rwhist0;
	v = bpf_map_lookup_elem(map, &k);
	if (!v) {
		nv.tid = tid;
		bpf_get_current_comm(nv.comm, sizeof(nv.comm));
		bpf_map_update_elem(map, &k, &nv, BPF_NOEXIST);
		v = bpf_map_lookup_elem(map, &k);
		if (!v) {
			rc_count(ST_RC_LOST_MAP);
			return 0;
		}
	}
	__sync_fetch_and_add(&v->count, 1);
	__sync_fetch_and_add(&v->total_ns, d);
	if (d > v->max_ns)
		v->max_ns = d;	/* racy between threads: may miss a max */
	if (ret)
		__sync_fetch_and_add(&v->errors, 1);
	rc_count(ST_RC_RECORDED);
	if (st_cpu_hist_add(hmap, k.op, d))
		rc_count(ST_RC_LOST_HIST);
	return 0;
}
