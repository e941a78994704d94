// SPDX-License-Identifier: MIT
/*
 * Draining one generation of stagetrace qdisc's BPF maps (the programs
 * write to the other one meanwhile) into plain rows summed over CPUs:
 * histogram buckets grouped per qdisc with their exact count, sum, min and
 * max; dequeue rows with the requeue counter turned into a per-interval
 * delta; drop rows; TX queue rows joined with their queue -> driver
 * histograms. Also the interval's deltas of the BPF side's counters.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <stdlib.h>
#include <string.h>

#include "localrun.h"
#include "qdisc.h"
#include "qdisc.skel.h"

static int same_key(const struct st_qd_key *a, const struct st_qd_key *b)
{
	return !memcmp(a, b, sizeof(*a));
}

static void drain_hist(struct qd *q, int gen)
{
	int hfd = bpf_map__fd(gen ? q->skel->maps.hist1 : q->skel->maps.hist0);
	int sfd = bpf_map__fd(gen ? q->skel->maps.hstat1 : q->skel->maps.hstat0);
	struct st_qd_hkey *hk;
	struct st_qd_key *sk;
	struct st_qd_hstat *sv;
	uint64_t *hv;
	size_t nh = st_local_map_drain(hfd, sizeof(*hk), sizeof(*hv), ST_QD_MAX_HIST,
				       (void **)&hk, (void **)&hv);
	size_t ns = st_local_map_drain(sfd, sizeof(*sk), sizeof(*sv) * q->ncpus, ST_QD_MAX_KEYS,
				       (void **)&sk, (void **)&sv);

	q->hist = calloc(ns + nh + 1, sizeof(*q->hist));
	q->nhist = 0;
	for (size_t i = 0; q->hist && i < nh; i++) {
		size_t j;

		for (j = 0; j < q->nhist; j++)
			if (same_key(&q->hist[j].k, &hk[i].k))
				break;
		if (j == q->nhist) {
			q->hist[j].k = hk[i].k;
			st_hist_init(&q->hist[j].h);
			q->nhist++;
		}
		st_hist_add_n(&q->hist[j].h, st_hist_bucket_low(hk[i].bucket), hv[i]);
	}
	/* The exact sum, min and max from the per-CPU companions. */
	for (size_t i = 0; q->hist && i < ns; i++)
		for (size_t j = 0; j < q->nhist; j++) {
			struct st_qd_hstat t = { .min = UINT64_MAX };

			if (!same_key(&q->hist[j].k, &sk[i]))
				continue;
			for (int c = 0; c < q->ncpus; c++) {
				const struct st_qd_hstat *s = &sv[i * q->ncpus + c];

				if (!s->count)
					continue;
				t.count += s->count;
				t.sum += s->sum;
				if (s->min < t.min)
					t.min = s->min;
				if (s->max > t.max)
					t.max = s->max;
			}
			if (t.count == q->hist[j].h.count) {
				q->hist[j].h.sum = t.sum;
				q->hist[j].h.min = t.min;
				q->hist[j].h.max = t.max;
			}
		}
	free(hk);
	free(hv);
	free(sk);
	free(sv);
}

/* Requeues of a qdisc in this interval: its counter now minus the value
 * at the end of the previous interval, or at the first dequeue of this one
 * when the qdisc is new (requeues before that call are then missed). */
static uint64_t requeue_delta(struct qd *q, const struct st_qd_key *k, uint64_t now,
			      uint64_t first)
{
	struct qd_requeue_seen *nv;
	uint64_t d;

	for (size_t i = 0; i < q->nseen; i++)
		if (same_key(&q->seen[i].k, k)) {
			d = now >= q->seen[i].requeues ? now - q->seen[i].requeues : 0;
			q->seen[i].requeues = now;
			return d;
		}
	nv = realloc(q->seen, (q->nseen + 1) * sizeof(*nv));
	if (nv) {
		q->seen = nv;
		q->seen[q->nseen].k = *k;
		q->seen[q->nseen++].requeues = now;
	}
	return now >= first ? now - first : 0;
}

static void drain_deq(struct qd *q, int gen)
{
	int fd = bpf_map__fd(gen ? q->skel->maps.deq1 : q->skel->maps.deq0);
	struct st_qd_key *k;
	struct st_qd_deq *v;
	size_t n = st_local_map_drain(fd, sizeof(*k), sizeof(*v) * q->ncpus, ST_QD_MAX_KEYS,
				      (void **)&k, (void **)&v);

	q->deq = calloc(n + 1, sizeof(*q->deq));
	q->ndeq = 0;
	for (size_t i = 0; q->deq && i < n; i++) {
		struct qd_deq_row *r = &q->deq[q->ndeq++];
		uint64_t req = 0, first = UINT64_MAX;

		r->k = k[i];
		for (int c = 0; c < q->ncpus; c++) {
			const struct st_qd_deq *d = &v[i * q->ncpus + c];

			r->d.calls += d->calls;
			r->d.empty += d->empty;
			r->d.packets += d->packets;
			r->d.bytes += d->bytes;
			if (d->max_batch > r->d.max_batch)
				r->d.max_batch = d->max_batch;
			if (d->calls && d->requeues > req)
				req = d->requeues;
			if (d->calls && d->requeues_first < first)
				first = d->requeues_first;
			for (int b = 0; b <= ST_QD_MAX_BATCH; b++)
				r->d.batch[b] += d->batch[b];
		}
		r->d.requeues = req;
		r->requeues = requeue_delta(q, &r->k, req, first);
	}
	free(k);
	free(v);
}

