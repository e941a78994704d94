// SPDX-License-Identifier: MIT
#include "u64map.h"

#include <errno.h>
#include <stdlib.h>

#include "pktkey.h"

static size_t slot(const struct st_u64map *m, uint64_t key)
{
	return (size_t)st_mix64(key) & (m->cap - 1);
}

int st_u64map_init(struct st_u64map *m, size_t hint)
{
	size_t cap = 16;

	while (cap < hint * 2)
		cap <<= 1;
	m->keys = calloc(cap, sizeof(*m->keys));
	m->vals = calloc(cap, sizeof(*m->vals));
	m->cap = cap;
	m->len = 0;
	if (!m->keys || !m->vals) {
		st_u64map_free(m);
		return -ENOMEM;
	}
	return 0;
}

void st_u64map_free(struct st_u64map *m)
{
	free(m->keys);
	free(m->vals);
	m->keys = NULL;
	m->vals = NULL;
	m->cap = m->len = 0;
}

void *st_u64map_get(const struct st_u64map *m, uint64_t key)
{
	if (!m->cap || !key)
		return NULL;
	for (size_t i = slot(m, key);; i = (i + 1) & (m->cap - 1)) {
		if (m->keys[i] == key)
			return m->vals[i];
		if (!m->keys[i])
			return NULL;
	}
}

static int grow(struct st_u64map *m)
{
	struct st_u64map n;
	int rc = st_u64map_init(&n, m->cap);

	if (rc)
		return rc;
	for (size_t i = 0; i < m->cap; i++)
		if (m->keys[i])
			st_u64map_put(&n, m->keys[i], m->vals[i]);
	st_u64map_free(m);
	*m = n;
	return 0;
}

int st_u64map_put(struct st_u64map *m, uint64_t key, void *val)
{
	size_t i;

	if (!key)
		return -EINVAL;
	if ((m->len + 1) * 4 > m->cap * 3 && grow(m))
		return -ENOMEM;
	for (i = slot(m, key); m->keys[i] && m->keys[i] != key;
	     i = (i + 1) & (m->cap - 1))
		;
	if (!m->keys[i])
		m->len++;
	m->keys[i] = key;
	m->vals[i] = val;
	return 0;
}

void *st_u64map_del(struct st_u64map *m, uint64_t key)
{
	size_t i, j, mask = m->cap - 1;
	void *v;

	/* Key 0 marks empty slots: it is never stored. */
	if (!m->cap || !key)
		return NULL;
	for (i = slot(m, key); m->keys[i] != key; i = (i + 1) & mask)
		if (!m->keys[i])
			return NULL;
	v = m->vals[i];
	/* Backward shift: pull later members of the probe run into the hole. */
	for (j = (i + 1) & mask; m->keys[j]; j = (j + 1) & mask) {
		size_t home = slot(m, m->keys[j]);

		if (((j - home) & mask) >= ((j - i) & mask)) {
			m->keys[i] = m->keys[j];
			m->vals[i] = m->vals[j];
			i = j;
		}
	}
	m->keys[i] = 0;
	m->vals[i] = NULL;
	m->len--;
	return v;
}

int st_u64map_next(const struct st_u64map *m, size_t *it, uint64_t *key, void **val)
{
	for (; *it < m->cap; (*it)++)
		if (m->keys[*it]) {
			*key = m->keys[*it];
			*val = m->vals[*it];
			(*it)++;
			return 1;
		}
	return 0;
}
