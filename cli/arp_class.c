// SPDX-License-Identifier: MIT
/*
 * ARP frame classification; see arp_class.h. The tables are small arrays
 * searched linearly: ARP is rare next to data traffic, entries expire after
 * the window, and the search frees expired entries as it passes them, so a
 * table only fills up with live entries (and then says so in lost).
 */
#include "arp_class.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int st_arp_state_init(struct st_arp_state *s, size_t cap, double window_s)
{
	memset(s, 0, sizeof(*s));
	s->pending = calloc(cap, sizeof(*s->pending));
	s->claims = calloc(cap, sizeof(*s->claims));
	if (!s->pending || !s->claims) {
		st_arp_state_free(s);
		return -ENOMEM;
	}
	s->cap = cap;
	s->window_ns = (uint64_t)(window_s * 1e9);
	return 0;
}

void st_arp_state_free(struct st_arp_state *s)
{
	free(s->pending);
	free(s->claims);
	s->pending = s->claims = NULL;
}

/* The live memo of (netns, ifindex, ip) in t, or NULL; expired ones are freed. */
static struct st_arp_memo *memo_find(struct st_arp_state *s, struct st_arp_memo *t,
				     uint32_t netns, uint32_t ifindex, uint32_t ip, uint64_t now)
{
	for (size_t i = 0; i < s->cap; i++) {
		struct st_arp_memo *m = &t[i];

		if (!m->used)
			continue;
		if (now > m->ts && now - m->ts > s->window_ns) {
			m->used = 0;
			continue;
		}
		if (m->netns == netns && m->ifindex == ifindex && m->ip == ip)
			return m;
	}
	return NULL;
}

static struct st_arp_memo *memo_new(struct st_arp_state *s, struct st_arp_memo *t)
{
	for (size_t i = 0; i < s->cap; i++)
		if (!t[i].used)
			return &t[i];
	s->lost++;
	return NULL;
}

static void memo_set(struct st_arp_memo *m, const struct st_arp_event *e, uint32_t ip,
		     const uint8_t *mac)
{
	m->ts = e->ts;
	m->netns = e->netns;
	m->ifindex = e->ifindex;
	m->ip = ip;
	memset(m->mac, 0, sizeof(m->mac));
	if (mac)
		memcpy(m->mac, mac, 6);
	m->used = 1;
}

unsigned st_arp_classify(struct st_arp_state *s, const struct st_arp_event *e, uint8_t prev[6])
{
	static const uint8_t zero[6];
	struct st_arp_memo *m;
	unsigned f = 0;

	if (!e->spa)
		return ST_ARPF_PROBE;
	if (e->spa == e->tpa)
		f |= ST_ARPF_GRATUITOUS;

	if (e->dir == ST_ARP_TX) {
		/* A request we send awaits one reply; a repeated one restarts
		 * the wait. */
		if (e->op == 1 && !(f & ST_ARPF_GRATUITOUS)) {
			m = memo_find(s, s->pending, e->netns, e->ifindex, e->tpa, e->ts);
			if (!m)
				m = memo_new(s, s->pending);
			if (m)
				memo_set(m, e, e->tpa, NULL);
		}
	} else if (e->op == 2 && !(f & ST_ARPF_GRATUITOUS)) {
		m = memo_find(s, s->pending, e->netns, e->ifindex, e->spa, e->ts);
		if (m)
			m->used = 0;	/* answered */
		else
			f |= ST_ARPF_UNSOLICITED;
	}

	/* Every frame says "spa is at sha"; received ones may contradict. */
	m = memo_find(s, s->claims, e->netns, e->ifindex, e->spa, e->ts);
	if (m && e->dir == ST_ARP_RX && memcmp(m->mac, e->sha, 6) && memcmp(e->sha, zero, 6)) {
		f |= ST_ARPF_CONFLICT;
		memcpy(prev, m->mac, 6);
	}
	if (!m)
		m = memo_new(s, s->claims);
	if (m)
		memo_set(m, e, e->spa, e->sha);
	return f;
}
