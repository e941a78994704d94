// SPDX-License-Identifier: MIT
/*
 * Rendering of stagetrace qdisc (see cli/qdisc.c): per interval a table or
 * histograms per qdisc / TX queue, event lines for -v and for the tc
 * lifecycle events, and the same as one JSON object per line with --json.
 * Every interval also reports what the BPF side could not record (full
 * maps, full ring buffer) and, where it matters, skbs it saw leave a queue
 * without having seen them enter it.
 */
#include <arpa/inet.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qdisc.h"
#include "timeutil.h"

static const char *const counter_names[ST_QC_MAX] = {
	[ST_QC_CALLS] = "calls",
	[ST_QC_FILTERED] = "filtered_dev",
	[ST_QC_FILTER_HDR] = "filtered_headers",
	[ST_QC_STAMPED] = "stamped",
	[ST_QC_MATCHED] = "matched",
	[ST_QC_UNMATCHED] = "unmatched",
	[ST_QC_BATCH_CUT] = "batch_cut",
	[ST_QC_COUNTED] = "counted",
	[ST_QC_OTHER_REASON] = "other_reasons",
	[ST_QC_MAP_FULL] = "lost_map_full",
	[ST_QC_RINGBUF_FULL] = "lost_events",
};

const char *qd_handle_str(uint32_t h, char *buf, size_t len)
{
	if (h == 0xffffffffu)
		snprintf(buf, len, "root");
	else if (h & 0xffff)
		snprintf(buf, len, "%x:%x", h >> 16, h & 0xffff);
	else
		snprintf(buf, len, "%x:", h >> 16);
	return buf;
}

const char *qd_reason_name(struct qd *q, uint32_t r, char *buf, size_t len)
{
	const char *n = q->have_reasons ? st_enum_name(&q->reasons, r) : NULL;

	if (n)
		return n;
	snprintf(buf, len, "reason%u", r);
	return buf;
}

static char *kind_of(const struct st_qd_key *k, char *buf)
{
	memcpy(buf, k->kind, ST_QD_KIND_LEN);
	buf[ST_QD_KIND_LEN] = '\0';
	return buf[0] ? buf : strcpy(buf, "-");
}

/* "tbf 8001: parent root on va@ns1 txq 0" */
static const char *qdisc_desc(const struct st_qd_key *k, char *buf, size_t len)
{
	char kind[ST_QD_KIND_LEN + 1], h[16], p[16], tq[24] = "";

	if (k->txq != ST_QD_NO_TXQ)
		snprintf(tq, sizeof(tq), " txq %u", k->txq);
	snprintf(buf, len, "%s %s parent %s on %s%s", kind_of(k, kind),
		 qd_handle_str(k->handle, h, sizeof(h)), qd_handle_str(k->parent, p, sizeof(p)),
		 st_local_dev_name(k->netns, k->ifindex), tq);
	return buf;
}

static json_object *key_json(const struct st_qd_key *k)
{
	json_object *o = json_object_new_object();
	char kind[ST_QD_KIND_LEN + 1], b[16];

	json_object_object_add(o, "dev", json_object_new_string(st_local_dev_name(k->netns, k->ifindex)));
	json_object_object_add(o, "netns", json_object_new_int64(k->netns));
	json_object_object_add(o, "ifindex", json_object_new_int64(k->ifindex));
	json_object_object_add(o, "txq", k->txq == ST_QD_NO_TXQ ? NULL : json_object_new_int64(k->txq));
	json_object_object_add(o, "kind", json_object_new_string(kind_of(k, kind)));
	json_object_object_add(o, "handle", json_object_new_string(qd_handle_str(k->handle, b, sizeof(b))));
	json_object_object_add(o, "parent", json_object_new_string(qd_handle_str(k->parent, b, sizeof(b))));
	return o;
}

static json_object *attach_json(struct qd *q)
{
	json_object *a = json_object_new_array();

	for (int i = 0; i < q->nhooks; i++) {
		json_object *h = json_object_new_object();

		json_object_object_add(h, "tracepoint", json_object_new_string(q->hooks[i].tp));
		json_object_object_add(h, "method", q->hooks[i].method ?
				       json_object_new_string(q->hooks[i].method) : NULL);
		if (!q->hooks[i].method)
			json_object_object_add(h, "reason", json_object_new_string(q->hooks[i].why));
		json_object_array_add(a, h);
	}
	return a;
}

