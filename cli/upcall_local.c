// SPDX-License-Identifier: MIT
/*
 * stagetrace upcall --local: OVS upcalls on this host, measured in the
 * kernel — the time from a megaflow miss (ovs_dp_upcall) to ovs-vswitchd
 * re-injecting the same packet (ovs_execute_actions), per interval as a
 * histogram and per handler thread (the thread whose sendmsg re-injects is
 * the handler that took the upcall), with -v one line per upcall. With
 * --megaflow, the kernel datapath's own lookup counters per interval (hits,
 * misses, lost, flows, masks, mask lookups per packet), read over generic
 * netlink (common/ovsdp.c). Replaces ovs_upcall_latency_summary.py and
 * ovs_userspace_megaflow.py on one host; `stagetrace upcall` without
 * --local is the fleet-wide matrix from the collector.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "cli.h"
#include "hist.h"
#include "local.h"
#include "localrun.h"
#include "log.h"
#include "opts.h"
#include "ovsdp.h"
#include "pktfilter.h"
#include "timeutil.h"
#include "bpf/upcall.h"
#include "upcall.skel.h"

#define CMD "stagetrace upcall --local"
#define NHOOKS 2
#define MAX_HANDLERS 64
#define MAX_DP 8
#define SUPPORTED (ST_LO_INTERVAL | ST_LO_DURATION | ST_LO_COUNT | ST_LO_SRC | ST_LO_DST | \
		   ST_LO_VERBOSE | ST_LO_JSON | ST_LO_PROTO | ST_LO_SPORT | ST_LO_DPORT)

struct handler {
	uint32_t tid, cpu;
	char comm[16];
	struct st_hist h;
};

struct upl {
	struct st_local_opts lo;
	int megaflow, local;
	struct upcall_bpf *skel;
	struct ring_buffer *rb;
	struct st_local_hook hooks[NHOOKS];
	int ncpus, traced;
	struct st_hist h;			/* this interval */
	struct handler hs[MAX_HANDLERS];
	int nhs;
	uint64_t handlers_over, total;
	uint64_t prev[ST_UC_MAX];
	struct st_ovsdp_stats dp[MAX_DP];
	int ndp;
};

static const char *const counter_names[ST_UC_MAX] = {
	[ST_UC_UPCALLS] = "upcalls", [ST_UC_NOT_KEYED] = "not_ipv4",
	[ST_UC_FILTERED] = "filtered", [ST_UC_PENDING_FULL] = "lost_pending_full",
	[ST_UC_EXECS] = "executes", [ST_UC_MATCHED] = "matched",
	[ST_UC_RINGBUF_FULL] = "lost_ringbuf_full",
};

static void hooks_init(struct upcall_bpf *s, struct st_local_hook *h)
{
	h[0] = (struct st_local_hook){
		.name = "ovs_dp_upcall (miss)", .n = 4,
		.alts = { { "fentry", "ovs_dp_upcall" }, { "kprobe", "ovs_dp_upcall" },
			  { "tp_btf", "ovs_dp_upcall" }, { "raw_tp", "ovs_dp_upcall" } },
		.prog = { s->progs.fentry_up_miss, s->progs.kprobe_up_miss,
			  s->progs.btf_up_miss, s->progs.raw_up_miss },
	};
	h[1] = (struct st_local_hook){
		.name = "ovs_execute_actions (re-injection)", .n = 4,
		.alts = { { "fentry", "ovs_execute_actions" }, { "kprobe", "ovs_execute_actions" },
			  { "tp_btf", "ovs_do_execute_action" }, { "raw_tp", "ovs_do_execute_action" } },
		.prog = { s->progs.fentry_up_exec, s->progs.kprobe_up_exec,
			  s->progs.btf_up_exec, s->progs.raw_up_exec },
	};
}

static void *ops_open(void) { return upcall_bpf__open(); }
static struct bpf_object *ops_obj(void *s) { return ((struct upcall_bpf *)s)->obj; }
static int ops_load(void *s) { return upcall_bpf__load(s); }
static void ops_destroy(void *s) { upcall_bpf__destroy(s); }
static void ops_init(void *s, struct st_local_hook *h) { hooks_init(s, h); }

static const struct st_hook_object_ops hook_ops = {
	ops_open, ops_obj, ops_load, ops_destroy, ops_init,
};

