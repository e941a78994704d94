// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Guest-side virtio-net receive buffers (stagetrace virt virtio --rcvbuf):
 * run inside a VM. See bpf/virt_rcvbuf.h for what is counted.
 *
 * try_fill_recv(vi, rq, gfp) posts buffers until the RX virtqueue is full
 * or an allocation fails; it returns false on failure. Its entry keeps the
 * queue's free slots and the time; its exit adds the slots it posted and
 * its duration. virtnet_poll's entry and exit mark the CPU as inside a
 * NAPI run: a fill there is the driver topping the ring up with atomic
 * allocations; any other (open, refill work, resize) may sleep and move
 * between CPUs. So a fill in progress is kept per CPU inside NAPI and per
 * thread outside: a NAPI run can interrupt a fill of the same thread.
 * (The gfp mask would say the same, but the __GFP_* bit numbers changed
 * over releases and older kernels do not describe them in BTF.)
 *
 * receive_buf(vi, rq, buf, len, ctx, ...) is handed one used buffer of
 * len bytes (the virtio-net header included). For mergeable buffers ctx
 * is the driver's encoding of the buffer's true size (low 22 bits) and
 * headroom (the bits above): the driver's own format, unchanged since it
 * was introduced in 4.13; the header at buf says how many buffers the
 * frame spans (num_buffers, little-endian in virtio 1.0 and legacy x86).
 *
 * fentry/fexit where the kernel takes them, else kprobe/kretprobe.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#include "virt_rcvbuf.h"
#include "cpu_hist.bpf.h"
#include "counts.bpf.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define VR_CTX_TRUESIZE_MASK ((1ul << 22) - 1)
/* Offset of num_buffers in struct virtio_net_hdr_mrg_rxbuf: the virtio
 * specification's wire layout (10-byte virtio_net_hdr, then le16). */
#define VR_NUM_BUFFERS_OFF 10

volatile __u32 vr_gen;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ST_VR_MAX_Q);
	__type(key, struct st_vr_key);
	__type(value, struct st_vr_val);
} vr_q SEC(".maps");

struct vr_fill {
	struct st_vr_key k;
	__u64 ts;
	__u64 rq;		/* the receive_queue (kretprobes have no arguments) */
	__u32 free_before;
	__u32 napi;
};

/* A fill in progress: key vr_fill_key(). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct vr_fill);
} vr_fills SEC(".maps");

/* Per CPU: inside a virtnet_poll run (NAPI runs do not nest on a CPU). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} vr_in_napi SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ST_VRC_MAX);
	__type(key, __u32);
	__type(value, __u64);
} vr_counters SEC(".maps");

ST_CPU_HIST_MAP(hist0);
ST_CPU_HIST_MAP(hist1);

static __always_inline void vr_count(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&vr_counters, &idx);

	if (c)
		*c += 1;
}

static __always_inline void vr_hist(__u32 id, __u64 value)
{
	void *map = vr_gen & 1 ? (void *)&hist1 : (void *)&hist0;

	if (st_cpu_hist_add(map, id, value))
		vr_count(ST_VRC_HIST_FULL);
}

static __always_inline struct st_vr_val *vr_get(struct st_vr_key *k)
{
	struct st_vr_val zero = {};
	struct st_vr_val *v = st_row_get(&vr_q, k, &zero);

	if (!v)
		vr_count(ST_VRC_MAP_FULL);
	return v;
}

static __always_inline int vr_key(struct virtnet_info *vi, struct receive_queue *rq,
				  struct st_vr_key *k)
{
	struct net_device *dev = vi ? BPF_CORE_READ(vi, dev) : NULL;

	if (!dev || !rq) {
		vr_count(ST_VRC_NO_DEV);
		return -1;
	}
	k->netns = BPF_CORE_READ(dev, nd_net.net, ns.inum);
	k->ifindex = BPF_CORE_READ(dev, ifindex);
	k->queue = BPF_CORE_READ(rq, vq, index) / 2;
	k->pad = 0;
	return 0;
}

static __always_inline __u32 vr_mode(struct virtnet_info *vi)
{
	if (BPF_CORE_READ(vi, mergeable_rx_bufs))
		return ST_VR_MODE_MERGEABLE;
	return BPF_CORE_READ(vi, big_packets) ? ST_VR_MODE_BIG : ST_VR_MODE_SMALL;
}

/* ---- NAPI runs ---------------------------------------------------------- */

