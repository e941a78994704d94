// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Guest-side virtio-net (stagetrace virt virtio): run inside a VM.
 *
 * Every hook finds its (netns, ifindex, queue pair) from the objects it is
 * handed, by CO-RE reads only: skb_recv_done(rvq) from the virtqueue
 * (vq->index / 2 is the queue pair; vq->vdev->priv is the virtnet_info
 * whose dev is the net_device); virtnet_poll(napi, budget) from the NAPI
 * instance (napi->dev, and the receive_queue around it, whose vq gives
 * the index); receive_buf(vi, rq, buf, len, ...) from its arguments;
 * start_xmit(skb, dev) from the skb's queue mapping.
 *
 * The interrupt callback stamps its queue; the next NAPI run of that
 * queue takes the stamp and adds the wait to the queue's irq -> poll sum.
 * virtnet_poll's result (frames processed) needs its return value: fexit,
 * else kprobe + kretprobe with the arguments kept per thread.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>

#include "virt_virtio.h"
#include "netdev.bpf.h"
#include "counts.bpf.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ST_VV_MAX_Q);
	__type(key, struct st_vv_key);
	__type(value, struct st_vv_val);
} vv_q SEC(".maps");

/* Interrupt callback time per queue, taken by the next poll. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ST_VV_MAX_Q);
	__type(key, struct st_vv_key);
	__type(value, __u64);
} vv_irq_ts SEC(".maps");

/* kprobe/kretprobe pair of virtnet_poll: the napi per thread. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct st_vv_key);
} vv_stash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ST_VVC_MAX);
	__type(key, __u32);
	__type(value, __u64);
} vv_counters SEC(".maps");

/* Per-packet mode: the configuration, and per queue the stamps of the
 * NAPI run in progress (its interrupt callback and its start). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct st_vv_cfg);
} vv_cfg SEC(".maps");

struct vv_run {
	__u64 irq_ts, poll_ts;
	__u32 irq_cpu, pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ST_VV_MAX_Q);
	__type(key, struct st_vv_key);
	__type(value, struct vv_run);
} vv_run SEC(".maps");

static __always_inline int vv_pkt_on(void)
{
	__u32 zero = 0;
	struct st_vv_cfg *c = bpf_map_lookup_elem(&vv_cfg, &zero);

	return c && c->pkt;
}

static __always_inline void vv_count(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&vv_counters, &idx);

	if (c)
		*c += 1;
}

static __always_inline struct st_vv_val *vv_get(struct st_vv_key *k)
{
	struct st_vv_val zero = {};
	struct st_vv_val *v = st_row_get(&vv_q, k, &zero);

	if (!v)
		vv_count(ST_VVC_MAP_FULL);
	return v;
}

static __always_inline int vv_key_dev(struct net_device *dev, __u32 queue, struct st_vv_key *k)
{
	if (!dev) {
		vv_count(ST_VVC_NO_DEV);
		return -1;
	}
	k->netns = BPF_CORE_READ(dev, nd_net.net, ns.inum);
	k->ifindex = BPF_CORE_READ(dev, ifindex);
	k->queue = queue;
	k->pad = 0;
	return 0;
}

/* The queue pair of an RX virtqueue, and its device through virtnet_info. */
static __always_inline int vv_key_vq(struct virtqueue *vq, struct st_vv_key *k)
{
	struct virtnet_info *vi;

	if (!vq)
		return -1;
	vi = BPF_CORE_READ(vq, vdev, priv);
	return vv_key_dev(vi ? BPF_CORE_READ(vi, dev) : NULL, BPF_CORE_READ(vq, index) / 2, k);
}

/* ---- interrupt callback ------------------------------------------------- */

static __always_inline int vv_irq(struct virtqueue *rvq)
{
	struct st_vv_key k;
	struct st_vv_val *v;
	__u64 now = bpf_ktime_get_ns();

	if (vv_key_vq(rvq, &k))
		return 0;
	v = vv_get(&k);
	if (!v)
		return 0;
	__sync_fetch_and_add(&v->irqs, 1);
	v->irq_cpu = bpf_get_smp_processor_id();
	/* Only the first callback before a poll starts the wait. */
	bpf_map_update_elem(&vv_irq_ts, &k, &now, BPF_NOEXIST);
	return 0;
}

SEC("fentry/skb_recv_done")
int fentry_skb_recv_done(__u64 *ctx)
{
	return vv_irq((struct virtqueue *)ctx[0]);
}

SEC("kprobe/skb_recv_done")
int BPF_KPROBE(kprobe_skb_recv_done, struct virtqueue *rvq)
{
	return vv_irq(rvq);
}

/* ---- NAPI runs ---------------------------------------------------------- */

static __always_inline int vv_napi_key(struct napi_struct *napi, struct st_vv_key *k)
{
	struct receive_queue *rq;

	if (!napi)
		return -1;
	rq = (void *)napi - bpf_core_field_offset(struct receive_queue, napi);
	return vv_key_dev(BPF_CORE_READ(napi, dev), BPF_CORE_READ(rq, vq, index) / 2, k);
}

