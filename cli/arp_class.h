/* SPDX-License-Identifier: MIT */
/*
 * Classifying ARP frames, for stagetrace arp: the memory of requests sent
 * and addresses claimed per (netns, device), and the rules that turn a
 * frame into flags. Pure user-space logic on struct st_arp_event, fed in
 * ring-buffer order, so it is unit tested without a kernel
 * (tests/unit/arp_class_test.c).
 *
 *   probe        sender IP 0.0.0.0 (duplicate address detection)
 *   gratuitous   sender IP == target IP
 *   unsolicited  received reply, no request for that IP sent from the same
 *                (netns, device) within the window; a request answers one
 *                reply
 *   conflict     received frame whose sender IP was claimed by another MAC
 *                on the same (netns, device) within the window
 * Sent frames only record requests and claims.
 */
#ifndef ST_CLI_ARP_CLASS_H
#define ST_CLI_ARP_CLASS_H

#include <stddef.h>
#include <stdint.h>

#include "bpf/arp.h"

enum st_arp_flag {
	ST_ARPF_PROBE = 1 << 0,
	ST_ARPF_GRATUITOUS = 1 << 1,
	ST_ARPF_UNSOLICITED = 1 << 2,
	ST_ARPF_CONFLICT = 1 << 3,
};

/* A request sent (awaiting its reply) or an IP claimed by a MAC. */
struct st_arp_memo {
	uint64_t ts;
	uint32_t netns, ifindex, ip;
	uint8_t mac[6];
	uint8_t used;
};

struct st_arp_state {
	struct st_arp_memo *pending, *claims;
	size_t cap;		/* entries in each table */
	uint64_t window_ns;
	uint64_t lost;		/* requests/claims that found no free entry */
};

/* 0 or -ENOMEM. */
int st_arp_state_init(struct st_arp_state *s, size_t cap, double window_s);
void st_arp_state_free(struct st_arp_state *s);
/* Flags (enum st_arp_flag) of frame e; for a conflict, prev gets the MAC
 * the earlier claim had. Updates the state. */
unsigned st_arp_classify(struct st_arp_state *s, const struct st_arp_event *e, uint8_t prev[6]);

#endif /* ST_CLI_ARP_CLASS_H */
