// SPDX-License-Identifier: MIT
/*
 * stagetrace defrag, output: one line per failed datagram (and, with -v,
 * per fragment and completion) as the ring buffer delivers them, and per
 * interval the counts per device drained from the inactive count map,
 * failures and drops by reason, pending datagrams, the BPF side's own
 * counters and the kernel's reassembly counters of every namespace that
 * moved (read inside the namespace from /proc/net/snmp and netstat).
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "defrag_int.h"
#include "timeutil.h"

static const char *const counter_names[ST_GC_MAX] = {
	[ST_GC_RX_CALLS] = "rx_calls",
	[ST_GC_FRAGMENTS] = "fragments",
	[ST_GC_FILTERED] = "filtered",
	[ST_GC_DROP_CALLS] = "drop_calls",
	[ST_GC_FRAG_DROPS] = "fragment_drops",
	[ST_GC_FLOW_FULL] = "lost_flow_table_full",
	[ST_GC_MAP_FULL] = "lost_map_full",
	[ST_GC_RINGBUF_FULL] = "lost_events",
	[ST_GC_NO_NETNS] = "failures_without_netns",
	[ST_GC_AFTER_REASM] = "freed_after_reassembly",
};

static const char *const knames[K_N] = {
	"ReasmReqds", "ReasmOKs", "ReasmFails", "ReasmTimeout", "ReasmOverlaps",
};

static const char *reason_name(struct defrag *d, uint32_t r, char *buf, size_t len)
{
	const char *n = d->have_reasons ? st_enum_name(&d->reasons, r) : NULL;

	if (n)
		return n;
	snprintf(buf, len, "reason%u", r);
	return buf;
}

static const char *proto_name(uint8_t p, char *buf, size_t len)
{
	if (p == 17)
		return "udp";
	if (p == 6)
		return "tcp";
	if (p == 1)
		return "icmp";
	snprintf(buf, len, "proto%u", p);
	return buf;
}

/* ---- the kernel's counters ------------------------------------------------ */

/* Value of name on the "Prefix:" value line following its header line. */
static int snmp_pick(const char *path, const char *prefix, const char *name, uint64_t *out)
{
	FILE *f = fopen(path, "r");
	char hdr[4096], val[4096];
	int rc = -ENOENT;

	if (!f)
		return -errno;
	while (rc && fgets(hdr, sizeof(hdr), f) && fgets(val, sizeof(val), f)) {
		char *hs = NULL, *vs = NULL, *h, *v;

		if (strncmp(hdr, prefix, strlen(prefix)) || strncmp(val, prefix, strlen(prefix)))
			continue;
		h = strtok_r(hdr, " \n", &hs);
		v = strtok_r(val, " \n", &vs);
		while ((h = strtok_r(NULL, " \n", &hs)) && (v = strtok_r(NULL, " \n", &vs))) {
			if (!strcmp(h, name)) {
				*out = strtoull(v, NULL, 10);
				rc = 0;
				break;
			}
		}
	}
	fclose(f);
	return rc;
}

/* Read the counters of netns ino (entering it); 0 or -errno. */
static int ns_read(uint32_t ino, uint64_t v[K_N])
{
	int self = st_local_netns_enter(ino), rc = 0;

	if (self < 0 && self != ST_LOCAL_NETNS_SAME)
		return self;
	for (int i = 0; i < K_N && !rc; i++) {
		if (i == K_OVERLAPS)
			rc = snmp_pick("/proc/self/net/netstat", "IpExt:", knames[i], &v[i]);
		else
			rc = snmp_pick("/proc/self/net/snmp", "Ip:", knames[i], &v[i]);
	}
	st_local_netns_leave(self);
	return rc;
}

static struct nsstat *ns_get(struct defrag *d, uint32_t ino)
{
	for (size_t i = 0; i < d->nns; i++)
		if (d->ns[i].ino == ino)
			return &d->ns[i];
	if (d->nns == MAX_NS || !ino)
		return NULL;
	d->ns[d->nns].ino = ino;
	d->ns[d->nns].ok = !ns_read(ino, d->ns[d->nns].v);
	return &d->ns[d->nns++];
}

