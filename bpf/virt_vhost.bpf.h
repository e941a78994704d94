/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The vhost-net half of bpf/virt_net.bpf.c, included at its end (one BPF
 * object, one skeleton; split only to keep each file to one concern):
 * handler runs that learn a virtqueue, its worker and its tun backend;
 * frames and bytes through the tun socket in the worker's thread; RX
 * peeks; used-ring updates that learn the call eventfd, and the eventfd
 * signals on it. The maps, the ___st flavours of the vhost structs and
 * the tun helpers are those of bpf/virt_net.bpf.c.
 */
#ifndef ST_BPF_VIRT_VHOST_BPF_H
#define ST_BPF_VIRT_VHOST_BPF_H

/* ---- vhost: handler runs, learning the virtqueue and its backend -------- */

static __always_inline struct st_vn_vq_val *vn_vq_get(__u64 vq)
{
	struct st_vn_vq_val *v = bpf_map_lookup_elem(&vn_vq, &vq), zero = {};

	if (v)
		return v;
	bpf_map_update_elem(&vn_vq, &vq, &zero, BPF_NOEXIST);
	v = bpf_map_lookup_elem(&vn_vq, &vq);
	if (!v)
		vn_count(ST_VNC_VQ_FULL);
	return v;
}

static __always_inline int vn_handle(struct vhost_net___st *net, __u32 idx)
{
	__u64 id = bpf_get_current_pid_tgid(), vqa;
	struct vhost_virtqueue___st *vq;
	struct st_vn_tunq_key k = {};
	struct st_vn_vq_val *v;
	struct socket *sock;
	__u32 tid = (__u32)id;

	if (!net)
		return 0;
	/* &net->vqs[idx].vq with the running kernel's layout. */
	vqa = (__u64)net + bpf_core_field_offset(struct vhost_net___st, vqs) +
	      idx * bpf_core_type_size(struct vhost_net_virtqueue___st) +
	      bpf_core_field_offset(struct vhost_net_virtqueue___st, vq);
	vq = (struct vhost_virtqueue___st *)vqa;
	v = vn_vq_get(vqa);
	if (!v)
		return 0;
	v->dev = (__u64)net;
	v->idx = idx;
	v->worker = tid;
	v->worker_tgid = id >> 32;
	bpf_get_current_comm(v->comm, sizeof(v->comm));
	sock = BPF_CORE_READ(vq, private_data);
	if (!sock) {
		v->backend = ST_VN_BE_NONE;
	} else if (vn_tfile_key(vn_sock_tfile(sock), &k) == 0) {
		v->backend = ST_VN_BE_TUN;
		v->netns = k.netns;
		v->ifindex = k.ifindex;
		v->tunq = k.queue;
	} else {
		v->backend = ST_VN_BE_OTHER;
	}
	__sync_fetch_and_add(&v->handle_calls, 1);
	bpf_map_update_elem(&vn_cur, &tid, &vqa, BPF_ANY);
	return 0;
}

SEC("fentry/handle_tx")
int fentry_handle_tx(__u64 *ctx)
{
	return vn_handle((struct vhost_net___st *)ctx[0], ST_VN_VQ_TX);
}

SEC("kprobe/handle_tx")
int BPF_KPROBE(kprobe_handle_tx, void *net)
{
	return vn_handle(net, ST_VN_VQ_TX);
}

SEC("fentry/handle_rx")
int fentry_handle_rx(__u64 *ctx)
{
	return vn_handle((struct vhost_net___st *)ctx[0], ST_VN_VQ_RX);
}

SEC("kprobe/handle_rx")
int BPF_KPROBE(kprobe_handle_rx, void *net)
{
	return vn_handle(net, ST_VN_VQ_RX);
}

/* ---- frames through the tun socket, in the worker's thread -------------- */

