// SPDX-License-Identifier: MIT
#include "wire.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int st_wire_pack(const st_envelope *env, uint8_t **buf, size_t *len)
{
	size_t n = stagetrace__v1__envelope__get_packed_size(env);
	uint8_t *b;

	if (n > ST_WIRE_MAX_MSG)
		return -EMSGSIZE;
	b = malloc(n ? n : 1);
	if (!b)
		return -ENOMEM;
	*len = stagetrace__v1__envelope__pack(env, b);
	*buf = b;
	return 0;
}

static int str_ok(const char *s)
{
	return !s || strnlen(s, ST_WIRE_MAX_STR + 1) <= ST_WIRE_MAX_STR;
}

static int batch_ok(const st_batch *b, const char **why)
{
	if (!b->host || !*b->host || !str_ok(b->host)) {
		*why = "bad host name";
		return 0;
	}
	if (b->seq == 0) {
		*why = "sequence number 0";
		return 0;
	}
	for (size_t i = 0; i < b->n_stages; i++)
		if (!str_ok(b->stages[i]->name)) {
			*why = "bad stage name";
			return 0;
		}
	for (size_t i = 0; i < b->n_paths; i++) {
		const st_hostpath *p = b->paths[i];

		if (!p->key) {
			*why = "path without key";
			return 0;
		}
		if (p->n_stamps == 0 || p->n_stamps > ST_WIRE_MAX_STAMPS) {
			*why = "path stamp count out of range";
			return 0;
		}
		if (!str_ok(p->vm_in) || !str_ok(p->vm_out)) {
			*why = "bad vm name";
			return 0;
		}
		for (size_t j = 0; j < p->n_stamps; j++)
			if (!str_ok(p->stamps[j]->dev)) {
				*why = "bad device name";
				return 0;
			}
	}
	return 1;
}

int st_wire_unpack(const uint8_t *buf, size_t len, st_envelope **out,
		   const char **why)
{
	st_envelope *env;

	*why = NULL;
	if (len > ST_WIRE_MAX_MSG) {
		*why = "message too large";
		return -EMSGSIZE;
	}
	env = stagetrace__v1__envelope__unpack(NULL, len, buf);
	if (!env) {
		*why = "not a valid protobuf envelope";
		return -EINVAL;
	}
	if (env->version != ST_WIRE_VERSION) {
		*why = "unsupported wire version";
		goto bad;
	}
	switch (env->body_case) {
	case STAGETRACE__V1__ENVELOPE__BODY_BATCH:
		if (!batch_ok(env->batch, why))
			goto bad;
		break;
	case STAGETRACE__V1__ENVELOPE__BODY_ACK:
	case STAGETRACE__V1__ENVELOPE__BODY_CLOCK_PROBE:
	case STAGETRACE__V1__ENVELOPE__BODY_CLOCK_ECHO:
		break;
	default:
		*why = "empty envelope";
		goto bad;
	}
	*out = env;
	return 0;
bad:
	stagetrace__v1__envelope__free_unpacked(env, NULL);
	return -EPROTO;
}

void st_wire_free(st_envelope *env)
{
	if (env)
		stagetrace__v1__envelope__free_unpacked(env, NULL);
}
