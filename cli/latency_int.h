/* SPDX-License-Identifier: MIT */
/*
 * stagetrace latency, inside: the state cli/latency.c (options, device
 * roles, loading the stage programs, run loop) shares with
 * cli/latency_out.c (classifying host paths, per-segment histograms,
 * per-packet lines and interval reports). Not a public interface.
 *
 * A host path is what bpf/stages.bpf.c emits for one packet: its stamps
 * (hook, device, role, time) in order. A segment is two consecutive stamps
 * named by their stages ("nic_queue -> nic_tx"); its time is the later
 * stamp minus the earlier. Paths are grouped by direction: tx/rx/fwd for
 * --host (packets of this host's sockets, or routed through it), from_vm
 * and to_vm for --vm (packets that touched a selected VM's tap).
 */
#ifndef ST_CLI_LATENCY_INT_H
#define ST_CLI_LATENCY_INT_H

#include <stddef.h>
#include <stdint.h>

#include "bpf/stages.h"
#include "hist.h"
#include "local.h"
#include "nlns.h"
#include "stage_attach.h"

enum lat_mode { LAT_HOST = 1, LAT_VM = 2 };

enum lat_dir { LAT_TX, LAT_RX, LAT_FWD, LAT_FROM_VM, LAT_TO_VM, LAT_NDIR };

/* One histogram per (direction, from stage, to stage); to "total" is the
 * first stamp to the last. */
struct lat_seg {
	uint8_t dir;
	uint32_t from, to;	/* stage ids (common/stage_names.h) */
	int total;
	uint32_t seq;		/* order of first appearance */
	struct st_hist h;
};

struct lat {
	struct st_local_opts lo;
	enum lat_mode mode;
	int host;
	const char *method_force;
	double timeout_s;	/* a path with no end for this long is "timed out" */
	struct stages_bpf *skel;
	struct ring_buffer *rb;
	struct st_probe probes[ST_HOOK_MAX];
	int ncpus;
	uint32_t ndevs, nvm;	/* devices with a role now; VM taps among them */
	struct st_nlns_set ns;	/* rtnetlink per namespace, for device roles */
	struct st_dev_key *keys;	/* what dev_roles holds now */
	size_t nkeys;
	int scan_errors;

	/* This interval. */
	struct lat_seg *segs;
	size_t nsegs;
	uint64_t paths, shown, other_mode, ends[ST_END_TIMEOUT + 1], dirs[LAT_NDIR];
	/* Totals of the run. */
	uint64_t t_paths, t_shown, t_timeout;
	uint64_t counters[ST_C_MAX];	/* BPF counters read so far */
	uint64_t misses;		/* program runs the kernel skipped, so far */
};

/*
 * Give every device of the traced namespaces its role in the BPF maps
 * (latency_devs.c): dev_roles, netns_allow. Run at start and each interval.
 * Returns 0 or -errno (-ENODEV: --vm matched no tap, --dev not found).
 */
int lat_devices_scan(struct lat *l);
/* A path from the ring buffer or the sweep: classify, print (-v), record. */
void lat_path(struct lat *l, const struct st_path *p);
/* End of an interval: read the BPF counters, print, reset the interval. */
void lat_report(struct lat *l, double secs);
/* The attach result of every hook, before the first interval. */
void lat_print_hooks(const struct lat *l);
const char *lat_dir_name(unsigned dir);

#endif /* ST_CLI_LATENCY_INT_H */
