/* SPDX-License-Identifier: MIT */
/*
 * The OVS kernel datapath's own lookup counters, read over generic netlink
 * (family "ovs_datapath", OVS_DP_CMD_GET dump) in the caller's network
 * namespace: what `ovs-dpctl show` prints as "lookups: hit/missed/lost",
 * "flows" and "masks: hit/total". They count every packet the datapath
 * looked up, traced or not, since the datapath was created. The agent ships
 * them with its counters (the upcall matrix shows them per host); the local
 * `stagetrace upcall --megaflow` prints their rates.
 */
#ifndef ST_OVSDP_H
#define ST_OVSDP_H

#include <stdint.h>

struct st_ovsdp_stats {
	char name[32];		/* datapath name, e.g. "ovs-system" */
	uint64_t hit, missed, lost, flows;
	uint64_t mask_hit, cache_hit;
	uint32_t masks;
};

/*
 * Fill up to max datapaths into out. Returns how many (0: the module is
 * loaded but has no datapath), -1 when the openvswitch module is not
 * loaded (no "ovs_datapath" family), -2 on a netlink error (errno set).
 */
int st_ovsdp_read(struct st_ovsdp_stats *out, int max);

#endif
