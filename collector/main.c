// SPDX-License-Identifier: MIT
/*
 * stagetrace-collector: ingest, correlation, aggregation, store, queries.
 * See collector.h for the data flow and the durability contract.
 */
#include "collector.h"

#include <nng/nng.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "timeutil.h"
#include "api.h"
#include "metrics.h"
#include "repsrv.h"

static void tick_cb(uv_timer_t *t)
{
	struct st_collector *c = t->data;

	c_clock_update(c);
	c_slo_tick(c);
	c_correlate_expire(c, 0);
	c_flush(c);
	c_gap_expire(c, (int64_t)st_mono_ns());
	/* Retention once a minute (and at the first tick). */
	{
		int64_t now = (int64_t)(st_real_ns() / 1000000000ull);

		if (now - c->retention_last_s >= C_RETENTION_EVERY_S) {
			c->retention_last_s = now;
			c_retention_run(c, now);
		}
	}
}

static void stop_cb(void *arg)
{
	struct st_collector *c = arg;

	uv_stop(c->loop);
}

static const struct st_cmd_help help = {
	.name = "stagetrace-collector",
	.args = "[OPTIONS]",
	.summary = "Receive host paths from agents, join them across hosts, serve latency matrices.",
	.description =
"Agents connect to --listen and send batches of host paths; each batch is\n"
"stored in the SQLite inbox before it is acknowledged. Host paths with the\n"
"same packet id from different hosts are joined (within --window) into\n"
"end-to-end paths, and every stage interval is added to per-minute,\n"
"mergeable log-linear histograms per (source, destination, stage). The CLI\n"
"queries --query (JSON over nng REQ/REP). Stop with SIGINT/SIGTERM: pending\n"
"packets are finalised and everything is flushed to the store.",
	.examples =
"  stagetrace-collector --listen tcp://0.0.0.0:7730 --db /var/lib/stagetrace/st.db\n"
"  stagetrace matrix --collector tcp://127.0.0.1:7731",
};