static __always_inline void vv_poll_start(struct st_vv_key *k)
{
	__u64 *ts = bpf_map_lookup_elem(&vv_irq_ts, k), d;
	struct st_vv_val *v;

	if (vv_pkt_on()) {
		/* A run without a pending callback is a re-poll (budget used
		 * up, or busy polling): its frames have no interrupt stamp. */
		struct st_vv_val *q = bpf_map_lookup_elem(&vv_q, k);
		struct vv_run r = { .irq_ts = ts ? *ts : 0, .poll_ts = bpf_ktime_get_ns(),
				    .irq_cpu = q ? q->irq_cpu : 0 };

		bpf_map_update_elem(&vv_run, k, &r, BPF_ANY);
	}
	if (!ts)
		return;
	d = bpf_ktime_get_ns() - *ts;
	bpf_map_delete_elem(&vv_irq_ts, k);
	v = vv_get(k);
	if (!v)
		return;
	__sync_fetch_and_add(&v->lat_sum, d);
	__sync_fetch_and_add(&v->lat_n, 1);
	if (d > v->lat_max)
		v->lat_max = d;
}

static __always_inline void vv_poll_done(struct st_vv_key *k, int budget, int ret)
{
	struct st_vv_val *v = vv_get(k);

	if (!v)
		return;
	__sync_fetch_and_add(&v->polls, 1);
	if (ret > 0)
		__sync_fetch_and_add(&v->poll_pkts, ret);
	if (ret >= budget)
		__sync_fetch_and_add(&v->budget_hits, 1);
	v->budget = budget;
}

SEC("fentry/virtnet_poll")
int fentry_virtnet_poll(__u64 *ctx)
{
	struct st_vv_key k;

	if (!vv_napi_key((struct napi_struct *)ctx[0], &k))
		vv_poll_start(&k);
	return 0;
}

SEC("fexit/virtnet_poll")
int fexit_virtnet_poll(__u64 *ctx)
{
	struct st_vv_key k;

	if (!vv_napi_key((struct napi_struct *)ctx[0], &k))
		vv_poll_done(&k, (int)ctx[1], (int)ctx[2]);
	return 0;
}

SEC("kprobe/virtnet_poll")
int BPF_KPROBE(kprobe_virtnet_poll, struct napi_struct *napi, int budget)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct st_vv_key k;

	if (vv_napi_key(napi, &k))
		return 0;
	vv_poll_start(&k);
	k.pad = (__u32)budget;	/* carried to the return probe */
	bpf_map_update_elem(&vv_stash, &tid, &k, BPF_ANY);
	return 0;
}

SEC("kretprobe/virtnet_poll")
int BPF_KRETPROBE(kretprobe_virtnet_poll, int ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct st_vv_key *s = bpf_map_lookup_elem(&vv_stash, &tid), k;
	int budget;

	if (!s)
		return 0;
	k = *s;
	bpf_map_delete_elem(&vv_stash, &tid);
	budget = (int)k.pad;
	k.pad = 0;
	vv_poll_done(&k, budget, ret);
	return 0;
}

#include "virt_virtio_pkt.bpf.h"

/* ---- frames up and down ------------------------------------------------- */

static __always_inline int vv_rx(struct virtnet_info *vi, struct receive_queue *rq, __u32 len)
{
	struct st_vv_key k;
	struct st_vv_val *v;

	if (!vi || !rq ||
	    vv_key_dev(BPF_CORE_READ(vi, dev), BPF_CORE_READ(rq, vq, index) / 2, &k))
		return 0;
	v = vv_get(&k);
	if (!v)
		return 0;
	__sync_fetch_and_add(&v->rx_pkts, 1);
	__sync_fetch_and_add(&v->rx_bytes, len);
	vv_pkt_rbuf(&k, len);
	return 0;
}

SEC("fentry/receive_buf")
int fentry_receive_buf(__u64 *ctx)
{
	return vv_rx((struct virtnet_info *)ctx[0], (struct receive_queue *)ctx[1], (__u32)ctx[3]);
}

SEC("kprobe/receive_buf")
int BPF_KPROBE(kprobe_receive_buf, struct virtnet_info *vi, struct receive_queue *rq, void *buf,
	       unsigned int len)
{
	return vv_rx(vi, rq, len);
}

static __always_inline int vv_tx(struct sk_buff *skb, struct net_device *dev)
{
	struct st_vv_key k;
	struct st_vv_val *v;

	if (!skb || !dev)
		return 0;
	/* start_xmit is a common static name: count only devices whose
	 * private area is a virtnet_info pointing back at them. */
	if (BPF_CORE_READ((struct virtnet_info *)st_netdev_priv(dev), dev) != dev) {
		vv_count(ST_VVC_NOT_VIRTIO);
		return 0;
	}
	if (vv_key_dev(dev, BPF_CORE_READ(skb, queue_mapping), &k))
		return 0;
	v = vv_get(&k);
	if (!v)
		return 0;
	__sync_fetch_and_add(&v->tx_pkts, 1);
	__sync_fetch_and_add(&v->tx_bytes, BPF_CORE_READ(skb, len));
	return 0;
}

SEC("fentry/start_xmit")
int fentry_start_xmit(__u64 *ctx)
{
	return vv_tx((struct sk_buff *)ctx[0], (struct net_device *)ctx[1]);
}

SEC("kprobe/start_xmit")
int BPF_KPROBE(kprobe_start_xmit, struct sk_buff *skb, struct net_device *dev)
{
	return vv_tx(skb, dev);
}
