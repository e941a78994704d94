// SPDX-License-Identifier: MIT
/*
 * Shared plumbing of the local commands (see local.h for the contract).
 *
 * Options are one table fragment so every local tool spells, validates and
 * documents -i/-d/-c/--src-ip/... the same way; a command that does not
 * implement one refuses it by name. Name resolution (netns, device,
 * protocol) happens once, before any BPF is loaded, so a typo is a usage
 * error (exit 2) and never a silently empty trace.
 *
 * The run-time helpers read the kernel as it is: the attach method is found
 * by loading a trivial program (a feature probe that only asks can lie),
 * symbols come from /proc/kallsyms, enum names from the running kernel's
 * BTF. Device names in other network namespaces are read by entering the
 * namespace briefly with setns(); the commands are single threaded, so
 * nothing else observes the switch.
 */
#include "local.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pktfilter.h"
#include "timeutil.h"

#define NETNS_RUN_DIR "/run/netns"

/* ---- options -------------------------------------------------------------- */

void st_local_opts_init(struct st_local_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->interval = -1;
	o->duration = -1;
}

void st_local_opts_table(struct st_local_opts *o, unsigned supported,
			 struct st_opt *tab, size_t *n, size_t cap)
{
	static const char *no = "not supported by this command (refused)";
	const struct st_opt all[ST_LOCAL_NOPTS] = {
		{ "interval", 'i', ST_OPT_DURATION, &o->interval, "SEC",
		  "report every SEC seconds (default 1)", 0.01, 86400 },
		{ "duration", 'd', ST_OPT_DURATION, &o->duration, "SEC",
		  "stop after SEC seconds (default: until interrupted)" },
		{ "count", 'c', ST_OPT_U32, &o->count, "N",
		  "stop after N intervals", 1, 1e9 },
		{ "src-ip", 0, ST_OPT_CIDR, &o->src, "CIDR",
		  "only packets from this IPv4 address or CIDR" },
		{ "dst-ip", 0, ST_OPT_CIDR, &o->dst, "CIDR",
		  "only packets to this IPv4 address or CIDR" },
		{ "pid", 'p', ST_OPT_U32, &o->pid, "PID",
		  "only this process", 1, 4194304 },
		{ "verbose", 'v', ST_OPT_FLAG, &o->verbose, NULL,
		  "one event line per event" },
		{ "json", 0, ST_OPT_FLAG, &o->json, NULL,
		  "one JSON object per line instead of tables" },
		{ "netns", 0, ST_OPT_STR, &o->netns, "NS",
		  "only this network namespace (/run/netns name, path or inode)" },
		{ "dev", 0, ST_OPT_STR, &o->dev, "IFACE",
		  "only this device (in --netns if given, else ours)" },
		{ "vm", 0, ST_OPT_STR, &o->vm, "NAME", "only this VM's devices" },
		{ "proto", 0, ST_OPT_STR, &o->proto, "PROTO",
		  "only this IP protocol: tcp, udp, icmp or a number" },
		{ "sport", 0, ST_OPT_PORT, &o->sport, "PORT", "only this source port" },
		{ "dport", 0, ST_OPT_PORT, &o->dport, "PORT", "only this destination port" },
	};

	for (unsigned i = 0; i < ST_LOCAL_NOPTS && *n + 1 < cap; i++) {
		tab[*n] = all[i];
		if (!(supported & (1u << i)))
			tab[*n].help = no;
		(*n)++;
	}
	tab[*n] = (struct st_opt)ST_OPT_END;
}

static int refuse(const char *cmd, const char *opt)
{
	fprintf(stderr, "error: %s is not supported by %s\n", opt, cmd);
	return ST_EXIT_USAGE;
}

static int parse_proto(const char *s, uint8_t *out)
{
	int p = st_proto_number(s);

	if (p < 0)
		return -EINVAL;
	*out = (uint8_t)p;
	return 0;
}

/* The path to setns() into for a netns spec, or NULL for a bare inode. */
static const char *netns_path(const char *spec, char *buf, size_t len)
{
	uint64_t v;

	if (!st_parse_u64(spec, &v))
		return NULL;
	if (strchr(spec, '/'))
		return spec;
	snprintf(buf, len, NETNS_RUN_DIR "/%s", spec);
	return buf;
}