static void emit(json_object *o)
{
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	fflush(stdout);
}

void qd_show_start(struct qd *q)
{
	if (q->lo.json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "type", json_object_new_string("start"));
		json_object_object_add(o, "mode", json_object_new_string(q->mode_name));
		json_object_object_add(o, "attach", attach_json(q));
		if (q->mode == ST_QD_TC)
			json_object_object_add(o, "classifier", st_local_hooks_json(q->tcf, 1));
		emit(o);
		return;
	}
	fprintf(stderr, "Tracing qdisc --%s (", q->mode_name);
	for (int i = 0, n = 0; i < q->nhooks; i++)
		if (q->hooks[i].method)
			fprintf(stderr, "%s%s %s", n++ ? ", " : "", q->hooks[i].tp, q->hooks[i].method);
	fprintf(stderr, ")... Ctrl-C to end.\n");
	if (q->mode == ST_QD_TC) {
		char hb[900];

		if (q->tcf[0].attached)
			fprintf(stderr, "tc classifier results: %s\n",
				st_local_hook_status(&q->tcf[0], hb, sizeof(hb)));
		else
			fprintf(stderr, "per-packet tc classifier results: %s; per-class counters "
				"are shown instead\n", st_local_hook_status(&q->tcf[0], hb, sizeof(hb)));
	}
	if ((q->lo.verbose && q->mode != ST_QD_DEQUEUE) || q->mode == ST_QD_TC)
		printf("%-15s %-7s %-16s %-8s %s\n", "TIME", "PID", "COMM", "EVENT", "DETAILS");
}

/* ---- events ---------------------------------------------------------------- */

/* TC_ACT_* of <linux/pkt_cls.h> (a UAPI: the values do not move). */
static const char *verdict_name(int v, char *buf, size_t len)
{
	static const char *const names[] = { "OK", "RECLASSIFY", "SHOT", "PIPE", "STOLEN",
					     "QUEUED", "REPEAT", "REDIRECT", "TRAP" };

	if (v == -1)
		return "UNSPEC";
	if (v >= 0 && v < (int)(sizeof(names) / sizeof(names[0])))
		return names[v];
	snprintf(buf, len, "%d", v);
	return buf;
}

static const char *event_name(uint32_t t)
{
	switch (t) {
	case ST_QE_LATENCY: return "dequeue";
	case ST_QE_DROP: return "drop";
	case ST_QE_XMIT: return "xmit";
	case ST_QE_XMIT_ERR: return "xmit_err";
	case ST_QE_TIMEOUT: return "timeout";
	case ST_QE_DQL_STALL: return "dql_stall";
	case ST_QE_CREATE: return "create";
	case ST_QE_DESTROY: return "destroy";
	case ST_QE_RESET: return "reset";
	case ST_QE_CLASSIFY: return "classify";
	}
	return "?";
}

static void flow_str(const struct st_qd_event *e, char *buf, size_t len)
{
	char sa[INET_ADDRSTRLEN], da[INET_ADDRSTRLEN];
	const char *p = e->key.proto == 6 ? "tcp" : e->key.proto == 17 ? "udp" :
			e->key.proto == 1 ? "icmp" : "ip";

	buf[0] = '\0';
	if (!e->keyed)
		return;
	inet_ntop(AF_INET, &e->key.saddr, sa, sizeof(sa));
	inet_ntop(AF_INET, &e->key.daddr, da, sizeof(da));
	if (e->key.proto == 6 || e->key.proto == 17)
		snprintf(buf, len, " %s %s:%u -> %s:%u", p, sa, ntohs(e->key.sport), da,
			 ntohs(e->key.dport));
	else
		snprintf(buf, len, " %s %s -> %s", p, sa, da);
}

