/* SPDX-License-Identifier: MIT */
/*
 * ctnetlink, the kernel's conntrack netlink interface, spoken with plain
 * netlink sockets (no libnetfilter_conntrack): a socket subscribed to the
 * NEW/UPDATE/DESTROY event groups of one network namespace, a parser that
 * turns one event message into struct st_ct_event, and the per-CPU
 * statistics dump (IPCTNL_MSG_CT_GET_STATS_CPU) summed over CPUs.
 *
 * Netlink sockets belong to the namespace they were created in, so both
 * sockets are opened inside the namespace (st_local_netns_enter) and keep
 * reading it after we return to ours. Parsing is separate from I/O so the
 * unit test can feed it hand-built messages.
 */
#ifndef ST_CLI_CTNETLINK_H
#define ST_CLI_CTNETLINK_H

#include <stddef.h>
#include <stdint.h>

enum st_ct_type {
	ST_CT_NEW = 1,
	ST_CT_UPDATE,
	ST_CT_DESTROY,
};

struct st_ct_event {
	int type;		/* st_ct_type */
	uint8_t family;		/* AF_INET, AF_INET6 */
	uint8_t proto;		/* IP protocol of the original tuple */
	uint8_t tcp_state;	/* enum tcp_conntrack, valid when has_tcp_state */
	uint8_t has_tcp_state;
	uint32_t src, dst;	/* original tuple, IPv4, network order (0 for IPv6) */
	uint8_t src6[16], dst6[16];	/* original tuple, IPv6 (family AF_INET6) */
	uint16_t sport, dport;	/* network order */
	int64_t timeout;	/* seconds left, -1 when the message has none */
	uint32_t status;	/* IPS_* bits */
	uint32_t mark;
	uint16_t zone;
	uint32_t id;
};

/* Parse one netlink message (header included); 0, or -EINVAL when it is
 * not a conntrack event. */
int st_ct_parse(const void *msg, size_t len, struct st_ct_event *ev);

/* "ESTABLISHED", ... for enum tcp_conntrack values. */
const char *st_ct_tcp_state_name(uint8_t state);

/* Event socket in netns ino (0 or ours: our own); fd or -errno. */
int st_ct_events_open(uint32_t ino);

/*
 * Read what is queued on the event socket, calling cb per event. Returns
 * the number of events, or -errno; -ENOBUFS means the kernel dropped
 * events because the socket buffer was full (counted by the caller).
 */
int st_ct_events_read(int fd, void (*cb)(void *ctx, const struct st_ct_event *ev), void *ctx);

/* Conntrack statistics, summed over CPUs. */
enum {
	ST_CTS_FOUND, ST_CTS_INVALID, ST_CTS_INSERT, ST_CTS_INSERT_FAILED, ST_CTS_DROP,
	ST_CTS_EARLY_DROP, ST_CTS_ERROR, ST_CTS_SEARCH_RESTART, ST_CTS_CLASH_RESOLVE,
	ST_CTS_CHAIN_TOOLONG, ST_CTS_N,
};
extern const char *const st_cts_names[ST_CTS_N];
/* Parse one per-CPU stats message, adding into v. 0 or -EINVAL. */
int st_ct_stats_parse(const void *msg, size_t len, uint64_t v[ST_CTS_N]);
/* Dump and sum the stats of netns ino; 0 or -errno. */
int st_ct_stats_read(uint32_t ino, uint64_t v[ST_CTS_N]);

#endif /* ST_CLI_CTNETLINK_H */
