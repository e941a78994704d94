// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Host-stack stage stamps.
 *
 * Each hook: netns/device filter (no packet access yet) -> key the packet
 * -> address/port/protocol filter -> consistent sampling -> append a stamp
 * to the packet's host path in an LRU map -> on a terminal hook, emit the
 * path through the ring buffer and forget it.
 *
 * Every hook exists once per attach method of its plan (tracepoints: a
 * tp_btf and a raw_tp program; kernel functions: fentry and kprobe, plus
 * tp_btf/raw_tp where the kernel has a tracepoint at the same place), thin
 * wrappers around one static function, named <method>_<hook>. User space
 * (agent/attach.c) loads the one its plan chose and disables the others'
 * autoload, so one object serves every kernel, and a program whose target
 * (a module function, a module struct) this kernel lacks is never loaded.
 *
 * OVS upcalls: on a flow miss the kernel queues a copy of the packet to
 * ovs-vswitchd and frees its own skb; userspace decides and re-injects the
 * packet (OVS_PACKET_CMD_EXECUTE -> ovs_execute_actions) as a new skb with
 * the same headers, so the same packet id. The free right after an
 * ovs_upcall stamp therefore does not end the host path: the re-injected
 * packet continues it, and ovs_exec - ovs_upcall is the userspace time.
 * If userspace never re-injects it, the agent's sweep ends it as a timeout.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>

#include "stages.h"
#include "parse.bpf.h"
#include "filter.bpf.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct st_config);
} cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u8);
} netns_allow SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct st_dev_key);
	__type(value, struct st_dev_val);
} dev_roles SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct st_path);
} paths SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct st_path);
} scratch SEC(".maps");

/*
 * vhost-net TX: the worker thread's handle_tx() takes a batch of frames
 * from the guest's TX virtqueue and pushes each through tun_sendmsg() into
 * the host stack in the same thread, before any skb is seen. handle_tx's
 * entry time per thread is kept here; a path that starts on a VM port in
 * that thread gets it as its first stamp (vhost_tx), so the tap's receive
 * stage measures the worker's copy of that packet.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u64);
} vhost_tx_start SEC(".maps");

/*
 * The skbs the OVS datapath queued to ovs-vswitchd (ovs_dp_upcall), by
 * address. The kernel consumes such an skb after queueing its copy; that
 * free must not end the path, which the re-injected packet (a new skb,
 * same packet id) continues. Matching the free by skb rather than by "the
 * path's last stamp is the upcall" also holds when ovs-vswitchd re-injects
 * before the original is freed (seen on 6.12 under emulation: the free
 * then came after ovs_exec and split the path in two).
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u8);
} upcall_skbs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ST_C_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static __always_inline void st_count(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &idx);

	if (c)
		*c += 1;
}

/*
 * No wake-up per record: waking the agent costs microseconds inside the
 * packet's path (and only when the agent happens to sleep, which skews
 * one-way delays between directions). The agent drains the ring on a short
 * timer; a ring filling up still forces a wake-up.
 */
#define ST_RB_WAKE_BYTES (512 << 10)

static __always_inline void st_emit(struct st_path *p, __u64 id, __u8 end)
{
	__u64 flags = BPF_RB_NO_WAKEUP;

	if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) > ST_RB_WAKE_BYTES)
		flags = BPF_RB_FORCE_WAKEUP;
	p->end = end;
	if (bpf_ringbuf_output(&events, p, sizeof(*p), flags))
		st_count(ST_C_RINGBUF_FULL);
	else
		st_count(ST_C_EMITTED);
	bpf_map_delete_elem(&paths, &id);
}

static __always_inline int st_is_terminal_only(__u8 hook)
{
	return hook == ST_HOOK_SKB_COPY_DATAGRAM || hook == ST_HOOK_KFREE_SKB ||
	       hook == ST_HOOK_CONSUME_SKB || hook == ST_HOOK_NET_DEV_XMIT;
}

/* vhost-net RX and KVM injection: a VM's read in a vhost worker is held
 * until the guest's interrupt (needs st_emit; st_stage_dev calls it). */
#include "stages_vhostrx.bpf.h"

