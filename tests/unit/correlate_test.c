// SPDX-License-Identifier: MIT
/*
 * Unit tests for the collector's correlation and aggregation
 * (collector/correlate.c, aggregate.c, store.c), driven in-process:
 * matching the two halves of a path whatever the arrival order, stage
 * order and clamping, lost and unmatched halves, window expiry, extra
 * parts, local paths, OVS upcalls and drops.
 *
 * Each test builds a collector the way collector/main.c does, with an
 * in-memory SQLite store, and feeds it hand-made batches from two
 * hypervisors, "hv1" and "hv2" (the fixture is correlate_fixture.h).
 * Results are read back from the store's hist and pair tables after
 * c_flush. The request/reply turnaround tests are in
 * correlate_turn_test.c, the inbox durability tests in
 * correlate_inbox_test.c.
 */
#include "unit_stubs.h"
#include "correlate_fixture.h"

/* ---- tests ------------------------------------------------------------------ */

static void matched_in_order(struct st_collector *c, int hv2_first)
{
	struct st_pkt_key k = udp_key(A_IP, B_IP, A_PORT, B_PORT, 0x100);
	struct path_spec s = send_half(k, "vma", T0), r = recv_half(k, "vmb", T0);

	if (hv2_first) {
		feed(c, &hv2, &r, 1);
		assert_int_equal(c->pending.len, 1);
		feed(c, &hv1, &s, 1);
	} else {
		feed(c, &hv1, &s, 1);
		assert_int_equal(c->pending.len, 1);
		assert_int_equal(c->c.matched, 0);
		feed(c, &hv2, &r, 1);
	}
	/* Both halves seen: finalised at once, no window needed. */
	assert_int_equal(c->pending.len, 0);
	assert_int_equal(c->c.matched, 1);
	assert_int_equal(c->c.local + c->c.lost + c->c.unmatched_rx + c->c.incomplete, 0);
	assert_int_equal(c->c.negative_segments, 0);
	assert_int_equal(c->c.paths, 2);
	assert_int_equal(c->c.batches, 2);
	assert_int_equal(c_flush(c), 0);
	check_matched_path(c, "vma", "vmb", 1);
	/* Hosts learned their clocks from the batches. */
	assert_int_equal(c->n_hosts, 2);
	assert_true(c->hosts[c_host_get(c, "hv1")].mono_to_real == hv1.off);
	assert_true(c->hosts[c_host_get(c, "hv2")].mono_to_real == hv2.off);
}

static void test_matched_two_halves(void **state)
{
	matched_in_order(*state, 0);
}

static void test_arrival_order_irrelevant(void **state)
{
	matched_in_order(*state, 1);
}

static void test_driver_returns_not_stages(void **state)
{
	struct st_collector *c = *state;
	struct st_pkt_key k = udp_key(A_IP, B_IP, A_PORT, B_PORT, 0x180);
	struct path_spec s = send_half(k, "vma", T0), r = recv_half(k, "vmb", T0);

	/* Stamps that older agents sent and stored paths keep: the driver's
	 * return (net_dev_xmit), late on a veth wire where the receiver has
	 * the packet before the sender's driver call returns, and frees. None
	 * of them may become an interval; charging them would make the wire
	 * negative. */
	add_stamp(&s, ST_HOOK_NET_DEV_XMIT, ST_ROLE_UPLINK, T0 + 60 * US);
	add_stamp(&s, ST_HOOK_CONSUME_SKB, ST_ROLE_UPLINK, T0 + 62 * US);
	/* Keep the receiver's stamps in time order around the extra ones. */
	r.st[4] = (struct stamp_spec){ ST_HOOK_NET_DEV_XMIT, ST_ROLE_VM, T0 + 72 * US };
	add_stamp(&r, ST_HOOK_SKB_COPY_DATAGRAM, ST_ROLE_VM, T0 + 90 * US);
	add_stamp(&r, ST_HOOK_CONSUME_SKB, ST_ROLE_VM, T0 + 95 * US);
	feed(c, &hv1, &s, 1);
	feed(c, &hv2, &r, 1);
	assert_int_equal(c->c.matched, 1);
	assert_int_equal(c->c.negative_segments, 0);
	assert_int_equal(c_flush(c), 0);
	check_matched_path(c, "vma", "vmb", 1);
	assert_false(hist_cell(c, "vma", "vmb", "free").found);
}

