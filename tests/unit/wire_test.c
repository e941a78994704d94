// SPDX-License-Identifier: MIT
/*
 * Unit tests for the wire framing (common/wire.c): a full Batch survives
 * st_wire_pack/st_wire_unpack exactly, and the decoder, which is the
 * collector's trust boundary, rejects every malformed or out-of-limits
 * message it is documented to reject.
 *
 * Every buffer given to the decoder is a heap copy of exactly the stated
 * length, so under AddressSanitizer an over-read is a failure too.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "stage_names.h"
#include "unit_stubs.h"
#include "wire.h"

/* ---- a complete batch, built from static storage ------------------------- */

#define NPATHS 3
#define NSTAMPS 5

struct fixture {
	st_envelope env;
	st_batch batch;
	Stagetrace__V1__StageDef stages[4], *stage_ptrs[4];
	Stagetrace__V1__ClockSample clock[2], *clock_ptrs[2];
	st_hostpath paths[NPATHS], *path_ptrs[NPATHS];
	Stagetrace__V1__PacketKey keys[NPATHS];
	Stagetrace__V1__Encap encap;
	Stagetrace__V1__Stamp stamps[NPATHS][NSTAMPS], *stamp_ptrs[NPATHS][NSTAMPS];
	Stagetrace__V1__Counter counters[2], *counter_ptrs[2];
	Stagetrace__V1__ProbeStatus probes[2], *probe_ptrs[2];
	char devs[NPATHS][NSTAMPS][32];
};

static struct fixture fx;

