// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * OVS upcall latency on this host (see bpf/upcall.h): a miss records the
 * packet id, the re-injection of the same id ends it. Two hooks, each with
 * the alternatives user space picks by real load and attach:
 *   miss       fentry / kprobe ovs_dp_upcall, tp_btf / raw_tp
 *              openvswitch:ovs_dp_upcall (skb is argument 1 everywhere);
 *   re-inject  fentry / kprobe ovs_execute_actions, tp_btf / raw_tp
 *              openvswitch:ovs_do_execute_action (fires per action: the
 *              first consumes the pending entry, the rest find nothing).
 * Hits run ovs_execute_actions too; they cost one parse and one failed
 * lookup. Per packet: a bounded header parse (bpf/parse.bpf.h), one hash
 * update or lookup+delete, and on a match one ring buffer record.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>

#include "upcall.h"
#include "parse.bpf.h"
#include "filter.bpf.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, ST_UPCALL_MAX_PENDING);
	__type(key, __u64);
	__type(value, struct st_up_pending);
} up_pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} up_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ST_UC_MAX);
	__type(key, __u32);
	__type(value, __u64);
} up_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct st_up_cfg);
} up_cfg SEC(".maps");

static __always_inline void count(__u32 i)
{
	__u64 *v = bpf_map_lookup_elem(&up_counters, &i);

	if (v)
		(*v)++;
}

/* The packet's key and id; 0 when it is not keyed or filtered out. */
static __always_inline __u64 packet_id(struct sk_buff *skb, struct st_pkt_key *k, int miss)
{
	struct st_parse_out po = {};
	__u32 zero = 0;
	struct st_up_cfg *c = bpf_map_lookup_elem(&up_cfg, &zero);

	if (!skb || !c)
		return 0;
	__builtin_memset(k, 0, sizeof(*k));
	if (st_parse_skb(skb, k, &po)) {
		if (miss)
			count(ST_UC_NOT_KEYED);
		return 0;
	}
	if (!st_pf_match(&c->pf, k)) {
		if (miss)
			count(ST_UC_FILTERED);
		return 0;
	}
	return st_pkt_id(k);
}

static __always_inline int on_miss(struct sk_buff *skb)
{
	struct st_up_pending p = { .ts = bpf_ktime_get_ns(), .cpu = bpf_get_smp_processor_id() };
	struct st_pkt_key k;
	__u64 id;

	count(ST_UC_UPCALLS);
	id = packet_id(skb, &k, 1);
	if (!id)
		return 0;
	if (bpf_map_update_elem(&up_pending, &id, &p, BPF_ANY))
		count(ST_UC_PENDING_FULL);
	return 0;
}

static __always_inline int on_exec(struct sk_buff *skb)
{
	struct st_up_pending *p;
	struct st_up_event *e;
	struct st_pkt_key k;
	__u64 id, now = bpf_ktime_get_ns(), pt;
	__u32 pc;

	count(ST_UC_EXECS);
	id = packet_id(skb, &k, 0);
	if (!id)
		return 0;
	p = bpf_map_lookup_elem(&up_pending, &id);
	if (!p)
		return 0;
	pt = p->ts;
	pc = p->cpu;
	/* Another CPU may consume the same entry: only the deleter reports. */
	if (bpf_map_delete_elem(&up_pending, &id))
		return 0;
	count(ST_UC_MATCHED);
	e = bpf_ringbuf_reserve(&up_events, sizeof(*e), 0);
	if (!e) {
		count(ST_UC_RINGBUF_FULL);
		return 0;
	}
	e->t_upcall = pt;
	e->t_exec = now;
	e->saddr = k.saddr;
	e->daddr = k.daddr;
	e->sport = k.sport;
	e->dport = k.dport;
	e->proto = k.proto;
	e->upcall_cpu = pc;
	e->exec_cpu = bpf_get_smp_processor_id();
	e->tid = (__u32)bpf_get_current_pid_tgid();
	e->tgid = (__u32)(bpf_get_current_pid_tgid() >> 32);
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("fentry/ovs_dp_upcall")
int fentry_up_miss(__u64 *ctx) { return on_miss((struct sk_buff *)ctx[1]); }
SEC("kprobe/ovs_dp_upcall")
int kprobe_up_miss(struct pt_regs *ctx) { return on_miss((struct sk_buff *)PT_REGS_PARM2(ctx)); }
SEC("tp_btf/ovs_dp_upcall")
int btf_up_miss(__u64 *ctx) { return on_miss((struct sk_buff *)ctx[1]); }
SEC("raw_tp/ovs_dp_upcall")
int raw_up_miss(__u64 *ctx) { return on_miss((struct sk_buff *)ctx[1]); }

SEC("fentry/ovs_execute_actions")
int fentry_up_exec(__u64 *ctx) { return on_exec((struct sk_buff *)ctx[1]); }
SEC("kprobe/ovs_execute_actions")
int kprobe_up_exec(struct pt_regs *ctx) { return on_exec((struct sk_buff *)PT_REGS_PARM2(ctx)); }
SEC("tp_btf/ovs_do_execute_action")
int btf_up_exec(__u64 *ctx) { return on_exec((struct sk_buff *)ctx[1]); }
SEC("raw_tp/ovs_do_execute_action")
int raw_up_exec(__u64 *ctx) { return on_exec((struct sk_buff *)ctx[1]); }
