/* SPDX-License-Identifier: MIT */
/*
 * Shared between bpf/stages.bpf.c and user space: the host-path record the
 * stage programs emit, the hook identifiers, device roles, run-time
 * configuration and counter indices. Plain fixed-width types only.
 *
 * A "hook" is a kernel event the BPF side sees (a tracepoint); a "stage" is
 * what an operator reads (tap_rx, nic_tx, vm_rx, ...). The BPF side records
 * (hook, device, time) stamps; user space turns hook + device role into the
 * stage name (common/stages.c), so adding a role or renaming a stage never
 * touches BPF code.
 */
#ifndef ST_BPF_STAGES_H
#define ST_BPF_STAGES_H

#include "st_types.h"
#include "pktkey.h"
#include "filter.h"

#define ST_MAX_STAMPS 20

enum st_hook {
	ST_HOOK_NONE = 0,
	ST_HOOK_NETIF_RX,		/* net:netif_rx */
	ST_HOOK_NAPI_GRO_RX,		/* net:napi_gro_receive_entry */
	ST_HOOK_NETIF_RECEIVE_SKB,	/* net:netif_receive_skb */
	ST_HOOK_NET_DEV_QUEUE,		/* net:net_dev_queue */
	ST_HOOK_NET_DEV_START_XMIT,	/* net:net_dev_start_xmit */
	ST_HOOK_NET_DEV_XMIT,		/* net:net_dev_xmit */
	ST_HOOK_SKB_COPY_DATAGRAM,	/* skb:skb_copy_datagram_iovec */
	ST_HOOK_KFREE_SKB,		/* skb:kfree_skb */
	ST_HOOK_CONSUME_SKB,		/* skb:consume_skb */
	/*
	 * Kernel functions (fentry, else kprobe, else a tracepoint where the
	 * kernel has one); appended so existing stage ids stay stable. Each
	 * is named after its stage (common/stage_names.c has the plans).
	 */
	ST_HOOK_OVS_IN,			/* ovs_vport_receive */
	ST_HOOK_OVS_UPCALL,		/* ovs_dp_upcall, openvswitch:ovs_dp_upcall */
	ST_HOOK_OVS_EXEC,		/* ovs_execute_actions, openvswitch:ovs_do_execute_action */
	ST_HOOK_OVS_OUT,		/* ovs_vport_send */
	ST_HOOK_BR_IN,			/* br_handle_frame */
	ST_HOOK_BR_FWD,			/* br_forward */
	ST_HOOK_VHOST_TX,		/* handle_tx: a vhost worker takes a batch */
	ST_HOOK_SOCK_TX,		/* ip_send_skb: a datagram this host sends */
	/*
	 * Tunnels (session 4, encap): one hook per tunnel type and direction,
	 * because each lives in its own module (vxlan, geneve) and attaches
	 * on its own. Encap sees the inner frame, decap the outer datagram
	 * (keyed on its inner packet by the parser).
	 */
	ST_HOOK_VXLAN_ENCAP,		/* vxlan_xmit_one */
	ST_HOOK_GENEVE_ENCAP,		/* geneve_xmit */
	ST_HOOK_VXLAN_DECAP,		/* vxlan_rcv */
	ST_HOOK_GENEVE_DECAP,		/* geneve_udp_encap_recv */
	/*
	 * Guest virtio-net (the agent inside a VM), bpf/stages_guestvirtio.bpf.h.
	 * virtio_irq and virtio_poll carry no skb: their times are kept per
	 * queue / per CPU and become the first stamps of the paths the poll
	 * opens; virtio_tx ends a path on the virtio NIC when the driver's
	 * start_xmit returns.
	 */
	ST_HOOK_VIRTIO_IRQ,		/* skb_recv_done: RX virtqueue interrupt callback */
	ST_HOOK_VIRTIO_POLL,		/* virtnet_poll: the NAPI run for that queue */
	ST_HOOK_VIRTIO_TX,		/* start_xmit returns: added to the TX ring, host notified */
	/*
	 * vhost-net RX and KVM interrupt injection (docs/stages.md): a VM's
	 * packet read from its tap by the vhost worker waits in the worker's
	 * pending set until the used-ring update and the guest's interrupt.
	 * RUN and DONE bracket handle_rx and are never stamped.
	 */
	ST_HOOK_VHOST_RX_RUN,		/* handle_rx entry: this worker holds its reads */
	ST_HOOK_VHOST_RX,		/* vhost_add_used_and_signal_n: buffers to the guest */
	ST_HOOK_IRQ_INJECT,		/* irqfd_wakeup: the call eventfd fired into KVM */
	ST_HOOK_VHOST_RX_DONE,		/* handle_rx exit: what was not signalled goes out */
	ST_HOOK_MAX,
};

/* What a device is to the data path; set by the agent per (netns, ifindex). */
enum st_role {
	ST_ROLE_OTHER = 0,
	ST_ROLE_VM = 1,		/* tap/vnet device backing a VM */
	ST_ROLE_UPLINK = 2,	/* towards the other hypervisors (the "NIC") */
	ST_ROLE_TUNNEL = 3,	/* VXLAN/Geneve device */
	ST_ROLE_BRIDGE = 4,	/* Linux bridge / OVS internal port */
	ST_ROLE_MAX,
};

/* Why a host path was emitted. */
enum st_end {
	ST_END_LEFT = 1,	/* handed to an uplink's driver */
	ST_END_DELIVERED = 2,	/* read by a VM (tap) or a socket */
	ST_END_DROPPED = 3,	/* kfree_skb */
	ST_END_FREED = 4,	/* consume_skb before any other end */
	ST_END_TIMEOUT = 5,	/* swept by user space: no end seen in time */
};