int st_local_netns_inode(const char *spec, uint32_t *ino)
{
	char buf[512];
	const char *path = netns_path(spec, buf, sizeof(buf));
	struct stat st;
	uint64_t v;

	if (!path) {
		st_parse_u64(spec, &v);
		if (!v || v > UINT32_MAX)
			return -EINVAL;
		*ino = (uint32_t)v;
		return 0;
	}
	if (stat(path, &st))
		return -errno;
	*ino = (uint32_t)st.st_ino;
	return 0;
}

uint32_t st_local_self_netns(void)
{
	struct stat st;

	if (stat("/proc/self/ns/net", &st))
		return 0;
	return (uint32_t)st.st_ino;
}

/* Enter the netns at path; returns an fd of the old one, or -errno. */
static int netns_enter(const char *path)
{
	int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC), fd, err;

	if (self < 0)
		return -errno;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNET)) {
		err = -errno;
		if (fd >= 0)
			close(fd);
		close(self);
		return err;
	}
	close(fd);
	return self;
}

static void netns_leave(int self)
{
	if (setns(self, CLONE_NEWNET))
		fprintf(stderr, "warning: cannot return to our network namespace: %s\n",
			strerror(errno));
	close(self);
}

static int netns_find_name(uint32_t ino, char *buf, size_t len);

/* /proc/PID/ns/net of some process in netns ino; 0 and path, or -ENOENT.
 * For namespaces without a /run/netns name (containers). */
static int netns_find_pid(uint32_t ino, char *buf, size_t len)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int rc = -ENOENT;

	if (!d)
		return rc;
	while (rc && (de = readdir(d))) {
		struct stat st;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(buf, len, "/proc/%s/ns/net", de->d_name);
		if (!stat(buf, &st) && (uint32_t)st.st_ino == ino)
			rc = 0;
	}
	closedir(d);
	return rc;
}

int st_local_netns_enter(uint32_t ino)
{
	char name[256], path[512];

	if (!ino || ino == st_local_self_netns())
		return ST_LOCAL_NETNS_SAME;
	if (!netns_find_name(ino, name, sizeof(name)))
		snprintf(path, sizeof(path), NETNS_RUN_DIR "/%s", name);
	else if (netns_find_pid(ino, path, sizeof(path)))
		return -ENOENT;
	return netns_enter(path);
}

void st_local_netns_leave(int self)
{
	if (self >= 0)
		netns_leave(self);
}

int st_local_netns_enter_path(const char *path)
{
	return netns_enter(path);
}

/* Find /run/netns/NAME whose inode is ino; 0 and name in buf, or -ENOENT. */
static int netns_find_name(uint32_t ino, char *buf, size_t len)
{
	DIR *d = opendir(NETNS_RUN_DIR);
	struct dirent *de;
	int rc = -ENOENT;

	if (!d)
		return rc;
	while ((de = readdir(d))) {
		char p[512];
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), NETNS_RUN_DIR "/%s", de->d_name);
		if (!stat(p, &st) && (uint32_t)st.st_ino == ino) {
			snprintf(buf, len, "%s", de->d_name);
			rc = 0;
			break;
		}
	}
	closedir(d);
	return rc;
}

