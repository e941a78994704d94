/* SPDX-License-Identifier: MIT */
/*
 * stagetrace rtt, internal: the state the loader/run loop (cli/rtt.c) and
 * the printing (cli/rtt_out.c) share. An exchange's stamps (bpf/rtt.h)
 * become a total and two or three stage durations here, once, so the
 * per-packet lines, the interval histograms and the JSON say the same.
 */
#ifndef ST_CLI_RTT_H
#define ST_CLI_RTT_H

#include <stdint.h>

#include "bpf/rtt.h"
#include "hist.h"
#include "local.h"
#include "localrun.h"

/* Total plus at most four stages. */
#define RTT_NH 5

struct rtt_hook {
	const char *tp;
	int optional;
	const char *method;	/* NULL: unavailable */
	char why[256];
};

struct rtt {
	struct st_local_opts lo;
	int mode;		/* enum st_rtt_mode */
	double timeout;		/* seconds */
	uint32_t max_inflight;	/* size of the map of exchanges in flight */
	const char *method_force;
	struct rtt_bpf *skel;
	struct ring_buffer *rb;
	struct rtt_hook hooks[5];
	int nhooks;
	/* ip_output, optional (fentry, else kprobe): the ip_out stages. */
	struct st_local_hook ip_hook;
	int ncpus;
	uint64_t counters[ST_RC_MAX];	/* totals read so far */
	struct st_rtt_key *scan_keys;	/* ST_RTT_MAX_PENDING, for scan() */

	/* This interval and the whole run: [0] total, [1..] stages. */
	struct st_hist iv[RTT_NH], all[RTT_NH];
	uint64_t iv_answered, iv_lost, iv_noend;
	uint64_t answered, lost, noend, pending_at_end;
};

/* Names and meanings of the histograms of a mode; n = 1 + stages. */
int rtt_stage_names(int mode, const char *const **names, const char *const **what);
/* Whether histogram i of mode needs the ip_output hook. */
int rtt_stage_needs_ip(int mode, int i);
/*
 * Durations (ns) of one exchange: d[0] total, d[1..] stages; a stage whose
 * stamps are missing gets UINT64_MAX. Returns the count of entries.
 */
int rtt_durations(int mode, const __u64 t[ST_RTT_NT], uint64_t d[RTT_NH]);

/* One answered (lost = 0) or lost exchange, with -v. */
void rtt_print_exchange(struct rtt *r, const struct st_rtt_key *k,
			const struct st_rtt_val *v, int lost);
/* One interval (counter deltas in delta) and the end-of-run summary. */
void rtt_print_interval(struct rtt *r, const uint64_t delta[ST_RC_MAX], double secs);
void rtt_print_summary(struct rtt *r);

extern const char *const rtt_counter_names[ST_RC_MAX];

#endif /* ST_CLI_RTT_H */
