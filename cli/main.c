// SPDX-License-Identifier: MIT
/*
 * stagetrace: the operator's entry point. Dispatches to sub-commands.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "log.h"
#include "opts.h"

static const struct {
	const char *name;
	int (*fn)(int, char **);
	const char *summary;
} cmds[] = {
	{ "matrix", cmd_matrix, "VM-pair latency matrix with per-stage breakdown (collector)" },
	{ "hosts", cmd_hosts, "agents known to the collector: health, counters, probes" },
	{ "stats", cmd_stats, "collector counters: batches, matches, losses" },
	{ "clocks", cmd_clocks, "per-host clock models: offset, drift, bound, source" },
	{ "pair", cmd_pair, "latency between two VMs, both directions, stage by stage (collector)" },
	{ "paths", cmd_paths, "the slowest end-to-end packets, stage by stage (collector)" },
	{ "export", cmd_export, "stored sampled packets as pcapng with stage timestamps (collector)" },
	{ "gap", cmd_gap, "inter-packet gaps per pair and port at every stage; stalls located (collector)" },
	{ "upcall", cmd_upcall, "OVS upcalls per host and pair: rate, userspace latency, megaflow hits/misses (collector)" },
	{ "slo", cmd_slo, "latency SLO status; 'slo check' exits 0 ok, 1 violated, 2 unknown (collector)" },
	{ "probes", cmd_probes, "attach method per stage hook on this kernel, or why none (local)" },
	{ "drops", cmd_drops, "packet drops by location, reason, netns and device (local)" },
	{ "rtt", cmd_rtt, "ICMP echo round trip and loss with a per-stage split (local)" },
	{ "flow", cmd_flow, "hop-by-hop path and per-hop latency of one filtered flow, VLAN-aware (local)" },
	{ "arp", cmd_arp, "suspicious ARP: gratuitous, unsolicited, conflicting, spoofed (local)" },
	{ "defrag", cmd_defrag, "IPv4 fragments per flow, reassemblies and failures with reasons (local)" },
	{ "conntrack", cmd_conntrack, "conntrack events, states, timeouts, invalid packets (local)" },
	{ "qdisc", cmd_qdisc, "qdisc latency, dequeue patterns, drops with depth, TX queues, tc events (local)" },
	{ "iface", cmd_iface, "interface counters and rates per device, netns and VM; --perf adds CPU (local)" },
	{ "offload", cmd_offload, "TSO/GSO parameters per device and flow, abnormal GSO types (local)" },
	{ "virt", cmd_virt, "tun/tap queues, vhost-net virtqueues and signals, queue mapping (local)" },
	{ "cpu", cmd_cpu, "off-CPU stacks, futex and rwlock waits, CPU top, run-queue latency (local)" },
	{ "report", cmd_report, "summary report: per pair and overall, top contributors; text to html" },
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: stagetrace COMMAND [OPTIONS]\n\n"
		   "Where the time goes between VMs, stage by stage.\n\nCommands:\n");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(f, "  %-10s %s\n", cmds[i].name, cmds[i].summary);
	fprintf(f, "\nRun 'stagetrace COMMAND -h' for a command's options.\n"
		   "Exit status: 0 ok, 1 runtime failure, 2 usage error, "
		   "3 collector unreachable, 4 no data.\n");
}

int main(int argc, char **argv)
{
	st_log_init("stagetrace", ST_LOG_WARN);
	if (argc < 2) {
		usage(stderr);
		return ST_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return ST_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	/* The entry point of `latency --path tap-to-irq` until the `latency`
	 * dispatcher (another branch) is merged; unlisted. */
	if (!strcmp(argv[1], "latency-tap-to-irq"))
		return st_cmd_latency_path(argc - 1, argv + 1);
	fprintf(stderr, "error: unknown command '%s' (try stagetrace -h)\n", argv[1]);
	return ST_EXIT_USAGE;
}
