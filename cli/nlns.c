// SPDX-License-Identifier: MIT
/*
 * One rtnetlink socket per network namespace (see nlns.h). Entering a
 * namespace to open its socket uses st_local_netns_enter_path(), which the
 * single-threaded commands can afford: nothing else observes the switch.
 */
#include "nlns.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static struct st_nlns *get(struct st_nlns_set *s, uint32_t ino, const char *name,
			   const char *path)
{
	struct st_nlns *nv;
	int self = -1;

	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].ino == ino) {
			s->v[i].present = s->v[i].nl != NULL;
			return &s->v[i];
		}
	nv = realloc(s->v, (s->n + 1) * sizeof(*nv));
	if (!nv)
		return NULL;
	s->v = nv;
	nv = &s->v[s->n++];
	memset(nv, 0, sizeof(*nv));
	nv->ino = ino;
	snprintf(nv->name, sizeof(nv->name), "%s", name);
	/* A namespace that cannot be read stays in the set without a socket,
	 * so the warning is printed once. */
	if (path && (self = st_local_netns_enter_path(path)) < 0) {
		fprintf(stderr, "warning: cannot enter netns %s: %s\n", path, strerror(-self));
		return nv;
	}
	nv->nl = mnl_socket_open(NETLINK_ROUTE);
	if (nv->nl && mnl_socket_bind(nv->nl, 0, MNL_SOCKET_AUTOPID)) {
		mnl_socket_close(nv->nl);
		nv->nl = NULL;
	}
	if (self >= 0)
		st_local_netns_leave(self);
	if (!nv->nl)
		fprintf(stderr, "warning: no netlink socket in netns %u: %s\n", ino, strerror(errno));
	nv->present = nv->nl != NULL;
	return nv;
}

void st_nlns_refresh(struct st_nlns_set *s, const struct st_local_opts *o)
{
	struct dirent *de;
	DIR *d;

	for (size_t i = 0; i < s->n; i++)
		s->v[i].present = 0;
	if (o->netns_set) {
		const char *nm = st_local_netns_name(o->netns_ino);
		char path[512];

		if (o->netns_ino == st_local_self_netns()) {
			get(s, o->netns_ino, "", NULL);
		} else if (strchr(o->netns, '/')) {
			get(s, o->netns_ino, nm ? nm : "", o->netns);
		} else if (nm) {
			snprintf(path, sizeof(path), "/run/netns/%s", nm);
			get(s, o->netns_ino, nm, path);
		}
		return;
	}
	get(s, st_local_self_netns(), "", NULL);
	d = opendir("/run/netns");
	if (!d)
		return;
	while ((de = readdir(d))) {
		char path[512];
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/run/netns/%s", de->d_name);
		if (!stat(path, &st))
			get(s, (uint32_t)st.st_ino, de->d_name, path);
	}
	closedir(d);
}

int st_nlns_dump(struct st_nlns_set *s, struct st_nlns *ns, struct nlmsghdr *req,
		 mnl_cb_t cb, void *data)
{
	char buf[MNL_SOCKET_BUFFER_SIZE * 2];
	unsigned portid = mnl_socket_get_portid(ns->nl);
	int ret;

	req->nlmsg_seq = ++s->seq;
	if (mnl_socket_sendto(ns->nl, req, req->nlmsg_len) < 0)
		return -errno;
	while ((ret = mnl_socket_recvfrom(ns->nl, buf, sizeof(buf))) > 0) {
		ret = mnl_cb_run(buf, ret, req->nlmsg_seq, portid, cb, data);
		if (ret <= MNL_CB_STOP)
			break;
	}
	return ret < 0 ? -errno : 0;
}

void st_nlns_free(struct st_nlns_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].nl)
			mnl_socket_close(s->v[i].nl);
	free(s->v);
	memset(s, 0, sizeof(*s));
}
