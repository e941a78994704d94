// SPDX-License-Identifier: MIT
/*
 * Unit tests for the packet id, sampling and flow hash of common/pktkey.h:
 * the id is deterministic and never zero (a raw hash of 0 is remapped),
 * every key bit matters and one flipped bit changes about half of the id;
 * sampling keeps the asked fraction (within 3 sigma) and is a function of
 * the id alone, so every host decides the same; an ICMP echo request and
 * its reply share one sample value, so they are traced together; the flow
 * hash is the same in both directions. Keys come from a seeded generator,
 * or from packets built and parsed with the helpers of pkt_build.h.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "unit_stubs.h"
#include "pkt_build.h"

/* ---- id, sampling and flow hash properties ------------------------------- */

static uint64_t rng_state = 0x1234567887654321ull;

static uint64_t rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static struct st_pkt_key random_key(void)
{
	struct st_pkt_key k;
	uint64_t a = rng(), b = rng(), c = rng();

	memset(&k, 0, sizeof(k));
	k.saddr = (uint32_t)a;
	k.daddr = (uint32_t)(a >> 32);
	k.sport = (uint16_t)b;
	k.dport = (uint16_t)(b >> 16);
	k.proto = (uint8_t)(b >> 32);
	k.disc1 = (uint32_t)c;
	k.disc2 = (uint32_t)(c >> 32);
	return k;
}

static void test_id_deterministic_nonzero(void **state)
{
	struct st_pkt_key k = plain_udp_key(), k2;

	/* Recomputing, and copying the key, give the same id. */
	assert_int_equal(st_pkt_id(&k), st_pkt_id(&k));
	k2 = k;
	assert_int_equal(st_pkt_id(&k), st_pkt_id(&k2));
	/* The pad bytes are not hashed. */
	k2.pad[0] = 0xff;
	k2.pad[2] = 0x11;
	assert_int_equal(st_pkt_id(&k), st_pkt_id(&k2));

	/* An all-zero key is a key like any other, and its id is not 0. */
	memset(&k2, 0, sizeof(k2));
	assert_int_not_equal(st_pkt_id(&k2), 0);

	for (int i = 0; i < 100000; i++) {
		k = random_key();
		assert_int_not_equal(st_pkt_id(&k), 0);
	}
}

/*
 * mix64 is a bijection with mix64(0) == 0, so a key whose last mixing step
 * sees 0 is constructible: choose disc1/disc2 equal to the state after the
 * first two rounds. Its raw hash is 0 and st_pkt_id must map it to 1.
 */
static void test_id_zero_is_remapped(void **state)
{
	struct st_pkt_key k = plain_udp_key();
	uint64_t w0 = ((uint64_t)k.saddr << 32) | k.daddr;
	uint64_t w1 = ((uint64_t)k.sport << 48) | ((uint64_t)k.dport << 32) |
		      ((uint64_t)k.proto << 24);
	uint64_t h = st_mix64(st_mix64(0x5374616765547263ULL ^ w0) ^ w1);

	assert_int_equal(st_mix64(0), 0);
	k.disc1 = (uint32_t)(h >> 32);
	k.disc2 = (uint32_t)h;
	assert_int_equal(st_pkt_id(&k), 1);
	/* One bit away it is an ordinary id again. */
	k.disc2 ^= 1;
	assert_true(st_pkt_id(&k) > 1);
}

static void test_id_every_field_matters(void **state)
{
	for (int round = 0; round < 200; round++) {
		struct st_pkt_key base = random_key(), k;
		uint64_t id = st_pkt_id(&base);
		int flips = 0;

#define FLIP(field, bits)                                                   \
		for (unsigned b = 0; b < (bits); b++) {                     \
			k = base;                                           \
			k.field ^= (__typeof__(k.field))(1ull << b);        \
			if (st_pkt_id(&k) == id)                            \
				fail_msg("flipping bit %u of " #field       \
					 " kept the id", b);                \
			flips++;                                            \
		}
		FLIP(saddr, 32);
		FLIP(daddr, 32);
		FLIP(sport, 16);
		FLIP(dport, 16);
		FLIP(proto, 8);
		FLIP(disc1, 32);
		FLIP(disc2, 32);
#undef FLIP
		assert_int_equal(flips, 168);

		/* Swapping the direction is a different packet too. */
		k = base;
		k.saddr = base.daddr;
		k.daddr = base.saddr;
		k.sport = base.dport;
		k.dport = base.sport;
		if (k.saddr != base.saddr || k.sport != base.sport)
			assert_int_not_equal(st_pkt_id(&k), id);
	}
}

static void test_id_avalanche(void **state)
{
	/* A single-bit change flips about half of the id's bits on average. */
	double total = 0;
	int n = 0;

	for (int i = 0; i < 20000; i++) {
		struct st_pkt_key k = random_key(), k2 = k;

		k2.disc2 ^= 1u << (i % 32);
		total += __builtin_popcountll(st_pkt_id(&k) ^ st_pkt_id(&k2));
		n++;
	}
	assert_true(fabs(total / n - 32.0) < 0.5);
}

