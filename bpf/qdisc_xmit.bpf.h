/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The xmit mode of bpf/qdisc.bpf.c: per TX queue, net_dev_queue stamps the
 * skb and samples the queue depth and BQL bytes in flight,
 * net_dev_start_xmit turns the stamp into queue -> driver time,
 * net_dev_xmit counts the driver's answers, net_dev_xmit_timeout the
 * watchdog's and dql_stall_detected BQL stalls. Included by
 * bpf/qdisc.bpf.c after qdisc_common.bpf.h.
 */
#ifndef ST_QDISC_XMIT_BPF_H
#define ST_QDISC_XMIT_BPF_H

/* ---- xmit mode ---------------------------------------------------------- */

static __always_inline struct st_qd_xval *qd_xrow(const struct st_qd_key *k)
{
	return qdisc_gen & 1 ? qd_row(&xmit1, k) : qd_row(&xmit0, k);
}

static __always_inline void qd_txq_key(struct net_device *dev, __u32 idx, struct st_qd_key *k)
{
	qd_dev_id(dev, k);
	k->txq = idx;
	__builtin_memcpy(k->kind, "txq", 4);
}

static __always_inline int qd_net_dev_queue(__u64 *ctx)
{
	struct sk_buff *skb = (struct sk_buff *)ctx[0];
	struct st_qd_cfg *c = qd_config();
	struct st_qd_key k = {};
	struct st_pkt_key pk = {};
	struct netdev_queue *txq;
	struct st_qd_xval *x;
	struct net_device *dev;
	__u32 qlen, backlog, idx;
	__u64 ts, addr = (__u64)skb;
	__u8 keyed;

	if (!c || c->mode != ST_QD_XMIT || !skb)
		return 0;
	qc(ST_QC_CALLS);
	dev = BPF_CORE_READ(skb, dev);
	if (!dev)
		return 0;
	idx = BPF_CORE_READ(skb, queue_mapping);
	qd_txq_key(dev, idx, &k);
	if (!qd_pass(c, &k))
		return 0;
	if (c->pf.flags & ST_PF_HEADERS) {
		struct st_qd_cfg tmp = { .flags = 0, .pf = c->pf };

		if (!qd_headers(&tmp, skb, &pk, &keyed))
			return 0;
	}
	ts = bpf_ktime_get_ns();
	bpf_map_update_elem(&qd_stamps, &addr, &ts, BPF_ANY);
	qc(ST_QC_STAMPED);
	x = qd_xrow(&k);
	if (!x)
		return 0;
	x->queued++;
	txq = qd_txq_at(dev, idx);
	if (qd_depth(BPF_CORE_READ(txq, qdisc), &qlen, &backlog)) {
		x->depth_sum += qlen;
		if (qlen > x->depth_max)
			x->depth_max = qlen;
	}
	if (bpf_core_field_exists(txq->dql)) {
		__u32 nq = BPF_CORE_READ(txq, dql.num_queued);
		__u32 nc = BPF_CORE_READ(txq, dql.num_completed);

		if (nq - nc > x->inflight_max && nq - nc < (1u << 31))
			x->inflight_max = nq - nc;
	}
	return 0;
}

