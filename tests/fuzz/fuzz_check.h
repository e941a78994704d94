/* SPDX-License-Identifier: MIT */
/*
 * CHECK(cond): a fuzz target's property assertion. A violated property
 * aborts, which libFuzzer reports as a crash with the input that caused it.
 */
#ifndef ST_FUZZ_CHECK_H
#define ST_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                         \
	do {                                                                \
		if (!(cond)) {                                              \
			fprintf(stderr, "%s:%d: property violated: %s\n",   \
				__FILE__, __LINE__, #cond);                 \
			abort();                                            \
		}                                                           \
	} while (0)

#endif /* ST_FUZZ_CHECK_H */
