/* SPDX-License-Identifier: MIT */
/*
 * Internal to stagetrace iface: cli/iface.c reads the interface counters
 * (rtnetlink RTM_GETLINK dumps, IFLA_STATS64, one socket per network
 * namespace) and renders them; cli/iface_perf.c adds the --perf figures
 * (CPU time from /proc/stat, network softirq time from BPF) to the same
 * interval.
 */
#ifndef ST_CLI_IFACE_H
#define ST_CLI_IFACE_H

#include <json-c/json.h>
#include <stdint.h>

#include "local.h"

struct ifc_perf;

/* Start --perf: load the softirq program. 0 or an ST_EXIT_* status. */
int ifc_perf_start(struct ifc_perf **p, int json);
/* One interval: sample, then print (text) or add "perf" to o (JSON).
 * rx_pkts/tx_pkts: the packets of the devices shown, for the time per
 * packet (rx + tx). */
void ifc_perf_interval(struct ifc_perf *p, double secs, uint64_t rx_pkts, uint64_t tx_pkts,
		       json_object *o);
void ifc_perf_stop(struct ifc_perf *p);

#endif /* ST_CLI_IFACE_H */
