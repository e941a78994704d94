// SPDX-License-Identifier: MIT
#include "stage_names.h"

#include <stddef.h>
#include <string.h>

#define ST_PLAN_MAX 4

struct hook_info {
	const char *name;	/* short hook name used in probes output */
	const char *category;	/* tracepoint category (NULL: none) */
	const char *event;	/* tracepoint event */
	const char *suffix;	/* stage suffix after the role prefix */
	const char *stage;	/* fixed stage name, whatever the device role */
	const char *prog;	/* BPF program name after "<method>_" */
	struct st_attach_alt plan[ST_PLAN_MAX];
};

/* Host-stack tracepoints: tp_btf, else raw_tp. */
#define TP(n, cat, ev, sfx, prog) \
	{ n, cat, ev, sfx, NULL, prog, { { "tp_btf", ev }, { "raw_tp", ev } } }

/*
 * Kernel functions: fentry (BTF, cheapest), else a kprobe (which also
 * finds the function's .isra/.constprop clones), else the tracepoint the
 * kernel has at the same place, if any. Module functions (openvswitch,
 * bridge) are found in the module's BTF and kallsyms once it is loaded.
 */
#define FN(n, fn, stg) \
	{ n, NULL, NULL, NULL, stg, stg, { { "fentry", fn }, { "kprobe", fn } } }
/* A function's return (the stamp is taken when it has done its work):
 * fexit, else a kretprobe. */
#define FN_RET(n, fn, stg) \
	{ n, NULL, NULL, NULL, stg, stg, { { "fexit", fn }, { "kretprobe", fn } } }
#define FN_TP(n, fn, cat, ev, stg) \
	{ n, cat, ev, NULL, stg, stg, \
	  { { "fentry", fn }, { "kprobe", fn }, { "tp_btf", ev }, { "raw_tp", ev } } }

/*
 * kvm.ko's irqfd_wakeup is called through a wait-queue function pointer;
 * under emulation (qemu TCG, Debian 6.12) its fentry attaches and never
 * runs (0 runs for 20 wakeups in the vhostrx guest test; `virt kvm` saw the
 * same), while a kprobe on it runs. So this plan tries the kprobe first.
 */
#define FN_KPROBE_FIRST(n, fn, stg) \
	{ n, NULL, NULL, NULL, stg, stg, { { "kprobe", fn }, { "fentry", fn } } }

static const struct hook_info hooks[ST_HOOK_MAX] = {
	[ST_HOOK_NETIF_RX]           = TP("netif_rx", "net", "netif_rx", "rx", "netif_rx"),
	[ST_HOOK_NAPI_GRO_RX]        = TP("napi_gro_receive", "net", "napi_gro_receive_entry", "rx", "napi_gro_rx"),
	[ST_HOOK_NETIF_RECEIVE_SKB]  = TP("netif_receive_skb", "net", "netif_receive_skb", "rcv", "netif_receive_skb"),
	[ST_HOOK_NET_DEV_QUEUE]      = TP("net_dev_queue", "net", "net_dev_queue", "queue", "net_dev_queue"),
	[ST_HOOK_NET_DEV_START_XMIT] = TP("net_dev_start_xmit", "net", "net_dev_start_xmit", "tx", "net_dev_start_xmit"),
	[ST_HOOK_NET_DEV_XMIT]       = TP("net_dev_xmit", "net", "net_dev_xmit", "done", "net_dev_xmit"),
	[ST_HOOK_SKB_COPY_DATAGRAM]  = TP("skb_copy_datagram", "skb", "skb_copy_datagram_iovec", "read", "skb_copy_datagram"),
	[ST_HOOK_KFREE_SKB]          = TP("kfree_skb", "skb", "kfree_skb", "drop", "kfree_skb"),
	[ST_HOOK_CONSUME_SKB]        = TP("consume_skb", "skb", "consume_skb", "free", "consume_skb"),
	[ST_HOOK_OVS_IN]     = FN("ovs_vport_receive", "ovs_vport_receive", "ovs_in"),
	[ST_HOOK_OVS_UPCALL] = FN_TP("ovs_dp_upcall", "ovs_dp_upcall", "openvswitch",
				     "ovs_dp_upcall", "ovs_upcall"),
	[ST_HOOK_OVS_EXEC]   = FN_TP("ovs_execute_actions", "ovs_execute_actions", "openvswitch",
				     "ovs_do_execute_action", "ovs_exec"),
	[ST_HOOK_OVS_OUT]    = FN("ovs_vport_send", "ovs_vport_send", "ovs_out"),
	[ST_HOOK_BR_IN]      = FN("br_handle_frame", "br_handle_frame", "br_in"),
	[ST_HOOK_BR_FWD]     = FN("br_forward", "br_forward", "br_fwd"),
	[ST_HOOK_VHOST_TX]   = FN("handle_tx", "handle_tx", "vhost_tx"),
	[ST_HOOK_SOCK_TX]    = FN("ip_send_skb", "ip_send_skb", "sock_tx"),
	/* Tunnels (session 4, encap). No tracepoint exists at any of these
	 * places; without fentry and kprobes they are unavailable. */
	[ST_HOOK_VXLAN_ENCAP]  = FN("vxlan_xmit_one", "vxlan_xmit_one", "vxlan_encap"),
	[ST_HOOK_GENEVE_ENCAP] = FN("geneve_xmit", "geneve_xmit", "geneve_encap"),
	[ST_HOOK_VXLAN_DECAP]  = FN("vxlan_rcv", "vxlan_rcv", "vxlan_decap"),
	[ST_HOOK_GENEVE_DECAP] = FN("geneve_udp_encap_recv", "geneve_udp_encap_recv",
				    "geneve_decap"),
	/* Guest virtio-net: functions of the virtio_net module. */
	[ST_HOOK_VIRTIO_IRQ]  = FN("skb_recv_done", "skb_recv_done", "virtio_irq"),
	[ST_HOOK_VIRTIO_POLL] = FN("virtnet_poll", "virtnet_poll", "virtio_poll"),
	[ST_HOOK_VIRTIO_TX]   = FN_RET("start_xmit", "start_xmit", "virtio_tx"),
	/* vhost-net RX and KVM injection; the _run/_done hooks bracket
	 * handle_rx and never appear in a path. */
	[ST_HOOK_VHOST_RX_RUN]  = FN("handle_rx", "handle_rx", "vhost_rx_run"),
	[ST_HOOK_VHOST_RX]      = FN("vhost_add_used_and_signal_n",
				     "vhost_add_used_and_signal_n", "vhost_rx"),
	[ST_HOOK_IRQ_INJECT]    = FN_KPROBE_FIRST("irqfd_wakeup", "irqfd_wakeup", "irq_inject"),
	[ST_HOOK_VHOST_RX_DONE] = FN_RET("handle_rx_exit", "handle_rx", "vhost_rx_done"),
};

