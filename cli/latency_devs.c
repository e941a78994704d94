// SPDX-License-Identifier: MIT
/*
 * stagetrace latency: device roles. The stage programs name a stage after
 * the hook and the role of the device (common/stage_names.c: a tap's
 * receive is "tap_rcv", an uplink's driver hand-off "nic_tx") and end a
 * host path when a packet reaches an uplink's driver, so the roles decide
 * both the names and where a path stops. They come from the link kinds
 * rtnetlink reports in each traced namespace:
 *
 *   tun            a VM port: with --vm only the taps whose names match the
 *                  pattern (others stay "dev"); with --host none
 *   bridge, openvswitch     bridge
 *   vxlan, geneve           tunnel
 *   loopback                other (no path ends there)
 *   anything else (physical NICs, veth, bonds)   uplink
 *
 * --host traces its own namespace (or --netns); --vm every namespace in
 * which a matching tap lives (or --netns). --dev keeps only that device.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fnmatch.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "latency_int.h"
#include "stages.skel.h"

struct lat_dev {
	struct st_dev_key k;
	uint8_t role;
};

struct scan {
	struct lat *l;
	uint32_t netns;
	struct lat_dev *v;
	size_t n;
	int vm_here;		/* a selected tap in this namespace */
};

static int attr_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	int t = mnl_attr_get_type(a);

	if (mnl_attr_type_valid(a, IFLA_MAX) >= 0)
		tb[t] = a;
	return MNL_CB_OK;
}

static int info_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	int t = mnl_attr_get_type(a);

	if (mnl_attr_type_valid(a, IFLA_INFO_MAX) >= 0)
		tb[t] = a;
	return MNL_CB_OK;
}

static uint8_t role_of(const struct lat *l, const char *name, const char *kind,
		       unsigned flags)
{
	if (flags & IFF_LOOPBACK)
		return ST_ROLE_OTHER;
	if (!strcmp(kind, "tun"))
		return l->mode == LAT_VM && !fnmatch(l->lo.vm, name, 0) ? ST_ROLE_VM :
								       ST_ROLE_OTHER;
	if (!strcmp(kind, "bridge") || !strcmp(kind, "openvswitch"))
		return ST_ROLE_BRIDGE;
	if (!strcmp(kind, "vxlan") || !strcmp(kind, "geneve"))
		return ST_ROLE_TUNNEL;
	return ST_ROLE_UPLINK;
}

static int link_cb(const struct nlmsghdr *nlh, void *data)
{
	struct scan *sc = data;
	const struct ifinfomsg *ifm = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[IFLA_MAX + 1] = { 0 }, *info[IFLA_INFO_MAX + 1] = { 0 };
	const char *name, *kind = "";
	struct lat_dev *nv;

	mnl_attr_parse(nlh, sizeof(*ifm), attr_cb, tb);
	if (!tb[IFLA_IFNAME])
		return MNL_CB_OK;
	name = mnl_attr_get_str(tb[IFLA_IFNAME]);
	if (tb[IFLA_LINKINFO]) {
		mnl_attr_parse_nested(tb[IFLA_LINKINFO], info_cb, info);
		if (info[IFLA_INFO_KIND])
			kind = mnl_attr_get_str(info[IFLA_INFO_KIND]);
	}
	if (sc->l->lo.dev_set && (sc->netns != sc->l->lo.dev_netns ||
				  (uint32_t)ifm->ifi_index != sc->l->lo.dev_ifindex))
		return MNL_CB_OK;
	nv = realloc(sc->v, (sc->n + 1) * sizeof(*nv));
	if (!nv)
		return MNL_CB_ERROR;
	sc->v = nv;
	nv[sc->n].k.netns = sc->netns;
	nv[sc->n].k.ifindex = (uint32_t)ifm->ifi_index;
	nv[sc->n].role = role_of(sc->l, name, kind, ifm->ifi_flags);
	if (nv[sc->n].role == ST_ROLE_VM)
		sc->vm_here = 1;
	sc->n++;
	return MNL_CB_OK;
}

static int dump_links(struct lat *l, struct st_nlns *ns, struct scan *sc)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ifinfomsg *ifm;

	nlh->nlmsg_type = RTM_GETLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;
	return st_nlns_dump(&l->ns, ns, nlh, link_cb, sc);
}

static int has_key(const struct lat_dev *v, size_t n, const struct st_dev_key *k)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].k.netns == k->netns && v[i].k.ifindex == k->ifindex)
			return 1;
	return 0;
}

int lat_devices_scan(struct lat *l)
{
	int rfd = bpf_map__fd(l->skel->maps.dev_roles);
	int nfd = bpf_map__fd(l->skel->maps.netns_allow);
	struct st_local_opts which = l->lo;
	struct lat_dev *all = NULL;
	struct st_dev_key *keys;
	size_t nall = 0;
	uint32_t nvm = 0;

	/* --host without --netns: this host's own namespace. */
	if (l->mode == LAT_HOST && !which.netns_set) {
		which.netns_set = 1;
		which.netns_ino = st_local_self_netns();
	}
	if (which.dev_set) {
		which.netns_set = 1;
		which.netns_ino = which.dev_netns;
	}
	st_nlns_refresh(&l->ns, &which);
	for (size_t i = 0; i < l->ns.n; i++) {
		struct scan sc = { .l = l, .netns = l->ns.v[i].ino };
		uint8_t one = 1;

		if (!l->ns.v[i].present)
			continue;
		if (dump_links(l, &l->ns.v[i], &sc)) {
			l->scan_errors++;
			free(sc.v);
			continue;
		}
		/* --vm: only the namespaces that hold one of its taps. */
		if (l->mode == LAT_VM && !sc.vm_here) {
			free(sc.v);
			bpf_map_delete_elem(nfd, &sc.netns);
			continue;
		}
		bpf_map_update_elem(nfd, &sc.netns, &one, BPF_ANY);
		for (size_t j = 0; j < sc.n; j++) {
			struct st_dev_val v = { .role = sc.v[j].role };
			struct lat_dev *na;

			if (bpf_map_update_elem(rfd, &sc.v[j].k, &v, BPF_ANY))
				l->scan_errors++;
			nvm += sc.v[j].role == ST_ROLE_VM;
			na = realloc(all, (nall + 1) * sizeof(*na));
			if (!na)
				break;
			all = na;
			all[nall++] = sc.v[j];
		}
		free(sc.v);
	}
	/* A device that is gone loses its role: its ifindex may come back
	 * as something else. */
	for (size_t i = 0; i < l->nkeys; i++)
		if (!has_key(all, nall, &l->keys[i]))
			bpf_map_delete_elem(rfd, &l->keys[i]);
	keys = calloc(nall ? nall : 1, sizeof(*keys));
	if (keys) {
		for (size_t i = 0; i < nall; i++)
			keys[i] = all[i].k;
		free(l->keys);
		l->keys = keys;
		l->nkeys = nall;
	}
	free(all);
	l->ndevs = (uint32_t)nall;
	l->nvm = nvm;
	if (l->mode == LAT_VM && !nvm)
		return -ENODEV;
	if (l->lo.dev_set && !nall)
		return -ENODEV;
	return 0;
}