static __always_inline int vr_napi(__u32 on)
{
	__u32 zero = 0, *f = bpf_map_lookup_elem(&vr_in_napi, &zero);

	if (f)
		*f = on;
	return 0;
}

SEC("fentry/virtnet_poll")
int fentry_vr_poll(__u64 *ctx)
{
	return vr_napi(1);
}

SEC("fexit/virtnet_poll")
int fexit_vr_poll(__u64 *ctx)
{
	return vr_napi(0);
}

SEC("kprobe/virtnet_poll")
int kprobe_vr_poll(struct pt_regs *ctx)
{
	return vr_napi(1);
}

SEC("kretprobe/virtnet_poll")
int kretprobe_vr_poll(struct pt_regs *ctx)
{
	return vr_napi(0);
}

/* ---- filling the ring --------------------------------------------------- */

/* Inside NAPI: the CPU (top bit set), else the thread. */
static __always_inline __u32 vr_fill_key(__u32 *napi)
{
	__u32 zero = 0, *f = bpf_map_lookup_elem(&vr_in_napi, &zero);

	*napi = f && *f;
	return *napi ? 0x80000000u | bpf_get_smp_processor_id()
		     : (__u32)bpf_get_current_pid_tgid();
}

static __always_inline int vr_fill_start(struct virtnet_info *vi, struct receive_queue *rq)
{
	struct vr_fill f = {};
	__u32 key = vr_fill_key(&f.napi);

	if (vr_key(vi, rq, &f.k))
		return 0;
	f.ts = bpf_ktime_get_ns();
	f.rq = (__u64)rq;
	f.free_before = BPF_CORE_READ(rq, vq, num_free);
	bpf_map_update_elem(&vr_fills, &key, &f, BPF_ANY);
	return 0;
}

static __always_inline int vr_fill_end(struct virtnet_info *vi, int ok)
{
	__u32 napi, key = vr_fill_key(&napi);
	struct vr_fill *f = bpf_map_lookup_elem(&vr_fills, &key);
	struct receive_queue *rq;
	struct st_vr_val *v;
	__u32 free_after, posted;
	__u64 d;

	if (!f) {
		vr_count(ST_VRC_UNPAIRED);
		return 0;
	}
	d = bpf_ktime_get_ns() - f->ts;
	rq = (struct receive_queue *)f->rq;
	free_after = BPF_CORE_READ(rq, vq, num_free);
	posted = f->free_before > free_after ? f->free_before - free_after : 0;
	v = vr_get(&f->k);
	if (v) {
		if (f->napi) {
			__sync_fetch_and_add(&v->fills_napi, 1);
			__sync_fetch_and_add(&v->posted_napi, posted);
		} else {
			__sync_fetch_and_add(&v->fills_other, 1);
			__sync_fetch_and_add(&v->posted_other, posted);
		}
		if (!ok)
			__sync_fetch_and_add(&v->fill_oom, 1);
		__sync_fetch_and_add(&v->fill_ns, d);
		if (f->free_before > v->max_free)
			v->max_free = f->free_before;
		v->last_free = free_after;
		if (vi) {
			v->mode = vr_mode(vi);
			v->hdr_len = BPF_CORE_READ(vi, hdr_len);
		}
	}
	bpf_map_delete_elem(&vr_fills, &key);
	return 0;
}

SEC("fentry/try_fill_recv")
int fentry_try_fill_recv(__u64 *ctx)
{
	return vr_fill_start((struct virtnet_info *)ctx[0], (struct receive_queue *)ctx[1]);
}

