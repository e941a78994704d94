// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Conntrack, the parts BPF can add to the ctnetlink events user space
 * reads: drops whose reason is about conntrack (skb:kfree_skb, the reason
 * set filled from BTF by user space), and, where the kernel lets function
 * hooks attach, nf_conntrack_in verdicts (with "no conntrack attached",
 * i.e. invalid), timeout refreshes per TCP state with the timeout set,
 * deletions, and OVS conntrack results (--ovs-invalid).
 *
 * There are no conntrack tracepoints, so everything but the drops needs
 * fentry/fexit or kprobes. Each hook is an fentry/fexit program and a
 * kprobe (+ kretprobe) pair around one static function; user space keeps
 * what attaches. OVS types are not in vmlinux: they are read through
 * local CO-RE flavours (struct sw_flow_key___st), relocated against the
 * openvswitch module's BTF where it exists; on a kernel without it the
 * code is dead behind bpf_core_type_exists() and the program still loads.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>

#include "conntrack.h"
#include "counts.bpf.h"
#include "netparse.bpf.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define OVS_CS_F_INVALID 0x10
#define NFCT_PTRMASK (~7UL)
#define TCP_PROTO 6

volatile __u32 ct_gen;
/* __nf_ct_refresh_acct's extra_jiffies is argument 2 (0-based) since the
 * skb argument went away, 3 before; user space reads it from BTF. */
const volatile __u32 refresh_jiffies_arg = 2;
/* jiffies -> seconds; 0 when libbpf finds no kernel config to read. */
extern unsigned int CONFIG_HZ __kconfig __weak;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct st_ct_cfg);
} ct_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u8);
} ct_netns SEC(".maps");

/* Drop reasons counted (conntrack's own and netfilter's; from BTF). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u8);
} ct_reasons SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ST_CT_MAX_KEYS);
	__type(key, struct st_ct_key);
	__type(value, struct st_ct_val);
} counts0 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ST_CT_MAX_KEYS);
	__type(key, struct st_ct_key);
	__type(value, struct st_ct_val);
} counts1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 18);
} ovs_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ST_CC_MAX);
	__type(key, __u32);
	__type(value, __u64);
} ct_counters SEC(".maps");

/* kprobe -> kretprobe arguments, per CPU and hook (softirq, no nesting). */
struct stash {
	__u64 a0, a1, a2;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, struct stash);
} stashes SEC(".maps");

/* The part of openvswitch's struct sw_flow_key this reads (net/openvswitch/flow.h). */
struct sw_flow_key___st {
	u8 ct_state;
	union {
		struct {
			u8 proto;
		} ip;
	};
	u16 ct_zone;
	struct {
		__be16 src;
		__be16 dst;
	} tp;
	union {
		struct {
			struct {
				__be32 src;
				__be32 dst;
			} addr;
		} ipv4;
	};
	struct {
		u32 mark;
	} ct;
} __attribute__((preserve_access_index));

static __always_inline void cc_count(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&ct_counters, &idx);

	if (c)
		*c += 1;
}

static __always_inline void ct_add(__u32 netns, __u32 kind, __u32 a, __u32 b, __u64 loc,
				   __u64 bytes)
{
	struct st_ct_key k = { .loc = loc, .netns = netns, .kind = kind, .a = a, .b = b };
	int rc;

	if (ct_gen & 1)
		rc = st_count_add(&counts1, &k, bytes);
	else
		rc = st_count_add(&counts0, &k, bytes);
	if (rc)
		cc_count(ST_CC_MAP_FULL);
}

static __always_inline struct st_ct_cfg *cfg_for(__u32 netns)
{
	__u32 zero = 0;
	struct st_ct_cfg *c = bpf_map_lookup_elem(&ct_cfg, &zero);

	if (!c)
		return NULL;
	if ((c->flags & ST_CTF_NETNS) && !bpf_map_lookup_elem(&ct_netns, &netns)) {
		cc_count(ST_CC_FILTERED);
		return NULL;
	}
	return c;
}

/* ---- drops ------------------------------------------------------------------ */

static __always_inline int on_drop(__u64 *ctx)
{
	struct sk_buff *skb = (struct sk_buff *)ctx[0];
	__u32 reason, netns, ifindex;

	cc_count(ST_CC_DROP_CALLS);
	if (!skb || !bpf_core_enum_value_exists(enum skb_drop_reason, SKB_DROP_REASON_NOT_SPECIFIED))
		return 0;
	reason = (__u32)ctx[2];
	if (!bpf_map_lookup_elem(&ct_reasons, &reason))
		return 0;
	st_skb_where(skb, &netns, &ifindex);
	if (!cfg_for(netns))
		return 0;
	cc_count(ST_CC_DROPS);
	ct_add(netns, ST_CK_DROP, reason, ifindex, ctx[1], BPF_CORE_READ(skb, len));
	return 0;
}

