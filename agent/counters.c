// SPDX-License-Identifier: MIT
/*
 * The agent's counters: the BPF side's per-CPU counters summed, plus user
 * space's own. Sent in every batch (the collector shows them per host) and
 * logged at exit.
 */
#include "agent.h"

#include <errno.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "stages.skel.h"
#include "wire.h"

static const char *counter_names[ST_C_MAX] = {
	[ST_C_HOOK_CALLS] = "bpf_hook_calls",
	[ST_C_FILTER_NETNS] = "bpf_filtered_netns",
	[ST_C_FILTER_DEV] = "bpf_filtered_dev",
	[ST_C_PARSE_SKIP] = "bpf_not_keyed",
	[ST_C_FILTER_L34] = "bpf_filtered_l34",
	[ST_C_SAMPLED_OUT] = "bpf_sampled_out",
	[ST_C_PATH_NEW] = "bpf_paths_started",
	[ST_C_STAMP] = "bpf_stamps",
	[ST_C_STAMP_OVERFLOW] = "bpf_stamps_overflow",
	[ST_C_EMITTED] = "bpf_paths_emitted",
	[ST_C_RINGBUF_FULL] = "bpf_paths_lost_ringbuf",
	[ST_C_LRU_FAIL] = "bpf_paths_lost_lru",
	[ST_C_END_NO_PATH] = "bpf_terminal_no_open_path",
	[ST_C_XMIT_ERRORS] = "bpf_xmit_errors",
	[ST_C_UPCALL_HELD] = "bpf_ovs_upcalls_held",
	[ST_C_GV_POLL_NO_IRQ] = "bpf_virtio_rx_without_irq",
	[ST_C_GV_RX_NO_POLL] = "bpf_virtio_rx_without_poll",
	[ST_C_GV_RX_STALE] = "bpf_virtio_rx_stale_poll",
	[ST_C_GV_TX_LOST] = "bpf_virtio_tx_unfinished",
	[ST_C_VHOST_HELD] = "bpf_vhost_rx_held",
	[ST_C_VHOST_HOLD_FULL] = "bpf_vhost_rx_hold_full",
	[ST_C_VHOST_INJECTED] = "bpf_vhost_rx_injected",
	[ST_C_VHOST_INJECTIONS] = "bpf_irq_injections",
	[ST_C_VHOST_SUPPRESSED] = "bpf_vhost_rx_signal_suppressed",
	[ST_C_VHOST_UNUSED] = "bpf_vhost_rx_not_used",
	[ST_C_VHOST_GONE] = "bpf_vhost_rx_path_gone",
	[ST_C_IRQ_WAKE_RX] = "bpf_irq_wakeups_in_vhost_rx",
	[ST_C_IRQ_WAKE_OTHER] = "bpf_irq_wakeups_other_eventfd",
	[ST_C_IRQ_WAKE_UNUSED] = "bpf_irq_wakeups_nothing_held",
	[ST_C_IRQ_WAKE_ALL] = "bpf_irq_wakeups",
};

void st_read_bpf_counters(struct st_agent *a, uint64_t out[ST_C_MAX])
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t vals[ncpu > 0 ? ncpu : 1];
	int fd = bpf_map__fd(a->skel->maps.counters);

	for (uint32_t i = 0; i < ST_C_MAX; i++) {
		out[i] = 0;
		if (bpf_map_lookup_elem(fd, &i, vals))
			continue;
		for (int c = 0; c < ncpu; c++)
			out[i] += vals[c];
	}
}

static void add_counter(void ***v, size_t *n, const char *name, uint64_t val)
{
	Stagetrace__V1__Counter *c = calloc(1, sizeof(*c));
	void **nv = realloc(*v, (*n + 1) * sizeof(void *));

	if (!c || !nv) {
		free(c);
		if (nv)
			*v = nv;
		return;
	}
	stagetrace__v1__counter__init(c);
	c->name = strdup(name);
	c->value = val;
	*v = nv;
	(*v)[(*n)++] = c;
}

/*
 * The kernel datapath's lookup counters (common/ovsdp.h), summed over the
 * namespace's datapaths: shipped as ovs_dp_* counters so the collector's
 * upcall matrix can show hits and misses per host. Nothing is shipped on a
 * host without the openvswitch module; a netlink failure is counted.
 */
void st_agent_ovsdp_refresh(struct st_agent *a)
{
	struct st_ovsdp_stats dp[8], sum = { .name = "" };
	int n = st_ovsdp_read(dp, 8);

	if (n == -2) {
		if (!a->ovsdp_errors++)
			pr_warn("reading the OVS datapath counters failed: %s", strerror(errno));
		return;
	}
	for (int i = 0; i < n; i++) {
		sum.hit += dp[i].hit;
		sum.missed += dp[i].missed;
		sum.lost += dp[i].lost;
		sum.flows += dp[i].flows;
		sum.mask_hit += dp[i].mask_hit;
		sum.masks += dp[i].masks;
	}
	a->ovsdp = sum;
	a->ovsdp_n = n;
}

void st_agent_counters_each(struct st_agent *a, st_counter_fn fn, void *ctx)
{
	uint64_t bc[ST_C_MAX], sent, acked, retries, db, dp, q;

	st_read_bpf_counters(a, bc);
	for (int i = 0; i < ST_C_MAX; i++)
		fn(ctx, counter_names[i], bc[i], 0);
	fn(ctx, "paths_received", a->paths_in, 0);
	fn(ctx, "paths_timed_out", a->paths_timeout, 0);
	fn(ctx, "paths_dropped_oom", a->paths_dropped_full, 0);
	if (a->ovsdp_n > 0) {
		fn(ctx, "ovs_dp_hit", a->ovsdp.hit, 0);
		fn(ctx, "ovs_dp_missed", a->ovsdp.missed, 0);
		fn(ctx, "ovs_dp_lost", a->ovsdp.lost, 0);
		fn(ctx, "ovs_dp_mask_hit", a->ovsdp.mask_hit, 0);
		fn(ctx, "ovs_dp_flows", a->ovsdp.flows, 1);
		fn(ctx, "ovs_dp_masks", a->ovsdp.masks, 1);
	}
	if (a->ovsdp_errors)
		fn(ctx, "ovs_dp_read_errors", a->ovsdp_errors, 0);
	if (a->probe) {
		uint64_t ps, pa, pf;

		st_clockprobe_counters(a->probe, &ps, &pa, &pf);
		fn(ctx, "clock_probes_sent", ps, 0);
		fn(ctx, "clock_probes_answered", pa, 0);
		fn(ctx, "clock_probes_failed", pf, 0);
	}
	if (a->sender) {
		st_sender_counters(a->sender, &sent, &acked, &retries, &db, &dp, &q);
		fn(ctx, "batches_sent", sent, 0);
		fn(ctx, "batches_acked", acked, 0);
		fn(ctx, "batches_retried", retries, 0);
		fn(ctx, "batches_dropped", db, 0);
		fn(ctx, "paths_dropped_send", dp, 0);
		fn(ctx, "batches_queued", q, 1);
	}
}

struct fill_ctx {
	void ***v;
	size_t *n;
};

static void fill_one(void *ctx, const char *name, uint64_t v, int gauge)
{
	struct fill_ctx *f = ctx;

	(void)gauge;
	add_counter(f->v, f->n, name, v);
}

void st_agent_counters_fill(struct st_agent *a, void ***out, size_t *n)
{
	struct fill_ctx f = { out, n };

	st_agent_counters_each(a, fill_one, &f);
}
