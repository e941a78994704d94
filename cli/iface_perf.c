// SPDX-License-Identifier: MIT
/*
 * stagetrace iface --perf: what moving the packets costs. Per interval, CPU
 * use of the whole machine from /proc/stat (user, system, irq, softirq,
 * iowait, idle, steal, as a share of all CPUs' time) and the time CPUs spent in the
 * network softirqs, NET_RX and NET_TX, measured by bpf/iface.bpf.c between
 * irq:softirq_entry and softirq_exit: runs, total time, average run and
 * time per packet (received plus sent) of the devices iface shows. The
 * softirq time is machine-wide: per packet it means something when the
 * devices shown carry the machine's traffic. The vector numbers are read
 * from the running kernel's BTF (NET_RX_SOFTIRQ, NET_TX_SOFTIRQ).
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpf/iface.h"
#include "iface.h"
#include "iface.skel.h"
#include "log.h"
#include "opts.h"

_Static_assert(sizeof(struct st_if_softirq) == 32, "st_if_softirq layout");

struct cpu_times {
	unsigned long long user, nice, sys, idle, iowait, irq, softirq, steal;
};

struct vec {
	const char *name;
	int nr;			/* -1: not in this kernel's BTF */
	struct st_if_softirq last;
};

struct ifc_perf {
	struct iface_bpf *skel;
	const char *method;
	int ncpus, json;
	struct cpu_times last;
	struct vec v[2];
};

static int read_cpu(struct cpu_times *c)
{
	FILE *f = fopen("/proc/stat", "re");
	int n;

	memset(c, 0, sizeof(*c));
	if (!f)
		return -errno;
	n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &c->user, &c->nice, &c->sys,
		   &c->idle, &c->iowait, &c->irq, &c->softirq, &c->steal);
	fclose(f);
	return n >= 7 ? 0 : -EINVAL;
}

static void read_vec(struct ifc_perf *p, int nr, struct st_if_softirq *out)
{
	struct st_if_softirq *per = calloc(p->ncpus, sizeof(*per));
	uint32_t key = (uint32_t)nr;

	memset(out, 0, sizeof(*out));
	if (!per)
		return;
	if (!bpf_map_lookup_elem(bpf_map__fd(p->skel->maps.if_softirq), &key, per))
		for (int c = 0; c < p->ncpus; c++) {
			out->count += per[c].count;
			out->ns += per[c].ns;
			out->unmatched += per[c].unmatched;
			if (per[c].max_ns > out->max_ns)
				out->max_ns = per[c].max_ns;
		}
	free(per);
}

int ifc_perf_start(struct ifc_perf **pp, int json)
{
	struct ifc_perf *p = calloc(1, sizeof(*p));
	struct st_enum_names sv;
	char why[400];
	const char *m2;
	int err;

	*pp = p;
	if (!p)
		return ST_EXIT_FAIL;
	p->json = json;
	p->v[0] = (struct vec){ .name = "NET_RX", .nr = -1 };
	p->v[1] = (struct vec){ .name = "NET_TX", .nr = -1 };
	if (!st_btf_enum_load_member("NET_RX_SOFTIRQ", "", &sv)) {
		for (size_t i = 0; i < sv.n; i++) {
			if (!strcmp(sv.v[i].name, "NET_RX_SOFTIRQ"))
				p->v[0].nr = (int)sv.v[i].val;
			if (!strcmp(sv.v[i].name, "NET_TX_SOFTIRQ"))
				p->v[1].nr = (int)sv.v[i].val;
		}
		st_enum_names_free(&sv);
	}
	if (p->v[0].nr < 0 || p->v[0].nr >= ST_IF_NR_VEC || p->v[1].nr < 0 ||
	    p->v[1].nr >= ST_IF_NR_VEC) {
		fprintf(stderr, "error: --perf: no NET_RX_SOFTIRQ/NET_TX_SOFTIRQ in the kernel's BTF\n");
		return ST_EXIT_FAIL;
	}
	p->ncpus = libbpf_num_possible_cpus();
	st_log_route_libbpf();
	p->skel = iface_bpf__open();
	if (!p->skel || p->ncpus <= 0) {
		fprintf(stderr, "error: cannot open the iface BPF object: %s\n", strerror(errno));
		return ST_EXIT_FAIL;
	}
	p->method = st_local_tp_select(p->skel->obj, "softirq_entry", NULL, why, sizeof(why));
	m2 = p->method ? st_local_tp_select(p->skel->obj, "softirq_exit", p->method, why,
					   sizeof(why)) : NULL;
	if (!p->method || !m2) {
		fprintf(stderr, "error: --perf cannot attach to irq:softirq_entry/exit: %s\n", why);
		return ST_EXIT_FAIL;
	}
	err = iface_bpf__load(p->skel);
	if (!err)
		err = iface_bpf__attach(p->skel);
	if (err) {
		fprintf(stderr, "error: loading the softirq BPF programs failed: %s\n", strerror(-err));
		return ST_EXIT_FAIL;
	}
	read_cpu(&p->last);
	for (int i = 0; i < 2; i++)
		read_vec(p, p->v[i].nr, &p->v[i].last);
	return 0;
}