#define ST_ENC_VLAN  0x1
#define ST_ENC_QINQ  0x2
#define ST_ENC_VXLAN 0x4
#define ST_ENC_GENEVE 0x8

struct st_stamp {
	__u64 ts;		/* bpf_ktime_get_ns(), CLOCK_MONOTONIC */
	__u32 ifindex;
	__u8 hook;		/* enum st_hook */
	__u8 role;		/* enum st_role at the time of the stamp */
	__u16 aux;		/* hook specific: drop reason for kfree_skb,
				 * buffers in the batch for vhost_rx, the
				 * GSI for irq_inject */
};

struct st_path {
	__u64 pkt_id;
	struct st_pkt_key key;
	__u32 netns;		/* netns inode of the first stamp's device */
	__u32 outer_saddr;	/* VXLAN/Geneve outer addresses, network order */
	__u32 outer_daddr;
	__u32 vni;
	__u16 vlan;		/* outermost VLAN id (0 = none) */
	__u8 encap;		/* ST_ENC_* seen anywhere on this host */
	__u8 nstamps;
	__u8 end;		/* enum st_end */
	__u8 overflow;		/* stamps that did not fit */
	__u16 pad;
	__u32 cpu;		/* CPU of the first stamp */
	__u32 pad2;
	struct st_stamp stamps[ST_MAX_STAMPS];
};

struct st_dev_key {
	__u32 netns;
	__u32 ifindex;
};

struct st_dev_val {
	__u8 role;
	__u8 pad[3];
};

/* Filters applied before any per-packet work, in this order:
 * netns, device, then (after parsing) the header filter (bpf/filter.h). */
#define ST_F_NETNS   0x1	/* only netns present in netns_allow */
#define ST_F_DEV     0x2	/* only devices present in dev_roles */
/* The virtio_tx hook is attached: a path on a virtio-net uplink does not
 * end at nic_tx but when the driver's start_xmit returns (virtio_tx). */
#define ST_F_GUEST_TX 0x4

struct st_config {
	__u32 flags;
	__u32 sample_n;		/* trace when id % n < k; n == 0: trace nothing */
	__u32 sample_k;
	__u32 pad;
	struct st_pkt_filter pf;
};

enum st_counter {
	ST_C_HOOK_CALLS = 0,	/* every invocation */
	ST_C_FILTER_NETNS,
	ST_C_FILTER_DEV,
	ST_C_PARSE_SKIP,	/* not IPv4 or unreadable headers */
	ST_C_FILTER_L34,
	ST_C_SAMPLED_OUT,
	ST_C_PATH_NEW,
	ST_C_STAMP,
	ST_C_STAMP_OVERFLOW,
	ST_C_EMITTED,
	ST_C_RINGBUF_FULL,	/* path lost: ring buffer had no room */
	ST_C_LRU_FAIL,		/* path lost: could not insert */
	ST_C_END_NO_PATH,	/* terminal hook, no open path: normal after an
				 * emit (the skb is freed after the VM read it) */
	ST_C_XMIT_ERRORS,	/* net_dev_xmit returned an error */
	ST_C_UPCALL_HELD,	/* OVS upcall: the kernel freed its copy; the
				 * path waits for userspace to re-inject it */
	/* Guest virtio-net (bpf/stages_guestvirtio.bpf.h). */
	ST_C_GV_POLL_NO_IRQ,	/* a path opened in a virtnet_poll that had no
				 * interrupt stamp waiting (re-poll after a full
				 * budget, NAPI already scheduled): it starts at
				 * virtio_poll */
	ST_C_GV_RX_NO_POLL,	/* a path opened on a virtio device with no poll
				 * of that device current on the CPU: no guest
				 * RX stamps */
	ST_C_GV_RX_STALE,	/* the CPU's poll stamp was older than the bound:
				 * not attached */
	ST_C_GV_TX_LOST,	/* a virtio TX path whose start_xmit return was
				 * not seen (or whose path was gone): ends as a
				 * timeout or was lost */
	/* vhost-net RX (bpf/stages_vhostrx.bpf.h): */
	ST_C_VHOST_HELD,	/* a VM read in a vhost worker held for the signal */
	ST_C_VHOST_HOLD_FULL,	/* worker's pending set full: emitted at vm_rx */
	ST_C_VHOST_INJECTED,	/* held paths emitted at their interrupt */
	ST_C_VHOST_INJECTIONS,	/* interrupts that ended at least one path */
	ST_C_VHOST_SUPPRESSED,	/* used ring updated, no interrupt (EVENT_IDX,
				 * no irqfd): emitted at handle_rx's end */
	ST_C_VHOST_UNUSED,	/* read but no used-ring update before handle_rx
				 * ended: emitted there */
	ST_C_VHOST_GONE,	/* held path no longer in the path map */
	ST_C_IRQ_WAKE_RX,	/* irqfd wakeups inside a worker's handle_rx */
	ST_C_IRQ_WAKE_OTHER,	/* ... for an eventfd not the RX queue's call */
	ST_C_IRQ_WAKE_UNUSED,	/* ... with no path published since the last */
	ST_C_IRQ_WAKE_ALL,	/* every irqfd wakeup (EPOLLIN), any thread */
	ST_C_MAX,
};

#endif /* ST_BPF_STAGES_H */
