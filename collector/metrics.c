// SPDX-License-Identifier: MIT
/*
 * Prometheus metrics: GET /metrics, text exposition format 0.0.4.
 *
 * Serving is common/httpsrv.c's: requests reach http_metrics() on the
 * libuv loop, which renders the text from collector state.
 *
 * What is rendered (docs/metrics.md is the reference): the collector's
 * counters, every agent's reported counters and attach results, the clock
 * models (read through c_clock_json so the figures are exactly those of
 * `stagetrace clocks`), and per (source, destination) pair latency. A
 * Prometheus histogram must be a set of monotonic counters, so pair latency
 * is a histogram of what was finalised since this collector started. It is
 * kept in memory, from the store: every update (each scrape, and every 10 s
 * in any case) reads the "total" rows of the per-minute hist table within a
 * horizon of recent minutes, and adds what each row gained since it was
 * last read. Rows present at start-up are read once as a baseline and not
 * counted. The fixed le buckets (10 us to 1 s) are counted from the
 * log-linear histogram by bucket midpoint, the value the histogram itself
 * reports for its contents. Next to it, a summary gives accurate quantiles
 * over the last five minutes, the sliding window client-library summaries
 * use too, merged with st_hist_merge_encoded as query.c does; its _sum and
 * _count are the cumulative ones. Pair-level series are capped at the
 * busiest max_pairs pairs; what is cut is counted. The pair part lives in
 * metrics_pairs.c; this file has the endpoint and the other families.
 */

#include <inttypes.h>
#include <json-c/json.h>
#include <math.h>
#include <nng/nng.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics_int.h"
#include "httpsrv.h"
#include "log.h"
#include "opts.h"
#include "pktkey.h"
#include "timeutil.h"

/* Agent counters that are levels, not counts: exported as gauges. */
static const char *const agent_gauges[] = { "batches_queued", "ovs_dp_flows", "ovs_dp_masks" };

/* ---- rendering ---------------------------------------------------------- */

static void render_collector(struct st_metrics *m, struct st_sbuf *b)
{
	const struct st_collector *c = m->c;
	const struct c_counters *k = &c->c;
	static const struct {
		const char *name, *help;
		size_t off;
	} counters[] = {
#define K(f, n, h) { "stagetrace_collector_" n "_total", h, offsetof(struct c_counters, f) }
		K(batches, "batches", "Batches accepted from agents (replayed ones included)."),
		K(batches_dup, "batches_duplicate", "Batches resent by agents and already stored."),
		K(batches_bad, "batches_rejected", "Messages rejected as malformed."),
		K(replayed_batches, "batches_replayed", "Inbox batches replayed at start-up."),
		K(paths, "paths", "Host paths received."),
		K(paths_bad, "paths_rejected", "Host paths rejected as malformed."),
		K(extra_parts, "extra_parts", "Host paths with a packet id already seen on that host."),
		K(negative_segments, "negative_segments", "Stage intervals below zero (clock disagreement), counted as zero."),
		K(turnarounds, "turnarounds", "VM turnarounds measured."),
		K(guest_waits, "guest_waits", "Packets complete on the hypervisors that waited for the part of an agent inside their VM."),
		K(guest_addrs_full, "guest_addrs_full", "Parts from an in-guest agent whose VM address could not be learnt: the set was full."),
		K(flushes, "flushes", "Aggregate flushes committed to the store."),
		K(flush_errors, "flush_errors", "Aggregate flushes that failed (retried)."),
		K(clock_probes, "clock_probes", "Clock probes answered on the control channel."),
		K(clock_steps, "clock_steps", "Clock steps detected (host clock, control channel or data plane)."),
#undef K
	};
	const struct {
		const char *outcome;
		uint64_t v;
	} packets[] = {
		{ "matched", k->matched }, { "local", k->local }, { "lost", k->lost },
		{ "dropped", k->dropped }, { "unmatched", k->unmatched_rx },
		{ "incomplete", k->incomplete },
	};

	for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++) {
		st_prom_family(b, counters[i].name, "counter", counters[i].help);
		st_prom_sample_u(b, counters[i].name,
			 *(const uint64_t *)((const char *)k + counters[i].off), NULL);
	}
	st_prom_family(b, "stagetrace_collector_packets_total", "counter",
	       "Packets finalised, by outcome: matched (across hosts), local (VM to VM on one host), "
	       "lost (left a host, never arrived), dropped, unmatched (arrived, sender untraced), incomplete.");
	for (size_t i = 0; i < sizeof(packets) / sizeof(packets[0]); i++)
		st_prom_sample_u(b, "stagetrace_collector_packets_total", packets[i].v,
			 "outcome", packets[i].outcome, NULL);
	st_prom_family(b, "stagetrace_collector_pending_packets", "gauge",
	       "Packets waiting for their other host paths.");
	st_prom_sample_u(b, "stagetrace_collector_pending_packets", c->pending.len, NULL);
	st_prom_family(b, "stagetrace_collector_hosts", "gauge", "Agent hosts known to the collector.");
	st_prom_sample_u(b, "stagetrace_collector_hosts", (uint64_t)c->n_hosts, NULL);
	st_prom_family(b, "stagetrace_collector_start_time_seconds", "gauge",
	       "When the collector started, seconds since the epoch.");
	st_prom_sample_d(b, "stagetrace_collector_start_time_seconds", m->start_ns / 1e9, NULL);
}

