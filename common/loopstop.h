/* SPDX-License-Identifier: MIT */
/*
 * How a long-running program (agent, collector) stops: SIGINT, SIGTERM or
 * an optional time limit end its libuv loop through one callback. The
 * handles live in struct st_loop_stop, owned by the caller; close them
 * before the loop is closed.
 */
#ifndef ST_LOOPSTOP_H
#define ST_LOOPSTOP_H

#include <uv.h>

struct st_loop_stop {
	uv_signal_t sigint, sigterm;
	uv_timer_t timer;
	void (*cb)(void *arg);
	void *arg;
};

/* after_s > 0: also stop after that many seconds. */
void st_loop_stop_init(uv_loop_t *loop, struct st_loop_stop *s, double after_s,
		       void (*cb)(void *arg), void *arg);
/* Stop the time limit only (shutdown has begun; signals stay armed). */
void st_loop_stop_disarm(struct st_loop_stop *s);
void st_loop_stop_close(struct st_loop_stop *s);

#endif /* ST_LOOPSTOP_H */
