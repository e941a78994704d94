/* SPDX-License-Identifier: MIT */
/*
 * A hash map from 64-bit keys to pointers: open addressing with linear
 * probing and backward-shift deletion (no tombstones, so long-running
 * insert/delete churn — the collector's pending-packet table — never
 * degrades). Keys must be non-zero; callers hash composite keys to 64 bits
 * and check the full key in the value on lookup.
 */
#ifndef ST_U64MAP_H
#define ST_U64MAP_H

#include <stddef.h>
#include <stdint.h>

struct st_u64map {
	uint64_t *keys;
	void **vals;
	size_t cap;	/* power of two */
	size_t len;
};

int st_u64map_init(struct st_u64map *m, size_t cap_hint);
void st_u64map_free(struct st_u64map *m);
void *st_u64map_get(const struct st_u64map *m, uint64_t key);
/* Insert or replace; returns 0 or -ENOMEM. */
int st_u64map_put(struct st_u64map *m, uint64_t key, void *val);
/* Remove and return the value, or NULL. */
void *st_u64map_del(struct st_u64map *m, uint64_t key);
/* Iterate: for (size_t i = 0; st_u64map_next(m, &i, &k, &v); ) — do not
 * insert while iterating; deleting the current key is allowed only via
 * st_u64map_del followed by not advancing i (see collector code). */
int st_u64map_next(const struct st_u64map *m, size_t *it, uint64_t *key, void **val);

#endif /* ST_U64MAP_H */
