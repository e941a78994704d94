/* SPDX-License-Identifier: MIT */
/*
 * stagetrace conntrack, inside: the state cli/conntrack.c (set-up, hooks,
 * run loop) shares with cli/conntrack_out.c (ctnetlink and OVS events,
 * interval reports, the namespace's configured timeouts). Not a public
 * interface.
 */
#ifndef ST_CLI_CONNTRACK_INT_H
#define ST_CLI_CONNTRACK_INT_H

#include <stddef.h>
#include <stdint.h>

#include "bpf/conntrack.h"
#include "conntrack.skel.h"
#include "ctnetlink.h"
#include "local.h"
#include "localrun.h"

#define CT_SUPPORTED (ST_LO_INTERVAL | ST_LO_DURATION | ST_LO_COUNT | ST_LO_SRC | ST_LO_DST | \
		      ST_LO_VERBOSE | ST_LO_JSON | ST_LO_NETNS | ST_LO_PROTO | ST_LO_SPORT | \
		      ST_LO_DPORT)
#define NHOOKS 5	/* nf_conntrack_in, refresh, delete, ovs_ct_execute, ovs_ct_update_key */
#define NTIMEOUTS 13




/* Events of one interval, grouped. */
struct row {
	int type;
	uint8_t proto;
	char state[16];
	int order;		/* TCP state value, so rows follow the protocol */
	uint16_t zone;
	uint32_t mark;
	uint64_t count;
	int64_t tmin, tmax;	/* -1: no timeout in these events */
};

struct ct {
	struct st_local_opts lo;
	int ovs;
	const char *method_force;
	const char *method;
	uint32_t netns;
	int evfd;		/* ctnetlink events; < 0 when unavailable */
	char events_err[160];	/* why, when unavailable */
	struct conntrack_bpf *skel;
	struct bpf_link *drop_link;
	struct ring_buffer *rb;
	struct st_local_hook hooks[NHOOKS];
	struct st_ksyms ksyms;
	int have_ksyms;
	struct st_enum_names reasons;
	int have_reasons;
	char reason_names[256];
	int64_t timeouts[NTIMEOUTS];
	uint64_t stats[ST_CTS_N];
	int have_stats;
	char stats_err[128];
	struct row *rows;
	size_t nrows, caprows;
	uint64_t nl_lost, nl_lost_total, events_total, filtered_events;
	uint64_t counters[ST_CC_MAX];
	int ncpus;
};


/* nf_conntrack_<name> sysctls of the timeouts, per state. */
extern const char *const ct_timeout_names[NTIMEOUTS];

/* ctnetlink callback: filter, group into rows, print with -v. */
void ct_on_event(void *ctx, const struct st_ct_event *e);
/* Ring buffer callback of --ovs-invalid. */
int ct_on_ovs_event(void *ctx, void *data, size_t size);
/* Read the namespace's nf_conntrack_*timeout* sysctls (-1: missing). */
void ct_read_timeouts(struct ct *c);
/* Drain the count map fd (no longer written to) and print one interval. */
void ct_report(struct ct *c, int fd, double secs);

#endif /* ST_CLI_CONNTRACK_INT_H */