SEC("tp_btf/kfree_skb")
int btf_ct_drop(__u64 *ctx)
{
	return on_drop(ctx);
}

SEC("raw_tp/kfree_skb")
int raw_ct_drop(__u64 *ctx)
{
	return on_drop(ctx);
}

/* ---- nf_conntrack_in ------------------------------------------------------- */

static __always_inline int on_ct_in(struct sk_buff *skb, const struct nf_hook_state *state,
				    unsigned int verdict)
{
	__u32 netns;
	__u64 nfct;

	if (!skb || !state)
		return 0;
	netns = BPF_CORE_READ(state, net, ns.inum);
	if (!cfg_for(netns))
		return 0;
	nfct = BPF_CORE_READ(skb, _nfct);
	ct_add(netns, ST_CK_IN, verdict, !(nfct & NFCT_PTRMASK), 0, BPF_CORE_READ(skb, len));
	return 0;
}

SEC("fexit/nf_conntrack_in")
int BPF_PROG(fexit_nf_conntrack_in, struct sk_buff *skb, const struct nf_hook_state *state,
	     unsigned int ret)
{
	return on_ct_in(skb, state, ret);
}

SEC("kprobe/nf_conntrack_in")
int BPF_KPROBE(kprobe_nf_conntrack_in, struct sk_buff *skb, const struct nf_hook_state *state)
{
	__u32 i = 0;
	struct stash *s = bpf_map_lookup_elem(&stashes, &i);

	if (s) {
		s->a0 = (__u64)skb;
		s->a1 = (__u64)state;
	}
	return 0;
}

SEC("kretprobe/nf_conntrack_in")
int BPF_KRETPROBE(kretprobe_nf_conntrack_in, unsigned int ret)
{
	__u32 i = 0;
	struct stash *s = bpf_map_lookup_elem(&stashes, &i);

	if (!s || !s->a0)
		return 0;
	on_ct_in((struct sk_buff *)s->a0, (const struct nf_hook_state *)s->a1, ret);
	s->a0 = 0;
	return 0;
}

/* ---- refresh and delete ----------------------------------------------------- */

static __always_inline __u32 ct_tcp_state(const struct nf_conn *ct)
{
	if (BPF_CORE_READ(ct, tuplehash[0].tuple.dst.protonum) != TCP_PROTO)
		return 255;
	return BPF_CORE_READ(ct, proto.tcp.state);
}

static __always_inline int on_refresh(const struct nf_conn *ct, __u64 extra_jiffies)
{
	__u32 netns, hz = CONFIG_HZ;

	if (!ct)
		return 0;
	netns = BPF_CORE_READ(ct, ct_net.net, ns.inum);
	if (!cfg_for(netns))
		return 0;
	/* Without HZ the timeout is unknown: 0xffffffff. */
	ct_add(netns, ST_CK_REFRESH, ct_tcp_state(ct),
	       hz ? (__u32)(extra_jiffies / hz) : 0xffffffff, 0, 0);
	return 0;
}

static __always_inline int on_delete(const struct nf_conn *ct)
{
	__u32 netns;

	if (!ct)
		return 0;
	netns = BPF_CORE_READ(ct, ct_net.net, ns.inum);
	if (!cfg_for(netns))
		return 0;
	ct_add(netns, ST_CK_DELETE, ct_tcp_state(ct),
	       BPF_CORE_READ(ct, tuplehash[0].tuple.dst.protonum), 0, 0);
	return 0;
}

/* Both candidate arguments are read unconditionally: selecting the ctx
 * offset first would dereference a modified ctx pointer, which the
 * verifier refuses. */
SEC("fentry/__nf_ct_refresh_acct")
int fentry_nf_ct_refresh(__u64 *ctx)
{
	__u64 a2 = ctx[2], a3 = ctx[3];

	barrier_var(a2);
	barrier_var(a3);
	return on_refresh((const struct nf_conn *)ctx[0],
			  refresh_jiffies_arg == 3 ? (__u32)a3 : (__u32)a2);
}

SEC("kprobe/__nf_ct_refresh_acct")
int kprobe_nf_ct_refresh(struct pt_regs *ctx)
{
	__u64 a2 = PT_REGS_PARM3(ctx), a3 = PT_REGS_PARM4(ctx);

	barrier_var(a2);
	barrier_var(a3);
	return on_refresh((const struct nf_conn *)PT_REGS_PARM1(ctx),
			  refresh_jiffies_arg == 3 ? (__u32)a3 : (__u32)a2);
}