static void fixture_build(struct fixture *f)
{
	static const unsigned stage_ids[4][2] = {
		{ ST_HOOK_NETIF_RX, ST_ROLE_VM },
		{ ST_HOOK_NET_DEV_QUEUE, ST_ROLE_UPLINK },
		{ ST_HOOK_NET_DEV_START_XMIT, ST_ROLE_UPLINK },
		{ ST_HOOK_NET_DEV_XMIT, ST_ROLE_UPLINK },
	};

	memset(f, 0, sizeof(*f));
	stagetrace__v1__envelope__init(&f->env);
	stagetrace__v1__batch__init(&f->batch);
	f->env.version = ST_WIRE_VERSION;
	f->env.body_case = STAGETRACE__V1__ENVELOPE__BODY_BATCH;
	f->env.batch = &f->batch;
	f->batch.host = "hv1.example";
	f->batch.instance = 0xfeedfacecafebeefull;
	f->batch.seq = 0x123456789ull;

	for (int i = 0; i < 4; i++) {
		stagetrace__v1__stage_def__init(&f->stages[i]);
		f->stages[i].id = st_stage_id(stage_ids[i][0], stage_ids[i][1]);
		f->stages[i].name = (char *)st_stage_name(f->stages[i].id);
		f->stage_ptrs[i] = &f->stages[i];
	}
	f->batch.stages = f->stage_ptrs;
	f->batch.n_stages = 4;

	for (int i = 0; i < 2; i++) {
		stagetrace__v1__clock_sample__init(&f->clock[i]);
		f->clock[i].mono_ns = 5000000000ull + (uint64_t)i * 1000;
		/* A realtime before the epoch exercises the signed encoding. */
		f->clock[i].realtime_ns = i ? 1764000000123456789ll : -42;
		f->clock[i].tai_ns = 1764000037123456789ll + i;
		f->clock_ptrs[i] = &f->clock[i];
	}
	f->batch.clock = f->clock_ptrs;
	f->batch.n_clock = 2;

	stagetrace__v1__encap__init(&f->encap);
	f->encap.flags = 0x5;
	f->encap.vlan = 4094;
	f->encap.vni = 0xffffff;
	f->encap.outer_saddr = 0x0b32a8c0;
	f->encap.outer_daddr = 0xffffffff;

	for (int p = 0; p < NPATHS; p++) {
		st_hostpath *hp = &f->paths[p];

		stagetrace__v1__host_path__init(hp);
		stagetrace__v1__packet_key__init(&f->keys[p]);
		f->keys[p].saddr = 0x0100000a + (uint32_t)p;
		f->keys[p].daddr = 0xfeffffff;
		f->keys[p].sport = 0x409c;
		f->keys[p].dport = 0x5114;
		f->keys[p].proto = p == 2 ? 1 : 17;
		f->keys[p].disc1 = 0xffffffff - (uint32_t)p;
		f->keys[p].disc2 = 128 + (uint32_t)p;
		hp->packet_id = 0x8000000000000001ull * (uint64_t)(p + 1);
		hp->key = &f->keys[p];
		hp->netns = 4026531840u + (uint32_t)p;
		hp->end = (uint32_t)(p + 1);
		hp->overflow = (uint32_t)p * 3;
		hp->vm_in = p == 0 ? "vm-a" : "";
		hp->vm_out = p == 1 ? "vm-b" : "";
		hp->encap = p == 1 ? &f->encap : NULL;
		hp->cpu = (uint32_t)p * 7;
		for (int s = 0; s < NSTAMPS; s++) {
			Stagetrace__V1__Stamp *st = &f->stamps[p][s];

			stagetrace__v1__stamp__init(st);
			st->stage = f->stages[s % 4].id;
			st->ts_ns = 5000000000ull + (uint64_t)p * 1000000 + (uint64_t)s * 1234;
			st->ifindex = (uint32_t)(s + 2);
			st->aux = s == 4 ? 2 : 0;
			snprintf(f->devs[p][s], sizeof(f->devs[p][s]), "dev%d.%d", p, s);
			st->dev = f->devs[p][s];
			f->stamp_ptrs[p][s] = st;
		}
		hp->stamps = f->stamp_ptrs[p];
		hp->n_stamps = NSTAMPS;
		f->path_ptrs[p] = hp;
	}
	f->batch.paths = f->path_ptrs;
	f->batch.n_paths = NPATHS;

	for (int i = 0; i < 2; i++) {
		stagetrace__v1__counter__init(&f->counters[i]);
		f->counters[i].name = i ? "ringbuf_full" : "emitted";
		f->counters[i].value = i ? 0 : UINT64_MAX;
		f->counter_ptrs[i] = &f->counters[i];
		stagetrace__v1__probe_status__init(&f->probes[i]);
		f->probes[i].hook = i ? "kfree_skb" : "netif_rx";
		f->probes[i].method = i ? "" : "tp_btf";
		f->probes[i].status = i ? "unavailable" : "attached";
		f->probes[i].reason = i ? "no BTF" : "";
		f->probe_ptrs[i] = &f->probes[i];
	}
	f->batch.counters = f->counter_ptrs;
	f->batch.n_counters = 2;
	f->batch.probes = f->probe_ptrs;
	f->batch.n_probes = 2;
}

static int setup(void **state)
{
	fixture_build(&fx);
	return 0;
}

/* ---- helpers -------------------------------------------------------------- */

/* Unpacks an exact-size heap copy of buf[0..len). */
static int unpack_copy(const uint8_t *buf, size_t len, st_envelope **env,
		       const char **why)
{
	uint8_t *copy = malloc(len ? len : 1);
	int rc;

	assert_non_null(copy);
	if (len)
		memcpy(copy, buf, len);
	*env = NULL;
	rc = st_wire_unpack(copy, len, env, why);
	free(copy);
	return rc;
}

static void pack(const st_envelope *env, uint8_t **buf, size_t *len)
{
	assert_int_equal(st_wire_pack(env, buf, len), 0);
	assert_non_null(*buf);
	assert_int_equal(*len, stagetrace__v1__envelope__get_packed_size(env));
}