int st_local_validate(struct st_local_opts *o, unsigned supported, const char *cmd)
{
	char buf[512];

	if (!(supported & ST_LO_INTERVAL) && o->interval >= 0)
		return refuse(cmd, "--interval");
	if (!(supported & ST_LO_DURATION) && o->duration >= 0)
		return refuse(cmd, "--duration");
	if (!(supported & ST_LO_COUNT) && o->count)
		return refuse(cmd, "--count");
	if (!(supported & ST_LO_SRC) && o->src.set)
		return refuse(cmd, "--src-ip");
	if (!(supported & ST_LO_DST) && o->dst.set)
		return refuse(cmd, "--dst-ip");
	if (!(supported & ST_LO_PID) && o->pid)
		return refuse(cmd, "--pid");
	if (!(supported & ST_LO_VERBOSE) && o->verbose)
		return refuse(cmd, "--verbose");
	if (!(supported & ST_LO_JSON) && o->json)
		return refuse(cmd, "--json");
	if (!(supported & ST_LO_NETNS) && o->netns)
		return refuse(cmd, "--netns");
	if (!(supported & ST_LO_DEV) && o->dev)
		return refuse(cmd, "--dev");
	if (!(supported & ST_LO_VM) && o->vm)
		return refuse(cmd, "--vm");
	if (!(supported & ST_LO_PROTO) && o->proto)
		return refuse(cmd, "--proto");
	if (!(supported & ST_LO_SPORT) && o->sport)
		return refuse(cmd, "--sport");
	if (!(supported & ST_LO_DPORT) && o->dport)
		return refuse(cmd, "--dport");

	if (o->interval < 0)
		o->interval = 1;
	if (o->duration < 0)
		o->duration = 0;
	if (o->proto) {
		if (parse_proto(o->proto, &o->proto_num)) {
			fprintf(stderr, "error: --proto: invalid value '%s' "
				"(expected tcp, udp, icmp or 0-255)\n", o->proto);
			return ST_EXIT_USAGE;
		}
		o->proto_set = 1;
	}
	if ((o->sport || o->dport) && o->proto_set &&
	    o->proto_num != 6 && o->proto_num != 17) {
		fprintf(stderr, "error: --sport/--dport need --proto tcp or udp\n");
		return ST_EXIT_USAGE;
	}
	if (o->netns) {
		int err = st_local_netns_inode(o->netns, &o->netns_ino);

		if (err) {
			fprintf(stderr, "error: --netns: no such network namespace '%s' (%s)\n",
				o->netns, strerror(-err));
			return ST_EXIT_USAGE;
		}
		o->netns_set = 1;
	}
	if (o->dev) {
		const char *path = NULL;
		char name[256];
		int self = -1;

		o->dev_netns = o->netns_set ? o->netns_ino : st_local_self_netns();
		if (o->netns_set && o->dev_netns != st_local_self_netns()) {
			path = netns_path(o->netns, buf, sizeof(buf));
			if (!path && !netns_find_name(o->netns_ino, name, sizeof(name))) {
				snprintf(buf, sizeof(buf), NETNS_RUN_DIR "/%s", name);
				path = buf;
			}
			if (!path) {
				fprintf(stderr, "error: --dev: cannot enter netns %u to find '%s' "
					"(give --netns by name or path)\n", o->netns_ino, o->dev);
				return ST_EXIT_USAGE;
			}
			self = netns_enter(path);
			if (self < 0) {
				fprintf(stderr, "error: --dev: cannot enter netns '%s': %s\n",
					o->netns, strerror(-self));
				return ST_EXIT_FAIL;
			}
		}
		o->dev_ifindex = if_nametoindex(o->dev);
		if (self >= 0)
			netns_leave(self);
		if (!o->dev_ifindex) {
			fprintf(stderr, "error: --dev: no such device '%s'%s%s\n", o->dev,
				o->netns_set ? " in netns " : "", o->netns_set ? o->netns : "");
			return ST_EXIT_USAGE;
		}
		o->dev_set = 1;
	}
	return 0;
}

int st_local_require_root(const char *cmd)
{
	if (geteuid() == 0)
		return 0;
	fprintf(stderr, "error: %s needs root (it loads BPF programs)\n", cmd);
	return ST_EXIT_FAIL;
}

/* ---- kernel symbols ------------------------------------------------------ */

static int ksym_cmp(const void *a, const void *b)
{
	const struct st_ksym *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

int st_ksyms_load(struct st_ksyms *ks)
{
	FILE *f = fopen("/proc/kallsyms", "re");
	char line[512];
	size_t cap = 0;
	int nonzero = 0;

	memset(ks, 0, sizeof(*ks));
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long addr;
		char type, name[256], mod[128] = "";
		int n = sscanf(line, "%llx %c %255s %127s", &addr, &type, name, mod);

		if (n < 3 || (type != 't' && type != 'T'))
			continue;
		if (addr)
			nonzero = 1;
		if (ks->n == cap) {
			struct st_ksym *nv;

			cap = cap ? cap * 2 : 65536;
			nv = realloc(ks->v, cap * sizeof(*nv));
			if (!nv) {
				fclose(f);
				st_ksyms_free(ks);
				return -ENOMEM;
			}
			ks->v = nv;
		}
		ks->v[ks->n].addr = addr;
		ks->v[ks->n].name = strdup(name);
		ks->v[ks->n].module = NULL;
		if (n == 4 && mod[0] == '[') {
			mod[strcspn(mod, "]")] = '\0';
			ks->v[ks->n].module = strdup(mod + 1);
		}
		ks->n++;
	}
	fclose(f);
	if (!nonzero) {
		st_ksyms_free(ks);
		return -EPERM;	/* kptr_restrict hides the addresses */
	}
	qsort(ks->v, ks->n, sizeof(*ks->v), ksym_cmp);
	return 0;
}

