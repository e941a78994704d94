// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The qdisc tracer: queueing latency, dequeue patterns, qdisc drops with
 * the queue depth at the drop, TX queue behaviour and qdisc lifecycle
 * events, from tracepoints only (qdisc:*, net:net_dev_*, skb:kfree_skb,
 * qdisc dql_stall_detected). The modes and what they count are described
 * in bpf/qdisc.h; user space loads the programs of one mode.
 *
 * Every hook first finds the qdisc or TX queue the event belongs to as
 * (netns inode, ifindex, handle, parent, txq index, kind) with CO-RE reads
 * and applies the netns/device filter to it; header filters (protocol,
 * ports, addresses) are applied where there is a packet to parse. The TX
 * queue index is computed from the queue's address in dev->_tx and the
 * running kernel's size of struct netdev_queue, never a compiled-in size.
 *
 * Each tracepoint exists twice, a tp_btf and a raw_tp program around one
 * static function (QD_HOOK below); user space probes which one the running
 * kernel takes and turns the other one's autoload off.
 *
 * This file holds the latency, dequeue, drops and tc modes; the maps and
 * shared helpers are in qdisc_common.bpf.h, the xmit mode in
 * qdisc_xmit.bpf.h, the tc classifier function hook in qdisc_tc.bpf.h (one
 * object, so one skeleton and one set of maps).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>

#include "qdisc_common.bpf.h"
#include "qdisc_xmit.bpf.h"
#include "qdisc_tc.bpf.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* ---- latency and dequeue modes ------------------------------------------ */

static __always_inline int qd_enqueue(__u64 *ctx)
{
	struct Qdisc *q = (struct Qdisc *)ctx[0];
	struct sk_buff *skb = (struct sk_buff *)ctx[2];
	struct st_qd_cfg *c = qd_config();
	struct st_qd_key k = {};
	struct st_pkt_key pk = {};
	__u64 ts, addr = (__u64)skb;
	__u8 keyed;

	if (!c || c->mode != ST_QD_LATENCY || !skb)
		return 0;
	qc(ST_QC_CALLS);
	qd_key_of(q, skb, &k);
	if (!qd_pass(c, &k))
		return 0;
	if (c->pf.flags & ST_PF_HEADERS) {
		struct st_pkt_filter pf = c->pf;
		struct st_qd_cfg tmp = { .flags = 0, .pf = pf };

		if (!qd_headers(&tmp, skb, &pk, &keyed))
			return 0;
	}
	ts = bpf_ktime_get_ns();
	bpf_map_update_elem(&qd_stamps, &addr, &ts, BPF_ANY);
	qc(ST_QC_STAMPED);
	return 0;
}

static __always_inline void qd_latency_one(const struct st_qd_cfg *c,
					   const struct st_qd_key *k,
					   struct sk_buff *skb, __u64 now)
{
	__u64 addr = (__u64)skb, *ts = bpf_map_lookup_elem(&qd_stamps, &addr), lat;
	struct st_qd_event *e;

	if (!ts) {
		qc(ST_QC_UNMATCHED);
		return;
	}
	lat = now > *ts ? now - *ts : 0;
	bpf_map_delete_elem(&qd_stamps, &addr);
	qd_record(k, lat);
	if (!(c->flags & ST_QF_EVENTS))
		return;
	e = qd_event(ST_QE_LATENCY, k);
	if (!e)
		return;
	e->lat_ns = lat;
	e->len = BPF_CORE_READ(skb, len);
	e->keyed = st_parse_skb(skb, &e->key, &(struct st_parse_out){}) == 0;
	bpf_ringbuf_submit(e, 0);
}

static __always_inline void qd_dequeue_count(void *map, const struct st_qd_key *k,
					     struct Qdisc *q, struct sk_buff *skb,
					     int packets)
{
	struct st_qd_deq *d = qd_row(map, k);
	__u64 bytes = 0;
	__u32 n = 0;

	if (!d)
		return;
	d->requeues = BPF_CORE_READ(q, qstats.requeues);
	if (!d->calls)
		d->requeues_first = d->requeues;
	d->calls++;
	if (!skb) {
		d->empty++;
		return;
	}
	for (int i = 0; i < ST_QD_MAX_BATCH && skb; i++) {
		bytes += BPF_CORE_READ(skb, len);
		n++;
		skb = BPF_CORE_READ(skb, next);
	}
	if (skb)
		qc(ST_QC_BATCH_CUT);
	/* The kernel's own count covers lists longer than we follow. */
	if (packets > 0 && (__u32)packets > n)
		n = packets;
	d->packets += n;
	d->bytes += bytes;
	if (n > d->max_batch)
		d->max_batch = n;
	d->batch[n < ST_QD_MAX_BATCH ? n : ST_QD_MAX_BATCH]++;
	qc(ST_QC_COUNTED);
}

