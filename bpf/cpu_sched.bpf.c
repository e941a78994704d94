// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Scheduler tracing for `stagetrace cpu offcpu` and `cpu runqlat`: the
 * sched_switch, sched_wakeup and sched_wakeup_new tracepoints, each as a
 * tp_btf and a raw_tp program around one static function (user space keeps
 * the method that loads on the running kernel and turns the other off).
 *
 * Off-CPU (st_offcpu): when a task leaves the CPU, its thread id is stamped
 * with the time and its kernel and user stack ids, taken right there since
 * the task leaving is still `current`. When it is switched in again the
 * time in between is added to its row of the count map of the current
 * generation, and with -v emitted as one event with the task that woke it.
 *
 * Run-queue latency (st_runqlat): a task is stamped when it is woken, or
 * when it is preempted and stays runnable; when it is switched in the wait
 * is recorded in a histogram. Both modes filter by process id in the kernel;
 * the idle task is never traced.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#include "cpu_sched.h"
#include "cpu_hist.bpf.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* TASK_DEAD of include/linux/sched.h: the state of a task's last switch. */
#define ST_TASK_DEAD 0x80

/* errno values are ABI; vmlinux.h has no macros. A user stack that cannot
 * be read (a task in the middle of exec, no frame to walk) is -EFAULT and
 * is not a lost stack. */
#define ST_EFAULT 14

/* Set before load by user space. */
const volatile __u8 st_offcpu = 0;	/* off-CPU mode */
const volatile __u8 st_runqlat = 0;	/* run-queue latency mode */
const volatile __u8 st_events = 0;	/* -v: one event per off-CPU episode */
const volatile __u8 st_rq_by = ST_RQ_BY_ALL;
const volatile __u8 st_user_stacks = 1;
const volatile __u32 st_tgid = 0;	/* 0: every process */
const volatile __u64 st_min_ns = 0;	/* off-CPU episodes shorter are skipped */
const volatile __u32 st_state_mask = 0;	/* st_task_state_bit()s kept; 0: all */

/* Which count map programs write to; user space flips it per interval. */
volatile __u32 sched_gen;

struct offcpu_start {
	__u64 ts;
	__s32 kstack;
	__s32 ustack;
	__u32 cpu;
	__u32 state;
	__u32 waker_tgid;
	__u32 pad;
	char waker_comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ST_SCHED_MAX_TASKS);
	__type(key, __u32);
	__type(value, struct offcpu_start);
} offcpu_start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ST_SCHED_MAX_TASKS);
	__type(key, __u32);
	__type(value, __u64);
} runq_start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ST_OFFCPU_MAX_KEYS);
	__type(key, struct st_offcpu_key);
	__type(value, struct st_offcpu_val);
} offcpu0 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ST_OFFCPU_MAX_KEYS);
	__type(key, struct st_offcpu_key);
	__type(value, struct st_offcpu_val);
} offcpu1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, ST_OFFCPU_MAX_STACKS);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, ST_OFFCPU_STACK_DEPTH * sizeof(__u64));
} sched_stacks SEC(".maps");

ST_CPU_HIST_MAP(hist0);
ST_CPU_HIST_MAP(hist1);

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} sched_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ST_SC_MAX);
	__type(key, __u32);
	__type(value, __u64);
} sched_counters SEC(".maps");

static __always_inline void sc_count(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&sched_counters, &idx);

	if (c)
		*c += 1;
}

/* Kernels before 5.14 call the state field `state` (and make it a long). */
struct task_struct___o {
	volatile long state;
} __attribute__((preserve_access_index));

static __always_inline __u32 task_state(struct task_struct *t)
{
	if (bpf_core_field_exists(t->__state))
		return BPF_CORE_READ(t, __state);
	return (__u32)BPF_CORE_READ((struct task_struct___o *)t, state);
}

static __always_inline int traced(__u32 tgid, __u32 tid)
{
	if (!tid)
		return 0;	/* the idle task */
	return !st_tgid || tgid == st_tgid;
}

/* ---- off-CPU ------------------------------------------------------------ */

