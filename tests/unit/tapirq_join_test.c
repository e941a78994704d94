// SPDX-License-Identifier: MIT
/*
 * The per-queue join of `latency --path tap-to-irq` (cli/tapirq_join.c),
 * fed with event sequences as the kernel produces them: a batch of
 * packets injected inline, a deferred injection from a kworker, a signal
 * of another eventfd in between, buffers with no queued stamp, a batch
 * that never got its interrupt. Every record, stamp and counter is
 * checked exactly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cli/tapirq_join.h"
#include "unit_stubs.h"

#define SOCK 0xffff888001000000ull
#define CALL 0xffff888002000000ull
#define IRQFD 0xffff888003000000ull
#define WORKER 4242
#define KWORKER 77

static struct st_tj_rec recs[64];
static size_t nrec;

static void emit(void *ctx, const struct st_tj_rec *r)
{
	(void)ctx;
	if (nrec < 64)
		recs[nrec] = *r;
	nrec++;
}

static void ev(struct st_tj *j, uint32_t kind, uint64_t ts, uint32_t tid, uint64_t obj,
	       uint64_t eventfd, uint32_t count)
{
	struct st_kvm_event e;

	memset(&e, 0, sizeof(e));
	e.kind = kind;
	e.ts = ts;
	e.tid = tid;
	e.obj = obj;
	e.eventfd = eventfd;
	e.count = count;
	e.ifindex = 9;
	e.queue = 0;
	e.vm_pid = 1234;
	e.gsi = 25;
	st_tj_event(j, &e);
}

static void xmit(struct st_tj *j, uint64_t ts)
{
	ev(j, ST_KE_XMIT, ts, 1, SOCK, 0, 0);
}

/* The worker's part: handle_rx, used(count), signal, wakeup. */
static void worker(struct st_tj *j, uint64_t ts, uint32_t count)
{
	ev(j, ST_KE_HANDLE_RX, ts, WORKER, SOCK, CALL, 0);
	ev(j, ST_KE_USED, ts + 10, WORKER, SOCK, CALL, count);
	ev(j, ST_KE_SIGNAL, ts + 20, WORKER, CALL, 0, 0);
	ev(j, ST_KE_WAKE, ts + 30, WORKER, IRQFD, CALL, 0);
}

static void test_inline_batch(void **state)
{
	struct st_tj j;

	(void)state;
	nrec = 0;
	assert_int_equal(st_tj_init(&j, emit, NULL), 0);
	xmit(&j, 100);
	xmit(&j, 110);
	xmit(&j, 120);
	worker(&j, 200, 3);
	/* A signal of another eventfd by the same worker changes nothing. */
	ev(&j, ST_KE_SIGNAL, 235, WORKER, CALL + 64, 0, 0);
	ev(&j, ST_KE_INJECT, 240, WORKER, IRQFD, CALL, 1);
	assert_int_equal(nrec, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(recs[i].t_xmit, 100 + 10 * i);
		assert_int_equal(recs[i].t_rx, 200);
		assert_int_equal(recs[i].t_used, 210);
		assert_int_equal(recs[i].t_signal, 220);
		assert_int_equal(recs[i].t_wake, 230);
		assert_int_equal(recs[i].t_inject, 240);
		assert_int_equal(recs[i].batch, 3);
		assert_int_equal(recs[i].how, 1);
		assert_int_equal(recs[i].gsi, 25);
		assert_int_equal(recs[i].vm_pid, 1234);
		assert_int_equal(recs[i].ifindex, 9);
	}
	assert_int_equal(j.stats[ST_TJ_XMIT], 3);
	assert_int_equal(j.stats[ST_TJ_RECORDS], 3);
	assert_int_equal(j.stats[ST_TJ_SIGNALS], 1);
	assert_int_equal(j.stats[ST_TJ_UNSIGNALLED], 0);
	st_tj_free(&j);
}

static void test_deferred_and_leftovers(void **state)
{
	struct st_tj j;

	(void)state;
	nrec = 0;
	assert_int_equal(st_tj_init(&j, emit, NULL), 0);
	/* Two packets queued, the worker takes one, the kworker injects. */
	xmit(&j, 100);
	xmit(&j, 105);
	worker(&j, 200, 1);
	ev(&j, ST_KE_INJECT, 500, KWORKER, IRQFD, CALL, 2);
	assert_int_equal(nrec, 1);
	assert_int_equal(recs[0].t_xmit, 100);
	assert_int_equal(recs[0].how, 2);
	assert_int_equal(recs[0].t_inject, 500);
	/* The second packet and one that was sent before tracing: used
	 * together, but no interrupt follows before the next batch. */
	ev(&j, ST_KE_USED, 600, WORKER, SOCK, CALL, 2);
	assert_int_equal(j.stats[ST_TJ_USED_NO_XMIT], 1);
	xmit(&j, 700);
	worker(&j, 800, 1);
	assert_int_equal(j.stats[ST_TJ_UNSIGNALLED], 1);
	ev(&j, ST_KE_INJECT, 840, WORKER, IRQFD, CALL, 1);
	assert_int_equal(nrec, 2);
	assert_int_equal(recs[1].t_xmit, 700);
	/* An injection nobody waits for is ignored; a pending batch at the
	 * end is counted as unsignalled. */
	ev(&j, ST_KE_INJECT, 900, KWORKER, IRQFD, CALL, 2);
	assert_int_equal(nrec, 2);
	xmit(&j, 950);
	ev(&j, ST_KE_USED, 960, WORKER, SOCK, CALL, 1);
	st_tj_free(&j);
	assert_int_equal(j.stats[ST_TJ_UNSIGNALLED], 2);
	assert_int_equal(j.stats[ST_TJ_RECORDS], 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_inline_batch),
		cmocka_unit_test(test_deferred_and_leftovers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
