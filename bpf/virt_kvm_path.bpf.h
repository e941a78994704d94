/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The path-mode half of bpf/virt_kvm.bpf.c (`latency --path tap-to-irq`):
 * tun_net_xmit, handle_rx and vhost_add_used_and_signal_n, each as an
 * fentry and a kprobe program, emitting the events cli/tapirq_join.c joins
 * queue by queue. Included once, at the end of bpf/virt_kvm.bpf.c, whose
 * maps, CO-RE flavours and helpers it uses; apart only to keep each file
 * short.
 */
#ifndef ST_BPF_VIRT_KVM_PATH_BPF_H
#define ST_BPF_VIRT_KVM_PATH_BPF_H

/* ---- path mode: tap -> vhost RX -> call eventfd --------------------------- */

/* tun_net_xmit(skb, dev): the packet enters the tap queue's ring. The
 * queue's socket (&tun->tfiles[queue]->socket) is what vhost's RX vq has
 * as its backend (vq->private_data), which joins the two sides. */
static __always_inline int kvm_tun_xmit(struct sk_buff *skb, struct net_device *dev)
{
	struct st_kvm_cfg *c = kvm_cfg_get();
	struct tun_struct___st *tun;
	struct tun_file___st *tf = NULL;
	struct st_kvm_event *e;
	__u32 q, netns, ifindex;

	if (!c || !(c->flags & ST_KF_PATH) || !skb || !dev)
		return 0;
	netns = BPF_CORE_READ(dev, nd_net.net, ns.inum);
	ifindex = BPF_CORE_READ(dev, ifindex);
	if ((c->flags & ST_KF_DEV) && (netns != c->netns || ifindex != c->ifindex))
		return 0;
	q = BPF_CORE_READ(skb, queue_mapping);
	tun = st_netdev_priv(dev);
	if (q >= 256 || bpf_core_read(&tf, sizeof(tf), &tun->tfiles[q]) || !tf)
		return 0;
	e = ev_new(ST_KE_XMIT, bpf_ktime_get_ns());
	if (!e)
		return 0;
	e->obj = (__u64)&tf->socket;
	e->netns = netns;
	e->ifindex = ifindex;
	e->queue = q;
	e->len = BPF_CORE_READ(skb, len);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("fentry/tun_net_xmit")
int fentry_tun_xmit(__u64 *ctx)
{
	__u64 skb = 0, dev = 0;

	bpf_get_func_arg(ctx, 0, &skb);
	bpf_get_func_arg(ctx, 1, &dev);
	return kvm_tun_xmit((struct sk_buff *)skb, (struct net_device *)dev);
}

SEC("kprobe/tun_net_xmit")
int kprobe_tun_xmit(struct pt_regs *ctx)
{
	return kvm_tun_xmit((struct sk_buff *)PT_REGS_PARM1(ctx),
			    (struct net_device *)PT_REGS_PARM2(ctx));
}

/* handle_rx(net): the worker starts on the RX virtqueue (vqs[0]). */
static __always_inline int kvm_handle_rx(struct vhost_net___st *net)
{
	struct st_kvm_cfg *c = kvm_cfg_get();
	struct st_kvm_rx rx = {};
	struct st_kvm_event *e;
	__u32 tid = cur_tid();

	if (!c || !(c->flags & ST_KF_PATH) || !net)
		return 0;
	rx.vq = (__u64)&net->vqs[0].vq;
	rx.call = (__u64)BPF_CORE_READ(net, vqs[0].vq.call_ctx.ctx);
	bpf_map_update_elem(&kvm_rx_tid, &tid, &rx, BPF_ANY);
	e = ev_new(ST_KE_HANDLE_RX, bpf_ktime_get_ns());
	if (!e)
		return 0;
	e->obj = (__u64)BPF_CORE_READ(net, vqs[0].vq.private_data);
	e->eventfd = rx.call;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("fentry/handle_rx")
int fentry_handle_rx(__u64 *ctx)
{
	__u64 a = 0;

	bpf_get_func_arg(ctx, 0, &a);
	return kvm_handle_rx((struct vhost_net___st *)a);
}

SEC("kprobe/handle_rx")
int kprobe_handle_rx(struct pt_regs *ctx)
{
	return kvm_handle_rx((struct vhost_net___st *)PT_REGS_PARM1(ctx));
}

/* vhost_add_used_and_signal_n(dev, vq, heads, count): count buffers of the
 * RX vq handed to the guest, then the call eventfd is signalled. Only the
 * RX vq this worker is in handle_rx for counts: handle_tx completes TX
 * buffers through the same function. */
static __always_inline int kvm_used(struct vhost_virtqueue___st *vq, __u32 count)
{
	struct st_kvm_cfg *c = kvm_cfg_get();
	__u32 tid = cur_tid();
	struct st_kvm_rx *rx = bpf_map_lookup_elem(&kvm_rx_tid, &tid);
	struct st_kvm_event *e;

	if (!c || !(c->flags & ST_KF_PATH) || !rx || rx->vq != (__u64)vq)
		return 0;
	e = ev_new(ST_KE_USED, bpf_ktime_get_ns());
	if (!e)
		return 0;
	e->obj = (__u64)BPF_CORE_READ(vq, private_data);
	e->eventfd = st_vq_call_eventfd(vq);
	e->count = count;
	rx->call = e->eventfd;	/* the signal that follows is this one */
	bpf_ringbuf_submit(e, 0);
	return 0;
}

ST_USED_SIGNAL_PROGS(fentry_used_signal, kprobe_used_signal, kvm_used)

#endif /* ST_BPF_VIRT_KVM_PATH_BPF_H */