static __always_inline void offcpu_out(void *ctx, struct task_struct *prev, __u64 now)
{
	struct offcpu_start s = {}, *old;
	__u32 tid = BPF_CORE_READ(prev, pid);
	__u32 tgid = BPF_CORE_READ(prev, tgid);
	int id;

	if (!traced(tgid, tid))
		return;
	s.state = task_state(prev);
	/* A dying task leaves the CPU for the last time: a stamp kept now
	 * would be taken up by the next task that gets its thread id. */
	if (s.state & ST_TASK_DEAD) {
		bpf_map_delete_elem(&offcpu_start, &tid);
		return;
	}
	/* A fresh stamp also drops a waker seen while the task still ran. */
	s.ts = now;
	s.cpu = bpf_get_smp_processor_id();
	s.kstack = -1;
	s.ustack = -1;
	id = bpf_get_stackid(ctx, &sched_stacks, 0);
	if (id >= 0)
		s.kstack = id;
	else
		sc_count(ST_SC_LOST_STACK);
	/* Kernel threads have no user stack (and no mm). */
	if (st_user_stacks && BPF_CORE_READ(prev, mm)) {
		id = bpf_get_stackid(ctx, &sched_stacks, BPF_F_USER_STACK);
		if (id >= 0)
			s.ustack = id;
		else if (id != -ST_EFAULT)
			sc_count(ST_SC_LOST_STACK);
	}
	old = bpf_map_lookup_elem(&offcpu_start, &tid);
	if (old) {
		*old = s;
		return;
	}
	if (bpf_map_update_elem(&offcpu_start, &tid, &s, BPF_ANY))
		sc_count(ST_SC_LOST_TASKS);
}

static __always_inline void offcpu_in(struct task_struct *next, __u64 now)
{
	__u32 tid = BPF_CORE_READ(next, pid);
	__u32 tgid = BPF_CORE_READ(next, tgid);
	struct st_offcpu_val *v, nv = {};
	struct st_offcpu_key k = {};
	struct st_offcpu_event *e;
	struct offcpu_start *s;
	void *map;
	__u64 d;

	if (!traced(tgid, tid))
		return;
	s = bpf_map_lookup_elem(&offcpu_start, &tid);
	if (!s) {
		sc_count(ST_SC_NOSTART);
		return;
	}
	d = now - s->ts;
	k.state = st_task_state_char(s->state);
	if (st_state_mask && !(st_state_mask & st_task_state_bit(k.state))) {
		sc_count(ST_SC_STATE);
		goto out;
	}
	if (d < st_min_ns) {
		sc_count(ST_SC_SHORT);
		goto out;
	}
	k.tgid = tgid;
	k.tid = tid;
	k.kstack = s->kstack;
	k.ustack = s->ustack;
	BPF_CORE_READ_STR_INTO(&k.comm, next, comm);
	map = sched_gen & 1 ? (void *)&offcpu1 : (void *)&offcpu0;
	v = bpf_map_lookup_elem(map, &k);
	if (!v) {
		nv.total_ns = d;
		nv.count = 1;
		nv.max_ns = d;
		if (bpf_map_update_elem(map, &k, &nv, BPF_NOEXIST) == 0)
			goto counted;
		v = bpf_map_lookup_elem(map, &k);
		if (!v) {
			sc_count(ST_SC_LOST_MAP);
			goto events;
		}
	}
	/* Rows are per thread, and a thread is switched in on one CPU at a
	 * time, so no two programs update one row at once. */
	v->total_ns += d;
	v->count += 1;
	if (d > v->max_ns)
		v->max_ns = d;
counted:
	sc_count(ST_SC_SAMPLES);
events:
	if (!st_events)
		goto out;
	e = bpf_ringbuf_reserve(&sched_events, sizeof(*e), 0);
	if (!e) {
		sc_count(ST_SC_LOST_EVENTS);
		goto out;
	}
	e->ts_out = s->ts;
	e->dur_ns = d;
	e->tgid = tgid;
	e->tid = tid;
	e->cpu_out = s->cpu;
	e->cpu_in = bpf_get_smp_processor_id();
	e->kstack = s->kstack;
	e->ustack = s->ustack;
	e->waker_tgid = s->waker_tgid;
	e->state = s->state;
	__builtin_memcpy(e->comm, k.comm, sizeof(e->comm));
	__builtin_memcpy(e->waker_comm, s->waker_comm, sizeof(e->waker_comm));
	bpf_ringbuf_submit(e, 0);
out:
	bpf_map_delete_elem(&offcpu_start, &tid);
}