static int is_agent_gauge(const char *name)
{
	for (size_t i = 0; i < sizeof(agent_gauges) / sizeof(agent_gauges[0]); i++)
		if (!strcmp(name, agent_gauges[i]))
			return 1;
	return 0;
}

/* 1 if counter j of host h repeats an earlier one (a hostile batch could). */
static int counter_dup(const struct c_host *h, int j)
{
	for (int i = 0; i < j; i++)
		if (!strcmp(h->counters[i].name, h->counters[j].name))
			return 1;
	return 0;
}

static const char *probe_method(const struct c_host *h, int j)
{
	return h->probes[j].method[0] ? h->probes[j].method : "none";
}

static int probe_dup(const struct c_host *h, int j)
{
	for (int i = 0; i < j; i++)
		if (!strcmp(h->probes[i].hook, h->probes[j].hook) &&
		    !strcmp(probe_method(h, i), probe_method(h, j)))
			return 1;
	return 0;
}

static void render_agents(struct st_metrics *m, struct st_sbuf *b, int64_t now_ns)
{
	const struct st_collector *c = m->c;
	const struct c_host *h;
	int i, j;

	st_prom_family(b, "stagetrace_agent_batches_total", "counter",
	       "Batches received from the agent since the collector started.");
	for (i = 0, h = c->hosts; i < c->n_hosts; i++, h++)
		st_prom_sample_u(b, "stagetrace_agent_batches_total", h->batches, "host", h->name, NULL);
	st_prom_family(b, "stagetrace_agent_paths_total", "counter",
	       "Host paths received from the agent since the collector started.");
	for (i = 0, h = c->hosts; i < c->n_hosts; i++, h++)
		st_prom_sample_u(b, "stagetrace_agent_paths_total", h->paths, "host", h->name, NULL);
	st_prom_family(b, "stagetrace_agent_restarts_total", "counter",
	       "Agent restarts (a new agent instance) seen since the collector started.");
	for (i = 0, h = c->hosts; i < c->n_hosts; i++, h++)
		st_prom_sample_u(b, "stagetrace_agent_restarts_total", h->restarts, "host", h->name, NULL);
	/* Hosts known only from replayed batches have not been seen live. */
	st_prom_family(b, "stagetrace_agent_last_seen_timestamp_seconds", "gauge",
	       "When the agent's latest batch arrived, seconds since the epoch.");
	for (i = 0, h = c->hosts; i < c->n_hosts; i++, h++)
		if (h->last_seen_ns)
			st_prom_sample_d(b, "stagetrace_agent_last_seen_timestamp_seconds",
				 h->last_seen_ns / 1e9, "host", h->name, NULL);
	st_prom_family(b, "stagetrace_agent_last_seen_age_seconds", "gauge",
	       "Seconds since the agent's latest batch arrived (agents send one every flush).");
	for (i = 0, h = c->hosts; i < c->n_hosts; i++, h++)
		if (h->last_seen_ns)
			st_prom_sample_d(b, "stagetrace_agent_last_seen_age_seconds",
				 (now_ns - h->last_seen_ns) / 1e9, "host", h->name, NULL);
	st_prom_family(b, "stagetrace_agent_sample_ratio", "gauge",
	       "Fraction of packets the agent traces (sample K/N).");
	for (i = 0, h = c->hosts; i < c->n_hosts; i++, h++)
		if (h->sample_n)
			st_prom_sample_d(b, "stagetrace_agent_sample_ratio",
				 (double)h->sample_k / h->sample_n, "host", h->name, NULL);
	st_prom_family(b, "stagetrace_agent_events_total", "counter",
	       "The agent's own counters as reported in its latest batch, one series per "
	       "counter name (label counter), e.g. bpf_paths_lost_ringbuf, batches_dropped.");
	for (i = 0, h = c->hosts; i < c->n_hosts; i++, h++)
		for (j = 0; j < h->n_counters; j++)
			if (h->counters[j].name[0] && !is_agent_gauge(h->counters[j].name) &&
			    !counter_dup(h, j))
				st_prom_sample_u(b, "stagetrace_agent_events_total", h->counters[j].value,
					 "host", h->name, "counter", h->counters[j].name, NULL);
	st_prom_family(b, "stagetrace_agent_batches_queued", "gauge",
	       "Batches waiting in the agent's send queue, as reported in its latest batch.");
	for (i = 0, h = c->hosts; i < c->n_hosts; i++, h++)
		for (j = 0; j < h->n_counters; j++)
			if (!strcmp(h->counters[j].name, "batches_queued") && !counter_dup(h, j))
				st_prom_sample_u(b, "stagetrace_agent_batches_queued", h->counters[j].value,
					 "host", h->name, NULL);
	/* Levels of the host's OVS kernel datapath (agent/counters.c); its
	 * hit/missed/lost/mask_hit counts are in events_total. */
	st_prom_family(b, "stagetrace_agent_ovs_datapath_flows", "gauge",
	       "Megaflows in the host's OVS kernel datapaths, as its agent last read them.");
	for (i = 0, h = c->hosts; i < c->n_hosts; i++, h++)
		for (j = 0; j < h->n_counters; j++)
			if (!strcmp(h->counters[j].name, "ovs_dp_flows") && !counter_dup(h, j))
				st_prom_sample_u(b, "stagetrace_agent_ovs_datapath_flows",
						 h->counters[j].value, "host", h->name, NULL);
	st_prom_family(b, "stagetrace_agent_ovs_datapath_masks", "gauge",
	       "Megaflow masks in the host's OVS kernel datapaths (each one a lookup per miss of the cache).");
	for (i = 0, h = c->hosts; i < c->n_hosts; i++, h++)
		for (j = 0; j < h->n_counters; j++)
			if (!strcmp(h->counters[j].name, "ovs_dp_masks") && !counter_dup(h, j))
				st_prom_sample_u(b, "stagetrace_agent_ovs_datapath_masks",
						 h->counters[j].value, "host", h->name, NULL);
	st_prom_family(b, "stagetrace_agent_probe_attached", "gauge",
	       "1 if the agent's program for the hook is attached with the method, else 0 "
	       "(method none: no method works on the host's kernel).");
	for (i = 0, h = c->hosts; i < c->n_hosts; i++, h++)
		for (j = 0; j < h->n_probes; j++)
			if (h->probes[j].hook[0] && !probe_dup(h, j))
				st_prom_sample_u(b, "stagetrace_agent_probe_attached",
					 !strcmp(h->probes[j].status, "attached"), "host", h->name,
					 "hook", h->probes[j].hook, "method", probe_method(h, j), NULL);
}

