// SPDX-License-Identifier: MIT
/*
 * stagetrace latency, output side: each host path is classified (which
 * direction, whether the mode shows it), printed as one packet block with
 * -v, and its segment times are added to this interval's histograms. At
 * the end of an interval the histograms are printed (text, or one JSON
 * line) together with what the BPF side and the sweep could not match or
 * record, so a short count is never silent.
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "latency_int.h"
#include "localrun.h"
#include "stage_names.h"
#include "stages.skel.h"
#include "timeutil.h"

static const char *const dir_names[LAT_NDIR] = {
	[LAT_TX] = "tx", [LAT_RX] = "rx", [LAT_FWD] = "fwd",
	[LAT_FROM_VM] = "from_vm", [LAT_TO_VM] = "to_vm",
};

const char *lat_dir_name(unsigned dir)
{
	return dir < LAT_NDIR ? dir_names[dir] : "?";
}

static int is_rx_hook(unsigned h)
{
	return h == ST_HOOK_NETIF_RX || h == ST_HOOK_NAPI_GRO_RX ||
	       h == ST_HOOK_NETIF_RECEIVE_SKB ||
	       /* guest virtio-net: the RX interrupt and poll open the path */
	       h == ST_HOOK_VIRTIO_IRQ || h == ST_HOOK_VIRTIO_POLL;
}

/*
 * Which direction a path goes, or -1 when the mode does not show it. A
 * path that touched a VM tap belongs to --vm (from_vm when the tap is
 * where it entered); every other path to --host: tx when it started at a
 * device queue (sent by this host), rx when it started at a receive hook
 * and never reached a transmit hook, fwd when it did (routed or bridged).
 */
static int classify(const struct lat *l, const struct st_path *p)
{
	int vm = 0, xmit = 0;
	unsigned first = p->stamps[0].hook;

	for (unsigned i = 0; i < p->nstamps; i++) {
		if (p->stamps[i].role == ST_ROLE_VM)
			vm = 1;
		if (p->stamps[i].hook == ST_HOOK_NET_DEV_QUEUE ||
		    p->stamps[i].hook == ST_HOOK_NET_DEV_START_XMIT)
			xmit = 1;
	}
	if (l->mode == LAT_VM)
		return !vm ? -1 : p->stamps[0].role == ST_ROLE_VM ? LAT_FROM_VM : LAT_TO_VM;
	if (vm)
		return -1;
	if (!is_rx_hook(first))
		return LAT_TX;
	return xmit ? LAT_FWD : LAT_RX;
}

static struct lat_seg *seg_get(struct lat *l, unsigned dir, uint32_t from, uint32_t to, int total)
{
	struct lat_seg *s;

	for (size_t i = 0; i < l->nsegs; i++) {
		s = &l->segs[i];
		if (s->dir == dir && s->from == from && s->to == to && s->total == total)
			return s;
	}
	s = realloc(l->segs, (l->nsegs + 1) * sizeof(*s));
	if (!s)
		return NULL;
	l->segs = s;
	s = &l->segs[l->nsegs++];
	s->dir = (uint8_t)dir;
	s->from = from;
	s->to = to;
	s->total = total;
	s->seq = (uint32_t)l->nsegs;
	st_hist_init(&s->h);
	return s;
}

static uint32_t stamp_stage(const struct st_stamp *s)
{
	return st_stage_id(s->hook, s->role);
}

/* "udp 10.0.0.1:5000 -> 10.0.0.2:9000 id=4711" */
static const char *flow_str(const struct st_pkt_key *k, char *buf, size_t len)
{
	char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN], disc[48];

	inet_ntop(AF_INET, &k->saddr, a, sizeof(a));
	inet_ntop(AF_INET, &k->daddr, b, sizeof(b));
	if (k->proto == 6)
		snprintf(disc, sizeof(disc), "seq=%u len=%u", k->disc1, k->disc2);
	else if (k->proto == 1)
		snprintf(disc, sizeof(disc), "icmp_seq=%u", k->disc1);
	else
		snprintf(disc, sizeof(disc), "id=%u", k->disc1 >> 16);
	snprintf(buf, len, "%s %s:%u -> %s:%u %s",
		 k->proto == 6 ? "tcp" : k->proto == 17 ? "udp" : k->proto == 1 ? "icmp" : "ip",
		 a, ntohs(k->sport), b, ntohs(k->dport), disc);
	return buf;
}

static const char *stamp_dev(const struct st_path *p, const struct st_stamp *s)
{
	/* A socket read carries no device (see bpf/stages.bpf.c). */
	if (!s->ifindex)
		return "socket";
	return st_local_dev_name(p->netns, s->ifindex);
}

