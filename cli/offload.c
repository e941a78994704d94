// SPDX-License-Identifier: MIT
/*
 * stagetrace offload: TSO/GSO parameters of the packets devices are asked
 * to send (bpf/offload.h): per device, hook, flow and GSO type, how many
 * packets were GSO packets, their gso_size (the MSS the device or the
 * software fallback cuts at) and gso_segs, and every packet whose
 * parameters do not make sense (abnormal GSO types: unknown bits, a size
 * without a type, a TCP type on a UDP packet, ...), printed as it happens.
 *
 * The GSO type names and values are the running kernel's (its BTF enum of
 * SKB_GSO_* flags), so new flags print by name and unknown bits are
 * flagged, not misnamed.
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bpf/offload.h"
#include "cli.h"
#include "local.h"
#include "localrun.h"
#include "log.h"
#include "offload.skel.h"
#include "opts.h"
#include "pktfilter.h"
#include "timeutil.h"

#define CMD "stagetrace offload"
#define OFFLOAD_OPTS (ST_LO_ALL & ~(ST_LO_PID | ST_LO_VM))

_Static_assert(sizeof(struct st_of_key) == 32, "st_of_key layout");
_Static_assert(sizeof(struct st_of_val) == 80, "st_of_val layout");
_Static_assert(sizeof(struct st_of_event) == 72, "st_of_event layout");

static const char *const hook_names[2] = { "queue", "xmit" };
static const char *const why_names[] = { "unknown_bits", "no_type", "no_size", "l4_mismatch",
					  "over_mtu" };

struct off {
	struct st_local_opts lo;
	int abnormal;
	const char *hook;
	const char *method_force;
	struct offload_bpf *skel;
	struct ring_buffer *rb;
	struct st_enum_names types;
	const char *methods[2];
	uint64_t counters[ST_OC_MAX], delta[ST_OC_MAX];
	int ncpus;
};

/* "TCPV4|DODGY", "-" for 0, unknown bits as hex. */
static const char *type_str(struct off *o, uint32_t t, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	if (!t)
		return strcpy(buf, "-");
	for (size_t i = 0; i < o->types.n; i++) {
		uint32_t v = (uint32_t)o->types.v[i].val;

		if (!v || (v & (v - 1)) || !(t & v) || o->types.v[i].name[0] == '_')
			continue;
		n += snprintf(buf + n, n < len ? len - n : 0, "%s%s", n ? "|" : "", o->types.v[i].name);
		t &= ~v;
	}
	if (t)
		snprintf(buf + n, n < len ? len - n : 0, "%s0x%x", n ? "|" : "", t);
	return buf;
}

static const char *why_str(uint32_t w, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(why_names) / sizeof(why_names[0]); i++)
		if (w & (1u << i))
			n += snprintf(buf + n, n < len ? len - n : 0, "%s%s", n ? "," : "", why_names[i]);
	return buf;
}

