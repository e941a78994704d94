// SPDX-License-Identifier: MIT
/*
 * Which VM is behind a tap device, learned from what runs on the host, so
 * the matrix is keyed by VM name without a --vm flag per tap:
 *
 *  1. libvirt's live domain status files (DIR/NAME.xml, by default
 *     /run/libvirt/qemu): the domain's <name>, <uuid>, and for every
 *     <interface> its <target dev='vnetN'/> (the tap libvirt created);
 *  2. qemu processes (/proc/PID/cmdline with "qemu" in argv[0]): the
 *     -name value (guest=NAME,... or NAME,...) and every
 *     -netdev tap,...,ifname=TAP (qemu opened that tap by name; libvirt
 *     passes fds instead, which is why 1 comes first), and -uuid.
 *
 * Both are re-read at most every few seconds, when the agent rescans its
 * devices; a tap named explicitly with --vm keeps that name. Only the
 * elements above are read from the XML: a small tolerant scanner (either
 * quote style, any attribute order) rather than an XML library, since the
 * status files are libvirt's own and these elements are flat. Matching is
 * by device name: taps of VMs in other network namespaces with equal names
 * cannot be told apart (not a configuration libvirt creates).
 */
#include "agent.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "timeutil.h"

#define VMID_MAX 1024
#define FILE_MAX (1 << 20)

struct vmid {
	char tap[32];
	char name[64];
	char uuid[40];
	char source[12];	/* "libvirt" or "qemu" */
};

static struct vmid ids[VMID_MAX];
static int n_ids;
static int64_t last_ns;

static void add(const char *tap, const char *name, const char *uuid, const char *src)
{
	struct vmid *v;

	if (!tap[0] || !name[0] || n_ids == VMID_MAX)
		return;
	for (int i = 0; i < n_ids; i++)
		if (!strcmp(ids[i].tap, tap))
			return;		/* libvirt first, then qemu: first one wins */
	v = &ids[n_ids++];
	snprintf(v->tap, sizeof(v->tap), "%s", tap);
	snprintf(v->name, sizeof(v->name), "%s", name);
	snprintf(v->uuid, sizeof(v->uuid), "%s", uuid ? uuid : "");
	snprintf(v->source, sizeof(v->source), "%s", src);
}

static char *slurp(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char *buf;
	size_t n = 0;
	ssize_t r;

	if (fd < 0)
		return NULL;
	buf = malloc(FILE_MAX + 1);
	while (buf && n < FILE_MAX && (r = read(fd, buf + n, FILE_MAX - n)) > 0)
		n += (size_t)r;
	close(fd);
	if (buf)
		buf[n] = '\0';
	*len = n;
	return buf;
}

/* Text of the first <tag>...</tag> at or after p (before end), into out. */
static int elem_text(const char *p, const char *end, const char *tag, char *out, size_t len)
{
	char open_[40], close_[40];
	const char *a, *b;

	snprintf(open_, sizeof(open_), "<%s>", tag);
	snprintf(close_, sizeof(close_), "</%s>", tag);
	if (!(a = strstr(p, open_)) || a >= end)
		return -1;
	a += strlen(open_);
	if (!(b = strstr(a, close_)) || b > end)
		return -1;
	while (a < b && (*a == ' ' || *a == '\n' || *a == '\t'))
		a++;
	while (b > a && (b[-1] == ' ' || b[-1] == '\n' || b[-1] == '\t'))
		b--;
	snprintf(out, len, "%.*s", (int)(b - a), a);
	return 0;
}

/* Value of attribute attr inside the tag starting at p ("<target dev='x'/>"). */
static int attr_value(const char *p, const char *attr, char *out, size_t len)
{
	const char *gt = strchr(p, '>'), *a = p;
	size_t al = strlen(attr);

	while ((a = strstr(a, attr)) != NULL && (!gt || a < gt)) {
		const char *v = a + al;
		char q;

		if ((a[-1] == ' ' || a[-1] == '\t' || a[-1] == '\n') && *v == '=' &&
		    (v[1] == '\'' || v[1] == '"')) {
			const char *e;

			q = v[1];
			v += 2;
			if (!(e = strchr(v, q)))
				return -1;
			snprintf(out, len, "%.*s", (int)(e - v), v);
			return 0;
		}
		a = v;
	}
	return -1;
}