static __always_inline int qd_dequeue(__u64 *ctx)
{
	struct Qdisc *q = (struct Qdisc *)ctx[0];
	int packets = (int)ctx[2];
	struct sk_buff *skb = (struct sk_buff *)ctx[3];
	struct st_qd_cfg *c = qd_config();
	struct st_qd_key k = {};
	__u64 now;

	if (!c || (c->mode != ST_QD_LATENCY && c->mode != ST_QD_DEQUEUE))
		return 0;
	if (c->mode == ST_QD_LATENCY && !skb)
		return 0;
	qc(ST_QC_CALLS);
	qd_key_of(q, skb, &k);
	if (!qd_pass(c, &k))
		return 0;
	if (c->mode == ST_QD_DEQUEUE) {
		if (qdisc_gen & 1)
			qd_dequeue_count(&deq1, &k, q, skb, packets);
		else
			qd_dequeue_count(&deq0, &k, q, skb, packets);
		return 0;
	}
	now = bpf_ktime_get_ns();
	for (int i = 0; i < ST_QD_MAX_BATCH && skb; i++) {
		qd_latency_one(c, &k, skb, now);
		skb = BPF_CORE_READ(skb, next);
	}
	if (skb)
		qc(ST_QC_BATCH_CUT);
	return 0;
}

/* ---- drops -------------------------------------------------------------- */

static __always_inline void qd_drop_add(void *map, const struct st_qd_dkey *dk, __u32 len,
					int known, __u32 qlen, __u32 backlog)
{
	struct st_qd_dval *v = qd_row(map, dk);

	if (!v)
		return;
	v->count++;
	v->bytes += len;
	if (!known) {
		v->depth_unknown++;
	} else {
		v->qlen_sum += qlen;
		v->backlog_sum += backlog;
		if (qlen > v->qlen_max)
			v->qlen_max = qlen;
		if (backlog > v->backlog_max)
			v->backlog_max = backlog;
	}
	qc(ST_QC_COUNTED);
}

static __always_inline int qd_kfree_skb(__u64 *ctx)
{
	struct sk_buff *skb = (struct sk_buff *)ctx[0];
	struct st_qd_cfg *c = qd_config();
	struct st_qd_dkey dk = {};
	struct st_pkt_key pk = {};
	struct st_qd_event *e;
	struct net_device *dev;
	struct Qdisc *q = NULL;
	__u32 reason, qlen = 0, backlog = 0, len;
	__u8 *kind, keyed = 0;
	int known = 0;

	if (!c || (c->mode != ST_QD_DROPS && c->mode != ST_QD_TC) || !skb)
		return 0;
	if (!bpf_core_enum_value_exists(enum skb_drop_reason, SKB_DROP_REASON_NOT_SPECIFIED))
		return 0;
	reason = (__u32)ctx[2];
	kind = bpf_map_lookup_elem(&qd_reasons, &reason);
	if (!kind) {
		qc(ST_QC_OTHER_REASON);
		return 0;
	}
	qc(ST_QC_CALLS);
	dev = BPF_CORE_READ(skb, dev);
	if (!dev)
		return 0;
	qd_dev_id(dev, &dk.k);
	if (!qd_pass(c, &dk.k))
		return 0;
	if (!qd_headers(c, skb, &pk, &keyed))
		return 0;
	if (*kind == 2) {
		/* A tc verdict (clsact, tcx): the device is all there is. */
		__builtin_memcpy(dk.k.kind, "tc", 3);
		dk.k.txq = ST_QD_NO_TXQ;
	} else {
		/* The qdisc of the skb's TX queue; the drop happened in it
		 * (or a child) just before kfree_skb, so its depth is the
		 * queue that was full. */
		__u32 qm = BPF_CORE_READ(skb, queue_mapping);
		struct netdev_queue *txq = qd_txq_at(dev, qm);

		q = BPF_CORE_READ(txq, qdisc);
		if (q) {
			qd_key_of(q, skb, &dk.k);
			known = qd_depth(q, &qlen, &backlog);
		}
	}
	dk.location = ctx[1];
	dk.reason = reason;
	len = BPF_CORE_READ(skb, len);
	if (qdisc_gen & 1)
		qd_drop_add(&drop1, &dk, len, known, qlen, backlog);
	else
		qd_drop_add(&drop0, &dk, len, known, qlen, backlog);
	if (!(c->flags & ST_QF_EVENTS))
		return 0;
	e = qd_event(ST_QE_DROP, &dk.k);
	if (!e)
		return 0;
	e->location = dk.location;
	e->reason = reason;
	e->len = len;
	e->qlen = qlen;
	e->backlog = backlog;
	e->depth_known = known;
	e->keyed = keyed;
	e->key = pk;
	bpf_ringbuf_submit(e, 0);
	return 0;
}
/* ---- tc mode: qdisc lifecycle ------------------------------------------- */

