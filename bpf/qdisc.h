/* SPDX-License-Identifier: MIT */
/*
 * Shared between bpf/qdisc.bpf.c and cli/qdisc*.c: what the qdisc tracer
 * counts, in plain fixed-width types.
 *
 * One BPF object serves five modes; user space loads only the programs of
 * the mode it runs (autoload) and says which one in st_qd_cfg.mode:
 *   latency  qdisc_enqueue stamps each skb, qdisc_dequeue looks the stamps
 *            of the dequeued skbs up and adds enqueue->dequeue time to a
 *            log-linear histogram (common/hist_index.h) per qdisc
 *   dequeue  qdisc_dequeue: calls, empty calls, packets and bytes per call,
 *            the qdisc's own requeue counter, per qdisc
 *   drops    kfree_skb with a qdisc/tc drop reason: per (qdisc, reason,
 *            location) count and the queue depth (qlen, backlog) at the drop
 *   xmit     net_dev_queue -> net_dev_start_xmit time per TX queue, queue
 *            depth at enqueue, xmit results, watchdog timeouts, BQL stalls
 *   tc       qdisc_create/destroy/reset events, drops with TC_* reasons
 *
 * Counting is double buffered like bpf/drops.h: programs write into the
 * map of generation qdisc_gen & 1, user space flips the generation at the
 * end of an interval and drains the other one, so nothing is lost or
 * counted twice between intervals.
 */
#ifndef ST_BPF_QDISC_H
#define ST_BPF_QDISC_H

#include "st_types.h"
#include "pktkey.h"
#include "filter.h"

#define ST_QD_MAX_KEYS      4096	/* qdiscs / rows per interval */
#define ST_QD_MAX_HIST      16384	/* (qdisc, bucket) entries per interval */
#define ST_QD_MAX_INFLIGHT  65536	/* enqueued skbs with a stamp */
#define ST_QD_MAX_BATCH     64		/* skbs followed per dequeue */
#define ST_QD_KIND_LEN      16		/* IFNAMSIZ-sized qdisc kind ("tbf") */
#define ST_QD_NO_TXQ        0xffffffffu	/* txq of a qdisc not on a TX queue */

enum st_qd_mode {
	ST_QD_LATENCY = 1,
	ST_QD_DEQUEUE,
	ST_QD_DROPS,
	ST_QD_XMIT,
	ST_QD_TC,
};

/* A qdisc (or, in xmit mode, a TX queue: handle/parent 0, kind "txq"). */
struct st_qd_key {
	__u32 netns;		/* netns inode of the device */
	__u32 ifindex;
	__u32 handle;		/* qdisc handle, major:minor in 16:16 */
	__u32 parent;		/* TC_H_ROOT (0xffffffff) for a root qdisc */
	__u32 txq;		/* TX queue index, ST_QD_NO_TXQ for ingress */
	__u32 pad;
	char kind[ST_QD_KIND_LEN];	/* Qdisc_ops id: "tbf", "htb", ... */
};

/* One bucket of a latency histogram. */
struct st_qd_hkey {
	struct st_qd_key k;
	__u32 bucket;		/* st_hist_index() of the value in ns */
	__u32 pad;
};

/* Exact companions of a histogram (per-CPU: no atomics needed). */
struct st_qd_hstat {
	__u64 count, sum, min, max;
};

/* Dequeue mode, per qdisc and interval (per-CPU). */
struct st_qd_deq {
	__u64 calls;		/* qdisc_dequeue events */
	__u64 empty;		/* calls that returned no skb */
	__u64 packets;		/* skbs dequeued */
	__u64 bytes;		/* sum of skb->len of those */
	__u64 requeues_first;	/* the qdisc's qstats.requeues at the first call */
	__u64 requeues;		/* ... and at the last call of the interval */
	__u64 max_batch;
	__u64 batch[ST_QD_MAX_BATCH + 1];	/* calls by skbs per call; [64]: >= 64 */
};

/* Drops mode: one row per (qdisc, reason, location). */
struct st_qd_dkey {
	struct st_qd_key k;
	__u64 location;		/* caller of kfree_skb */
	__u32 reason;		/* enum skb_drop_reason */
	__u32 pad;
};

struct st_qd_dval {
	__u64 count;
	__u64 bytes;
	__u64 qlen_sum, qlen_max;	/* the qdisc's qlen at each drop */
	__u64 backlog_sum, backlog_max;	/* bytes queued at each drop */
	__u64 depth_unknown;	/* drops whose qdisc keeps per-CPU stats */
};