static void test_negative_segment_clamped(void **state)
{
	struct st_collector *c = *state;
	struct st_pkt_key k = udp_key(A_IP, B_IP, A_PORT, B_PORT, 0x190);
	struct path_spec s = send_half(k, "vma", T0), r = recv_half(k, "vmb", T0);
	struct cell w, rcv, tot;

	/* hv2's clock runs 55 us behind hv1's: its receive (57 us after hv1's
	 * first stamp) appears to precede hv1's transmit (7 us) by 5 us. The
	 * wire interval is clamped to 0 and counted; the other stages, each
	 * on one host, are exact. */
	for (int i = 0; i < r.n; i++)
		r.st[i].t -= 55 * US;
	feed(c, &hv1, &s, 1);
	feed(c, &hv2, &r, 1);
	assert_int_equal(c->c.matched, 1);
	assert_int_equal(c->c.negative_segments, 1);
	assert_int_equal(c_flush(c), 0);
	w = hist_cell(c, "vma", "vmb", "wire");
	assert_single(&w, "wire", 0);
	rcv = hist_cell(c, "vma", "vmb", "nic_rcv");
	assert_single(&rcv, "nic_rcv", 4 * US);
	tot = hist_cell(c, "vma", "vmb", "total");
	assert_single(&tot, "total", 35 * US);
}

/*
 * A receiving host whose clock lags by more than the time from the
 * sender's first stamp to the receiver's (57 us here) must not reverse the
 * path: the part that left its host comes first whatever the clocks say,
 * so the packet is matched and the clock error shows as a clamped,
 * counted negative wire interval. (Ordering parts by time alone counted
 * such packets as incomplete.)
 */
static void test_skew_does_not_reorder_parts(void **state)
{
	struct st_collector *c = *state;
	struct st_pkt_key k = udp_key(A_IP, B_IP, A_PORT, B_PORT, 0x191);
	struct path_spec s = send_half(k, "vma", T0), r = recv_half(k, "vmb", T0);

	for (int i = 0; i < r.n; i++)
		r.st[i].t -= 100 * US;
	feed(c, &hv1, &s, 1);
	feed(c, &hv2, &r, 1);
	assert_int_equal(c->c.incomplete, 0);
	assert_int_equal(c->c.matched, 1);
	/* Only the wire crosses the clocks; it is the one negative interval. */
	assert_int_equal(c->c.negative_segments, 1);
	assert_int_equal(c_flush(c), 0);
	assert_int_equal(pair_row(c, "vma", "vmb").matched, 1);
	{
		struct cell w = hist_cell(c, "vma", "vmb", "wire");
		struct cell rcv = hist_cell(c, "vma", "vmb", "nic_rcv");
		struct cell tx = hist_cell(c, "vma", "vmb", "nic_tx");

		assert_single(&w, "wire", 0);
		assert_single(&rcv, "nic_rcv", 4 * US);
		assert_single(&tx, "nic_tx", 2 * US);
		assert_int_equal(w.ord, 4);
	}
}

