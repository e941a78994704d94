// SPDX-License-Identifier: MIT
/*
 * The per-queue join of `latency --path tap-to-irq` (cli/tapirq_join.h
 * explains the scheme). Events arrive in ring buffer order, which is the
 * order the kernel reserved them in: within one task that is program
 * order, which is all the join relies on (xmit before the worker's
 * "used", "used" before its signal, signal before wakeup before an inline
 * injection; a deferred injection comes later from a kworker and is
 * matched by irqfd).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tapirq_join.h"

#define TJ_FIFO 4096	/* stamps queued per tap queue before the oldest go */

struct tj_fifo {
	uint64_t ts[TJ_FIFO];
	uint32_t head, n;
	uint32_t netns, ifindex, queue;
};

struct tj_batch {
	struct st_tj_rec r;	/* shared stamps; t_xmit per packet below */
	uint64_t eventfd;
	uint32_t n;
	uint64_t xmit[];
};

int st_tj_init(struct st_tj *j, st_tj_emit_fn emit, void *ctx)
{
	memset(j, 0, sizeof(*j));
	j->emit = emit;
	j->ctx = ctx;
	if (st_u64map_init(&j->socks, 16) || st_u64map_init(&j->tids, 16) ||
	    st_u64map_init(&j->irqfds, 16) || st_u64map_init(&j->rx, 16)) {
		st_tj_free(j);
		return -ENOMEM;
	}
	return 0;
}

/* Key 0 is not allowed in st_u64map: tids and pointers are never 0 here
 * except tid 0 (swapper), which never runs vhost; shift it anyway. */
static uint64_t tid_key(uint32_t tid)
{
	return (uint64_t)tid + 1;
}

static void emit_batch(struct st_tj *j, struct tj_batch *b)
{
	for (uint32_t i = 0; i < b->n; i++) {
		struct st_tj_rec r = b->r;

		r.t_xmit = b->xmit[i];
		r.batch = b->n;
		j->emit(j->ctx, &r);
		j->stats[ST_TJ_RECORDS]++;
	}
	j->stats[ST_TJ_SIGNALS]++;
}

static void drop_batch(struct st_tj *j, struct tj_batch *b)
{
	if (b)
		j->stats[ST_TJ_UNSIGNALLED] += b->n;
	free(b);
}

static void on_xmit(struct st_tj *j, const struct st_kvm_event *e)
{
	struct tj_fifo *f = st_u64map_get(&j->socks, e->obj);

	j->stats[ST_TJ_XMIT]++;
	if (!f) {
		f = calloc(1, sizeof(*f));
		if (!f || st_u64map_put(&j->socks, e->obj, f)) {
			free(f);
			j->stats[ST_TJ_NO_MEM]++;
			return;
		}
	}
	f->netns = e->netns;
	f->ifindex = e->ifindex;
	f->queue = e->queue;
	if (f->n == TJ_FIFO) {
		/* Nobody consumes this queue (no vhost behind it, or its
		 * events were lost): the oldest stamp goes. */
		f->head = (f->head + 1) % TJ_FIFO;
		f->n--;
		j->stats[ST_TJ_FIFO_FULL]++;
	}
	f->ts[(f->head + f->n) % TJ_FIFO] = e->ts;
	f->n++;
}

static void on_used(struct st_tj *j, const struct st_kvm_event *e)
{
	struct tj_fifo *f = st_u64map_get(&j->socks, e->obj);
	uint64_t *rx = st_u64map_get(&j->rx, tid_key(e->tid));
	uint32_t take = f ? (f->n < e->count ? f->n : e->count) : 0;
	struct tj_batch *b;

	/* A batch of this worker that never got its signal ends here. */
	drop_batch(j, st_u64map_del(&j->tids, tid_key(e->tid)));
	if (take < e->count)
		j->stats[ST_TJ_USED_NO_XMIT] += e->count - take;
	if (!take)
		return;
	b = calloc(1, sizeof(*b) + take * sizeof(b->xmit[0]));
	if (!b || st_u64map_put(&j->tids, tid_key(e->tid), b)) {
		free(b);
		j->stats[ST_TJ_NO_MEM]++;
		return;
	}
	for (uint32_t i = 0; i < take; i++)
		b->xmit[i] = f->ts[(f->head + i) % TJ_FIFO];
	f->head = (f->head + take) % TJ_FIFO;
	f->n -= take;
	b->n = take;
	b->eventfd = e->eventfd;
	b->r.t_rx = rx ? (uint64_t)(uintptr_t)rx - 1 : 0;
	b->r.t_used = e->ts;
	b->r.netns = f->netns;
	b->r.ifindex = f->ifindex;
	b->r.queue = f->queue;
}

void st_tj_event(struct st_tj *j, const struct st_kvm_event *e)
{
	struct tj_batch *b;

	switch (e->kind) {
	case ST_KE_XMIT:
		on_xmit(j, e);
		break;
	case ST_KE_HANDLE_RX:
		/* The stamp itself is the value (plus one: never NULL). */
		if (st_u64map_put(&j->rx, tid_key(e->tid), (void *)(uintptr_t)(e->ts + 1)))
			j->stats[ST_TJ_NO_MEM]++;
		break;
	case ST_KE_USED:
		on_used(j, e);
		break;
	case ST_KE_SIGNAL:
		b = st_u64map_get(&j->tids, tid_key(e->tid));
		if (b && b->eventfd == e->obj && !b->r.t_signal)
			b->r.t_signal = e->ts;
		break;
	case ST_KE_WAKE:
		b = st_u64map_get(&j->tids, tid_key(e->tid));
		if (!b || b->eventfd != e->eventfd || !b->r.t_signal)
			break;
		st_u64map_del(&j->tids, tid_key(e->tid));
		b->r.t_wake = e->ts;
		b->r.vm_pid = e->vm_pid;
		b->r.gsi = e->gsi;
		/* From here the injection finds it by irqfd, inline or not;
		 * a wakeup whose earlier batch was never injected replaces it. */
		drop_batch(j, st_u64map_del(&j->irqfds, e->obj));
		if (st_u64map_put(&j->irqfds, e->obj, b)) {
			j->stats[ST_TJ_NO_MEM]++;
			drop_batch(j, b);
		}
		break;
	case ST_KE_INJECT:
		b = st_u64map_del(&j->irqfds, e->obj);
		if (!b)
			break;
		b->r.t_inject = e->ts;
		b->r.how = e->count;
		emit_batch(j, b);
		free(b);
		break;
	}
}

void st_tj_free(struct st_tj *j)
{
	struct st_u64map *m[] = { &j->tids, &j->irqfds, &j->socks };
	uint64_t k;
	void *v;

	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		if (!m[i]->keys)
			continue;
		for (size_t it = 0; st_u64map_next(m[i], &it, &k, &v);) {
			if (m[i] == &j->socks)
				free(v);
			else
				drop_batch(j, v);
		}
		st_u64map_free(m[i]);
	}
	if (j->rx.keys)
		st_u64map_free(&j->rx);
}
