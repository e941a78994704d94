// SPDX-License-Identifier: MIT
/*
 * Device discovery: which interfaces exist in the traced network
 * namespaces and what each one is to the data path (VM port, uplink,
 * tunnel, bridge). Tracepoints are global and ifindex values repeat
 * between namespaces, so devices are always keyed by (netns inode,
 * ifindex), both here and in the BPF dev_roles map.
 *
 * To look inside a namespace the calling thread setns()es into it, lists
 * its interfaces (if_nameindex and the ethtool driver name, both through
 * sockets created inside it), and returns to its own namespace.
 */
#include "agent.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "stage_names.h"
#include "stages.skel.h"

static int netns_open(const char *name)
{
	char path[256];

	if (strchr(name, '/'))
		snprintf(path, sizeof(path), "%s", name);
	else
		snprintf(path, sizeof(path), "/run/netns/%s", name);
	return open(path, O_RDONLY | O_CLOEXEC);
}

int st_netns_inode(const char *name, uint32_t *ino)
{
	struct stat st;
	int fd = netns_open(name);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		int err = -errno;

		close(fd);
		return err;
	}
	close(fd);
	*ino = (uint32_t)st.st_ino;
	return 0;
}

static void driver_name(int sock, const char *ifname, char *out, size_t len)
{
	struct ethtool_drvinfo di = { .cmd = ETHTOOL_GDRVINFO };
	struct ifreq ifr = { 0 };

	out[0] = '\0';
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = (void *)&di;
	if (ioctl(sock, SIOCETHTOOL, &ifr) == 0)
		snprintf(out, len, "%s", di.driver);
}

static int in_list(const struct st_strlist *l, const char *name, const char **val)
{
	size_t n = strlen(name);

	for (int i = 0; i < l->n; i++) {
		const char *e = l->v[i];

		if (!strcmp(e, name)) {
			if (val)
				*val = NULL;
			return 1;
		}
		if (!strncmp(e, name, n) && e[n] == '=') {
			if (val)
				*val = e + n + 1;
			return 1;
		}
	}
	return 0;
}

static void classify(const struct st_agent_cfg *cfg, struct st_dev *d,
		     const char *drv)
{
	const char *vm = NULL;

	d->vm[0] = '\0';
	if (in_list(&cfg->uplinks, d->name, NULL)) {
		d->role = ST_ROLE_UPLINK;
	} else if (in_list(&cfg->vms, d->name, &vm)) {
		d->role = ST_ROLE_VM;
		snprintf(d->vm, sizeof(d->vm), "%.*s", (int)sizeof(d->vm) - 1,
			 vm ? vm : d->name);
	} else if (!strcmp(drv, "tun")) {
		/* A tap is a VM port: named after its VM where libvirt or the
		 * qemu command line tells (vmident.c), else by its device. */
		const char *n = st_vmident_find(d->name, NULL, NULL);

		d->role = ST_ROLE_VM;
		snprintf(d->vm, sizeof(d->vm), "%s", n ? n : d->name);
	} else if (!strcmp(drv, "vxlan") || !strcmp(drv, "geneve")) {
		d->role = ST_ROLE_TUNNEL;
	} else if (!strcmp(drv, "bridge") || !strcmp(drv, "openvswitch")) {
		d->role = ST_ROLE_BRIDGE;
	} else {
		d->role = ST_ROLE_OTHER;
	}
}

/* List the current thread's namespace into t, tagging entries with ino. */
static int scan_current(const struct st_agent_cfg *cfg, struct st_devtab *t,
			uint32_t ino)
{
	struct if_nameindex *ifs = if_nameindex(), *i;
	int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (!ifs || sock < 0) {
		int err = -errno;

		if (ifs)
			if_freenameindex(ifs);
		if (sock >= 0)
			close(sock);
		return err;
	}
	for (i = ifs; i->if_index && t->n < ST_MAX_DEVS; i++) {
		struct st_dev *d = &t->devs[t->n++];
		char drv[32];

		d->netns = ino;
		d->ifindex = i->if_index;
		strncpy(d->name, i->if_name, sizeof(d->name) - 1);
		d->name[sizeof(d->name) - 1] = 0;
		driver_name(sock, d->name, drv, sizeof(drv));
		classify(cfg, d, drv);
	}
	if_freenameindex(ifs);
	close(sock);
	return 0;
}