/* A number of a JSON object; 0 (and *v untouched) when absent or null. */
static int jnum(json_object *o, const char *key, double *v)
{
	json_object *x;

	if (!json_object_object_get_ex(o, key, &x) || !x)
		return 0;
	*v = json_object_get_double(x);
	return 1;
}

static const char *jstr(json_object *o, const char *key)
{
	json_object *x;

	if (!json_object_object_get_ex(o, key, &x) || !x)
		return "";
	return json_object_get_string(x);
}

struct m_cpair {
	json_object *o;
	double samples;
};

static int cpair_cmp(const void *a, const void *b)
{
	const struct m_cpair *x = a, *y = b;
	int r;

	if (x->samples != y->samples)
		return x->samples > y->samples ? -1 : 1;
	r = strcmp(jstr(x->o, "a"), jstr(y->o, "a"));
	return r ? r : strcmp(jstr(x->o, "b"), jstr(y->o, "b"));
}

/* One clock family over the hosts: key's value (us, ppm...) times scale. */
static void clock_hosts(struct st_sbuf *b, json_object *hosts, const char *name, const char *type,
			const char *help, const char *key, double scale)
{
	size_t n = json_object_array_length(hosts);

	st_prom_family(b, name, type, help);
	for (size_t i = 0; i < n; i++) {
		json_object *o = json_object_array_get_idx(hosts, i);
		double v;

		if (jnum(o, key, &v))
			st_prom_sample_d(b, name, v * scale, "host", jstr(o, "host"), NULL);
	}
}

