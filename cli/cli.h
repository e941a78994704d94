/* SPDX-License-Identifier: MIT */
/*
 * The stagetrace CLI: one binary, one sub-command per file. Collector
 * queries go through cli_query() (JSON over nng REQ); each command renders
 * the answer as a table or passes the JSON through with --json.
 */
#ifndef ST_CLI_H
#define ST_CLI_H

#include <json-c/json.h>
#include <stdint.h>

#define CLI_DEFAULT_COLLECTOR "tcp://127.0.0.1:7731"

/* Send a JSON query; on success *out is the answer (caller puts it).
 * Returns 0, or an st_exit code after printing a one-line error. */
int cli_query(const char *url, double timeout_s, json_object *q, json_object **out);
const char *cli_collector_default(void);
/* http.c: POST body to the collector's HTTP API (url http:// or https://);
 * 0 with the malloc'd answer text in *out, or an exit code after one line. */
int cli_http_query(const char *url, double timeout_s, const char *body, char **out);
/* Resolve --last/--since/--until (0 = unset) into a range; 0 or
 * ST_EXIT_USAGE after a one-line error. */
int cli_range(double last, uint64_t *since, uint64_t *until);
/* The matrix query for a range (cli_query's returns). */
int cli_query_matrix(const char *url, double timeout, uint64_t since, uint64_t until,
		     json_object **ans);
/* The same, narrowed to a tenant and/or a named pair id (NULL: not). */
int cli_query_matrix_scoped(const char *url, double timeout, uint64_t since, uint64_t until,
			    const char *tenant, const char *pair_id, json_object **ans);

/*
 * What every range query over VM pairs is scoped by (matrix, pair, upcall):
 * collector, time range, source/destination, tenant, named pair, JSON, and
 * the query timeout. cli_scope_init() sets the defaults (last hour, 5 s);
 * CLI_SCOPE_OPTS(s) expands to their option table entries, so the commands
 * share one spelling and one help text for them.
 */
struct cli_scope {
	const char *url, *src, *dst, *tenant, *pair_id;
	double last, timeout;
	uint64_t since, until;
	int json;
};

void cli_scope_init(struct cli_scope *s);

#define CLI_SCOPE_OPTS(s) \
	{ "collector", 'C', ST_OPT_STR, &(s)->url, "URL", "collector query address (default $STAGETRACE_COLLECTOR or " CLI_DEFAULT_COLLECTOR ")" }, \
	{ "last", 'l', ST_OPT_DURATION, &(s)->last, "DUR", "time range ending now, e.g. 5m, 1h (default 1h)" }, \
	{ "since", 0, ST_OPT_U64, &(s)->since, "UNIX_S", "range start, seconds since the epoch (overrides --last)" }, \
	{ "until", 0, ST_OPT_U64, &(s)->until, "UNIX_S", "range end, seconds since the epoch (default now)" }, \
	{ "src", 's', ST_OPT_STR, &(s)->src, "NAME", "only pairs from this VM (or IP)" }, \
	{ "dst", 'D', ST_OPT_STR, &(s)->dst, "NAME", "only pairs to this VM (or IP)" }, \
	{ "tenant", 'T', ST_OPT_STR, &(s)->tenant, "NAME", "only pairs inside this tenant (both ends its members)" }, \
	{ "pair", 'P', ST_OPT_STR, &(s)->pair_id, "ID", "only this named pair (--pair-id on the collector)" }, \
	{ "json", 'j', ST_OPT_FLAG, &(s)->json, NULL, "print the collector's JSON answer" }, \
	{ "timeout", 't', ST_OPT_DURATION, &(s)->timeout, "DUR", "give up on the collector after this (default 5s)", 0.01, 3600 }

/* {"query": name, "since", "until"[, "src"][, "dst"]}: the caller puts it. */
json_object *cli_range_query(const char *name, uint64_t since, uint64_t until, const char *src,
			     const char *dst);

struct st_cmd_help;
/*
 * A query command with only the common options (--collector, --json,
 * --timeout): parse them, send {"query": query}. Returns 0 with *ans set,
 * ST_EXIT_HELP after -h, or an exit status.
 */
int cli_simple_query(int argc, char **argv, const char *query,
		     const struct st_cmd_help *help, json_object **ans, int *json);

int cmd_matrix(int argc, char **argv);
int cmd_hosts(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_clocks(int argc, char **argv);
int cmd_paths(int argc, char **argv);
int cmd_gap(int argc, char **argv);
int cmd_upcall(int argc, char **argv);
int cmd_upcall_local(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_pair(int argc, char **argv);
int cmd_drops(int argc, char **argv);
int cmd_rtt(int argc, char **argv);
int cmd_flow(int argc, char **argv);
int cmd_arp(int argc, char **argv);
int cmd_defrag(int argc, char **argv);
int cmd_conntrack(int argc, char **argv);
int cmd_cpu(int argc, char **argv);
int cmd_probes(int argc, char **argv);
int cmd_slo(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_qdisc(int argc, char **argv);
int cmd_iface(int argc, char **argv);
int cmd_offload(int argc, char **argv);
int cmd_virt(int argc, char **argv);
/* `virt kvm` (cli/virt_kvm.c): called by the `virt` dispatcher. */
int st_cmd_virt_kvm(int argc, char **argv);
int cmd_latency(int argc, char **argv);
/* `latency --path tap-to-irq` (cli/latency_path.c): argv[0] is the
 * command name, the --path option may or may not still be in argv. */
int st_cmd_latency_path(int argc, char **argv);

#endif /* ST_CLI_H */