/* Packs env and expects the decoder to refuse it with -EPROTO and reason. */
static void expect_rejected(const st_envelope *env, const char *reason)
{
	uint8_t *buf;
	size_t len;
	st_envelope *out;
	const char *why = NULL;
	int rc;

	pack(env, &buf, &len);
	rc = unpack_copy(buf, len, &out, &why);
	free(buf);
	if (rc == 0) {
		st_wire_free(out);
		fail_msg("accepted, expected rejection: %s", reason);
	}
	assert_int_equal(rc, -EPROTO);
	assert_non_null(why);
	if (strcmp(why, reason))
		fail_msg("rejected for '%s', expected '%s'", why, reason);
	assert_null(out);
}

static void expect_accepted(const st_envelope *env)
{
	uint8_t *buf;
	size_t len;
	st_envelope *out;
	const char *why = "unset";
	int rc;

	pack(env, &buf, &len);
	rc = unpack_copy(buf, len, &out, &why);
	free(buf);
	if (rc)
		fail_msg("rejected (%d): %s", rc, why ? why : "?");
	assert_null(why);
	st_wire_free(out);
}

static void assert_str_eq0(const char *got, const char *want)
{
	/* proto3 strings: an absent string decodes as "". */
	assert_non_null(got);
	assert_string_equal(got, want ? want : "");
}

/* ---- round trips --------------------------------------------------------- */

static void test_roundtrip_full_batch(void **state)
{
	uint8_t *buf, *buf2;
	size_t len, len2;
	st_envelope *e;
	const st_batch *b;
	const char *why = "unset";

	pack(&fx.env, &buf, &len);
	assert_int_equal(unpack_copy(buf, len, &e, &why), 0);
	assert_null(why);
	assert_non_null(e);
	assert_int_equal(e->version, ST_WIRE_VERSION);
	assert_int_equal(e->body_case, STAGETRACE__V1__ENVELOPE__BODY_BATCH);
	b = e->batch;
	assert_string_equal(b->host, "hv1.example");
	assert_true(b->instance == 0xfeedfacecafebeefull);
	assert_true(b->seq == 0x123456789ull);

	assert_int_equal(b->n_stages, 4);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(b->stages[i]->id, fx.stages[i].id);
		assert_string_equal(b->stages[i]->name, fx.stages[i].name);
	}
	assert_string_equal(b->stages[0]->name, "tap_rx");
	assert_string_equal(b->stages[2]->name, "nic_tx");

	assert_int_equal(b->n_clock, 2);
	for (int i = 0; i < 2; i++) {
		assert_true(b->clock[i]->mono_ns == fx.clock[i].mono_ns);
		assert_true(b->clock[i]->realtime_ns == fx.clock[i].realtime_ns);
		assert_true(b->clock[i]->tai_ns == fx.clock[i].tai_ns);
	}

	assert_int_equal(b->n_paths, NPATHS);
	for (int p = 0; p < NPATHS; p++) {
		const st_hostpath *g = b->paths[p], *w = &fx.paths[p];

		assert_true(g->packet_id == w->packet_id);
		assert_non_null(g->key);
		assert_int_equal(g->key->saddr, w->key->saddr);
		assert_int_equal(g->key->daddr, w->key->daddr);
		assert_int_equal(g->key->sport, w->key->sport);
		assert_int_equal(g->key->dport, w->key->dport);
		assert_int_equal(g->key->proto, w->key->proto);
		assert_int_equal(g->key->disc1, w->key->disc1);
		assert_int_equal(g->key->disc2, w->key->disc2);
		assert_int_equal(g->netns, w->netns);
		assert_int_equal(g->end, w->end);
		assert_int_equal(g->overflow, w->overflow);
		assert_int_equal(g->cpu, w->cpu);
		assert_str_eq0(g->vm_in, w->vm_in);
		assert_str_eq0(g->vm_out, w->vm_out);
		if (w->encap) {
			assert_non_null(g->encap);
			assert_int_equal(g->encap->flags, w->encap->flags);
			assert_int_equal(g->encap->vlan, w->encap->vlan);
			assert_int_equal(g->encap->vni, w->encap->vni);
			assert_int_equal(g->encap->outer_saddr, w->encap->outer_saddr);
			assert_int_equal(g->encap->outer_daddr, w->encap->outer_daddr);
		} else {
			assert_null(g->encap);
		}
		assert_int_equal(g->n_stamps, NSTAMPS);
		for (int s = 0; s < NSTAMPS; s++) {
			assert_int_equal(g->stamps[s]->stage, w->stamps[s]->stage);
			assert_true(g->stamps[s]->ts_ns == w->stamps[s]->ts_ns);
			assert_int_equal(g->stamps[s]->ifindex, w->stamps[s]->ifindex);
			assert_int_equal(g->stamps[s]->aux, w->stamps[s]->aux);
			assert_string_equal(g->stamps[s]->dev, w->stamps[s]->dev);
		}
	}

	assert_int_equal(b->n_counters, 2);
	assert_string_equal(b->counters[0]->name, "emitted");
	assert_true(b->counters[0]->value == UINT64_MAX);
	assert_string_equal(b->counters[1]->name, "ringbuf_full");
	assert_true(b->counters[1]->value == 0);
	assert_int_equal(b->n_probes, 2);
	for (int i = 0; i < 2; i++) {
		assert_string_equal(b->probes[i]->hook, fx.probes[i].hook);
		assert_string_equal(b->probes[i]->method, fx.probes[i].method);
		assert_string_equal(b->probes[i]->status, fx.probes[i].status);
		assert_string_equal(b->probes[i]->reason, fx.probes[i].reason);
	}

	/* Re-encoding the decoded message gives the same bytes. */
	pack(e, &buf2, &len2);
	assert_int_equal(len2, len);
	assert_memory_equal(buf2, buf, len);
	free(buf2);
	free(buf);
	st_wire_free(e);
}

