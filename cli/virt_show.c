// SPDX-License-Identifier: MIT
/*
 * The views of stagetrace virt tun | vhost | queues: one interval's
 * differences (struct vn_snap from cli/virt_net.c) as a table or one JSON
 * line. All three modes share one JSON shape (tun_queues, virtqueues,
 * counters, hooks), so a consumer reads every mode the same way; a mode
 * whose hooks did not run simply has empty arrays, and its "hooks" list
 * says why.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "timeutil.h"
#include "virt_net.h"

/* "comm:tid" of a worker thread, its name as the BPF side saw it (the
 * thread may be gone by the time the interval is printed). */
static const char *worker_name(const struct st_vn_vq_val *q, char *buf, size_t len)
{
	char comm[sizeof(q->comm) + 1];
	uint32_t tid = q->worker;

	memcpy(comm, q->comm, sizeof(q->comm));
	comm[sizeof(q->comm)] = '\0';
	if (comm[0])
		snprintf(buf, len, "%s:%u", comm, tid);
	else
		snprintf(buf, len, "%u", tid);
	return buf;
}

static const char *backend_name(const struct st_vn_vq_val *q, char *buf, size_t len)
{
	if (q->backend == ST_VN_BE_TUN)
		snprintf(buf, len, "%s:q%u", st_local_dev_name(q->netns, q->ifindex), q->tunq);
	else
		snprintf(buf, len, "%s", q->backend == ST_VN_BE_NONE ? "(none)" : "(not tun)");
	return buf;
}

static int tq_active(const struct vn_tunq *t)
{
	return t->d.xmit_pkts || t->d.sent_pkts || t->d.recv_pkts;
}

static int vq_active(const struct vn_vq *q)
{
	return q->d.handle_calls || q->d.pkts || q->d.used_calls || q->d.signals || q->d.peeks;
}

/* The busiest virtqueue of direction idx whose backend is tun queue t. */
static const struct vn_vq *vq_of(const struct vn_snap *s, const struct vn_tunq *t, uint32_t idx)
{
	const struct vn_vq *best = NULL;

	for (size_t i = 0; i < s->nvq; i++) {
		const struct vn_vq *q = &s->vq[i];

		if (q->cur.backend != ST_VN_BE_TUN || q->cur.idx != idx ||
		    q->cur.netns != t->k.netns || q->cur.ifindex != t->k.ifindex ||
		    q->cur.tunq != t->k.queue)
			continue;
		if (!best || q->d.pkts + q->d.signals > best->d.pkts + best->d.signals)
			best = q;
	}
	return best;
}

static double fill_avg(const struct vn_tunq *t)
{
	return t->d.xmit_pkts ? (double)t->d.fill_sum / (double)t->d.xmit_pkts : 0;
}

static json_object *tq_json(const struct vn_snap *s, const struct vn_tunq *t, int link)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "dev", json_object_new_string(
		st_local_dev_name(t->k.netns, t->k.ifindex)));
	json_object_object_add(o, "netns", json_object_new_int64(t->k.netns));
	json_object_object_add(o, "ifindex", json_object_new_int64(t->k.ifindex));
	json_object_object_add(o, "queue", json_object_new_int64(t->k.queue));
	json_object_object_add(o, "frames", json_object_new_int64(t->d.xmit_pkts));
	json_object_object_add(o, "bytes", json_object_new_int64(t->d.xmit_bytes));
	json_object_object_add(o, "drops_ring_full", json_object_new_int64(t->d.xmit_full));
	json_object_object_add(o, "fill_avg", json_object_new_double(fill_avg(t)));
	json_object_object_add(o, "fill_max", json_object_new_int64(t->fill_max));
	json_object_object_add(o, "fill_last", json_object_new_int64(t->cur.fill_last));
	json_object_object_add(o, "ring_size", json_object_new_int64(t->cur.ring_size));
	json_object_object_add(o, "from_vm_pkts", json_object_new_int64(t->d.sent_pkts));
	json_object_object_add(o, "from_vm_bytes", json_object_new_int64(t->d.sent_bytes));
	json_object_object_add(o, "to_vm_pkts", json_object_new_int64(t->d.recv_pkts));
	json_object_object_add(o, "to_vm_bytes", json_object_new_int64(t->d.recv_bytes));
	for (uint32_t idx = 0; link && idx < 2; idx++) {
		const struct vn_vq *q = vq_of(s, t, idx);
		char a[24];

		snprintf(a, sizeof(a), "0x%llx", q ? (unsigned long long)q->addr : 0ULL);
		json_object_object_add(o, idx == ST_VN_VQ_RX ? "rx_vq" : "tx_vq",
				       q ? json_object_new_string(a) : NULL);
	}
	return o;
}