void ifc_perf_interval(struct ifc_perf *p, double secs, uint64_t rx_pkts, uint64_t tx_pkts,
		       json_object *o)
{
	struct cpu_times c;
	unsigned long long tot;
	double pct[7];
	json_object *jp = NULL, *jc = NULL, *js = NULL;
	static const char *const cpu_names[7] = { "user", "system", "irq", "softirq", "iowait", "idle",
						  "steal" };

	if (!p)
		return;
	read_cpu(&c);
	tot = (c.user + c.nice + c.sys + c.idle + c.iowait + c.irq + c.softirq + c.steal) -
	      (p->last.user + p->last.nice + p->last.sys + p->last.idle + p->last.iowait +
	       p->last.irq + p->last.softirq + p->last.steal);
	pct[0] = (c.user + c.nice) - (p->last.user + p->last.nice);
	pct[1] = c.sys - p->last.sys;
	pct[2] = c.irq - p->last.irq;
	pct[3] = c.softirq - p->last.softirq;
	pct[4] = c.iowait - p->last.iowait;
	pct[5] = c.idle - p->last.idle;
	pct[6] = c.steal - p->last.steal;
	for (int i = 0; i < 7; i++)
		pct[i] = tot ? 100.0 * pct[i] / tot : 0;
	p->last = c;
	if (o) {
		jp = json_object_new_object();
		jc = json_object_new_object();
		js = json_object_new_object();
		for (int i = 0; i < 7; i++)
			json_object_object_add(jc, cpu_names[i], json_object_new_double(pct[i]));
		json_object_object_add(jc, "cpus", json_object_new_int(p->ncpus));
		json_object_object_add(jp, "cpu_pct", jc);
	} else {
		printf("%-8s cpu: user %.1f%% sys %.1f%% irq %.1f%% softirq %.1f%% iowait %.1f%% "
		       "idle %.1f%% steal %.1f%% (%d CPUs)\n", "", pct[0], pct[1], pct[2], pct[3], pct[4],
		       pct[5], pct[6], p->ncpus);
	}
	for (int i = 0; i < 2; i++) {
		struct st_if_softirq now, d;
		uint64_t pk = rx_pkts + tx_pkts;

		read_vec(p, p->v[i].nr, &now);
		d.count = now.count - p->v[i].last.count;
		d.ns = now.ns - p->v[i].last.ns;
		d.unmatched = now.unmatched - p->v[i].last.unmatched;
		p->v[i].last = now;
		if (o) {
			json_object *v = json_object_new_object();

			json_object_object_add(v, "runs", json_object_new_int64(d.count));
			json_object_object_add(v, "time_ms", json_object_new_double(d.ns / 1e6));
			json_object_object_add(v, "cpu_pct", json_object_new_double(
				secs > 0 ? 100.0 * d.ns / (secs * 1e9 * p->ncpus) : 0));
			json_object_object_add(v, "avg_us", json_object_new_double(
				d.count ? d.ns / 1e3 / d.count : 0));
			json_object_object_add(v, "max_us_since_start", json_object_new_double(now.max_ns / 1e3));
			json_object_object_add(v, "us_per_packet", pk ?
				json_object_new_double(d.ns / 1e3 / pk) : NULL);
			json_object_object_add(v, "unmatched", json_object_new_int64(d.unmatched));
			json_object_object_add(js, p->v[i].name, v);
		} else {
			printf("%-8s %s softirq: %llu runs, %.2f ms (%.2f%% of the CPUs), avg %.1f us, "
			       "max %.1f us since start", "", p->v[i].name, (unsigned long long)d.count,
			       d.ns / 1e6, secs > 0 ? 100.0 * d.ns / (secs * 1e9 * p->ncpus) : 0,
			       d.count ? d.ns / 1e3 / d.count : 0, now.max_ns / 1e3);
			if (pk)
				printf(", %.2f us per packet shown", d.ns / 1e3 / pk);
			printf("\n");
		}
	}
	if (o) {
		json_object_object_add(jp, "softirq", js);
		json_object_object_add(jp, "method", json_object_new_string(p->method));
		json_object_object_add(o, "perf", jp);
	}
}

void ifc_perf_stop(struct ifc_perf *p)
{
	if (!p)
		return;
	iface_bpf__destroy(p->skel);
	free(p);
}
