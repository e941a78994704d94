/* SPDX-License-Identifier: MIT */
/*
 * Clock readings. BPF stamps use CLOCK_MONOTONIC (bpf_ktime_get_ns), so
 * agents report (monotonic, realtime, TAI) triples read back to back; the
 * collector maps monotonic stamps onto one timeline with them.
 */
#ifndef ST_TIMEUTIL_H
#define ST_TIMEUTIL_H

#include <stdint.h>
#include <time.h>

static inline uint64_t st_clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t st_mono_ns(void) { return st_clock_ns(CLOCK_MONOTONIC); }
static inline uint64_t st_real_ns(void) { return st_clock_ns(CLOCK_REALTIME); }

/*
 * A (mono, realtime, tai) triple with the smallest bracketing window of a
 * few tries, so the pair is consistent to well under a microsecond.
 */
struct st_clock_triple {
	uint64_t mono_ns;
	int64_t real_ns;
	int64_t tai_ns;
};
void st_clock_triple_read(struct st_clock_triple *t);

#endif /* ST_TIMEUTIL_H */
