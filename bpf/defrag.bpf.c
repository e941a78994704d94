// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * IPv4 reassembly: fragments per flow, datagrams whose fragments all came,
 * and reassembly failures with the kernel's reason.
 *
 * What works everywhere (tracepoints): net:netif_receive_skb sees each
 * fragment before the stack queues it; the flow table follows each
 * datagram (fragments, bytes, first/last seen) and counts it complete when
 * every payload byte arrived. skb:kfree_skb sees fragments dropped: a
 * reason whose value user space put in fail_reasons (the enum's FRAG_*
 * names, read from BTF) kills the reassembly queue, so the datagram
 * counts as failed once, with that reason and location; so does a drop
 * with the default reason from inside ip_defrag/ip_frag_queue, where the
 * kernel discards a queue (overlap, contradicting length) without naming
 * why; any other reason counts as one dropped fragment. Fragments freed
 * from a killed queue
 * (inet_frag_rbtree_purge) have no device any more (skb->dev shares its
 * storage with the queue's rb-tree node), so their netns comes from the
 * header index, which remembers where each (src, dst, id, proto) was seen.
 *
 * What needs function hooks (kprobe or fentry, used where they attach):
 * ip_defrag's return value (0: the datagram was reassembled), ip_frag_queue
 * errors and ip_expire runs. Each has an fentry/fexit program and a
 * kprobe/kretprobe pair around one static function; user space keeps the
 * alternative its kernel attaches.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>

#include "defrag.h"
#include "netparse.bpf.h"
#include "counts.bpf.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define EINPROGRESS 115

volatile __u32 defrag_gen;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct st_defrag_cfg);
} defrag_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u8);
} frag_netns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, struct st_frag_dev);
	__type(value, __u8);
} frag_devs SEC(".maps");

/* Drop reasons that kill a reassembly queue (filled from BTF). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u8);
} fail_reasons SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, ST_DEFRAG_MAX_FLOWS);
	__type(key, struct st_frag_key);
	__type(value, struct st_frag_flow);
} flows SEC(".maps");

/* (src, dst, id, proto) with netns 0 -> the netns/ifindex it was seen in. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, ST_DEFRAG_MAX_FLOWS);
	__type(key, struct st_frag_key);
	__type(value, struct st_frag_dev);
} byhdr SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ST_DEFRAG_MAX_KEYS);
	__type(key, struct st_frag_ckey);
	__type(value, struct st_frag_cval);
} counts0 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ST_DEFRAG_MAX_KEYS);
	__type(key, struct st_frag_ckey);
	__type(value, struct st_frag_cval);
} counts1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} frag_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ST_GC_MAX);
	__type(key, __u32);
	__type(value, __u64);
} defrag_counters SEC(".maps");

/* Arguments a kprobe hands to its kretprobe, per CPU: ip_defrag and
 * ip_frag_queue run in softirq and do not nest. */
struct stash {
	__u64 a0, a1;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct stash);
} stashes SEC(".maps");

static __always_inline void gc_count(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&defrag_counters, &idx);

	if (c)
		*c += 1;
}

static __always_inline void fg_add(__u32 netns, __u32 ifindex, __u32 kind, __u32 reason,
				   __u32 bytes)
{
	struct st_frag_ckey k = { netns, ifindex, kind, reason };
	int rc;

	if (defrag_gen & 1)
		rc = st_count_add(&counts1, &k, bytes);
	else
		rc = st_count_add(&counts0, &k, bytes);
	if (rc)
		gc_count(ST_GC_MAP_FULL);
}

static __always_inline int where_ok(const struct st_defrag_cfg *c, __u32 netns, __u32 ifindex)
{
	if ((c->flags & ST_FG_NETNS) && !bpf_map_lookup_elem(&frag_netns, &netns))
		return 0;
	if (c->flags & ST_FG_DEV) {
		struct st_frag_dev dk = { netns, ifindex };

		if (!bpf_map_lookup_elem(&frag_devs, &dk))
			return 0;
	}
	return 1;
}

static __always_inline int hdr_ok(const struct st_defrag_cfg *c, const struct st_ipfrag *f)
{
	const struct st_pkt_filter *p = &c->pf;

	if ((p->flags & ST_PF_PROTO) && f->proto != p->proto)
		return 0;
	if ((p->flags & ST_PF_SRC) && (f->saddr & p->src_mask) != p->src_addr)
		return 0;
	if ((p->flags & ST_PF_DST) && (f->daddr & p->dst_mask) != p->dst_addr)
		return 0;
	return 1;
}