SEC("fexit/try_fill_recv")
int fexit_try_fill_recv(__u64 *ctx)
{
	return vr_fill_end((struct virtnet_info *)ctx[0], (__u8)ctx[3]);
}

SEC("kprobe/try_fill_recv")
int BPF_KPROBE(kprobe_try_fill_recv, struct virtnet_info *vi, struct receive_queue *rq)
{
	return vr_fill_start(vi, rq);
}

/* No arguments at the return: the queue is the one the entry kept. */
SEC("kretprobe/try_fill_recv")
int BPF_KRETPROBE(kretprobe_try_fill_recv, int ret)
{
	return vr_fill_end(NULL, (__u8)ret);
}

/* ---- deferred refill ---------------------------------------------------- */

static __always_inline int vr_refill(struct work_struct *work)
{
	struct virtnet_info *vi;
	struct st_vr_key k = {};
	struct st_vr_val *v;

	if (!work)
		return 0;
	/* The work is virtnet_info's refill (a delayed work). */
	vi = (void *)work - bpf_core_field_offset(struct virtnet_info, refill.work);
	/* Counted on queue 0 (vi->rq): the work refills every queue. */
	if (vr_key(vi, BPF_CORE_READ(vi, rq), &k))
		return 0;
	v = vr_get(&k);
	if (v)
		__sync_fetch_and_add(&v->refill_work, 1);
	return 0;
}

SEC("fentry/refill_work")
int fentry_refill_work(__u64 *ctx)
{
	return vr_refill((struct work_struct *)ctx[0]);
}

SEC("kprobe/refill_work")
int BPF_KPROBE(kprobe_refill_work, struct work_struct *work)
{
	return vr_refill(work);
}

/* ---- used buffers ------------------------------------------------------- */

static __always_inline int vr_rx(struct virtnet_info *vi, struct receive_queue *rq, void *buf,
				 __u32 len, __u64 ctx)
{
	struct st_vr_key k;
	struct st_vr_val *v;
	__u32 hdr, mode, frame;
	__u16 nbuf = 1;

	if (vr_key(vi, rq, &k))
		return 0;
	hdr = BPF_CORE_READ(vi, hdr_len);
	mode = vr_mode(vi);
	frame = len > hdr ? len - hdr : 0;
	if (mode == ST_VR_MODE_MERGEABLE) {
		vr_hist(ST_VR_H_TRUESIZE, ctx & VR_CTX_TRUESIZE_MASK);
		if (hdr >= VR_NUM_BUFFERS_OFF + 2)
			bpf_probe_read_kernel(&nbuf, sizeof(nbuf), buf + VR_NUM_BUFFERS_OFF);
	}
	vr_hist(ST_VR_H_LEN, frame);
	v = vr_get(&k);
	if (!v)
		return 0;
	__sync_fetch_and_add(&v->frames, 1);
	__sync_fetch_and_add(&v->frame_bytes, frame);
	if (nbuf > 1)
		__sync_fetch_and_add(&v->multi_buf, 1);
	v->mode = mode;
	v->hdr_len = hdr;
	return 0;
}

/* The buffer's context is declared void ** (it is the encoded value
 * itself, type-punned), which the verifier will not let a direct ctx read
 * take: bpf_get_func_arg reads it as the plain word it is. */
SEC("fentry/receive_buf")
int fentry_vr_receive_buf(__u64 *ctx)
{
	__u64 mctx = 0;

	bpf_get_func_arg(ctx, 4, &mctx);
	return vr_rx((struct virtnet_info *)ctx[0], (struct receive_queue *)ctx[1],
		     (void *)ctx[2], (__u32)ctx[3], mctx);
}

SEC("kprobe/receive_buf")
int BPF_KPROBE(kprobe_vr_receive_buf, struct virtnet_info *vi, struct receive_queue *rq,
	       void *buf, unsigned int len, void *mctx)
{
	return vr_rx(vi, rq, buf, len, (__u64)mctx);
}
