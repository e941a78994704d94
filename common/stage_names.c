// SPDX-License-Identifier: MIT
#include "stage_names.h"

#include <stddef.h>

struct hook_info {
	const char *name;	/* short hook name used in probes output */
	const char *category;	/* tracepoint category */
	const char *event;	/* tracepoint event */
	const char *suffix;	/* stage suffix after the role prefix */
};

static const struct hook_info hooks[ST_HOOK_MAX] = {
	[ST_HOOK_NETIF_RX]           = { "netif_rx", "net", "netif_rx", "rx" },
	[ST_HOOK_NAPI_GRO_RX]        = { "napi_gro_receive", "net", "napi_gro_receive_entry", "rx" },
	[ST_HOOK_NETIF_RECEIVE_SKB]  = { "netif_receive_skb", "net", "netif_receive_skb", "rcv" },
	[ST_HOOK_NET_DEV_QUEUE]      = { "net_dev_queue", "net", "net_dev_queue", "queue" },
	[ST_HOOK_NET_DEV_START_XMIT] = { "net_dev_start_xmit", "net", "net_dev_start_xmit", "tx" },
	[ST_HOOK_NET_DEV_XMIT]       = { "net_dev_xmit", "net", "net_dev_xmit", "done" },
	[ST_HOOK_SKB_COPY_DATAGRAM]  = { "skb_copy_datagram", "skb", "skb_copy_datagram_iovec", "read" },
	[ST_HOOK_KFREE_SKB]          = { "kfree_skb", "skb", "kfree_skb", "drop" },
	[ST_HOOK_CONSUME_SKB]        = { "consume_skb", "skb", "consume_skb", "free" },
};

static const char *roles[ST_ROLE_MAX] = {
	[ST_ROLE_OTHER] = "dev", [ST_ROLE_VM] = "tap", [ST_ROLE_UPLINK] = "nic",
	[ST_ROLE_TUNNEL] = "vxlan", [ST_ROLE_BRIDGE] = "br",
};

/* Every (hook, role) name, precomputed once: "tap_rx", "nic_tx", ... */
static char names[ST_HOOK_MAX][ST_ROLE_MAX][24];

static void names_init(void)
{
	static int done;

	if (done)
		return;
	for (unsigned h = 1; h < ST_HOOK_MAX; h++)
		for (unsigned r = 0; r < ST_ROLE_MAX; r++) {
			char *n = names[h][r];
			const char *sfx = hooks[h].suffix;

			/* A VM reading its tap is the VM receiving: "vm_rx". */
			if (h == ST_HOOK_SKB_COPY_DATAGRAM && r == ST_ROLE_VM)
				__builtin_snprintf(n, sizeof(names[h][r]), "vm_rx");
			else if (h == ST_HOOK_SKB_COPY_DATAGRAM &&
				 (r == ST_ROLE_OTHER || r == ST_ROLE_BRIDGE))
				__builtin_snprintf(n, sizeof(names[h][r]), "sock_rx");
			else if (h == ST_HOOK_KFREE_SKB || h == ST_HOOK_CONSUME_SKB)
				__builtin_snprintf(n, sizeof(names[h][r]), "%s", sfx);
			else
				__builtin_snprintf(n, sizeof(names[h][r]), "%s_%s",
						   roles[r], sfx);
		}
	done = 1;
}

uint32_t st_stage_id(unsigned hook, unsigned role)
{
	return hook * ST_ROLE_MAX + role;
}

const char *st_stage_name(uint32_t id)
{
	unsigned h = id / ST_ROLE_MAX, r = id % ST_ROLE_MAX;

	switch (id) {
	case ST_STAGE_WIRE: return "wire";
	case ST_STAGE_TOTAL: return "total";
	case ST_STAGE_TURNAROUND: return "vm_turnaround";
	}
	if (h == 0 || h >= ST_HOOK_MAX)
		return NULL;
	names_init();
	return names[h][r];
}

const char *st_hook_name(unsigned hook)
{
	return hook && hook < ST_HOOK_MAX ? hooks[hook].name : "?";
}

const char *st_hook_tracepoint(unsigned hook, const char **category)
{
	if (!hook || hook >= ST_HOOK_MAX)
		return NULL;
	if (category)
		*category = hooks[hook].category;
	return hooks[hook].event;
}

const char *st_role_name(unsigned role)
{
	return role < ST_ROLE_MAX ? roles[role] : "?";
}

const char *st_end_name(unsigned end)
{
	static const char *ends[] = { "?", "left", "delivered", "dropped",
				      "freed", "timeout" };

	return end < sizeof(ends) / sizeof(ends[0]) ? ends[end] : "?";
}