static const char *flow_str(const struct st_up_event *e, char *buf, size_t len)
{
	char s[16], d[16];
	const char *p = e->proto == 6 ? "tcp" : e->proto == 17 ? "udp" : e->proto == 1 ? "icmp" : "ip";

	inet_ntop(AF_INET, &e->saddr, s, sizeof(s));
	inet_ntop(AF_INET, &e->daddr, d, sizeof(d));
	if (e->proto == 6 || e->proto == 17)
		snprintf(buf, len, "%s %s:%u > %s:%u", p, s, ntohs(e->sport), d, ntohs(e->dport));
	else
		snprintf(buf, len, "%s %s > %s", p, s, d);
	return buf;
}

static struct handler *handler_of(struct upl *u, const struct st_up_event *e)
{
	for (int i = 0; i < u->nhs; i++)
		if (u->hs[i].tid == e->tid)
			return &u->hs[i];
	if (u->nhs == MAX_HANDLERS) {
		u->handlers_over++;
		return NULL;
	}
	u->hs[u->nhs] = (struct handler){ .tid = e->tid };
	memcpy(u->hs[u->nhs].comm, e->comm, sizeof(e->comm));
	u->hs[u->nhs].comm[15] = 0;
	st_hist_init(&u->hs[u->nhs].h);
	return &u->hs[u->nhs++];
}

static int on_event(void *ctx, void *data, size_t len)
{
	struct upl *u = ctx;
	const struct st_up_event *e = data;
	uint64_t lat;
	struct handler *h;

	if (len < sizeof(*e))
		return 0;
	lat = e->t_exec > e->t_upcall ? e->t_exec - e->t_upcall : 0;
	st_hist_add(&u->h, lat);
	u->total++;
	if ((h = handler_of(u, e)) != NULL) {
		st_hist_add(&h->h, lat);
		h->cpu = e->exec_cpu;
	}
	if (u->lo.verbose) {
		char t[32], f[80], comm[17];

		memcpy(comm, e->comm, 16);
		comm[16] = 0;
		st_local_mono_hms(e->t_upcall, t, sizeof(t));
		if (u->lo.json) {
			json_object *o = json_object_new_object();

			json_object_object_add(o, "event", json_object_new_string("upcall"));
			json_object_object_add(o, "time", json_object_new_string(t));
			json_object_object_add(o, "flow", json_object_new_string(flow_str(e, f, sizeof(f))));
			json_object_object_add(o, "latency_us", json_object_new_double(lat / 1000.0));
			json_object_object_add(o, "handler", json_object_new_string(comm));
			json_object_object_add(o, "tid", json_object_new_int64(e->tid));
			json_object_object_add(o, "miss_cpu", json_object_new_int64(e->upcall_cpu));
			json_object_object_add(o, "exec_cpu", json_object_new_int64(e->exec_cpu));
			printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
			json_object_put(o);
		} else {
			printf("%s upcall %-44s %10.1f us  handler %s/%u cpu %u->%u\n", t,
			       flow_str(e, f, sizeof(f)), lat / 1000.0, comm, e->tid,
			       e->upcall_cpu, e->exec_cpu);
		}
		fflush(stdout);
	}
	return 0;
}

static int setup_bpf(struct upl *u)
{
	struct st_up_cfg cfg = { 0 };
	uint32_t zero = 0;
	int err;

	u->skel = upcall_bpf__open();
	if (!u->skel) {
		fprintf(stderr, "error: cannot open the upcall BPF object: %s\n", strerror(errno));
		return ST_EXIT_FAIL;
	}
	hooks_init(u->skel, u->hooks);
	st_local_hooks_plan(u->hooks, NHOOKS);
	if (u->hooks[0].choice.index < 0 || u->hooks[1].choice.index < 0) {
		/* Without both ends there is no latency to measure. */
		if (!u->megaflow) {
			char b[900];
			int m = u->hooks[0].choice.index < 0 ? 0 : 1;

			fprintf(stderr, "error: cannot see OVS upcalls on this kernel: %s: %s\n",
				u->hooks[m].name, st_local_hook_status(&u->hooks[m], b, sizeof(b)));
			return ST_EXIT_FAIL;
		}
		return 0;
	}
	err = upcall_bpf__load(u->skel);
	if (err) {
		fprintf(stderr, "error: loading the upcall BPF programs failed: %s\n", strerror(-err));
		return ST_EXIT_FAIL;
	}
	st_pkt_filter_set(&cfg.pf, u->lo.proto_set ? u->lo.proto_num : 0, u->lo.sport,
			  u->lo.dport, &u->lo.src, &u->lo.dst, 0);
	if (bpf_map_update_elem(bpf_map__fd(u->skel->maps.up_cfg), &zero, &cfg, BPF_ANY)) {
		fprintf(stderr, "error: cannot configure the upcall BPF programs: %s\n", strerror(errno));
		return ST_EXIT_FAIL;
	}
	u->rb = ring_buffer__new(bpf_map__fd(u->skel->maps.up_events), on_event, u, NULL);
	if (!u->rb) {
		fprintf(stderr, "error: cannot open the upcall ring buffer: %s\n", strerror(errno));
		return ST_EXIT_FAIL;
	}
	if (st_local_hooks_attach(u->hooks, NHOOKS) < NHOOKS && !u->megaflow) {
		char b[900];

		for (int i = 0; i < NHOOKS; i++)
			if (!u->hooks[i].attached)
				fprintf(stderr, "error: attaching %s failed: %s\n", u->hooks[i].name,
					st_local_hook_status(&u->hooks[i], b, sizeof(b)));
		return ST_EXIT_FAIL;
	}
	u->traced = u->hooks[0].attached && u->hooks[1].attached;
	return 0;
}

