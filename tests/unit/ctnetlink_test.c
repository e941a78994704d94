// SPDX-License-Identifier: MIT
/*
 * The ctnetlink parser (cli/ctnetlink.c) on hand-built messages laid out
 * the way the kernel's ctnetlink_conntrack_event() lays them out: event
 * type from message type and flags, the original tuple, TCP state from the
 * nested protoinfo, big-endian timeout/mark/zone/status/id, and rejection
 * of messages that are not conntrack events or whose lengths lie. The
 * per-CPU statistics parser adds across messages.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>

#include "cli/ctnetlink.h"

/* A message under construction, with a stack of open nests. */
struct mb {
	uint8_t buf[1024];
	size_t len;
	size_t nest[4];
	int depth;
};

static void mb_init(struct mb *m, uint16_t type, uint16_t flags)
{
	struct nlmsghdr *nh = (void *)m->buf;
	struct nfgenmsg *g = (void *)(m->buf + NLMSG_HDRLEN);

	memset(m, 0, sizeof(*m));
	nh->nlmsg_type = type;
	nh->nlmsg_flags = flags;
	g->nfgen_family = AF_INET;
	m->len = NLMSG_SPACE(sizeof(*g));
}

static void mb_attr(struct mb *m, uint16_t type, const void *data, size_t n)
{
	struct nlattr *a = (void *)(m->buf + m->len);

	a->nla_type = type;
	a->nla_len = (uint16_t)(NLA_HDRLEN + n);
	memcpy(m->buf + m->len + NLA_HDRLEN, data, n);
	m->len += NLA_ALIGN(a->nla_len);
}

static void mb_be32(struct mb *m, uint16_t type, uint32_t v)
{
	v = htonl(v);
	mb_attr(m, type, &v, 4);
}

static void mb_open(struct mb *m, uint16_t type)
{
	struct nlattr *a = (void *)(m->buf + m->len);

	a->nla_type = type | NLA_F_NESTED;
	m->nest[m->depth++] = m->len;
	m->len += NLA_HDRLEN;
}

static void mb_close(struct mb *m)
{
	struct nlattr *a = (void *)(m->buf + m->nest[--m->depth]);

	a->nla_len = (uint16_t)(m->len - m->nest[m->depth]);
}

static size_t mb_end(struct mb *m)
{
	((struct nlmsghdr *)m->buf)->nlmsg_len = (uint32_t)m->len;
	return m->len;
}

/* A TCP conntrack event 10.0.0.1:40000 -> 10.0.0.2:80 in state st. */
static size_t tcp_event(struct mb *m, uint16_t msgtype, uint16_t flags, uint8_t st, int timeout)
{
	uint32_t src = inet_addr("10.0.0.1"), dst = inet_addr("10.0.0.2");
	uint16_t sp = htons(40000), dp = htons(80), zone = htons(5);
	uint8_t proto = 6;

	mb_init(m, (NFNL_SUBSYS_CTNETLINK << 8) | msgtype, flags);
	mb_open(m, CTA_TUPLE_ORIG);
	mb_open(m, CTA_TUPLE_IP);
	mb_attr(m, CTA_IP_V4_SRC, &src, 4);
	mb_attr(m, CTA_IP_V4_DST, &dst, 4);
	mb_close(m);
	mb_open(m, CTA_TUPLE_PROTO);
	mb_attr(m, CTA_PROTO_NUM, &proto, 1);
	mb_attr(m, CTA_PROTO_SRC_PORT, &sp, 2);
	mb_attr(m, CTA_PROTO_DST_PORT, &dp, 2);
	mb_close(m);
	mb_close(m);
	mb_be32(m, CTA_STATUS, 0xe);
	if (timeout >= 0)
		mb_be32(m, CTA_TIMEOUT, (uint32_t)timeout);
	mb_be32(m, CTA_MARK, 7);
	mb_attr(m, CTA_ZONE, &zone, 2);
	mb_be32(m, CTA_ID, 0xdeadbeef);
	mb_open(m, CTA_PROTOINFO);
	mb_open(m, CTA_PROTOINFO_TCP);
	mb_attr(m, CTA_PROTOINFO_TCP_STATE, &st, 1);
	mb_close(m);
	mb_close(m);
	return mb_end(m);
}

static void test_new_event(void **state)
{
	struct st_ct_event ev;
	struct mb m;
	size_t n = tcp_event(&m, IPCTNL_MSG_CT_NEW, NLM_F_CREATE | NLM_F_EXCL, 1, 120);

	(void)state;
	assert_int_equal(st_ct_parse(m.buf, n, &ev), 0);
	assert_int_equal(ev.type, ST_CT_NEW);
	assert_int_equal(ev.proto, 6);
	assert_int_equal(ev.src, inet_addr("10.0.0.1"));
	assert_int_equal(ev.dst, inet_addr("10.0.0.2"));
	assert_int_equal(ntohs(ev.sport), 40000);
	assert_int_equal(ntohs(ev.dport), 80);
	assert_int_equal(ev.timeout, 120);
	assert_int_equal(ev.mark, 7);
	assert_int_equal(ev.zone, 5);
	assert_int_equal(ev.status, 0xe);
	assert_int_equal(ev.id, 0xdeadbeef);
	assert_true(ev.has_tcp_state);
	assert_string_equal(st_ct_tcp_state_name(ev.tcp_state), "SYN_SENT");
}

