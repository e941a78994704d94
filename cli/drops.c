// SPDX-License-Identifier: MIT
/*
 * stagetrace drops: every packet the kernel drops, counted per location
 * (symbol+offset), reason (the running kernel's enum name), network
 * namespace and device, optionally per kernel stack, one table per
 * interval; or one event line per drop with -v.
 *
 * The BPF side (bpf/drops.bpf.c) counts into one of two maps chosen by a
 * generation number. At the end of an interval this side flips the
 * generation, waits a moment for programs already running to finish, and
 * drains the map nobody writes to any more: no drop is counted twice or
 * lost between intervals. Names are resolved here, never in the kernel:
 * locations through /proc/kallsyms, reasons through the kernel's BTF
 * (enum skb_drop_reason), devices per (netns, ifindex). What the BPF side
 * could not count (full maps, full ring) is read from its counters and
 * printed with every interval.
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "attach_probe.h"
#include "cli.h"
#include "bpf/drops.h"
#include "drops.skel.h"
#include "local.h"
#include "localrun.h"
#include "log.h"
#include "opts.h"
#include "pktfilter.h"
#include "timeutil.h"

#define CMD "stagetrace drops"
#define DROPS_SUPPORTED (ST_LO_ALL & ~(ST_LO_PID | ST_LO_VM))

static const char *const counter_names[ST_DC_MAX] = {
	[ST_DC_CALLS] = "calls",
	[ST_DC_FILTER_NETNS] = "filtered_netns",
	[ST_DC_FILTER_DEV] = "filtered_dev",
	[ST_DC_PARSE_SKIP] = "filtered_unparsed",
	[ST_DC_FILTER_L34] = "filtered_headers",
	[ST_DC_COUNTED] = "counted",
	[ST_DC_MAP_FULL] = "lost_map_full",
	[ST_DC_STACK_FAIL] = "lost_stack",
	[ST_DC_RINGBUF_FULL] = "lost_events",
};

struct drops {
	struct st_local_opts lo;
	int stacks;
	uint32_t top;
	const char *method_force;
	const char *method;
	struct drops_bpf *skel;
	struct ring_buffer *rb;
	struct st_ksyms ksyms;
	int have_ksyms;
	struct st_enum_names reasons;
	int have_reasons;
	/* --ovs: only drops in the openvswitch module or with one of its
	 * reasons (subsystem ovs_subsys, names from its BTF). */
	int ovs;
	int64_t ovs_subsys;		/* -1: the kernel has no such subsystem */
	struct st_enum_names ovs_reasons;
	int have_ovs_reasons;
	uint64_t ovs_skipped;
	uint64_t counters[ST_DC_MAX];	/* totals read so far */
	uint64_t events;
	int ncpus;
};

/* One row of an interval: keys and counts drained from the BPF map. */
struct row {
	struct st_drop_key k;
	struct st_drop_val v;
};

static const char *reason_name(struct drops *d, uint32_t r, char *buf, size_t len)
{
	const char *n = d->have_reasons ? st_enum_name(&d->reasons, r) : NULL;

	if (n)
		return n;
	if (d->have_ovs_reasons && (n = st_enum_name(&d->ovs_reasons, r)) != NULL)
		return n;
	/* Subsystem reasons (mac80211, openvswitch, ...) carry the
	 * subsystem in the upper 16 bits and live in other enums. */
	if (r >> 16)
		snprintf(buf, len, "SUBSYS%u:%u", r >> 16, r & 0xffff);
	else
		snprintf(buf, len, "reason%u", r);
	return buf;
}

static const char *location_name(struct drops *d, uint64_t a, char *buf, size_t len)
{
	return st_ksyms_fmt(d->have_ksyms ? &d->ksyms : NULL, a, buf, len);
}

/*
 * The frames of a stack id, symbolised, into a JSON array or stdout. The
 * stack is taken inside the tracepoint, so its first frames are the BPF
 * program, the tracing trampoline and kfree_skb itself: they are cut off
 * up to the frame of the drop location (the caller of kfree_skb), which is
 * where the stack starts to say something. When the location is not in
 * the stack, every frame is kept.
 */
