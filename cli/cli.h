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