static void test_stage_order_is_largest_position(void **state)
{
	struct st_collector *c = *state;
	struct path_spec s[3], r[3];

	/* Paths of two shapes: the second passes one more bridge stage
	 * (br_queue) on hv1, so every later stage sits one position further.
	 * A stage's order is the largest position it was seen at, both
	 * within one flush and across flushes. */
	for (int i = 0; i < 3; i++) {
		struct st_pkt_key k = udp_key(A_IP, B_IP, A_PORT, B_PORT, 0x1a0 + (unsigned)i);

		s[i] = send_half(k, "vma", T0 + i * MS);
		r[i] = recv_half(k, "vmb", T0 + i * MS);
	}
	s[1].st[4] = s[1].st[3];
	s[1].st[3] = s[1].st[2];
	s[1].st[2] = (struct stamp_spec){ ST_HOOK_NET_DEV_QUEUE, ST_ROLE_BRIDGE, T0 + MS + 4 * US };
	s[1].n = 5;
	feed(c, &hv1, s, 2);
	feed(c, &hv2, r, 2);
	assert_int_equal(c->c.matched, 2);
	assert_int_equal(c_flush(c), 0);
	assert_int_equal(hist_cell(c, "vma", "vmb", "br_rcv").ord, 1);
	assert_int_equal(hist_cell(c, "vma", "vmb", "br_queue").ord, 2);
	assert_int_equal(hist_cell(c, "vma", "vmb", "nic_tx").ord, 4);
	assert_int_equal(hist_cell(c, "vma", "vmb", "wire").ord, 5);
	assert_int_equal(hist_cell(c, "vma", "vmb", "vm_rx").ord, 9);
	/* The short shape alone in a later flush does not lower them. */
	feed(c, &hv1, &s[2], 1);
	feed(c, &hv2, &r[2], 1);
	assert_int_equal(c_flush(c), 0);
	assert_int_equal(hist_cell(c, "vma", "vmb", "wire").ord, 5);
	assert_int_equal(hist_cell(c, "vma", "vmb", "wire").count, 3);
	/* And the extra stage's interval is its own. */
	{
		struct cell q = hist_cell(c, "vma", "vmb", "nic_queue");

		assert_int_equal(q.count, 3);
		assert_true(q.h.min == (uint64_t)(1 * US));	/* 4 us -> 5 us */
		assert_true(q.h.max == (uint64_t)(3 * US));
	}
}

static void test_many_paths_accumulate(void **state)
{
	struct st_collector *c = *state;
	struct path_spec s[40], r[40];

	/* Forty packets, each 1 us slower on the wire than the one before,
	 * arriving in one batch per host. */
	for (int i = 0; i < 40; i++) {
		struct st_pkt_key k = udp_key(A_IP, B_IP, A_PORT, B_PORT, 0x200 + (unsigned)i);
		int64_t t = T0 + i * MS;

		s[i] = send_half(k, "vma", t);
		r[i] = recv_half(k, "vmb", t + i * US);
	}
	feed(c, &hv2, r, 40);
	feed(c, &hv1, s, 40);
	assert_int_equal(c->c.matched, 40);
	assert_int_equal(c_flush(c), 0);
	{
		struct cell w = hist_cell(c, "vma", "vmb", "wire");
		struct cell tx = hist_cell(c, "vma", "vmb", "nic_tx");

		assert_true(w.found);
		assert_int_equal(w.count, 40);
		assert_true(w.h.min == (uint64_t)(50 * US));
		assert_true(w.h.max == (uint64_t)(89 * US));
		assert_true(w.h.sum == (uint64_t)(40 * 50 * US + 780 * US));
		assert_int_equal(tx.count, 40);
		assert_true(tx.h.min == tx.h.max);
		assert_int_equal(pair_row(c, "vma", "vmb").matched, 40);
	}
	/* A second flush with nothing new changes nothing; more data merges
	 * into the stored rows. */
	assert_int_equal(c_flush(c), 0);
	{
		struct st_pkt_key k = udp_key(A_IP, B_IP, A_PORT, B_PORT, 0x300);
		struct path_spec s1 = send_half(k, "vma", T0 + 45 * SEC);
		struct path_spec r1 = recv_half(k, "vmb", T0 + 45 * SEC);

		feed(c, &hv1, &s1, 1);
		feed(c, &hv2, &r1, 1);
		assert_int_equal(c_flush(c), 0);
		assert_int_equal(hist_cell(c, "vma", "vmb", "wire").count, 41);
		assert_int_equal(pair_row(c, "vma", "vmb").matched, 41);
	}
}