static int stack_frames(struct drops *d, int32_t id, uint64_t location,
			json_object *arr, const char *indent)
{
	uint64_t ips[ST_DROPS_STACK_DEPTH] = { 0 };
	char buf[256];
	int n = 0, first = 0;

	if (id < 0 || bpf_map_lookup_elem(bpf_map__fd(d->skel->maps.drop_stacks),
					  &id, ips))
		return 0;
	for (int i = 0; i < ST_DROPS_STACK_DEPTH && ips[i]; i++)
		if (ips[i] == location) {
			first = i;
			break;
		}
	for (int i = first; i < ST_DROPS_STACK_DEPTH && ips[i]; i++, n++) {
		location_name(d, ips[i], buf, sizeof(buf));
		if (arr)
			json_object_array_add(arr, json_object_new_string(buf));
		else
			printf("%s%s\n", indent, buf);
	}
	return n;
}

static const char *proto_name(uint8_t p, char *buf, size_t len)
{
	switch (p) {
	case 1: return "icmp";
	case 6: return "tcp";
	case 17: return "udp";
	}
	snprintf(buf, len, "proto%u", p);
	return buf;
}

/* --ovs: a drop inside the openvswitch module, or with an OVS reason. */
static int ovs_drop(struct drops *d, uint64_t location, uint32_t reason)
{
	const struct st_ksym *s = d->have_ksyms ? st_ksyms_find(&d->ksyms, location) : NULL;

	if (d->ovs_subsys > 0 && (int64_t)(reason >> 16) == d->ovs_subsys)
		return 1;
	return s && s->module && !strcmp(s->module, "openvswitch");
}

/* ---- verbose mode: one line per drop ------------------------------------ */

static int on_event(void *ctx, void *data, size_t size)
{
	struct drops *d = ctx;
	const struct st_drop_event *e = data;
	char t[32], rb[32], loc[256], pb[16], sa[INET_ADDRSTRLEN], da[INET_ADDRSTRLEN];
	char comm[sizeof(e->comm) + 1];
	const char *dev, *rn;

	if (size < sizeof(*e))
		return 0;
	if (d->ovs && !ovs_drop(d, e->location, e->reason)) {
		d->ovs_skipped++;
		return 0;
	}
	d->events++;
	memcpy(comm, e->comm, sizeof(e->comm));
	comm[sizeof(e->comm)] = '\0';
	st_local_mono_hms(e->ts, t, sizeof(t));
	rn = reason_name(d, e->reason, rb, sizeof(rb));
	location_name(d, e->location, loc, sizeof(loc));
	dev = st_local_dev_name(e->netns, e->ifindex);
	inet_ntop(AF_INET, &e->key.saddr, sa, sizeof(sa));
	inet_ntop(AF_INET, &e->key.daddr, da, sizeof(da));
	if (d->lo.json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "type", json_object_new_string("event"));
		json_object_object_add(o, "time", json_object_new_string(t));
		json_object_object_add(o, "pid", json_object_new_int64(e->pid));
		json_object_object_add(o, "comm", json_object_new_string(comm));
		json_object_object_add(o, "event", json_object_new_string("drop"));
		json_object_object_add(o, "cpu", json_object_new_int64(e->cpu));
		json_object_object_add(o, "reason", json_object_new_string(rn));
		json_object_object_add(o, "reason_code", json_object_new_int64(e->reason));
		json_object_object_add(o, "location", json_object_new_string(loc));
		json_object_object_add(o, "netns", json_object_new_int64(e->netns));
		json_object_object_add(o, "ifindex", json_object_new_int64(e->ifindex));
		json_object_object_add(o, "dev", json_object_new_string(dev));
		json_object_object_add(o, "len", json_object_new_int64(e->len));
		if (e->keyed) {
			json_object_object_add(o, "proto", json_object_new_string(
				proto_name(e->key.proto, pb, sizeof(pb))));
			json_object_object_add(o, "src", json_object_new_string(sa));
			json_object_object_add(o, "dst", json_object_new_string(da));
			if (e->key.proto == 6 || e->key.proto == 17) {
				json_object_object_add(o, "sport", json_object_new_int(ntohs(e->key.sport)));
				json_object_object_add(o, "dport", json_object_new_int(ntohs(e->key.dport)));
			}
		}
		if (d->stacks) {
			json_object *fr = json_object_new_array();

			stack_frames(d, e->stack_id, e->location, fr, NULL);
			json_object_object_add(o, "frames", fr);
		}
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
		return 0;
	}
	printf("%s %-7u %-16s %-5s reason=%s loc=%s dev=%s len=%u", t, e->pid, comm,
	       "drop", rn, loc, dev, e->len);
	if (e->keyed && (e->key.proto == 6 || e->key.proto == 17))
		printf(" %s %s:%u -> %s:%u", proto_name(e->key.proto, pb, sizeof(pb)),
		       sa, ntohs(e->key.sport), da, ntohs(e->key.dport));
	else if (e->keyed)
		printf(" %s %s -> %s", proto_name(e->key.proto, pb, sizeof(pb)), sa, da);
	printf("\n");
	if (d->stacks && !stack_frames(d, e->stack_id, e->location, NULL, "        "))
		printf("        (no stack)\n");
	return 0;
}

