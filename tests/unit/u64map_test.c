// SPDX-License-Identifier: MIT
/*
 * Unit tests for the open-addressing u64 -> pointer map (common/u64map.c).
 *
 * The map is checked against a trivially correct reference: keys are drawn
 * from a fixed universe of U keys, and the reference is a plain array of U
 * values indexed by the key's position in that universe. A million random
 * put/get/del operations in phases (fill, churn, drain) are applied to both
 * and compared after every step; a full comparison, including iteration,
 * runs every few thousand steps. Part of the universe consists of keys
 * chosen to land on the same home slot, so probe runs are long and
 * backward-shift deletion is exercised across runs and the array's end.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pktkey.h"
#include "u64map.h"
#include "unit_stubs.h"

#define U 60000		/* universe size */
#define NCOLLIDE 3000	/* keys sharing the low 12 bits of their hash */
#define NOPS 1000000

static uint64_t *ukeys;		/* universe: index -> key */
static uintptr_t *ref;		/* reference: index -> value, 0 = absent */
static size_t ref_len;
static uint64_t rs = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	uint64_t z = (rs += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* A value encodes the universe index it belongs to and a generation, so a
 * value from iteration names its key and stale values are detectable. */
static uintptr_t make_val(size_t idx, unsigned gen)
{
	return ((uintptr_t)gen << 20) | (idx + 1);
}

static size_t val_idx(void *v)
{
	return (size_t)(((uintptr_t)v & 0xfffff) - 1);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int universe_setup(void **state)
{
	size_t n = 0;
	uint64_t k;

	ukeys = calloc(U, sizeof(*ukeys));
	ref = calloc(U, sizeof(*ref));
	if (!ukeys || !ref)
		return -1;
	/* Keys whose home slot is the same for every capacity up to 4096. */
	for (k = 1; n < NCOLLIDE; k++)
		if ((st_mix64(k) & 0xfff) == 0x123)
			ukeys[n++] = k;
	/* Edge values. */
	ukeys[n++] = 1;
	ukeys[n++] = UINT64_MAX;
	ukeys[n++] = 1ull << 63;
	ukeys[n++] = 0xffffffffull;
	/* Random odd keys: far above the small colliding keys. */
	while (n < U)
		ukeys[n++] = rnd() | 1ull << 40 | 1;
	/* The reference needs distinct keys; check once on a sorted copy. */
	{
		uint64_t *s = malloc(U * sizeof(*s));

		if (!s)
			return -1;
		memcpy(s, ukeys, U * sizeof(*s));
		qsort(s, U, sizeof(*s), cmp_u64);
		for (size_t i = 1; i < U; i++)
			if (s[i] == s[i - 1]) {
				free(s);
				return -1;
			}
		free(s);
	}
	return 0;
}

static int universe_teardown(void **state)
{
	free(ukeys);
	free(ref);
	return 0;
}

static void ref_reset(void)
{
	memset(ref, 0, U * sizeof(*ref));
	ref_len = 0;
}

/* Full comparison: every universe key, the length, and iteration. */
static void check_all(const struct st_u64map *m)
{
	uint8_t *seen = calloc(U, 1);
	size_t it = 0, visits = 0;
	uint64_t key;
	void *val;

	assert_non_null(seen);
	assert_int_equal(m->len, ref_len);
	for (size_t i = 0; i < U; i++)
		if ((uintptr_t)st_u64map_get(m, ukeys[i]) != ref[i])
			fail_msg("key %#llx: map has %p, reference %#lx",
				 (unsigned long long)ukeys[i], st_u64map_get(m, ukeys[i]),
				 (unsigned long)ref[i]);
	while (st_u64map_next(m, &it, &key, &val)) {
		size_t idx = val_idx(val);

		assert_true(idx < U);
		assert_true(ukeys[idx] == key);
		assert_true((uintptr_t)val == ref[idx]);
		if (seen[idx]++)
			fail_msg("iteration visited key %#llx twice", (unsigned long long)key);
		visits++;
	}
	assert_int_equal(visits, ref_len);
	/* The iterator stays at the end. */
	assert_false(st_u64map_next(m, &it, &key, &val));
	/* Load factor bound: an empty slot always remains. */
	assert_true(m->len * 4 <= m->cap * 3);
	assert_int_equal(m->cap & (m->cap - 1), 0);
	free(seen);
}

/* ---- tests --------------------------------------------------------------- */

static void test_random_against_reference(void **state)
{
	struct st_u64map m;
	size_t maxcap = 0;
	unsigned gen = 1;

	ref_reset();
	assert_int_equal(st_u64map_init(&m, 0), 0);
	for (long op = 0; op < NOPS; op++) {
		/* Phases of 100k operations: fill, churn, drain, churn on a
		 * small key set (deletes dominate), and so on. */
		int phase = (int)((op / 100000) % 4);
		unsigned pput = phase == 0 ? 70 : phase == 1 ? 40 : phase == 2 ? 15 : 45;
		unsigned pdel = phase == 0 ? 10 : phase == 1 ? 40 : phase == 2 ? 70 : 45;
		size_t range = phase == 3 ? NCOLLIDE + 500 : U;
		size_t idx = (size_t)(rnd() % range);
		unsigned dice = (unsigned)(rnd() % 100);
		uint64_t k = ukeys[idx];

		if (dice < pput) {
			uintptr_t v = make_val(idx, gen++ & 0xfff);

			assert_int_equal(st_u64map_put(&m, k, (void *)v), 0);
			if (!ref[idx])
				ref_len++;
			ref[idx] = v;
		} else if (dice < pput + pdel) {
			void *got = st_u64map_del(&m, k);

			if ((uintptr_t)got != ref[idx])
				fail_msg("op %ld: del(%#llx) gave %p, reference %#lx", op,
					 (unsigned long long)k, got, (unsigned long)ref[idx]);
			if (ref[idx])
				ref_len--;
			ref[idx] = 0;
			/* Deleting again finds nothing. */
			assert_null(st_u64map_del(&m, k));
		} else {
			if ((uintptr_t)st_u64map_get(&m, k) != ref[idx])
				fail_msg("op %ld: get(%#llx) mismatch", op, (unsigned long long)k);
		}
		assert_int_equal(m.len, ref_len);
		if (m.cap > maxcap)
			maxcap = m.cap;
		if (op % 25000 == 24999)
			check_all(&m);
	}
	check_all(&m);
	/* The fill phases pushed the table well past its initial size. */
	assert_true(maxcap >= 32768);
	st_u64map_free(&m);
	assert_null(m.keys);
	assert_int_equal(m.cap, 0);
	assert_int_equal(m.len, 0);
}

static void test_churn_does_not_degrade(void **state)
{
	struct st_u64map m;
	size_t cap;

	/* A pending table's life: a steady population of ~1000 keys with
	 * constant turnover. Without tombstones neither the capacity nor the
	 * result of a lookup may drift. */
	ref_reset();
	assert_int_equal(st_u64map_init(&m, 1024), 0);
	cap = m.cap;
	for (size_t i = 0; i < 1000; i++) {
		assert_int_equal(st_u64map_put(&m, ukeys[i], (void *)make_val(i, 1)), 0);
		ref[i] = make_val(i, 1);
		ref_len++;
	}
	for (size_t r = 0; r < 300000; r++) {
		size_t out = r % U, in = (r + 1000) % U;

		assert_true((uintptr_t)st_u64map_del(&m, ukeys[out]) == ref[out]);
		ref[out] = 0;
		assert_int_equal(st_u64map_put(&m, ukeys[in], (void *)make_val(in, 2)), 0);
		ref[in] = make_val(in, 2);
		assert_int_equal(m.len, 1000);
		if (r % 50000 == 0)
			check_all(&m);
	}
	check_all(&m);
	assert_int_equal(m.cap, cap);
	st_u64map_free(&m);
}

static void test_growth(void **state)
{
	struct st_u64map m;
	size_t last_cap;

	assert_int_equal(st_u64map_init(&m, 0), 0);
	assert_int_equal(m.cap, 16);
	assert_int_equal(m.len, 0);
	last_cap = m.cap;
	ref_reset();
	for (size_t i = 0; i < U; i++) {
		assert_int_equal(st_u64map_put(&m, ukeys[i], (void *)make_val(i, 3)), 0);
		ref[i] = make_val(i, 3);
		ref_len++;
		assert_int_equal(m.len, i + 1);
		/* Load stays at or below 3/4; capacity only doubles. */
		assert_true(m.len * 4 <= m.cap * 3);
		if (m.cap != last_cap) {
			assert_int_equal(m.cap, last_cap * 2);
			/* It grew only because it had to. */
			assert_true(i * 4 > last_cap * 3 - 4);
			last_cap = m.cap;
		}
	}
	check_all(&m);
	/* Replacing existing keys changes values, not the length. */
	for (size_t i = 0; i < U; i += 3) {
		assert_int_equal(st_u64map_put(&m, ukeys[i], (void *)make_val(i, 4)), 0);
		ref[i] = make_val(i, 4);
	}
	assert_int_equal(m.len, U);
	check_all(&m);
	st_u64map_free(&m);

	/* The size hint leaves room for hint keys without growing. */
	assert_int_equal(st_u64map_init(&m, 1000), 0);
	assert_int_equal(m.cap, 2048);
	for (size_t i = 0; i < 1000; i++)
		assert_int_equal(st_u64map_put(&m, ukeys[i], (void *)1), 0);
	assert_int_equal(m.cap, 2048);
	st_u64map_free(&m);
	assert_int_equal(st_u64map_init(&m, 4096), 0);
	assert_int_equal(m.cap, 8192);
	st_u64map_free(&m);
}

static void test_iteration_exactly_once(void **state)
{
	struct st_u64map m;
	uint8_t *seen = calloc(U, 1);
	size_t it = 0, n = 0;
	uint64_t key;
	void *val;

	assert_non_null(seen);
	assert_int_equal(st_u64map_init(&m, 16), 0);
	/* An empty map yields nothing. */
	assert_false(st_u64map_next(&m, &it, &key, &val));
	/* Every other key, colliding ones included. */
	for (size_t i = 0; i < U; i += 2)
		assert_int_equal(st_u64map_put(&m, ukeys[i], (void *)make_val(i, 5)), 0);
	it = 0;
	while (st_u64map_next(&m, &it, &key, &val)) {
		size_t idx = val_idx(val);

		assert_true(idx < U && idx % 2 == 0);
		assert_true(ukeys[idx] == key);
		assert_int_equal(seen[idx], 0);
		seen[idx] = 1;
		n++;
	}
	assert_int_equal(n, (U + 1) / 2);

	/* Draining while iterating, the documented way: delete the current
	 * key and look at the same slot again, since backward shift may have
	 * moved a later key into it. Every key is seen once and the map ends
	 * empty. */
	memset(seen, 0, U);
	n = 0;
	it = 0;
	while (st_u64map_next(&m, &it, &key, &val)) {
		size_t idx = val_idx(val);

		assert_int_equal(seen[idx], 0);
		seen[idx] = 1;
		n++;
		assert_ptr_equal(st_u64map_del(&m, key), val);
		it--;
	}
	assert_int_equal(n, (U + 1) / 2);
	assert_int_equal(m.len, 0);
	for (size_t i = 0; i < m.cap; i++)
		assert_true(m.keys[i] == 0);
	st_u64map_free(&m);
	free(seen);
}

static void test_key_zero_rejected(void **state)
{
	struct st_u64map m;

	assert_int_equal(st_u64map_init(&m, 0), 0);
	assert_int_equal(st_u64map_put(&m, 0, (void *)1), -EINVAL);
	assert_int_equal(m.len, 0);
	assert_null(st_u64map_get(&m, 0));
	assert_int_equal(st_u64map_put(&m, 7, (void *)7), 0);
	assert_int_equal(st_u64map_put(&m, 0, (void *)2), -EINVAL);
	assert_int_equal(m.len, 1);
	assert_null(st_u64map_get(&m, 0));
	assert_ptr_equal(st_u64map_get(&m, 7), (void *)7);
	/* Empty slots hold key 0: after deletions they must not hand out the
	 * value that was deleted from them. */
	for (uint64_t k = 1; k < 200; k++)
		assert_int_equal(st_u64map_put(&m, k, (void *)(uintptr_t)(k + 1000)), 0);
	for (uint64_t k = 1; k < 200; k++)
		assert_ptr_equal(st_u64map_del(&m, k), (void *)(uintptr_t)(k + 1000));
	assert_int_equal(m.len, 0);
	assert_null(st_u64map_get(&m, 0));
	for (uint64_t k = 1; k < 200; k++)
		assert_null(st_u64map_get(&m, k));
	st_u64map_free(&m);

	/* A freed map answers lookups with nothing. */
	assert_null(st_u64map_get(&m, 7));
	assert_null(st_u64map_del(&m, 7));
}

static void test_null_values(void **state)
{
	struct st_u64map m;

	/* A NULL value is storable, though indistinguishable from absence to
	 * get; it still counts and iterates. */
	assert_int_equal(st_u64map_init(&m, 0), 0);
	assert_int_equal(st_u64map_put(&m, 42, NULL), 0);
	assert_int_equal(m.len, 1);
	{
		size_t it = 0;
		uint64_t k = 0;
		void *v = (void *)1;

		assert_true(st_u64map_next(&m, &it, &k, &v));
		assert_true(k == 42);
		assert_null(v);
	}
	assert_null(st_u64map_del(&m, 42));
	assert_int_equal(m.len, 0);
	st_u64map_free(&m);
}

/*
 * Known bug: st_u64map_del(m, 0) treats the first empty slot of the probe
 * run as the match (empty slots hold key 0) and decrements len, which
 * wraps to SIZE_MAX on an empty map; the map then never grows and fills.
 */
static void test_fixed_del_zero(void **state)
{
	struct st_u64map m;

	assert_int_equal(st_u64map_init(&m, 0), 0);
	assert_int_equal(st_u64map_put(&m, 5, (void *)5), 0);
	assert_null(st_u64map_del(&m, 0));
	assert_int_equal(m.len, 1);
	st_u64map_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_against_reference),
		cmocka_unit_test(test_churn_does_not_degrade),
		cmocka_unit_test(test_growth),
		cmocka_unit_test(test_iteration_exactly_once),
		cmocka_unit_test(test_key_zero_rejected),
		cmocka_unit_test(test_null_values),
		cmocka_unit_test(test_fixed_del_zero),
	};

	return cmocka_run_group_tests(tests, universe_setup, universe_teardown);
}