SEC("fentry/nf_ct_delete")
int BPF_PROG(fentry_nf_ct_delete, struct nf_conn *ct)
{
	return on_delete(ct);
}

SEC("kprobe/nf_ct_delete")
int BPF_KPROBE(kprobe_nf_ct_delete, struct nf_conn *ct)
{
	return on_delete(ct);
}

/* ---- OVS conntrack (--ovs-invalid) ------------------------------------------ */

/* The key after OVS ran conntrack on skb: count its ct_state, report invalid. */
static __always_inline int on_ovs_key(const struct sk_buff *skb, const void *keyp)
{
	const struct sw_flow_key___st *key = keyp;
	struct st_ct_ovs_event *e;
	struct st_ct_cfg *c;
	__u32 netns, ifindex;
	__u8 st;
	__u16 zone;

	if (!skb || !key || !bpf_core_type_exists(struct sw_flow_key___st))
		return 0;
	st_skb_where(skb, &netns, &ifindex);
	c = cfg_for(netns);
	if (!c)
		return 0;
	st = BPF_CORE_READ(key, ct_state);
	zone = BPF_CORE_READ(key, ct_zone);
	ct_add(netns, ST_CK_OVS, st, zone, 0, BPF_CORE_READ(skb, len));
	if (!(st & OVS_CS_F_INVALID) || !(c->flags & ST_CTF_OVS))
		return 0;
	e = bpf_ringbuf_reserve(&ovs_events, sizeof(*e), 0);
	if (!e) {
		cc_count(ST_CC_RINGBUF_FULL);
		return 0;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->ts = bpf_ktime_get_ns();
	e->netns = netns;
	e->ifindex = ifindex;
	e->ct_state = st;
	e->zone = zone;
	e->proto = BPF_CORE_READ(key, ip.proto);
	e->mark = BPF_CORE_READ(key, ct.mark);
	if (BPF_CORE_READ(skb, protocol) == bpf_htons(ST_ETH_P_IP)) {
		e->saddr = BPF_CORE_READ(key, ipv4.addr.src);
		e->daddr = BPF_CORE_READ(key, ipv4.addr.dst);
		e->sport = BPF_CORE_READ(key, tp.src);
		e->dport = BPF_CORE_READ(key, tp.dst);
	}
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* int ovs_ct_execute(struct net *, struct sk_buff *, struct sw_flow_key *,
 *                    const struct ovs_conntrack_info *) */
SEC("fexit/ovs_ct_execute")
int fexit_ovs_ct_execute(__u64 *ctx)
{
	return on_ovs_key((const struct sk_buff *)ctx[1], (const void *)ctx[2]);
}

SEC("kprobe/ovs_ct_execute")
int kprobe_ovs_ct_execute(struct pt_regs *ctx)
{
	__u32 i = 1;
	struct stash *s = bpf_map_lookup_elem(&stashes, &i);

	if (s) {
		s->a0 = PT_REGS_PARM2(ctx);
		s->a1 = PT_REGS_PARM3(ctx);
	}
	return 0;
}

SEC("kretprobe/ovs_ct_execute")
int kretprobe_ovs_ct_execute(struct pt_regs *ctx)
{
	__u32 i = 1;
	struct stash *s = bpf_map_lookup_elem(&stashes, &i);

	if (!s || !s->a0)
		return 0;
	on_ovs_key((const struct sk_buff *)s->a0, (const void *)s->a1);
	s->a0 = 0;
	return 0;
}

/* void ovs_ct_update_key(const struct sk_buff *, const struct ovs_conntrack_info *,
 *                        struct sw_flow_key *, bool post_ct, bool keep_ct) */
SEC("fexit/ovs_ct_update_key")
int fexit_ovs_ct_update_key(__u64 *ctx)
{
	return on_ovs_key((const struct sk_buff *)ctx[0], (const void *)ctx[2]);
}

SEC("kprobe/ovs_ct_update_key")
int kprobe_ovs_ct_update_key(struct pt_regs *ctx)
{
	__u32 i = 2;
	struct stash *s = bpf_map_lookup_elem(&stashes, &i);

	if (s) {
		s->a0 = PT_REGS_PARM1(ctx);
		s->a1 = PT_REGS_PARM3(ctx);
	}
	return 0;
}

SEC("kretprobe/ovs_ct_update_key")
int kretprobe_ovs_ct_update_key(struct pt_regs *ctx)
{
	__u32 i = 2;
	struct stash *s = bpf_map_lookup_elem(&stashes, &i);

	if (!s || !s->a0)
		return 0;
	on_ovs_key((const struct sk_buff *)s->a0, (const void *)s->a1);
	s->a0 = 0;
	return 0;
}