/* ---- interval tables ---------------------------------------------------- */

/* Drain one (now inactive) count map into *rows; returns the row count. */
static size_t drain(int fd, struct row **rows)
{
	struct st_drop_key *keys;
	struct st_drop_val *vals;
	size_t n = st_local_map_drain(fd, sizeof(*keys), sizeof(*vals), ST_DROPS_MAX_KEYS,
				      (void **)&keys, (void **)&vals);
	struct row *r = calloc(n + 1, sizeof(*r));

	*rows = r;
	for (size_t i = 0; r && i < n; i++) {
		r[i].k = keys[i];
		r[i].v = vals[i];
	}
	free(keys);
	free(vals);
	return r ? n : 0;
}

static int row_cmp(const void *a, const void *b)
{
	const struct row *x = a, *y = b;

	if (x->v.count != y->v.count)
		return x->v.count < y->v.count ? 1 : -1;
	if (x->k.location != y->k.location)
		return x->k.location < y->k.location ? -1 : 1;
	return (int)x->k.reason - (int)y->k.reason;
}

static int same_place(const struct st_drop_key *a, const struct st_drop_key *b)
{
	return a->location == b->location && a->reason == b->reason &&
	       a->netns == b->netns && a->ifindex == b->ifindex;
}

/* Fold rows that differ only by stack id; returns the new row count. */
static size_t fold_stacks(struct row *r, size_t n)
{
	size_t m = 0;

	for (size_t i = 0; i < n; i++) {
		size_t j;

		for (j = 0; j < m; j++)
			if (same_place(&r[j].k, &r[i].k))
				break;
		if (j == m) {
			r[m] = r[i];
			r[m].k.stack_id = -1;
			m++;
		} else {
			r[j].v.count += r[i].v.count;
			r[j].v.bytes += r[i].v.bytes;
		}
	}
	return m;
}

static void read_counters(struct drops *d, uint64_t delta[ST_DC_MAX])
{
	int fd = bpf_map__fd(d->skel->maps.drop_counters);
	uint64_t *per = calloc(d->ncpus, sizeof(*per));

	for (uint32_t i = 0; i < ST_DC_MAX; i++) {
		uint64_t sum = 0;

		delta[i] = 0;
		if (!per || bpf_map_lookup_elem(fd, &i, per))
			continue;
		for (int c = 0; c < d->ncpus; c++)
			sum += per[c];
		delta[i] = sum - d->counters[i];
		d->counters[i] = sum;
	}
	free(per);
}