int qd_on_event(void *ctx, void *data, size_t size)
{
	struct qd *q = ctx;
	const struct st_qd_event *e = data;
	char t[32], comm[17], desc[160], flow[96], rb[48], loc[256], kind[ST_QD_KIND_LEN + 1];
	const char *ev;

	if (size < sizeof(*e))
		return 0;
	q->events++;
	memcpy(comm, e->comm, 16);
	comm[16] = '\0';
	st_local_mono_hms(e->ts, t, sizeof(t));
	ev = event_name(e->type);
	flow_str(e, flow, sizeof(flow));
	if (e->type == ST_QE_CREATE)
		snprintf(desc, sizeof(desc), "%s parent %s on %s", kind_of(&e->k, kind),
			 qd_handle_str(e->k.parent, rb, sizeof(rb)),
			 st_local_dev_name(e->k.netns, e->k.ifindex));
	else if (e->type == ST_QE_DQL_STALL)
		snprintf(desc, sizeof(desc), "BQL stall (device not reported by the tracepoint)");
	else
		qdisc_desc(&e->k, desc, sizeof(desc));
	if (e->type == ST_QE_DROP)
		st_ksyms_fmt(q->have_ksyms ? &q->ksyms : NULL, e->location, loc, sizeof(loc));

	if (q->lo.json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "type", json_object_new_string("event"));
		json_object_object_add(o, "time", json_object_new_string(t));
		json_object_object_add(o, "pid", json_object_new_int64(e->pid));
		json_object_object_add(o, "comm", json_object_new_string(comm));
		json_object_object_add(o, "event", json_object_new_string(ev));
		json_object_object_add(o, "cpu", json_object_new_int64(e->cpu));
		json_object_object_add(o, "qdisc", key_json(&e->k));
		if (e->type == ST_QE_LATENCY || e->type == ST_QE_XMIT)
			json_object_object_add(o, "latency_us", json_object_new_double(e->lat_ns / 1000.0));
		if (e->type == ST_QE_DROP) {
			json_object_object_add(o, "reason", json_object_new_string(
				qd_reason_name(q, e->reason, rb, sizeof(rb))));
			json_object_object_add(o, "location", json_object_new_string(loc));
			json_object_object_add(o, "qlen", e->depth_known ? json_object_new_int64(e->qlen) : NULL);
			json_object_object_add(o, "backlog", e->depth_known ? json_object_new_int64(e->backlog) : NULL);
		}
		if (e->type == ST_QE_XMIT_ERR)
			json_object_object_add(o, "rc", json_object_new_int(e->rc));
		if (e->type == ST_QE_CLASSIFY) {
			json_object_object_add(o, "verdict", json_object_new_string(
				verdict_name(e->rc, rb, sizeof(rb))));
			json_object_object_add(o, "classid", json_object_new_string(
				qd_handle_str(e->reason, kind, sizeof(kind))));
		}
		if (e->type == ST_QE_DQL_STALL) {
			json_object_object_add(o, "stall_thrs", json_object_new_int64(e->qlen));
			json_object_object_add(o, "queue_len", json_object_new_int64(e->len));
		} else {
			json_object_object_add(o, "len", json_object_new_int64(e->len));
		}
		if (e->type == ST_QE_DESTROY || e->type == ST_QE_RESET)
			json_object_object_add(o, "qlen", json_object_new_int64(e->qlen));
		if (e->keyed)
			json_object_object_add(o, "flow", json_object_new_string(flow + 1));
		emit(o);
		return 0;
	}
	printf("%s %-7u %-16s %-8s %s", t, e->pid, comm, ev, desc);
	switch (e->type) {
	case ST_QE_LATENCY:
	case ST_QE_XMIT:
		printf(" latency=%.1fus len=%u", e->lat_ns / 1000.0, e->len);
		break;
	case ST_QE_DROP:
		printf(" reason=%s loc=%s len=%u", qd_reason_name(q, e->reason, rb, sizeof(rb)),
		       loc, e->len);
		if (e->depth_known)
			printf(" qlen=%u backlog=%u", e->qlen, e->backlog);
		else
			printf(" qlen=? (per-CPU stats)");
		break;
	case ST_QE_XMIT_ERR:
		printf(" rc=%d%s len=%u", e->rc, e->rc == 0x10 ? " (busy)" : "", e->len);
		break;
	case ST_QE_CLASSIFY:
		printf(" verdict=%s classid=%s len=%u", verdict_name(e->rc, rb, sizeof(rb)),
		       qd_handle_str(e->reason, kind, sizeof(kind)), e->len);
		break;
	case ST_QE_DQL_STALL:
		printf(" thrs=%u len=%u", e->qlen, e->len);
		break;
	case ST_QE_DESTROY:
	case ST_QE_RESET:
		printf(" qlen=%u", e->qlen);
		break;
	}
	printf("%s\n", flow);
	fflush(stdout);
	return 0;
}

