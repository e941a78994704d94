/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The maps and helpers every mode of bpf/qdisc.bpf.c shares: configuration
 * and filters, the generation-flipped row and histogram maps, how a qdisc
 * or TX queue is identified (CO-RE reads only; TX queue index from the
 * running kernel's size of struct netdev_queue), queue depth, events and
 * counters. Included once, by bpf/qdisc.bpf.c, after vmlinux.h.
 */
#ifndef ST_QDISC_COMMON_BPF_H
#define ST_QDISC_COMMON_BPF_H

#include "qdisc.h"
#include "hist_index.h"
#include "parse.bpf.h"
#include "filter.bpf.h"

/* Which generation's maps programs write to; user space flips it. */
volatile __u32 qdisc_gen;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct st_qd_cfg);
} qd_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u8);
} qd_netns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, struct st_qd_dev);
	__type(value, __u8);
} qd_devs SEC(".maps");

/* Drop reasons counted: value 1 = a qdisc reason (depth of the device's
 * TX queue qdisc is read), 2 = a tc reason (device only). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ST_QD_MAX_REASONS);
	__type(key, __u32);
	__type(value, __u8);
} qd_reasons SEC(".maps");

/* skb address -> enqueue (or net_dev_queue) time. LRU: an skb that is
 * enqueued and never dequeued (reset, destroyed qdisc) ages out. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, ST_QD_MAX_INFLIGHT);
	__type(key, __u64);
	__type(value, __u64);
} qd_stamps SEC(".maps");

#define QD_HIST_MAP(name)					\
	struct {						\
		__uint(type, BPF_MAP_TYPE_HASH);		\
		__uint(max_entries, ST_QD_MAX_HIST);		\
		__type(key, struct st_qd_hkey);			\
		__type(value, __u64);				\
	} name SEC(".maps")
#define QD_ROW_MAP(name, type_, key_, val_)			\
	struct {						\
		__uint(type, type_);				\
		__uint(max_entries, ST_QD_MAX_KEYS);		\
		__type(key, key_);				\
		__type(value, val_);				\
	} name SEC(".maps")

QD_HIST_MAP(hist0);
QD_HIST_MAP(hist1);
QD_ROW_MAP(hstat0, BPF_MAP_TYPE_PERCPU_HASH, struct st_qd_key, struct st_qd_hstat);
QD_ROW_MAP(hstat1, BPF_MAP_TYPE_PERCPU_HASH, struct st_qd_key, struct st_qd_hstat);
QD_ROW_MAP(deq0, BPF_MAP_TYPE_PERCPU_HASH, struct st_qd_key, struct st_qd_deq);
QD_ROW_MAP(deq1, BPF_MAP_TYPE_PERCPU_HASH, struct st_qd_key, struct st_qd_deq);
QD_ROW_MAP(drop0, BPF_MAP_TYPE_PERCPU_HASH, struct st_qd_dkey, struct st_qd_dval);
QD_ROW_MAP(drop1, BPF_MAP_TYPE_PERCPU_HASH, struct st_qd_dkey, struct st_qd_dval);
QD_ROW_MAP(xmit0, BPF_MAP_TYPE_PERCPU_HASH, struct st_qd_key, struct st_qd_xval);
QD_ROW_MAP(xmit1, BPF_MAP_TYPE_PERCPU_HASH, struct st_qd_key, struct st_qd_xval);

/* A zeroed st_qd_deq to insert from: it is larger than the BPF stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct st_qd_deq);
} qd_zero SEC(".maps");

/* The TX queue net_dev_start_xmit last started on this CPU: net_dev_xmit
 * follows it on the same CPU and may not touch the (consumed) skb. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct st_qd_key);
} qd_cur_txq SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} qd_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ST_QC_MAX);
	__type(key, __u32);
	__type(value, __u64);
} qd_counters SEC(".maps");

static __always_inline void qc(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&qd_counters, &idx);

	if (c)
		*c += 1;
}

static __always_inline struct st_qd_cfg *qd_config(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&qd_cfg, &zero);
}

/* ---- identifying qdiscs and TX queues ----------------------------------- */

static __always_inline void qd_dev_id(struct net_device *dev, struct st_qd_key *k)
{
	k->netns = BPF_CORE_READ(dev, nd_net.net, ns.inum);
	k->ifindex = BPF_CORE_READ(dev, ifindex);
}

/* Index of txq in dev->_tx, with the running kernel's struct size. */
static __always_inline __u32 qd_txq_index(struct net_device *dev,
					  const struct netdev_queue *txq)
{
	__u64 base = (__u64)BPF_CORE_READ(dev, _tx);
	__u64 sz = bpf_core_type_size(struct netdev_queue);

	__u64 idx;

	/* An ingress/clsact qdisc hangs off dev->ingress_queue, which is
	 * not one of the TX queues. */
	if (!txq || !sz || (__u64)txq < base)
		return ST_QD_NO_TXQ;
	idx = ((__u64)txq - base) / sz;
	return idx < BPF_CORE_READ(dev, num_tx_queues) ? (__u32)idx : ST_QD_NO_TXQ;
}

static __always_inline struct netdev_queue *qd_txq_at(struct net_device *dev, __u32 idx)
{
	__u64 base = (__u64)BPF_CORE_READ(dev, _tx);

	return (struct netdev_queue *)(base + (__u64)idx * bpf_core_type_size(struct netdev_queue));
}

/*
 * The key of qdisc q. The TX queue is the skb's queue_mapping when there is
 * an skb, else the qdisc's own dev_queue. Addresses are only ever used as
 * numbers read with BPF_CORE_READ: tp_btf hands trusted pointers, and the
 * verifier refuses arithmetic on those.
 */
