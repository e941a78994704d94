/* SPDX-License-Identifier: MIT */
/*
 * stagetrace flow, internal: the state the loader and joiner (cli/flow.c)
 * and the printing (cli/flow_out.c) share.
 *
 * A packet's path is the list of its hops (hook, device) in time order.
 * Consecutive hops make a transition ("xmit s0@ns1 -> rx r0@ns2"), and
 * each transition has a histogram of the time between its two hops: the
 * per-hop latency table. Transitions are few (one flow, a handful of
 * devices), so a small array searched linearly holds them.
 */
#ifndef ST_CLI_FLOW_H
#define ST_CLI_FLOW_H

#include <stdint.h>

#include "bpf/flow.h"
#include "hist.h"
#include "local.h"
#include "u64map.h"

#define FLOW_MAX_HOPS 32
#define FLOW_MAX_TRANS 256
/* Packets joined at once; more are counted as lost (table full). */
#define FLOW_MAX_PKTS 65536

struct flow_hop {
	uint64_t ts;
	uint32_t netns, ifindex, reason, len;
	uint16_t vlan;
	uint8_t stage;
};

struct flow_pkt {
	struct st_pkt_key key;
	uint64_t id;
	uint64_t seen;		/* CLOCK_MONOTONIC of the last event */
	uint32_t n, truncated;
	struct flow_hop hops[FLOW_MAX_HOPS];
};

struct flow_place {
	uint8_t stage;
	uint32_t netns, ifindex;
};

struct flow_trans {
	struct flow_place from, to;
	double pos_sum;		/* sum of the hop index, to order rows */
	struct st_hist iv, all;
};

struct flow_hook {
	const char *tp;
	int optional;
	const char *method;
	char why[256];
};

struct flow {
	struct st_local_opts lo;
	uint32_t vlan;		/* 0: no --vlan */
	double settle;		/* seconds without events that end a path */
	const char *method_force;
	struct flow_bpf *skel;
	struct ring_buffer *rb;
	struct flow_hook hooks[ST_FS_MAX];
	int ncpus;
	struct st_enum_names reasons;
	int have_reasons;
	struct st_u64map pkts;
	uint64_t counters[ST_FC_MAX];

	struct flow_trans trans[FLOW_MAX_TRANS];
	size_t ntrans;
	uint64_t trans_full;	/* transitions not kept: table full */
	uint64_t iv_pkts, all_pkts, iv_truncated, all_truncated;
	uint64_t iv_table_full, table_full;	/* packets not joined: table full */
};

extern const char *const flow_stage_names[ST_FS_MAX];

/* Order a packet's hops by time stamp (stable). */
void flow_sort_hops(struct flow_pkt *p);
/* One finished packet with -v. */
void flow_print_packet(struct flow *f, const struct flow_pkt *p);
/* The interval table (counter deltas in delta), and the run's summary. */
void flow_print_interval(struct flow *f, const uint64_t delta[ST_FC_MAX], double secs);
void flow_print_summary(struct flow *f);

#endif /* ST_CLI_FLOW_H */