const struct st_ksym *st_ksyms_find(const struct st_ksyms *ks, uint64_t addr)
{
	size_t lo = 0, hi = ks->n;

	/* The last symbol whose address is <= addr. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ks->v[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? &ks->v[lo - 1] : NULL;
}

const char *st_ksyms_fmt(const struct st_ksyms *ks, uint64_t addr, char *buf,
			 size_t len)
{
	const struct st_ksym *s = ks ? st_ksyms_find(ks, addr) : NULL;

	/* No function is a megabyte long: an address that far past the
	 * nearest symbol is in memory kallsyms did not list when it was read
	 * (a BPF program, a module loaded later). */
	if (!s || addr - s->addr >= 0x100000)
		snprintf(buf, len, "0x%llx", (unsigned long long)addr);
	else if (s->module)
		snprintf(buf, len, "%s+0x%llx [%s]", s->name,
			 (unsigned long long)(addr - s->addr), s->module);
	else
		snprintf(buf, len, "%s+0x%llx", s->name,
			 (unsigned long long)(addr - s->addr));
	return buf;
}

void st_ksyms_free(struct st_ksyms *ks)
{
	for (size_t i = 0; i < ks->n; i++) {
		free(ks->v[i].name);
		free(ks->v[i].module);
	}
	free(ks->v);
	memset(ks, 0, sizeof(*ks));
}

/* ---- enum names from BTF ------------------------------------------------- */

int st_btf_enum_load(const char *enum_name, const char *strip_prefix,
		     struct st_enum_names *out)
{
	return st_btf_enum_load_mod(NULL, enum_name, strip_prefix, out);
}

int st_btf_enum_load_mod(const char *module, const char *enum_name, const char *strip_prefix,
			 struct st_enum_names *out)
{
	struct btf *vmlinux = module ? btf__load_vmlinux_btf() : NULL;
	struct btf *btf = module ? (vmlinux ? btf__load_module_btf(module, vmlinux) : NULL) :
				   btf__load_vmlinux_btf();
	const struct btf_type *t;
	size_t plen = strip_prefix ? strlen(strip_prefix) : 0;
	int id, vlen;

	memset(out, 0, sizeof(*out));
	if (!btf) {
		int err = errno ? -errno : -ENOENT;

		btf__free(vmlinux);
		return err;
	}
	id = btf__find_by_name_kind(btf, enum_name, BTF_KIND_ENUM);
	if (id < 0)
		id = btf__find_by_name_kind(btf, enum_name, BTF_KIND_ENUM64);
	if (id < 0) {
		btf__free(btf);
		btf__free(vmlinux);
		return -ENOENT;
	}
	t = btf__type_by_id(btf, id);
	vlen = btf_vlen(t);
	out->v = calloc(vlen ? vlen : 1, sizeof(*out->v));
	if (!out->v) {
		btf__free(btf);
		btf__free(vmlinux);
		return -ENOMEM;
	}
	for (int i = 0; i < vlen; i++) {
		const char *name;
		int64_t val;

		if (btf_is_enum(t)) {
			const struct btf_enum *e = btf_enum(t) + i;

			name = btf__name_by_offset(btf, e->name_off);
			val = (uint32_t)e->val;
		} else {
			const struct btf_enum64 *e = btf_enum64(t) + i;

			name = btf__name_by_offset(btf, e->name_off);
			val = (int64_t)btf_enum64_value(e);
		}
		if (!name)
			continue;
		if (plen && !strncmp(name, strip_prefix, plen))
			name += plen;
		out->v[out->n].val = val;
		out->v[out->n].name = strdup(name);
		out->n++;
	}
	btf__free(btf);
	btf__free(vmlinux);
	return 0;
}

