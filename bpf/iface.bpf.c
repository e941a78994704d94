// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Softirq time per vector and CPU (irq:softirq_entry/softirq_exit), for
 * `stagetrace iface --perf`: how much CPU the network softirqs (NET_RX,
 * NET_TX) cost while the interfaces move the packets iface counts.
 *
 * softirq_entry stores the time in a per-CPU slot; softirq_exit on the same
 * CPU (softirqs do not migrate) adds the difference to the vector's
 * per-CPU totals. Totals only grow; user space differences them.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "iface.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ST_IF_NR_VEC);
	__type(key, __u32);
	__type(value, __u64);
} if_start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ST_IF_NR_VEC);
	__type(key, __u32);
	__type(value, struct st_if_softirq);
} if_softirq SEC(".maps");

static __always_inline int if_entry(__u64 *ctx)
{
	__u32 vec = (__u32)ctx[0];
	__u64 *t = bpf_map_lookup_elem(&if_start, &vec);

	if (t)
		*t = bpf_ktime_get_ns();
	return 0;
}

static __always_inline int if_exit(__u64 *ctx)
{
	__u32 vec = (__u32)ctx[0];
	__u64 *t = bpf_map_lookup_elem(&if_start, &vec), d;
	struct st_if_softirq *s = bpf_map_lookup_elem(&if_softirq, &vec);

	if (!t || !s)
		return 0;
	if (!*t) {
		s->unmatched++;
		return 0;
	}
	d = bpf_ktime_get_ns() - *t;
	*t = 0;
	s->count++;
	s->ns += d;
	if (d > s->max_ns)
		s->max_ns = d;
	return 0;
}

SEC("tp_btf/softirq_entry") int btf_softirq_entry(__u64 *ctx) { return if_entry(ctx); }
SEC("raw_tp/softirq_entry") int raw_softirq_entry(__u64 *ctx) { return if_entry(ctx); }
SEC("tp_btf/softirq_exit") int btf_softirq_exit(__u64 *ctx) { return if_exit(ctx); }
SEC("raw_tp/softirq_exit") int raw_softirq_exit(__u64 *ctx) { return if_exit(ctx); }