static void read_libvirt(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		size_t nl = strlen(e->d_name), len;
		char path[512], name[64], uuid[40] = "", tap[32];
		char *x, *p, *end, *dom;

		if (nl < 5 || strcmp(e->d_name + nl - 4, ".xml"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (!(x = slurp(path, &len)))
			continue;
		/* A status file wraps the live <domain> in <domstatus>. */
		dom = strstr(x, "<domain");
		end = x + len;
		if (!dom || elem_text(dom, end, "name", name, sizeof(name))) {
			free(x);
			continue;
		}
		elem_text(dom, end, "uuid", uuid, sizeof(uuid));
		for (p = dom; (p = strstr(p, "<interface")) != NULL; p++) {
			char *ie = strstr(p, "</interface>"), *t = strstr(p, "<target");

			if (t && (!ie || t < ie) && !attr_value(t, "dev", tap, sizeof(tap)))
				add(tap, name, uuid, "libvirt");
		}
		free(x);
	}
	closedir(d);
}

/* "guest=web-1,debug-threads=on" or "web-1,..." -> "web-1". */
static void qemu_name(const char *v, char *out, size_t len)
{
	const char *s = !strncmp(v, "guest=", 6) ? v + 6 : v, *c = strchr(s, ',');

	snprintf(out, len, "%.*s", (int)(c ? (size_t)(c - s) : strlen(s)), s);
}

static void read_qemu(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		char path[64], name[64] = "", uuid[40] = "", *x, *a, *end;
		const char *taps[16];
		int nt = 0;
		size_t len;

		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%.20s/cmdline", e->d_name);
		if (!(x = slurp(path, &len)) || !len) {
			free(x);
			continue;
		}
		end = x + len;
		{
			const char *base = strrchr(x, '/');

			if (!strstr(base ? base + 1 : x, "qemu")) {
				free(x);
				continue;
			}
		}
		for (a = x; a < end; a += strlen(a) + 1) {
			char *next = a + strlen(a) + 1;

			if (next >= end)
				break;
			if (!strcmp(a, "-name"))
				qemu_name(next, name, sizeof(name));
			else if (!strcmp(a, "-uuid"))
				snprintf(uuid, sizeof(uuid), "%s", next);
			else if ((!strcmp(a, "-netdev") || !strcmp(a, "-net")) &&
				 !strncmp(next, "tap", 3) && nt < 16) {
				char *f = strstr(next, "ifname=");

				if (f)
					taps[nt++] = f + 7;
			}
		}
		for (int i = 0; i < nt; i++) {
			char tap[32];
			const char *c = strchr(taps[i], ',');

			snprintf(tap, sizeof(tap), "%.*s",
				 (int)(c ? (size_t)(c - taps[i]) : strlen(taps[i])), taps[i]);
			add(tap, name, uuid, "qemu");
		}
		free(x);
	}
	closedir(d);
}

void st_vmident_refresh(const struct st_agent_cfg *cfg)
{
	int64_t now = (int64_t)st_mono_ns();

	if (cfg->no_vm_discovery || (last_ns && now - last_ns < 1500000000LL))
		return;
	last_ns = now;
	n_ids = 0;
	read_libvirt(cfg->libvirt_dir ? cfg->libvirt_dir : "/run/libvirt/qemu");
	read_qemu();
}

const char *st_vmident_find(const char *tap, const char **uuid, const char **source)
{
	for (int i = 0; i < n_ids; i++)
		if (!strcmp(ids[i].tap, tap)) {
			if (uuid)
				*uuid = ids[i].uuid;
			if (source)
				*source = ids[i].source;
			return ids[i].name;
		}
	return NULL;
}
