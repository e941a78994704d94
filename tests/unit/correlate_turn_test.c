// SPDX-License-Identifier: MIT
/*
 * Unit tests for the collector's request/reply turnaround
 * (collector/correlate.c): a UDP or ICMP request and its reply seen on two
 * hypervisors give the time the receiving VM took to answer, replies are
 * matched to requests in FIFO order, and a host that samples only some
 * packets stops UDP turnarounds rather than pairing the wrong packets.
 *
 * The collector runs in-process on an in-memory SQLite store and is fed
 * hand-made batches from two hypervisors (the fixture is
 * correlate_fixture.h, shared with correlate_test.c).
 */
#include "unit_stubs.h"
#include "correlate_fixture.h"

/* One UDP request vma -> vmb and the reply, turn_ns after delivery. */
static void udp_exchange(struct st_collector *c, unsigned ipid, int64_t t, int64_t turn_ns)
{
	struct st_pkt_key req = udp_key(A_IP, B_IP, A_PORT, B_PORT, ipid);
	struct st_pkt_key rep = udp_key(B_IP, A_IP, B_PORT, A_PORT, ipid + 1);
	int64_t delivered = t + 90 * US, t_rep = delivered + turn_ns;
	struct path_spec h1 = send_half(req, "vma", t);
	struct path_spec h2[2] = { recv_half(req, "vmb", t), send_half(rep, "vmb", t_rep) };
	struct path_spec h1r = recv_half(rep, "vma", t_rep);

	feed(c, &hv1, &h1, 1);
	feed(c, &hv2, h2, 2);
	feed(c, &hv1, &h1r, 1);
	/* Once a pair has one-way samples both ways, complete packets wait
	 * for its data-plane clock estimate (a few seconds of traffic, which
	 * these tests do not make): finalise them now. */
	c_correlate_expire(c, 1);
}

static void test_turnaround_udp(void **state)
{
	struct st_collector *c = *state;
	struct cell ta;

	udp_exchange(c, 0x1000, T0, 2 * MS);
	assert_int_equal(c->c.turnarounds, 1);
	assert_int_equal(c->c.matched, 2);
	/* The client's next request, 10 ms later, comes after the reply it
	 * got: that is the client thinking, not a VM answering. */
	udp_exchange(c, 0x1010, T0 + 10 * MS, 3 * MS);
	assert_int_equal(c->c.turnarounds, 2);
	assert_int_equal(c->c.matched, 4);
	assert_int_equal(c_flush(c), 0);

	ta = hist_cell(c, "vma", "vmb", "vm_turnaround");
	assert_true(ta.found);
	assert_int_equal(ta.count, 2);
	assert_true(ta.h.min == (uint64_t)(2 * MS));
	assert_true(ta.h.max == (uint64_t)(3 * MS));
	assert_int_equal(ta.ord, 1000);
	assert_int_equal(ta.minute, MINUTE0);
	/* Nothing on the reverse cell: vma never answered anything. */
	assert_false(hist_cell(c, "vmb", "vma", "vm_turnaround").found);
	/* Both directions are ordinary matched paths. */
	assert_int_equal(pair_row(c, "vma", "vmb").matched, 2);
	assert_int_equal(pair_row(c, "vmb", "vma").matched, 2);
	{
		struct cell w = hist_cell(c, "vmb", "vma", "wire");

		assert_int_equal(w.count, 2);
		assert_true(w.h.min == (uint64_t)(50 * US) && w.h.max == (uint64_t)(50 * US));
	}
}

static void test_turnaround_fifo(void **state)
{
	struct st_collector *c = *state;
	struct st_pkt_key q[3], a[3];
	struct path_spec h1[3], h2[6], h1r[3];
	struct cell ta;

	/* Three pipelined requests on one flow, answered in order after 1, 2
	 * and 4 ms: the replies pair with the requests first in, first out. */
	for (int i = 0; i < 3; i++) {
		int64_t t = T0 + i * 100 * US;
		int64_t t_rep = t + 90 * US + (1LL << i) * MS;

		q[i] = udp_key(A_IP, B_IP, A_PORT, B_PORT, 0x2000 + (unsigned)i);
		a[i] = udp_key(B_IP, A_IP, B_PORT, A_PORT, 0x3000 + (unsigned)i);
		h1[i] = send_half(q[i], "vma", t);
		h2[i] = recv_half(q[i], "vmb", t);
		h2[3 + i] = send_half(a[i], "vmb", t_rep);
		h1r[i] = recv_half(a[i], "vma", t_rep);
	}
	feed(c, &hv1, h1, 3);
	feed(c, &hv2, h2, 6);
	feed(c, &hv1, h1r, 3);
	assert_int_equal(c->c.turnarounds, 3);
	assert_int_equal(c_flush(c), 0);
	ta = hist_cell(c, "vma", "vmb", "vm_turnaround");
	assert_int_equal(ta.count, 3);
	assert_true(ta.h.min == (uint64_t)(1 * MS));
	assert_true(ta.h.max == (uint64_t)(4 * MS));
	assert_true(ta.h.sum == (uint64_t)(7 * MS));
}