static void print_packet(const struct lat *l, const struct st_path *p, unsigned dir)
{
	uint64_t t0 = p->stamps[0].ts, tl = p->stamps[p->nstamps - 1].ts;
	char tm[32], flow[160];

	st_local_mono_hms(t0, tm, sizeof(tm));
	flow_str(&p->key, flow, sizeof(flow));
	if (l->lo.json) {
		json_object *o = json_object_new_object(), *arr = json_object_new_array();

		json_object_object_add(o, "type", json_object_new_string("packet"));
		json_object_object_add(o, "time", json_object_new_string(tm));
		json_object_object_add(o, "dir", json_object_new_string(lat_dir_name(dir)));
		json_object_object_add(o, "flow", json_object_new_string(flow));
		json_object_object_add(o, "pkt_id", json_object_new_uint64(p->pkt_id));
		json_object_object_add(o, "end", json_object_new_string(st_end_name(p->end)));
		for (unsigned i = 0; i < p->nstamps; i++) {
			const struct st_stamp *s = &p->stamps[i];
			json_object *e = json_object_new_object();

			json_object_object_add(e, "stage", json_object_new_string(
						       st_stage_name(stamp_stage(s))));
			json_object_object_add(e, "dev", json_object_new_string(stamp_dev(p, s)));
			json_object_object_add(e, "delta_us", json_object_new_double(
						       i ? (s->ts - p->stamps[i - 1].ts) / 1e3 : 0));
			/* The raw stamp, so that stamps of several packets can
			 * be compared (one interrupt covers a batch). */
			json_object_object_add(e, "ts_ns", json_object_new_uint64(s->ts));
			if (s->aux)
				json_object_object_add(e, "aux", json_object_new_int(s->aux));
			json_object_array_add(arr, e);
		}
		json_object_object_add(o, "stages", arr);
		json_object_object_add(o, "total_us", json_object_new_double((tl - t0) / 1e3));
		json_object_object_add(o, "overflow", json_object_new_int(p->overflow));
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
		return;
	}
	printf("%s %s %s %s%s\n", tm, lat_dir_name(dir), flow, st_end_name(p->end),
	       p->overflow ? " (stamps lost: path longer than the record)" : "");
	for (unsigned i = 0; i < p->nstamps; i++) {
		const struct st_stamp *s = &p->stamps[i];

		if (i)
			printf("  %-14s %-24s %10.1f us\n", st_stage_name(stamp_stage(s)),
			       stamp_dev(p, s), (s->ts - p->stamps[i - 1].ts) / 1e3);
		else
			printf("  %-14s %-24s %10s\n", st_stage_name(stamp_stage(s)),
			       stamp_dev(p, s), "start");
	}
	printf("  %-14s %-24s %10.1f us\n", "total", "", (tl - t0) / 1e3);
}

void lat_path(struct lat *l, const struct st_path *p)
{
	int dir;

	if (p->nstamps == 0 || p->nstamps > ST_MAX_STAMPS)
		return;
	l->paths++;
	l->t_paths++;
	dir = classify(l, p);
	if (dir < 0) {
		l->other_mode++;
		return;
	}
	l->shown++;
	l->t_shown++;
	l->dirs[dir]++;
	if (p->end <= ST_END_TIMEOUT)
		l->ends[p->end]++;
	if (p->end == ST_END_TIMEOUT)
		l->t_timeout++;
	if (l->lo.verbose)
		print_packet(l, p, (unsigned)dir);
	/* A path that never ended still measured its segments; only its
	 * total would be wrong (counted as unmatched above, no total). */
	if (p->nstamps < 2)
		return;
	for (unsigned i = 1; i < p->nstamps; i++) {
		struct lat_seg *s = seg_get(l, (unsigned)dir, stamp_stage(&p->stamps[i - 1]),
					    stamp_stage(&p->stamps[i]), 0);

		if (s && p->stamps[i].ts >= p->stamps[i - 1].ts)
			st_hist_add(&s->h, p->stamps[i].ts - p->stamps[i - 1].ts);
	}
	if (p->end != ST_END_TIMEOUT) {
		struct lat_seg *s = seg_get(l, (unsigned)dir, stamp_stage(&p->stamps[0]),
					    stamp_stage(&p->stamps[p->nstamps - 1]), 1);

		if (s)
			st_hist_add(&s->h, p->stamps[p->nstamps - 1].ts - p->stamps[0].ts);
	}
}

