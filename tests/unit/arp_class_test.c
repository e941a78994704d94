// SPDX-License-Identifier: MIT
/*
 * ARP classification (cli/arp_class.c) on event sequences: a request and
 * its reply are not flagged, a reply nobody asked for (or a second one)
 * is unsolicited, requests expire after the window, announcements are
 * gratuitous, a claim by a second MAC within the window is a conflict and
 * names the first MAC, sent frames never conflict, probes are probes, and
 * a full table counts what it could not remember.
 */
#include <setjmp.h>
#include <stdio.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>

#include "cli/arp_class.h"

#define NS 4026531840u
#define SEC 1000000000ull

static const uint8_t MAC_A[6] = { 2, 0, 0, 0, 0, 0xa };
static const uint8_t MAC_B[6] = { 2, 0, 0, 0, 0, 0xb };
static const uint8_t MAC_X[6] = { 2, 0, 0, 0, 0, 0xee };

static struct st_arp_event ev(uint64_t ts, uint8_t dir, uint16_t op, const char *spa,
			      const uint8_t *sha, const char *tpa)
{
	struct st_arp_event e;

	memset(&e, 0, sizeof(e));
	e.ts = ts;
	e.netns = NS;
	e.ifindex = 2;
	e.kind = ST_ARP_PACKET;
	e.dir = dir;
	e.op = op;
	e.spa = inet_addr(spa);
	e.tpa = inet_addr(tpa);
	memcpy(e.sha, sha, 6);
	return e;
}

static unsigned cls(struct st_arp_state *s, struct st_arp_event e, uint8_t prev[6])
{
	return st_arp_classify(s, &e, prev);
}

static void test_request_reply(void **state)
{
	struct st_arp_state s;
	uint8_t prev[6];

	(void)state;
	assert_int_equal(st_arp_state_init(&s, 16, 5), 0);
	/* A asks for B, B answers: nothing flagged. */
	assert_int_equal(cls(&s, ev(1 * SEC, ST_ARP_TX, 1, "10.0.0.1", MAC_A, "10.0.0.2"), prev), 0);
	assert_int_equal(cls(&s, ev(1 * SEC + 1000, ST_ARP_RX, 2, "10.0.0.2", MAC_B, "10.0.0.1"), prev), 0);
	/* A second reply answers nothing. */
	assert_int_equal(cls(&s, ev(2 * SEC, ST_ARP_RX, 2, "10.0.0.2", MAC_B, "10.0.0.1"), prev),
			 ST_ARPF_UNSOLICITED);
	/* A request older than the window no longer makes a reply solicited. */
	assert_int_equal(cls(&s, ev(3 * SEC, ST_ARP_TX, 1, "10.0.0.1", MAC_A, "10.0.0.3"), prev), 0);
	assert_int_equal(cls(&s, ev(9 * SEC, ST_ARP_RX, 2, "10.0.0.3", MAC_X, "10.0.0.1"), prev),
			 ST_ARPF_UNSOLICITED);
	/* A request on another device does not count for this one. */
	{
		struct st_arp_event e = ev(10 * SEC, ST_ARP_TX, 1, "10.0.0.1", MAC_A, "10.0.0.4");

		e.ifindex = 3;
		assert_int_equal(st_arp_classify(&s, &e, prev), 0);
	}
	assert_int_equal(cls(&s, ev(10 * SEC + 5, ST_ARP_RX, 2, "10.0.0.4", MAC_X, "10.0.0.1"), prev),
			 ST_ARPF_UNSOLICITED);
	assert_int_equal(s.lost, 0);
	st_arp_state_free(&s);
}

static void test_gratuitous_conflict(void **state)
{
	struct st_arp_state s;
	uint8_t prev[6] = { 0 };

	(void)state;
	assert_int_equal(st_arp_state_init(&s, 16, 5), 0);
	assert_int_equal(cls(&s, ev(1 * SEC, ST_ARP_RX, 1, "10.0.0.9", MAC_A, "10.0.0.9"), prev),
			 ST_ARPF_GRATUITOUS);
	/* The same announcement again: still gratuitous, no conflict. */
	assert_int_equal(cls(&s, ev(2 * SEC, ST_ARP_RX, 2, "10.0.0.9", MAC_A, "10.0.0.9"), prev),
			 ST_ARPF_GRATUITOUS);
	/* Another MAC within the window: conflict, naming the first. */
	assert_int_equal(cls(&s, ev(3 * SEC, ST_ARP_RX, 2, "10.0.0.9", MAC_B, "10.0.0.9"), prev),
			 ST_ARPF_GRATUITOUS | ST_ARPF_CONFLICT);
	assert_memory_equal(prev, MAC_A, 6);
	/* After the window the old claim is forgotten. */
	assert_int_equal(cls(&s, ev(20 * SEC, ST_ARP_RX, 2, "10.0.0.9", MAC_X, "10.0.0.9"), prev),
			 ST_ARPF_GRATUITOUS);
	/* Our own claim (sent) contradicted by a received one: conflict; a
	 * sent frame never conflicts itself. */
	assert_int_equal(cls(&s, ev(21 * SEC, ST_ARP_TX, 1, "10.0.0.1", MAC_A, "10.0.0.2"), prev), 0);
	assert_int_equal(cls(&s, ev(21 * SEC + 9, ST_ARP_TX, 1, "10.0.0.1", MAC_B, "10.0.0.7"), prev), 0);
	assert_int_equal(cls(&s, ev(22 * SEC, ST_ARP_RX, 1, "10.0.0.1", MAC_X, "10.0.0.5"), prev),
			 ST_ARPF_CONFLICT);
	assert_memory_equal(prev, MAC_B, 6);
	/* Probes (sender 0.0.0.0) are only probes. */
	assert_int_equal(cls(&s, ev(23 * SEC, ST_ARP_RX, 1, "0.0.0.0", MAC_X, "10.0.0.9"), prev),
			 ST_ARPF_PROBE);
	st_arp_state_free(&s);
}

static void test_full_table(void **state)
{
	struct st_arp_state s;
	uint8_t prev[6];
	char ip[32];

	(void)state;
	assert_int_equal(st_arp_state_init(&s, 4, 60), 0);
	/* Six requests for six addresses: 4 fit in pending and claims keeps
	 * our one address; 2 requests are lost. */
	for (int i = 0; i < 6; i++) {
		snprintf(ip, sizeof(ip), "10.0.1.%d", i + 1);
		cls(&s, ev(SEC + i, ST_ARP_TX, 1, "10.0.0.1", MAC_A, ip), prev);
	}
	assert_int_equal(s.lost, 2);
	/* A reply to a request that did not fit is reported unsolicited. */
	assert_int_equal(cls(&s, ev(2 * SEC, ST_ARP_RX, 2, "10.0.1.6", MAC_B, "10.0.0.1"), prev),
			 ST_ARPF_UNSOLICITED);
	assert_int_equal(cls(&s, ev(2 * SEC, ST_ARP_RX, 2, "10.0.1.1", MAC_B, "10.0.0.1"), prev), 0);
	st_arp_state_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_reply),
		cmocka_unit_test(test_gratuitous_conflict),
		cmocka_unit_test(test_full_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