static void read_counters(struct upl *u, uint64_t d[ST_UC_MAX])
{
	int fd = u->skel && u->traced ? bpf_map__fd(u->skel->maps.up_counters) : -1;

	for (uint32_t i = 0; i < ST_UC_MAX; i++) {
		uint64_t v = fd >= 0 ? st_local_percpu_sum(fd, i, u->ncpus) : 0;

		d[i] = v - u->prev[i];
		u->prev[i] = v;
	}
}

/* Datapath counters now, and their change since the last interval. */
static json_object *datapaths(struct upl *u, double secs, int print)
{
	struct st_ovsdp_stats now[MAX_DP];
	json_object *arr = json_object_new_array();
	int n = st_ovsdp_read(now, MAX_DP);

	if (n == -1) {
		if (print)
			printf("  datapath: none (the openvswitch module is not loaded)\n");
		return arr;
	}
	if (n < 0) {
		fprintf(stderr, "warning: reading the OVS datapath counters failed: %s\n", strerror(errno));
		return arr;
	}
	for (int i = 0; i < n; i++) {
		const struct st_ovsdp_stats *p = NULL, *c = &now[i];
		json_object *o = json_object_new_object();
		uint64_t dh, dm, dl, dmh;
		double per_pkt;

		for (int j = 0; j < u->ndp; j++)
			if (!strcmp(u->dp[j].name, c->name))
				p = &u->dp[j];
		dh = p ? c->hit - p->hit : 0;
		dm = p ? c->missed - p->missed : 0;
		dl = p ? c->lost - p->lost : 0;
		dmh = p ? c->mask_hit - p->mask_hit : 0;
		per_pkt = dh + dm ? (double)dmh / (double)(dh + dm) : 0;
		json_object_object_add(o, "datapath", json_object_new_string(c->name));
		json_object_object_add(o, "hit", json_object_new_int64((int64_t)dh));
		json_object_object_add(o, "missed", json_object_new_int64((int64_t)dm));
		json_object_object_add(o, "lost", json_object_new_int64((int64_t)dl));
		json_object_object_add(o, "hit_ratio", dh + dm ?
				       json_object_new_double((double)dh / (double)(dh + dm)) : NULL);
		json_object_object_add(o, "flows", json_object_new_int64((int64_t)c->flows));
		json_object_object_add(o, "masks", json_object_new_int64(c->masks));
		json_object_object_add(o, "masks_per_packet", json_object_new_double(per_pkt));
		json_object_object_add(o, "total_hit", json_object_new_int64((int64_t)c->hit));
		json_object_object_add(o, "total_missed", json_object_new_int64((int64_t)c->missed));
		json_object_object_add(o, "total_lost", json_object_new_int64((int64_t)c->lost));
		if (print)
			printf("  datapath %-12s hit %8llu (%9.1f/s)  missed %6llu (%7.1f/s)  lost %llu"
			       "  flows %llu  masks %u  masks/pkt %.2f%s\n", c->name,
			       (unsigned long long)dh, secs > 0 ? dh / secs : 0, (unsigned long long)dm,
			       secs > 0 ? dm / secs : 0, (unsigned long long)dl,
			       (unsigned long long)c->flows, c->masks, per_pkt,
			       p ? "" : "  (first reading: changes from the next interval)");
		json_object_array_add(arr, o);
	}
	memcpy(u->dp, now, sizeof(now[0]) * (size_t)n);
	u->ndp = n;
	return arr;
}