static void render_clocks(struct st_metrics *m, struct st_sbuf *b)
{
	json_object *cj = c_clock_json(m->c), *hosts, *pairs;
	struct m_cpair *cp = NULL;
	size_t n, np = 0;

	if (!cj)
		return;
	if (!json_object_object_get_ex(cj, "hosts", &hosts) || !hosts ||
	    !json_object_object_get_ex(cj, "pairs", &pairs) || !pairs) {
		json_object_put(cj);
		m->errors++;
		return;
	}
	clock_hosts(b, hosts, "stagetrace_clock_offset_seconds", "gauge",
		    "How far the host's clock is ahead of the collector's, by the clock model.",
		    "offset_us", 1e-6);
	clock_hosts(b, hosts, "stagetrace_clock_drift_ratio", "gauge",
		    "How fast the host's clock runs against the collector's (positive: fast), "
		    "seconds per second.", "drift_ppm", 1e-6);
	clock_hosts(b, hosts, "stagetrace_clock_bound_seconds", "gauge",
		    "Error bound of the host's clock model.", "bound_us", 1e-6);
	clock_hosts(b, hosts, "stagetrace_clock_model_age_seconds", "gauge",
		    "Age of the host's clock model.", "age_s", 1);
	clock_hosts(b, hosts, "stagetrace_clock_steps_total", "counter",
		    "Clock steps seen on the host (control channel and host clock).", "steps", 1);
	st_prom_family(b, "stagetrace_clock_source_info", "gauge",
	       "The source of the host's clock model (data-plane, control, host-clock, none); always 1.");
	n = json_object_array_length(hosts);
	for (size_t i = 0; i < n; i++) {
		json_object *o = json_object_array_get_idx(hosts, i);

		st_prom_sample_u(b, "stagetrace_clock_source_info", 1, "host", jstr(o, "host"),
			 "source", jstr(o, "source"), NULL);
	}

	/* Host pairs with cross-host traffic: the busiest max_pairs of them. */
	n = json_object_array_length(pairs);
	if (n && !(cp = calloc(n, sizeof(*cp)))) {
		m->errors++;
		n = 0;
	}
	for (size_t i = 0; i < n; i++) {
		double ab = 0, ba = 0;

		cp[np].o = json_object_array_get_idx(pairs, i);
		jnum(cp[np].o, "samples_ab", &ab);
		jnum(cp[np].o, "samples_ba", &ba);
		cp[np++].samples = ab + ba;
	}
	if (np)
		qsort(cp, np, sizeof(*cp), cpair_cmp);
	m->clock_pairs_cut = np > m->max_pairs ? np - m->max_pairs : 0;
	if (np > m->max_pairs)
		np = m->max_pairs;
	st_prom_family(b, "stagetrace_clock_pair_bound_seconds", "gauge",
	       "Error bound of the difference of two hosts' clocks: what a cross-host interval "
	       "between them can be wrong by.");
	for (size_t i = 0; i < np; i++) {
		double v;

		if (jnum(cp[i].o, "bound_us", &v))
			st_prom_sample_d(b, "stagetrace_clock_pair_bound_seconds", v * 1e-6,
				 "host_a", jstr(cp[i].o, "a"), "host_b", jstr(cp[i].o, "b"), NULL);
	}
	st_prom_family(b, "stagetrace_clock_pair_data_plane", "gauge",
	       "1 if the data plane (traffic both ways) ties the two hosts' clocks, else 0.");
	for (size_t i = 0; i < np; i++) {
		json_object *x;

		st_prom_sample_u(b, "stagetrace_clock_pair_data_plane",
			 json_object_object_get_ex(cp[i].o, "data_plane", &x) &&
			 json_object_get_boolean(x),
			 "host_a", jstr(cp[i].o, "a"), "host_b", jstr(cp[i].o, "b"), NULL);
	}
	free(cp);
	json_object_put(cj);
}

