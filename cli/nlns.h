/* SPDX-License-Identifier: MIT */
/*
 * rtnetlink in every network namespace, for the local commands that read
 * kernel counters (iface: links; qdisc --tc: qdiscs and classes).
 *
 * One NETLINK_ROUTE socket (libmnl) per namespace, opened once inside it
 * (a socket stays in the namespace it was created in, so no setns per
 * read). The set is refreshed every interval: our namespace and every
 * /run/netns entry, or only --netns; namespaces that appear later are
 * picked up, ones that are gone are skipped (their sockets stay open
 * until the set is freed).
 */
#ifndef ST_CLI_NLNS_H
#define ST_CLI_NLNS_H

#include <libmnl/libmnl.h>
#include <stddef.h>
#include <stdint.h>

#include "local.h"

struct st_nlns {
	uint32_t ino;		/* netns inode */
	char name[128];		/* /run/netns name, "" for ours */
	struct mnl_socket *nl;
	int present;		/* seen in the last refresh */
};

struct st_nlns_set {
	struct st_nlns *v;
	size_t n;
	uint32_t seq;
};

/* Mark the namespaces to read now (o->netns_set: only that one); open
 * sockets for new ones (a failure is warned about once and skipped). */
void st_nlns_refresh(struct st_nlns_set *s, const struct st_local_opts *o);
/*
 * Send the dump request req (NLM_F_REQUEST | NLM_F_DUMP set by the caller)
 * in ns and run cb on every answer until the dump ends. 0 or -errno.
 */
int st_nlns_dump(struct st_nlns_set *s, struct st_nlns *ns, struct nlmsghdr *req,
		 mnl_cb_t cb, void *data);
void st_nlns_free(struct st_nlns_set *s);

#endif /* ST_CLI_NLNS_H */
