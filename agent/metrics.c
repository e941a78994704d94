// SPDX-License-Identifier: MIT
/*
 * The agent's own /metrics (Prometheus text format), so a host whose agent
 * cannot reach the collector is still observable: every counter the agent
 * sends in its batches, what each stage hook got attached with, the
 * devices it traces, and the process's CPU and memory. Served by
 * common/httpsrv.c; rendering runs on the agent's libuv loop, which owns
 * every value read here. docs/metrics.md lists the names.
 */
#include "agent.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "httpsrv.h"
#include "log.h"
#include "promtext.h"
#include "stage_names.h"
#include "timeutil.h"

static void one_counter(void *ctx, const char *name, uint64_t v, int gauge)
{
	struct st_sbuf *b = ctx;

	if (gauge)
		return;
	st_prom_sample_u(b, "stagetrace_agent_events_total", v, "counter", name, NULL);
}

static void one_gauge(void *ctx, const char *name, uint64_t v, int gauge)
{
	struct st_sbuf *b = ctx;

	if (gauge)
		st_prom_sample_u(b, "stagetrace_agent_level", v, "level", name, NULL);
}

/* Resident set size from /proc/self/statm, bytes (0 if unreadable). */
static uint64_t rss_bytes(void)
{
	unsigned long size, res = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f) {
		if (fscanf(f, "%lu %lu", &size, &res) != 2)
			res = 0;
		fclose(f);
	}
	return (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE);
}

static void render_process(struct st_agent *a, struct st_sbuf *b)
{
	struct rusage ru;
	double cpu = 0;

	if (!getrusage(RUSAGE_SELF, &ru))
		cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
		      (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	st_prom_family(b, "process_cpu_seconds_total", "counter", "User and system CPU time of the agent.");
	st_prom_sample_d(b, "process_cpu_seconds_total", cpu, NULL);
	st_prom_family(b, "process_resident_memory_bytes", "gauge", "Resident memory of the agent.");
	st_prom_sample_u(b, "process_resident_memory_bytes", rss_bytes(), NULL);
	st_prom_family(b, "process_start_time_seconds", "gauge", "When the agent started, Unix time.");
	st_prom_sample_d(b, "process_start_time_seconds", (double)a->start_real_ns / 1e9, NULL);
}

static void render(struct st_agent *a, struct st_sbuf *b)
{
	unsigned unusable = 0;

	st_prom_family(b, "stagetrace_agent_info", "gauge", "Always 1; the host name this agent reports as.");
	st_prom_sample_u(b, "stagetrace_agent_info", 1, "host", a->cfg.host, "collector",
			 a->cfg.collector, NULL);
	st_prom_family(b, "stagetrace_agent_events_total", "counter",
		       "The agent's counters (BPF side summed over CPUs, and user space): events, losses, batches.");
	st_agent_counters_each(a, one_counter, b);
	st_prom_family(b, "stagetrace_agent_level", "gauge", "Levels the agent keeps, e.g. batches queued for the collector.");
	st_agent_counters_each(a, one_gauge, b);
	st_prom_family(b, "stagetrace_agent_hook_attached", "gauge",
		       "1 when the stage hook is attached (label method), 0 when it is unavailable or failed (label status).");
	for (unsigned h = 1; h < ST_HOOK_MAX; h++) {
		const struct st_probe *p = &a->probes[h];
		int ok = p->status && !strcmp(p->status, "attached");

		unusable += !ok;
		st_prom_sample_u(b, "stagetrace_agent_hook_attached", ok, "hook", st_hook_name(h),
				 "method", p->method ? p->method : "", "status",
				 p->status ? p->status : "unknown", NULL);
	}
	st_prom_family(b, "stagetrace_agent_hooks_unattached", "gauge", "Stage hooks without a working attach.");
	st_prom_sample_u(b, "stagetrace_agent_hooks_unattached", unusable, NULL);
	st_prom_family(b, "stagetrace_agent_devices", "gauge", "Devices traced, in how many network namespaces.");
	st_prom_sample_u(b, "stagetrace_agent_devices", (uint64_t)a->devs.n, "what", "devices", NULL);
	st_prom_sample_u(b, "stagetrace_agent_devices", (uint64_t)a->devs.n_netns, "what", "netns", NULL);
	render_process(a, b);
}

static void http_metrics(void *arg, struct st_http_exchange *x)
{
	struct st_sbuf b = { 0 };

	render(arg, &b);
	if (b.oom || !b.p) {
		free(b.p);
		pr_warn("metrics: out of memory rendering the text");
		x->status = 500;
		return;
	}
	x->status = 200;
	x->content_type = "text/plain; version=0.0.4; charset=utf-8";
	x->out = b.p;
	x->out_len = b.len;
}

int st_agent_metrics_start(struct st_agent *a, const char *url)
{
	struct st_http_route r = { .path = "/metrics", .method = "GET", .fn = http_metrics, .arg = a };

	return st_httpsrv_start(a->loop, url, "--metrics", &r, 1, NULL, NULL, &a->metrics);
}

void st_agent_metrics_stop(struct st_agent *a)
{
	st_httpsrv_stop(a->metrics);
	a->metrics = NULL;
}
