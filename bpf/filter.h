/* SPDX-License-Identifier: MIT */
/*
 * The header filter every program applies after keying a packet and before
 * any further work: protocol, ports, source/destination CIDR, optionally
 * matching the reverse direction too. Plain types, shared by BPF programs
 * (bpf/filter.bpf.h matches) and user space (common/pktfilter.c fills).
 */
#ifndef ST_BPF_FILTER_H
#define ST_BPF_FILTER_H

#include "st_types.h"

#define ST_PF_PROTO  0x1
#define ST_PF_SPORT  0x2
#define ST_PF_DPORT  0x4
#define ST_PF_SRC    0x8
#define ST_PF_DST    0x10
#define ST_PF_EITHER 0x20	/* addresses/ports may match either direction */
/* Any filter that needs the packet's headers parsed. */
#define ST_PF_HEADERS (ST_PF_PROTO | ST_PF_SPORT | ST_PF_DPORT | ST_PF_SRC | ST_PF_DST)

struct st_pkt_filter {
	__u32 flags;
	__u8 proto;
	__u8 pad;
	__u16 sport;		/* network order */
	__u16 dport;		/* network order */
	__u16 pad2;
	__u32 src_addr, src_mask;	/* network order */
	__u32 dst_addr, dst_mask;
};

#endif /* ST_BPF_FILTER_H */