/* ---- intervals ------------------------------------------------------------- */

static json_object *counters_json(struct qd *q)
{
	json_object *c = json_object_new_object();

	for (int i = 0; i < ST_QC_MAX; i++)
		json_object_object_add(c, counter_names[i], json_object_new_int64(q->delta[i]));
	return c;
}

static void lost_line(struct qd *q, const char *t)
{
	if (q->delta[ST_QC_MAP_FULL] || q->delta[ST_QC_RINGBUF_FULL] || q->delta[ST_QC_BATCH_CUT])
		printf("%-8s lost: %llu (map full), %llu events (ring full); %llu dequeue lists "
		       "longer than %d followed only in part\n", t,
		       (unsigned long long)q->delta[ST_QC_MAP_FULL],
		       (unsigned long long)q->delta[ST_QC_RINGBUF_FULL],
		       (unsigned long long)q->delta[ST_QC_BATCH_CUT], ST_QD_MAX_BATCH);
}

static void show_latency(struct qd *q, const char *t, json_object *o)
{
	char desc[160];

	if (o) {
		json_object *arr = json_object_new_array();

		for (size_t i = 0; i < q->nhist; i++) {
			json_object *r = key_json(&q->hist[i].k);

			json_object_object_add(r, "latency", st_local_hist_json(&q->hist[i].h));
			json_object_array_add(arr, r);
		}
		json_object_object_add(o, "qdiscs", arr);
		return;
	}
	if (q->lo.verbose)
		return;
	if (!q->nhist)
		printf("%-8s no packets left a traced qdisc\n", t);
	for (size_t i = 0; i < q->nhist && i < q->top; i++) {
		printf("%-8s %s: enqueue -> dequeue\n", t, qdisc_desc(&q->hist[i].k, desc, sizeof(desc)));
		st_local_hist_print(&q->hist[i].h, "  ");
	}
	if (q->delta[ST_QC_UNMATCHED])
		printf("%-8s %llu dequeued packets were enqueued before tracing started%s\n", t,
		       (unsigned long long)q->delta[ST_QC_UNMATCHED],
		       (q->lo.proto_set || q->lo.src.set || q->lo.dst.set || q->lo.sport || q->lo.dport) ?
		       " or did not match the header filter" : "");
}

