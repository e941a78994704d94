// SPDX-License-Identifier: MIT
#include "timeutil.h"

void st_clock_triple_read(struct st_clock_triple *t)
{
	uint64_t best = UINT64_MAX;

	for (int i = 0; i < 5; i++) {
		uint64_t m0 = st_mono_ns();
		int64_t r = (int64_t)st_real_ns();
		int64_t a = (int64_t)st_clock_ns(CLOCK_TAI);
		uint64_t m1 = st_mono_ns();

		if (m1 - m0 < best) {
			best = m1 - m0;
			/* The realtime read sits in the middle of [m0, m1]. */
			t->mono_ns = m0 + (m1 - m0) / 2;
			t->real_ns = r;
			t->tai_ns = a;
		}
	}
}