static void test_turnaround_icmp(void **state)
{
	struct st_collector *c = *state;
	struct st_pkt_key q1 = icmp_key(A_IP, B_IP, 8, 0x77, 1);
	struct st_pkt_key q2 = icmp_key(A_IP, B_IP, 8, 0x77, 2);
	struct st_pkt_key a1 = icmp_key(B_IP, A_IP, 0, 0x77, 1);
	struct st_pkt_key a2 = icmp_key(B_IP, A_IP, 0, 0x77, 2);
	int64_t t1 = T0, t2 = T0 + 1 * MS;
	/* Delivered at t + 90 us; seq 2 is answered first (after 0.3 ms),
	 * seq 1 last (after 5 ms). FIFO pairing would give 1.3 and 4 ms. */
	int64_t r2 = t2 + 90 * US + 300 * US, r1 = t1 + 90 * US + 5 * MS;
	struct path_spec h1[2] = { send_half(q1, "vma", t1), send_half(q2, "vma", t2) };
	struct path_spec h2[4] = { recv_half(q1, "vmb", t1), recv_half(q2, "vmb", t2),
				   send_half(a2, "vmb", r2), send_half(a1, "vmb", r1) };
	struct path_spec h1r[2] = { recv_half(a2, "vma", r2), recv_half(a1, "vma", r1) };
	struct cell ta;

	feed(c, &hv1, h1, 2);
	feed(c, &hv2, h2, 4);
	feed(c, &hv1, h1r, 2);
	c_correlate_expire(c, 1);	/* see udp_exchange */
	assert_int_equal(c->c.matched, 4);
	assert_int_equal(c->c.turnarounds, 2);
	assert_int_equal(c_flush(c), 0);
	ta = hist_cell(c, "vma", "vmb", "vm_turnaround");
	assert_int_equal(ta.count, 2);
	assert_true(ta.h.min == (uint64_t)(300 * US));
	assert_true(ta.h.max == (uint64_t)(5 * MS));
	assert_false(hist_cell(c, "vmb", "vma", "vm_turnaround").found);
}

static void test_turnaround_sampling_host(void **state)
{
	struct st_collector *c = *state;
	struct st_pkt_key q = icmp_key(A_IP, B_IP, 8, 0x99, 7);
	struct st_pkt_key a = icmp_key(B_IP, A_IP, 0, 0x99, 7);
	int64_t tr = T0 + 20 * MS + 90 * US + 700 * US;
	struct path_spec h1 = send_half(q, "vma", T0 + 20 * MS);
	struct path_spec h2[2] = { recv_half(q, "vmb", T0 + 20 * MS), send_half(a, "vmb", tr) };
	struct path_spec h1r = recv_half(a, "vma", tr);
	struct cell ta;

	/* hv2 traces one packet in two: FIFO pairing of UDP replies with
	 * requests would pair a reply with some other, unsampled request. */
	hv2.sample_k = 1;
	hv2.sample_n = 2;
	udp_exchange(c, 0x1100, T0, 2 * MS);
	assert_int_equal(c->c.matched, 2);
	assert_int_equal(c->c.turnarounds, 0);
	/* ICMP echo and reply are sampled together and paired by id and
	 * sequence, so their turnaround still counts. */
	feed(c, &hv1, &h1, 1);
	feed(c, &hv2, h2, 2);
	feed(c, &hv1, &h1r, 1);
	assert_int_equal(c->c.turnarounds, 1);
	assert_int_equal(c_flush(c), 0);
	ta = hist_cell(c, "vma", "vmb", "vm_turnaround");
	assert_int_equal(ta.count, 1);
	assert_true(ta.h.min == (uint64_t)(700 * US));

	/* An agent that reports no sampling configuration (sample_n 0) is
	 * not taken to trace everything either. */
	hv2.sample_k = hv2.sample_n = 0;
	udp_exchange(c, 0x1200, T0 + 30 * MS, 2 * MS);
	assert_int_equal(c->c.turnarounds, 1);
	/* Tracing everything again: UDP turnarounds resume. */
	hv2.sample_k = hv2.sample_n = 16;
	udp_exchange(c, 0x1300, T0 + 40 * MS, 2 * MS);
	assert_int_equal(c->c.turnarounds, 2);
}


int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_turnaround_udp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_turnaround_fifo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_turnaround_icmp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_turnaround_sampling_host, setup, teardown),
	};

	st_log_init("correlate_turn_test", ST_LOG_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