static void show_dequeue(struct qd *q, const char *t, json_object *o)
{
	char desc[160], req[24];

	if (o) {
		json_object *arr = json_object_new_array();

		for (size_t i = 0; i < q->ndeq; i++) {
			const struct qd_deq_row *r = &q->deq[i];
			json_object *j = key_json(&r->k), *b = json_object_new_object();

			json_object_object_add(j, "calls", json_object_new_int64(r->d.calls));
			json_object_object_add(j, "empty", json_object_new_int64(r->d.empty));
			json_object_object_add(j, "packets", json_object_new_int64(r->d.packets));
			json_object_object_add(j, "bytes", json_object_new_int64(r->d.bytes));
			json_object_object_add(j, "max_batch", json_object_new_int64(r->d.max_batch));
			json_object_object_add(j, "requeues", json_object_new_int64(r->requeues));
			json_object_object_add(j, "requeues_total", json_object_new_int64(r->d.requeues));
			for (int k = 1; k <= ST_QD_MAX_BATCH; k++) {
				char n[8];

				if (!r->d.batch[k])
					continue;
				snprintf(n, sizeof(n), "%d", k);
				json_object_object_add(b, n, json_object_new_int64(r->d.batch[k]));
			}
			json_object_object_add(j, "batches", b);
			json_object_array_add(arr, j);
		}
		json_object_object_add(o, "qdiscs", arr);
		return;
	}
	printf("%-8s %9s %9s %9s %11s %8s %6s %8s  %s\n", "TIME", "CALLS", "EMPTY", "PACKETS",
	       "BYTES", "PKT/CALL", "MAXB", "REQUEUE", "QDISC");
	if (!q->ndeq)
		printf("%-8s %9d %9d %9d %11d %8s %6s %8s  %s\n", t, 0, 0, 0, 0, "-", "-", "-", "-");
	for (size_t i = 0; i < q->ndeq && i < q->top; i++) {
		const struct qd_deq_row *r = &q->deq[i];
		uint64_t full = r->d.calls - r->d.empty;

		snprintf(req, sizeof(req), "%llu", (unsigned long long)r->requeues);
		printf("%-8s %9llu %9llu %9llu %11llu %8.2f %6llu %8s  %s\n", t,
		       (unsigned long long)r->d.calls, (unsigned long long)r->d.empty,
		       (unsigned long long)r->d.packets, (unsigned long long)r->d.bytes,
		       full ? (double)r->d.packets / full : 0.0, (unsigned long long)r->d.max_batch,
		       req, qdisc_desc(&r->k, desc, sizeof(desc)));
		if (q->lo.verbose)
			for (int k = 1; k <= ST_QD_MAX_BATCH; k++)
				if (r->d.batch[k])
					printf("%-8s   %s%d packets per dequeue: %llu calls\n", t,
					       k == ST_QD_MAX_BATCH ? ">=" : "", k,
					       (unsigned long long)r->d.batch[k]);
	}
}

static int drop_cmp(const void *a, const void *b)
{
	const struct qd_drop_row *x = a, *y = b;

	return x->v.count < y->v.count ? 1 : x->v.count > y->v.count ? -1 : 0;
}

static void show_drops(struct qd *q, const char *t, json_object *o)
{
	char desc[160], rb[48], loc[256];
	uint64_t total = 0;

	qsort(q->drops, q->ndrops, sizeof(*q->drops), drop_cmp);
	for (size_t i = 0; i < q->ndrops; i++)
		total += q->drops[i].v.count;
	if (o) {
		json_object *arr = json_object_new_array();

		json_object_object_add(o, "total", json_object_new_int64(total));
		for (size_t i = 0; i < q->ndrops; i++) {
			const struct qd_drop_row *r = &q->drops[i];
			json_object *j = key_json(&r->k.k);
			uint64_t known = r->v.count - r->v.depth_unknown;

			json_object_object_add(j, "count", json_object_new_int64(r->v.count));
			json_object_object_add(j, "bytes", json_object_new_int64(r->v.bytes));
			json_object_object_add(j, "reason", json_object_new_string(
				qd_reason_name(q, r->k.reason, rb, sizeof(rb))));
			json_object_object_add(j, "location", json_object_new_string(
				st_ksyms_fmt(q->have_ksyms ? &q->ksyms : NULL, r->k.location, loc, sizeof(loc))));
			json_object_object_add(j, "qlen_avg", known ?
				json_object_new_double((double)r->v.qlen_sum / known) : NULL);
			json_object_object_add(j, "qlen_max", known ? json_object_new_int64(r->v.qlen_max) : NULL);
			json_object_object_add(j, "backlog_avg", known ?
				json_object_new_double((double)r->v.backlog_sum / known) : NULL);
			json_object_object_add(j, "backlog_max", known ?
				json_object_new_int64(r->v.backlog_max) : NULL);
			json_object_object_add(j, "depth_unknown", json_object_new_int64(r->v.depth_unknown));
			json_object_array_add(arr, j);
		}
		json_object_object_add(o, "drops", arr);
		return;
	}
	if (q->lo.verbose || (q->mode == ST_QD_TC && !q->ndrops))
		return;
	printf("%-8s %8s %-18s %7s %7s %9s %9s  %-32s %s\n", "TIME", "COUNT", "REASON", "QLENAVG",
	       "QLENMAX", "BKLOGAVG", "BKLOGMAX", "LOCATION", "QDISC");
	if (!q->ndrops)
		printf("%-8s %8d %-18s %7s %7s %9s %9s  %-32s %s\n", t, 0, "-", "-", "-", "-", "-", "-", "-");
	for (size_t i = 0; i < q->ndrops && i < q->top; i++) {
		const struct qd_drop_row *r = &q->drops[i];
		uint64_t known = r->v.count - r->v.depth_unknown;
		char qa[24] = "-", qm[24] = "-", ba[24] = "-", bm[24] = "-";

		if (known) {
			snprintf(qa, sizeof(qa), "%.1f", (double)r->v.qlen_sum / known);
			snprintf(qm, sizeof(qm), "%llu", (unsigned long long)r->v.qlen_max);
			snprintf(ba, sizeof(ba), "%.0f", (double)r->v.backlog_sum / known);
			snprintf(bm, sizeof(bm), "%llu", (unsigned long long)r->v.backlog_max);
		}
		printf("%-8s %8llu %-18s %7s %7s %9s %9s  %-32s %s\n", t,
		       (unsigned long long)r->v.count, qd_reason_name(q, r->k.reason, rb, sizeof(rb)),
		       qa, qm, ba, bm,
		       st_ksyms_fmt(q->have_ksyms ? &q->ksyms : NULL, r->k.location, loc, sizeof(loc)),
		       r->k.k.kind[0] ? qdisc_desc(&r->k.k, desc, sizeof(desc)) :
		       st_local_dev_name(r->k.k.netns, r->k.k.ifindex));
	}
}