static void test_lost_half(void **state)
{
	struct st_collector *c = *state;
	struct st_pkt_key k = udp_key(A_IP, B_IP, A_PORT, B_PORT, 0x400);
	struct path_spec s = send_half(k, "vma", T0);
	struct pair_row pr;

	feed(c, &hv1, &s, 1);
	/* Inside its window the half waits. */
	c_correlate_expire(c, 0);
	assert_int_equal(c->pending.len, 1);
	assert_int_equal(c->c.lost, 0);
	c_correlate_expire(c, 1);
	assert_int_equal(c->pending.len, 0);
	assert_int_equal(c->c.lost, 1);
	assert_int_equal(c->c.matched, 0);
	assert_int_equal(c_flush(c), 0);
	/* No VM name is known for 10.0.0.2: the address stands in. */
	pr = pair_row(c, "vma", "10.0.0.2");
	assert_true(pr.found);
	assert_int_equal(pr.minute, MINUTE0);
	assert_int_equal(pr.lost, 1);
	assert_int_equal(pr.matched, 0);
	assert_int_equal(pr.unmatched, 0);
	/* A lost packet contributes no latency. */
	assert_int_equal(sql_int(c, "SELECT COUNT(*) FROM hist"), 0);
	/* Its other half, arriving after the verdict, is a new packet. */
	{
		struct path_spec r = recv_half(k, "vmb", T0);

		feed(c, &hv2, &r, 1);
		assert_int_equal(c->pending.len, 1);
		assert_int_equal(c->c.matched, 0);
	}
}

static void test_window_expiry(void **state)
{
	struct st_collector *c = *state;
	struct st_pkt_key k = udp_key(A_IP, B_IP, A_PORT, B_PORT, 0x401);
	struct path_spec s = send_half(k, "vma", T0);
	struct timespec ts = { 0, 30 * 1000000 };

	/* The window is collector time since the first part arrived. */
	c->cfg.window_ms = 10;
	feed(c, &hv1, &s, 1);
	c_correlate_expire(c, 0);
	assert_int_equal(c->c.lost, 0);
	nanosleep(&ts, NULL);
	c_correlate_expire(c, 0);
	assert_int_equal(c->pending.len, 0);
	assert_int_equal(c->c.lost, 1);
}

static void test_unmatched_rx(void **state)
{
	struct st_collector *c = *state;
	struct st_pkt_key k = udp_key(A_IP, B_IP, A_PORT, B_PORT, 0x500);
	struct path_spec r = recv_half(k, "vmb", T0);
	struct pair_row pr;

	feed(c, &hv2, &r, 1);
	assert_int_equal(c->pending.len, 1);
	c_correlate_expire(c, 1);
	assert_int_equal(c->c.unmatched_rx, 1);
	assert_int_equal(c->c.lost + c->c.matched + c->c.local + c->c.incomplete, 0);
	assert_int_equal(c_flush(c), 0);
	pr = pair_row(c, "10.0.0.1", "vmb");
	assert_true(pr.found);
	assert_int_equal(pr.unmatched, 1);
	assert_int_equal(pr.lost + pr.matched + pr.dropped, 0);
	assert_int_equal(sql_int(c, "SELECT COUNT(*) FROM hist"), 0);
}

static void test_extra_parts(void **state)
{
	struct st_collector *c = *state;
	struct st_pkt_key k = udp_key(A_IP, B_IP, A_PORT, B_PORT, 0x600);
	struct path_spec s[2] = { send_half(k, "vma", T0), send_half(k, "vma", T0 + 100 * US) };
	struct path_spec r = recv_half(k, "vmb", T0);

	/* Same id twice from hv1 (a retransmission with the same IP id, or a
	 * collision): counted, and the first part stands. */
	feed(c, &hv1, s, 2);
	assert_int_equal(c->c.extra_parts, 1);
	assert_int_equal(c->pending.len, 1);
	/* And again in a later batch. */
	feed(c, &hv1, &s[1], 1);
	assert_int_equal(c->c.extra_parts, 2);
	feed(c, &hv2, &r, 1);
	assert_int_equal(c->c.matched, 1);
	assert_int_equal(c_flush(c), 0);
	check_matched_path(c, "vma", "vmb", 1);
}

