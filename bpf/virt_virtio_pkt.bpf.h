/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Per-packet RX path of virtio-net (stagetrace virt virtio --rx-path -v),
 * included by bpf/virt_virtio.bpf.c after its per-queue part.
 *
 * The frame has no skb until receive_buf builds one, so the early stages
 * come from where the frame is: the interrupt callback and NAPI run of its
 * queue (vv_run, kept by vv_poll_start) and receive_buf, which stashes its
 * queue and stamp per CPU. receive_buf ends in napi_gro_receive on the same
 * CPU, so the napi_gro_receive_entry tracepoint that follows on that CPU
 * for the same device is this frame's skb: from there the record is
 * followed by skb address (vv_inflight) through netif_receive_skb to the
 * socket (UDP enqueue or TCP segment processing), where it is sent to
 * user space. A frame that ends before a socket is sent when its skb is
 * consumed or dropped. GRO may merge a frame into another and free it
 * without a tracepoint; its record is then sent, marked "unseen", when
 * the skb address comes back to GRO with a new frame, and counted.
 */
#ifndef ST_VIRT_VIRTIO_PKT_BPF_H
#define ST_VIRT_VIRTIO_PKT_BPF_H

#include "parse.bpf.h"
#include "filter.bpf.h"

struct vv_rbuf {
	struct st_vv_key k;
	__u64 ts;
	__u32 len, valid;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vv_rbuf);
} vv_rbuf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64);
	__type(value, struct st_vv_pkt);
} vv_inflight SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} vv_pkts SEC(".maps");

static __always_inline void vv_pkt_rbuf(const struct st_vv_key *k, __u32 len)
{
	__u32 zero = 0;
	struct vv_rbuf *r;

	if (!vv_pkt_on())
		return;
	r = bpf_map_lookup_elem(&vv_rbuf, &zero);
	if (!r)
		return;
	r->k = *k;
	r->ts = bpf_ktime_get_ns();
	r->len = len;
	r->valid = 1;
}

static __always_inline void vv_pkt_send(struct st_vv_pkt *p)
{
	if (bpf_ringbuf_output(&vv_pkts, p, sizeof(*p), 0))
		vv_count(ST_VVC_PKT_RB_FULL);
}

/* At the GRO entry eth_type_trans has set the MAC header, but the network
 * header is not reset until netif_receive_skb: key from the MAC header. */
static __always_inline int vv_pkt_key(struct sk_buff *skb, struct st_pkt_key *key,
				      struct st_parse_out *po)
{
	const void *head = BPF_CORE_READ(skb, head);
	__u32 off = BPF_CORE_READ(skb, mac_header);

	if (off == (__u16)~0U)
		return -1;
	if (st_parse_l2(head, &off, po) != bpf_htons(ST_ETH_P_IP))
		return -1;
	return st_parse_l3(head, &off, key, 1) < 0 ? -1 : 0;
}

static __always_inline int vv_pkt_gro(struct sk_buff *skb)
{
	__u32 zero = 0;
	struct st_vv_cfg *c = bpf_map_lookup_elem(&vv_cfg, &zero);
	struct vv_rbuf *r = bpf_map_lookup_elem(&vv_rbuf, &zero);
	struct st_parse_out po = {};
	struct st_vv_pkt p = {}, *old;
	struct net_device *dev;
	struct vv_run *run;
	__u64 addr = (__u64)skb;

	if (!c || !c->pkt || !r || !r->valid || !skb)
		return 0;
	dev = BPF_CORE_READ(skb, dev);
	if (!dev || BPF_CORE_READ(dev, ifindex) != r->k.ifindex ||
	    BPF_CORE_READ(dev, nd_net.net, ns.inum) != r->k.netns)
		return 0;
	r->valid = 0;
	if (vv_pkt_key(skb, &p.key, &po)) {
		__builtin_memset(&p.key, 0, sizeof(p.key));
		if (c->pf.flags & ST_PF_HEADERS) {
			vv_count(ST_VVC_PKT_UNPARSED);
			return 0;
		}
	} else if ((c->pf.flags & ST_PF_HEADERS) && !st_pf_match(&c->pf, &p.key)) {
		vv_count(ST_VVC_PKT_FILTERED);
		return 0;
	}
	run = bpf_map_lookup_elem(&vv_run, &r->k);
	if (run) {
		p.ts[ST_VVS_IRQ] = run->irq_ts;
		p.ts[ST_VVS_POLL] = run->poll_ts;
		p.irq_cpu = run->irq_cpu;
	}
	p.ts[ST_VVS_RBUF] = r->ts;
	p.ts[ST_VVS_GRO] = bpf_ktime_get_ns();
	p.netns = r->k.netns;
	p.ifindex = r->k.ifindex;
	p.queue = r->k.queue;
	p.cpu = bpf_get_smp_processor_id();
	p.len = r->len;
	old = bpf_map_lookup_elem(&vv_inflight, &addr);
	if (old) {
		old->end = ST_VVE_UNSEEN;
		vv_pkt_send(old);
		vv_count(ST_VVC_PKT_REUSED);
	}
	if (bpf_map_update_elem(&vv_inflight, &addr, &p, BPF_ANY))
		vv_count(ST_VVC_PKT_MAP_FULL);
	return 0;
}

