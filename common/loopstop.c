// SPDX-License-Identifier: MIT
#include "loopstop.h"

#include <signal.h>
#include <stdint.h>

static void on_signal(uv_signal_t *h, int signum)
{
	struct st_loop_stop *s = h->data;

	s->cb(s->arg);
}

static void on_timer(uv_timer_t *t)
{
	struct st_loop_stop *s = t->data;

	s->cb(s->arg);
}

void st_loop_stop_init(uv_loop_t *loop, struct st_loop_stop *s, double after_s,
		       void (*cb)(void *arg), void *arg)
{
	s->cb = cb;
	s->arg = arg;
	uv_signal_init(loop, &s->sigint);
	s->sigint.data = s;
	uv_signal_start(&s->sigint, on_signal, SIGINT);
	uv_signal_init(loop, &s->sigterm);
	s->sigterm.data = s;
	uv_signal_start(&s->sigterm, on_signal, SIGTERM);
	uv_timer_init(loop, &s->timer);
	s->timer.data = s;
	if (after_s > 0)
		uv_timer_start(&s->timer, on_timer, (uint64_t)(after_s * 1000), 0);
}

void st_loop_stop_disarm(struct st_loop_stop *s)
{
	uv_timer_stop(&s->timer);
}

void st_loop_stop_close(struct st_loop_stop *s)
{
	uv_close((uv_handle_t *)&s->sigint, NULL);
	uv_close((uv_handle_t *)&s->sigterm, NULL);
	uv_close((uv_handle_t *)&s->timer, NULL);
}
