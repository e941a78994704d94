/* SPDX-License-Identifier: MIT */
/*
 * Link-time stand-ins shared by the unit tests.
 *
 * Unit tests link every agent, collector and CLI object except the ones
 * that contain main(). agent/sender.o calls st_agent_counters_fill(),
 * which is defined in agent/main.c, so without a definition here no unit
 * test binary would link. The stand-in is weak: if the real function ever
 * moves into a linked object, the real one wins and nothing breaks.
 *
 * Include this header from exactly one translation unit per test binary.
 */
#ifndef ST_UNIT_STUBS_H
#define ST_UNIT_STUBS_H

#include <stddef.h>

struct st_agent;

/* The unit tests never run the agent's sender, so this reports nothing. */
__attribute__((weak)) void st_agent_counters_fill(struct st_agent *a, void ***out,
						  size_t *n);
__attribute__((weak)) void st_agent_counters_fill(struct st_agent *a, void ***out,
						  size_t *n)
{
	(void)a;
	*out = NULL;
	*n = 0;
}

#endif /* ST_UNIT_STUBS_H */