static int scan_netns(const struct st_agent_cfg *cfg, struct st_devtab *t,
		      const char *name, uint32_t *ino_out)
{
	int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	int fd = netns_open(name);
	struct stat st;
	int err = 0;

	if (self < 0 || fd < 0) {
		err = -errno;
		goto out;
	}
	if (fstat(fd, &st) || setns(fd, CLONE_NEWNET)) {
		err = -errno;
		goto out;
	}
	*ino_out = (uint32_t)st.st_ino;
	err = scan_current(cfg, t, *ino_out);
	if (setns(self, CLONE_NEWNET)) {
		/* Staying in a foreign namespace would corrupt later scans. */
		pr_err("cannot return to own network namespace: %s", strerror(errno));
		err = -errno;
	}
out:
	if (self >= 0)
		close(self);
	if (fd >= 0)
		close(fd);
	return err;
}

const struct st_dev *st_devices_find(const struct st_devtab *t, uint32_t netns,
				     uint32_t ifindex)
{
	for (int i = 0; i < t->n; i++)
		if (t->devs[i].netns == netns && t->devs[i].ifindex == ifindex)
			return &t->devs[i];
	return NULL;
}

/* Rebuild the device table and push roles into BPF. Devices that vanished
 * are removed from the map so a reused ifindex never inherits a role. */
int st_devices_scan(struct st_agent *a)
{
	struct st_devtab *nt = calloc(1, sizeof(*nt));
	int mfd = bpf_map__fd(a->skel->maps.dev_roles);
	int nfd = bpf_map__fd(a->skel->maps.netns_allow);
	int err = 0;

	if (!nt)
		return -ENOMEM;
	st_vmident_refresh(&a->cfg);
	if (a->cfg.netns.n == 0) {
		/* Our own namespace: no setns(), which needs CAP_SYS_ADMIN, and
		 * the agent drops that after start-up when it has no --netns to
		 * enter (a failed rescan used to wipe every role 2 s in). */
		struct stat st;

		if (stat("/proc/self/ns/net", &st)) {
			err = -errno;
		} else {
			nt->netns_inodes[0] = (uint32_t)st.st_ino;
			err = scan_current(&a->cfg, nt, nt->netns_inodes[0]);
			if (!err)
				nt->n_netns = 1;
		}
	}
	for (int i = 0; i < a->cfg.netns.n && i < 64; i++) {
		uint32_t ino = 0;
		int rc = scan_netns(&a->cfg, nt, a->cfg.netns.v[i], &ino);

		if (rc) {
			pr_warn("netns %s: %s", a->cfg.netns.v[i], strerror(-rc));
			err = rc;
			continue;
		}
		nt->netns_inodes[nt->n_netns++] = ino;
	}
	if (err && nt->n == 0) {
		/* Nothing scanned at all: keep the roles we have rather than
		 * turning every VM port and uplink into "other". */
		pr_warn("device rescan failed (%s); keeping the previous device table",
			strerror(-err));
		free(nt);
		return err;
	}
	for (int i = 0; i < a->devs.n; i++) {
		const struct st_dev *o = &a->devs.devs[i];

		if (!st_devices_find(nt, o->netns, o->ifindex)) {
			struct st_dev_key k = { o->netns, o->ifindex };

			bpf_map_delete_elem(mfd, &k);
		}
	}
	for (int i = 0; i < nt->n; i++) {
		const struct st_dev *d = &nt->devs[i];
		const struct st_dev *o = st_devices_find(&a->devs, d->netns, d->ifindex);
		struct st_dev_key k = { d->netns, d->ifindex };
		struct st_dev_val v = { .role = d->role };

		if (!o || o->role != d->role || strcmp(o->name, d->name))
			pr_debug("device %s (netns %u ifindex %u) role %s%s%s", d->name,
				 d->netns, d->ifindex, st_role_name(d->role),
				 d->vm[0] ? " vm " : "", d->vm);
		if (d->role == ST_ROLE_VM && (!o || strcmp(o->vm, d->vm))) {
			const char *uuid = "", *src = NULL;

			if (st_vmident_find(d->name, &uuid, &src) && !strcmp(d->vm,
			    st_vmident_find(d->name, NULL, NULL)))
				pr_info("tap %s: VM %s%s%s (from %s)", d->name, d->vm,
					uuid[0] ? " uuid " : "", uuid, src);
		}
		if (bpf_map_update_elem(mfd, &k, &v, BPF_ANY))
			pr_warn("dev_roles update %s: %s", d->name, strerror(errno));
	}
	for (int i = 0; i < nt->n_netns; i++) {
		uint8_t one = 1;

		bpf_map_update_elem(nfd, &nt->netns_inodes[i], &one, BPF_ANY);
	}
	a->devs = *nt;
	free(nt);
	return err;
}