static void drain_drops(struct qd *q, int gen)
{
	int fd = bpf_map__fd(gen ? q->skel->maps.drop1 : q->skel->maps.drop0);
	struct st_qd_dkey *k;
	struct st_qd_dval *v;
	size_t n = st_local_map_drain(fd, sizeof(*k), sizeof(*v) * q->ncpus, ST_QD_MAX_KEYS,
				      (void **)&k, (void **)&v);

	q->drops = calloc(n + 1, sizeof(*q->drops));
	q->ndrops = 0;
	for (size_t i = 0; q->drops && i < n; i++) {
		struct qd_drop_row *r = &q->drops[q->ndrops++];

		r->k = k[i];
		for (int c = 0; c < q->ncpus; c++) {
			const struct st_qd_dval *d = &v[i * q->ncpus + c];

			r->v.count += d->count;
			r->v.bytes += d->bytes;
			r->v.qlen_sum += d->qlen_sum;
			r->v.backlog_sum += d->backlog_sum;
			r->v.depth_unknown += d->depth_unknown;
			if (d->qlen_max > r->v.qlen_max)
				r->v.qlen_max = d->qlen_max;
			if (d->backlog_max > r->v.backlog_max)
				r->v.backlog_max = d->backlog_max;
		}
	}
	free(k);
	free(v);
}

static void drain_xmit(struct qd *q, int gen)
{
	int fd = bpf_map__fd(gen ? q->skel->maps.xmit1 : q->skel->maps.xmit0);
	struct st_qd_key *k;
	struct st_qd_xval *v;
	size_t n = st_local_map_drain(fd, sizeof(*k), sizeof(*v) * q->ncpus, ST_QD_MAX_KEYS,
				      (void **)&k, (void **)&v);

	drain_hist(q, gen);
	q->xmit = calloc(n + 1, sizeof(*q->xmit));
	q->nxmit = 0;
	for (size_t i = 0; q->xmit && i < n; i++) {
		struct qd_xmit_row *r = &q->xmit[q->nxmit++];

		r->k = k[i];
		for (int c = 0; c < q->ncpus; c++) {
			const struct st_qd_xval *x = &v[i * q->ncpus + c];

			r->x.queued += x->queued;
			r->x.started += x->started;
			r->x.xmit_ok += x->xmit_ok;
			r->x.xmit_busy += x->xmit_busy;
			r->x.xmit_err += x->xmit_err;
			r->x.timeouts += x->timeouts;
			r->x.depth_sum += x->depth_sum;
			r->x.unmatched += x->unmatched;
			if (x->depth_max > r->x.depth_max)
				r->x.depth_max = x->depth_max;
			if (x->inflight_max > r->x.inflight_max)
				r->x.inflight_max = x->inflight_max;
		}
		for (size_t j = 0; j < q->nhist; j++)
			if (same_key(&q->hist[j].k, &r->k))
				r->h = &q->hist[j].h;
	}
	free(k);
	free(v);
}

/* tcf_classify results (tc mode, where the hook attached). */
static void drain_cls(struct qd *q, int gen)
{
	int fd = bpf_map__fd(gen ? q->skel->maps.cls1 : q->skel->maps.cls0);
	struct st_qd_ckey *k;
	uint64_t *v;
	size_t n = st_local_map_drain(fd, sizeof(*k), sizeof(*v) * q->ncpus, ST_QD_MAX_KEYS,
				      (void **)&k, (void **)&v);

	q->cls = calloc(n + 1, sizeof(*q->cls));
	q->ncls = 0;
	for (size_t i = 0; q->cls && i < n; i++) {
		struct qd_cls_row *r = &q->cls[q->ncls++];

		r->k = k[i];
		for (int c = 0; c < q->ncpus; c++)
			r->count += v[i * q->ncpus + c];
	}
	free(k);
	free(v);
}

void qd_free_rows(struct qd *q)
{
	free(q->hist);
	free(q->deq);
	free(q->drops);
	free(q->xmit);
	free(q->cls);
	q->cls = NULL;
	q->ncls = 0;
	q->hist = NULL;
	q->deq = NULL;
	q->drops = NULL;
	q->xmit = NULL;
	q->nhist = q->ndeq = q->ndrops = q->nxmit = 0;
}

static void read_counters(struct qd *q)
{
	int fd = bpf_map__fd(q->skel->maps.qd_counters);

	for (uint32_t i = 0; i < ST_QC_MAX; i++) {
		uint64_t s = st_local_percpu_sum(fd, i, q->ncpus);

		q->delta[i] = s - q->counters[i];
		q->counters[i] = s;
	}
}

void qd_drain(struct qd *q, int idle)
{
	read_counters(q);
	if (q->mode == ST_QD_LATENCY)
		drain_hist(q, idle);
	else if (q->mode == ST_QD_DEQUEUE)
		drain_deq(q, idle);
	else if (q->mode == ST_QD_DROPS)
		drain_drops(q, idle);
	else if (q->mode == ST_QD_TC) {
		drain_drops(q, idle);
		drain_cls(q, idle);
	}
	else if (q->mode == ST_QD_XMIT)
		drain_xmit(q, idle);
}
