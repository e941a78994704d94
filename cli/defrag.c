// SPDX-License-Identifier: MIT
/*
 * stagetrace defrag: IPv4 fragments per device, datagrams whose fragments
 * all arrived, reassembly failures with the kernel's reason and location,
 * and the kernel's own reassembly counters per network namespace.
 *
 * The BPF side (bpf/defrag.bpf.c) follows every datagram's fragments in a
 * flow table and counts into generation-flipped maps (as drops does), so
 * each count lands in exactly one interval. Failures come as events, one
 * per datagram, and print as they come; with -v every fragment,
 * completion and hook event prints too. Which drop reasons kill a
 * reassembly queue is read from the running kernel's BTF (every
 * skb_drop_reason named FRAG_* or IP_FRAG*), never compiled in.
 *
 * "Complete" is what the wire delivered: every payload byte of the
 * datagram was received. Whether the kernel reassembled it is the
 * kernel's to say: its ReasmOKs counter of the namespace (read from
 * /proc/net/snmp inside it) and, where a kprobe or fexit on ip_defrag
 * attaches, the per-device REASSEMBLED count. Hooks that cannot attach on
 * this kernel are listed as unavailable with the reason.
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
#include <unistd.h>

#include "bpf/defrag.h"
#include "defrag.skel.h"
#include "cli.h"
#include "local.h"
#include "localrun.h"
#include "log.h"
#include "opts.h"
#include "pktfilter.h"
#include "timeutil.h"

#define CMD "stagetrace defrag"
#define DEFRAG_SUPPORTED (ST_LO_INTERVAL | ST_LO_DURATION | ST_LO_COUNT | ST_LO_SRC | \
			  ST_LO_DST | ST_LO_VERBOSE | ST_LO_JSON | ST_LO_NETNS | ST_LO_DEV | \
			  ST_LO_PROTO)
#define NHOOKS 3
#define MAX_NS 256

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

/* The kernel's reassembly counters of one namespace. */
enum { K_REQDS, K_OKS, K_FAILS, K_TIMEOUT, K_OVERLAPS, K_N };
static const char *const knames[K_N] = {
	"ReasmReqds", "ReasmOKs", "ReasmFails", "ReasmTimeout", "ReasmOverlaps",
};

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
	struct nsstat ns[MAX_NS];
	size_t nns;
	uint64_t counters[ST_GC_MAX];
	uint64_t failed_total, complete_total, frags_total;
	int ncpus;
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
static void ns_baseline(struct defrag *d)
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