SEC("tp_btf/napi_gro_receive_entry")
int btf_vv_gro(__u64 *ctx)
{
	return vv_pkt_gro((struct sk_buff *)ctx[0]);
}

SEC("raw_tp/napi_gro_receive_entry")
int raw_vv_gro(struct bpf_raw_tracepoint_args *ctx)
{
	return vv_pkt_gro((struct sk_buff *)ctx->args[0]);
}

static __always_inline int vv_pkt_netif(struct sk_buff *skb)
{
	__u64 addr = (__u64)skb;
	struct st_vv_pkt *p = bpf_map_lookup_elem(&vv_inflight, &addr);

	if (p && !p->ts[ST_VVS_NETIF])
		p->ts[ST_VVS_NETIF] = bpf_ktime_get_ns();
	return 0;
}

SEC("tp_btf/netif_receive_skb")
int btf_vv_netif(__u64 *ctx)
{
	return vv_pkt_netif((struct sk_buff *)ctx[0]);
}

SEC("raw_tp/netif_receive_skb")
int raw_vv_netif(struct bpf_raw_tracepoint_args *ctx)
{
	return vv_pkt_netif((struct sk_buff *)ctx->args[0]);
}

/* The end of a followed frame: stamp the socket stage if it got there,
 * send the record, forget the skb. */
static __always_inline int vv_pkt_end(struct sk_buff *skb, __u32 end, __u32 reason)
{
	__u64 addr = (__u64)skb;
	struct st_vv_pkt *p = bpf_map_lookup_elem(&vv_inflight, &addr);

	if (!p)
		return 0;
	if (end == ST_VVE_SOCK)
		p->ts[ST_VVS_SOCK] = bpf_ktime_get_ns();
	p->end = end;
	p->drop_reason = reason;
	vv_pkt_send(p);
	bpf_map_delete_elem(&vv_inflight, &addr);
	return 0;
}

SEC("fentry/__udp_enqueue_schedule_skb")
int fentry_vv_udp(__u64 *ctx)
{
	return vv_pkt_end((struct sk_buff *)ctx[1], ST_VVE_SOCK, 0);
}

SEC("kprobe/__udp_enqueue_schedule_skb")
int BPF_KPROBE(kprobe_vv_udp, struct sock *sk, struct sk_buff *skb)
{
	return vv_pkt_end(skb, ST_VVE_SOCK, 0);
}

SEC("fentry/tcp_v4_do_rcv")
int fentry_vv_tcp(__u64 *ctx)
{
	return vv_pkt_end((struct sk_buff *)ctx[1], ST_VVE_SOCK, 0);
}

SEC("kprobe/tcp_v4_do_rcv")
int BPF_KPROBE(kprobe_vv_tcp, struct sock *sk, struct sk_buff *skb)
{
	return vv_pkt_end(skb, ST_VVE_SOCK, 0);
}

/* kfree_skb(skb, location, reason): the reason argument exists on every
 * kernel the matrix runs (5.17+); consume_skb(skb[, location]). */
SEC("tp_btf/kfree_skb")
int btf_vv_kfree(__u64 *ctx)
{
	return vv_pkt_end((struct sk_buff *)ctx[0], ST_VVE_DROPPED, (__u32)ctx[2]);
}

SEC("raw_tp/kfree_skb")
int raw_vv_kfree(struct bpf_raw_tracepoint_args *ctx)
{
	return vv_pkt_end((struct sk_buff *)ctx->args[0], ST_VVE_DROPPED, (__u32)ctx->args[2]);
}

SEC("tp_btf/consume_skb")
int btf_vv_consume(__u64 *ctx)
{
	return vv_pkt_end((struct sk_buff *)ctx[0], ST_VVE_FREED, 0);
}

SEC("raw_tp/consume_skb")
int raw_vv_consume(struct bpf_raw_tracepoint_args *ctx)
{
	return vv_pkt_end((struct sk_buff *)ctx->args[0], ST_VVE_FREED, 0);
}

#endif /* ST_VIRT_VIRTIO_PKT_BPF_H */
