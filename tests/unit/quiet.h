/* SPDX-License-Identifier: MIT */
/*
 * quiet(1) / quiet(0): silence stderr around a call whose one-line errors
 * are expected, and restore it (cmocka prints its results there).
 */
#ifndef ST_TEST_QUIET_H
#define ST_TEST_QUIET_H

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

static inline void quiet(int on)
{
	static int saved = -1;

	fflush(stderr);
	if (on && saved < 0) {
		int null = open("/dev/null", O_WRONLY);

		saved = dup(2);
		dup2(null, 2);
		close(null);
	} else if (!on && saved >= 0) {
		dup2(saved, 2);
		close(saved);
		saved = -1;
	}
}

#endif /* ST_TEST_QUIET_H */
