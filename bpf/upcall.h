/* SPDX-License-Identifier: MIT */
/*
 * Shared between bpf/upcall.bpf.c and cli/upcall_local.c: OVS upcalls seen
 * on this host. Plain fixed-width types only.
 *
 * A flow miss (ovs_dp_upcall) records the packet's identity (the same
 * packet key and id the agent uses, common/pktkey.h) with the time and
 * CPU; when ovs-vswitchd re-injects that packet (ovs_execute_actions of a
 * packet with that id) the pending entry is consumed and one event goes to
 * user space with both times and the thread that re-injected it: the
 * handler thread, since OVS_PACKET_CMD_EXECUTE runs in its sendmsg.
 */
#ifndef ST_BPF_UPCALL_H
#define ST_BPF_UPCALL_H

#include "st_types.h"
#include "filter.h"

#define ST_UPCALL_MAX_PENDING 16384

struct st_up_pending {
	__u64 ts;		/* ovs_dp_upcall, CLOCK_MONOTONIC ns */
	__u32 cpu;		/* CPU the miss happened on */
	__u32 pad;
};

struct st_up_event {
	__u64 t_upcall, t_exec;	/* CLOCK_MONOTONIC ns */
	__u32 saddr, daddr;	/* network order */
	__u16 sport, dport;	/* network order */
	__u8 proto;
	__u8 pad[3];
	__u32 upcall_cpu, exec_cpu;
	__u32 tid, tgid;	/* the thread that re-injected: the handler */
	char comm[16];
};

struct st_up_cfg {
	struct st_pkt_filter pf;
};

/* Per-CPU counters, indices into up_counters. */
enum st_up_counter {
	ST_UC_UPCALLS,		/* ovs_dp_upcall calls (every miss) */
	ST_UC_NOT_KEYED,	/* misses of packets that are not IPv4 */
	ST_UC_FILTERED,		/* misses the header filter excluded */
	ST_UC_PENDING_FULL,	/* miss not recorded: pending table insert failed */
	ST_UC_EXECS,		/* ovs_execute_actions calls */
	ST_UC_MATCHED,		/* re-injections matched to their miss */
	ST_UC_RINGBUF_FULL,	/* matched, but the event was lost */
	ST_UC_MAX
};

#endif /* ST_BPF_UPCALL_H */