static void test_roundtrip_ack_and_minimal(void **state)
{
	st_envelope env = STAGETRACE__V1__ENVELOPE__INIT, *e;
	Stagetrace__V1__Ack ack = STAGETRACE__V1__ACK__INIT;
	uint8_t *buf;
	size_t len;
	const char *why;

	ack.seq = 99;
	ack.status = 1;
	ack.error = "duplicate";
	env.version = ST_WIRE_VERSION;
	env.body_case = STAGETRACE__V1__ENVELOPE__BODY_ACK;
	env.ack = &ack;
	pack(&env, &buf, &len);
	assert_int_equal(unpack_copy(buf, len, &e, &why), 0);
	assert_int_equal(e->body_case, STAGETRACE__V1__ENVELOPE__BODY_ACK);
	assert_true(e->ack->seq == 99);
	assert_int_equal(e->ack->status, 1);
	assert_string_equal(e->ack->error, "duplicate");
	st_wire_free(e);
	free(buf);

	/* A heartbeat: a batch with no paths at all is valid. */
	fx.batch.n_paths = 0;
	fx.batch.n_stages = 0;
	fx.batch.n_clock = 0;
	fx.batch.n_counters = 0;
	fx.batch.n_probes = 0;
	expect_accepted(&fx.env);

	/* st_wire_free tolerates NULL. */
	st_wire_free(NULL);
}

/* ---- rejections ------------------------------------------------------------ */

