// SPDX-License-Identifier: MIT
/*
 * What stagetrace rtt and flow compute in user space from the kernel's
 * stamps: the stage durations of an echo exchange in both directions,
 * with stamps missing (cli/rtt_out.c), and the time order of a packet's
 * hops whatever order their events came in (cli/flow.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cli/flow.h"
#include "cli/rtt.h"

static void test_tx_durations(void **state)
{
	__u64 t[ST_RTT_NT] = { 1000, 1500, 21500, 21600, 900 };
	uint64_t d[RTT_NH];

	(void)state;
	assert_int_equal(rtt_durations(ST_RTT_TX, t, d), 5);
	assert_int_equal(d[0], 20600);	/* queue -> freed */
	assert_int_equal(d[1], 500);	/* send */
	assert_int_equal(d[2], 20000);	/* network */
	assert_int_equal(d[3], 100);	/* recv */
	assert_int_equal(d[1] + d[2] + d[3], d[0]);
	/* ip_out precedes the round trip and is not part of it. */
	assert_int_equal(d[4], 100);
	assert_true(rtt_stage_needs_ip(ST_RTT_TX, 4));
	assert_false(rtt_stage_needs_ip(ST_RTT_TX, 3));
}

/* No free seen: the round trip ends at the reply's receive, no recv. */
static void test_tx_without_free(void **state)
{
	__u64 t[ST_RTT_NT] = { 1000, 1500, 21500, 0, 0 };
	uint64_t d[RTT_NH];

	(void)state;
	rtt_durations(ST_RTT_TX, t, d);
	assert_int_equal(d[0], 20500);
	assert_int_equal(d[3], UINT64_MAX);
	assert_int_equal(d[4], UINT64_MAX);	/* no ip_send_skb hook */
}

/* No transmit seen: send and network unknown, the total still stands. */
static void test_tx_without_xmit(void **state)
{
	__u64 t[ST_RTT_NT] = { 1000, 0, 21500, 21600, 0 };
	uint64_t d[RTT_NH];

	(void)state;
	rtt_durations(ST_RTT_TX, t, d);
	assert_int_equal(d[0], 20600);
	assert_int_equal(d[1], UINT64_MAX);
	assert_int_equal(d[2], UINT64_MAX);
	assert_int_equal(d[3], 100);
}

static void test_rx_durations(void **state)
{
	const char *const *names, *const *what;
	__u64 t[ST_RTT_NT] = { 5000, 25000, 25010, 0, 24000 };
	uint64_t d[RTT_NH];

	(void)state;
	assert_int_equal(rtt_durations(ST_RTT_RX, t, d), 5);
	assert_int_equal(d[0], 20010);
	assert_int_equal(d[1], 20000);	/* stack */
	assert_int_equal(d[2], 10);	/* send */
	assert_int_equal(d[3], 19000);	/* icmp: stack's first part */
	assert_int_equal(d[4], 1000);	/* ip_out: its second part */
	assert_int_equal(d[3] + d[4], d[1]);
	assert_int_equal(rtt_stage_names(ST_RTT_RX, &names, &what), 5);
	assert_string_equal(names[0], "reply_time");
	assert_string_equal(names[1], "stack");
	assert_string_equal(names[3], "icmp");
	assert_true(rtt_stage_needs_ip(ST_RTT_RX, 3) && rtt_stage_needs_ip(ST_RTT_RX, 4));
	assert_false(rtt_stage_needs_ip(ST_RTT_RX, 1));
	assert_int_equal(rtt_stage_names(ST_RTT_TX, &names, &what), 5);
	assert_string_equal(names[2], "network");
}

/* A stamp earlier than the one before it (never from one clock, but a
 * reader must not wrap to 2^64 - n) is unknown, not huge. */
static void test_backwards_is_unknown(void **state)
{
	__u64 t[ST_RTT_NT] = { 2000, 1000, 3000, 4000, 0 };
	uint64_t d[RTT_NH];

	(void)state;
	rtt_durations(ST_RTT_TX, t, d);
	assert_int_equal(d[1], UINT64_MAX);
	assert_int_equal(d[0], 2000);
}

static void test_flow_sort_hops(void **state)
{
	static struct flow_pkt p;
	const uint64_t ts[] = { 300, 100, 200, 200, 50 };
	const uint8_t st[] = { ST_FS_RX, ST_FS_QUEUE, ST_FS_XMIT, ST_FS_DROP, ST_FS_FREE };

	(void)state;
	p.n = 5;
	for (int i = 0; i < 5; i++) {
		p.hops[i].ts = ts[i];
		p.hops[i].stage = st[i];
	}
	flow_sort_hops(&p);
	assert_int_equal(p.hops[0].stage, ST_FS_FREE);
	assert_int_equal(p.hops[1].stage, ST_FS_QUEUE);
	/* Equal stamps keep their arrival order. */
	assert_int_equal(p.hops[2].stage, ST_FS_XMIT);
	assert_int_equal(p.hops[3].stage, ST_FS_DROP);
	assert_int_equal(p.hops[4].stage, ST_FS_RX);
	for (int i = 1; i < 5; i++)
		assert_true(p.hops[i].ts >= p.hops[i - 1].ts);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tx_durations),
		cmocka_unit_test(test_tx_without_free),
		cmocka_unit_test(test_tx_without_xmit),
		cmocka_unit_test(test_rx_durations),
		cmocka_unit_test(test_backwards_is_unknown),
		cmocka_unit_test(test_flow_sort_hops),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