static void report(struct upl *u, double secs)
{
	uint64_t d[ST_UC_MAX];
	char t[32];

	read_counters(u, d);
	st_local_hms(t, sizeof(t));
	if (u->lo.json) {
		json_object *o = json_object_new_object(), *hs = json_object_new_array();
		json_object *cn = json_object_new_object();

		json_object_object_add(o, "time", json_object_new_string(t));
		json_object_object_add(o, "interval_s", json_object_new_double(secs));
		if (u->traced) {
			json_object_object_add(o, "upcalls", json_object_new_int64((int64_t)d[ST_UC_UPCALLS]));
			json_object_object_add(o, "latency", st_local_hist_json(&u->h));
			for (int i = 0; i < u->nhs; i++) {
				json_object *h = st_local_hist_json(&u->hs[i].h);

				json_object_object_add(h, "handler", json_object_new_string(u->hs[i].comm));
				json_object_object_add(h, "tid", json_object_new_int64(u->hs[i].tid));
				json_object_object_add(h, "cpu", json_object_new_int64(u->hs[i].cpu));
				json_object_array_add(hs, h);
			}
			for (int i = 0; i < ST_UC_MAX; i++)
				json_object_object_add(cn, counter_names[i], json_object_new_int64((int64_t)d[i]));
		}
		json_object_object_add(o, "handlers", hs);
		json_object_object_add(o, "counters", cn);
		if (u->megaflow)
			json_object_object_add(o, "datapaths", datapaths(u, secs, 0));
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
	} else {
		if (u->traced) {
			printf("%s upcalls %llu (%.1f/s), re-injected %llu%s\n",
			       t, (unsigned long long)d[ST_UC_UPCALLS],
			       secs > 0 ? d[ST_UC_UPCALLS] / secs : 0,
			       (unsigned long long)d[ST_UC_MATCHED],
			       u->h.count ? "; latency, kernel miss -> re-injection:" : "");
			if (u->h.count)
				st_local_hist_print(&u->h, "  ");
			if (u->nhs)
				printf("  %-16s %8s %4s %8s %10s %10s\n", "HANDLER", "TID", "CPU", "UPCALLS",
				       "P50_US", "MAX_US");
			for (int i = 0; i < u->nhs; i++)
				printf("  %-16s %8u %4u %8llu %10.1f %10.1f\n", u->hs[i].comm, u->hs[i].tid,
				       u->hs[i].cpu, (unsigned long long)u->hs[i].h.count,
				       st_hist_quantile(&u->hs[i].h, 0.5) / 1000.0, u->hs[i].h.max / 1000.0);
			if (d[ST_UC_NOT_KEYED] || d[ST_UC_FILTERED] || d[ST_UC_PENDING_FULL] ||
			    d[ST_UC_RINGBUF_FULL] || u->handlers_over)
				printf("  not timed: %llu not IPv4, %llu filtered; lost: %llu pending table full, "
				       "%llu ring buffer full, %llu beyond %d handlers\n",
				       (unsigned long long)d[ST_UC_NOT_KEYED], (unsigned long long)d[ST_UC_FILTERED],
				       (unsigned long long)d[ST_UC_PENDING_FULL],
				       (unsigned long long)d[ST_UC_RINGBUF_FULL],
				       (unsigned long long)u->handlers_over, MAX_HANDLERS);
		} else {
			printf("%s\n", t);
		}
		if (u->megaflow)
			json_object_put(datapaths(u, secs, 1));
		fflush(stdout);
	}
	st_hist_init(&u->h);
	u->nhs = 0;
	u->handlers_over = 0;
}

static int run(struct upl *u)
{
	struct st_local_ticker tk;
	double secs;

	if (!u->lo.json) {
		char hb[900];

		fprintf(stderr, "Tracing OVS upcalls%s.\n", u->megaflow ? " and datapath counters" : "");
		for (int i = 0; i < NHOOKS; i++)
			fprintf(stderr, "  hook %s: %s\n", u->hooks[i].name,
				st_local_hook_status(&u->hooks[i], hb, sizeof(hb)));
		if (!u->traced)
			fprintf(stderr, "  upcall latency: unavailable on this kernel (see the hooks); "
				"datapath counters only\n");
		fprintf(stderr, "Ctrl-C to end.\n");
	} else {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "hooks", st_local_hooks_json(u->hooks, NHOOKS));
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
	}
	if (u->megaflow)
		json_object_put(datapaths(u, 0, 0));	/* the baseline */
	st_local_ticker_init(&tk, u->lo.interval, u->lo.duration);
	for (;;) {
		int stop = st_local_ticker_wait(&tk, u->rb, u->lo.count, &secs);

		if (u->rb)
			ring_buffer__consume(u->rb);
		report(u, secs);
		if (stop)
			break;
	}
	return 0;
}

