/* SPDX-License-Identifier: MIT */
/*
 * Framing of protobuf messages on the nng sockets.
 *
 * An nng message is exactly one encoded Envelope: nng already frames
 * messages, so no length prefix is added. Decoding is the trust boundary:
 * size is capped, the version is checked, the oneof must be set, and
 * semantic limits (stamps per path, string lengths, stage ids) are enforced
 * here so the collector's logic can assume sane input.
 */
#ifndef ST_WIRE_H
#define ST_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "stagetrace.pb-c.h"

#define ST_WIRE_VERSION 1
#define ST_WIRE_MAX_MSG (16u << 20)
#define ST_WIRE_MAX_STAMPS 64
#define ST_WIRE_MAX_STR 256

typedef Stagetrace__V1__Envelope st_envelope;
typedef Stagetrace__V1__Batch st_batch;
typedef Stagetrace__V1__HostPath st_hostpath;

/* Pack env into a malloc'd buffer. Returns 0 or -errno. */
int st_wire_pack(const st_envelope *env, uint8_t **buf, size_t *len);
/*
 * Unpack and validate. On failure returns -EINVAL/-EMSGSIZE/-EPROTO and
 * writes a short reason into why (for counting and logs).
 */
int st_wire_unpack(const uint8_t *buf, size_t len, st_envelope **env,
		   const char **why);
void st_wire_free(st_envelope *env);
/* Pack an Ack envelope (status: 0 stored, 1 duplicate, 2 rejected). */
int st_wire_pack_ack(uint64_t seq, uint32_t status, const char *error,
		     uint8_t **buf, size_t *len);

#endif /* ST_WIRE_H */
