// SPDX-License-Identifier: MIT
/*
 * ctnetlink over plain netlink; see ctnetlink.h. Attributes are walked
 * with the kernel's own alignment rules (NLA_ALIGN); nested attributes
 * carry NLA_F_NESTED, which is masked off before comparing types. Every
 * length is checked before a read, so a short or odd message is rejected,
 * never overread. Multi-byte values in ctnetlink are big endian.
 */
#include "ctnetlink.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "local.h"

const char *const st_cts_names[ST_CTS_N] = {
	"found", "invalid", "insert", "insert_failed", "drop", "early_drop", "error",
	"search_restart", "clash_resolve", "chain_toolong",
};

const char *st_ct_tcp_state_name(uint8_t s)
{
	static const char *const n[] = {
		"NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT",
		"LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2",
	};

	return s < sizeof(n) / sizeof(n[0]) ? n[s] : "?";
}

/* Attributes of a nested block: tb[type] = the attribute, for type <= max. */
static void attrs(const void *buf, size_t len, const struct nlattr **tb, int max)
{
	const char *p = buf;

	memset(tb, 0, (max + 1) * sizeof(*tb));
	while (len >= NLA_HDRLEN) {
		const struct nlattr *a = (const void *)p;
		int type = a->nla_type & NLA_TYPE_MASK;
		size_t al = NLA_ALIGN(a->nla_len);

		if (a->nla_len < NLA_HDRLEN || a->nla_len > len)
			return;
		if (type <= max)
			tb[type] = a;
		if (al >= len)
			return;
		p += al;
		len -= al;
	}
}

static const void *pay(const struct nlattr *a)
{
	return (const char *)a + NLA_HDRLEN;
}

static size_t paylen(const struct nlattr *a)
{
	return a->nla_len - NLA_HDRLEN;
}

static int get_be32(const struct nlattr *a, uint32_t *v)
{
	uint32_t x;

	if (!a || paylen(a) < 4)
		return -1;
	memcpy(&x, pay(a), 4);
	*v = ntohl(x);
	return 0;
}

static int get_be16(const struct nlattr *a, uint16_t *v)
{
	uint16_t x;

	if (!a || paylen(a) < 2)
		return -1;
	memcpy(&x, pay(a), 2);
	*v = ntohs(x);
	return 0;
}

static void parse_tuple(const struct nlattr *t, struct st_ct_event *ev)
{
	const struct nlattr *tb[CTA_TUPLE_MAX + 1], *ip[CTA_IP_MAX + 1], *pr[CTA_PROTO_MAX + 1];

	attrs(pay(t), paylen(t), tb, CTA_TUPLE_MAX);
	if (tb[CTA_TUPLE_IP]) {
		attrs(pay(tb[CTA_TUPLE_IP]), paylen(tb[CTA_TUPLE_IP]), ip, CTA_IP_MAX);
		if (ip[CTA_IP_V4_SRC] && paylen(ip[CTA_IP_V4_SRC]) >= 4)
			memcpy(&ev->src, pay(ip[CTA_IP_V4_SRC]), 4);
		if (ip[CTA_IP_V4_DST] && paylen(ip[CTA_IP_V4_DST]) >= 4)
			memcpy(&ev->dst, pay(ip[CTA_IP_V4_DST]), 4);
		if (ip[CTA_IP_V6_SRC] && paylen(ip[CTA_IP_V6_SRC]) >= 16)
			memcpy(ev->src6, pay(ip[CTA_IP_V6_SRC]), 16);
		if (ip[CTA_IP_V6_DST] && paylen(ip[CTA_IP_V6_DST]) >= 16)
			memcpy(ev->dst6, pay(ip[CTA_IP_V6_DST]), 16);
	}
	if (tb[CTA_TUPLE_PROTO]) {
		attrs(pay(tb[CTA_TUPLE_PROTO]), paylen(tb[CTA_TUPLE_PROTO]), pr, CTA_PROTO_MAX);
		if (pr[CTA_PROTO_NUM] && paylen(pr[CTA_PROTO_NUM]) >= 1)
			ev->proto = *(const uint8_t *)pay(pr[CTA_PROTO_NUM]);
		if (pr[CTA_PROTO_SRC_PORT] && paylen(pr[CTA_PROTO_SRC_PORT]) >= 2)
			memcpy(&ev->sport, pay(pr[CTA_PROTO_SRC_PORT]), 2);
		if (pr[CTA_PROTO_DST_PORT] && paylen(pr[CTA_PROTO_DST_PORT]) >= 2)
			memcpy(&ev->dport, pay(pr[CTA_PROTO_DST_PORT]), 2);
	}
}