static void test_sampling(void **state)
{
	static const struct { unsigned k, n; } rates[] = {
		{ 1, 1 }, { 1, 2 }, { 1, 16 }, { 3, 100 },
	};
	const int N = 1000000;
	unsigned hits[4] = { 0 };

	for (int i = 0; i < N; i++) {
		struct st_pkt_key k = random_key();
		uint64_t id = st_pkt_id(&k);

		for (int r = 0; r < 4; r++)
			hits[r] += (unsigned)st_sampled(id, rates[r].n, rates[r].k);
		/* Disabled tracing samples nothing; k >= n samples everything. */
		if (i < 1000) {
			assert_false(st_sampled(id, 0, 0));
			assert_false(st_sampled(id, 0, 5));
			assert_true(st_sampled(id, 4, 4));
			assert_false(st_sampled(id, 7, 0));
		}
	}
	for (int r = 0; r < 4; r++) {
		double p = (double)rates[r].k / rates[r].n;
		double sigma = sqrt(N * p * (1 - p));
		double dev = fabs(hits[r] - N * p);

		if (dev > 3 * sigma)
			fail_msg("rate %u/%u: %u of %d sampled (expected %.0f, 3 sigma %.1f)",
				 rates[r].k, rates[r].n, hits[r], N, N * p, 3 * sigma);
	}
	assert_int_equal(hits[0], N);
}

static void test_sampling_consistent(void **state)
{
	/* Every host decides alone: the verdict is a function of the id, and
	 * a packet kept at k/n is kept at any k'/n with k' > k. */
	for (int i = 0; i < 100000; i++) {
		struct st_pkt_key k = random_key(), copy = k;
		uint64_t id = st_pkt_id(&k);

		assert_int_equal(st_sampled(id, 100, 3), st_sampled(st_pkt_id(&copy), 100, 3));
		assert_int_equal(st_sampled(id, 100, 3), (int)(id % 100 < 3));
		if (st_sampled(id, 100, 3))
			assert_true(st_sampled(id, 100, 50));
	}
}

static void test_sample_value(void **state)
{
	const int N = 200000;
	unsigned hits = 0, pairs_split = 0;

	/* Anything but ICMP samples on its packet id. */
	for (int i = 0; i < 10000; i++) {
		struct st_pkt_key k = random_key();
		uint64_t id;

		if (k.proto == 1)
			k.proto = 17;
		id = st_pkt_id(&k);
		assert_true(st_sample_value(&k, id) == id);
	}

	/* An echo request and its reply, parsed from real packets, have
	 * different ids but one sample value: they are traced together. */
	{
		struct parsed req = parse_icmp(A_ADDR, B_ADDR, 8, 0x0bad, 17);
		struct parsed rep = parse_icmp(B_ADDR, A_ADDR, 0, 0x0bad, 17);
		struct parsed nxt = parse_icmp(A_ADDR, B_ADDR, 8, 0x0bad, 18);
		struct parsed oid = parse_icmp(A_ADDR, B_ADDR, 8, 0x0bae, 17);
		struct parsed oth = parse_icmp(A_ADDR, IP(10, 0, 0, 3), 8, 0x0bad, 17);
		uint64_t v = st_sample_value(&req.key, req.id);

		assert_int_not_equal(req.id, rep.id);
		assert_true(st_sample_value(&rep.key, rep.id) == v);
		assert_true(st_sample_value(&nxt.key, nxt.id) != v);
		assert_true(st_sample_value(&oid.key, oid.id) != v);
		assert_true(st_sample_value(&oth.key, oth.id) != v);
	}

	/* Over many echo exchanges: at 1/16 a request is kept exactly when
	 * its reply is, and about 1/16 of them are kept. */
	for (int i = 0; i < N; i++) {
		struct st_pkt_key q = random_key(), r;

		q.proto = 1;
		q.dport = 8;	/* type 8 as read on a little-endian host */
		r = q;
		r.saddr = q.daddr;
		r.daddr = q.saddr;
		r.dport = 0;
		r.disc2 = q.disc2;
		{
			int sq = st_sampled(st_sample_value(&q, st_pkt_id(&q)), 16, 1);
			int sr = st_sampled(st_sample_value(&r, st_pkt_id(&r)), 16, 1);

			hits += (unsigned)sq;
			pairs_split += sq != sr;
		}
	}
	assert_int_equal(pairs_split, 0);
	{
		double p = 1.0 / 16, sigma = sqrt(N * p * (1 - p));

		assert_true(fabs(hits - N * p) <= 3 * sigma);
	}
}

static void test_flow_hash_sym(void **state)
{
	int differs = 0;

	for (int i = 0; i < 100000; i++) {
		struct st_pkt_key k = random_key(), r = k, o;

		r.saddr = k.daddr;
		r.daddr = k.saddr;
		r.sport = k.dport;
		r.dport = k.sport;
		/* The per-packet fields do not matter to the flow. */
		r.disc1 = ~k.disc1;
		r.disc2 = k.disc2 + 1;
		assert_int_equal(st_flow_hash_sym(&k), st_flow_hash_sym(&r));

		/* Another port or protocol is another flow. */
		o = k;
		o.sport ^= 1;
		differs += st_flow_hash_sym(&o) != st_flow_hash_sym(&k);
		o = k;
		o.proto ^= 0x40;
		differs += st_flow_hash_sym(&o) != st_flow_hash_sym(&k);
	}
	assert_int_equal(differs, 200000);

	/* Equal addresses: the ports decide the order, both ways agree. */
	{
		struct st_pkt_key k = random_key(), r;

		k.daddr = k.saddr;
		k.sport = htons(1000);
		k.dport = htons(2000);
		r = k;
		r.sport = k.dport;
		r.dport = k.sport;
		assert_int_equal(st_flow_hash_sym(&k), st_flow_hash_sym(&r));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_id_deterministic_nonzero),
		cmocka_unit_test(test_id_zero_is_remapped),
		cmocka_unit_test(test_id_every_field_matters),
		cmocka_unit_test(test_id_avalanche),
		cmocka_unit_test(test_sampling),
		cmocka_unit_test(test_sampling_consistent),
		cmocka_unit_test(test_sample_value),
		cmocka_unit_test(test_flow_hash_sym),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