static void show_xmit(struct qd *q, const char *t, json_object *o)
{
	if (o) {
		json_object *arr = json_object_new_array();

		for (size_t i = 0; i < q->nxmit; i++) {
			const struct qd_xmit_row *r = &q->xmit[i];
			json_object *j = json_object_new_object();

			json_object_object_add(j, "dev", json_object_new_string(
				st_local_dev_name(r->k.netns, r->k.ifindex)));
			json_object_object_add(j, "netns", json_object_new_int64(r->k.netns));
			json_object_object_add(j, "ifindex", json_object_new_int64(r->k.ifindex));
			json_object_object_add(j, "txq", json_object_new_int64(r->k.txq));
			json_object_object_add(j, "queued", json_object_new_int64(r->x.queued));
			json_object_object_add(j, "started", json_object_new_int64(r->x.started));
			json_object_object_add(j, "xmit_ok", json_object_new_int64(r->x.xmit_ok));
			json_object_object_add(j, "xmit_busy", json_object_new_int64(r->x.xmit_busy));
			json_object_object_add(j, "xmit_err", json_object_new_int64(r->x.xmit_err));
			json_object_object_add(j, "timeouts", json_object_new_int64(r->x.timeouts));
			json_object_object_add(j, "depth_avg", json_object_new_double(
				r->x.queued ? (double)r->x.depth_sum / r->x.queued : 0));
			json_object_object_add(j, "depth_max", json_object_new_int64(r->x.depth_max));
			json_object_object_add(j, "bql_inflight_max", json_object_new_int64(r->x.inflight_max));
			json_object_object_add(j, "unmatched", json_object_new_int64(r->x.unmatched));
			if (r->h)
				json_object_object_add(j, "queue_to_xmit", st_local_hist_json(r->h));
			json_object_array_add(arr, j);
		}
		json_object_object_add(o, "txqs", arr);
		return;
	}
	if (q->lo.verbose)
		return;
	printf("%-8s %-20s %4s %8s %8s %8s %6s %6s %6s %7s %6s %8s %8s %8s\n", "TIME", "DEV", "TXQ",
	       "QUEUED", "STARTED", "OK", "BUSY", "ERR", "TMOUT", "DEPTHAV", "DEPMAX", "BQLMAX",
	       "P50us", "P99us");
	if (!q->nxmit)
		printf("%-8s %-20s\n", t, "(no transmits)");
	for (size_t i = 0; i < q->nxmit && i < q->top; i++) {
		const struct qd_xmit_row *r = &q->xmit[i];

		printf("%-8s %-20s %4u %8llu %8llu %8llu %6llu %6llu %6llu %7.1f %6llu %8llu %8.1f %8.1f\n",
		       t, st_local_dev_name(r->k.netns, r->k.ifindex), r->k.txq,
		       (unsigned long long)r->x.queued, (unsigned long long)r->x.started,
		       (unsigned long long)r->x.xmit_ok, (unsigned long long)r->x.xmit_busy,
		       (unsigned long long)r->x.xmit_err, (unsigned long long)r->x.timeouts,
		       r->x.queued ? (double)r->x.depth_sum / r->x.queued : 0.0,
		       (unsigned long long)r->x.depth_max, (unsigned long long)r->x.inflight_max,
		       r->h ? st_hist_quantile(r->h, 0.5) / 1000.0 : 0.0,
		       r->h ? st_hist_quantile(r->h, 0.99) / 1000.0 : 0.0);
	}
}