static void report(struct drops *d, struct row *rows, size_t n, double secs)
{
	uint64_t delta[ST_DC_MAX], total = 0;
	struct row *places = NULL;
	size_t np = 0;
	char t[16], rb[32], loc[256];

	read_counters(d, delta);
	st_local_hms(t, sizeof(t));
	for (size_t i = 0; i < n; i++)
		total += rows[i].v.count;
	places = malloc((n ? n : 1) * sizeof(*places));
	if (places) {
		memcpy(places, rows, n * sizeof(*rows));
		np = fold_stacks(places, n);
		qsort(places, np, sizeof(*places), row_cmp);
	}
	qsort(rows, n, sizeof(*rows), row_cmp);

	if (d->lo.json) {
		json_object *o = json_object_new_object(), *arr = json_object_new_array();
		json_object *lost = json_object_new_object(), *cnt = json_object_new_object();
		json_object *att = json_object_new_object();

		json_object_object_add(o, "type", json_object_new_string("interval"));
		json_object_object_add(o, "time", json_object_new_string(t));
		json_object_object_add(o, "unix_s", json_object_new_double(st_real_ns() / 1e9));
		json_object_object_add(o, "interval_s", json_object_new_double(secs));
		json_object_object_add(o, "total", json_object_new_int64(total));
		for (size_t i = 0; i < np; i++) {
			const struct row *r = &places[i];
			json_object *e = json_object_new_object();
			const struct st_ksym *s = d->have_ksyms ?
				st_ksyms_find(&d->ksyms, r->k.location) : NULL;
			char addr[24];

			snprintf(addr, sizeof(addr), "0x%llx", (unsigned long long)r->k.location);
			json_object_object_add(e, "count", json_object_new_int64(r->v.count));
			json_object_object_add(e, "bytes", json_object_new_int64(r->v.bytes));
			json_object_object_add(e, "reason", json_object_new_string(
				reason_name(d, r->k.reason, rb, sizeof(rb))));
			json_object_object_add(e, "reason_code", json_object_new_int64(r->k.reason));
			json_object_object_add(e, "location", json_object_new_string(
				location_name(d, r->k.location, loc, sizeof(loc))));
			json_object_object_add(e, "address", json_object_new_string(addr));
			json_object_object_add(e, "module", s && s->module ?
					       json_object_new_string(s->module) : NULL);
			json_object_object_add(e, "netns", json_object_new_int64(r->k.netns));
			json_object_object_add(e, "ifindex", json_object_new_int64(r->k.ifindex));
			json_object_object_add(e, "dev", json_object_new_string(
				st_local_dev_name(r->k.netns, r->k.ifindex)));
			json_object_array_add(arr, e);
		}
		json_object_object_add(o, "drops", arr);
		if (d->stacks) {
			json_object *st = json_object_new_array();

			for (size_t i = 0; i < n && i < d->top; i++) {
				json_object *e = json_object_new_object(), *fr = json_object_new_array();

				json_object_object_add(e, "count", json_object_new_int64(rows[i].v.count));
				json_object_object_add(e, "reason", json_object_new_string(
					reason_name(d, rows[i].k.reason, rb, sizeof(rb))));
				json_object_object_add(e, "stack_id", json_object_new_int(rows[i].k.stack_id));
				stack_frames(d, rows[i].k.stack_id, rows[i].k.location, fr, NULL);
				json_object_object_add(e, "frames", fr);
				json_object_array_add(st, e);
			}
			json_object_object_add(o, "stacks", st);
		}
		json_object_object_add(lost, "map_full", json_object_new_int64(delta[ST_DC_MAP_FULL]));
		json_object_object_add(lost, "stack", json_object_new_int64(delta[ST_DC_STACK_FAIL]));
		json_object_object_add(lost, "events", json_object_new_int64(delta[ST_DC_RINGBUF_FULL]));
		json_object_object_add(o, "lost", lost);
		for (int i = 0; i < ST_DC_MAX; i++)
			json_object_object_add(cnt, counter_names[i], json_object_new_int64(delta[i]));
		if (d->ovs)
			json_object_object_add(cnt, "filtered_not_ovs",
					       json_object_new_int64((int64_t)d->ovs_skipped));
		json_object_object_add(o, "counters", cnt);
		json_object_object_add(att, "tracepoint", json_object_new_string("skb:kfree_skb"));
		json_object_object_add(att, "method", json_object_new_string(d->method));
		json_object_object_add(o, "attach", att);
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
	} else if (!d->lo.verbose) {
		size_t shown = np < d->top ? np : d->top;
		uint64_t rest = 0;

		printf("%-8s %8s %-24s %-40s %s\n", "TIME", "COUNT", "REASON", "LOCATION", "DEV");
		if (!np)
			printf("%-8s %8d %-24s %-40s %s\n", t, 0, "-", "-", "-");
		for (size_t i = 0; i < np; i++) {
			const struct row *r = &places[i];

			if (i >= shown) {
				rest += r->v.count;
				continue;
			}
			printf("%-8s %8llu %-24s %-40s %s\n", t, (unsigned long long)r->v.count,
			       reason_name(d, r->k.reason, rb, sizeof(rb)),
			       location_name(d, r->k.location, loc, sizeof(loc)),
			       st_local_dev_name(r->k.netns, r->k.ifindex));
		}
		if (np > shown)
			printf("%-8s %8llu (%zu more rows; --top N shows more)\n", t,
			       (unsigned long long)rest, np - shown);
		if (d->stacks && n) {
			printf("\nTop stacks:\n");
			for (size_t i = 0; i < n && i < d->top; i++) {
				printf("  %llu drops, %s at %s\n",
				       (unsigned long long)rows[i].v.count,
				       reason_name(d, rows[i].k.reason, rb, sizeof(rb)),
				       location_name(d, rows[i].k.location, loc, sizeof(loc)));
				if (!stack_frames(d, rows[i].k.stack_id, rows[i].k.location,
						  NULL, "    "))
					printf("    (no stack)\n");
			}
		}
	}
	if (!d->lo.json && (delta[ST_DC_MAP_FULL] || delta[ST_DC_STACK_FAIL] ||
			    delta[ST_DC_RINGBUF_FULL]))
		printf("%-8s lost: %llu drops (count map full), %llu stacks, %llu events (ring full)\n",
		       t, (unsigned long long)delta[ST_DC_MAP_FULL],
		       (unsigned long long)delta[ST_DC_STACK_FAIL],
		       (unsigned long long)delta[ST_DC_RINGBUF_FULL]);
	if (!d->lo.json && d->ovs && d->ovs_skipped)
		printf("%-8s not shown: %llu drops outside the OVS datapath (--ovs)\n", t,
		       (unsigned long long)d->ovs_skipped);
	d->ovs_skipped = 0;
	if (!d->lo.json && !d->lo.verbose)
		printf("\n");
	fflush(stdout);
	free(places);
}

