/* SPDX-License-Identifier: MIT */
/*
 * Shared between bpf/virt_rcvbuf.bpf.c and cli/virt_rcvbuf.c: the guest's
 * virtio-net receive buffers (stagetrace virt virtio --rcvbuf), plain
 * fixed-width types.
 *
 * Per (device, queue pair), cumulative since the start (user space prints
 * the difference of two reads):
 *
 *   fills    try_fill_recv calls, split by where they ran: inside a NAPI
 *            run (virtnet_poll topping the ring up, atomic allocations)
 *            or outside (the device opening, the deferred refill work, a
 *            ring resize: allocations that may sleep); ring slots each
 *            kind posted (the virtqueue's num_free before
 *            minus after), fills that ran out of memory (returned false),
 *            the time spent filling, and the most slots a fill found free
 *            (how close the ring came to empty)
 *   refill   refill_work runs: the deferred refill the driver schedules
 *            when a fill in NAPI could not allocate
 *   frames   receive_buf calls: frames handed to the driver, the ones that
 *            spanned more than one buffer (mergeable num_buffers > 1)
 *
 * Two sparse histograms (bpf/cpu_hist.h) over all virtio-net queues: the
 * received frame lengths (receive_buf's len less the virtio-net header)
 * and, for mergeable buffers, each buffer's true size as the driver
 * encoded it in the buffer's context when it posted it.
 */
#ifndef ST_BPF_VIRT_RCVBUF_H
#define ST_BPF_VIRT_RCVBUF_H

#include "st_types.h"

#define ST_VR_MAX_Q 1024

/* Histogram ids in the hist0/hist1 maps. */
#define ST_VR_H_LEN 0		/* frame length, bytes */
#define ST_VR_H_TRUESIZE 1	/* mergeable buffer true size, bytes */

/* The receive mode of the device (virtnet_info's flags). */
#define ST_VR_MODE_SMALL 1
#define ST_VR_MODE_BIG 2
#define ST_VR_MODE_MERGEABLE 3

struct st_vr_key {
	__u32 netns;
	__u32 ifindex;
	__u32 queue;		/* queue pair: RX virtqueue index / 2 */
	__u32 pad;
};

struct st_vr_val {
	__u64 fills_napi;
	__u64 fills_other;
	__u64 posted_napi;	/* ring slots posted by fills in NAPI runs */
	__u64 posted_other;
	__u64 fill_oom;		/* fills that returned false: no memory */
	__u64 fill_ns;		/* time spent in fills */
	__u64 refill_work;	/* deferred refill runs */
	__u64 frames;		/* receive_buf calls */
	__u64 frame_bytes;	/* their lengths, header excluded */
	__u64 multi_buf;	/* frames over more than one mergeable buffer */
	__u32 max_free;		/* most free slots a fill found (since start) */
	__u32 last_free;	/* free slots after the last fill */
	__u32 mode;		/* ST_VR_MODE_* (0: not seen yet) */
	__u32 hdr_len;		/* virtio-net header length of the device */
};

enum st_vr_counter {
	ST_VRC_MAP_FULL = 0,	/* no room for a new queue row */
	ST_VRC_HIST_FULL,	/* histogram map full: a sample lost */
	ST_VRC_NO_DEV,		/* a hook could not find its device */
	ST_VRC_UNPAIRED,	/* a fill's exit without its entry (attached mid-fill,
				 * or the per-thread table was full) */
	ST_VRC_MAX,
};

_Static_assert(sizeof(struct st_vr_key) == 16, "st_vr_key layout");
_Static_assert(sizeof(struct st_vr_val) == 96, "st_vr_val layout");

#endif /* ST_BPF_VIRT_RCVBUF_H */
