/* SPDX-License-Identifier: MIT */
/*
 * Prometheus metrics of the collector: GET /metrics in the text exposition
 * format, version 0.0.4, served by nng's HTTP server.
 *
 * The HTTP handler runs on an nng thread and never touches collector
 * state: it queues the request's aio and wakes the libuv loop, which
 * renders the text from the collector's counters, hosts, clock models and
 * the SQLite store, and completes every queued aio with a response. Pair
 * latency is exported as a cumulative histogram (since the collector
 * started, kept in memory from the store's per-minute rows) and as a
 * summary whose quantiles cover the last five minutes; docs/metrics.md
 * lists every metric, the cardinality bound and why this representation.
 */
#ifndef ST_METRICS_H
#define ST_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct st_collector;
struct st_metrics;

#define C_METRICS_MAX_PAIRS_DEFAULT 200

/*
 * Serves the metrics at url (http://ADDR:PORT[/PATH], PATH defaulting to
 * /metrics). Call on the loop thread before uv_run. Returns 0 and sets
 * *out, or prints an error and returns an exit code (ST_EXIT_USAGE for a
 * bad URL, ST_EXIT_FAIL otherwise).
 */
int c_metrics_start(struct st_collector *c, const char *url, uint32_t max_pairs,
		    struct st_metrics **out);
/* Answers queued requests, stops the server and frees everything; NULL is
 * a no-op. Call on the loop thread after uv_run returned. */
void c_metrics_stop(struct st_metrics *m);
/* The exposition text a scrape gets now (malloc'd, *len bytes), or NULL. */
char *c_metrics_render(struct st_metrics *m, size_t *len);

#endif /* ST_METRICS_H */