/* tcf_classify results: only where its hook attached. */
static void show_classified(struct qd *q, const char *t, json_object *o)
{
	char vb[16], cb[16], desc[160];

	if (!q->tcf[0].attached)
		return;
	if (o) {
		json_object *arr = json_object_new_array();

		for (size_t i = 0; i < q->ncls; i++) {
			const struct qd_cls_row *r = &q->cls[i];
			json_object *j = json_object_new_object();

			json_object_object_add(j, "qdisc", key_json(&r->k.k));
			json_object_object_add(j, "dev", json_object_new_string(
				st_local_dev_name(r->k.k.netns, r->k.k.ifindex)));
			json_object_object_add(j, "verdict", json_object_new_string(
				verdict_name(r->k.verdict, vb, sizeof(vb))));
			json_object_object_add(j, "classid", json_object_new_string(
				qd_handle_str(r->k.classid, cb, sizeof(cb))));
			json_object_object_add(j, "count", json_object_new_int64(r->count));
			json_object_array_add(arr, j);
		}
		json_object_object_add(o, "classified", arr);
		return;
	}
	for (size_t i = 0; i < q->ncls; i++) {
		const struct qd_cls_row *r = &q->cls[i];

		if (!i)
			printf("%-8s %-36s %-10s %-8s %8s\n", "TIME", "QDISC (FILTERS)", "VERDICT",
			       "CLASSID", "COUNT");
		qdisc_desc(&r->k.k, desc, sizeof(desc));
		printf("%-8s %-36s %-10s %-8s %8llu\n", t, desc,
		       verdict_name(r->k.verdict, vb, sizeof(vb)),
		       qd_handle_str(r->k.classid, cb, sizeof(cb)), (unsigned long long)r->count);
	}
}

void qd_show_interval(struct qd *q, double secs)
{
	json_object *o = NULL;
	char t[16];

	st_local_hms(t, sizeof(t));
	if (q->lo.json) {
		o = json_object_new_object();
		json_object_object_add(o, "type", json_object_new_string("interval"));
		json_object_object_add(o, "mode", json_object_new_string(q->mode_name));
		json_object_object_add(o, "time", json_object_new_string(t));
		json_object_object_add(o, "unix_s", json_object_new_double(st_real_ns() / 1e9));
		json_object_object_add(o, "interval_s", json_object_new_double(secs));
	}
	switch (q->mode) {
	case ST_QD_LATENCY: show_latency(q, t, o); break;
	case ST_QD_DEQUEUE: show_dequeue(q, t, o); break;
	case ST_QD_DROPS: show_drops(q, t, o); break;
	case ST_QD_TC:
		show_drops(q, t, o);
		show_classified(q, t, o);
		qd_tcstats_show(q, t, o);
		break;
	case ST_QD_XMIT: show_xmit(q, t, o); break;
	}
	if (o) {
		json_object *lost = json_object_new_object();

		json_object_object_add(lost, "map_full", json_object_new_int64(q->delta[ST_QC_MAP_FULL]));
		json_object_object_add(lost, "events", json_object_new_int64(q->delta[ST_QC_RINGBUF_FULL]));
		json_object_object_add(o, "lost", lost);
		json_object_object_add(o, "counters", counters_json(q));
		json_object_object_add(o, "attach", attach_json(q));
		emit(o);
		return;
	}
	lost_line(q, t);
	if (!q->lo.verbose && q->mode != ST_QD_TC)
		printf("\n");
	fflush(stdout);
}