/* Busiest first: packets in the window, then since start, then by name. */
static void render_slos(struct st_metrics *m, struct st_sbuf *b)
{
	struct st_collector *c = m->c;
	static const char *wins[4] = { "fast_short", "fast_long", "slow_short", "slow_long" };
	double secs[4] = { c->slo_cfg.fast_short, c->slo_cfg.fast_long,
			   c->slo_cfg.slow_short, c->slo_cfg.slow_long };

	if (!c->n_slo)
		return;
	st_prom_family(b, "stagetrace_slo_burn_rate", "gauge",
	       "Share of bad 10-s slices over the window divided by the error budget.");
	for (int i = 0; i < c->n_slo; i++)
		for (int w = 0; w < 4; w++) {
			double v = c_slo_burn(&c->slo[i],
					      (uint32_t)ceil(secs[w] / (SLO_SLICE_NS / 1e9)));

			if (v >= 0)
				st_prom_sample_d(b, "stagetrace_slo_burn_rate", v, "slo", c->slo[i].name,
					 "window", wins[w], NULL);
		}
	st_prom_family(b, "stagetrace_slo_alert", "gauge", "1 while the SLO's burn-rate alert fires.");
	for (int i = 0; i < c->n_slo; i++) {
		st_prom_sample_u(b, "stagetrace_slo_alert", (uint64_t)c->slo[i].fast, "slo",
			 c->slo[i].name, "severity", "fast", NULL);
		st_prom_sample_u(b, "stagetrace_slo_alert", (uint64_t)c->slo[i].slow, "slo",
			 c->slo[i].name, "severity", "slow", NULL);
	}
	st_prom_family(b, "stagetrace_slo_objective_seconds", "gauge",
	       "The SLO's latency threshold for its quantile of SRC->DST end to end.");
	for (int i = 0; i < c->n_slo; i++) {
		char q[16];

		snprintf(q, sizeof(q), "%g", c->slo[i].q);
		st_prom_sample_d(b, "stagetrace_slo_objective_seconds", c->slo[i].threshold_ns / 1e9,
			 "slo", c->slo[i].name, "src", c->slo[i].src, "dst", c->slo[i].dst,
			 "slo_quantile", q, NULL);
	}
}

static void render_self(struct st_metrics *m, struct st_sbuf *b, uint64_t t0)
{
	st_prom_family(b, "stagetrace_metrics_renders_total", "counter",
	       "Metrics texts rendered (one serves every request waiting).");
	st_prom_sample_u(b, "stagetrace_metrics_renders_total", m->renders, NULL);
	st_prom_family(b, "stagetrace_metrics_errors_total", "counter",
	       "Store queries that failed and stored histograms that did not decode, while rendering metrics.");
	st_prom_sample_u(b, "stagetrace_metrics_errors_total", m->errors, NULL);
	st_prom_family(b, "stagetrace_metrics_pairs_exported", "gauge",
	       "(src, dst) pairs with series in this text (at most --metrics-max-pairs).");
	st_prom_sample_u(b, "stagetrace_metrics_pairs_exported", m->pairs_exported, NULL);
	st_prom_family(b, "stagetrace_metrics_pairs_known", "gauge",
	       "(src, dst) pairs the collector keeps totals for (stored rows seen since it started).");
	st_prom_sample_u(b, "stagetrace_metrics_pairs_known", m->pairs.len, NULL);
	st_prom_family(b, "stagetrace_metrics_pairs_cut", "gauge",
	       "(src, dst) pairs with packets in the last 5 minutes left out by --metrics-max-pairs.");
	st_prom_sample_u(b, "stagetrace_metrics_pairs_cut", m->pairs_cut, NULL);
	st_prom_family(b, "stagetrace_metrics_clock_pairs_cut", "gauge",
	       "Host pairs left out of the clock pair series by --metrics-max-pairs.");
	st_prom_sample_u(b, "stagetrace_metrics_clock_pairs_cut", m->clock_pairs_cut, NULL);
	st_prom_family(b, "stagetrace_metrics_stages_cut", "gauge",
	       "Stage-mean series left out of this text because a pair had more than 32 stages.");
	st_prom_sample_u(b, "stagetrace_metrics_stages_cut", m->stages_cut, NULL);
	st_prom_family(b, "stagetrace_metrics_render_seconds", "gauge",
	       "Time taken to render this text, up to this line.");
	st_prom_sample_d(b, "stagetrace_metrics_render_seconds", (st_mono_ns() - t0) / 1e9, NULL);
}

