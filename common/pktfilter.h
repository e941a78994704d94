/* SPDX-License-Identifier: MIT */
/*
 * Filling the BPF header filter (bpf/filter.h) from command-line values,
 * the same way for the agent and every local command.
 */
#ifndef ST_PKTFILTER_H
#define ST_PKTFILTER_H

#include <stdint.h>

#include "../bpf/filter.h"
#include "opts.h"

/* "tcp", "udp", "icmp" (any case) or a number 1-255 -> IP protocol
 * number; -1 for anything else. */
int st_proto_number(const char *name);

/*
 * proto: IP protocol number, 0 for any. Ports in host order, 0 for any.
 * src/dst: unset (set == 0) for any.
 */
void st_pkt_filter_set(struct st_pkt_filter *f, int proto, uint16_t sport,
		       uint16_t dport, const struct st_cidr *src,
		       const struct st_cidr *dst, int either);

/* Whether any header filter is on (the packet must be parsed for it). */
static inline int st_pkt_filter_active(const struct st_pkt_filter *f)
{
	return (f->flags & ST_PF_HEADERS) != 0;
}

#endif /* ST_PKTFILTER_H */