/* The task that wakes a blocked one, for the -v event line. */
static __always_inline void offcpu_wakeup(struct task_struct *p)
{
	__u32 tid = BPF_CORE_READ(p, pid);
	struct offcpu_start *s;

	if (!st_events)
		return;
	s = bpf_map_lookup_elem(&offcpu_start, &tid);
	if (!s)
		return;
	s->waker_tgid = bpf_get_current_pid_tgid() >> 32;
	bpf_get_current_comm(s->waker_comm, sizeof(s->waker_comm));
}

/* ---- run-queue latency -------------------------------------------------- */

static __always_inline void runq_stamp(struct task_struct *p, __u64 now)
{
	__u32 tid = BPF_CORE_READ(p, pid);
	__u32 tgid = BPF_CORE_READ(p, tgid);

	if (!traced(tgid, tid))
		return;
	if (bpf_map_update_elem(&runq_start, &tid, &now, BPF_ANY))
		sc_count(ST_SC_LOST_TASKS);
}

static __always_inline void runq_in(struct task_struct *next, __u64 now)
{
	__u32 tid = BPF_CORE_READ(next, pid);
	__u32 tgid = BPF_CORE_READ(next, tgid);
	__u64 *ts, d;
	__u32 id = 0;
	void *map;

	if (!traced(tgid, tid))
		return;
	ts = bpf_map_lookup_elem(&runq_start, &tid);
	if (!ts) {
		sc_count(ST_SC_NOSTART);
		return;
	}
	d = now - *ts;
	bpf_map_delete_elem(&runq_start, &tid);
	if (st_rq_by == ST_RQ_BY_CPU)
		id = bpf_get_smp_processor_id();
	else if (st_rq_by == ST_RQ_BY_PID)
		id = tgid;
	map = sched_gen & 1 ? (void *)&hist1 : (void *)&hist0;
	if (st_cpu_hist_add(map, id, d))
		sc_count(ST_SC_LOST_MAP);
	else
		sc_count(ST_SC_SAMPLES);
}

/* ---- hooks -------------------------------------------------------------- */

/* sched_switch(bool preempt, prev, next[, unsigned int prev_state]). */
static __always_inline int on_switch(__u64 *ctx)
{
	struct task_struct *prev = (struct task_struct *)ctx[1];
	struct task_struct *next = (struct task_struct *)ctx[2];
	__u64 now = bpf_ktime_get_ns();

	sc_count(ST_SC_SWITCHES);
	if (st_offcpu) {
		offcpu_out(ctx, prev, now);
		offcpu_in(next, now);
	}
	if (st_runqlat) {
		/* Preempted, still runnable: it waits in the queue again. */
		if (task_state(prev) == 0)
			runq_stamp(prev, now);
		runq_in(next, now);
	}
	return 0;
}

static __always_inline int on_wakeup(__u64 *ctx, int new_task)
{
	struct task_struct *p = (struct task_struct *)ctx[0];

	sc_count(ST_SC_WAKEUPS);
	if (st_offcpu && new_task) {
		/* A new task has never been off the CPU: no stamp is its. */
		__u32 tid = BPF_CORE_READ(p, pid);

		bpf_map_delete_elem(&offcpu_start, &tid);
	} else if (st_offcpu) {
		offcpu_wakeup(p);
	}
	if (st_runqlat)
		runq_stamp(p, bpf_ktime_get_ns());
	return 0;
}

SEC("tp_btf/sched_switch")
int btf_sched_switch(__u64 *ctx)
{
	return on_switch(ctx);
}

SEC("raw_tp/sched_switch")
int raw_sched_switch(__u64 *ctx)
{
	return on_switch(ctx);
}

SEC("tp_btf/sched_wakeup")
int btf_sched_wakeup(__u64 *ctx)
{
	return on_wakeup(ctx, 0);
}

SEC("raw_tp/sched_wakeup")
int raw_sched_wakeup(__u64 *ctx)
{
	return on_wakeup(ctx, 0);
}

SEC("tp_btf/sched_wakeup_new")
int btf_sched_wakeup_new(__u64 *ctx)
{
	return on_wakeup(ctx, 1);
}

SEC("raw_tp/sched_wakeup_new")
int raw_sched_wakeup_new(__u64 *ctx)
{
	return on_wakeup(ctx, 1);
}
