/* SPDX-License-Identifier: MIT */
/*
 * stagetrace virt virtio, user side, shared between the command
 * (cli/virt_virtio.c: options, hooks, per-queue tables) and its per-packet
 * printer (cli/virt_virtio_pkt.c: one line or JSON object per received
 * frame from the ring buffer, --rx-path -v), and the receive-buffer mode
 * (cli/virt_rcvbuf.c, --rcvbuf).
 */
#ifndef ST_CLI_VIRT_VIRTIO_H
#define ST_CLI_VIRT_VIRTIO_H

#include <stddef.h>
#include <stdint.h>

struct vv_pkt_out {
	int json;
	uint64_t printed;	/* records printed since the start */
};

/* ring_buffer__new() callback; ctx is a struct vv_pkt_out. */
int vv_pkt_event(void *ctx, void *data, size_t size);
/* Column header of the text lines (printed once at the start). */
void vv_pkt_header(void);

struct st_local_opts;
/* --rcvbuf (cli/virt_rcvbuf.c): the receive buffers, run with the parsed
 * common options; check: --check-hooks. Returns the exit status. */
int virt_rcvbuf(struct st_local_opts *lo, int check);

#endif /* ST_CLI_VIRT_VIRTIO_H */