static json_object *vq_json(const struct vn_vq *q)
{
	json_object *o = json_object_new_object();
	char a[24], b[64], w[64];

	snprintf(a, sizeof(a), "0x%llx", (unsigned long long)q->addr);
	json_object_object_add(o, "vq", json_object_new_string(a));
	json_object_object_add(o, "dir", json_object_new_string(q->cur.idx == ST_VN_VQ_RX ? "rx" : "tx"));
	json_object_object_add(o, "worker_tid", json_object_new_int64(q->cur.worker));
	json_object_object_add(o, "worker_pid", json_object_new_int64(q->cur.worker_tgid));
	json_object_object_add(o, "worker", json_object_new_string(worker_name(&q->cur, w, sizeof(w))));
	json_object_object_add(o, "backend", json_object_new_string(backend_name(&q->cur, b, sizeof(b))));
	if (q->cur.backend == ST_VN_BE_TUN) {
		json_object_object_add(o, "dev", json_object_new_string(
			st_local_dev_name(q->cur.netns, q->cur.ifindex)));
		json_object_object_add(o, "queue", json_object_new_int64(q->cur.tunq));
	}
	json_object_object_add(o, "runs", json_object_new_int64(q->d.handle_calls));
	json_object_object_add(o, "pkts", json_object_new_int64(q->d.pkts));
	json_object_object_add(o, "bytes", json_object_new_int64(q->d.bytes));
	json_object_object_add(o, "used_calls", json_object_new_int64(q->d.used_calls));
	json_object_object_add(o, "used_bufs", json_object_new_int64(q->d.used_heads));
	json_object_object_add(o, "signals", json_object_new_int64(q->d.signals));
	json_object_object_add(o, "peeks", json_object_new_int64(q->d.peeks));
	json_object_object_add(o, "peek_empty", json_object_new_int64(q->d.peek_empty));
	json_object_object_add(o, "peek_bytes", json_object_new_int64(q->d.peek_bytes));
	return o;
}

static void show_json(const struct vn_view *v, const struct vn_snap *s)
{
	static const char *const modes[] = { "tun", "vhost", "queues" };
	json_object *o = json_object_new_object(), *tq = json_object_new_array();
	json_object *vq = json_object_new_array(), *cnt = json_object_new_object();
	char t[16];

	json_object_object_add(o, "type", json_object_new_string("interval"));
	json_object_object_add(o, "mode", json_object_new_string(modes[v->mode]));
	json_object_object_add(o, "time", json_object_new_string(st_local_hms(t, sizeof(t))));
	json_object_object_add(o, "unix_s", json_object_new_double(st_real_ns() / 1e9));
	json_object_object_add(o, "interval_s", json_object_new_double(s->secs));
	for (size_t i = 0; i < s->ntq; i++)
		if (v->verbose || tq_active(&s->tq[i]))
			json_object_array_add(tq, tq_json(s, &s->tq[i], v->mode == VN_QUEUES));
	for (size_t i = 0; i < s->nvq; i++)
		if (v->verbose || vq_active(&s->vq[i]))
			json_object_array_add(vq, vq_json(&s->vq[i]));
	json_object_object_add(o, "tun_queues", tq);
	json_object_object_add(o, "virtqueues", vq);
	for (int i = 0; i < ST_VNC_MAX; i++)
		json_object_object_add(cnt, vn_counter_names[i], json_object_new_int64(s->counters[i]));
	json_object_object_add(o, "counters", cnt);
	{
		struct st_local_hook used[VN_NHOOKS];
		size_t n = 0;

		for (int i = 0; i < VN_NHOOKS; i++)
			if (v->used[i])
				used[n++] = v->hooks[i];
		json_object_object_add(o, "hooks", st_local_hooks_json(used, n));
	}
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
}

static void show_tun(const struct vn_view *v, const struct vn_snap *s, const char *t)
{
	int any = 0;

	printf("%-8s %-16s %5s %8s %9s %7s %8s %8s %6s %8s %8s\n", "TIME", "DEV", "QUEUE",
	       "FRAMES", "KB", "DROPS", "FILL_AVG", "FILL_MAX", "RING", "FROM_VM", "TO_VM");
	for (size_t i = 0; i < s->ntq; i++) {
		const struct vn_tunq *q = &s->tq[i];

		if (!v->verbose && !tq_active(q))
			continue;
		any = 1;
		printf("%-8s %-16s %5u %8llu %9.1f %7llu %8.1f %8u %6u %8llu %8llu\n", t,
		       st_local_dev_name(q->k.netns, q->k.ifindex), q->k.queue,
		       (unsigned long long)q->d.xmit_pkts, q->d.xmit_bytes / 1024.0,
		       (unsigned long long)q->d.xmit_full, fill_avg(q), q->fill_max,
		       q->cur.ring_size, (unsigned long long)q->d.sent_pkts,
		       (unsigned long long)q->d.recv_pkts);
	}
	if (!any)
		printf("%-8s (no tun/tap traffic)\n", t);
}

