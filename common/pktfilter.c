// SPDX-License-Identifier: MIT
#include "pktfilter.h"

#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

int st_proto_number(const char *name)
{
	uint64_t v;

	if (!strcasecmp(name, "tcp"))
		return 6;
	if (!strcasecmp(name, "udp"))
		return 17;
	if (!strcasecmp(name, "icmp"))
		return 1;
	if (!st_parse_u64(name, &v) && v >= 1 && v <= 255)
		return (int)v;
	return -1;
}

void st_pkt_filter_set(struct st_pkt_filter *f, int proto, uint16_t sport,
		       uint16_t dport, const struct st_cidr *src,
		       const struct st_cidr *dst, int either)
{
	memset(f, 0, sizeof(*f));
	if (proto > 0) {
		f->flags |= ST_PF_PROTO;
		f->proto = (uint8_t)proto;
	}
	if (sport) {
		f->flags |= ST_PF_SPORT;
		f->sport = htons(sport);
	}
	if (dport) {
		f->flags |= ST_PF_DPORT;
		f->dport = htons(dport);
	}
	if (src && src->set) {
		f->flags |= ST_PF_SRC;
		f->src_addr = src->addr;
		f->src_mask = src->mask;
	}
	if (dst && dst->set) {
		f->flags |= ST_PF_DST;
		f->dst_addr = dst->addr;
		f->dst_mask = dst->mask;
	}
	if (either)
		f->flags |= ST_PF_EITHER;
}
