// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the collector's trust boundary: st_wire_unpack
 * (common/wire.c) on arbitrary bytes.
 *
 * Besides "no crash, no sanitizer report, no leak", every accepted message
 * must satisfy what the collector assumes after validation (version,
 * body, host name, sequence number, key and stamp count per path, string
 * lengths), must pack again, and the packed form must itself be accepted
 * and be a fixed point of unpack + pack. Rejections must come with a
 * reason and one of the documented error codes.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "wire.h"

#include "fuzz_check.h"

static int str_ok(const char *s)
{
	return !s || strnlen(s, ST_WIRE_MAX_STR + 1) <= ST_WIRE_MAX_STR;
}

static void check_valid(const st_envelope *env)
{
	const st_batch *b;

	CHECK(env->version == ST_WIRE_VERSION);
	/* Some body is set; which kinds exist grows with the schema. */
	CHECK(env->body_case != STAGETRACE__V1__ENVELOPE__BODY__NOT_SET);
	if (env->body_case != STAGETRACE__V1__ENVELOPE__BODY_BATCH)
		return;
	b = env->batch;
	CHECK(b != NULL);
	CHECK(b->host && b->host[0] && str_ok(b->host));
	CHECK(b->seq != 0);
	for (size_t i = 0; i < b->n_stages; i++)
		CHECK(str_ok(b->stages[i]->name));
	for (size_t i = 0; i < b->n_paths; i++) {
		const st_hostpath *p = b->paths[i];

		CHECK(p->key != NULL);
		CHECK(p->n_stamps >= 1 && p->n_stamps <= ST_WIRE_MAX_STAMPS);
		CHECK(str_ok(p->vm_in) && str_ok(p->vm_out));
		for (size_t j = 0; j < p->n_stamps; j++)
			CHECK(str_ok(p->stamps[j]->dev));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	st_envelope *env = NULL, *env2 = NULL, *env3 = NULL;
	const char *why = NULL;
	uint8_t *b1 = NULL, *b2 = NULL;
	size_t l1 = 0, l2 = 0;
	int rc;

	rc = st_wire_unpack(data, size, &env, &why);
	if (rc) {
		CHECK(rc == -EINVAL || rc == -EPROTO || rc == -EMSGSIZE);
		CHECK(why != NULL && why[0]);
		CHECK(env == NULL);
		return 0;
	}
	CHECK(why == NULL);
	check_valid(env);
	/* Fixed: field number 0 is refused by st_wire_unpack. */
	CHECK(!has_unknown_field0(&env->base));

	/* Re-encode, decode, re-encode: the second encoding is stable. */
	CHECK(st_wire_pack(env, &b1, &l1) == 0);
	rc = st_wire_unpack(b1, l1, &env2, &why);
	CHECK(rc == 0);
	check_valid(env2);
	CHECK(st_wire_pack(env2, &b2, &l2) == 0);
	CHECK(l2 == l1);
	CHECK(memcmp(b1, b2, l1) == 0);
	rc = st_wire_unpack(b2, l2, &env3, &why);
	CHECK(rc == 0);

	st_wire_free(env);
	st_wire_free(env2);
	st_wire_free(env3);
	free(b1);
	free(b2);
	return 0;
}
