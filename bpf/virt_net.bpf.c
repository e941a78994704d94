// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * tun/tap queues and vhost-net virtqueues (stagetrace virt tun|vhost|queues).
 *
 * tun side: every frame the host hands a tun/tap device (tun_net_xmit, or
 * the net_dev_start_xmit tracepoint filtered to devices whose link kind is
 * "tun" where tun_net_xmit cannot be probed) is counted on its queue
 * (skb->queue_mapping), and the queue's ptr_ring is read in place: its
 * fill level (producer - consumer_head) and whether the producer's slot is
 * still occupied, which is exactly the condition under which
 * ptr_ring_produce() fails and tun_net_xmit drops the frame.
 *
 * vhost side: the worker thread runs handle_tx/handle_rx for one
 * vhost_net; at that entry the virtqueue is found inside the vhost_net
 * (CO-RE offsets of vqs[] and of the element size), its backend socket is
 * read from vq->private_data and, when it is a tun queue (the socket sits
 * inside a tun_file whose device's link kind is "tun"), the row records
 * which (netns, ifindex, queue) it serves. The worker thread id is
 * remembered, so the tun_sendmsg/tun_recvmsg calls that follow in the same
 * thread are that virtqueue's packets. vhost_add_used_and_signal_n learns
 * the virtqueue's call eventfd (vq->call_ctx.ctx); an eventfd signal on
 * that eventfd object is a notification of the guest for that virtqueue
 * (vhost_signal itself is inlined on current kernels).
 *
 * vhost_net and vhost_virtqueue are private to the vhost modules; the
 * ___st flavours below name only the fields read, and libbpf relocates
 * them against the module's BTF at load time.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#include "virt_net.h"
#include "netdev.bpf.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

struct vhost_vring_call___st {
	struct eventfd_ctx *ctx;
} __attribute__((preserve_access_index));

struct vhost_virtqueue___st {
	void *private_data;
	struct vhost_vring_call___st call_ctx;
} __attribute__((preserve_access_index));

struct vhost_net_virtqueue___st {
	struct vhost_virtqueue___st vq;
} __attribute__((preserve_access_index));

struct vhost_net___st {
	struct vhost_net_virtqueue___st vqs[2];
} __attribute__((preserve_access_index));

/* include/linux/if_tun.h: tun_msg_ctl.type of a batch of XDP buffers. */
#define VN_TUN_MSG_PTR 2
/* drivers/net/tun.c: ring entries with this bit set are xdp_frames. */
#define VN_TUN_XDP_FLAG 0x1UL
/* vhost_net batches at most VHOST_NET_BATCH (64) XDP buffers per sendmsg. */
#define VN_TX_BATCH_MAX 64
/* include/uapi/linux/if_tun.h: tun->flags bit of a tap with a vnet header. */
#define VN_IFF_VNET_HDR 0x4000

/* Which vn_fillmax generation programs write; flipped per interval. */
volatile __u32 vn_gen;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct st_vn_cfg);
} vn_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u8);
} vn_netns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, struct st_vn_dev);
	__type(value, __u8);
} vn_devs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ST_VN_MAX_TUNQ);
	__type(key, struct st_vn_tunq_key);
	__type(value, struct st_vn_tunq_val);
} vn_tunq SEC(".maps");

/* Highest fill level per (tun queue, generation parity). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * ST_VN_MAX_TUNQ);
	__type(key, struct st_vn_tunq_key);
	__type(value, __u32);
} vn_fillmax SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ST_VN_MAX_VQ);
	__type(key, __u64);
	__type(value, struct st_vn_vq_val);
} vn_vq SEC(".maps");

/* Worker thread id -> the virtqueue its current handler serves. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u64);
} vn_cur SEC(".maps");

/* Call eventfd object -> its virtqueue. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u64);
} vn_ctx SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ST_VNC_MAX);
	__type(key, __u32);
	__type(value, __u64);
} vn_counters SEC(".maps");

static __always_inline void vn_count(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&vn_counters, &idx);

	if (c)
		*c += 1;
}

/* Is dev a tun/tap device? tun_set_iff() gives it tun_link_ops, kind "tun". */
static __always_inline int vn_is_tun(struct net_device *dev)
{
	const struct rtnl_link_ops *ops = BPF_CORE_READ(dev, rtnl_link_ops);
	const char *kind;
	char k[4] = {};

	if (!ops)
		return 0;
	kind = BPF_CORE_READ(ops, kind);
	if (!kind || bpf_probe_read_kernel(k, sizeof(k), kind))
		return 0;
	return k[0] == 't' && k[1] == 'u' && k[2] == 'n' && k[3] == 0;
}

static __always_inline int vn_selected(struct st_vn_cfg *c, __u32 netns, __u32 ifindex)
{
	if ((c->flags & ST_VN_F_NETNS) && !bpf_map_lookup_elem(&vn_netns, &netns))
		return 0;
	if (c->flags & ST_VN_F_DEV) {
		struct st_vn_dev dk = { .netns = netns, .ifindex = ifindex };

		if (!bpf_map_lookup_elem(&vn_devs, &dk))
			return 0;
	}
	return 1;
}

static __always_inline struct st_vn_tunq_val *vn_tunq_get(struct st_vn_tunq_key *k)
{
	struct st_vn_tunq_val *v = bpf_map_lookup_elem(&vn_tunq, k), zero = {};

	if (v)
		return v;
	bpf_map_update_elem(&vn_tunq, k, &zero, BPF_NOEXIST);
	v = bpf_map_lookup_elem(&vn_tunq, k);
	if (!v)
		vn_count(ST_VNC_TUNQ_FULL);
	return v;
}