char *c_metrics_render(struct st_metrics *m, size_t *len)
{
	struct st_sbuf b = { 0 };
	uint64_t t0 = st_mono_ns();
	int64_t now;

	/* As queries do: include every path finalised before the request. */
	c_flush(m->c);
	now = (int64_t)st_real_ns();
	m_update(m, now / 1000000000);
	m->renders++;
	render_collector(m, &b);
	render_agents(m, &b, now);
	render_clocks(m, &b);
	render_slos(m, &b);
	m_render_pairs(m, &b, now / 1000000000);
	render_self(m, &b, t0);
	if (b.oom || !b.p) {
		free(b.p);
		return NULL;
	}
	*len = b.len;
	return b.p;
}

/* ---- HTTP --------------------------------------------------------------- */

/* Loop thread (common/httpsrv.c): render the text for one scrape. */
static void http_metrics(void *arg, struct st_http_exchange *x)
{
	struct st_metrics *m = arg;
	size_t len = 0;
	char *text = c_metrics_render(m, &len);

	if (!text) {
		pr_warn("metrics: out of memory rendering the text");
		x->status = 500;
		return;
	}
	x->status = 200;
	x->content_type = M_CONTENT_TYPE;
	x->out = text;
	x->out_len = len;
}

static void timer_cb(uv_timer_t *t)
{
	struct st_metrics *m = t->data;

	m_update(m, (int64_t)(st_real_ns() / 1000000000));
}

static void metrics_free(struct st_metrics *m)
{
	m_pairs_free(m);
	free(m->scratch);
	free(m->acc);
	free(m);
}

int c_metrics_start(struct st_collector *c, const char *url, uint32_t max_pairs,
		    struct st_metrics **out)
{
	struct st_metrics *m = calloc(1, sizeof(*m));
	struct st_http_route route = { .method = "GET", .fn = http_metrics };
	nng_url *u = NULL;
	char path[256];
	int rc;

	*out = NULL;
	if (!m || !(m->scratch = malloc(sizeof(*m->scratch))) ||
	    !(m->acc = malloc(sizeof(*m->acc)))) {
		fprintf(stderr, "error: --metrics: out of memory\n");
		if (m)
			free(m->scratch);
		free(m);
		return ST_EXIT_FAIL;
	}
	if (nng_url_parse(&u, url) != 0 || strcmp(u->u_scheme, "http")) {
		fprintf(stderr, "error: --metrics %s: expected http://ADDR:PORT[/PATH]\n", url);
		if (u)
			nng_url_free(u);
		free(m->scratch);
		free(m->acc);
		free(m);
		return ST_EXIT_USAGE;
	}
	snprintf(path, sizeof(path), "%s", u->u_path[0] && strcmp(u->u_path, "/") ? u->u_path : "/metrics");
	nng_url_free(u);
	m->c = c;
	m->max_pairs = max_pairs ? max_pairs : C_METRICS_MAX_PAIRS_DEFAULT;
	m->start_ns = (int64_t)st_real_ns();
	st_u64map_init(&m->pairs, 64);
	st_u64map_init(&m->rows, 256);
	/* Rows may change until their packets' windows close: re-read them
	 * for at least that long, with room to spare. */
	m->horizon_min = (int)(c->cfg.window_ms / 60000) + 5;
	if (m->horizon_min < M_HORIZON_MIN)
		m->horizon_min = M_HORIZON_MIN;
	m_pairs_init(m);
	/* What the store holds now is the baseline, not counted. */
	m_update(m, (int64_t)(st_real_ns() / 1000000000));
	route.path = path;
	route.arg = m;
	if ((rc = st_httpsrv_start(c->loop, url, "--metrics", &route, 1, NULL, NULL, &m->http))) {
		metrics_free(m);
		return rc;
	}
	uv_timer_init(c->loop, &m->timer);
	m->timer.data = m;
	m->timer_on = 1;
	uv_timer_start(&m->timer, timer_cb, M_UPDATE_MS, M_UPDATE_MS);
	pr_info("metrics at %s (path %s, at most %u pairs)", url, path, m->max_pairs);
	*out = m;
	return 0;
}

void c_metrics_stop(struct st_metrics *m)
{
	if (!m)
		return;
	st_httpsrv_stop(m->http);
	if (m->timer_on) {
		uv_timer_stop(&m->timer);
		uv_close((uv_handle_t *)&m->timer, NULL);
		uv_run(m->c->loop, UV_RUN_NOWAIT);
	}
	metrics_free(m);
}
