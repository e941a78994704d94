/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Guest virtio-net stages, for an agent running inside a VM; included by
 * bpf/stages.bpf.c after its maps and st_emit(), before st_stage_dev().
 *
 * Receive: the RX virtqueue's interrupt callback skb_recv_done(rvq) has
 * no skb; it schedules the queue's NAPI instance, whose virtnet_poll(napi,
 * budget) runs on the same CPU and hands every frame to napi_gro_receive
 * (tracepoint: nic_rx). So the callback's time is kept per queue (the
 * first callback since the queue's last poll), virtnet_poll takes it and
 * makes (interrupt, poll start, device) the CPU's current poll, and every
 * path opened on that device on that CPU while that poll is current starts
 * with the stamps virtio_irq and virtio_poll. The poll is the boundary:
 * an interrupt stamp is consumed by the next poll of its queue, a poll
 * record is replaced by the next poll on the CPU, and a record older than
 * ST_GV_POLL_MAX_NS is never attached (a NAPI run lasts one budget). What
 * is not attributed is counted (bpf_virtio_rx_without_irq / _without_poll
 * / _stale_poll).
 *
 * Transmit: net_dev_start_xmit (nic_tx) fires right before the driver's
 * ndo_start_xmit. On a virtio-net device the path does not end there when
 * virtio_tx is attached (ST_F_GUEST_TX): its id is kept per CPU and the
 * return of the driver's start_xmit (same CPU, under the TX queue lock)
 * stamps virtio_tx and ends it. nic_tx -> virtio_tx is the driver's work
 * for that frame: reclaiming finished buffers, adding it to the TX
 * virtqueue and, unless more frames follow (xmit_more) or the host asked
 * not to be notified, the notification of the host (a VM exit). The skb is
 * not read at the return: with TX NAPI it may already be completed and
 * freed by another CPU.
 *
 * Only vmlinux types are read in the code st_stage_dev() shares with every
 * kernel (the device's driver name); the module's own structs
 * (virtnet_info, receive_queue) are read only by the virtio programs,
 * which load only where the virtio_net module is.
 */
#ifndef ST_BPF_STAGES_GUESTVIRTIO_H
#define ST_BPF_STAGES_GUESTVIRTIO_H

/* A NAPI run handles one budget (64 frames); nothing legitimate keeps a
 * poll current for longer than this, even under software emulation. */
#define ST_GV_POLL_MAX_NS 200000000ull

struct st_gv_rxq {
	__u32 netns;
	__u32 ifindex;
	__u32 queue;		/* queue pair: RX virtqueue index / 2 */
	__u32 pad;
};

struct st_gv_poll {
	__u64 irq_ts;		/* 0: the poll had no interrupt stamp waiting */
	__u64 poll_ts;
	__u32 netns;
	__u32 ifindex;
};

struct st_gv_tx {
	__u64 id;		/* 0: nothing waiting for start_xmit's return */
	__u32 ifindex;
	__u8 role;
	__u8 pad[3];
};

/* First interrupt callback per RX queue since that queue's last poll. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct st_gv_rxq);
	__type(value, __u64);
} gv_irq_ts SEC(".maps");

/* The poll currently running on each CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct st_gv_poll);
} gv_poll SEC(".maps");

/* The path whose frame the CPU's start_xmit is handling. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct st_gv_tx);
} gv_tx SEC(".maps");

static __always_inline int gv_rxq_key(struct net_device *dev, __u32 vq_index,
				      struct st_gv_rxq *k)
{
	if (!dev)
		return -1;
	k->netns = BPF_CORE_READ(dev, nd_net.net, ns.inum);
	k->ifindex = BPF_CORE_READ(dev, ifindex);
	k->queue = vq_index / 2;
	k->pad = 0;
	return 0;
}

/* ---- receive ------------------------------------------------------------ */

/* skb_recv_done(rvq): vq->vdev->priv is the virtnet_info of the device. */
static __always_inline int gv_irq(struct virtqueue *rvq)
{
	struct virtnet_info *vi;
	struct st_gv_rxq k;
	__u64 now = bpf_ktime_get_ns();

	if (!rvq)
		return 0;
	vi = BPF_CORE_READ(rvq, vdev, priv);
	if (!vi || gv_rxq_key(BPF_CORE_READ(vi, dev), BPF_CORE_READ(rvq, index), &k))
		return 0;
	/* Only the first callback before a poll: later ones announce
	 * frames the same poll takes. */
	bpf_map_update_elem(&gv_irq_ts, &k, &now, BPF_NOEXIST);
	return 0;
}

SEC("fentry/skb_recv_done")
int fentry_virtio_irq(__u64 *ctx)
{
	return gv_irq((struct virtqueue *)ctx[0]);
}

SEC("kprobe/skb_recv_done")
int kprobe_virtio_irq(struct pt_regs *ctx)
{
	return gv_irq((struct virtqueue *)PT_REGS_PARM1(ctx));
}

/* virtnet_poll(napi, budget): the napi is embedded in its receive_queue. */
static __always_inline int gv_poll_start(struct napi_struct *napi)
{
	struct receive_queue *rq;
	struct st_gv_poll *cur;
	struct st_gv_rxq k;
	__u32 zero = 0;
	__u64 *irq;

	if (!napi)
		return 0;
	rq = (void *)napi - bpf_core_field_offset(struct receive_queue, napi);
	if (gv_rxq_key(BPF_CORE_READ(napi, dev), BPF_CORE_READ(rq, vq, index), &k))
		return 0;
	cur = bpf_map_lookup_elem(&gv_poll, &zero);
	if (!cur)
		return 0;
	cur->irq_ts = 0;
	irq = bpf_map_lookup_elem(&gv_irq_ts, &k);
	if (irq) {
		cur->irq_ts = *irq;
		bpf_map_delete_elem(&gv_irq_ts, &k);
	}
	cur->poll_ts = bpf_ktime_get_ns();
	cur->netns = k.netns;
	cur->ifindex = k.ifindex;
	return 0;
}

SEC("fentry/virtnet_poll")
int fentry_virtio_poll(__u64 *ctx)
{
	return gv_poll_start((struct napi_struct *)ctx[0]);
}

SEC("kprobe/virtnet_poll")
int kprobe_virtio_poll(struct pt_regs *ctx)
{
	return gv_poll_start((struct napi_struct *)PT_REGS_PARM1(ctx));
}

static __always_inline void gv_stamp(struct st_path *p, __u32 i, __u64 ts, __u32 ifindex,
				     __u8 hook, __u8 role)
{
	if (i >= ST_MAX_STAMPS)
		return;
	p->stamps[i].ts = ts;
	p->stamps[i].ifindex = ifindex;
	p->stamps[i].hook = hook;
	p->stamps[i].role = role;
	p->stamps[i].aux = 0;
	p->nstamps = i + 1;
}

/*
 * A path about to open on a receive hook: if the CPU's current poll is of
 * this device, the path starts at that poll's interrupt and poll start.
 * Only on devices a poll has been seen for, so nothing else is counted.
 */
static __always_inline int gv_is_virtio(struct net_device *dev);

static __always_inline void gv_rx_open(struct st_path *p, __u8 hook, struct net_device *dev,
				       __u32 netns, __u32 ifindex, __u8 role, __u64 now)
{
	struct st_gv_poll *cur;
	__u32 zero = 0;

	if (hook != ST_HOOK_NAPI_GRO_RX && hook != ST_HOOK_NETIF_RECEIVE_SKB &&
	    hook != ST_HOOK_NETIF_RX)
		return;
	cur = bpf_map_lookup_elem(&gv_poll, &zero);
	/* No virtio poll ever ran on this CPU (or virtio_poll is not
	 * attached): nothing to attach, nothing to count. */
	if (!cur || !cur->poll_ts)
		return;
	if (cur->netns != netns || cur->ifindex != ifindex) {
		/* A virtio device's frames enter the stack only inside its
		 * poll; one that opens a path outside it has no guest RX
		 * stamps. Other devices are none of our business. */
		if (dev && gv_is_virtio(dev))
			st_count(ST_C_GV_RX_NO_POLL);
		return;
	}
	if (cur->poll_ts > now || now - cur->poll_ts > ST_GV_POLL_MAX_NS) {
		st_count(ST_C_GV_RX_STALE);
		return;
	}
	if (cur->irq_ts && cur->irq_ts <= cur->poll_ts) {
		gv_stamp(p, 0, cur->irq_ts, ifindex, ST_HOOK_VIRTIO_IRQ, role);
		gv_stamp(p, 1, cur->poll_ts, ifindex, ST_HOOK_VIRTIO_POLL, role);
	} else {
		st_count(ST_C_GV_POLL_NO_IRQ);
		gv_stamp(p, 0, cur->poll_ts, ifindex, ST_HOOK_VIRTIO_POLL, role);
	}
}

/* ---- transmit ----------------------------------------------------------- */

/* The device is driven by virtio_net: its parent is the virtio device,
 * bound to the driver of that name. vmlinux types only. */
static __always_inline int gv_is_virtio(struct net_device *dev)
{
	const char *name = BPF_CORE_READ(dev, dev.parent, driver, name);
	char n[12] = {};

	if (!name || bpf_probe_read_kernel_str(n, sizeof(n), name) != 11)
		return 0;
	return n[0] == 'v' && n[1] == 'i' && n[2] == 'r' && n[3] == 't' && n[4] == 'i' &&
	       n[5] == 'o' && n[6] == '_' && n[7] == 'n' && n[8] == 'e' && n[9] == 't';
}

/*
 * nic_tx on a virtio-net device with virtio_tx attached: keep the path
 * open for start_xmit's return. Returns 1 if the path is held.
 */
static __always_inline int gv_tx_hold(struct st_config *c, struct net_device *dev, __u64 id,
				      __u32 ifindex, __u8 role)
{
	struct st_gv_tx *t;
	__u32 zero = 0;

	if (!(c->flags & ST_F_GUEST_TX) || !dev || !gv_is_virtio(dev))
		return 0;
	t = bpf_map_lookup_elem(&gv_tx, &zero);
	if (!t)
		return 0;
	/* A previous frame's return was never seen: its path times out. */
	if (t->id)
		st_count(ST_C_GV_TX_LOST);
	t->id = id;
	t->ifindex = ifindex;
	t->role = role;
	return 1;
}

static __always_inline int gv_tx_done(void)
{
	struct st_gv_tx *t;
	struct st_path *p;
	__u32 zero = 0;
	__u64 id;
	__u32 n;

	t = bpf_map_lookup_elem(&gv_tx, &zero);
	if (!t || !t->id)
		return 0;
	id = t->id;
	t->id = 0;
	p = bpf_map_lookup_elem(&paths, &id);
	if (!p) {
		st_count(ST_C_GV_TX_LOST);
		return 0;
	}
	n = p->nstamps;
	if (n < ST_MAX_STAMPS) {
		gv_stamp(p, n, bpf_ktime_get_ns(), t->ifindex, ST_HOOK_VIRTIO_TX, t->role);
		st_count(ST_C_STAMP);
	} else {
		if (p->overflow < 255)
			p->overflow++;
		st_count(ST_C_STAMP_OVERFLOW);
	}
	st_emit(p, id, ST_END_LEFT);
	return 0;
}

SEC("fexit/start_xmit")
int fexit_virtio_tx(__u64 *ctx)
{
	return gv_tx_done();
}

SEC("kretprobe/start_xmit")
int kretprobe_virtio_tx(struct pt_regs *ctx)
{
	return gv_tx_done();
}

#endif /* ST_BPF_STAGES_GUESTVIRTIO_H */
