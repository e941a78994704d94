/* SPDX-License-Identifier: MIT */
/*
 * Matching a packet key against struct st_pkt_filter (bpf/filter.h), for
 * every BPF program that filters on headers.
 */
#ifndef ST_FILTER_BPF_H
#define ST_FILTER_BPF_H

#include "filter.h"
#include "pktkey.h"

static __always_inline int st_pf_dir(const struct st_pkt_filter *f,
				     const struct st_pkt_key *k, int rev)
{
	__u32 s = rev ? k->daddr : k->saddr, d = rev ? k->saddr : k->daddr;
	__u16 sp = rev ? k->dport : k->sport, dp = rev ? k->sport : k->dport;

	if ((f->flags & ST_PF_SPORT) && sp != f->sport)
		return 0;
	if ((f->flags & ST_PF_DPORT) && dp != f->dport)
		return 0;
	if ((f->flags & ST_PF_SRC) && (s & f->src_mask) != f->src_addr)
		return 0;
	if ((f->flags & ST_PF_DST) && (d & f->dst_mask) != f->dst_addr)
		return 0;
	return 1;
}

/* 1 when the packet passes. */
static __always_inline int st_pf_match(const struct st_pkt_filter *f,
				       const struct st_pkt_key *k)
{
	if ((f->flags & ST_PF_PROTO) && k->proto != f->proto)
		return 0;
	if (st_pf_dir(f, k, 0))
		return 1;
	return (f->flags & ST_PF_EITHER) && st_pf_dir(f, k, 1);
}

#endif /* ST_FILTER_BPF_H */