/* Baselines for our netns and every named one (or only --netns). */
void defrag_ns_baseline(struct defrag *d)
{
	DIR *dir;
	struct dirent *de;

	if (d->lo.netns_set) {
		ns_get(d, d->lo.netns_ino);
		return;
	}
	ns_get(d, st_local_self_netns());
	dir = opendir("/run/netns");
	if (!dir)
		return;
	while ((de = readdir(dir))) {
		uint32_t ino;

		if (de->d_name[0] != '.' && !st_local_netns_inode(de->d_name, &ino))
			ns_get(d, ino);
	}
	closedir(dir);
}

/* ---- events ----------------------------------------------------------------- */

/* Why a datagram failed, in words: the reason where it says it, else
 * what the place of the drop says. */
static const char *fail_cause(const char *reason, const char *loc)
{
	if (!strcmp(reason, "FRAG_REASM_TIMEOUT"))
		return "timeout";
	if (!strcmp(reason, "FRAG_TOO_FAR"))
		return "too_far";
	if (!strcmp(reason, "NOT_SPECIFIED") &&
	    (!strncmp(loc, "ip_defrag+", 10) || !strncmp(loc, "ip_frag_queue", 13)))
		return "discarded";	/* overlap, contradicting length, ... */
	return reason;
}

int defrag_on_event(void *ctx, void *data, size_t size)
{
	static const char *const kinds[] = { "?", "fragment", "complete", "failed",
					     "reassembled", "expired" };
	struct defrag *d = ctx;
	const struct st_frag_event *e = data;
	char t[32], sa[INET_ADDRSTRLEN], da[INET_ADDRSTRLEN], pb[16], rb[48], loc[160];
	const char *dev, *kind, *rn = "", *pn, *cause = NULL;

	if (size < sizeof(*e) || e->kind > ST_FE_EXPIRED)
		return 0;
	kind = kinds[e->kind];
	st_local_mono_hms(e->ts, t, sizeof(t));
	inet_ntop(AF_INET, &e->key.saddr, sa, sizeof(sa));
	inet_ntop(AF_INET, &e->key.daddr, da, sizeof(da));
	dev = st_local_dev_name(e->key.netns, e->ifindex);
	pn = proto_name(e->key.proto, pb, sizeof(pb));
	if (e->kind == ST_FE_FAILED) {
		d->failed_total++;
		rn = reason_name(d, e->reason, rb, sizeof(rb));
		st_ksyms_fmt(d->have_ksyms ? &d->ksyms : NULL, e->location, loc, sizeof(loc));
		cause = fail_cause(rn, loc);
	}
	if (d->lo.json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "type", json_object_new_string("event"));
		json_object_object_add(o, "event", json_object_new_string(kind));
		json_object_object_add(o, "time", json_object_new_string(t));
		json_object_object_add(o, "netns", json_object_new_int64(e->key.netns));
		json_object_object_add(o, "ifindex", json_object_new_int64(e->ifindex));
		json_object_object_add(o, "dev", json_object_new_string(dev));
		json_object_object_add(o, "src", json_object_new_string(sa));
		json_object_object_add(o, "dst", json_object_new_string(da));
		json_object_object_add(o, "id", json_object_new_int(e->key.id));
		json_object_object_add(o, "proto", json_object_new_string(pn));
		if (e->kind == ST_FE_FRAGMENT) {
			json_object_object_add(o, "offset", json_object_new_int(e->offset));
			json_object_object_add(o, "len", json_object_new_int(e->len));
			json_object_object_add(o, "more", json_object_new_boolean(e->more));
		}
		if (e->kind == ST_FE_FAILED) {
			json_object_object_add(o, "reason", json_object_new_string(rn));
			json_object_object_add(o, "reason_code", json_object_new_int64(e->reason));
			json_object_object_add(o, "cause", json_object_new_string(cause));
			json_object_object_add(o, "location", json_object_new_string(loc));
			json_object_object_add(o, "seen", json_object_new_boolean(!e->unseen));
		}
		if (e->kind == ST_FE_FAILED || e->kind == ST_FE_COMPLETE) {
			json_object_object_add(o, "fragments", json_object_new_int64(e->flow.frags));
			json_object_object_add(o, "bytes", json_object_new_int64(e->flow.bytes));
			json_object_object_add(o, "length", e->flow.have_last ?
					       json_object_new_int64(e->flow.end) : NULL);
			json_object_object_add(o, "have_first", json_object_new_boolean(e->flow.have_first));
			json_object_object_add(o, "have_last", json_object_new_boolean(e->flow.have_last));
			json_object_object_add(o, "dropped", json_object_new_int64(e->flow.drops));
			json_object_object_add(o, "age_s", json_object_new_double(
				e->flow.first_ts && e->ts > e->flow.first_ts ?
				(e->ts - e->flow.first_ts) / 1e9 : 0));
		}
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
		return 0;
	}
	printf("%s %-11s %s %s -> %s id %u dev=%s", t, kind, pn, sa, da, e->key.id, dev);
	if (e->kind == ST_FE_FRAGMENT)
		printf(" offset=%u len=%u%s", e->offset, e->len, e->more ? " MF" : "");
	if (e->kind == ST_FE_FAILED)
		printf(" reason=%s cause=%s loc=%s", rn, cause, loc);
	if (e->kind == ST_FE_FAILED || e->kind == ST_FE_COMPLETE) {
		char lb[16] = "?";

		if (e->flow.have_last)
			snprintf(lb, sizeof(lb), "%u", e->flow.end);
		if (e->unseen)
			printf(" (no fragment of it seen)");
		else
			printf(" frags=%u bytes=%u/%s first=%s last=%s age=%.3fs", e->flow.frags,
			       e->flow.bytes, lb, e->flow.have_first ? "yes" : "no",
			       e->flow.have_last ? "yes" : "no",
			       e->ts > e->flow.first_ts ? (e->ts - e->flow.first_ts) / 1e9 : 0);
	}
	printf("\n");
	return 0;
}