int st_ct_parse(const void *msg, size_t len, struct st_ct_event *ev)
{
	const struct nlmsghdr *nh = msg;
	const struct nlattr *tb[CTA_MAX + 1];
	const struct nfgenmsg *g;
	size_t hl = NLMSG_SPACE(sizeof(struct nfgenmsg));
	int sub, type;
	uint32_t v32;

	if (len < hl || nh->nlmsg_len < hl || nh->nlmsg_len > len)
		return -EINVAL;
	sub = NFNL_SUBSYS_ID(nh->nlmsg_type);
	type = NFNL_MSG_TYPE(nh->nlmsg_type);
	if (sub != NFNL_SUBSYS_CTNETLINK ||
	    (type != IPCTNL_MSG_CT_NEW && type != IPCTNL_MSG_CT_DELETE))
		return -EINVAL;
	memset(ev, 0, sizeof(*ev));
	g = NLMSG_DATA(nh);
	ev->family = g->nfgen_family;
	ev->timeout = -1;
	if (type == IPCTNL_MSG_CT_DELETE)
		ev->type = ST_CT_DESTROY;
	else if (nh->nlmsg_flags & (NLM_F_CREATE | NLM_F_EXCL))
		ev->type = ST_CT_NEW;
	else
		ev->type = ST_CT_UPDATE;
	attrs((const char *)msg + hl, nh->nlmsg_len - hl, tb, CTA_MAX);
	if (tb[CTA_TUPLE_ORIG])
		parse_tuple(tb[CTA_TUPLE_ORIG], ev);
	if (!get_be32(tb[CTA_TIMEOUT], &v32))
		ev->timeout = v32;
	get_be32(tb[CTA_STATUS], &ev->status);
	get_be32(tb[CTA_MARK], &ev->mark);
	get_be32(tb[CTA_ID], &ev->id);
	get_be16(tb[CTA_ZONE], &ev->zone);
	if (tb[CTA_PROTOINFO]) {
		const struct nlattr *pi[CTA_PROTOINFO_MAX + 1], *tcp[CTA_PROTOINFO_TCP_MAX + 1];

		attrs(pay(tb[CTA_PROTOINFO]), paylen(tb[CTA_PROTOINFO]), pi, CTA_PROTOINFO_MAX);
		if (pi[CTA_PROTOINFO_TCP]) {
			attrs(pay(pi[CTA_PROTOINFO_TCP]), paylen(pi[CTA_PROTOINFO_TCP]), tcp,
			      CTA_PROTOINFO_TCP_MAX);
			if (tcp[CTA_PROTOINFO_TCP_STATE] && paylen(tcp[CTA_PROTOINFO_TCP_STATE]) >= 1) {
				ev->tcp_state = *(const uint8_t *)pay(tcp[CTA_PROTOINFO_TCP_STATE]);
				ev->has_tcp_state = 1;
			}
		}
	}
	return 0;
}