static int on_event(void *ctx, void *data, size_t size)
{
	static const char *const kinds[] = { "?", "fragment", "complete", "failed",
					     "reassembled", "expired" };
	struct defrag *d = ctx;
	const struct st_frag_event *e = data;
	char t[32], sa[INET_ADDRSTRLEN], da[INET_ADDRSTRLEN], pb[16], rb[48], loc[160];
	const char *dev, *kind, *rn = "", *pn;

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
		printf(" reason=%s loc=%s", rn, loc);
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

/* Pending datagrams; finished flows older than 10 s are forgotten. */
static uint64_t flows_gc(struct defrag *d)
{
	int fd = bpf_map__fd(d->skel->maps.flows);
	struct st_frag_key cur, next, *old = NULL;
	struct st_frag_flow fl;
	uint64_t now = st_mono_ns(), pending = 0;
	size_t nold = 0, capold = 0;
	void *prev = NULL;

	while (!bpf_map_get_next_key(fd, prev, &next)) {
		cur = next;
		prev = &cur;
		if (bpf_map_lookup_elem(fd, &cur, &fl))
			continue;
		if (fl.state == ST_FS_PENDING) {
			pending++;
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

static void report(struct defrag *d, int fd, double secs)
{
	struct st_frag_ckey *keys = calloc(ST_DEFRAG_MAX_KEYS, sizeof(*keys));
	struct st_frag_cval *vals = calloc(ST_DEFRAG_MAX_KEYS, sizeof(*vals));
	struct row *rows = NULL;
	size_t n = 0, nrows = 0;
	uint64_t delta[ST_GC_MAX], pending;
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
	pending = flows_gc(d);
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
	/* Failures and drops by reason. */
	for (size_t i = 0; i < n; i++) {
		const char *what = keys[i].kind == ST_FK_FAILED ? "failed" :
				   keys[i].kind == ST_FK_DROPPED ? "dropped" : NULL, *rn;

		if (!what)
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

			printf("%-8s   kernel netns %s:", t, nm ? nm : "(ours)");
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
		if (pending)
			printf("%-8s   %llu datagram(s) waiting for fragments\n", t, (unsigned long long)pending);
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
}

/* ---- set-up ------------------------------------------------------------------- */

static void hooks_init(struct defrag *d)
{
	struct defrag_bpf *s = d->skel;

	d->hooks[0] = (struct st_local_hook){
		.name = "ip_defrag", .n = 2,
		.alts = { { "fexit", "ip_defrag" }, { "kprobe", "ip_defrag" } },
		.prog = { s->progs.fexit_ip_defrag, s->progs.kprobe_ip_defrag },
		.prog2 = { NULL, s->progs.kretprobe_ip_defrag },
		.ret2 = { 0, 1 },
	};
	d->hooks[1] = (struct st_local_hook){
		.name = "ip_frag_queue", .n = 2,
		.alts = { { "fexit", "ip_frag_queue" }, { "kprobe", "ip_frag_queue" } },
		.prog = { s->progs.fexit_ip_frag_queue, s->progs.kprobe_ip_frag_queue },
		.prog2 = { NULL, s->progs.kretprobe_ip_frag_queue },
		.ret2 = { 0, 1 },
	};
	d->hooks[2] = (struct st_local_hook){
		.name = "ip_expire", .n = 2,
		.alts = { { "fentry", "ip_expire" }, { "kprobe", "ip_expire" } },
		.prog = { s->progs.fentry_ip_expire, s->progs.kprobe_ip_expire },
	};
}

static int setup_bpf(struct defrag *d)
{
	static const char *const tps[2] = { "netif_receive_skb", "kfree_skb" };
	struct st_defrag_cfg cfg = { 0 };
	uint32_t zero = 0;
	uint8_t one = 1;
	size_t used = 0;
	int err;

	for (int i = 0; i < 2; i++) {
		char why[400] = "";

		d->method[i] = d->method_force ? d->method_force : st_probe_best(tps[i], why, sizeof(why));
		if (!d->method[i]) {
			fprintf(stderr, "error: cannot attach to %s: %s\n", tps[i], why);
			return ST_EXIT_FAIL;
		}
	}
	d->skel = defrag_bpf__open();
	if (!d->skel) {
		fprintf(stderr, "error: cannot open the defrag BPF object: %s\n", strerror(errno));
		return ST_EXIT_FAIL;
	}
	bpf_program__set_autoload(d->skel->progs.btf_frag_rx, !strcmp(d->method[0], "tp_btf"));
	bpf_program__set_autoload(d->skel->progs.raw_frag_rx, !strcmp(d->method[0], "raw_tp"));
	bpf_program__set_autoload(d->skel->progs.btf_frag_drop, !strcmp(d->method[1], "tp_btf"));
	bpf_program__set_autoload(d->skel->progs.raw_frag_drop, !strcmp(d->method[1], "raw_tp"));
	hooks_init(d);
	st_local_hooks_plan(d->hooks, NHOOKS);
	if (!d->lo.verbose)
		bpf_map__set_max_entries(d->skel->maps.frag_events, 1 << 18);
	err = defrag_bpf__load(d->skel);
	if (err) {
		fprintf(stderr, "error: loading the defrag BPF programs failed: %s\n", strerror(-err));
		return ST_EXIT_FAIL;
	}
	/* Reasons that kill a reassembly queue, by name from the kernel's BTF. */
	for (size_t i = 0; d->have_reasons && i < d->reasons.n; i++) {
		const char *nm = d->reasons.v[i].name;
		uint32_t v = (uint32_t)d->reasons.v[i].val;

		if (strncmp(nm, "FRAG_", 5) && strncmp(nm, "IP_FRAG", 7))
			continue;
		bpf_map_update_elem(bpf_map__fd(d->skel->maps.fail_reasons), &v, &one, BPF_ANY);
		used += snprintf(d->fail_names + used, used < sizeof(d->fail_names) ?
				 sizeof(d->fail_names) - used : 0, "%s%s", used ? ", " : "", nm);
	}
	if (!used)
		snprintf(d->fail_names, sizeof(d->fail_names), "none (the kernel's BTF names no FRAG_* drop reason)");
	if (d->lo.netns_set) {
		cfg.flags |= ST_FG_NETNS;
		bpf_map_update_elem(bpf_map__fd(d->skel->maps.frag_netns), &d->lo.netns_ino, &one, BPF_ANY);
	}
	if (d->lo.dev_set) {
		struct st_frag_dev dk = { d->lo.dev_netns, d->lo.dev_ifindex };

		cfg.flags |= ST_FG_DEV;
		bpf_map_update_elem(bpf_map__fd(d->skel->maps.frag_devs), &dk, &one, BPF_ANY);
	}
	st_pkt_filter_set(&cfg.pf, d->lo.proto_set ? d->lo.proto_num : 0, 0, 0,
			  &d->lo.src, &d->lo.dst, 0);
	if (d->lo.verbose)
		cfg.flags |= ST_FG_EVENTS;
	if (bpf_map_update_elem(bpf_map__fd(d->skel->maps.defrag_cfg), &zero, &cfg, BPF_ANY)) {
		fprintf(stderr, "error: cannot configure the defrag BPF programs: %s\n", strerror(errno));
		return ST_EXIT_FAIL;
	}
	d->rb = ring_buffer__new(bpf_map__fd(d->skel->maps.frag_events), on_event, d, NULL);
	if (!d->rb) {
		fprintf(stderr, "error: cannot open the defrag event ring buffer: %s\n", strerror(errno));
		return ST_EXIT_FAIL;
	}
	{
		struct bpf_program *p[4] = { d->skel->progs.btf_frag_rx, d->skel->progs.raw_frag_rx,
					     d->skel->progs.btf_frag_drop, d->skel->progs.raw_frag_drop };

		/* One by one: the hook programs attach through their plans. */
		for (int i = 0; i < 4; i++) {
			if (!bpf_program__autoload(p[i]))
				continue;
			d->tp_links[i] = bpf_program__attach(p[i]);
			if (!d->tp_links[i]) {
				fprintf(stderr, "error: attaching %s failed: %s\n", bpf_program__name(p[i]),
					strerror(errno));
				return ST_EXIT_FAIL;
			}
		}
	}
	st_local_hooks_attach(d->hooks, NHOOKS);
	return 0;
}

/*
 * --check-hooks: every alternative program of every hook through the
 * verifier, one load each; exit 0 when each hook has one that loads.
 */
static int check_hooks(struct defrag *d)
{
	int missing = 0;

	if (!d->lo.json)
		printf("%-20s %-10s %-24s %-28s %s\n", "HOOK", "METHOD", "TARGET", "PROGRAM", "LOAD");
	for (size_t i = 0; i < NHOOKS; i++) {
		int any = 0;

		for (size_t a = 0; ; a++) {
			int err;

			d->skel = defrag_bpf__open();
			if (!d->skel)
				return ST_EXIT_FAIL;
			hooks_init(d);
			if (a >= d->hooks[i].n) {
				defrag_bpf__destroy(d->skel);
				d->skel = NULL;
				break;
			}
			st_local_hook_only(d->skel->obj, &d->hooks[i], a);
			err = defrag_bpf__load(d->skel);
			st_local_hook_check_print(&d->hooks[i], a, err, d->lo.json);
			any |= !err;
			defrag_bpf__destroy(d->skel);
			d->skel = NULL;
		}
		missing += !any;
	}
	return missing ? ST_EXIT_FAIL : ST_EXIT_OK;
}

static int run(struct defrag *d)
{
	uint64_t start = st_mono_ns(), end = 0, last = start, sched = start;
	uint64_t step = (uint64_t)(d->lo.interval * 1e9);
	uint32_t gen = 0, done = 0;

	if (d->lo.duration > 0)
		end = start + (uint64_t)(d->lo.duration * 1e9);
	if (!d->lo.json) {
		char hb[900];

		fprintf(stderr, "Tracing IPv4 fragments (netif_receive_skb %s, kfree_skb %s); "
			"reassembly failure reasons: %s\n", d->method[0], d->method[1], d->fail_names);
		for (int i = 0; i < NHOOKS; i++)
			fprintf(stderr, "  hook %s: %s\n", d->hooks[i].name,
				st_local_hook_status(&d->hooks[i], hb, sizeof(hb)));
		fprintf(stderr, "Ctrl-C to end.\n");
	}
	for (;;) {
		uint64_t next, now;
		int fd;

		sched += step;
		if (sched < st_mono_ns())
			sched = st_mono_ns() + step;
		next = end && sched > end ? end : sched;
		while (st_mono_ns() < next && !st_local_stop)
			st_local_wait(next, d->rb, 100);
		now = st_mono_ns();
		fd = bpf_map__fd(gen & 1 ? d->skel->maps.counts1 : d->skel->maps.counts0);
		gen++;
		__atomic_store_n(&d->skel->bss->defrag_gen, gen, __ATOMIC_SEQ_CST);
		usleep(2000);
		ring_buffer__consume(d->rb);
		report(d, fd, (now - last) / 1e9);
		last = now;
		done++;
		if (st_local_stop || (d->lo.count && done >= d->lo.count) || (end && now >= end))
			break;
	}
	return 0;
}

int cmd_defrag(int argc, char **argv)
{
	static const struct st_cmd_help help = {
		.name = CMD,
		.summary = "IPv4 fragments per device, complete datagrams, reassembly failures with reasons.",
		.description =
"Counts IPv4 fragments received (net:netif_receive_skb) per device and\n"
"follows each datagram (source, destination, IP id, protocol, netns):\n"
"COMPLETE when every payload byte arrived, FAILED when the kernel killed its\n"
"reassembly queue, with the drop reason (skb:kfree_skb; the running\n"
"kernel's FRAG_* reasons, e.g. FRAG_REASM_TIMEOUT, FRAG_TOO_FAR) and the\n"
"location. DROPPED counts fragments dropped for any reason. Failed\n"
"datagrams print one line each as they happen; -v prints every fragment\n"
"too. Every interval also prints the kernel's reassembly counters of each\n"
"namespace that moved (ReasmReqds, ReasmOKs, ReasmFails, ReasmTimeout from\n"
"/proc/net/snmp, ReasmOverlaps from /proc/net/netstat).\n"
"REASSEMBLED per device needs a hook on ip_defrag (fexit or kprobe); hooks\n"
"on ip_frag_queue and ip_expire add queue errors and timer runs. Each is\n"
"used where it attaches and reported unavailable, with the reason,\n"
"elsewhere. Replaces linux-network-stack/trace_ip_defrag.py.",
		.examples =
"  stagetrace defrag\n"
"  stagetrace defrag --netns hv1 --proto udp -v\n"
"  stagetrace defrag --src-ip 10.0.0.0/24 --json -c 10",
	};
	struct defrag d = { 0 };
	int check = 0;
	struct st_opt opts[ST_LOCAL_NOPTS + 3];
	size_t no = 0;
	int rc, ec;

	st_local_opts_init(&d.lo);
	st_local_opts_table(&d.lo, DEFRAG_SUPPORTED, opts, &no, sizeof(opts) / sizeof(opts[0]) - 2);
	opts[no++] = (struct st_opt){ "method", 0, ST_OPT_STR, &d.method_force,
				      "tp_btf|raw_tp", "attach method of the tracepoints (default: probed)" };
	opts[no++] = (struct st_opt){ "check-hooks", 0, ST_OPT_FLAG, &check, NULL,
				      "load each hook program through the verifier (no attach), report, exit" };
	opts[no] = (struct st_opt)ST_OPT_END;
	if (st_opts_parse_noargs(argc, argv, opts, &help, &ec))
		return ec;
	if ((rc = st_local_validate(&d.lo, DEFRAG_SUPPORTED, CMD)))
		return rc;
	if (d.method_force && strcmp(d.method_force, "tp_btf") && strcmp(d.method_force, "raw_tp")) {
		fprintf(stderr, "error: --method: invalid value '%s' (expected tp_btf or raw_tp)\n",
			d.method_force);
		return ST_EXIT_USAGE;
	}
	if ((rc = st_local_require_root(CMD)))
		return rc;
	st_log_route_libbpf();
	d.ncpus = libbpf_num_possible_cpus();
	if (d.ncpus <= 0) {
		fprintf(stderr, "error: cannot count CPUs: %s\n", strerror(-d.ncpus));
		return ST_EXIT_FAIL;
	}
	d.have_ksyms = !st_ksyms_load(&d.ksyms);
	if (!d.have_ksyms)
		pr_warn("cannot read /proc/kallsyms; locations are printed as addresses");
	d.have_reasons = !st_btf_enum_load("skb_drop_reason", "SKB_DROP_REASON_", &d.reasons);
	if (!d.have_reasons)
		pr_warn("no enum skb_drop_reason in the kernel's BTF; failures cannot be told from drops");
	if (check) {
		rc = check_hooks(&d);
		goto out;
	}
	ns_baseline(&d);
	rc = setup_bpf(&d);
	if (!rc) {
		st_local_signals();
		rc = run(&d);
		if (!d.lo.json)
			fprintf(stderr, "defrag: %llu fragments, %llu datagrams complete, %llu failed; "
				"lost: %llu events, %llu counts, %llu flows\n",
				(unsigned long long)d.frags_total, (unsigned long long)d.complete_total,
				(unsigned long long)d.failed_total,
				(unsigned long long)d.counters[ST_GC_RINGBUF_FULL],
				(unsigned long long)d.counters[ST_GC_MAP_FULL],
				(unsigned long long)d.counters[ST_GC_FLOW_FULL]);
	}
out:
	st_local_hooks_destroy(d.hooks, NHOOKS);
	for (int i = 0; i < 4; i++)
		bpf_link__destroy(d.tp_links[i]);
	ring_buffer__free(d.rb);
	defrag_bpf__destroy(d.skel);
	if (d.have_ksyms)
		st_ksyms_free(&d.ksyms);
	if (d.have_reasons)
		st_enum_names_free(&d.reasons);
	st_local_dev_names_free();
	return rc;
}