static __always_inline int qd_lifecycle(__u32 type, struct Qdisc *q)
{
	struct st_qd_cfg *c = qd_config();
	struct st_qd_key k = {};
	struct st_qd_event *e;

	if (!c || c->mode != ST_QD_TC || !q)
		return 0;
	qc(ST_QC_CALLS);
	qd_key_of(q, NULL, &k);
	if (!qd_pass(c, &k))
		return 0;
	e = qd_event(type, &k);
	if (e) {
		e->qlen = BPF_CORE_READ(q, q.qlen);
		bpf_ringbuf_submit(e, 0);
	}
	qc(ST_QC_COUNTED);
	return 0;
}

static __always_inline int qd_create(__u64 *ctx)
{
	const struct Qdisc_ops *ops = (const struct Qdisc_ops *)ctx[0];
	struct net_device *dev = (struct net_device *)ctx[1];
	struct st_qd_cfg *c = qd_config();
	struct st_qd_key k = {};
	struct st_qd_event *e;

	if (!c || c->mode != ST_QD_TC || !dev)
		return 0;
	qc(ST_QC_CALLS);
	qd_dev_id(dev, &k);
	k.parent = (__u32)ctx[2];
	if (ops)
		bpf_probe_read_kernel_str(k.kind, sizeof(k.kind), &ops->id);
	if (!qd_pass(c, &k))
		return 0;
	e = qd_event(ST_QE_CREATE, &k);
	if (e)
		bpf_ringbuf_submit(e, 0);
	qc(ST_QC_COUNTED);
	return 0;
}

static __always_inline int qd_destroy(__u64 *ctx)
{
	return qd_lifecycle(ST_QE_DESTROY, (struct Qdisc *)ctx[0]);
}

static __always_inline int qd_reset(__u64 *ctx)
{
	return qd_lifecycle(ST_QE_RESET, (struct Qdisc *)ctx[0]);
}

/* ---- the programs: tp_btf and raw_tp of each hook ------------------------ */

#define QD_HOOK(tp, fn)						\
	SEC("tp_btf/" #tp) int btf_##tp(__u64 *ctx) { return fn(ctx); } \
	SEC("raw_tp/" #tp) int raw_##tp(__u64 *ctx) { return fn(ctx); }

QD_HOOK(qdisc_enqueue, qd_enqueue)
QD_HOOK(qdisc_dequeue, qd_dequeue)
QD_HOOK(kfree_skb, qd_kfree_skb)
QD_HOOK(net_dev_queue, qd_net_dev_queue)
QD_HOOK(net_dev_start_xmit, qd_start_xmit)
QD_HOOK(net_dev_xmit, qd_dev_xmit)
QD_HOOK(net_dev_xmit_timeout, qd_xmit_timeout)
QD_HOOK(dql_stall_detected, qd_dql_stall)
QD_HOOK(qdisc_create, qd_create)
QD_HOOK(qdisc_destroy, qd_destroy)
QD_HOOK(qdisc_reset, qd_reset)
