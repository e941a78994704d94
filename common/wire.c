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

/*
 * Unknown fields are kept by protobuf-c and packed again when the
 * collector rewrites an inbox row; one numbered 0 (invalid in protobuf,
 * yet accepted by the parser in some encodings) would be re-packed into
 * bytes the parser then rejects, and the row would be lost. Such messages
 * are refused here, at every nesting level.
 */
static int bad_unknown(const ProtobufCMessage *m, int depth)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	const char *base = (const char *)m;

	if (depth > 8)
		return 1;
	for (unsigned i = 0; i < m->n_unknown_fields; i++)
		if (m->unknown_fields[i].tag == 0)
			return 1;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];

		if (f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)(base + f->quantifier_offset);
			ProtobufCMessage *const *v = *(ProtobufCMessage *const **)(base + f->offset);

			for (size_t j = 0; j < n; j++)
				if (v[j] && bad_unknown(v[j], depth + 1))
					return 1;
		} else {
			const ProtobufCMessage *sub;

			if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
			    *(const uint32_t *)(base + f->quantifier_offset) != f->id)
				continue;
			sub = *(ProtobufCMessage *const *)(base + f->offset);
			if (sub && bad_unknown(sub, depth + 1))
				return 1;
		}
	}
	return 0;
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
	if (bad_unknown(&env->base, 0)) {
		*why = "field number 0";
		goto bad;
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

int st_wire_pack_ack(uint64_t seq, uint32_t status, const char *error,
		     uint8_t **buf, size_t *len)
{
	Stagetrace__V1__Envelope env = STAGETRACE__V1__ENVELOPE__INIT;
	Stagetrace__V1__Ack ack = STAGETRACE__V1__ACK__INIT;

	ack.seq = seq;
	ack.status = status;
	ack.error = (char *)(error ? error : "");
	env.version = ST_WIRE_VERSION;
	env.body_case = STAGETRACE__V1__ENVELOPE__BODY_ACK;
	env.ack = &ack;
	return st_wire_pack(&env, buf, len);
}
