// SPDX-License-Identifier: MIT
/*
 * stagetrace latency's path handling (cli/latency_out.c, lat_path): which
 * direction a host path belongs to in each mode, which segments and totals
 * it adds to the interval's histograms, and what a path that never ended
 * contributes (its segments, not its total). Paths are built by hand the
 * way bpf/stages.bpf.c emits them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli/latency_int.h"
#include "stage_names.h"

struct st { unsigned hook, role; uint64_t ts; };

static struct st_path mk(const struct st *s, unsigned n, unsigned end)
{
	struct st_path p;

	memset(&p, 0, sizeof(p));
	for (unsigned i = 0; i < n; i++) {
		p.stamps[i].hook = (uint8_t)s[i].hook;
		p.stamps[i].role = (uint8_t)s[i].role;
		p.stamps[i].ts = s[i].ts;
		p.stamps[i].ifindex = 2;
	}
	p.nstamps = (uint8_t)n;
	p.end = (uint8_t)end;
	return p;
}

static const struct lat_seg *find(const struct lat *l, unsigned dir, unsigned fh, unsigned fr,
				  unsigned th, unsigned tr, int total)
{
	for (size_t i = 0; i < l->nsegs; i++)
		if (l->segs[i].dir == dir && l->segs[i].from == st_stage_id(fh, fr) &&
		    l->segs[i].to == st_stage_id(th, tr) && l->segs[i].total == total)
			return &l->segs[i];
	return NULL;
}

static const struct st tx[] = {
	{ ST_HOOK_NET_DEV_QUEUE, ST_ROLE_UPLINK, 1000 },
	{ ST_HOOK_NET_DEV_START_XMIT, ST_ROLE_UPLINK, 4536 },
};
static const struct st rx[] = {
	{ ST_HOOK_NETIF_RX, ST_ROLE_UPLINK, 100 },
	{ ST_HOOK_NETIF_RECEIVE_SKB, ST_ROLE_UPLINK, 150 },
	{ ST_HOOK_SKB_COPY_DATAGRAM, ST_ROLE_OTHER, 900 },
};
static const struct st fwd[] = {
	{ ST_HOOK_NETIF_RECEIVE_SKB, ST_ROLE_UPLINK, 10 },
	{ ST_HOOK_NET_DEV_QUEUE, ST_ROLE_UPLINK, 30 },
	{ ST_HOOK_NET_DEV_START_XMIT, ST_ROLE_UPLINK, 35 },
};
static const struct st from_vm[] = {
	{ ST_HOOK_NETIF_RECEIVE_SKB, ST_ROLE_VM, 10 },
	{ ST_HOOK_BR_IN, ST_ROLE_VM, 12 },
	{ ST_HOOK_NET_DEV_QUEUE, ST_ROLE_UPLINK, 2012 },
	{ ST_HOOK_NET_DEV_START_XMIT, ST_ROLE_UPLINK, 2020 },
};
static const struct st to_vm[] = {
	{ ST_HOOK_NETIF_RECEIVE_SKB, ST_ROLE_UPLINK, 10 },
	{ ST_HOOK_NET_DEV_QUEUE, ST_ROLE_VM, 20 },
	{ ST_HOOK_SKB_COPY_DATAGRAM, ST_ROLE_VM, 50 },
};

static void test_host_mode(void **state)
{
	struct lat l = { .mode = LAT_HOST };
	struct st_path p;
	const struct lat_seg *s;

	(void)state;
	p = mk(tx, 2, ST_END_LEFT);
	lat_path(&l, &p);
	p = mk(rx, 3, ST_END_DELIVERED);
	lat_path(&l, &p);
	p = mk(fwd, 3, ST_END_LEFT);
	lat_path(&l, &p);
	p = mk(from_vm, 4, ST_END_LEFT);	/* a VM's packet: not --host's */
	lat_path(&l, &p);
	assert_int_equal(l.dirs[LAT_TX], 1);
	assert_int_equal(l.dirs[LAT_RX], 1);
	assert_int_equal(l.dirs[LAT_FWD], 1);
	assert_int_equal(l.shown, 3);
	assert_int_equal(l.other_mode, 1);
	assert_int_equal(l.ends[ST_END_LEFT], 2);
	assert_int_equal(l.ends[ST_END_DELIVERED], 1);

	s = find(&l, LAT_TX, ST_HOOK_NET_DEV_QUEUE, ST_ROLE_UPLINK,
		 ST_HOOK_NET_DEV_START_XMIT, ST_ROLE_UPLINK, 0);
	assert_non_null(s);
	assert_int_equal(s->h.count, 1);
	assert_int_equal(s->h.min, 3536);
	s = find(&l, LAT_RX, ST_HOOK_NETIF_RECEIVE_SKB, ST_ROLE_UPLINK,
		 ST_HOOK_SKB_COPY_DATAGRAM, ST_ROLE_OTHER, 0);
	assert_non_null(s);
	assert_int_equal(s->h.min, 750);
	assert_string_equal(st_stage_name(s->to), "sock_rx");
	s = find(&l, LAT_RX, ST_HOOK_NETIF_RX, ST_ROLE_UPLINK,
		 ST_HOOK_SKB_COPY_DATAGRAM, ST_ROLE_OTHER, 1);
	assert_non_null(s);
	assert_int_equal(s->h.min, 800);
	/* tx: one segment and its total; rx: two and a total; fwd: two and a total. */
	assert_int_equal(l.nsegs, 2 + 3 + 3);
	free(l.segs);
}