static void test_local_path(void **state)
{
	struct st_collector *c = *state;
	struct st_pkt_key k = udp_key(A_IP, C_IP, A_PORT, B_PORT, 0x700);
	struct path_spec p = {
		.key = k, .end = ST_END_DELIVERED, .vm_in = "vma", .vm_out = "vmc", .n = 6,
		.st = {
			{ ST_HOOK_NETIF_RX, ST_ROLE_VM, T0 },
			{ ST_HOOK_NETIF_RECEIVE_SKB, ST_ROLE_BRIDGE, T0 + 3 * US },
			{ ST_HOOK_NET_DEV_QUEUE, ST_ROLE_VM, T0 + 8 * US },
			{ ST_HOOK_NET_DEV_START_XMIT, ST_ROLE_VM, T0 + 9 * US },
			{ ST_HOOK_NET_DEV_XMIT, ST_ROLE_VM, T0 + 10 * US },
			{ ST_HOOK_SKB_COPY_DATAGRAM, ST_ROLE_VM, T0 + 25 * US },
		},
	};
	struct pair_row pr;

	/* VM to VM on one host: one part that entered from a VM and was
	 * delivered to one is complete by itself. */
	feed(c, &hv1, &p, 1);
	assert_int_equal(c->pending.len, 0);
	assert_int_equal(c->c.local, 1);
	assert_int_equal(c->c.matched, 0);
	assert_int_equal(c_flush(c), 0);
	pr = pair_row(c, "vma", "vmc");
	assert_int_equal(pr.matched, 1);
	{
		struct cell br = hist_cell(c, "vma", "vmc", "br_rcv");
		struct cell q = hist_cell(c, "vma", "vmc", "tap_queue");
		struct cell tx = hist_cell(c, "vma", "vmc", "tap_tx");
		struct cell rx = hist_cell(c, "vma", "vmc", "vm_rx");
		struct cell tot = hist_cell(c, "vma", "vmc", "total");

		assert_single(&br, "br_rcv", 3 * US);
		assert_single(&q, "tap_queue", 5 * US);
		assert_single(&tx, "tap_tx", 1 * US);
		assert_single(&rx, "vm_rx", 16 * US);
		assert_single(&tot, "total", 25 * US);
	}
	/* No host boundary was crossed. */
	assert_false(hist_cell(c, "vma", "vmc", "wire").found);
}

/*
 * OVS on one host: a miss (ovs_in, ovs_upcall, ovs_exec re-injected 3 ms
 * later, ovs_out) and a hit (ovs_in, ovs_exec). The interval after the
 * upcall is charged to "upcall@hv1", the hit's to "ovs_exec"; the upcall
 * query counts one upcall and one hit for the pair and for host hv1.
 */