static __always_inline void vn_msg(struct socket *sock, __u64 pkts, __u64 bytes, int rx)
{
	__u32 zero = 0, tid = (__u32)bpf_get_current_pid_tgid();
	struct st_vn_cfg *c = bpf_map_lookup_elem(&vn_cfg, &zero);
	struct st_vn_tunq_key k = {};
	struct st_vn_tunq_val *tv;
	struct st_vn_vq_val *v;
	__u64 *vqa;

	if (!c || !sock)
		return;
	vqa = bpf_map_lookup_elem(&vn_cur, &tid);
	v = vqa ? bpf_map_lookup_elem(&vn_vq, vqa) : NULL;
	if (v) {
		__sync_fetch_and_add(&v->pkts, pkts);
		__sync_fetch_and_add(&v->bytes, bytes);
	} else {
		vn_count(ST_VNC_MSG_NOVQ);
	}
	if (vn_tfile_key(vn_sock_tfile(sock), &k) || !vn_selected(c, k.netns, k.ifindex))
		return;
	tv = vn_tunq_get(&k);
	if (!tv)
		return;
	if (rx) {
		__sync_fetch_and_add(&tv->recv_pkts, pkts);
		__sync_fetch_and_add(&tv->recv_bytes, bytes);
	} else {
		__sync_fetch_and_add(&tv->sent_pkts, pkts);
		__sync_fetch_and_add(&tv->sent_bytes, bytes);
	}
}

/* tun_sendmsg(sock, m, total_len): one frame (total_len includes the
 * vnet header when the tap has one), or a batch of XDP buffers whose
 * data..data_end are the frames. Bytes are Ethernet frame bytes, as on RX. */
static __always_inline int vn_sendmsg(struct socket *sock, struct msghdr *m, __u64 len)
{
	struct tun_msg_ctl *ctl = m ? BPF_CORE_READ(m, msg_control) : NULL;
	struct tun_struct *tun;
	__u64 pkts = 1;

	if (ctl && BPF_CORE_READ(ctl, type) == VN_TUN_MSG_PTR) {
		__u32 n = BPF_CORE_READ(ctl, num), sz = bpf_core_type_size(struct xdp_buff);
		void *xb = BPF_CORE_READ(ctl, ptr);

		pkts = n;
		len = 0;
		for (__u32 i = 0; i < VN_TX_BATCH_MAX && i < n; i++) {
			struct xdp_buff *x = xb + i * sz;

			len += (__u64)BPF_CORE_READ(x, data_end) - (__u64)BPF_CORE_READ(x, data);
		}
	} else if (sock) {
		tun = BPF_CORE_READ(vn_sock_tfile(sock), tun);
		if (tun && (BPF_CORE_READ(tun, flags) & VN_IFF_VNET_HDR)) {
			__u64 h = BPF_CORE_READ(tun, vnet_hdr_sz);

			len = len > h ? len - h : 0;
		}
	}
	vn_msg(sock, pkts, len, 0);
	return 0;
}

/* tun_recvmsg(sock, m, ...): vhost passes the ring entry it consumed. */
static __always_inline int vn_recvmsg(struct socket *sock, struct msghdr *m)
{
	__u64 ptr = m ? (__u64)BPF_CORE_READ(m, msg_control) : 0, len = 0;

	if (ptr & VN_TUN_XDP_FLAG)
		len = BPF_CORE_READ((struct xdp_frame *)(ptr & ~VN_TUN_XDP_FLAG), len);
	else if (ptr)
		len = BPF_CORE_READ((struct sk_buff *)ptr, len);
	vn_msg(sock, 1, len, 1);
	return 0;
}

SEC("fentry/tun_sendmsg")
int fentry_tun_sendmsg(__u64 *ctx)
{
	return vn_sendmsg((struct socket *)ctx[0], (struct msghdr *)ctx[1], ctx[2]);
}

SEC("kprobe/tun_sendmsg")
int BPF_KPROBE(kprobe_tun_sendmsg, struct socket *sock, struct msghdr *m, __u64 len)
{
	return vn_sendmsg(sock, m, len);
}

SEC("fentry/tun_recvmsg")
int fentry_tun_recvmsg(__u64 *ctx)
{
	return vn_recvmsg((struct socket *)ctx[0], (struct msghdr *)ctx[1]);
}

SEC("kprobe/tun_recvmsg")
int BPF_KPROBE(kprobe_tun_recvmsg, struct socket *sock, struct msghdr *m)
{
	return vn_recvmsg(sock, m);
}