/*
 * Minimal CO-RE views of module structs (openvswitch's vport, the bridge's
 * port): only the field we read, relocated against the module's own BTF
 * when a program that uses it is loaded.
 */
struct vport___st {
	struct net_device *dev;
} __attribute__((preserve_access_index));

struct net_bridge_port___st {
	struct net_device *dev;
} __attribute__((preserve_access_index));

/* Guest virtio-net stages (virtio_irq, virtio_poll, virtio_tx). */
#include "stages_guestvirtio.bpf.h"

/* skb: the packet; odev: the device the stamp is about when it is not
 * skb->dev yet (the output port of OVS or a bridge), else NULL. */
static __always_inline int st_stage_dev(struct sk_buff *skb, struct net_device *odev,
					__u8 hook, __u16 aux)
{
	__u32 zero = 0;
	struct st_config *c = bpf_map_lookup_elem(&cfg, &zero);
	struct st_parse_out po = {};
	struct st_dev_key dk;
	struct st_dev_val *dv;
	struct st_pkt_key key = {};
	struct st_path *p;
	struct net_device *dev;
	__u64 id, now;
	__u8 role = ST_ROLE_OTHER;
	int devless;
	__u32 n;

	/* Newer verifiers type some tracepoint arguments "maybe NULL"
	 * (6.12: openvswitch's skb); an explicit check keeps them happy. */
	if (!c || !skb)
		return 0;
	st_count(ST_C_HOOK_CALLS);

	/* 1. Namespace and device filters: pointer chasing only. */
	dev = odev ? odev : BPF_CORE_READ(skb, dev);
	dk.netns = 0;
	dk.ifindex = 0;
	if (dev) {
		dk.netns = BPF_CORE_READ(dev, nd_net.net, ns.inum);
		dk.ifindex = BPF_CORE_READ(dev, ifindex);
	}
	/*
	 * A packet on a socket has no device: UDP reuses skb->dev as scratch
	 * space once the packet is queued (udp_set_dev_scratch), so the read
	 * and the free after it see nothing there (and UDP copies linear
	 * packets without the skb_copy_datagram_iovec tracepoint, so its
	 * free right after the read is the last stamp). A terminal stamp only
	 * ever ends a path that passed the filters when it was opened (it
	 * never opens one), so it skips the namespace and device filters
	 * and is keyed like any other; without a path it counts as filtered.
	 */
	devless = st_is_terminal_only(hook) && dk.netns == 0;
	if (!dev && !devless)
		return 0;
	if (devless)
		dk.ifindex = 0;
	if (!devless && (c->flags & ST_F_NETNS) &&
	    !bpf_map_lookup_elem(&netns_allow, &dk.netns)) {
		st_count(ST_C_FILTER_NETNS);
		return 0;
	}
	/* The device filter needs the role map now; otherwise the lookup
	 * waits until the packet is known to be sampled. */
	dv = NULL;
	if (!devless && (c->flags & ST_F_DEV)) {
		dv = bpf_map_lookup_elem(&dev_roles, &dk);
		if (!dv) {
			st_count(ST_C_FILTER_DEV);
			return 0;
		}
	}

	/* 2. Key the packet and apply the header filters. */
	if (st_parse_skb_ip(skb, &key, &po, hook == ST_HOOK_SOCK_TX)) {
		st_count(ST_C_PARSE_SKIP);
		return 0;
	}
	/* ip_send_skb runs before __ip_local_out writes the IP total length:
	 * key the packet with the length it is about to get (skb->len, as
	 * every later stamp sees it). Not for an encapsulation, whose key is
	 * the inner packet's. */
	if (hook == ST_HOOK_SOCK_TX && !(po.encap & (ST_ENC_VXLAN | ST_ENC_GENEVE))) {
		const unsigned char *head = BPF_CORE_READ(skb, head);
		__u16 nh = BPF_CORE_READ(skb, network_header), tl = 0;

		bpf_probe_read_kernel(&tl, sizeof(tl), head + nh + 2);
		key.disc2 += (__u32)(__u16)BPF_CORE_READ(skb, len) - bpf_ntohs(tl);
	}
	if (!st_pf_match(&c->pf, &key)) {
		st_count(ST_C_FILTER_L34);
		return 0;
	}

	/* 3. Consistent sampling on the packet id. */
	id = st_pkt_id(&key);
	if (!st_sampled(st_sample_value(&key, id), c->sample_n, c->sample_k)) {
		st_count(ST_C_SAMPLED_OUT);
		return 0;
	}

	now = bpf_ktime_get_ns();
	if (!dv && !devless)
		dv = bpf_map_lookup_elem(&dev_roles, &dk);
	if (dv)
		role = dv->role;
	p = bpf_map_lookup_elem(&paths, &id);
	if (!p) {
		if (devless && (c->flags & ST_F_NETNS)) {
			st_count(ST_C_FILTER_NETNS);
			return 0;
		}
		if (st_is_terminal_only(hook)) {
			st_count(ST_C_END_NO_PATH);
			return 0;
		}
		p = bpf_map_lookup_elem(&scratch, &zero);
		if (!p)
			return 0;
		__builtin_memset(p, 0, sizeof(*p));
		p->pkt_id = id;
		p->key = key;
		p->netns = dk.netns;
		p->cpu = bpf_get_smp_processor_id();
		/* Entering from a VM port inside a vhost worker's handle_tx:
		 * the batch's start is where this packet's path begins. */
		if (role == ST_ROLE_VM &&
		    (hook == ST_HOOK_NETIF_RECEIVE_SKB || hook == ST_HOOK_NETIF_RX)) {
			__u32 tid = (__u32)bpf_get_current_pid_tgid();
			__u64 *t0 = bpf_map_lookup_elem(&vhost_tx_start, &tid);

			if (t0 && *t0 <= now && now - *t0 < 1000000000ull) {
				p->stamps[0].ts = *t0;
				p->stamps[0].ifindex = dk.ifindex;
				p->stamps[0].hook = ST_HOOK_VHOST_TX;
				p->stamps[0].role = role;
				p->nstamps = 1;
			}
		}
		/* Received inside a virtio-net poll (guest agent): the path
		 * starts at the RX interrupt and the poll. */
		if (!p->nstamps)
			gv_rx_open(p, hook, dev, dk.netns, dk.ifindex, role, now);
		if (bpf_map_update_elem(&paths, &id, p, BPF_NOEXIST)) {
			st_count(ST_C_LRU_FAIL);
			return 0;
		}
		p = bpf_map_lookup_elem(&paths, &id);
		if (!p) {
			st_count(ST_C_LRU_FAIL);
			return 0;
		}
		st_count(ST_C_PATH_NEW);
	}

	/* A packet whose last stamp is the OVS upcall: the kernel frees its
	 * copy now; the re-injected packet will continue this path. */
	n = p->nstamps;
	if (n > 0) {
		__u32 li = n - 1;
		__u8 last = 0;

		/* Keep the bound check on the index the load uses (the
		 * compiler would otherwise check a copy). */
		asm volatile("" : "+r"(li));
		if (li < ST_MAX_STAMPS)
			last = p->stamps[li].hook;
		if (hook == ST_HOOK_CONSUME_SKB) {
			__u64 sk = (__u64)skb;

			if (bpf_map_lookup_elem(&upcall_skbs, &sk)) {
				bpf_map_delete_elem(&upcall_skbs, &sk);
				st_count(ST_C_UPCALL_HELD);
				return 0;
			}
		}
		/* tun_do_read frees the skb right after a vhost worker's read;
		 * the path is held for the worker's signal, not ended. */
		if (hook == ST_HOOK_CONSUME_SKB && last == ST_HOOK_SKB_COPY_DATAGRAM &&
		    st_vhost_rx_holding())
			return 0;
		/* The ovs_do_execute_action tracepoint fires once per action;
		 * the stage is the first. */
		if (hook == ST_HOOK_OVS_EXEC && last == ST_HOOK_OVS_EXEC)
			return 0;
	}

	if (po.encap) {
		p->encap |= po.encap;
		if (po.vlan && !p->vlan)
			p->vlan = po.vlan;
		if (po.encap & (ST_ENC_VXLAN | ST_ENC_GENEVE)) {
			p->outer_saddr = po.outer_saddr;
			p->outer_daddr = po.outer_daddr;
			p->vni = po.vni;
		}
	}

	/* 4. Append the stamp. */
	if (n < ST_MAX_STAMPS) {
		p->stamps[n].ts = now;
		p->stamps[n].ifindex = dk.ifindex;
		p->stamps[n].hook = hook;
		p->stamps[n].role = role;
		p->stamps[n].aux = aux;
		p->nstamps = n + 1;
		st_count(ST_C_STAMP);
	} else {
		if (p->overflow < 255)
			p->overflow++;
		st_count(ST_C_STAMP_OVERFLOW);
	}
	if (hook == ST_HOOK_OVS_UPCALL) {
		__u64 sk = (__u64)skb;
		__u8 one = 1;

		bpf_map_update_elem(&upcall_skbs, &sk, &one, BPF_ANY);
	}

	/* 5. Terminal hooks end the host path. */
	switch (hook) {
	case ST_HOOK_NET_DEV_START_XMIT:
		/* Handed to the uplink's driver: the packet has left the host.
		 * (net_dev_xmit comes too late: a veth has already moved the
		 * skb into the peer's namespace, and other drivers may have
		 * freed it.) */
		if (gv_tx_hold(c, dev, id, dk.ifindex, role))
			break;	/* a virtio-net device: ends at virtio_tx */
		if (role == ST_ROLE_UPLINK)
			st_emit(p, id, ST_END_LEFT);
		break;
	case ST_HOOK_SKB_COPY_DATAGRAM:
		/* A vhost worker's read: ends at the guest's interrupt. */
		if (role == ST_ROLE_VM && st_vhost_rx_hold(id))
			break;
		st_emit(p, id, ST_END_DELIVERED);
		break;
	case ST_HOOK_KFREE_SKB:
		st_emit(p, id, ST_END_DROPPED);
		break;
	case ST_HOOK_CONSUME_SKB:
		st_emit(p, id, ST_END_FREED);
		break;
	}
	return 0;
}