static __always_inline void emit(__u32 kind, const struct st_frag_key *k,
				 const struct st_frag_flow *fl, __u32 ifindex,
				 const struct st_ipfrag *f, __u32 reason, __u64 loc, __u8 unseen)
{
	struct st_frag_event *e = bpf_ringbuf_reserve(&frag_events, sizeof(*e), 0);

	if (!e) {
		gc_count(ST_GC_RINGBUF_FULL);
		return;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->ts = bpf_ktime_get_ns();
	e->kind = kind;
	e->reason = reason;
	e->location = loc;
	e->ifindex = ifindex;
	e->unseen = unseen;
	e->key = *k;
	if (f) {
		e->offset = f->offset;
		e->len = f->payload;
		e->more = f->more;
	}
	if (fl)
		e->flow = *fl;
	bpf_ringbuf_submit(e, 0);
}

static __always_inline void key_of(struct st_frag_key *k, const struct st_ipfrag *f, __u32 netns)
{
	k->saddr = f->saddr;
	k->daddr = f->daddr;
	k->id = f->id;
	k->proto = f->proto;
	k->pad = 0;
	k->netns = netns;
}

/* ---- fragments received ----------------------------------------------- */

static __always_inline int on_rx(struct sk_buff *skb)
{
	__u32 zero = 0, off, netns, ifindex, end;
	struct st_defrag_cfg *c = bpf_map_lookup_elem(&defrag_cfg, &zero);
	struct st_frag_key k = {}, hk = {};
	struct st_frag_dev where;
	struct st_frag_flow *fl, nf = {};
	struct st_ipfrag f;
	const void *head;
	__u64 now;

	if (!c || !skb)
		return 0;
	gc_count(ST_GC_RX_CALLS);
	if (st_skb_l3(skb, &head, &off) != bpf_htons(ST_ETH_P_IP) || st_read_ipv4(head, off, &f))
		return 0;
	if (!f.more && !f.offset)
		return 0;
	gc_count(ST_GC_FRAGMENTS);
	st_skb_where(skb, &netns, &ifindex);
	if (!where_ok(c, netns, ifindex) || !hdr_ok(c, &f)) {
		gc_count(ST_GC_FILTERED);
		return 0;
	}
	fg_add(netns, ifindex, ST_FK_FRAGMENT, 0, f.payload);
	key_of(&k, &f, netns);
	key_of(&hk, &f, 0);
	where.netns = netns;
	where.ifindex = ifindex;
	bpf_map_update_elem(&byhdr, &hk, &where, BPF_ANY);

	now = bpf_ktime_get_ns();
	fl = bpf_map_lookup_elem(&flows, &k);
	if (!fl || fl->state != ST_FS_PENDING) {
		/* A new datagram (an id reused after a finished one too). */
		nf.first_ts = now;
		nf.ifindex = ifindex;
		if (bpf_map_update_elem(&flows, &k, &nf, BPF_ANY)) {
			gc_count(ST_GC_FLOW_FULL);
			return 0;
		}
		fl = bpf_map_lookup_elem(&flows, &k);
		if (!fl) {
			gc_count(ST_GC_FLOW_FULL);
			return 0;
		}
	}
	fl->last_ts = now;
	fl->frags += 1;
	fl->bytes += f.payload;
	if (!f.offset)
		fl->have_first = 1;
	if (!f.more) {
		fl->have_last = 1;
		end = (__u32)f.offset + f.payload;
		fl->end = end;
	}
	if (c->flags & ST_FG_EVENTS)
		emit(ST_FE_FRAGMENT, &k, NULL, ifindex, &f, 0, 0, 0);
	if (fl->have_first && fl->have_last && fl->bytes >= fl->end) {
		fl->state = ST_FS_COMPLETE;
		fg_add(netns, fl->ifindex, ST_FK_COMPLETE, 0, fl->end);
		if (c->flags & ST_FG_EVENTS)
			emit(ST_FE_COMPLETE, &k, fl, fl->ifindex, NULL, 0, 0, 0);
	}
	return 0;
}

SEC("tp_btf/netif_receive_skb")
int BPF_PROG(btf_frag_rx, struct sk_buff *skb)
{
	return on_rx(skb);
}

SEC("raw_tp/netif_receive_skb")
int BPF_PROG(raw_frag_rx, struct sk_buff *skb)
{
	return on_rx(skb);
}

/* ---- fragments dropped ---------------------------------------------------- */

static __always_inline int on_drop(__u64 *ctx)
{
	struct sk_buff *skb = (struct sk_buff *)ctx[0];
	__u32 zero = 0, off, netns, ifindex, reason = 0;
	struct st_defrag_cfg *c = bpf_map_lookup_elem(&defrag_cfg, &zero);
	struct st_frag_key k = {};
	struct st_frag_flow *fl, nf = {};
	struct st_ipfrag f;
	const void *head;
	int kills;

	if (!c || !skb)
		return 0;
	gc_count(ST_GC_DROP_CALLS);
	if (bpf_core_enum_value_exists(enum skb_drop_reason, SKB_DROP_REASON_NOT_SPECIFIED))
		reason = (__u32)ctx[2];
	/* Queued fragments have no MAC header offset worth trusting; the
	 * network header is always set by then. */
	head = BPF_CORE_READ(skb, head);
	off = BPF_CORE_READ(skb, network_header);
	if (BPF_CORE_READ(skb, protocol) != bpf_htons(ST_ETH_P_IP) || st_read_ipv4(head, off, &f))
		return 0;
	if (!f.more && !f.offset)
		return 0;
	gc_count(ST_GC_FRAG_DROPS);
	st_skb_where(skb, &netns, &ifindex);
	if (!netns) {
		struct st_frag_dev *w;

		key_of(&k, &f, 0);
		w = bpf_map_lookup_elem(&byhdr, &k);
		if (w) {
			netns = w->netns;
			ifindex = w->ifindex;
		}
	}
	if (!where_ok(c, netns, ifindex) || !hdr_ok(c, &f)) {
		gc_count(ST_GC_FILTERED);
		return 0;
	}
	kills = bpf_map_lookup_elem(&fail_reasons, &reason) != NULL;
	if (!kills && c->kill_reason && reason == c->kill_reason) {
#pragma unroll
		for (int i = 0; i < ST_DEFRAG_KILL_RANGES; i++)
			if (ctx[1] >= c->kill_lo[i] && ctx[1] < c->kill_hi[i])
				kills = 1;
	}
	key_of(&k, &f, netns);
	fl = bpf_map_lookup_elem(&flows, &k);
	/* A reassembled datagram keeps its fragments on its frag_list; when
	 * it is freed they are freed with it, with its reason. That is the
	 * datagram's fate (drops shows it), not a fragment drop. */
	if (fl && fl->state == ST_FS_COMPLETE && !kills) {
		gc_count(ST_GC_AFTER_REASM);
		return 0;
	}
	fg_add(netns, ifindex, ST_FK_DROPPED, reason, f.payload);
	if (fl) {
		fl->drops += 1;
		if (!kills || fl->state != ST_FS_PENDING)
			return 0;
	} else if (!kills) {
		return 0;
	}
	/* The datagram's queue was killed: it fails once, with this reason. */
	if (!netns)
		gc_count(ST_GC_NO_NETNS);
	if (!fl) {
		/* Failed before we saw any of it: remember it failed, so the
		 * rest of its fragments do not fail it again. */
		nf.first_ts = nf.last_ts = bpf_ktime_get_ns();
		nf.ifindex = ifindex;
		nf.drops = 1;
		nf.state = ST_FS_FAILED;
		nf.reason = reason;
		nf.location = ctx[1];
		fg_add(netns, ifindex, ST_FK_FAILED, reason, 0);
		emit(ST_FE_FAILED, &k, &nf, ifindex, &f, reason, ctx[1], 1);
		if (bpf_map_update_elem(&flows, &k, &nf, BPF_ANY))
			gc_count(ST_GC_FLOW_FULL);
		return 0;
	}
	fl->state = ST_FS_FAILED;
	fl->reason = reason;
	fl->location = ctx[1];
	fg_add(netns, fl->ifindex, ST_FK_FAILED, reason, fl->bytes);
	emit(ST_FE_FAILED, &k, fl, fl->ifindex, &f, reason, ctx[1], 0);
	return 0;
}

SEC("tp_btf/kfree_skb")
int btf_frag_drop(__u64 *ctx)
{
	return on_drop(ctx);
}

SEC("raw_tp/kfree_skb")
int raw_frag_drop(__u64 *ctx)
{
	return on_drop(ctx);
}

/* ---- function hooks, where the kernel lets them attach -------------------- */

static __always_inline __u32 net_inum(const struct net *net)
{
	return BPF_CORE_READ(net, ns.inum);
}

/* ip_defrag(net, skb, user) returned ret. */
static __always_inline int on_defrag_ret(struct net *net, struct sk_buff *skb, int ret)
{
	__u32 zero = 0, netns = net_inum(net), ifindex = 0;
	struct st_defrag_cfg *c = bpf_map_lookup_elem(&defrag_cfg, &zero);
	struct net_device *dev;
	struct st_frag_key k = {};
	struct st_ipfrag f;

	if (!c || !skb || ret != 0)
		return 0;
	dev = BPF_CORE_READ(skb, dev);
	if (dev)
		ifindex = BPF_CORE_READ(dev, ifindex);
	if (st_read_ipv4(BPF_CORE_READ(skb, head), BPF_CORE_READ(skb, network_header), &f))
		return 0;
	if (!where_ok(c, netns, ifindex) || !hdr_ok(c, &f))
		return 0;
	fg_add(netns, ifindex, ST_FK_REASSEMBLED, 0, f.payload);
	if (c->flags & ST_FG_EVENTS) {
		key_of(&k, &f, netns);
		emit(ST_FE_REASSEMBLED, &k, NULL, ifindex, &f, 0, 0, 0);
	}
	return 0;
}

/* ip_frag_queue(qp, skb) returned ret. */
static __always_inline int on_queue_ret(struct ipq *qp, int ret)
{
	__u32 netns;

	if (!qp || ret >= 0 || ret == -EINPROGRESS)
		return 0;
	netns = BPF_CORE_READ(qp, q.fqdir, net, ns.inum);
	fg_add(netns, 0, ST_FK_QUEUE_ERROR, (__u32)-ret, 0);
	return 0;
}

/* ip_expire(timer): the queue's timer fired. */
static __always_inline int on_expire(void *timer)
{
	__u32 zero = 0;
	struct st_defrag_cfg *c = bpf_map_lookup_elem(&defrag_cfg, &zero);
	struct inet_frag_queue *q;
	struct st_frag_key k = {};
	__u32 netns;

	if (!c || !timer)
		return 0;
	q = (void *)timer - bpf_core_field_offset(struct inet_frag_queue, timer);
	netns = BPF_CORE_READ(q, fqdir, net, ns.inum);
	k.saddr = BPF_CORE_READ(q, key.v4.saddr);
	k.daddr = BPF_CORE_READ(q, key.v4.daddr);
	k.id = bpf_ntohs(BPF_CORE_READ(q, key.v4.id));
	k.proto = BPF_CORE_READ(q, key.v4.protocol);
	k.netns = netns;
	if (!where_ok(c, netns, 0))
		return 0;
	fg_add(netns, 0, ST_FK_EXPIRED, 0, 0);
	if (c->flags & ST_FG_EVENTS)
		emit(ST_FE_EXPIRED, &k, NULL, 0, NULL, 0, 0, 0);
	return 0;
}

SEC("fexit/ip_defrag")
int BPF_PROG(fexit_ip_defrag, struct net *net, struct sk_buff *skb, u32 user, int ret)
{
	return on_defrag_ret(net, skb, ret);
}

SEC("kprobe/ip_defrag")
int BPF_KPROBE(kprobe_ip_defrag, struct net *net, struct sk_buff *skb)
{
	__u32 i = 0;
	struct stash *s = bpf_map_lookup_elem(&stashes, &i);

	if (s) {
		s->a0 = (__u64)net;
		s->a1 = (__u64)skb;
	}
	return 0;
}

SEC("kretprobe/ip_defrag")
int BPF_KRETPROBE(kretprobe_ip_defrag, int ret)
{
	__u32 i = 0;
	struct stash *s = bpf_map_lookup_elem(&stashes, &i);

	if (!s || !s->a1)
		return 0;
	on_defrag_ret((struct net *)s->a0, (struct sk_buff *)s->a1, ret);
	s->a1 = 0;
	return 0;
}

SEC("fexit/ip_frag_queue")
int BPF_PROG(fexit_ip_frag_queue, struct ipq *qp, struct sk_buff *skb, int ret)
{
	return on_queue_ret(qp, ret);
}

SEC("kprobe/ip_frag_queue")
int BPF_KPROBE(kprobe_ip_frag_queue, struct ipq *qp)
{
	__u32 i = 1;
	struct stash *s = bpf_map_lookup_elem(&stashes, &i);

	if (s)
		s->a0 = (__u64)qp;
	return 0;
}

SEC("kretprobe/ip_frag_queue")
int BPF_KRETPROBE(kretprobe_ip_frag_queue, int ret)
{
	__u32 i = 1;
	struct stash *s = bpf_map_lookup_elem(&stashes, &i);

	if (!s || !s->a0)
		return 0;
	on_queue_ret((struct ipq *)s->a0, ret);
	s->a0 = 0;
	return 0;
}

SEC("fentry/ip_expire")
int BPF_PROG(fentry_ip_expire, struct timer_list *t)
{
	return on_expire(t);
}

SEC("kprobe/ip_expire")
int BPF_KPROBE(kprobe_ip_expire, struct timer_list *t)
{
	return on_expire(t);
}