/* ---- RX peeks: vhost_net_buf_peek(nvq) returns the next frame's length -- */

/* kprobe/kretprobe pair: the virtqueue per thread. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u64);
} vn_peek_arg SEC(".maps");

static __always_inline int vn_peek(__u64 nvq, int ret)
{
	__u64 vqa = nvq + bpf_core_field_offset(struct vhost_net_virtqueue___st, vq);
	struct st_vn_vq_val *v = bpf_map_lookup_elem(&vn_vq, &vqa);

	if (!v)
		return 0;
	__sync_fetch_and_add(&v->peeks, 1);
	if (ret <= 0)
		__sync_fetch_and_add(&v->peek_empty, 1);
	else
		__sync_fetch_and_add(&v->peek_bytes, ret);
	return 0;
}

SEC("fexit/vhost_net_buf_peek")
int fexit_buf_peek(__u64 *ctx)
{
	return vn_peek(ctx[0], (int)ctx[1]);
}

SEC("kprobe/vhost_net_buf_peek")
int BPF_KPROBE(kprobe_buf_peek, void *nvq)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 a = (__u64)nvq;

	bpf_map_update_elem(&vn_peek_arg, &tid, &a, BPF_ANY);
	return 0;
}

SEC("kretprobe/vhost_net_buf_peek")
int BPF_KRETPROBE(kretprobe_buf_peek, int ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 *a = bpf_map_lookup_elem(&vn_peek_arg, &tid), nvq;

	if (!a)
		return 0;
	nvq = *a;
	bpf_map_delete_elem(&vn_peek_arg, &tid);
	return vn_peek(nvq, ret);
}

/* ---- used ring and guest notification ----------------------------------- */

static __always_inline int vn_used(void *vq, __u64 count)
{
	__u64 vqa = (__u64)vq, ctx;
	struct st_vn_vq_val *v;

	if (!vq)
		return 0;
	v = bpf_map_lookup_elem(&vn_vq, &vqa);
	if (!v)
		return 0;
	__sync_fetch_and_add(&v->used_calls, 1);
	__sync_fetch_and_add(&v->used_heads, count);
	ctx = (__u64)BPF_CORE_READ((struct vhost_virtqueue___st *)vq, call_ctx.ctx);
	if (ctx)
		bpf_map_update_elem(&vn_ctx, &ctx, &vqa, BPF_ANY);
	return 0;
}

SEC("fentry/vhost_add_used_and_signal_n")
int fentry_used_signal(__u64 *ctx)
{
	return vn_used((void *)ctx[1], (__u32)ctx[3]);
}

SEC("kprobe/vhost_add_used_and_signal_n")
int BPF_KPROBE(kprobe_used_signal, void *dev, void *vq, void *heads, unsigned int count)
{
	return vn_used(vq, count);
}

static __always_inline int vn_signal(__u64 ctx)
{
	__u64 *vqa = bpf_map_lookup_elem(&vn_ctx, &ctx);
	struct st_vn_vq_val *v;

	if (!vqa)
		return 0;
	v = bpf_map_lookup_elem(&vn_vq, vqa);
	if (!v)
		return 0;
	__sync_fetch_and_add(&v->signals, 1);
	vn_count(ST_VNC_SIGNALS);
	return 0;
}

/* eventfd_signal(ctx, n) (6.1), or eventfd_signal_mask(ctx, mask) where
 * eventfd_signal became an inline wrapper (6.8 on). */
SEC("fentry/eventfd_signal")
int fentry_eventfd_signal(__u64 *ctx)
{
	return vn_signal(ctx[0]);
}

SEC("kprobe/eventfd_signal")
int BPF_KPROBE(kprobe_eventfd_signal, void *efd)
{
	return vn_signal((__u64)efd);
}

SEC("fentry/eventfd_signal_mask")
int fentry_eventfd_signal_mask(__u64 *ctx)
{
	return vn_signal(ctx[0]);
}

SEC("kprobe/eventfd_signal_mask")
int BPF_KPROBE(kprobe_eventfd_signal_mask, void *efd)
{
	return vn_signal((__u64)efd);
}

#endif /* ST_BPF_VIRT_VHOST_BPF_H */