static void test_reject_empty_and_garbage(void **state)
{
	st_envelope *e;
	const char *why;
	uint64_t s = 0x243f6a8885a308d3ull;
	int rc;

	/* An empty message decodes as an all-default envelope: version 0. */
	rc = unpack_copy(NULL, 0, &e, &why);
	assert_int_equal(rc, -EPROTO);
	assert_string_equal(why, "unsupported wire version");
	assert_null(e);

	/* Bytes that are not protobuf at all. */
	rc = unpack_copy((const uint8_t *)"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 11, &e, &why);
	assert_int_equal(rc, -EINVAL);
	assert_string_equal(why, "not a valid protobuf envelope");

	for (int i = 0; i < 20000; i++) {
		uint8_t buf[256];
		size_t len = 1 + (size_t)(i % 255);

		for (size_t j = 0; j < len; j++) {
			s = s * 6364136223846793005ull + 1442695040888963407ull;
			buf[j] = (uint8_t)(s >> 56);
		}
		why = NULL;
		rc = unpack_copy(buf, len, &e, &why);
		if (rc == 0) {
			st_wire_free(e);
			fail_msg("random buffer %d of %zu bytes accepted", i, len);
		}
		assert_true(rc == -EINVAL || rc == -EPROTO);
		assert_non_null(why);
	}
}

static void test_reject_truncated(void **state)
{
	uint8_t *buf;
	size_t len;

	pack(&fx.env, &buf, &len);
	assert_true(len > 200);
	for (size_t n = 0; n < len; n++) {
		st_envelope *e;
		const char *why = NULL;
		int rc = unpack_copy(buf, n, &e, &why);

		if (rc == 0) {
			st_wire_free(e);
			fail_msg("message truncated to %zu of %zu bytes accepted", n, len);
		}
		assert_non_null(why);
	}
	free(buf);
}

static void test_reject_version(void **state)
{
	fx.env.version = 2;
	expect_rejected(&fx.env, "unsupported wire version");
	fx.env.version = 0;
	expect_rejected(&fx.env, "unsupported wire version");
	fx.env.version = UINT32_MAX;
	expect_rejected(&fx.env, "unsupported wire version");
	fx.env.version = ST_WIRE_VERSION;
	expect_accepted(&fx.env);
}

static void test_reject_no_body(void **state)
{
	st_envelope env = STAGETRACE__V1__ENVELOPE__INIT;

	env.version = ST_WIRE_VERSION;
	expect_rejected(&env, "empty envelope");
}

static void test_reject_host(void **state)
{
	char name[ST_WIRE_MAX_STR + 2];

	fx.batch.host = "";
	expect_rejected(&fx.env, "bad host name");
	fx.batch.host = NULL;
	expect_rejected(&fx.env, "bad host name");

	memset(name, 'h', sizeof(name));
	name[ST_WIRE_MAX_STR] = '\0';
	fx.batch.host = name;
	expect_accepted(&fx.env);
	name[ST_WIRE_MAX_STR] = 'h';
	name[ST_WIRE_MAX_STR + 1] = '\0';
	expect_rejected(&fx.env, "bad host name");
}

static void test_reject_seq0(void **state)
{
	fx.batch.seq = 0;
	expect_rejected(&fx.env, "sequence number 0");
	fx.batch.seq = 1;
	expect_accepted(&fx.env);
}

static void test_reject_path_without_key(void **state)
{
	fx.paths[1].key = NULL;
	expect_rejected(&fx.env, "path without key");
}

static void test_reject_stamp_counts(void **state)
{
	Stagetrace__V1__Stamp *many[ST_WIRE_MAX_STAMPS + 1];

	fx.paths[2].n_stamps = 0;
	expect_rejected(&fx.env, "path stamp count out of range");

	for (int i = 0; i <= ST_WIRE_MAX_STAMPS; i++)
		many[i] = &fx.stamps[2][i % NSTAMPS];
	fx.paths[2].stamps = many;
	fx.paths[2].n_stamps = ST_WIRE_MAX_STAMPS;
	expect_accepted(&fx.env);
	fx.paths[2].n_stamps = ST_WIRE_MAX_STAMPS + 1;
	expect_rejected(&fx.env, "path stamp count out of range");
}

static void test_reject_long_strings(void **state)
{
	char ok[ST_WIRE_MAX_STR + 1], bad[ST_WIRE_MAX_STR + 2];

	memset(ok, 'x', ST_WIRE_MAX_STR);
	ok[ST_WIRE_MAX_STR] = '\0';
	memset(bad, 'y', ST_WIRE_MAX_STR + 1);
	bad[ST_WIRE_MAX_STR + 1] = '\0';

	/* Each string field the decoder checks: at the limit it passes, one
	 * byte over it is refused. */
	fx.stages[3].name = ok;
	expect_accepted(&fx.env);
	fx.stages[3].name = bad;
	expect_rejected(&fx.env, "bad stage name");
	fixture_build(&fx);

	fx.paths[0].vm_in = ok;
	expect_accepted(&fx.env);
	fx.paths[0].vm_in = bad;
	expect_rejected(&fx.env, "bad vm name");
	fixture_build(&fx);

	fx.paths[1].vm_out = ok;
	expect_accepted(&fx.env);
	fx.paths[1].vm_out = bad;
	expect_rejected(&fx.env, "bad vm name");
	fixture_build(&fx);

	fx.stamps[2][4].dev = ok;
	expect_accepted(&fx.env);
	fx.stamps[2][4].dev = bad;
	expect_rejected(&fx.env, "bad device name");
}

static void test_reject_oversize(void **state)
{
	size_t big = (size_t)ST_WIRE_MAX_MSG + 1;
	/* Inaccessible address space: any read before the length check would
	 * crash the test instead of passing it. Nothing is committed. */
	uint8_t *p = mmap(NULL, big, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
			  -1, 0);
	st_envelope *e = NULL;
	const char *why = NULL;

	assert_true(p != MAP_FAILED);
	assert_int_equal(st_wire_unpack(p, big, &e, &why), -EMSGSIZE);
	assert_string_equal(why, "message too large");
	assert_null(e);
	assert_int_equal(st_wire_unpack(p, SIZE_MAX, &e, &why), -EMSGSIZE);
	munmap(p, big);

	/*
	 * The packer refuses too. A batch of many pointers to the same long
	 * path is over 16 MiB encoded but costs only an array of pointers here;
	 * st_wire_pack must give up after measuring, before allocating.
	 */
	{
		static char dev[ST_WIRE_MAX_STR + 1];
		Stagetrace__V1__Stamp *st[ST_WIRE_MAX_STAMPS];
		size_t n = 1200, len = 77;
		st_hostpath **paths = calloc(n, sizeof(*paths));
		uint8_t *buf = (uint8_t *)"untouched";

		assert_non_null(paths);
		memset(dev, 'd', ST_WIRE_MAX_STR);
		fx.stamps[0][0].dev = dev;
		for (int i = 0; i < ST_WIRE_MAX_STAMPS; i++)
			st[i] = &fx.stamps[0][0];
		fx.paths[0].stamps = st;
		fx.paths[0].n_stamps = ST_WIRE_MAX_STAMPS;
		for (size_t i = 0; i < n; i++)
			paths[i] = &fx.paths[0];
		fx.batch.paths = paths;
		fx.batch.n_paths = n;
		assert_true(stagetrace__v1__envelope__get_packed_size(&fx.env) > ST_WIRE_MAX_MSG);
		assert_int_equal(st_wire_pack(&fx.env, &buf, &len), -EMSGSIZE);
		assert_string_equal((char *)buf, "untouched");
		assert_int_equal(len, 77);
		free(paths);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_roundtrip_full_batch, setup),
		cmocka_unit_test_setup(test_roundtrip_ack_and_minimal, setup),
		cmocka_unit_test_setup(test_reject_empty_and_garbage, setup),
		cmocka_unit_test_setup(test_reject_truncated, setup),
		cmocka_unit_test_setup(test_reject_version, setup),
		cmocka_unit_test_setup(test_reject_no_body, setup),
		cmocka_unit_test_setup(test_reject_host, setup),
		cmocka_unit_test_setup(test_reject_seq0, setup),
		cmocka_unit_test_setup(test_reject_path_without_key, setup),
		cmocka_unit_test_setup(test_reject_stamp_counts, setup),
		cmocka_unit_test_setup(test_reject_long_strings, setup),
		cmocka_unit_test_setup(test_reject_oversize, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
