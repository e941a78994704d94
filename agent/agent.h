/* SPDX-License-Identifier: MIT */
/*
 * stagetrace-agent internals.
 *
 * One libuv loop owns all state: the BPF skeleton, the device table, the
 * batch being filled and the send queue. Work enters the loop only through
 * libuv handles: a uv_poll on the ring buffer's epoll fd, timers (flush,
 * sweep, device rescan, heartbeat), signals, and one uv_async that nng's
 * completion callbacks poke (they run on nng threads and touch nothing but
 * their own result slot).
 */
#ifndef ST_AGENT_H
#define ST_AGENT_H

#include <stdint.h>
#include <uv.h>

#include "loopstop.h"
#include "ovsdp.h"
#include "opts.h"
#include "tls.h"
#include "../bpf/stages.h"
#include "stage_attach.h"

struct stages_bpf;
struct st_sender;
struct st_clockprobe;
struct st_httpsrv;

struct st_agent_cfg {
	const char *collector;
	const char *host;
	struct st_strlist netns;	/* names under /run/netns, or paths */
	struct st_strlist uplinks;
	struct st_strlist vms;		/* DEV=NAME */
	const char *libvirt_dir;	/* libvirt domain status files (vmident.c) */
	int no_vm_discovery;		/* taps named only by --vm */
	uint32_t sample_n, sample_k;
	struct st_cidr src, dst;
	uint16_t sport, dport;
	const char *proto;
	int either;
	uint32_t batch_max;
	uint32_t flush_ms;
	uint32_t queue_max;
	uint32_t path_timeout_ms;
	double duration;
	int probes_only;
	int json;
	int verbose;
	const char *force_method;	/* test/diagnostic: only this attach method */
	uint32_t clock_probe_ms;
	uint32_t poll_ms;
	struct st_tls_opts tls;
	const char *config;
	const char *metrics;		/* http://ADDR:PORT for /metrics, or NULL */
	/* Test-only clock skew (see TestSkew in the proto). */
	const char *test_offset_us, *test_drift_ppm;
};

struct st_skew {
	int active;		/* test options given (even zero): report them */
	int64_t offset_ns;
	int64_t drift_ppb;
	uint64_t origin;
};

#define ST_MAX_DEVS 1024

struct st_dev {
	uint32_t netns;
	uint32_t ifindex;
	uint8_t role;
	char name[32];
	char vm[64];
};

struct st_devtab {
	struct st_dev devs[ST_MAX_DEVS];
	int n;
	uint32_t netns_inodes[64];
	int n_netns;
};

struct st_agent {
	struct st_agent_cfg cfg;
	uv_loop_t *loop;
	struct stages_bpf *skel;
	struct ring_buffer *rb;
	struct st_devtab devs;
	struct st_probe probes[ST_HOOK_MAX];
	/* Set when the object with the datapath programs failed to load
	 * although their probes passed: plan the host-stack hooks only. */
	int datapath_off;
	struct st_sender *sender;
	struct st_clockprobe *probe;
	struct st_skew skew;
	uint64_t instance;

	/* Paths converted but not yet packed into a batch. */
	void **pending;			/* st_hostpath * */
	uint32_t n_pending, cap_pending;

	/* User-space counters (BPF ones are read from the counters map). */
	uint64_t paths_in, paths_timeout, paths_dropped_full, ringbuf_lost;
	uint64_t ring_polls;
	uv_poll_t rb_poll;
	uv_timer_t flush_timer, drain_timer, sweep_timer, rescan_timer;
	struct st_loop_stop stop;
	int stopping;
	struct st_httpsrv *metrics;
	uint64_t start_real_ns;
	/* OVS datapath counters summed over the namespace's datapaths, read
	 * at every device rescan; ovsdp_n < 0: no openvswitch module. */
	struct st_ovsdp_stats ovsdp;
	int ovsdp_n;
	uint64_t ovsdp_errors;
};

/* vmident.c: tap -> VM from libvirt status files and qemu command lines */
void st_vmident_refresh(const struct st_agent_cfg *cfg);
/* VM name of tap (NULL: unknown); *uuid ("" if none) and *source
 * ("libvirt"/"qemu") when not NULL. */
const char *st_vmident_find(const char *tap, const char **uuid, const char **source);

/* counters.c */
void st_agent_ovsdp_refresh(struct st_agent *a);

/* attach.c */
int st_attach_plan(struct st_agent *a);
int st_attach_all(struct st_agent *a);
void st_probes_print(const struct st_agent *a, int json);

/* devices.c */
int st_devices_scan(struct st_agent *a);
const struct st_dev *st_devices_find(const struct st_devtab *t, uint32_t netns,
				     uint32_t ifindex);
int st_netns_inode(const char *name, uint32_t *ino);

/* convert.c: the only place BPF records become protobuf. */
void *st_convert_path(const struct st_agent *a, const struct st_path *p);
void st_convert_free(void *hostpath);

/* sender.c */
struct st_sender *st_sender_new(struct st_agent *a);
void st_sender_free(struct st_sender *s);
/* Pack the pending paths (may be zero: a heartbeat) into a batch and queue it. */
void st_sender_flush(struct st_sender *s);
void st_sender_counters(const struct st_sender *s, uint64_t *sent,
			uint64_t *acked, uint64_t *retries, uint64_t *dropped_batches,
			uint64_t *dropped_paths, uint64_t *queued);
/* Try to send what is queued, up to timeout_ms; used at shutdown. */
void st_sender_drain(struct st_sender *s, unsigned timeout_ms);

/* clockprobe.c */
#include <nng/nng.h>
#include "stagetrace.pb-c.h"
struct st_clockprobe *st_clockprobe_new(struct st_agent *a, nng_socket sock,
					unsigned interval_ms);
uint32_t st_clockprobe_take(struct st_clockprobe *p,
			    Stagetrace__V1__ClockExchange *out, uint32_t max);
void st_clockprobe_counters(struct st_clockprobe *p, uint64_t *sent,
			    uint64_t *answered, uint64_t *failed);
void st_clockprobe_free(struct st_clockprobe *p);
nng_socket st_sender_socket(const struct st_sender *s);

/*
 * The agent's reported monotonic time: the kernel's, plus the test-only
 * skew when one is configured. Every monotonic value that leaves the agent
 * (stamps, clock triples, probe times) goes through this.
 */
static inline uint64_t st_agent_mono(const struct st_agent *a, uint64_t mono)
{
	const struct st_skew *s = &a->skew;

	if (!s->offset_ns && !s->drift_ppb)
		return mono;
	return mono + (uint64_t)(s->offset_ns +
				 (int64_t)(((__int128)(int64_t)(mono - s->origin) *
					    s->drift_ppb) / 1000000000));
}

/* caps.c: drop what is no longer needed once attached. */
int st_agent_drop_caps(struct st_agent *a);

/* metrics.c: the agent's own /metrics. */
int st_agent_metrics_start(struct st_agent *a, const char *url);
void st_agent_metrics_stop(struct st_agent *a);

/* counters.c */
void st_agent_counters_fill(struct st_agent *a, void ***out, size_t *n);
/* Every counter by name; gauge is set for levels (queue depth). */
typedef void (*st_counter_fn)(void *ctx, const char *name, uint64_t v, int gauge);
void st_agent_counters_each(struct st_agent *a, st_counter_fn fn, void *ctx);
void st_read_bpf_counters(struct st_agent *a, uint64_t out[ST_C_MAX]);

#endif /* ST_AGENT_H */
