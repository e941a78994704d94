/* SPDX-License-Identifier: MIT */
/*
 * Internal to stagetrace qdisc: the run state cli/qdisc.c (options, BPF
 * set-up, interval loop, draining the generation maps) shares with
 * cli/qdisc_show.c (tables, histograms, event lines and JSON of each mode).
 * Rows are drained into plain arrays summed over CPUs; the renderers only
 * read them.
 */
#ifndef ST_CLI_QDISC_H
#define ST_CLI_QDISC_H

#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>

#include "bpf/qdisc.h"
#include "hist.h"
#include "local.h"
#include "localrun.h"

#define QD_MAX_HOOKS 5

struct qd_hook {
	const char *tp;		/* tracepoint name */
	const char *what;	/* what the mode cannot see without it */
	int optional;		/* the mode runs without it (and says so) */
	const char *method;	/* chosen method, NULL when unavailable */
	char why[400];
};

struct qd_hist_row {
	struct st_qd_key k;
	struct st_hist h;
};

struct qd_deq_row {
	struct st_qd_key k;
	struct st_qd_deq d;
	uint64_t requeues;	/* requeue counter delta in this interval */
};

struct qd_drop_row {
	struct st_qd_dkey k;
	struct st_qd_dval v;
};

struct qd_cls_row {
	struct st_qd_ckey k;
	uint64_t count;
};

struct qd_xmit_row {
	struct st_qd_key k;
	struct st_qd_xval x;
	struct st_hist *h;	/* queue -> start_xmit time, may be NULL */
};

/* The last requeue counter seen per qdisc, to report deltas. */
struct qd_requeue_seen {
	struct st_qd_key k;
	uint64_t requeues;
};

struct qd {
	struct st_local_opts lo;
	int mode;		/* enum st_qd_mode */
	const char *mode_name;
	const char *method_force;
	uint32_t top;
	struct qd_hook hooks[QD_MAX_HOOKS];
	int nhooks;
	struct qdisc_bpf *skel;
	struct ring_buffer *rb;
	struct st_ksyms ksyms;
	int have_ksyms;
	struct st_enum_names reasons;
	int have_reasons;
	struct st_local_hook tcf[1];	/* tc: tcf_classify (fexit or kprobe) */
	int tcf_planned;
	struct qd_tcstats *tcs;	/* tc: qdisc/class counters */
	uint64_t counters[ST_QC_MAX];	/* totals read so far */
	uint64_t delta[ST_QC_MAX];	/* this interval */
	uint64_t events;
	int ncpus;
	struct qd_requeue_seen *seen;
	size_t nseen;

	/* One interval's rows. */
	struct qd_hist_row *hist;
	size_t nhist;
	struct qd_deq_row *deq;
	size_t ndeq;
	struct qd_drop_row *drops;
	size_t ndrops;
	struct qd_xmit_row *xmit;
	size_t nxmit;
	struct qd_cls_row *cls;
	size_t ncls;
};

/* cli/qdisc_drain.c: the idle generation's rows, and counter deltas. */
void qd_drain(struct qd *q, int idle);
void qd_free_rows(struct qd *q);

/* cli/qdisc_tcstats.c: --tc's qdisc and class counters over rtnetlink. */
struct qd_tcstats;
void qd_tcstats_sample(struct qd *q);
/* Rows whose counters moved since the last call: text, or "tc_stats" in o. */
void qd_tcstats_show(struct qd *q, const char *t, json_object *o);
void qd_tcstats_free(struct qd *q);

/* cli/qdisc_show.c */
void qd_show_interval(struct qd *q, double secs);
int qd_on_event(void *ctx, void *data, size_t size);
void qd_show_start(struct qd *q);
/* "8001:" / "root" / "1:10" */
const char *qd_handle_str(uint32_t h, char *buf, size_t len);
const char *qd_reason_name(struct qd *q, uint32_t r, char *buf, size_t len);

#endif /* ST_CLI_QDISC_H */