/* ---- intervals ---------------------------------------------------------------- */

static struct row *row_get(struct row **rows, size_t *n, uint32_t netns, uint32_t ifindex)
{
	struct row *nv;

	for (size_t i = 0; i < *n; i++)
		if ((*rows)[i].netns == netns && (*rows)[i].ifindex == ifindex)
			return &(*rows)[i];
	nv = realloc(*rows, (*n + 1) * sizeof(*nv));
	if (!nv)
		return NULL;
	*rows = nv;
	memset(&nv[*n], 0, sizeof(nv[0]));
	nv[*n].netns = netns;
	nv[*n].ifindex = ifindex;
	return &nv[(*n)++];
}

/* Drain the inactive count map into per-device rows and per-reason lists. */
static size_t drain(int fd, struct st_frag_ckey *keys, struct st_frag_cval *vals)
{
	struct st_frag_ckey cur, next;
	void *prev = NULL;
	size_t n = 0, m = 0;

	while (n < ST_DEFRAG_MAX_KEYS && !bpf_map_get_next_key(fd, prev, &next)) {
		keys[n++] = next;
		cur = next;
		prev = &cur;
	}
	for (size_t i = 0; i < n; i++) {
		if (bpf_map_lookup_elem(fd, &keys[i], &vals[m]))
			continue;
		bpf_map_delete_elem(fd, &keys[i]);
		keys[m++] = keys[i];
	}
	return m;
}

/* One datagram still waiting for fragments. */
struct waiting {
	struct st_frag_key k;
	struct st_frag_flow fl;
};

/*
 * Pending datagrams: their number, and the d->top oldest in w[0..*nw),
 * oldest first. Finished flows older than 10 s are forgotten.
 */
static uint64_t flows_gc(struct defrag *d, struct waiting *w, size_t *nw)
{
	int fd = bpf_map__fd(d->skel->maps.flows);
	struct st_frag_key cur, next, *old = NULL;
	struct st_frag_flow fl;
	uint64_t now = st_mono_ns(), pending = 0;
	size_t nold = 0, capold = 0;
	void *prev = NULL;

	*nw = 0;
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		cur = next;
		prev = &cur;
		if (bpf_map_lookup_elem(fd, &cur, &fl))
			continue;
		if (fl.state == ST_FS_PENDING) {
			size_t at = *nw;

			pending++;
			/* Insertion into the d->top oldest. */
			while (at > 0 && w[at - 1].fl.first_ts > fl.first_ts)
				at--;
			if (at >= d->top)
				continue;
			if (*nw < d->top)
				(*nw)++;
			memmove(&w[at + 1], &w[at], (*nw - 1 - at) * sizeof(*w));
			w[at].k = cur;
			w[at].fl = fl;
		} else if (now > fl.last_ts + 10000000000ull) {
			if (nold == capold) {
				struct st_frag_key *nv;

				capold = capold ? capold * 2 : 64;
				nv = realloc(old, capold * sizeof(*nv));
				if (!nv)
					break;
				old = nv;
			}
			old[nold++] = cur;
		}
	}
	for (size_t i = 0; i < nold; i++)
		bpf_map_delete_elem(fd, &old[i]);
	free(old);
	return pending;
}