static void show_vhost(const struct vn_view *v, const struct vn_snap *s, const char *t)
{
	int any = 0;

	printf("%-8s %-24s %-3s %-20s", "TIME", "WORKER", "VQ", "BACKEND");
	if (v->queues)
		printf(" %7s %8s %9s %8s", "RUNS", "PKTS", "KB", "PKTS/RUN");
	if (v->signals)
		printf(" %7s %8s %8s %8s", "USED", "BUFS", "SIGNALS", "SIG/s");
	if (v->peek)
		printf(" %7s %7s %8s", "PEEKS", "EMPTY", "AVG_LEN");
	if (v->verbose)
		printf(" %s", "VQ_ADDR");
	printf("\n");
	for (size_t i = 0; i < s->nvq; i++) {
		const struct vn_vq *q = &s->vq[i];
		char w[64], b[64];

		if (!v->verbose && !vq_active(q))
			continue;
		any = 1;
		printf("%-8s %-24s %-3s %-20s", t, worker_name(&q->cur, w, sizeof(w)),
		       q->cur.idx == ST_VN_VQ_RX ? "rx" : "tx", backend_name(&q->cur, b, sizeof(b)));
		if (v->queues)
			printf(" %7llu %8llu %9.1f %8.2f", (unsigned long long)q->d.handle_calls,
			       (unsigned long long)q->d.pkts, q->d.bytes / 1024.0,
			       q->d.handle_calls ? (double)q->d.pkts / (double)q->d.handle_calls : 0.0);
		if (v->signals)
			printf(" %7llu %8llu %8llu %8.1f", (unsigned long long)q->d.used_calls,
			       (unsigned long long)q->d.used_heads, (unsigned long long)q->d.signals,
			       s->secs > 0 ? (double)q->d.signals / s->secs : 0.0);
		if (v->peek) {
			uint64_t full = q->d.peeks - q->d.peek_empty;

			printf(" %7llu %7llu %8.1f", (unsigned long long)q->d.peeks,
			       (unsigned long long)q->d.peek_empty,
			       full ? (double)q->d.peek_bytes / (double)full : 0.0);
		}
		if (v->verbose)
			printf(" 0x%llx", (unsigned long long)q->addr);
		printf("\n");
	}
	if (!any)
		printf("%-8s (no vhost-net activity)\n", t);
}

static void show_queues(const struct vn_view *v, const struct vn_snap *s, const char *t)
{
	double secs = s->secs > 0 ? s->secs : 1;
	int any = 0;

	printf("%-8s %-16s %5s %9s %7s %9s | %-22s %8s %7s | %-22s %8s\n", "TIME", "DEV", "QUEUE",
	       "FRAMES/s", "DROPS", "FILL/RING", "RX_WORKER", "PKTS/s", "SIG/s", "TX_WORKER",
	       "PKTS/s");
	for (size_t i = 0; i < s->ntq; i++) {
		const struct vn_tunq *q = &s->tq[i];
		const struct vn_vq *rx = vq_of(s, q, ST_VN_VQ_RX), *tx = vq_of(s, q, ST_VN_VQ_TX);
		char fr[24], rw[64] = "-", tw[64] = "-";

		if (!v->verbose && !tq_active(q) && !(rx && vq_active(rx)) && !(tx && vq_active(tx)))
			continue;
		any = 1;
		snprintf(fr, sizeof(fr), "%u/%u", q->fill_max, q->cur.ring_size);
		if (rx)
			worker_name(&rx->cur, rw, sizeof(rw));
		if (tx)
			worker_name(&tx->cur, tw, sizeof(tw));
		printf("%-8s %-16s %5u %9.1f %7llu %9s | %-22s %8.1f %7.1f | %-22s %8.1f\n", t,
		       st_local_dev_name(q->k.netns, q->k.ifindex), q->k.queue,
		       q->d.xmit_pkts / secs, (unsigned long long)q->d.xmit_full, fr, rw,
		       rx ? rx->d.pkts / secs : 0.0, rx ? rx->d.signals / secs : 0.0, tw,
		       tx ? tx->d.pkts / secs : 0.0);
		if (v->verbose)
			printf("%-8s %-16s %5s rx vq 0x%llx, tx vq 0x%llx\n", "", "", "",
			       rx ? (unsigned long long)rx->addr : 0ULL,
			       tx ? (unsigned long long)tx->addr : 0ULL);
	}
	if (!any)
		printf("%-8s (no tun/tap or vhost-net activity)\n", t);
}

void vn_show(const struct vn_view *v, const struct vn_snap *s)
{
	char t[16];

	if (v->json) {
		show_json(v, s);
		fflush(stdout);
		return;
	}
	st_local_hms(t, sizeof(t));
	if (v->mode == VN_TUN)
		show_tun(v, s, t);
	else if (v->mode == VN_VHOST)
		show_vhost(v, s, t);
	else
		show_queues(v, s, t);
	if (s->counters[ST_VNC_TUNQ_FULL] || s->counters[ST_VNC_VQ_FULL])
		printf("%-8s lost: %llu frames (tun queue map full), %llu vhost events (virtqueue map full)\n",
		       t, (unsigned long long)s->counters[ST_VNC_TUNQ_FULL],
		       (unsigned long long)s->counters[ST_VNC_VQ_FULL]);
	if (s->counters[ST_VNC_XMIT_NOQ])
		printf("%-8s %llu frames for a queue the device does not have (dropped by tun)\n", t,
		       (unsigned long long)s->counters[ST_VNC_XMIT_NOQ]);
	printf("\n");
	fflush(stdout);
}