/* Xmit mode, per TX queue and interval (per-CPU). */
struct st_qd_xval {
	__u64 queued;		/* net_dev_queue */
	__u64 started;		/* net_dev_start_xmit */
	__u64 xmit_ok;		/* net_dev_xmit rc == NETDEV_TX_OK */
	__u64 xmit_busy;	/* rc == NETDEV_TX_BUSY (requeued) */
	__u64 xmit_err;		/* any other rc */
	__u64 timeouts;		/* net_dev_xmit_timeout */
	__u64 depth_sum, depth_max;	/* txq qdisc qlen at net_dev_queue */
	__u64 inflight_max;	/* BQL bytes queued to the driver, not completed */
	__u64 unmatched;	/* start_xmit of an skb queued before tracing */
};

/* Tc mode: tcf_classify() results per qdisc whose filters ran (where a
 * function hook attaches: fexit or kprobe; there is no tracepoint). The
 * qdisc is the owner of the filter's block (k.handle 0 with a kind of ""
 * for a shared block, which has no single owner). Value: count. */
struct st_qd_ckey {
	struct st_qd_key k;
	__s32 verdict;		/* TC_ACT_* returned (-1: no filter matched) */
	__u32 classid;		/* tcf_result classid when verdict >= 0 */
};

/* Per-event record (ring buffer): verbose modes and tc lifecycle. */
enum st_qd_event_type {
	ST_QE_LATENCY = 1,	/* lat_ns: enqueue -> dequeue */
	ST_QE_DROP,		/* reason, location, qlen, backlog */
	ST_QE_XMIT,		/* lat_ns: queue -> start_xmit; rc */
	ST_QE_XMIT_ERR,		/* rc != OK */
	ST_QE_TIMEOUT,		/* txq timed out */
	ST_QE_DQL_STALL,	/* qlen: stall threshold, len: queue length */
	ST_QE_CREATE,
	ST_QE_DESTROY,
	ST_QE_RESET,
	ST_QE_CLASSIFY,		/* tcf_classify: rc verdict, reason classid */
};

struct st_qd_event {
	__u64 ts;		/* bpf_ktime_get_ns() */
	__u32 type;		/* st_qd_event_type */
	__u32 cpu;
	__u32 pid;
	__s32 rc;
	char comm[16];
	struct st_qd_key k;
	__u64 lat_ns;
	__u64 location;
	__u32 reason;
	__u32 len;		/* skb->len */
	__u32 qlen;
	__u32 backlog;
	__u8 keyed;		/* key holds a parsed IPv4 packet */
	__u8 depth_known;
	__u8 pad[6];
	struct st_pkt_key key;
};

/* Configuration (array map, one entry). */
#define ST_QF_NETNS  0x1	/* only netns in qd_netns */
#define ST_QF_DEV    0x2	/* only (netns, ifindex) in qd_devs */
#define ST_QF_EVENTS 0x100	/* one ring buffer event per packet/drop */

struct st_qd_cfg {
	__u32 mode;		/* st_qd_mode */
	__u32 flags;		/* ST_QF_* */
	struct st_pkt_filter pf;
};

struct st_qd_dev {
	__u32 netns;
	__u32 ifindex;
};

enum st_qd_counter {
	ST_QC_CALLS = 0,	/* hook invocations of the mode's programs */
	ST_QC_FILTERED,		/* stopped by the netns/device filter */
	ST_QC_FILTER_HDR,	/* stopped by a header filter (or unparsable) */
	ST_QC_STAMPED,		/* latency/xmit: skbs stamped at enqueue */
	ST_QC_MATCHED,		/* latency/xmit: dequeued skbs with a stamp */
	ST_QC_UNMATCHED,	/* dequeued/started skbs without a stamp */
	ST_QC_BATCH_CUT,	/* dequeued lists longer than ST_QD_MAX_BATCH */
	ST_QC_COUNTED,		/* drops/dequeues/xmits added to a row */
	ST_QC_OTHER_REASON,	/* drops mode: kfree_skb with a non-qdisc reason */
	ST_QC_MAP_FULL,		/* lost: no room for a new row or bucket */
	ST_QC_RINGBUF_FULL,	/* lost event (still counted) */
	ST_QC_MAX,
};

/* The drop reasons a mode counts: a hash set filled by user space from the
 * running kernel's enum skb_drop_reason (names QDISC_*, TC_*, ...). */
#define ST_QD_MAX_REASONS 64

#endif /* ST_BPF_QDISC_H */