/* The waiting datagrams, as JSON objects or text lines. */
static void print_waiting(struct defrag *d, const struct waiting *w, size_t nw, json_object *arr,
			  const char *t)
{
	uint64_t now = st_mono_ns();

	for (size_t i = 0; i < nw; i++) {
		char sa[INET_ADDRSTRLEN], da[INET_ADDRSTRLEN], pb[16], lb[16] = "?";
		const char *pn = proto_name(w[i].k.proto, pb, sizeof(pb));
		const char *dev = st_local_dev_name(w[i].k.netns, w[i].fl.ifindex);
		double age = now > w[i].fl.first_ts ? (now - w[i].fl.first_ts) / 1e9 : 0;

		inet_ntop(AF_INET, &w[i].k.saddr, sa, sizeof(sa));
		inet_ntop(AF_INET, &w[i].k.daddr, da, sizeof(da));
		if (arr) {
			json_object *o = json_object_new_object();

			json_object_object_add(o, "src", json_object_new_string(sa));
			json_object_object_add(o, "dst", json_object_new_string(da));
			json_object_object_add(o, "id", json_object_new_int(w[i].k.id));
			json_object_object_add(o, "proto", json_object_new_string(pn));
			json_object_object_add(o, "netns", json_object_new_int64(w[i].k.netns));
			json_object_object_add(o, "dev", json_object_new_string(dev));
			json_object_object_add(o, "fragments", json_object_new_int64(w[i].fl.frags));
			json_object_object_add(o, "bytes", json_object_new_int64(w[i].fl.bytes));
			json_object_object_add(o, "length", w[i].fl.have_last ?
					       json_object_new_int64(w[i].fl.end) : NULL);
			json_object_object_add(o, "have_first", json_object_new_boolean(w[i].fl.have_first));
			json_object_object_add(o, "have_last", json_object_new_boolean(w[i].fl.have_last));
			json_object_object_add(o, "age_s", json_object_new_double(age));
			json_object_array_add(arr, o);
			continue;
		}
		if (w[i].fl.have_last)
			snprintf(lb, sizeof(lb), "%u", w[i].fl.end);
		printf("%-8s     waiting %s %s -> %s id %u dev=%s frags=%u bytes=%u/%s first=%s last=%s age=%.3fs\n",
		       t, pn, sa, da, w[i].k.id, dev, w[i].fl.frags, w[i].fl.bytes, lb,
		       w[i].fl.have_first ? "yes" : "no", w[i].fl.have_last ? "yes" : "no", age);
	}
}