static __always_inline int st_stage(struct sk_buff *skb, __u8 hook, __u16 aux)
{
	return st_stage_dev(skb, NULL, hook, aux);
}

/* Drop reasons exist since 5.17; older kernels pass no reason argument. */
static __always_inline __u16 st_drop_reason(__u64 *ctx)
{
	if (bpf_core_enum_value_exists(enum skb_drop_reason,
				       SKB_DROP_REASON_NOT_SPECIFIED))
		return (__u16)ctx[2];
	return 0;
}

/* A tracepoint whose argument number `arg` (0-based) is the skb. */
#define ST_HOOK_PAIR_ARG(name, tp, hookid, arg)                               \
	SEC("tp_btf/" #tp)                                                    \
	int btf_##name(__u64 *ctx)                                            \
	{                                                                     \
		return st_stage((struct sk_buff *)ctx[arg], hookid, 0);       \
	}                                                                     \
	SEC("raw_tp/" #tp)                                                    \
	int raw_##name(__u64 *ctx)                                            \
	{                                                                     \
		return st_stage((struct sk_buff *)ctx[arg], hookid, 0);       \
	}
#define ST_HOOK_PAIR(name, tp, hookid) ST_HOOK_PAIR_ARG(name, tp, hookid, 0)

ST_HOOK_PAIR(netif_rx, netif_rx, ST_HOOK_NETIF_RX)
ST_HOOK_PAIR(napi_gro_rx, napi_gro_receive_entry, ST_HOOK_NAPI_GRO_RX)
ST_HOOK_PAIR(netif_receive_skb, netif_receive_skb, ST_HOOK_NETIF_RECEIVE_SKB)
ST_HOOK_PAIR(net_dev_queue, net_dev_queue, ST_HOOK_NET_DEV_QUEUE)
ST_HOOK_PAIR(net_dev_start_xmit, net_dev_start_xmit, ST_HOOK_NET_DEV_START_XMIT)
/*
 * net_dev_xmit fires after the driver returned; the skb may already be
 * freed or, for veth, belong to the peer namespace, so it is never parsed.
 * It counts transmit failures per hook instead (rc != NETDEV_TX_OK).
 */
static __always_inline int st_xmit_done(__u64 *ctx)
{
	__u32 zero = 0;
	struct st_config *c = bpf_map_lookup_elem(&cfg, &zero);
	struct net_device *dev = (struct net_device *)ctx[2];
	__u32 netns;

	if (!c || (int)ctx[1] == 0 || !dev)
		return 0;
	netns = BPF_CORE_READ(dev, nd_net.net, ns.inum);
	if ((c->flags & ST_F_NETNS) && !bpf_map_lookup_elem(&netns_allow, &netns))
		return 0;
	st_count(ST_C_XMIT_ERRORS);
	return 0;
}

SEC("tp_btf/net_dev_xmit")
int btf_net_dev_xmit(__u64 *ctx)
{
	return st_xmit_done(ctx);
}

SEC("raw_tp/net_dev_xmit")
int raw_net_dev_xmit(__u64 *ctx)
{
	return st_xmit_done(ctx);
}
ST_HOOK_PAIR(skb_copy_datagram, skb_copy_datagram_iovec, ST_HOOK_SKB_COPY_DATAGRAM)
ST_HOOK_PAIR(consume_skb, consume_skb, ST_HOOK_CONSUME_SKB)

SEC("tp_btf/kfree_skb")
int btf_kfree_skb(__u64 *ctx)
{
	return st_stage((struct sk_buff *)ctx[0], ST_HOOK_KFREE_SKB,
			st_drop_reason(ctx));
}

SEC("raw_tp/kfree_skb")
int raw_kfree_skb(__u64 *ctx)
{
	return st_stage((struct sk_buff *)ctx[0], ST_HOOK_KFREE_SKB,
			st_drop_reason(ctx));
}

/*
 * Kernel functions. fentry gets the arguments as an array of u64; a kprobe
 * reads them from the registers. `parm` is the 1-based argument position
 * of the skb (PT_REGS_PARMn).
 */
#define ST_FUNC_HOOK(name, fn, hookid, parm)                                  \
	SEC("fentry/" #fn)                                                    \
	int fentry_##name(__u64 *ctx)                                         \
	{                                                                     \
		return st_stage((struct sk_buff *)ctx[parm - 1], hookid, 0);  \
	}                                                                     \
	SEC("kprobe/" #fn)                                                    \
	int kprobe_##name(struct pt_regs *ctx)                                \
	{                                                                     \
		return st_stage((struct sk_buff *)PT_REGS_PARM##parm(ctx),    \
				hookid, 0);                                   \
	}

/* ovs_vport_receive(vport, skb, tun_info): the packet enters the datapath. */
ST_FUNC_HOOK(ovs_in, ovs_vport_receive, ST_HOOK_OVS_IN, 2)
/* ovs_dp_upcall(dp, skb, key, upcall_info, cutlen): flow miss. */
ST_FUNC_HOOK(ovs_upcall, ovs_dp_upcall, ST_HOOK_OVS_UPCALL, 2)
ST_HOOK_PAIR_ARG(ovs_upcall, ovs_dp_upcall, ST_HOOK_OVS_UPCALL, 1)
/* ovs_execute_actions(dp, skb, acts, key): a flow's actions run, on a hit
 * or for a packet userspace re-injected; the tracepoint fires per action
 * with the same (dp, skb, ...) arguments. */
ST_FUNC_HOOK(ovs_exec, ovs_execute_actions, ST_HOOK_OVS_EXEC, 2)
ST_HOOK_PAIR_ARG(ovs_exec, ovs_do_execute_action, ST_HOOK_OVS_EXEC, 1)

/* ovs_vport_send(vport, skb, mac_proto): skb->dev is still the input port
 * here (the function sets it), so the stamp names vport->dev. */
static __always_inline int st_ovs_out(struct vport___st *vport, struct sk_buff *skb)
{
	return st_stage_dev(skb, BPF_CORE_READ(vport, dev), ST_HOOK_OVS_OUT, 0);
}

SEC("fentry/ovs_vport_send")
int fentry_ovs_out(__u64 *ctx)
{
	return st_ovs_out((struct vport___st *)ctx[0], (struct sk_buff *)ctx[1]);
}

SEC("kprobe/ovs_vport_send")
int kprobe_ovs_out(struct pt_regs *ctx)
{
	return st_ovs_out((struct vport___st *)PT_REGS_PARM1(ctx),
			  (struct sk_buff *)PT_REGS_PARM2(ctx));
}

/* br_handle_frame(struct sk_buff **pskb): the bridge's rx handler. */
static __always_inline int st_br_in(struct sk_buff **pskb)
{
	struct sk_buff *skb = NULL;

	if (bpf_probe_read_kernel(&skb, sizeof(skb), pskb) || !skb)
		return 0;
	return st_stage(skb, ST_HOOK_BR_IN, 0);
}

/* Older verifiers (6.1) refuse a direct ctx read of a pointer to a
 * pointer in fentry ("arg0 type PTR is not a struct"); the helper reads the
 * raw argument on every kernel that has fentry worth the name (5.17+). */
SEC("fentry/br_handle_frame")
int fentry_br_in(__u64 *ctx)
{
	__u64 pskb = 0;

	if (bpf_get_func_arg(ctx, 0, &pskb))
		return 0;
	return st_br_in((struct sk_buff **)pskb);
}

SEC("kprobe/br_handle_frame")
int kprobe_br_in(struct pt_regs *ctx)
{
	return st_br_in((struct sk_buff **)PT_REGS_PARM1(ctx));
}

/* br_forward(to, skb, local_rcv, local_orig): the output port is `to`. */
static __always_inline int st_br_fwd(struct net_bridge_port___st *to, struct sk_buff *skb)
{
	return st_stage_dev(skb, BPF_CORE_READ(to, dev), ST_HOOK_BR_FWD, 0);
}

SEC("fentry/br_forward")
int fentry_br_fwd(__u64 *ctx)
{
	return st_br_fwd((struct net_bridge_port___st *)ctx[0], (struct sk_buff *)ctx[1]);
}

SEC("kprobe/br_forward")
int kprobe_br_fwd(struct pt_regs *ctx)
{
	return st_br_fwd((struct net_bridge_port___st *)PT_REGS_PARM1(ctx),
			 (struct sk_buff *)PT_REGS_PARM2(ctx));
}

/* handle_tx(struct vhost_net *): remember when this worker started. */
static __always_inline int st_vhost_tx(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 now = bpf_ktime_get_ns();

	bpf_map_update_elem(&vhost_tx_start, &tid, &now, BPF_ANY);
	return 0;
}

SEC("fentry/handle_tx")
int fentry_vhost_tx(__u64 *ctx)
{
	return st_vhost_tx();
}

SEC("kprobe/handle_tx")
int kprobe_vhost_tx(struct pt_regs *ctx)
{
	return st_vhost_tx();
}

/*
 * ip_send_skb(net, skb): a datagram this host sends (UDP from udp.c, a
 * call across compilation units, so a real call fentry and kprobes see)
 * enters IP output with its header built, before netfilter's OUTPUT hook
 * and the device queue: the send side of a socket's path. skb->dev is not
 * set yet; the route's device is the one the packet will leave by.
 */
static __always_inline int st_sock_tx(struct sk_buff *skb)
{
	unsigned long refdst = BPF_CORE_READ(skb, _skb_refdst);
	struct dst_entry *dst = (struct dst_entry *)(refdst & ~1UL);
	struct net_device *dev;

	if (!dst)
		return 0;
	dev = BPF_CORE_READ(dst, dev);
	if (!dev)
		return 0;
	return st_stage_dev(skb, dev, ST_HOOK_SOCK_TX, 0);
}

SEC("fentry/ip_send_skb")
int fentry_sock_tx(__u64 *ctx)
{
	return st_sock_tx((struct sk_buff *)ctx[1]);
}

SEC("kprobe/ip_send_skb")
int kprobe_sock_tx(struct pt_regs *ctx)
{
	return st_sock_tx((struct sk_buff *)PT_REGS_PARM2(ctx));
}

/* Tunnel encap/decap stages (VXLAN, Geneve). */
#include "stages_encap.bpf.h"