static void flow_str(int keyed, uint8_t proto, uint32_t sa, uint32_t da, uint16_t sp,
		     uint16_t dp, char *buf, size_t len)
{
	char s[INET_ADDRSTRLEN], d[INET_ADDRSTRLEN];

	if (!keyed) {
		snprintf(buf, len, "-");
		return;
	}
	inet_ntop(AF_INET, &sa, s, sizeof(s));
	inet_ntop(AF_INET, &da, d, sizeof(d));
	if (proto == 6 || proto == 17)
		snprintf(buf, len, "%s %s:%u -> %s:%u", proto == 6 ? "tcp" : "udp", s, ntohs(sp), d,
			 ntohs(dp));
	else
		snprintf(buf, len, "proto%u %s -> %s", proto, s, d);
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct off *o = ctx;
	const struct st_of_event *e = data;
	char t[32], tb[160], wb[96], fb[96];
	const char *dev;

	if (size < sizeof(*e))
		return 0;
	st_local_mono_hms(e->ts, t, sizeof(t));
	dev = st_local_dev_name(e->netns, e->ifindex);
	type_str(o, e->gso_type, tb, sizeof(tb));
	why_str(e->why, wb, sizeof(wb));
	flow_str(e->keyed, e->key.proto, e->key.saddr, e->key.daddr, e->key.sport, e->key.dport,
		 fb, sizeof(fb));
	if (o->lo.json) {
		json_object *j = json_object_new_object();

		json_object_object_add(j, "type", json_object_new_string("event"));
		json_object_object_add(j, "time", json_object_new_string(t));
		json_object_object_add(j, "event", json_object_new_string(e->why ? "abnormal" : "gso"));
		json_object_object_add(j, "dev", json_object_new_string(dev));
		json_object_object_add(j, "hook", json_object_new_string(hook_names[e->hook & 1]));
		json_object_object_add(j, "gso_size", json_object_new_int(e->gso_size));
		json_object_object_add(j, "gso_segs", json_object_new_int(e->gso_segs));
		json_object_object_add(j, "gso_type", json_object_new_string(tb));
		json_object_object_add(j, "gso_type_raw", json_object_new_int64(e->gso_type));
		json_object_object_add(j, "len", json_object_new_int64(e->len));
		json_object_object_add(j, "mtu", json_object_new_int64(e->mtu));
		json_object_object_add(j, "flow", json_object_new_string(fb));
		if (e->why)
			json_object_object_add(j, "why", json_object_new_string(wb));
		printf("%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
		json_object_put(j);
	} else {
		printf("%s %-8s %s %s gso_size=%u gso_segs=%u gso_type=%s len=%u mtu=%u %s%s%s\n", t,
		       e->why ? "ABNORMAL" : "gso", dev, hook_names[e->hook & 1], e->gso_size,
		       e->gso_segs, tb, e->len, e->mtu, fb, e->why ? " why=" : "", wb);
	}
	fflush(stdout);
	return 0;
}

struct orow {
	struct st_of_key k;
	struct st_of_val v;
};

static int orow_cmp(const void *a, const void *b)
{
	const struct orow *x = a, *y = b;

	return x->v.packets < y->v.packets ? 1 : x->v.packets > y->v.packets ? -1 : 0;
}

/* Drain a generation's per-CPU map into rows summed over CPUs. */
static size_t drain(struct off *o, int fd, struct orow **out)
{
	struct st_of_key *keys;
	struct st_of_val *vals;
	size_t n = st_local_map_drain(fd, sizeof(*keys), sizeof(*vals) * o->ncpus, ST_OF_MAX_KEYS,
				      (void **)&keys, (void **)&vals);
	struct orow *r = calloc(n + 1, sizeof(*r));

	*out = r;
	for (size_t i = 0; r && i < n; i++) {
		struct st_of_val *s = &r[i].v;

		r[i].k = keys[i];
		for (int c = 0; c < o->ncpus; c++) {
			const struct st_of_val *v = &vals[i * o->ncpus + c];

			s->packets += v->packets;
			s->bytes += v->bytes;
			s->gso_packets += v->gso_packets;
			s->segs_sum += v->segs_sum;
			s->size_sum += v->size_sum;
			s->abnormal += v->abnormal;
			s->why |= v->why;
			if (v->segs_max > s->segs_max)
				s->segs_max = v->segs_max;
			if (v->size_max > s->size_max)
				s->size_max = v->size_max;
			if (v->size_min && (!s->size_min || v->size_min < s->size_min))
				s->size_min = v->size_min;
		}
	}
	free(keys);
	free(vals);
	return r ? n : 0;
}

static void report(struct off *o, struct orow *r, size_t n, double secs)
{
	json_object *j = NULL, *arr = NULL;
	char t[16], tb[160], wb[96], fb[96];

	st_local_hms(t, sizeof(t));
	qsort(r, n, sizeof(*r), orow_cmp);
	for (int i = 0; i < ST_OC_MAX; i++) {
		uint64_t s = st_local_percpu_sum(bpf_map__fd(o->skel->maps.of_counters), i, o->ncpus);

		o->delta[i] = s - o->counters[i];
		o->counters[i] = s;
	}
	if (o->lo.json) {
		j = json_object_new_object();
		arr = json_object_new_array();
		json_object_object_add(j, "type", json_object_new_string("interval"));
		json_object_object_add(j, "time", json_object_new_string(t));
		json_object_object_add(j, "unix_s", json_object_new_double(st_real_ns() / 1e9));
		json_object_object_add(j, "interval_s", json_object_new_double(secs));
	} else if (!o->lo.verbose) {
		printf("%-8s %-20s %-5s %8s %8s %7s %5s %11s %-14s %s\n", "TIME", "DEV", "HOOK",
		       "PKTS", "GSO", "SEGSAVG", "SEGS", "GSO_SIZE", "GSO_TYPE", "FLOW");
		if (!n)
			printf("%-8s (no packets)\n", t);
	}
	for (size_t i = 0; i < n; i++) {
		const struct st_of_key *k = &r[i].k;
		const struct st_of_val *v = &r[i].v;
		const char *dev = st_local_dev_name(k->netns, k->ifindex);

		type_str(o, k->gso_type, tb, sizeof(tb));
		flow_str(k->saddr || k->daddr, k->proto, k->saddr, k->daddr, k->sport, k->dport,
			 fb, sizeof(fb));
		if (j) {
			json_object *e = json_object_new_object();

			json_object_object_add(e, "dev", json_object_new_string(dev));
			json_object_object_add(e, "netns", json_object_new_int64(k->netns));
			json_object_object_add(e, "ifindex", json_object_new_int64(k->ifindex));
			json_object_object_add(e, "hook", json_object_new_string(hook_names[k->hook & 1]));
			json_object_object_add(e, "flow", json_object_new_string(fb));
			json_object_object_add(e, "gso_type", json_object_new_string(tb));
			json_object_object_add(e, "gso_type_raw", json_object_new_int64(k->gso_type));
			json_object_object_add(e, "packets", json_object_new_int64(v->packets));
			json_object_object_add(e, "bytes", json_object_new_int64(v->bytes));
			json_object_object_add(e, "gso_packets", json_object_new_int64(v->gso_packets));
			json_object_object_add(e, "gso_segs_avg", json_object_new_double(
				v->gso_packets ? (double)v->segs_sum / v->gso_packets : 0));
			json_object_object_add(e, "gso_segs_max", json_object_new_int64(v->segs_max));
			json_object_object_add(e, "gso_size_min", json_object_new_int64(v->size_min));
			json_object_object_add(e, "gso_size_max", json_object_new_int64(v->size_max));
			json_object_object_add(e, "abnormal", json_object_new_int64(v->abnormal));
			json_object_object_add(e, "why", json_object_new_string(why_str((uint32_t)v->why, wb, sizeof(wb))));
			json_object_array_add(arr, e);
		} else if (!o->lo.verbose) {
			char sz[24] = "-";

			if (v->gso_packets)
				snprintf(sz, sizeof(sz), v->size_min == v->size_max ? "%llu" : "%llu-%llu",
					 (unsigned long long)v->size_min, (unsigned long long)v->size_max);
			printf("%-8s %-20s %-5s %8llu %8llu %7.1f %5llu %11s %-14s %s%s%s\n", t, dev,
			       hook_names[k->hook & 1], (unsigned long long)v->packets,
			       (unsigned long long)v->gso_packets,
			       v->gso_packets ? (double)v->segs_sum / v->gso_packets : 0.0,
			       (unsigned long long)v->segs_max, sz, tb, fb,
			       v->abnormal ? " ABNORMAL:" : "",
			       v->abnormal ? why_str((uint32_t)v->why, wb, sizeof(wb)) : "");
		}
	}
	if (j) {
		json_object *c = json_object_new_object();

		json_object_object_add(j, "rows", arr);
		json_object_object_add(c, "calls", json_object_new_int64(o->delta[ST_OC_CALLS]));
		json_object_object_add(c, "filtered_dev", json_object_new_int64(o->delta[ST_OC_FILTERED]));
		json_object_object_add(c, "filtered_headers", json_object_new_int64(o->delta[ST_OC_FILTER_HDR]));
		json_object_object_add(c, "counted", json_object_new_int64(o->delta[ST_OC_COUNTED]));
		json_object_object_add(c, "abnormal", json_object_new_int64(o->delta[ST_OC_ABNORMAL]));
		json_object_object_add(c, "lost_map_full", json_object_new_int64(o->delta[ST_OC_MAP_FULL]));
		json_object_object_add(c, "lost_events", json_object_new_int64(o->delta[ST_OC_RINGBUF_FULL]));
		json_object_object_add(j, "counters", c);
		printf("%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
		json_object_put(j);
	} else {
		if (o->delta[ST_OC_MAP_FULL] || o->delta[ST_OC_RINGBUF_FULL])
			printf("%-8s lost: %llu packets (map full), %llu events (ring full)\n", t,
			       (unsigned long long)o->delta[ST_OC_MAP_FULL],
			       (unsigned long long)o->delta[ST_OC_RINGBUF_FULL]);
		if (!o->lo.verbose)
			printf("\n");
	}
	fflush(stdout);
}

/* The cfg's type masks from the kernel's SKB_GSO_* names. */
static void type_masks(struct off *o, struct st_of_cfg *c)
{
	static const char *const not_proto[] = { "DODGY", "TCP_ECN", "TCP_FIXEDID", "PARTIAL",
		"TUNNEL_REMCSUM", "TCP_ACCECN", "TCP_FIXEDID_INNER", "FRAGLIST" };
	static const char *const tunnel[] = { "GRE", "GRE_CSUM", "IPXIP4", "IPXIP6", "UDP_TUNNEL",
		"UDP_TUNNEL_CSUM", "ESP" };

	for (size_t i = 0; i < o->types.n; i++) {
		const char *nm = o->types.v[i].name;
		uint32_t v = (uint32_t)o->types.v[i].val;
		int proto = nm[0] != '_';

		c->known_types |= v;
		for (size_t j = 0; j < sizeof(not_proto) / sizeof(not_proto[0]); j++)
			if (!strcmp(nm, not_proto[j]))
				proto = 0;
		for (size_t j = 0; j < sizeof(tunnel) / sizeof(tunnel[0]); j++)
			if (!strcmp(nm, tunnel[j]))
				c->tunnel_types |= v;
		if (proto)
			c->proto_types |= v;
		if (!strcmp(nm, "TCPV4") || !strcmp(nm, "TCPV6"))
			c->tcp_types |= v;
		if (!strcmp(nm, "UDP_L4") || !strcmp(nm, "UDP"))
			c->udp_types |= v;
	}
}

static int setup(struct off *o)
{
	static const char *const tps[2] = { "net_dev_queue", "net_dev_start_xmit" };
	struct st_of_cfg cfg = { 0 };
	uint32_t zero = 0;
	char why[400];
	int err;

	o->skel = offload_bpf__open();
	if (!o->skel) {
		fprintf(stderr, "error: cannot open the offload BPF object: %s\n", strerror(errno));
		return ST_EXIT_FAIL;
	}
	for (int i = 0; i < 2; i++) {
		if (strcmp(o->hook, "both") && strcmp(o->hook, hook_names[i])) {
			st_local_tp_off(o->skel->obj, tps[i]);
			continue;
		}
		o->methods[i] = st_local_tp_select(o->skel->obj, tps[i], o->method_force, why, sizeof(why));
		if (!o->methods[i]) {
			fprintf(stderr, "error: %s cannot attach to %s: %s\n", CMD, tps[i], why);
			return ST_EXIT_FAIL;
		}
	}
	if ((err = offload_bpf__load(o->skel))) {
		fprintf(stderr, "error: loading the offload BPF programs failed: %s\n", strerror(-err));
		return ST_EXIT_FAIL;
	}
	type_masks(o, &cfg);
	if (o->lo.netns_set) {
		cfg.flags |= ST_OFF_NETNS;
		cfg.netns = o->lo.netns_ino;
	}
	if (o->lo.dev_set) {
		cfg.flags |= ST_OFF_DEV;
		cfg.dev_netns = o->lo.dev_netns;
		cfg.dev_ifindex = o->lo.dev_ifindex;
	}
	if (o->lo.verbose)
		cfg.flags |= ST_OFF_EVENTS;
	if (o->abnormal)
		cfg.flags |= ST_OFF_ABNORMAL;
	st_pkt_filter_set(&cfg.pf, o->lo.proto_set ? o->lo.proto_num : 0, o->lo.sport,
			  o->lo.dport, &o->lo.src, &o->lo.dst, 0);
	if (bpf_map_update_elem(bpf_map__fd(o->skel->maps.of_cfg), &zero, &cfg, BPF_ANY)) {
		fprintf(stderr, "error: cannot configure the offload BPF programs: %s\n", strerror(errno));
		return ST_EXIT_FAIL;
	}
	o->rb = ring_buffer__new(bpf_map__fd(o->skel->maps.of_events), on_event, o, NULL);
	if (!o->rb || (err = offload_bpf__attach(o->skel))) {
		fprintf(stderr, "error: attaching the offload BPF programs failed: %s\n",
			strerror(errno));
		return ST_EXIT_FAIL;
	}
	return 0;
}

static void run(struct off *o)
{
	struct st_local_ticker t;
	uint32_t gen = 0;

	if (o->lo.json)
		printf("{\"type\":\"start\",\"net_dev_queue\":%s%s%s,\"net_dev_start_xmit\":%s%s%s}\n",
		       o->methods[0] ? "\"" : "", o->methods[0] ? o->methods[0] : "null",
		       o->methods[0] ? "\"" : "", o->methods[1] ? "\"" : "",
		       o->methods[1] ? o->methods[1] : "null", o->methods[1] ? "\"" : "");
	else
		fprintf(stderr, "Tracing GSO parameters at net_dev_queue (%s) and net_dev_start_xmit (%s)... Ctrl-C to end.\n",
			o->methods[0] ? o->methods[0] : "off", o->methods[1] ? o->methods[1] : "off");
	fflush(stdout);
	st_local_ticker_init(&t, o->lo.interval, o->lo.duration);
	for (;;) {
		double secs;
		int stop = st_local_ticker_wait(&t, o->rb, o->lo.count, &secs);
		int idle = st_local_gen_flip(&o->skel->bss->offload_gen, &gen, o->rb);
		struct orow *rows = NULL;
		size_t n = drain(o, bpf_map__fd(idle ? o->skel->maps.of_rows1 : o->skel->maps.of_rows0),
				 &rows);

		report(o, rows, n, secs);
		free(rows);
		if (stop)
			break;
	}
}

int cmd_offload(int argc, char **argv)
{
	static const struct st_cmd_help help = {
		.name = CMD,
		.summary = "TSO/GSO parameters of transmitted packets; abnormal GSO types.",
		.description =
"Per device, hook, flow and GSO type: packets, how many were GSO packets,\n"
"gso_segs (average, max) and gso_size (the MSS they are cut at), from\n"
"skb_shared_info at two hooks: 'queue' (net_dev_queue, what the stack built)\n"
"and 'xmit' (net_dev_start_xmit, what the driver gets; with TSO off and GSO\n"
"on the stack segments in between). A packet whose GSO parameters make no\n"
"sense is printed as it happens (ABNORMAL, why=...): gso_type bits this\n"
"kernel does not define (unknown_bits), a gso_size without a protocol type\n"
"(no_type), gso_segs > 1 without a gso_size (no_size), a TCP type on a non-TCP or\n"
"UDP_L4 on a non-UDP packet (l4_mismatch), gso_size above the MTU\n"
"(over_mtu). --abnormal counts only those. -v prints every GSO packet.\n"
"GSO type names come from the running kernel's BTF. Replaces\n"
"trace_offloading_segment.bt and tun-abnormal-gso-type.bt.",
		.examples =
"  stagetrace offload --dev eth0 -i 5\n"
"  stagetrace offload --proto tcp --dport 5201 --hook xmit\n"
"  stagetrace offload --abnormal --json",
	};
	struct off o = { .hook = "both" };
	struct st_opt opts[ST_LOCAL_NOPTS + 5];
	size_t no = 0;
	int rc, ec;

	st_local_opts_init(&o.lo);
	st_local_opts_table(&o.lo, OFFLOAD_OPTS, opts, &no, sizeof(opts) / sizeof(opts[0]) - 3);
	opts[no++] = (struct st_opt){ "abnormal", 0, ST_OPT_FLAG, &o.abnormal, NULL,
				      "count only packets with abnormal GSO parameters" };
	opts[no++] = (struct st_opt){ "hook", 0, ST_OPT_STR, &o.hook, "queue|xmit|both",
				      "where to look (default both)" };
	opts[no++] = (struct st_opt){ "method", 0, ST_OPT_STR, &o.method_force, "tp_btf|raw_tp",
				      "attach method (default: probed)" };
	opts[no] = (struct st_opt)ST_OPT_END;
	if (st_opts_parse_noargs(argc, argv, opts, &help, &ec))
		return ec;
	if ((rc = st_local_validate(&o.lo, OFFLOAD_OPTS, CMD)))
		return rc;
	if (strcmp(o.hook, "both") && strcmp(o.hook, "queue") && strcmp(o.hook, "xmit")) {
		fprintf(stderr, "error: --hook: invalid value '%s' (expected queue, xmit or both)\n", o.hook);
		return ST_EXIT_USAGE;
	}
	if ((rc = st_local_method_check(o.method_force)))
		return rc;
	if ((rc = st_local_require_root(CMD)))
		return rc;
	st_log_route_libbpf();
	o.ncpus = libbpf_num_possible_cpus();
	if (o.ncpus <= 0 || st_btf_enum_load_member("SKB_GSO_TCPV4", "SKB_GSO_", &o.types)) {
		fprintf(stderr, "error: no SKB_GSO_* enum in the kernel's BTF (or no CPUs)\n");
		return ST_EXIT_FAIL;
	}
	rc = setup(&o);
	if (!rc) {
		st_local_signals();
		run(&o);
		if (!o.lo.json)
			fprintf(stderr, "offload: %llu packets seen, %llu counted, %llu abnormal; lost: "
				"%llu (map full), %llu events (ring full)\n",
				(unsigned long long)o.counters[ST_OC_CALLS],
				(unsigned long long)o.counters[ST_OC_COUNTED],
				(unsigned long long)o.counters[ST_OC_ABNORMAL],
				(unsigned long long)o.counters[ST_OC_MAP_FULL],
				(unsigned long long)o.counters[ST_OC_RINGBUF_FULL]);
	}
	ring_buffer__free(o.rb);
	offload_bpf__destroy(o.skel);
	st_enum_names_free(&o.types);
	st_local_dev_names_free();
	return rc;
}