/* ---- set-up ------------------------------------------------------------- */

static int setup_bpf(struct drops *d)
{
	struct st_drops_cfg cfg = { 0 };
	char why[400] = "";
	uint32_t zero = 0;
	uint8_t one = 1;
	int err;

	if (d->method_force) {
		d->method = d->method_force;
	} else {
		d->method = st_probe_best("kfree_skb", why, sizeof(why));
		if (!d->method) {
			fprintf(stderr, "error: cannot attach to skb:kfree_skb: %s\n", why);
			return ST_EXIT_FAIL;
		}
	}
	d->skel = drops_bpf__open();
	if (!d->skel) {
		fprintf(stderr, "error: cannot open the drops BPF object: %s\n", strerror(errno));
		return ST_EXIT_FAIL;
	}
	bpf_program__set_autoload(d->skel->progs.btf_kfree_skb, !strcmp(d->method, "tp_btf"));
	bpf_program__set_autoload(d->skel->progs.raw_kfree_skb, !strcmp(d->method, "raw_tp"));
	if (!d->stacks)
		bpf_map__set_max_entries(d->skel->maps.drop_stacks, 1);
	if (!d->lo.verbose)
		bpf_map__set_max_entries(d->skel->maps.drop_events, 4096);
	err = drops_bpf__load(d->skel);
	if (err) {
		fprintf(stderr, "error: loading the drops BPF program (%s) failed: %s\n",
			d->method, strerror(-err));
		return ST_EXIT_FAIL;
	}

	if (d->lo.netns_set) {
		cfg.flags |= ST_DF_NETNS;
		bpf_map_update_elem(bpf_map__fd(d->skel->maps.drop_netns),
				    &d->lo.netns_ino, &one, BPF_ANY);
	}
	if (d->lo.dev_set) {
		struct st_drop_dev dk = { d->lo.dev_netns, d->lo.dev_ifindex };

		cfg.flags |= ST_DF_DEV;
		bpf_map_update_elem(bpf_map__fd(d->skel->maps.drop_devs), &dk, &one, BPF_ANY);
	}
	st_pkt_filter_set(&cfg.pf, d->lo.proto_set ? d->lo.proto_num : 0, d->lo.sport,
			  d->lo.dport, &d->lo.src, &d->lo.dst, 0);
	if (d->stacks)
		cfg.flags |= ST_DF_STACKS;
	if (d->lo.verbose)
		cfg.flags |= ST_DF_EVENTS;
	if (bpf_map_update_elem(bpf_map__fd(d->skel->maps.drops_cfg), &zero, &cfg, BPF_ANY)) {
		fprintf(stderr, "error: cannot configure the drops BPF program: %s\n",
			strerror(errno));
		return ST_EXIT_FAIL;
	}
	if (d->lo.verbose) {
		d->rb = ring_buffer__new(bpf_map__fd(d->skel->maps.drop_events), on_event, d, NULL);
		if (!d->rb) {
			fprintf(stderr, "error: cannot open the drop event ring buffer: %s\n",
				strerror(errno));
			return ST_EXIT_FAIL;
		}
	}
	err = drops_bpf__attach(d->skel);
	if (err) {
		fprintf(stderr, "error: attaching to skb:kfree_skb (%s) failed: %s\n",
			d->method, strerror(-err));
		return ST_EXIT_FAIL;
	}
	return 0;
}