static __always_inline void qd_key_of(struct Qdisc *q, struct sk_buff *skb,
				      struct st_qd_key *k)
{
	const struct Qdisc_ops *ops = BPF_CORE_READ(q, ops);
	struct netdev_queue *dq = BPF_CORE_READ(q, dev_queue);
	struct net_device *dev = BPF_CORE_READ(dq, dev);

	if (dev) {
		qd_dev_id(dev, k);
		k->txq = skb ? BPF_CORE_READ(skb, queue_mapping) : qd_txq_index(dev, dq);
	}
	k->handle = BPF_CORE_READ(q, handle);
	k->parent = BPF_CORE_READ(q, parent);
	if (ops)
		bpf_probe_read_kernel_str(k->kind, sizeof(k->kind), &ops->id);
}

/* 1 when the netns/device filters let (netns, ifindex) through. */
static __always_inline int qd_pass(const struct st_qd_cfg *c, const struct st_qd_key *k)
{
	if ((c->flags & ST_QF_NETNS) && !bpf_map_lookup_elem(&qd_netns, &k->netns)) {
		qc(ST_QC_FILTERED);
		return 0;
	}
	if (c->flags & ST_QF_DEV) {
		struct st_qd_dev d = { .netns = k->netns, .ifindex = k->ifindex };

		if (!bpf_map_lookup_elem(&qd_devs, &d)) {
			qc(ST_QC_FILTERED);
			return 0;
		}
	}
	return 1;
}

/* Key the packet when a header filter or events need it; 0 = filtered. */
static __always_inline int qd_headers(const struct st_qd_cfg *c, struct sk_buff *skb,
				      struct st_pkt_key *pk, __u8 *keyed)
{
	struct st_parse_out po = {};

	*keyed = 0;
	if (!(c->pf.flags & ST_PF_HEADERS) && !(c->flags & ST_QF_EVENTS))
		return 1;
	*keyed = st_parse_skb(skb, pk, &po) == 0;
	if (!(c->pf.flags & ST_PF_HEADERS))
		return 1;
	if (!*keyed || !st_pf_match(&c->pf, pk)) {
		qc(ST_QC_FILTER_HDR);
		return 0;
	}
	return 1;
}

/* Queue depth of q: 0 when unknown (qdiscs with per-CPU statistics keep
 * their qlen and backlog per CPU, pfifo_fast for one). */
static __always_inline int qd_depth(struct Qdisc *q, __u32 *qlen, __u32 *backlog)
{
	*qlen = 0;
	*backlog = 0;
	if (!q || BPF_CORE_READ(q, cpu_qstats))
		return 0;
	*qlen = BPF_CORE_READ(q, q.qlen);
	*backlog = BPF_CORE_READ(q, qstats.backlog);
	return 1;
}

static __always_inline struct st_qd_event *qd_event(__u32 type, const struct st_qd_key *k)
{
	struct st_qd_event *e = bpf_ringbuf_reserve(&qd_events, sizeof(*e), 0);

	if (!e) {
		qc(ST_QC_RINGBUF_FULL);
		return NULL;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->ts = bpf_ktime_get_ns();
	e->type = type;
	e->cpu = bpf_get_smp_processor_id();
	e->pid = bpf_get_current_pid_tgid() >> 32;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	e->k = *k;
	return e;
}

/* ---- histograms --------------------------------------------------------- */

static __always_inline int qd_hist_add(void *hmap, void *smap, const struct st_qd_key *k,
				       __u64 v)
{
	struct st_qd_hkey hk = { .k = *k, .bucket = st_hist_index(v) };
	struct st_qd_hstat *s, ns = { .count = 1, .sum = v, .min = v, .max = v };
	__u64 one = 1, *b;

	b = bpf_map_lookup_elem(hmap, &hk);
	if (b) {
		__sync_fetch_and_add(b, 1);
	} else if (bpf_map_update_elem(hmap, &hk, &one, BPF_NOEXIST)) {
		b = bpf_map_lookup_elem(hmap, &hk);
		if (!b)
			return -1;
		__sync_fetch_and_add(b, 1);
	}
	s = bpf_map_lookup_elem(smap, k);
	if (!s)
		return bpf_map_update_elem(smap, k, &ns, BPF_NOEXIST) ? -1 : 0;
	s->count++;
	s->sum += v;
	if (v < s->min)
		s->min = v;
	if (v > s->max)
		s->max = v;
	return 0;
}

static __always_inline void qd_record(const struct st_qd_key *k, __u64 v)
{
	int rc;

	if (qdisc_gen & 1)
		rc = qd_hist_add(&hist1, &hstat1, k, v);
	else
		rc = qd_hist_add(&hist0, &hstat0, k, v);
	qc(rc ? ST_QC_MAP_FULL : ST_QC_MATCHED);
}

/* Find or insert the per-CPU row of key in map (zeroed from qd_zero). */
static __always_inline void *qd_row(void *map, const void *key)
{
	__u32 zero = 0;
	void *v = bpf_map_lookup_elem(map, key), *z;

	if (v)
		return v;
	z = bpf_map_lookup_elem(&qd_zero, &zero);
	if (!z)
		return NULL;
	bpf_map_update_elem(map, key, z, BPF_NOEXIST);
	v = bpf_map_lookup_elem(map, key);
	if (!v)
		qc(ST_QC_MAP_FULL);
	return v;
}

#endif /* ST_QDISC_COMMON_BPF_H */