/* Segments by direction, then as they were first seen, totals last. */
static int seg_cmp(const void *a, const void *b)
{
	const struct lat_seg *x = a, *y = b;

	if (x->dir != y->dir)
		return x->dir < y->dir ? -1 : 1;
	if (x->total != y->total)
		return x->total - y->total;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void read_counters(struct lat *l, uint64_t delta[ST_C_MAX])
{
	int fd = bpf_map__fd(l->skel->maps.counters);

	for (uint32_t i = 0; i < ST_C_MAX; i++) {
		uint64_t v = st_local_percpu_sum(fd, i, l->ncpus);

		delta[i] = v >= l->counters[i] ? v - l->counters[i] : 0;
		l->counters[i] = v;
	}
}

static json_object *ju(uint64_t v)
{
	return json_object_new_uint64(v);
}

static void report_json(struct lat *l, const uint64_t *d, uint64_t miss, double secs,
			const char *t)
{
	json_object *o = json_object_new_object(), *ends = json_object_new_object();
	json_object *dirs = json_object_new_object(), *um = json_object_new_object();
	json_object *lost = json_object_new_object(), *segs = json_object_new_array();

	json_object_object_add(o, "type", json_object_new_string("interval"));
	json_object_object_add(o, "mode", json_object_new_string(l->mode == LAT_VM ? "vm" : "host"));
	json_object_object_add(o, "time", json_object_new_string(t));
	json_object_object_add(o, "unix_s", json_object_new_double(st_real_ns() / 1e9));
	json_object_object_add(o, "interval_s", json_object_new_double(secs));
	json_object_object_add(o, "devices", ju(l->ndevs));
	if (l->mode == LAT_VM)
		json_object_object_add(o, "vm_devices", ju(l->nvm));
	json_object_object_add(o, "paths", ju(l->shown));
	json_object_object_add(o, "paths_other_mode", ju(l->other_mode));
	for (unsigned i = 0; i < LAT_NDIR; i++)
		if ((l->mode == LAT_VM) == (i >= LAT_FROM_VM))
			json_object_object_add(dirs, lat_dir_name(i), ju(l->dirs[i]));
	json_object_object_add(o, "dirs", dirs);
	for (unsigned e = ST_END_LEFT; e <= ST_END_TIMEOUT; e++)
		json_object_object_add(ends, st_end_name(e), ju(l->ends[e]));
	json_object_object_add(o, "ends", ends);
	json_object_object_add(um, "timed_out", ju(l->ends[ST_END_TIMEOUT]));
	json_object_object_add(um, "end_without_path", ju(d[ST_C_END_NO_PATH]));
	json_object_object_add(o, "unmatched", um);
	json_object_object_add(lost, "ringbuf_full", ju(d[ST_C_RINGBUF_FULL]));
	json_object_object_add(lost, "path_map_full", ju(d[ST_C_LRU_FAIL]));
	json_object_object_add(lost, "stamps_overflow", ju(d[ST_C_STAMP_OVERFLOW]));
	json_object_object_add(lost, "xmit_errors", ju(d[ST_C_XMIT_ERRORS]));
	json_object_object_add(lost, "prog_busy", ju(miss));
	json_object_object_add(o, "lost", lost);
	{
		static const char *const cn[] = {
			"hook_calls", "filtered_netns", "filtered_dev", "filtered_unparsed",
			"filtered_headers", "sampled_out", "paths_opened", "stamps",
			"stamps_overflow", "paths_emitted", "ringbuf_full", "path_map_full",
			"end_without_path", "xmit_errors", "upcall_held",
			"virtio_rx_without_irq", "virtio_rx_without_poll",
			"virtio_rx_stale_poll", "virtio_tx_unfinished",
			"vhost_rx_held", "vhost_rx_hold_full", "vhost_rx_injected",
			"irq_injections", "vhost_rx_signal_suppressed", "vhost_rx_not_used",
			"vhost_rx_path_gone", "irq_wakeups_in_vhost_rx",
			"irq_wakeups_other_eventfd", "irq_wakeups_nothing_held",
			"irq_wakeups",
		};
		_Static_assert(sizeof(cn) / sizeof(cn[0]) == ST_C_MAX, "a name per counter");
		json_object *bc = json_object_new_object();

		for (unsigned i = 0; i < ST_C_MAX; i++)
			json_object_object_add(bc, cn[i], ju(d[i]));
		json_object_object_add(o, "bpf", bc);
	}
	for (size_t i = 0; i < l->nsegs; i++) {
		const struct lat_seg *s = &l->segs[i];
		json_object *e = json_object_new_object();

		json_object_object_add(e, "dir", json_object_new_string(lat_dir_name(s->dir)));
		json_object_object_add(e, "from", json_object_new_string(st_stage_name(s->from)));
		json_object_object_add(e, "to", json_object_new_string(
					       s->total ? "total" : st_stage_name(s->to)));
		if (s->total)
			json_object_object_add(e, "last", json_object_new_string(st_stage_name(s->to)));
		json_object_object_add(e, "latency", st_local_hist_json(&s->h));
		json_object_array_add(segs, e);
	}
	json_object_object_add(o, "segments", segs);
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
}

static void report_text(struct lat *l, const uint64_t *d, uint64_t miss, const char *t)
{
	printf("%s %llu packets", t, (unsigned long long)l->shown);
	for (unsigned i = 0; i < LAT_NDIR; i++)
		if ((l->mode == LAT_VM) == (i >= LAT_FROM_VM))
			printf(", %s %llu", lat_dir_name(i), (unsigned long long)l->dirs[i]);
	printf(" | ends:");
	for (unsigned e = ST_END_LEFT; e < ST_END_TIMEOUT; e++)
		printf(" %s %llu", st_end_name(e), (unsigned long long)l->ends[e]);
	printf("\n%s unmatched: %llu timed out (no end within %.1f s), %llu end stamps without an"
	       " open path (normal: the free after a read) | lost: %llu ring full, %llu path map"
	       " full, %llu stamps (path too long), %llu stamps (program busy on that CPU)\n",
	       t, (unsigned long long)l->ends[ST_END_TIMEOUT], l->timeout_s,
	       (unsigned long long)d[ST_C_END_NO_PATH], (unsigned long long)d[ST_C_RINGBUF_FULL],
	       (unsigned long long)d[ST_C_LRU_FAIL], (unsigned long long)d[ST_C_STAMP_OVERFLOW],
	       (unsigned long long)miss);
	if (l->lo.verbose)
		return;
	for (size_t i = 0; i < l->nsegs; i++) {
		const struct lat_seg *s = &l->segs[i];

		if (s->total)
			printf("\n%s total (%s -> %s):\n", lat_dir_name(s->dir),
			       st_stage_name(s->from), st_stage_name(s->to));
		else
			printf("\n%s %s -> %s:\n", lat_dir_name(s->dir), st_stage_name(s->from),
			       st_stage_name(s->to));
		st_local_hist_print(&s->h, "  ");
	}
	printf("\n");
}

void lat_report(struct lat *l, double secs)
{
	uint64_t d[ST_C_MAX], miss, total;
	char t[16];

	read_counters(l, d);
	/* Runs the kernel skipped (recursion on one CPU): each is a stamp
	 * missing from some path, on any traffic the programs see. */
	total = st_stage_misses(l->skel->obj);
	miss = total >= l->misses ? total - l->misses : 0;
	l->misses = total;
	st_local_hms(t, sizeof(t));
	if (l->nsegs)
		qsort(l->segs, l->nsegs, sizeof(*l->segs), seg_cmp);
	if (l->lo.json)
		report_json(l, d, miss, secs, t);
	else
		report_text(l, d, miss, t);
	fflush(stdout);
	free(l->segs);
	l->segs = NULL;
	l->nsegs = 0;
	l->paths = l->shown = l->other_mode = 0;
	memset(l->ends, 0, sizeof(l->ends));
	memset(l->dirs, 0, sizeof(l->dirs));
}

void lat_print_hooks(const struct lat *l)
{
	if (l->lo.json) {
		json_object *o = json_object_new_object(), *arr = json_object_new_array();

		json_object_object_add(o, "type", json_object_new_string("hooks"));
		for (unsigned h = 1; h < ST_HOOK_MAX; h++) {
			const struct st_probe *p = &l->probes[h];
			json_object *e = json_object_new_object();

			json_object_object_add(e, "hook", json_object_new_string(st_hook_name(h)));
			json_object_object_add(e, "status", json_object_new_string(p->status));
			json_object_object_add(e, "method", p->method ?
					       json_object_new_string(p->method) : NULL);
			json_object_object_add(e, "reason", json_object_new_string(p->reason));
			json_object_array_add(arr, e);
		}
		json_object_object_add(o, "hooks", arr);
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		fflush(stdout);
		json_object_put(o);
		return;
	}
	for (unsigned h = 1; h < ST_HOOK_MAX; h++) {
		const struct st_probe *p = &l->probes[h];

		if (strcmp(p->status, "attached"))
			fprintf(stderr, "unavailable: %s (%s): %s\n", st_hook_name(h),
				st_stage_name(st_stage_id(h, ST_ROLE_OTHER)), p->reason);
	}
}
