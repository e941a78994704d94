// SPDX-License-Identifier: MIT
/*
 * Generic netlink reader of the OVS datapath counters (see ovsdp.h). Two
 * requests on one socket: resolve the family id of "ovs_datapath", then
 * dump OVS_DP_CMD_GET (an ovs_header with dp_ifindex 0 selects all
 * datapaths of the namespace). Attributes the running kernel lacks are
 * left at zero: the megaflow statistics exist since Linux 3.12.
 */
#include "ovsdp.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/openvswitch.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct dp_ctx {
	struct st_ovsdp_stats *out;
	int max, n;
	uint16_t family;
};

static int family_attr(const struct nlattr *a, void *data)
{
	struct dp_ctx *x = data;

	if (mnl_attr_get_type(a) == CTRL_ATTR_FAMILY_ID &&
	    mnl_attr_validate(a, MNL_TYPE_U16) >= 0)
		x->family = mnl_attr_get_u16(a);
	return MNL_CB_OK;
}

static int family_cb(const struct nlmsghdr *nlh, void *data)
{
	return mnl_attr_parse(nlh, sizeof(struct genlmsghdr), family_attr, data);
}

static int dp_attr(const struct nlattr *a, void *data)
{
	struct st_ovsdp_stats *s = data;
	size_t len = mnl_attr_get_payload_len(a);

	switch (mnl_attr_get_type(a)) {
	case OVS_DP_ATTR_NAME:
		snprintf(s->name, sizeof(s->name), "%.*s", (int)len,
			 (const char *)mnl_attr_get_payload(a));
		break;
	case OVS_DP_ATTR_STATS:
		if (len >= sizeof(struct ovs_dp_stats)) {
			struct ovs_dp_stats d;

			memcpy(&d, mnl_attr_get_payload(a), sizeof(d));
			s->hit = d.n_hit;
			s->missed = d.n_missed;
			s->lost = d.n_lost;
			s->flows = d.n_flows;
		}
		break;
	case OVS_DP_ATTR_MEGAFLOW_STATS:
		if (len >= sizeof(struct ovs_dp_megaflow_stats)) {
			struct ovs_dp_megaflow_stats m;

			memcpy(&m, mnl_attr_get_payload(a), sizeof(m));
			s->mask_hit = m.n_mask_hit;
			s->masks = m.n_masks;
			s->cache_hit = m.n_cache_hit;
		}
		break;
	}
	return MNL_CB_OK;
}

static int dp_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dp_ctx *x = data;
	struct st_ovsdp_stats *s;

	if (x->n >= x->max)
		return MNL_CB_OK;
	s = &x->out[x->n++];
	memset(s, 0, sizeof(*s));
	return mnl_attr_parse(nlh, sizeof(struct genlmsghdr) + sizeof(struct ovs_header),
			      dp_attr, s);
}

/* Send one request and run its answers through cb. 0, or -1 with errno. */
static int ask(struct mnl_socket *nl, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	uint32_t portid = mnl_socket_get_portid(nl), seq = nlh->nlmsg_seq;
	ssize_t r;
	int rc = MNL_CB_OK;

	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -1;
	while (rc > MNL_CB_STOP && (r = mnl_socket_recvfrom(nl, buf, sizeof(buf))) > 0)
		rc = mnl_cb_run(buf, (size_t)r, seq, portid, cb, data);
	return rc < 0 ? -1 : 0;
}

int st_ovsdp_read(struct st_ovsdp_stats *out, int max)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct dp_ctx x = { out, max, 0, 0 };
	struct mnl_socket *nl = mnl_socket_open(NETLINK_GENERIC);
	struct nlmsghdr *nlh;
	struct genlmsghdr *g;
	struct ovs_header *oh;
	uint32_t seq = (uint32_t)time(NULL);
	int rc = -2;

	if (!nl)
		return -2;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
		goto out;
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = GENL_ID_CTRL;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = seq;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->cmd = CTRL_CMD_GETFAMILY;
	g->version = 1;
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, OVS_DATAPATH_FAMILY);
	if (ask(nl, nlh, family_cb, &x) || !x.family) {
		/* ENOENT: no such family, the module is not loaded. */
		rc = errno == ENOENT || !x.family ? -1 : -2;
		goto out;
	}
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = x.family;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = ++seq;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->cmd = OVS_DP_CMD_GET;
	g->version = OVS_DATAPATH_VERSION;
	oh = mnl_nlmsg_put_extra_header(nlh, sizeof(*oh));
	oh->dp_ifindex = 0;
	rc = ask(nl, nlh, dp_cb, &x) ? -2 : x.n;
out:
	mnl_socket_close(nl);
	return rc;
}