static void test_update_and_destroy(void **state)
{
	struct st_ct_event ev;
	struct mb m;
	size_t n;

	(void)state;
	n = tcp_event(&m, IPCTNL_MSG_CT_NEW, 0, 3, 432000);
	assert_int_equal(st_ct_parse(m.buf, n, &ev), 0);
	assert_int_equal(ev.type, ST_CT_UPDATE);
	assert_string_equal(st_ct_tcp_state_name(ev.tcp_state), "ESTABLISHED");
	assert_int_equal(ev.timeout, 432000);

	n = tcp_event(&m, IPCTNL_MSG_CT_DELETE, 0, 7, -1);
	assert_int_equal(st_ct_parse(m.buf, n, &ev), 0);
	assert_int_equal(ev.type, ST_CT_DESTROY);
	assert_int_equal(ev.timeout, -1);
	assert_string_equal(st_ct_tcp_state_name(ev.tcp_state), "TIME_WAIT");
}

static void test_ipv6(void **state)
{
	uint8_t src[16] = { 0xfd, 0, [15] = 1 }, dst[16] = { 0xfd, 0, [15] = 2 }, proto = 17;
	uint16_t sp = htons(5353), dp = htons(53);
	struct st_ct_event ev;
	struct mb m;
	size_t n;

	(void)state;
	mb_init(&m, (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW, NLM_F_CREATE);
	((struct nfgenmsg *)(m.buf + NLMSG_HDRLEN))->nfgen_family = AF_INET6;
	mb_open(&m, CTA_TUPLE_ORIG);
	mb_open(&m, CTA_TUPLE_IP);
	mb_attr(&m, CTA_IP_V6_SRC, src, 16);
	mb_attr(&m, CTA_IP_V6_DST, dst, 16);
	mb_close(&m);
	mb_open(&m, CTA_TUPLE_PROTO);
	mb_attr(&m, CTA_PROTO_NUM, &proto, 1);
	mb_attr(&m, CTA_PROTO_SRC_PORT, &sp, 2);
	mb_attr(&m, CTA_PROTO_DST_PORT, &dp, 2);
	mb_close(&m);
	mb_close(&m);
	mb_be32(&m, CTA_TIMEOUT, 30);
	n = mb_end(&m);
	assert_int_equal(st_ct_parse(m.buf, n, &ev), 0);
	assert_int_equal(ev.type, ST_CT_NEW);
	assert_int_equal(ev.family, AF_INET6);
	assert_memory_equal(ev.src6, src, 16);
	assert_memory_equal(ev.dst6, dst, 16);
	assert_int_equal(ev.src, 0);
	assert_int_equal(ev.proto, 17);
	assert_int_equal(ntohs(ev.dport), 53);
	assert_int_equal(ev.timeout, 30);
	assert_false(ev.has_tcp_state);
}

static void test_rejects(void **state)
{
	struct st_ct_event ev;
	struct mb m;
	size_t n;

	(void)state;
	n = tcp_event(&m, IPCTNL_MSG_CT_NEW, 0, 3, 10);
	/* Shorter than its header says. */
	assert_int_equal(st_ct_parse(m.buf, n - 4, &ev), -EINVAL);
	/* Not a conntrack message: an expectation event. */
	((struct nlmsghdr *)m.buf)->nlmsg_type = (NFNL_SUBSYS_CTNETLINK_EXP << 8);
	assert_int_equal(st_ct_parse(m.buf, n, &ev), -EINVAL);
	/* An attribute claiming more than the message has: the walk stops
	 * there and nothing past the message is read. */
	n = tcp_event(&m, IPCTNL_MSG_CT_NEW, 0, 3, 10);
	((struct nlattr *)(m.buf + NLMSG_SPACE(sizeof(struct nfgenmsg))))->nla_len = 2000;
	assert_int_equal(st_ct_parse(m.buf, n, &ev), 0);
	assert_int_equal(ev.src, 0);
	assert_int_equal(ev.proto, 0);
	assert_int_equal(ev.timeout, -1);
	assert_string_equal(st_ct_tcp_state_name(200), "?");
}

static void test_stats(void **state)
{
	uint64_t v[ST_CTS_N] = { 0 };
	struct mb m;
	size_t n;

	(void)state;
	mb_init(&m, (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET_STATS_CPU, NLM_F_MULTI);
	mb_be32(&m, CTA_STATS_FOUND, 10);
	mb_be32(&m, CTA_STATS_INVALID, 3);
	mb_be32(&m, CTA_STATS_DROP, 1);
	n = mb_end(&m);
	assert_int_equal(st_ct_stats_parse(m.buf, n, v), 0);
	assert_int_equal(st_ct_stats_parse(m.buf, n, v), 0);	/* a second CPU */
	assert_int_equal(v[ST_CTS_FOUND], 20);
	assert_int_equal(v[ST_CTS_INVALID], 6);
	assert_int_equal(v[ST_CTS_DROP], 2);
	assert_int_equal(v[ST_CTS_EARLY_DROP], 0);
	assert_string_equal(st_cts_names[ST_CTS_INVALID], "invalid");
	/* An event is not a stats message. */
	n = tcp_event(&m, IPCTNL_MSG_CT_NEW, 0, 3, 10);
	assert_int_equal(st_ct_stats_parse(m.buf, n, v), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_event),
		cmocka_unit_test(test_update_and_destroy),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_stats),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