int cmd_upcall_local(int argc, char **argv)
{
	static const struct st_cmd_help help = {
		.name = CMD,
		.summary = "OVS upcall latency on this host per interval and handler; datapath hit/miss counters.",
		.description =
"Times every OVS upcall in the kernel: from the megaflow miss\n"
"(ovs_dp_upcall) to ovs-vswitchd re-injecting the same packet\n"
"(ovs_execute_actions from OVS_PACKET_CMD_EXECUTE), matched by the\n"
"packet's identity (addresses, ports, IP id and length: the agent's packet\n"
"key). Each interval prints the number of upcalls, a histogram of their\n"
"latency, and a row per handler thread (the thread that re-injected the\n"
"packet, with its CPU). -v prints every upcall as it completes. Upcalls of\n"
"non-IPv4 packets are counted but not timed; a miss whose packet userspace\n"
"never re-injects (dropped by its rules, or 'lost' by the datapath) has no\n"
"latency. --megaflow adds, per datapath, the kernel's own lookup counters\n"
"for the interval (hit, missed, lost, flows installed, masks, mask lookups\n"
"per packet), read over generic netlink as `ovs-dpctl show` does; it works\n"
"without the hooks too. Hooks are tried in order fentry, kprobe, tp_btf,\n"
"raw_tp (openvswitch: tracepoints); where none attaches the command says\n"
"why and exits 1 (without --megaflow).",
		.examples =
"  stagetrace upcall --local\n"
"  stagetrace upcall --local --megaflow -i 5\n"
"  stagetrace upcall --local -v --proto udp --dport 53\n"
"  stagetrace upcall --local --json -c 10",
	};
	struct upl *u = calloc(1, sizeof(*u));
	struct st_opt opts[ST_LOCAL_NOPTS + 4];
	size_t no = 0;
	int rc, ec, check = 0;

	if (!u)
		return ST_EXIT_FAIL;
	st_local_opts_init(&u->lo);
	opts[no++] = (struct st_opt){ "local", 0, ST_OPT_FLAG, &u->local, NULL,
				      "trace this host (without it: the collector's upcall matrix)" };
	st_local_opts_table(&u->lo, SUPPORTED, opts, &no, sizeof(opts) / sizeof(opts[0]) - 3);
	opts[no++] = (struct st_opt){ "megaflow", 'm', ST_OPT_FLAG, &u->megaflow, NULL,
				      "add the datapath's hit/miss/lost/flows/masks counters per interval" };
	opts[no++] = (struct st_opt){ "check-hooks", 0, ST_OPT_FLAG, &check, NULL,
				      "load each hook program through the verifier (no attach), report, exit" };
	opts[no] = (struct st_opt)ST_OPT_END;
	if (st_opts_parse_noargs(argc, argv, opts, &help, &ec)) {
		free(u);
		return ec;
	}
	if ((rc = st_local_validate(&u->lo, SUPPORTED, CMD)) || (rc = st_local_require_root(CMD))) {
		free(u);
		return rc;
	}
	st_log_route_libbpf();
	u->ncpus = libbpf_num_possible_cpus();
	st_hist_init(&u->h);
	if (check) {
		rc = st_local_hooks_check(&hook_ops, NHOOKS, u->lo.json);
		free(u);
		return rc;
	}
	rc = setup_bpf(u);
	if (!rc) {
		st_local_signals();
		rc = run(u);
		if (!u->lo.json)
			fprintf(stderr, "upcall: %llu upcalls timed; lost: %llu pending table full, "
				"%llu ring buffer full\n", (unsigned long long)u->total,
				(unsigned long long)u->prev[ST_UC_PENDING_FULL],
				(unsigned long long)u->prev[ST_UC_RINGBUF_FULL]);
	}
	st_local_hooks_destroy(u->hooks, NHOOKS);
	ring_buffer__free(u->rb);
	upcall_bpf__destroy(u->skel);
	free(u);
	return rc;
}