static int run(struct drops *d)
{
	struct st_local_ticker t;
	uint32_t gen = 0;

	if (!d->lo.json)
		fprintf(stderr, "Tracing skb:kfree_skb (%s)%s%s... Ctrl-C to end.\n", d->method,
			d->lo.verbose ? "" : ", one table per interval",
			!d->ovs ? "" : d->ovs_subsys > 0 ?
			", only OVS datapath drops (openvswitch module, OVS_DROP_* reasons)" :
			", only drops inside the openvswitch module (this kernel has no OVS drop reasons)");
	if (d->lo.verbose && !d->lo.json)
		printf("%-15s %-7s %-16s %-5s %s\n", "TIME", "PID", "COMM", "EVENT", "DETAILS");
	st_local_ticker_init(&t, d->lo.interval, d->lo.duration);
	for (;;) {
		double secs;
		int stop = st_local_ticker_wait(&t, d->rb, d->lo.count, &secs);
		int idle = st_local_gen_flip(&d->skel->bss->drops_gen, &gen, d->rb);
		struct row *rows = NULL;
		size_t n = drain(bpf_map__fd(idle ? d->skel->maps.counts1 : d->skel->maps.counts0),
				 &rows);

		if (d->ovs) {
			size_t k = 0;

			for (size_t r = 0; r < n; r++)
				if (ovs_drop(d, rows[r].k.location, rows[r].k.reason))
					rows[k++] = rows[r];
				else
					d->ovs_skipped += rows[r].v.count;
			n = k;
		}
		report(d, rows, n, secs);
		free(rows);
		if (stop)
			break;
	}
	return 0;
}

static void summary(struct drops *d)
{
	if (d->lo.json)
		return;
	fprintf(stderr, "drops: %llu counted, %llu seen by the probe; lost: %llu (count map full), "
		"%llu stacks, %llu events (ring full)\n",
		(unsigned long long)d->counters[ST_DC_COUNTED],
		(unsigned long long)d->counters[ST_DC_CALLS],
		(unsigned long long)d->counters[ST_DC_MAP_FULL],
		(unsigned long long)d->counters[ST_DC_STACK_FAIL],
		(unsigned long long)d->counters[ST_DC_RINGBUF_FULL]);
}