/* A datagram this host sends, stamped at ip_send_skb: tx, named sock_tx. */
static void test_sock_tx(void **state)
{
	static const struct st sent[] = {
		{ ST_HOOK_SOCK_TX, ST_ROLE_UPLINK, 100 },
		{ ST_HOOK_NET_DEV_QUEUE, ST_ROLE_UPLINK, 130 },
		{ ST_HOOK_NET_DEV_START_XMIT, ST_ROLE_UPLINK, 160 },
	};
	struct lat l = { .mode = LAT_HOST };
	struct st_path p = mk(sent, 3, ST_END_LEFT);
	const struct lat_seg *s;

	(void)state;
	lat_path(&l, &p);
	assert_int_equal(l.dirs[LAT_TX], 1);
	s = find(&l, LAT_TX, ST_HOOK_SOCK_TX, ST_ROLE_UPLINK, ST_HOOK_NET_DEV_QUEUE,
		 ST_ROLE_UPLINK, 0);
	assert_non_null(s);
	assert_string_equal(st_stage_name(s->from), "sock_tx");
	assert_int_equal(s->h.min, 30);
	free(l.segs);
}

static void test_vm_mode_and_timeouts(void **state)
{
	struct lat l = { .mode = LAT_VM };
	struct st_path p;
	const struct lat_seg *s;

	(void)state;
	p = mk(from_vm, 4, ST_END_LEFT);
	lat_path(&l, &p);
	p = mk(to_vm, 3, ST_END_DELIVERED);
	lat_path(&l, &p);
	p = mk(tx, 2, ST_END_LEFT);		/* the host's own: not --vm's */
	lat_path(&l, &p);
	/* Never ended: its segment counts, no total. */
	p = mk(from_vm, 2, ST_END_TIMEOUT);
	lat_path(&l, &p);
	assert_int_equal(l.dirs[LAT_FROM_VM], 2);
	assert_int_equal(l.dirs[LAT_TO_VM], 1);
	assert_int_equal(l.other_mode, 1);
	assert_int_equal(l.ends[ST_END_TIMEOUT], 1);
	assert_int_equal(l.t_timeout, 1);
	s = find(&l, LAT_FROM_VM, ST_HOOK_NETIF_RECEIVE_SKB, ST_ROLE_VM, ST_HOOK_BR_IN,
		 ST_ROLE_VM, 0);
	assert_non_null(s);
	assert_int_equal(s->h.count, 2);
	s = find(&l, LAT_FROM_VM, ST_HOOK_BR_IN, ST_ROLE_VM, ST_HOOK_NET_DEV_QUEUE,
		 ST_ROLE_UPLINK, 0);
	assert_non_null(s);
	assert_int_equal(s->h.min, 2000);
	s = find(&l, LAT_FROM_VM, ST_HOOK_NETIF_RECEIVE_SKB, ST_ROLE_VM,
		 ST_HOOK_NET_DEV_START_XMIT, ST_ROLE_UPLINK, 1);
	assert_non_null(s);
	assert_int_equal(s->h.count, 1);
	assert_null(find(&l, LAT_FROM_VM, ST_HOOK_NETIF_RECEIVE_SKB, ST_ROLE_VM,
			 ST_HOOK_BR_IN, ST_ROLE_VM, 1));
	s = find(&l, LAT_TO_VM, ST_HOOK_NET_DEV_QUEUE, ST_ROLE_VM, ST_HOOK_SKB_COPY_DATAGRAM,
		 ST_ROLE_VM, 0);
	assert_non_null(s);
	assert_string_equal(st_stage_name(s->to), "vm_rx");
	free(l.segs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_host_mode),
		cmocka_unit_test(test_sock_tx),
		cmocka_unit_test(test_vm_mode_and_timeouts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
