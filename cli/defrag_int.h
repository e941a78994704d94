/* SPDX-License-Identifier: MIT */
/*
 * stagetrace defrag, inside: the state cli/defrag.c (set-up, hooks, run
 * loop) shares with cli/defrag_out.c (events, interval reports, the
 * kernel's reassembly counters per namespace). Not a public interface.
 */
#ifndef ST_CLI_DEFRAG_INT_H
#define ST_CLI_DEFRAG_INT_H

#include <stddef.h>
#include <stdint.h>

#include "bpf/defrag.h"
#include "defrag.skel.h"
#include "local.h"
#include "localrun.h"

#define DEFRAG_SUPPORTED (ST_LO_INTERVAL | ST_LO_DURATION | ST_LO_COUNT | ST_LO_SRC | \
			  ST_LO_DST | ST_LO_VERBOSE | ST_LO_JSON | ST_LO_NETNS | ST_LO_DEV | \
			  ST_LO_PROTO)
#define NHOOKS 3
#define MAX_NS 256


/* The kernel's reassembly counters of one namespace. */
enum { K_REQDS, K_OKS, K_FAILS, K_TIMEOUT, K_OVERLAPS, K_N };

struct nsstat {
	uint32_t ino;
	int ok;
	uint64_t v[K_N];
};

struct row {
	uint32_t netns, ifindex;
	uint64_t frags, bytes, complete, failed, dropped, reassembled, expired, qerr;
};

struct defrag {
	struct st_local_opts lo;
	const char *method_force;
	const char *method[2];		/* netif_receive_skb, kfree_skb */
	struct defrag_bpf *skel;
	struct ring_buffer *rb;
	struct st_local_hook hooks[NHOOKS];
	struct bpf_link *tp_links[4];
	struct st_ksyms ksyms;
	int have_ksyms;
	struct st_enum_names reasons;
	int have_reasons;
	char fail_names[256];
	int kill_known;
	uint32_t top;		/* waiting datagrams shown per interval */		/* discarded queues recognised (kill ranges set) */
	struct nsstat ns[MAX_NS];
	size_t nns;
	uint64_t counters[ST_GC_MAX];
	uint64_t failed_total, complete_total, frags_total;
	int ncpus;
};


/* Ring buffer callback: failures, and with -v fragments and completions. */
int defrag_on_event(void *ctx, void *data, size_t size);
/* Drain the count map fd (no longer written to) and print one interval. */
void defrag_report(struct defrag *d, int fd, double secs);
/* Baselines of the kernel counters: our netns and every named one, or
 * only --netns. */
void defrag_ns_baseline(struct defrag *d);

#endif /* ST_CLI_DEFRAG_INT_H */
