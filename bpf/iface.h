/* SPDX-License-Identifier: MIT */
/*
 * Shared between bpf/iface.bpf.c and cli/iface_perf.c: the time CPUs spend
 * in the network softirqs, for `stagetrace iface --perf`. The BPF side
 * stamps softirq_entry per CPU and adds the time to softirq_exit into
 * cumulative per-CPU totals per vector; user space reads and differences
 * them every interval, so nothing is reset and nothing is lost between
 * intervals.
 */
#ifndef ST_BPF_IFACE_H
#define ST_BPF_IFACE_H

#include "st_types.h"

/* Softirq vectors are the kernel's enum (NET_TX_SOFTIRQ = 2, NET_RX = 3
 * since 2.6); user space reads the values from BTF and the BPF side only
 * indexes by vec_nr. */
#define ST_IF_NR_VEC 16

struct st_if_softirq {
	__u64 count;		/* softirq_exit events */
	__u64 ns;		/* time between entry and exit */
	__u64 max_ns;		/* longest single run */
	__u64 unmatched;	/* exit without a seen entry (started before us) */
};

#endif /* ST_BPF_IFACE_H */
