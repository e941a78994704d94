// SPDX-License-Identifier: MIT
/*
 * Unit tests for agents inside VMs (collector/guests.c): with agents on
 * both hypervisors and one inside the receiving VM, a packet has three
 * parts; the hypervisors' two make it complete, so once the collector
 * knows vmb runs an agent it must wait for vmb's own part, and still
 * finalise the packet by its window when that part never comes.
 *
 * The collector runs in-process on an in-memory SQLite store and is fed
 * hand-made batches (correlate_fixture.h); the guest's agent is a third
 * host whose path starts at the guest's virtio-net interrupt.
 */
#include "unit_stubs.h"
#include "correlate_fixture.h"

/* vmb's own agent, booted at yet another time. */
static struct host gb = { "vmb-guest", 0x3333, T0 - 700 * SEC - 4242, 0, 1, 1 };

/* vmb's part: its virtio-net interrupt 10 us after hv2's tap handed the
 * packet over (t + 90 us), NAPI, the stack, the socket read. */
static struct path_spec guest_rx(struct st_pkt_key key, int64_t t)
{
	struct path_spec p = {
		.key = key, .end = ST_END_DELIVERED, .n = 4,
		.st = {
			{ ST_HOOK_VIRTIO_IRQ, ST_ROLE_UPLINK, t + 100 * US },
			{ ST_HOOK_VIRTIO_POLL, ST_ROLE_UPLINK, t + 104 * US },
			{ ST_HOOK_NETIF_RECEIVE_SKB, ST_ROLE_UPLINK, t + 110 * US },
			{ ST_HOOK_SKB_COPY_DATAGRAM, ST_ROLE_OTHER, t + 130 * US },
		},
	};

	return p;
}

static void test_guest_part_joins(void **state)
{
	struct st_collector *c = *state;
	struct st_pkt_key k1 = udp_key(A_IP, B_IP, A_PORT, B_PORT, 0x901);
	struct st_pkt_key k2 = udp_key(A_IP, B_IP, A_PORT, B_PORT, 0x902);
	struct path_spec s1 = send_half(k1, "vma", T0), r1 = recv_half(k1, "vmb", T0);
	struct path_spec g1 = guest_rx(k1, T0);
	struct path_spec s2 = send_half(k2, "vma", T0 + SEC), r2 = recv_half(k2, "vmb", T0 + SEC);
	struct path_spec g2 = guest_rx(k2, T0 + SEC);

	/* Before the collector has seen vmb's agent, the hypervisors' parts
	 * finalise the first packet and vmb's part is left over. */
	feed(c, &hv1, &s1, 1);
	feed(c, &hv2, &r1, 1);
	assert_int_equal(c->c.matched, 1);
	feed(c, &gb, &g1, 1);
	assert_int_equal(c->pending.len, 1);
	assert_int_equal(c->c.guest_waits, 0);

	/* Now it knows: the second packet waits for vmb's part... */
	feed(c, &hv1, &s2, 1);
	feed(c, &hv2, &r2, 1);
	assert_int_equal(c->c.matched, 1);
	assert_int_equal(c->c.guest_waits, 1);
	assert_int_equal(c->pending.len, 2);
	/* ...and is finalised with it, three parts in one path. */
	feed(c, &gb, &g2, 1);
	assert_int_equal(c->c.matched, 2);
	assert_int_equal(c->pending.len, 1);
	c_correlate_expire(c, 1);
	assert_int_equal(c->c.unmatched_rx, 1);	/* the first packet's guest part */
	assert_int_equal(c->c.lost + c->c.incomplete, 0);
	assert_int_equal(c->c.guest_addrs_full, 0);
}

static void test_guest_part_never_comes(void **state)
{
	struct st_collector *c = *state;
	struct st_pkt_key k1 = udp_key(A_IP, B_IP, A_PORT, B_PORT, 0x911);
	struct st_pkt_key k2 = udp_key(A_IP, B_IP, A_PORT, B_PORT, 0x912);
	struct path_spec g1 = guest_rx(k1, T0);
	struct path_spec s2 = send_half(k2, "vma", T0 + SEC), r2 = recv_half(k2, "vmb", T0 + SEC);
	struct timespec ts = { 0, 30 * 1000000 };
	struct pair_row pr;

	/* vmb's agent seen once; then a packet whose guest part is lost (the
	 * guest agent sampled it out, or stopped). */
	feed(c, &gb, &g1, 1);
	c->cfg.window_ms = 10;
	feed(c, &hv1, &s2, 1);
	feed(c, &hv2, &r2, 1);
	assert_int_equal(c->c.guest_waits, 1);
	c_correlate_expire(c, 0);
	assert_int_equal(c->c.matched, 0);
	/* The window passes: the hypervisors' parts are a matched packet, not
	 * a lost one. */
	nanosleep(&ts, NULL);
	c_correlate_expire(c, 0);
	assert_int_equal(c->c.matched, 1);
	assert_int_equal(c->c.lost + c->c.incomplete, 0);
	assert_int_equal(c_flush(c), 0);
	pr = pair_row(c, "vma", "vmb");
	assert_true(pr.found);
	assert_int_equal(pr.matched, 1);
}

/* A packet vmb sends is not held for vmb's receive side, nor one between
 * other VMs. */
static void test_guest_only_its_own_packets(void **state)
{
	struct st_collector *c = *state;
	struct st_pkt_key k1 = udp_key(A_IP, B_IP, A_PORT, B_PORT, 0x921);
	struct st_pkt_key k2 = udp_key(B_IP, A_IP, B_PORT, A_PORT, 0x922);
	struct st_pkt_key k3 = udp_key(A_IP, C_IP, A_PORT, B_PORT, 0x923);
	struct path_spec g1 = guest_rx(k1, T0);
	struct path_spec s2 = send_half(k2, "vmb", T0 + SEC), r2 = recv_half(k2, "vma", T0 + SEC);
	struct path_spec s3 = send_half(k3, "vma", T0 + 2 * SEC), r3 = recv_half(k3, "vmc", T0 + 2 * SEC);

	feed(c, &gb, &g1, 1);
	feed(c, &hv2, &s2, 1);
	feed(c, &hv1, &r2, 1);
	feed(c, &hv1, &s3, 1);
	feed(c, &hv2, &r3, 1);
	/* Neither waited for a guest (packets both ways between the two
	 * hypervisors may be held for their clock model: expire all). */
	assert_int_equal(c->c.guest_waits, 0);
	c_correlate_expire(c, 1);
	assert_int_equal(c->c.matched, 2);
	assert_int_equal(c->c.unmatched_rx, 1);	/* g1 alone */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_guest_part_joins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guest_part_never_comes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guest_only_its_own_packets, setup, teardown),
	};

	st_log_init("correlate_guest_test", ST_LOG_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