/* The tun queue key of a tun_file: its device and queue index. */
static __always_inline int vn_tfile_key(struct tun_file *tf, struct st_vn_tunq_key *k)
{
	struct tun_struct *tun = BPF_CORE_READ(tf, tun);
	struct net_device *dev;

	if (!tun)
		return -1;
	dev = BPF_CORE_READ(tun, dev);
	if (!dev || !vn_is_tun(dev))
		return -1;
	k->netns = BPF_CORE_READ(dev, nd_net.net, ns.inum);
	k->ifindex = BPF_CORE_READ(dev, ifindex);
	k->queue = BPF_CORE_READ(tf, queue_index);
	k->gen = 0;
	return 0;
}

/* A tun socket is the `socket` member of a tun_file. */
static __always_inline struct tun_file *vn_sock_tfile(struct socket *sock)
{
	return (void *)sock - bpf_core_field_offset(struct tun_file, socket);
}

/* ---- tun: frames into a queue ------------------------------------------- */

static __always_inline int vn_xmit(struct sk_buff *skb, struct net_device *dev, int check)
{
	__u32 zero = 0, txq, numq, size, prod, ch, fill, full;
	struct st_vn_cfg *c = bpf_map_lookup_elem(&vn_cfg, &zero);
	struct st_vn_tunq_key k = {};
	struct st_vn_tunq_val *v;
	struct tun_struct *tun;
	__u32 *mx;
	struct tun_file *tf = NULL;
	void **queue, *slot = NULL;
	void *base;

	if (!c || !skb || !dev)
		return 0;
	if (check && !vn_is_tun(dev)) {
		vn_count(ST_VNC_XMIT_NOTUN);
		return 0;
	}
	vn_count(ST_VNC_XMIT);
	k.netns = BPF_CORE_READ(dev, nd_net.net, ns.inum);
	k.ifindex = BPF_CORE_READ(dev, ifindex);
	if (!vn_selected(c, k.netns, k.ifindex)) {
		vn_count(ST_VNC_FILTERED);
		return 0;
	}
	txq = BPF_CORE_READ(skb, queue_mapping);
	tun = st_netdev_priv(dev);
	numq = BPF_CORE_READ(tun, numqueues);
	if (txq >= numq || txq >= 256) {
		vn_count(ST_VNC_XMIT_NOQ);
		return 0;
	}
	base = (void *)tun + bpf_core_field_offset(struct tun_struct, tfiles);
	if (bpf_probe_read_kernel(&tf, sizeof(tf), base + txq * sizeof(void *)) || !tf)
		return 0;
	k.queue = txq;
	v = vn_tunq_get(&k);
	if (!v)
		return 0;
	size = BPF_CORE_READ(tf, tx_ring.size);
	prod = BPF_CORE_READ(tf, tx_ring.producer);
	ch = BPF_CORE_READ(tf, tx_ring.consumer_head);
	queue = BPF_CORE_READ(tf, tx_ring.queue);
	if (queue && prod < size)
		bpf_probe_read_kernel(&slot, sizeof(slot), (void *)queue + prod * sizeof(void *));
	/* ptr_ring_produce() fails when the producer's slot is still taken. */
	full = slot != NULL;
	if (full && prod == ch)
		fill = size;
	else
		fill = prod >= ch ? prod - ch : prod + size - ch;
	__sync_fetch_and_add(&v->xmit_pkts, 1);
	__sync_fetch_and_add(&v->xmit_bytes, BPF_CORE_READ(skb, len));
	__sync_fetch_and_add(&v->fill_sum, fill);
	if (full)
		__sync_fetch_and_add(&v->xmit_full, 1);
	v->ring_size = size;
	v->fill_last = fill;
	k.gen = vn_gen & 1;
	mx = bpf_map_lookup_elem(&vn_fillmax, &k);
	if (!mx) {
		bpf_map_update_elem(&vn_fillmax, &k, &fill, BPF_NOEXIST);
		mx = bpf_map_lookup_elem(&vn_fillmax, &k);
	}
	/* A racing CPU may lower a maximum it raced with by a frame; the
	 * count of full-ring drops above is exact regardless. */
	if (mx && fill > *mx)
		*mx = fill;
	return 0;
}

SEC("fentry/tun_net_xmit")
int fentry_tun_net_xmit(__u64 *ctx)
{
	return vn_xmit((struct sk_buff *)ctx[0], (struct net_device *)ctx[1], 0);
}

SEC("kprobe/tun_net_xmit")
int BPF_KPROBE(kprobe_tun_net_xmit, struct sk_buff *skb, struct net_device *dev)
{
	return vn_xmit(skb, dev, 0);
}

SEC("tp_btf/net_dev_start_xmit")
int btf_tun_xmit(__u64 *ctx)
{
	return vn_xmit((struct sk_buff *)ctx[0], (struct net_device *)ctx[1], 1);
}

SEC("raw_tp/net_dev_start_xmit")
int raw_tun_xmit(__u64 *ctx)
{
	return vn_xmit((struct sk_buff *)ctx[0], (struct net_device *)ctx[1], 1);
}

/* The vhost side: handler runs, socket frames, peeks, notifications. */
#include "virt_vhost.bpf.h"