int main(int argc, char **argv)
{
	static struct st_collector col;
	struct st_collector *c = &col;
	int rc, err, check_only = 0;
	const char *metrics_url = NULL;
	uint32_t metrics_max_pairs = C_METRICS_MAX_PAIRS_DEFAULT;
	struct st_metrics *metrics = NULL;
	struct st_tls_opts qtls = { 0 };
	char why[256];
	struct st_opt opts[] = {
		{ "listen", 'l', ST_OPT_STR, &c->cfg.listen, "URL", "agent ingest address (default tls+tcp://0.0.0.0:7730)" },
		{ "query", 'q', ST_OPT_STR, &c->cfg.query, "URL", "query address for the CLI (default tcp://127.0.0.1:7731)" },
		{ "db", 0, ST_OPT_STR, &c->cfg.db, "PATH", "SQLite store (default ./stagetrace.db)" },
		{ "window-ms", 'w', ST_OPT_U32, &c->cfg.window_ms, "MS", "correlation window per packet (default 2000)", 10, 600000 },
		{ "flush-ms", 0, ST_OPT_U32, &c->cfg.flush_ms, "MS", "flush aggregates to the store this often (default 1000)", 10, 600000 },
		{ "duration", 'd', ST_OPT_DURATION, &c->cfg.duration, "SEC", "exit after this long" },
		ST_TLS_OPTS(&c->cfg.tls),
		{ "slo", 0, ST_OPT_LIST, &c->cfg.slos, "SPEC", "an SLO, NAME:SRC>DST:pQQ<=DURATION:TARGET (e.g. web:vma>vmb:p99<=300us:99.9) or NAME:tenant=T:pQQ<=DURATION:TARGET; repeatable" },
		{ "slo-windows", 0, ST_OPT_STR, &c->cfg.slo_windows, "W", "burn-rate windows fast-short,fast-long,slow-short,slow-long (default 5m,1h,30m,6h)" },
		{ "config", 0, ST_OPT_STR, &c->cfg.config, "FILE", "read options from FILE (name = value per line; the command line wins)" },
		{ "check-config", 0, ST_OPT_FLAG, &check_only, NULL, "validate the options, the --config file and the TLS files, then exit (0: valid)" },
		{ "verbose", 'v', ST_OPT_FLAG, &c->cfg.verbose, NULL, "debug logging" },
		{ "metrics", 0, ST_OPT_STR, &metrics_url, "URL", "serve Prometheus metrics at URL, e.g. http://127.0.0.1:9731 (path /metrics; default off)" },
		{ "tenant", 0, ST_OPT_LIST, &c->cfg.tenants, "NAME=MEMBERS", "a tenant: NAME=VM|CIDR[,VM|CIDR...]; repeatable" },
		{ "tenant-token", 0, ST_OPT_LIST, &c->cfg.tenant_tokens, "NAME=FILE", "the API bearer token of a tenant, first line of FILE; repeatable" },
		{ "api-admin-token", 0, ST_OPT_STR, &c->cfg.admin_token, "FILE", "the operator's API bearer token (sees every tenant), first line of FILE" },
		{ "pair-id", 0, ST_OPT_LIST, &c->cfg.pair_ids, "ID=SRC>DST", "a named pair (VM names or addresses); repeatable" },
		{ "stall-ms", 0, ST_OPT_U32, &c->cfg.stall_ms, "MS", "an inter-packet gap over MS at any stage is a stall (default 100; 0: off)", 0, 3600000 },
		{ "keep-minutes", 0, ST_OPT_DURATION, &c->cfg.keep_minutes, "DUR", "keep per-minute rows and drill-down paths this long, then merge into hour rows (default 48h; 0: never)", 0, 3.2e8 },
		{ "keep", 0, ST_OPT_DURATION, &c->cfg.keep, "DUR", "delete everything older than this (default 30d; 0: keep forever)", 0, 3.2e9 },
		{ "api", 0, ST_OPT_STR, &c->cfg.api, "URL", "serve the JSON query API at URL, http://ADDR:PORT or https://ADDR:PORT (needs tokens; default off)" },
		{ "metrics-max-pairs", 0, ST_OPT_U32, &metrics_max_pairs, "N", "export the busiest N (src, dst) pairs only (default 200)", 1, 1000000 },
		ST_OPT_END,
	};

	st_log_init(argv[0], ST_LOG_INFO);
	c->cfg.listen = "tls+tcp://0.0.0.0:7730";
	c->cfg.query = "tcp://127.0.0.1:7731";
	c->cfg.db = "stagetrace.db";
	c->cfg.window_ms = 2000;
	c->cfg.flush_ms = 1000;
	c->cfg.keep_minutes = 48 * 3600;
	c->cfg.stall_ms = 100;
	c->cfg.keep = 30 * 86400;
	if (st_opts_parse_daemon(argc, argv, opts, &help, &c->cfg.config, &rc))
		return rc;
	if (c->cfg.verbose)
		st_log_set_level(ST_LOG_DEBUG);
	c->slo_cfg = (struct c_slo_cfg){ .fast_short = 300, .fast_long = 3600,
					 .slow_short = 1800, .slow_long = 21600 };
	if (c->cfg.slo_windows && c_slo_parse_windows(c->cfg.slo_windows, &c->slo_cfg)) {
		fprintf(stderr, "error: --slo-windows: invalid value '%s' (four durations "
			"short<=long: fast-short,fast-long,slow-short,slow-long, 10s..6h)\n",
			c->cfg.slo_windows);
		return ST_EXIT_USAGE;
	}
	if ((rc = c_tenants_parse(&c->tenants, &c->cfg.tenants, &c->cfg.tenant_tokens,
				  c->cfg.admin_token, &c->cfg.pair_ids)))
		return rc;
	for (int i = 0; i < c->cfg.slos.n; i++) {
		if (i == SLO_MAX) {
			fprintf(stderr, "error: --slo: at most %d SLOs\n", SLO_MAX);
			return ST_EXIT_USAGE;
		}
		if (c_slo_parse(c->cfg.slos.v[i], &c->slo[i], why, sizeof(why))) {
			fprintf(stderr, "error: --slo: %s\n", why);
			return ST_EXIT_USAGE;
		}
		if (c->slo[i].tenant[0] &&
		    (c->slo[i].tenant_idx = c_tenant_find(&c->tenants, c->slo[i].tenant)) < 0) {
			fprintf(stderr, "error: --slo %s: no tenant %s (define it with --tenant)\n",
				c->cfg.slos.v[i], c->slo[i].tenant);
			return ST_EXIT_USAGE;
		}
		c->n_slo++;
	}
	if (c->cfg.keep > 0 && c->cfg.keep_minutes > c->cfg.keep) {
		fprintf(stderr, "error: --keep-minutes (%gs) is longer than --keep (%gs)\n",
			c->cfg.keep_minutes, c->cfg.keep);
		return ST_EXIT_USAGE;
	}
	if ((c->cfg.keep_minutes > 0 && c->cfg.keep_minutes < 600) ||
	    (c->cfg.keep > 0 && c->cfg.keep < 3600)) {
		fprintf(stderr, "error: --keep-minutes must be 0 or >= 10m, --keep 0 or >= 1h\n");
		return ST_EXIT_USAGE;
	}
	/* The query socket serves the local CLI: plaintext on loopback/ipc,
	 * or the same certificates when it is tls+tcp:// too. */
	qtls.insecure_plaintext = c->cfg.tls.insecure_plaintext;
	if (!strncmp(c->cfg.query, "tls+", 4))
		qtls = c->cfg.tls;
	if (st_tls_check(c->cfg.listen, &c->cfg.tls, 1, why, sizeof(why))) {
		fprintf(stderr, "error: --listen: %s\n", why);
		return ST_EXIT_USAGE;
	}
	if (st_tls_check(c->cfg.query, &qtls, 1, why, sizeof(why))) {
		fprintf(stderr, "error: --query: %s\n", why);
		return ST_EXIT_USAGE;
	}
	/* Nothing is opened before this point: a configuration check
	 * (deployment tools validate a file before installing it) ends here. */
	if (check_only) {
		printf("config ok\n");
		return ST_EXIT_OK;
	}

	c->loop = uv_default_loop();
	st_u64map_init(&c->pending, 4096);
	st_u64map_init(&c->turn, 256);
	st_u64map_init(&c->flows, 256);
	st_u64map_init(&c->ipnames, 256);
	st_u64map_init(&c->cells, 256);
	st_u64map_init(&c->pairs, 64);
	st_u64map_init(&c->path_slots, 64);
	st_u64map_init(&c->gap_flows, 256);
	st_u64map_init(&c->gap_cells, 256);
	/* The pseudo-stages first: they must never be crowded out. */
	c_stage_intern(c, "unknown");
	c_stage_intern(c, "wire");
	c_stage_intern(c, "total");
	c_stage_intern(c, "vm_turnaround");
	c_clock_init(c);
	if (c_store_open(c))
		return ST_EXIT_FAIL;
	c_store_replay(c);
	c_clock_update(c);

	c->ingest = st_repsrv_new(c->loop, c->cfg.listen, &c->cfg.tls, 8, c_ingest_handler, c, &err);
	if (!c->ingest) {
		fprintf(stderr, "error: --listen %s: %s\n", c->cfg.listen, nng_strerror(err));
		return err == NNG_EADDRINVAL || err == NNG_ENOTSUP ? ST_EXIT_USAGE : ST_EXIT_FAIL;
	}
	c->queries = st_repsrv_new(c->loop, c->cfg.query, &qtls, 2, c_query_handler, c, &err);
	if (!c->queries) {
		fprintf(stderr, "error: --query %s: %s\n", c->cfg.query, nng_strerror(err));
		return err == NNG_EADDRINVAL || err == NNG_ENOTSUP ? ST_EXIT_USAGE : ST_EXIT_FAIL;
	}
	if (metrics_url && (rc = c_metrics_start(c, metrics_url, metrics_max_pairs, &metrics)))
		return rc;
	if (c->cfg.api && (rc = c_api_start(c, c->cfg.api)))
		return rc;
	uv_timer_init(c->loop, &c->tick);
	c->tick.data = c;
	uv_timer_start(&c->tick, tick_cb, c->cfg.flush_ms, c->cfg.flush_ms);
	st_loop_stop_init(c->loop, &c->stop, c->cfg.duration, stop_cb, c);
	pr_info("listening for agents on %s, queries on %s, store %s", c->cfg.listen,
		c->cfg.query, c->cfg.db);

	uv_run(c->loop, UV_RUN_DEFAULT);

	/* Shutdown: no new input; expire what is overdue and flush. Packets
	 * still inside their window stay in the inbox and are replayed by the
	 * next start, where their other halves may yet arrive. */
	st_repsrv_free(c->ingest);
	st_repsrv_free(c->queries);
	c_metrics_stop(metrics);
	c_api_stop(c);
	c_correlate_expire(c, 0);
	rc = c_flush(c);
	pr_info("stopped: %lu batches (%lu duplicate, %lu rejected), %lu paths, "
		"%lu matched, %lu local, %lu lost, %lu unmatched",
		(unsigned long)c->c.batches, (unsigned long)c->c.batches_dup,
		(unsigned long)c->c.batches_bad, (unsigned long)c->c.paths,
		(unsigned long)c->c.matched, (unsigned long)c->c.local,
		(unsigned long)c->c.lost, (unsigned long)c->c.unmatched_rx);
	uv_close((uv_handle_t *)&c->tick, NULL);
	st_loop_stop_close(&c->stop);
	uv_run(c->loop, UV_RUN_NOWAIT);
	uv_loop_close(c->loop);
	c_store_close(c);
	c_gap_free(c);
	c_tenants_free(&c->tenants);
	return rc ? ST_EXIT_FAIL : ST_EXIT_OK;
}