int st_ct_stats_parse(const void *msg, size_t len, uint64_t v[ST_CTS_N])
{
	static const int map[ST_CTS_N] = {
		CTA_STATS_FOUND, CTA_STATS_INVALID, CTA_STATS_INSERT, CTA_STATS_INSERT_FAILED,
		CTA_STATS_DROP, CTA_STATS_EARLY_DROP, CTA_STATS_ERROR, CTA_STATS_SEARCH_RESTART,
		CTA_STATS_CLASH_RESOLVE, CTA_STATS_CHAIN_TOOLONG,
	};
	const struct nlmsghdr *nh = msg;
	const struct nlattr *tb[CTA_STATS_MAX + 1];
	size_t hl = NLMSG_SPACE(sizeof(struct nfgenmsg));

	if (len < hl || nh->nlmsg_len < hl || nh->nlmsg_len > len ||
	    NFNL_MSG_TYPE(nh->nlmsg_type) != IPCTNL_MSG_CT_GET_STATS_CPU)
		return -EINVAL;
	attrs((const char *)msg + hl, nh->nlmsg_len - hl, tb, CTA_STATS_MAX);
	for (int i = 0; i < ST_CTS_N; i++) {
		uint32_t x;

		if (map[i] <= CTA_STATS_MAX && !get_be32(tb[map[i]], &x))
			v[i] += x;
	}
	return 0;
}

/* A netlink netfilter socket created inside netns ino. */
static int nl_open_in(uint32_t ino, unsigned groups)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = groups };
	int self = st_local_netns_enter(ino), fd, err = 0, sz = 4 << 20;

	if (self < 0 && self != ST_LOCAL_NETNS_SAME)
		return self;
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_NETFILTER);
	if (fd < 0)
		err = -errno;
	st_local_netns_leave(self);
	if (err)
		return err;
	/* A burst of connections must not overflow the queue; as root the
	 * force variant ignores rmem_max. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int st_ct_events_open(uint32_t ino)
{
	unsigned g = (1u << (NFNLGRP_CONNTRACK_NEW - 1)) | (1u << (NFNLGRP_CONNTRACK_UPDATE - 1)) |
		     (1u << (NFNLGRP_CONNTRACK_DESTROY - 1));

	return nl_open_in(ino, g);
}

int st_ct_events_read(int fd, void (*cb)(void *ctx, const struct st_ct_event *ev), void *ctx)
{
	static char buf[1 << 16];
	int n = 0;

	for (;;) {
		ssize_t r = recv(fd, buf, sizeof(buf), 0);
		struct nlmsghdr *nh;
		size_t left;

		if (r < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return n;
			if (errno == EINTR)
				continue;
			return -errno;
		}
		left = (size_t)r;
		for (nh = (void *)buf; NLMSG_OK(nh, left); nh = NLMSG_NEXT(nh, left)) {
			struct st_ct_event ev;

			if (!st_ct_parse(nh, nh->nlmsg_len, &ev)) {
				cb(ctx, &ev);
				n++;
			}
		}
	}
}

int st_ct_stats_read(uint32_t ino, uint64_t v[ST_CTS_N])
{
	struct {
		struct nlmsghdr nh;
		struct nfgenmsg g;
	} req = {
		.nh = {
			.nlmsg_len = sizeof(req),
			.nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET_STATS_CPU,
			.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
			.nlmsg_seq = 1,
		},
		.g = { .nfgen_family = AF_UNSPEC, .version = NFNETLINK_V0 },
	};
	static char buf[1 << 16];
	int fd = nl_open_in(ino, 0), rc = -EIO;

	if (fd < 0)
		return fd;
	memset(v, 0, ST_CTS_N * sizeof(v[0]));
	if (send(fd, &req, sizeof(req), 0) != (ssize_t)sizeof(req)) {
		rc = -errno;
		goto out;
	}
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		struct nlmsghdr *nh;
		ssize_t r;
		size_t left;

		if (poll(&p, 1, 2000) <= 0) {
			rc = -ETIMEDOUT;
			goto out;
		}
		r = recv(fd, buf, sizeof(buf), 0);
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			rc = -errno;
			goto out;
		}
		left = (size_t)r;
		for (nh = (void *)buf; NLMSG_OK(nh, left); nh = NLMSG_NEXT(nh, left)) {
			if (nh->nlmsg_type == NLMSG_DONE) {
				rc = 0;
				goto out;
			}
			if (nh->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(nh);

				rc = e->error ? e->error : -EIO;
				goto out;
			}
			st_ct_stats_parse(nh, nh->nlmsg_len, v);
		}
	}
out:
	close(fd);
	return rc;
}