const char *st_enum_name(const struct st_enum_names *e, int64_t val)
{
	for (size_t i = 0; i < e->n; i++)
		if (e->v[i].val == val)
			return e->v[i].name;
	return NULL;
}

void st_enum_names_free(struct st_enum_names *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->v[i].name);
	free(e->v);
	memset(e, 0, sizeof(*e));
}

/* ---- device names -------------------------------------------------------- */

struct devname {
	uint32_t netns, ifindex;
	char name[IF_NAMESIZE + 80];
};

static struct devname *devnames;
static size_t ndevnames, capdevnames;

struct nsname {
	uint32_t ino;
	char name[128];
	int found;
};
static struct nsname *nsnames;
static size_t nnsnames;

const char *st_local_netns_name(uint32_t netns)
{
	struct nsname *nv;

	for (size_t i = 0; i < nnsnames; i++)
		if (nsnames[i].ino == netns)
			return nsnames[i].found ? nsnames[i].name : NULL;
	nv = realloc(nsnames, (nnsnames + 1) * sizeof(*nv));
	if (!nv)
		return NULL;
	nsnames = nv;
	nv = &nsnames[nnsnames++];
	nv->ino = netns;
	nv->found = !netns_find_name(netns, nv->name, sizeof(nv->name));
	return nv->found ? nv->name : NULL;
}

const char *st_local_dev_name(uint32_t netns, uint32_t ifindex)
{
	char ifname[IF_NAMESIZE] = "";
	const char *nsname = NULL;
	struct devname *d;
	int ok = 0;

	if (!ifindex)
		return "-";
	for (size_t i = 0; i < ndevnames; i++)
		if (devnames[i].netns == netns && devnames[i].ifindex == ifindex)
			return devnames[i].name;
	if (ndevnames == capdevnames) {
		struct devname *nv;

		capdevnames = capdevnames ? capdevnames * 2 : 64;
		nv = realloc(devnames, capdevnames * sizeof(*nv));
		if (!nv)
			return "?";
		devnames = nv;
	}
	d = &devnames[ndevnames];
	if (netns == st_local_self_netns()) {
		ok = if_indextoname(ifindex, ifname) != NULL;
	} else if ((nsname = st_local_netns_name(netns))) {
		char path[512];
		int self;

		snprintf(path, sizeof(path), NETNS_RUN_DIR "/%s", nsname);
		self = netns_enter(path);
		if (self >= 0) {
			ok = if_indextoname(ifindex, ifname) != NULL;
			netns_leave(self);
		}
	}
	d->netns = netns;
	d->ifindex = ifindex;
	if (ok && nsname)
		snprintf(d->name, sizeof(d->name), "%s@%s", ifname, nsname);
	else if (ok)
		snprintf(d->name, sizeof(d->name), "%s", ifname);
	else
		snprintf(d->name, sizeof(d->name), "if%u@%u", ifindex, netns);
	ndevnames++;
	return d->name;
}

void st_local_dev_names_free(void)
{
	free(devnames);
	devnames = NULL;
	ndevnames = capdevnames = 0;
	free(nsnames);
	nsnames = NULL;
	nnsnames = 0;
}

/* ---- signals and time ---------------------------------------------------- */

volatile sig_atomic_t st_local_stop;

static void on_signal(int sig)
{
	(void)sig;
	st_local_stop = 1;
}

void st_local_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	/* No SA_RESTART: a blocking poll returns EINTR and the loop ends. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

const char *st_local_hms(char *buf, size_t len)
{
	time_t t = time(NULL);
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(buf, len, "%H:%M:%S", &tm);
	return buf;
}

const char *st_local_mono_hms(uint64_t mono_ns, char *buf, size_t len)
{
	uint64_t real = st_real_ns() - (st_mono_ns() - mono_ns);
	time_t t = (time_t)(real / 1000000000ull);
	struct tm tm;
	char hms[16];

	localtime_r(&t, &tm);
	strftime(hms, sizeof(hms), "%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%06llu", hms,
		 (unsigned long long)(real % 1000000000ull / 1000));
	return buf;
}
