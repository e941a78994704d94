/* SPDX-License-Identifier: MIT */
/*
 * The multi-port gap matrix: inter-packet gaps per flow (source, destination,
 * protocol, destination port) at every stamp point of the path on both
 * hosts, and stalls.
 *
 * A matched packet's stamps, in path order, are its points (the stage the
 * stamp closes, on the host that took it). The gap at a point is the time
 * since the flow's previous packet passed the same point. Gaps go into
 * per-minute histograms per (flow, point). A stall is a gap over the
 * threshold (--stall-ms, default 100): it is reported at the first point
 * along the path where it appears, with its start (when the previous
 * packet passed there), its length, and the gap at the point before it.
 * If that upstream gap is small, packets reached the previous point on time
 * and were held between it and this one: "the stall started in tap_queue
 * on hv2" is read straight off the record. A stall at the first point
 * means the sender paused (or the cause is before the first traced point).
 *
 * Packets whose stamps arrive out of order (a later packet finalised
 * first) or whose path differs from the flow's previous one are counted
 * and not measured. Flow state is bounded (C_GAP_MAX_FLOWS, idle flows
 * expire after a minute) and every refusal is counted.
 */
#ifndef ST_GAP_H
#define ST_GAP_H

#include <stdint.h>

#define C_GAP_MAX_POINTS 16
#define C_GAP_MAX_FLOWS 65536
#define C_GAP_MAX_STALLS_PER_FLUSH 1000

struct st_collector;

struct c_gap_point {
	uint16_t stage;		/* interned stage name */
	uint16_t host;		/* host index */
	int64_t t;		/* timeline ns */
};

struct c_gap_counters {
	uint64_t packets, reordered, path_changed, flows_dropped, stalls, stalls_dropped;
};

void c_gap_observe(struct st_collector *c, const char *src, const char *dst,
		   uint8_t proto, uint16_t dport, const struct c_gap_point *pt, int n);
/* Inside the flush transaction: write the deltas and stalls. 0 or -errno. */
int c_gap_store(struct st_collector *c);
/* After a commit: forget what was written. */
void c_gap_clear(struct st_collector *c);
/* Forget flows idle for a minute (collector monotonic clock). */
void c_gap_expire(struct st_collector *c, int64_t now_ns);
void c_gap_free(struct st_collector *c);
/* The "gap" query (see query.c); scope as c_query_run. */
void *c_gap_query(struct st_collector *c, void *req, int scope);

#endif /* ST_GAP_H */