static const char *roles[ST_ROLE_MAX] = {
	[ST_ROLE_OTHER] = "dev", [ST_ROLE_VM] = "tap", [ST_ROLE_UPLINK] = "nic",
	[ST_ROLE_TUNNEL] = "vxlan", [ST_ROLE_BRIDGE] = "br",
};

/* Every (hook, role) name, precomputed once: "tap_rx", "nic_tx", ... */
static char names[ST_HOOK_MAX][ST_ROLE_MAX][24];

static void names_init(void)
{
	static int done;

	if (done)
		return;
	for (unsigned h = 1; h < ST_HOOK_MAX; h++)
		for (unsigned r = 0; r < ST_ROLE_MAX; r++) {
			char *n = names[h][r];
			const char *sfx = hooks[h].suffix;

			/* Datapath stages are named after the datapath. */
			if (hooks[h].stage)
				__builtin_snprintf(n, sizeof(names[h][r]), "%s", hooks[h].stage);
			/* A VM reading its tap is the VM receiving: "vm_rx". */
			else if (h == ST_HOOK_SKB_COPY_DATAGRAM && r == ST_ROLE_VM)
				__builtin_snprintf(n, sizeof(names[h][r]), "vm_rx");
			else if (h == ST_HOOK_SKB_COPY_DATAGRAM &&
				 (r == ST_ROLE_OTHER || r == ST_ROLE_BRIDGE))
				__builtin_snprintf(n, sizeof(names[h][r]), "sock_rx");
			else if (h == ST_HOOK_KFREE_SKB || h == ST_HOOK_CONSUME_SKB)
				__builtin_snprintf(n, sizeof(names[h][r]), "%s", sfx);
			else
				__builtin_snprintf(n, sizeof(names[h][r]), "%s_%s",
						   roles[r], sfx);
		}
	done = 1;
}

uint32_t st_stage_id(unsigned hook, unsigned role)
{
	return hook * ST_ROLE_MAX + role;
}

const char *st_stage_name(uint32_t id)
{
	unsigned h = id / ST_ROLE_MAX, r = id % ST_ROLE_MAX;

	switch (id) {
	case ST_STAGE_WIRE: return "wire";
	case ST_STAGE_TOTAL: return "total";
	case ST_STAGE_TURNAROUND: return "vm_turnaround";
	}
	if (h == 0 || h >= ST_HOOK_MAX)
		return NULL;
	names_init();
	return names[h][r];
}

const char *st_hook_name(unsigned hook)
{
	return hook && hook < ST_HOOK_MAX ? hooks[hook].name : "?";
}

const char *st_hook_tracepoint(unsigned hook, const char **category)
{
	if (!hook || hook >= ST_HOOK_MAX || !hooks[hook].category)
		return NULL;
	if (category)
		*category = hooks[hook].category;
	return hooks[hook].event;
}

size_t st_hook_plan(unsigned hook, const struct st_attach_alt **alts)
{
	size_t n = 0;

	if (!hook || hook >= ST_HOOK_MAX)
		return 0;
	*alts = hooks[hook].plan;
	while (n < ST_PLAN_MAX && hooks[hook].plan[n].method)
		n++;
	return n;
}

const char *st_hook_prog(unsigned hook)
{
	return hook && hook < ST_HOOK_MAX ? hooks[hook].prog : NULL;
}

const char *st_method_prog_prefix(const char *method)
{
	static const char *const map[][2] = {
		{ "fentry", "fentry" }, { "fexit", "fexit" }, { "kprobe", "kprobe" },
		{ "kretprobe", "kretprobe" }, { "tp_btf", "btf" }, { "raw_tp", "raw" },
		{ "tracepoint", "tp" },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcmp(map[i][0], method))
			return map[i][1];
	return NULL;
}

const char *st_role_name(unsigned role)
{
	return role < ST_ROLE_MAX ? roles[role] : "?";
}

const char *st_end_name(unsigned end)
{
	static const char *ends[] = { "?", "left", "delivered", "dropped",
				      "freed", "timeout" };

	return end < sizeof(ends) / sizeof(ends[0]) ? ends[end] : "?";
}