static __always_inline int qd_start_xmit(__u64 *ctx)
{
	struct sk_buff *skb = (struct sk_buff *)ctx[0];
	struct net_device *dev = (struct net_device *)ctx[1];
	struct st_qd_cfg *c = qd_config();
	struct st_qd_key k = {}, *cur;
	struct st_qd_xval *x;
	struct st_qd_event *e;
	__u64 addr = (__u64)skb, *ts, lat, now;
	__u32 zero = 0;

	if (!c || c->mode != ST_QD_XMIT || !skb || !dev)
		return 0;
	qc(ST_QC_CALLS);
	qd_txq_key(dev, BPF_CORE_READ(skb, queue_mapping), &k);
	cur = bpf_map_lookup_elem(&qd_cur_txq, &zero);
	if (cur)
		*cur = k;
	if (!qd_pass(c, &k))
		return 0;
	ts = bpf_map_lookup_elem(&qd_stamps, &addr);
	x = qd_xrow(&k);
	if (!ts) {
		/* Filtered by headers at net_dev_queue, or queued before we
		 * attached. */
		if (!(c->pf.flags & ST_PF_HEADERS)) {
			qc(ST_QC_UNMATCHED);
			if (x)
				x->unmatched++;
		}
		return 0;
	}
	now = bpf_ktime_get_ns();
	lat = now > *ts ? now - *ts : 0;
	bpf_map_delete_elem(&qd_stamps, &addr);
	if (x)
		x->started++;
	qd_record(&k, lat);
	if (!(c->flags & ST_QF_EVENTS))
		return 0;
	e = qd_event(ST_QE_XMIT, &k);
	if (!e)
		return 0;
	e->lat_ns = lat;
	e->len = BPF_CORE_READ(skb, len);
	e->keyed = st_parse_skb(skb, &e->key, &(struct st_parse_out){}) == 0;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

static __always_inline int qd_dev_xmit(__u64 *ctx)
{
	int rc = (int)ctx[1];
	struct net_device *dev = (struct net_device *)ctx[2];
	struct st_qd_cfg *c = qd_config();
	struct st_qd_key k = {}, *cur;
	struct st_qd_xval *x;
	struct st_qd_event *e;
	__u32 zero = 0;

	if (!c || c->mode != ST_QD_XMIT || !dev)
		return 0;
	qc(ST_QC_CALLS);
	/* The skb may be gone (consumed by the driver): the TX queue is the
	 * one net_dev_start_xmit just saw on this CPU for this device. */
	qd_txq_key(dev, 0, &k);
	cur = bpf_map_lookup_elem(&qd_cur_txq, &zero);
	if (cur && cur->netns == k.netns && cur->ifindex == k.ifindex)
		k.txq = cur->txq;
	if (!qd_pass(c, &k))
		return 0;
	x = qd_xrow(&k);
	if (!x)
		return 0;
	if (rc == 0) {
		x->xmit_ok++;
		return 0;
	}
	if (rc == 0x10)		/* NETDEV_TX_BUSY */
		x->xmit_busy++;
	else
		x->xmit_err++;
	e = qd_event(ST_QE_XMIT_ERR, &k);
	if (!e)
		return 0;
	e->rc = rc;
	e->len = (__u32)ctx[3];
	bpf_ringbuf_submit(e, 0);
	return 0;
}

static __always_inline int qd_xmit_timeout(__u64 *ctx)
{
	struct net_device *dev = (struct net_device *)ctx[0];
	struct st_qd_cfg *c = qd_config();
	struct st_qd_key k = {};
	struct st_qd_xval *x;
	struct st_qd_event *e;

	if (!c || c->mode != ST_QD_XMIT || !dev)
		return 0;
	qc(ST_QC_CALLS);
	qd_txq_key(dev, (__u32)ctx[1], &k);
	if (!qd_pass(c, &k))
		return 0;
	x = qd_xrow(&k);
	if (x)
		x->timeouts++;
	e = qd_event(ST_QE_TIMEOUT, &k);
	if (e)
		bpf_ringbuf_submit(e, 0);
	return 0;
}

static __always_inline int qd_dql_stall(__u64 *ctx)
{
	struct st_qd_cfg *c = qd_config();
	struct st_qd_key k = {};
	struct st_qd_event *e;

	if (!c || c->mode != ST_QD_XMIT)
		return 0;
	qc(ST_QC_CALLS);
	/* The tracepoint names no device: the stall is reported as such. */
	__builtin_memcpy(k.kind, "dql", 4);
	e = qd_event(ST_QE_DQL_STALL, &k);
	if (!e)
		return 0;
	e->qlen = (__u32)ctx[0];	/* stall threshold (jiffies) */
	e->len = (__u32)ctx[1];		/* queue length */
	bpf_ringbuf_submit(e, 0);
	return 0;
}

#endif /* ST_QDISC_XMIT_BPF_H */