void defrag_report(struct defrag *d, int fd, double secs)
{
	struct st_frag_ckey *keys = calloc(ST_DEFRAG_MAX_KEYS, sizeof(*keys));
	struct st_frag_cval *vals = calloc(ST_DEFRAG_MAX_KEYS, sizeof(*vals));
	struct row *rows = NULL;
	size_t n = 0, nrows = 0;
	uint64_t delta[ST_GC_MAX], pending;
	struct waiting *w = calloc(d->top + 1, sizeof(*w));
	size_t nw = 0;
	char t[16], rb[48];
	int cfd = bpf_map__fd(d->skel->maps.defrag_counters);
	json_object *o = NULL, *fails = NULL, *drops = NULL, *kern = NULL;

	if (keys && vals)
		n = drain(fd, keys, vals);
	for (uint32_t i = 0; i < ST_GC_MAX; i++) {
		uint64_t v = st_local_percpu_sum(cfd, i, d->ncpus);

		delta[i] = v - d->counters[i];
		d->counters[i] = v;
	}
	pending = w ? flows_gc(d, w, &nw) : 0;
	st_local_hms(t, sizeof(t));
	for (size_t i = 0; i < n; i++) {
		struct row *r = row_get(&rows, &nrows, keys[i].netns, keys[i].ifindex);
		uint64_t c = vals[i].count;

		if (!r)
			continue;
		switch (keys[i].kind) {
		case ST_FK_FRAGMENT: r->frags += c; r->bytes += vals[i].bytes; break;
		case ST_FK_COMPLETE: r->complete += c; break;
		case ST_FK_FAILED: r->failed += c; break;
		case ST_FK_DROPPED: r->dropped += c; break;
		case ST_FK_REASSEMBLED: r->reassembled += c; break;
		case ST_FK_EXPIRED: r->expired += c; break;
		case ST_FK_QUEUE_ERROR: r->qerr += c; break;
		}
		if (keys[i].kind == ST_FK_COMPLETE)
			d->complete_total += c;
		if (keys[i].kind == ST_FK_FRAGMENT)
			d->frags_total += c;
		ns_get(d, keys[i].netns);
	}
	if (d->lo.json) {
		json_object *arr = json_object_new_array(), *cnt = json_object_new_object();
		json_object *lost = json_object_new_object();

		o = json_object_new_object();
		fails = json_object_new_array();
		drops = json_object_new_array();
		kern = json_object_new_array();
		json_object_object_add(o, "type", json_object_new_string("interval"));
		json_object_object_add(o, "time", json_object_new_string(t));
		json_object_object_add(o, "unix_s", json_object_new_double(st_real_ns() / 1e9));
		json_object_object_add(o, "interval_s", json_object_new_double(secs));
		for (size_t i = 0; i < nrows; i++) {
			json_object *e = json_object_new_object();
			const struct row *r = &rows[i];

			json_object_object_add(e, "dev", json_object_new_string(st_local_dev_name(r->netns, r->ifindex)));
			json_object_object_add(e, "netns", json_object_new_int64(r->netns));
			json_object_object_add(e, "ifindex", json_object_new_int64(r->ifindex));
			json_object_object_add(e, "fragments", json_object_new_int64(r->frags));
			json_object_object_add(e, "bytes", json_object_new_int64(r->bytes));
			json_object_object_add(e, "complete", json_object_new_int64(r->complete));
			json_object_object_add(e, "failed", json_object_new_int64(r->failed));
			json_object_object_add(e, "dropped", json_object_new_int64(r->dropped));
			json_object_object_add(e, "reassembled", d->hooks[0].attached ?
					       json_object_new_int64(r->reassembled) : NULL);
			json_object_object_add(e, "expired", d->hooks[2].attached ?
					       json_object_new_int64(r->expired) : NULL);
			json_object_object_add(e, "queue_errors", d->hooks[1].attached ?
					       json_object_new_int64(r->qerr) : NULL);
			json_object_array_add(arr, e);
		}
		json_object_object_add(o, "rows", arr);
		json_object_object_add(o, "pending", json_object_new_int64(pending));
		{
			json_object *wa = json_object_new_array();

			print_waiting(d, w, nw, wa, t);
			json_object_object_add(o, "waiting", wa);
		}
		for (int i = 0; i < ST_GC_MAX; i++)
			json_object_object_add(cnt, counter_names[i], json_object_new_int64(delta[i]));
		json_object_object_add(o, "counters", cnt);
		json_object_object_add(lost, "events", json_object_new_int64(delta[ST_GC_RINGBUF_FULL]));
		json_object_object_add(lost, "map_full", json_object_new_int64(delta[ST_GC_MAP_FULL]));
		json_object_object_add(lost, "flow_table_full", json_object_new_int64(delta[ST_GC_FLOW_FULL]));
		json_object_object_add(o, "lost", lost);
	} else {
		printf("%-8s %-24s %9s %10s %8s %6s %7s %11s\n", "TIME", "DEV", "FRAGMENTS", "BYTES",
		       "COMPLETE", "FAILED", "DROPPED", "REASSEMBLED");
		if (!nrows)
			printf("%-8s %-24s %9d %10d %8d %6d %7d %11s\n", t, "-", 0, 0, 0, 0, 0,
			       d->hooks[0].attached ? "0" : "n/a");
		for (size_t i = 0; i < nrows; i++) {
			const struct row *r = &rows[i];
			char re[24] = "n/a";

			if (d->hooks[0].attached)
				snprintf(re, sizeof(re), "%llu", (unsigned long long)r->reassembled);
			printf("%-8s %-24s %9llu %10llu %8llu %6llu %7llu %11s\n", t,
			       st_local_dev_name(r->netns, r->ifindex), (unsigned long long)r->frags,
			       (unsigned long long)r->bytes, (unsigned long long)r->complete,
			       (unsigned long long)r->failed, (unsigned long long)r->dropped, re);
		}
	}
	/* Failures, then drops, by reason. */
	for (size_t j = 0; j < 2 * n; j++) {
		size_t i = j % n;
		uint32_t want = j < n ? ST_FK_FAILED : ST_FK_DROPPED;
		const char *what = want == ST_FK_FAILED ? "failed" : "dropped", *rn;

		if (keys[i].kind != want)
			continue;
		rn = reason_name(d, keys[i].reason, rb, sizeof(rb));
		if (o) {
			json_object *e = json_object_new_object();

			json_object_object_add(e, "reason", json_object_new_string(rn));
			json_object_object_add(e, "reason_code", json_object_new_int64(keys[i].reason));
			json_object_object_add(e, "count", json_object_new_int64(vals[i].count));
			json_object_object_add(e, "netns", json_object_new_int64(keys[i].netns));
			json_object_object_add(e, "dev", json_object_new_string(
				st_local_dev_name(keys[i].netns, keys[i].ifindex)));
			json_object_array_add(keys[i].kind == ST_FK_FAILED ? fails : drops, e);
		} else {
			printf("%-8s   %s %-7s %6llu %s\n", t, st_local_dev_name(keys[i].netns, keys[i].ifindex),
			       what, (unsigned long long)vals[i].count, rn);
		}
	}
	/* The kernel's counters, per namespace, as deltas. */
	for (size_t i = 0; i < d->nns; i++) {
		struct nsstat *s = &d->ns[i];
		uint64_t v[K_N], dv[K_N];
		int any = 0;

		if (!s->ok || ns_read(s->ino, v))
			continue;
		for (int k = 0; k < K_N; k++) {
			dv[k] = v[k] - s->v[k];
			any |= dv[k] != 0;
			s->v[k] = v[k];
		}
		if (!any)
			continue;
		if (o) {
			json_object *e = json_object_new_object();
			const char *nm = st_local_netns_name(s->ino);

			json_object_object_add(e, "netns", json_object_new_int64(s->ino));
			json_object_object_add(e, "name", nm ? json_object_new_string(nm) : NULL);
			for (int k = 0; k < K_N; k++)
				json_object_object_add(e, knames[k], json_object_new_int64(dv[k]));
			json_object_array_add(kern, e);
		} else {
			const char *nm = st_local_netns_name(s->ino);
			char nb[24];

			if (!nm && s->ino == st_local_self_netns()) {
				nm = "(ours)";
			} else if (!nm) {
				snprintf(nb, sizeof(nb), "%u", s->ino);
				nm = nb;
			}
			printf("%-8s   kernel netns %s:", t, nm);
			for (int k = 0; k < K_N; k++)
				printf(" %s +%llu", knames[k], (unsigned long long)dv[k]);
			printf("\n");
		}
	}
	if (o) {
		json_object_object_add(o, "failures", fails);
		json_object_object_add(o, "drops", drops);
		json_object_object_add(o, "kernel", kern);
		json_object_object_add(o, "hooks", st_local_hooks_json(d->hooks, NHOOKS));
		{
			json_object *att = json_object_new_object();

			json_object_object_add(att, "netif_receive_skb", json_object_new_string(d->method[0]));
			json_object_object_add(att, "kfree_skb", json_object_new_string(d->method[1]));
			json_object_object_add(o, "attach", att);
		}
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
	} else {
		if (pending) {
			printf("%-8s   %llu datagram(s) waiting for fragments%s\n", t,
			       (unsigned long long)pending, nw < pending ? " (oldest shown; --top N)" : "");
			print_waiting(d, w, nw, NULL, t);
		}
		if (delta[ST_GC_RINGBUF_FULL] || delta[ST_GC_MAP_FULL] || delta[ST_GC_FLOW_FULL])
			printf("%-8s lost: %llu events (ring full), %llu counts (map full), %llu flows (table full)\n",
			       t, (unsigned long long)delta[ST_GC_RINGBUF_FULL],
			       (unsigned long long)delta[ST_GC_MAP_FULL],
			       (unsigned long long)delta[ST_GC_FLOW_FULL]);
		printf("\n");
	}
	fflush(stdout);
	free(rows);
	free(keys);
	free(vals);
	free(w);
}