int cmd_drops(int argc, char **argv)
{
	static const struct st_cmd_help help = {
		.name = CMD,
		.summary = "Packet drops by location, reason, netns and device (skb:kfree_skb).",
		.description =
"Counts every skb the kernel frees as dropped, per location (symbol+offset\n"
"of the caller of kfree_skb), reason (the running kernel's enum\n"
"skb_drop_reason, without the SKB_DROP_REASON_ prefix), network namespace\n"
"and device, and prints one table per interval sorted by count. --stacks\n"
"adds the top kernel stacks; -v prints one line per drop instead\n"
"(TIME PID COMM EVENT DETAILS; PID/COMM are whatever task the drop happened\n"
"in, often unrelated in softirq). Filters apply in the kernel before any\n"
"work. Lost counts (full maps or ring) are printed with each interval.\n"
"Replaces drop_monitor_controller.py, kernel_drop_stack_stats*.{py,bt} and\n"
"eth_drop.py.",
		.examples =
"  stagetrace drops -i 5\n"
"  stagetrace drops --netns hv1 --dev veth0 --stacks -c 3\n"
"  stagetrace drops --proto udp --dport 53 -v\n"
"  stagetrace drops --json -d 10",
	};
	struct drops d = { .top = 20 };
	struct st_opt opts[ST_LOCAL_NOPTS + 8];
	size_t no = 0;
	int rc, ec;

	/* The common options, then this command's own four and the end. */
	st_local_opts_init(&d.lo);
	st_local_opts_table(&d.lo, DROPS_SUPPORTED, opts, &no, sizeof(opts) / sizeof(opts[0]) - 5);
	opts[no++] = (struct st_opt){ "stacks", 0, ST_OPT_FLAG, &d.stacks, NULL,
				      "count per kernel stack; print the top stacks" };
	opts[no++] = (struct st_opt){ "top", 0, ST_OPT_U32, &d.top, "N",
				      "rows and stacks per table (default 20)", 1, 1e6 };
	opts[no++] = (struct st_opt){ "method", 0, ST_OPT_STR, &d.method_force,
				      "tp_btf|raw_tp", "attach method (default: probed)" };
	opts[no++] = (struct st_opt){ "ovs", 0, ST_OPT_FLAG, &d.ovs, NULL,
				      "only OVS kernel datapath drops (openvswitch module, OVS_DROP_* reasons)" };
	opts[no] = (struct st_opt)ST_OPT_END;

	if (st_opts_parse_noargs(argc, argv, opts, &help, &ec))
		return ec;
	if ((rc = st_local_validate(&d.lo, DROPS_SUPPORTED, CMD)))
		return rc;
	if ((rc = st_local_method_check(d.method_force)))
		return rc;
	if ((rc = st_local_require_root(CMD)))
		return rc;

	st_log_route_libbpf();
	d.ncpus = libbpf_num_possible_cpus();
	if (d.ncpus <= 0) {
		fprintf(stderr, "error: cannot count CPUs: %s\n", strerror(-d.ncpus));
		return ST_EXIT_FAIL;
	}
	if (st_ksyms_load(&d.ksyms))
		pr_warn("cannot read /proc/kallsyms; locations are printed as addresses");
	else
		d.have_ksyms = 1;
	if (st_btf_enum_load("skb_drop_reason", "SKB_DROP_REASON_", &d.reasons))
		pr_warn("no enum skb_drop_reason in the kernel's BTF; reasons are printed as numbers");
	else
		d.have_reasons = 1;
	/* OVS's own reasons live in the module (enum ovs_drop_reason, since
	 * Linux 6.4), their subsystem number in enum skb_drop_reason_subsys. */
	d.ovs_subsys = -1;
	{
		struct st_enum_names sub;

		if (!st_btf_enum_load("skb_drop_reason_subsys", "SKB_DROP_REASON_SUBSYS_", &sub)) {
			for (size_t i = 0; i < sub.n; i++)
				if (!strcmp(sub.v[i].name, "OPENVSWITCH"))
					d.ovs_subsys = sub.v[i].val;
			st_enum_names_free(&sub);
		}
	}
	d.have_ovs_reasons = !st_btf_enum_load_mod("openvswitch", "ovs_drop_reason", NULL,
						   &d.ovs_reasons);
	if (d.ovs && !d.have_ksyms)
		pr_warn("--ovs: without kallsyms only drops with OVS reasons can be told apart");

	rc = setup_bpf(&d);
	if (!rc) {
		st_local_signals();
		rc = run(&d);
		summary(&d);
	}
	ring_buffer__free(d.rb);
	drops_bpf__destroy(d.skel);
	if (d.have_ksyms)
		st_ksyms_free(&d.ksyms);
	if (d.have_reasons)
		st_enum_names_free(&d.reasons);
	if (d.have_ovs_reasons)
		st_enum_names_free(&d.ovs_reasons);
	st_local_dev_names_free();
	return rc;
}