static void test_ovs_upcall_named_apart(void **state)
{
	struct st_collector *c = *state;
	struct path_spec p[2] = {
		{ .key = udp_key(A_IP, C_IP, A_PORT, B_PORT, 0x701), .end = ST_END_DELIVERED,
		  .vm_in = "vma", .vm_out = "vmc", .n = 6, .st = {
			{ ST_HOOK_NETIF_RX, ST_ROLE_VM, T0 },
			{ ST_HOOK_OVS_IN, ST_ROLE_VM, T0 + 2 * US },
			{ ST_HOOK_OVS_UPCALL, ST_ROLE_VM, T0 + 5 * US },
			{ ST_HOOK_OVS_EXEC, ST_ROLE_VM, T0 + 5 * US + 3 * MS },
			{ ST_HOOK_OVS_OUT, ST_ROLE_VM, T0 + 8 * US + 3 * MS },
			{ ST_HOOK_SKB_COPY_DATAGRAM, ST_ROLE_VM, T0 + 20 * US + 3 * MS } } },
		{ .key = udp_key(A_IP, C_IP, A_PORT, B_PORT, 0x702), .end = ST_END_DELIVERED,
		  .vm_in = "vma", .vm_out = "vmc", .n = 5, .st = {
			{ ST_HOOK_NETIF_RX, ST_ROLE_VM, T0 + 10 * MS },
			{ ST_HOOK_OVS_IN, ST_ROLE_VM, T0 + 10 * MS + 2 * US },
			{ ST_HOOK_OVS_EXEC, ST_ROLE_VM, T0 + 10 * MS + 6 * US },
			{ ST_HOOK_OVS_OUT, ST_ROLE_VM, T0 + 10 * MS + 9 * US },
			{ ST_HOOK_SKB_COPY_DATAGRAM, ST_ROLE_VM, T0 + 10 * MS + 20 * US } } },
	};
	json_object *q, *ans, *pairs, *hosts, *o;
	int status;

	feed(c, &hv1, p, 2);
	assert_int_equal(c_flush(c), 0);
	assert_single_ns(c, "upcall@hv1", 3 * MS);
	assert_single_ns(c, "ovs_exec", 4 * US);
	assert_single_ns(c, "ovs_upcall", 3 * US);

	q = json_tokener_parse("{\"query\":\"upcall\"}");
	ans = c_query_run(c, q, -1, &status);
	assert_int_equal(status, 200);
	assert_true(json_object_object_get_ex(ans, "pairs", &pairs));
	assert_int_equal(json_object_array_length(pairs), 1);
	o = json_object_array_get_idx(pairs, 0);
	assert_string_equal(json_object_get_string(json_object_object_get(o, "src")), "vma");
	assert_int_equal(json_object_get_int(json_object_object_get(o, "upcalls")), 1);
	assert_int_equal(json_object_get_int(json_object_object_get(o, "hits")), 1);
	assert_true(json_object_get_double(json_object_object_get(o, "miss_ratio")) == 0.5);
	assert_true(json_object_object_get_ex(ans, "hosts", &hosts));
	o = json_object_array_get_idx(hosts, 0);
	assert_string_equal(json_object_get_string(json_object_object_get(o, "host")), "hv1");
	assert_int_equal(json_object_get_int(json_object_object_get(o, "upcalls")), 1);
	/* 3 ms within the histogram's sub-bucket precision (< 1 %). */
	assert_true(fabs(json_object_get_double(json_object_object_get(
		json_object_object_get(o, "latency"), "p50_us")) - 3000) < 30);
	json_object_put(ans);

	/* Tenants: red holds both ends and sees the pair but no host table
	 * (hypervisor names are the operator's); blue sees nothing. */
	{
		const char *tv[] = { "red=vma,vmc", "blue=vmx" };
		struct st_strlist tl = { tv, 2 }, none = { NULL, 0 };

		assert_int_equal(c_tenants_parse(&c->tenants, &tl, &none, NULL, &none), 0);
		ans = c_query_run(c, q, c_tenant_find(&c->tenants, "red"), &status);
		assert_int_equal(status, 200);
		assert_true(json_object_object_get_ex(ans, "pairs", &pairs));
		assert_int_equal(json_object_array_length(pairs), 1);
		o = json_object_array_get_idx(pairs, 0);
		assert_string_equal(json_object_get_string(json_object_object_get(o, "tenant")), "red");
		assert_false(json_object_object_get_ex(ans, "hosts", &hosts));
		json_object_put(ans);
		ans = c_query_run(c, q, c_tenant_find(&c->tenants, "blue"), &status);
		assert_true(json_object_object_get_ex(ans, "pairs", &pairs));
		assert_int_equal(json_object_array_length(pairs), 0);
		json_object_put(ans);
		c_tenants_free(&c->tenants);
		memset(&c->tenants, 0, sizeof(c->tenants));
	}
	json_object_put(q);
}

static void test_dropped(void **state)
{
	struct st_collector *c = *state;
	struct st_pkt_key k = udp_key(A_IP, B_IP, A_PORT, B_PORT, 0x800);
	struct path_spec s = send_half(k, "vma", T0);
	struct path_spec d = {
		.key = k, .end = ST_END_DROPPED, .n = 2,
		.st = {
			{ ST_HOOK_NAPI_GRO_RX, ST_ROLE_UPLINK, T0 + 57 * US },
			{ ST_HOOK_KFREE_SKB, ST_ROLE_UPLINK, T0 + 58 * US },
		},
	};

	feed(c, &hv1, &s, 1);
	feed(c, &hv2, &d, 1);
	assert_int_equal(c->c.dropped, 1);
	assert_int_equal(c->pending.len, 0);
	assert_int_equal(c_flush(c), 0);
	assert_int_equal(pair_row(c, "vma", "10.0.0.2").dropped, 1);
	assert_int_equal(sql_int(c, "SELECT COUNT(*) FROM hist"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_matched_two_halves, setup, teardown),
		cmocka_unit_test_setup_teardown(test_arrival_order_irrelevant, setup, teardown),
		cmocka_unit_test_setup_teardown(test_driver_returns_not_stages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_negative_segment_clamped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_skew_does_not_reorder_parts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stage_order_is_largest_position, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_paths_accumulate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lost_half, setup, teardown),
		cmocka_unit_test_setup_teardown(test_window_expiry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unmatched_rx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_extra_parts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_local_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ovs_upcall_named_apart, setup, teardown),
	};

	st_log_init("correlate_test", ST_LOG_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
