// SPDX-License-Identifier: MIT
/*
 * Probing attach methods by doing them; see attach_probe.h. Every probe
 * loads the same two-instruction program (return 0) with the program type
 * and attach target the real program would use, attaches it, and closes
 * both again, so a probe leaves nothing behind.
 */
#include "attach_probe.h"

#include "btf_index.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static const struct bpf_insn ret0[] = {
	{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
	{ .code = BPF_JMP | BPF_EXIT },
};

static const char *const methods[] = {
	"fentry", "fexit", "kprobe", "kretprobe", "tp_btf", "raw_tp", "tracepoint",
};

int st_attach_method_known(const char *method)
{
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (!strcmp(method, methods[i]))
			return 1;
	return 0;
}

/* Kernel BTF of vmlinux, loaded and indexed once; NULL if the kernel has
 * none. */
static struct btf *vmlinux_btf(struct st_btf_index **ix)
{
	static struct btf *vm;
	static struct st_btf_index *vix;
	static int tried;

	if (!tried) {
		tried = 1;
		vm = btf__load_vmlinux_btf();
		if (libbpf_get_error(vm))
			vm = NULL;
		else
			vix = st_btf_index_new(vm, 1);
	}
	*ix = vix;
	return vm;
}

/*
 * Module BTFs, parsed and indexed once per process (btf_index.h: an
 * agent's plan asks for some twenty module functions; parsing and walking
 * every loaded module's BTF for each ask cost seconds per start under
 * emulation, in the kernel matrix). The cache holds no fds: an entry is a kernel BTF id (ids are not reused), so a
 * module unloaded since is not found any more (its id is gone from the
 * kernel's list and bpf_btf_get_fd_by_id fails) and a module loaded since
 * is parsed on the first ask that walks past its new id.
 */
struct mod_btf {
	__u32 id;
	struct btf *btf;	/* NULL: not a module's kernel BTF, skipped */
	struct st_btf_index *ix;
};

static struct mod_btf *mods;
static size_t n_mods, cap_mods;

static struct mod_btf *mod_btf_get(__u32 id, struct btf *vm)
{
	struct bpf_btf_info info;
	__u32 len = sizeof(info);
	char nm[64] = "";
	struct btf *mb = NULL;
	int fd;

	for (size_t i = 0; i < n_mods; i++)
		if (mods[i].id == id)
			return &mods[i];
	fd = bpf_btf_get_fd_by_id(id);
	if (fd < 0)
		return NULL;	/* gone meanwhile: ask again next time */
	memset(&info, 0, sizeof(info));
	info.name = (uintptr_t)nm;
	info.name_len = sizeof(nm);
	if (!bpf_obj_get_info_by_fd(fd, &info, &len) && info.kernel_btf &&
	    strcmp(nm, "vmlinux")) {
		mb = btf__load_from_kernel_by_id_split(id, vm);
		if (libbpf_get_error(mb))
			mb = NULL;
	}
	close(fd);
	if (n_mods == cap_mods) {
		size_t cap = cap_mods ? 2 * cap_mods : 64;
		struct mod_btf *m = realloc(mods, cap * sizeof(*m));

		if (!m) {
			btf__free(mb);
			return NULL;
		}
		mods = m;
		cap_mods = cap;
	}
	mods[n_mods] = (struct mod_btf){
		.id = id, .btf = mb, .ix = mb ? st_btf_index_new(mb, btf__type_cnt(vm)) : NULL,
	};
	return &mods[n_mods++];
}

/* name (of kind) in one BTF: through its index, or by libbpf's walk when
 * the index could not be built (no memory). */
static int find_in(const struct btf *b, const struct st_btf_index *ix, const char *name,
		   int kind)
{
	return ix ? st_btf_index_find(ix, name, kind) : btf__find_by_name_kind(b, name, kind);
}

/*
 * BTF id of name (of kind) in vmlinux, else in a module's BTF. *obj_fd is
 * 0 for vmlinux, or an open fd of the module's BTF object (caller closes).
 * Returns the id or -ENOENT.
 */
static int find_btf_id(const char *name, int kind, int *obj_fd)
{
	struct st_btf_index *vix;
	struct btf *vm = vmlinux_btf(&vix);
	__u32 id = 0;
	int t;

	*obj_fd = 0;
	if (!vm)
		return -ENOENT;
	t = find_in(vm, vix, name, kind);
	if (t > 0)
		return t;
	while (!bpf_btf_get_next_id(id, &id)) {
		struct mod_btf *m = mod_btf_get(id, vm);
		int fd;

		if (!m || !m->btf)
			continue;
		t = find_in(m->btf, m->ix, name, kind);
		if (t <= 0)
			continue;
		fd = bpf_btf_get_fd_by_id(id);
		if (fd < 0)
			continue;	/* unloaded since it was parsed */
		*obj_fd = fd;
		return t;
	}
	return -ENOENT;
}

/* fentry/fexit on a function, tp_btf on a tracepoint: a BTF-typed program. */
static int load_tracing(const char *method, const char *target, char *why, size_t wlen)
{
	LIBBPF_OPTS(bpf_prog_load_opts, o);
	int tp = !strcmp(method, "tp_btf");
	char name[160];
	int id, obj = 0, fd;

	snprintf(name, sizeof(name), "%s%s", tp ? "btf_trace_" : "", target);
	id = find_btf_id(name, tp ? BTF_KIND_TYPEDEF : BTF_KIND_FUNC, &obj);
	if (id < 0) {
		snprintf(why, wlen, "%s: no %s in kernel or module BTF", method, name);
		return id;
	}
	o.expected_attach_type = tp ? BPF_TRACE_RAW_TP :
				 !strcmp(method, "fexit") ? BPF_TRACE_FEXIT : BPF_TRACE_FENTRY;
	o.attach_btf_id = id;
	o.attach_btf_obj_fd = obj;
	fd = bpf_prog_load(BPF_PROG_TYPE_TRACING, "st_probe", "GPL", ret0, 2, &o);
	if (obj > 0)
		close(obj);
	if (fd < 0)
		snprintf(why, wlen, "%s: load refused: %s", method, strerror(-fd));
	return fd;
}

static int read_sysfs_int(const char *path, const char *fmt, int *v)
{
	FILE *f = fopen(path, "r");
	int ok;

	if (!f)
		return -errno;
	ok = fscanf(f, fmt, v) == 1;
	fclose(f);
	return ok ? 0 : -EINVAL;
}

static int perf_open(struct perf_event_attr *a)
{
	return syscall(__NR_perf_event_open, a, -1, 0, -1, PERF_FLAG_FD_CLOEXEC);
}

/* A kprobe perf event on sym (retprobe or not); fd or -errno with why. */
static int kprobe_event(const char *method, const char *sym, char *why, size_t wlen)
{
	const char *dir = "/sys/bus/event_source/devices/kprobe";
	struct perf_event_attr a;
	char path[128];
	int type, bit = 0, pfd, ret = !strcmp(method, "kretprobe");

	snprintf(path, sizeof(path), "%s/type", dir);
	if (read_sysfs_int(path, "%d", &type)) {
		snprintf(why, wlen, "%s: kernel has no kprobe PMU (%s missing: built without kprobes?)",
			 method, dir);
		return -EOPNOTSUPP;
	}
	if (ret) {
		snprintf(path, sizeof(path), "%s/format/retprobe", dir);
		if (read_sysfs_int(path, "config:%d", &bit)) {
			snprintf(why, wlen, "%s: kprobe PMU has no retprobe format", method);
			return -EOPNOTSUPP;
		}
	}
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.type = type;
	a.config = ret ? 1ull << bit : 0;
	a.config1 = (uintptr_t)sym;
	pfd = perf_open(&a);
	if (pfd < 0) {
		int err = -errno;

		snprintf(why, wlen, "%s: no probe on %s: %s", method, sym, strerror(errno));
		return err;
	}
	return pfd;
}

const char *st_tracefs_dir(void)
{
	static const char *const dirs[] = { "/sys/kernel/tracing", "/sys/kernel/debug/tracing" };
	char p[64];

	for (size_t i = 0; i < 2; i++) {
		snprintf(p, sizeof(p), "%s/events", dirs[i]);
		if (!access(p, R_OK))
			return dirs[i];
	}
	return NULL;
}

int st_tracefs_mount(void)
{
	if (st_tracefs_dir())
		return 0;
	if (mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, NULL))
		return -errno;
	return 1;
}

/* A classic tracepoint perf event; target "category:event". */
static int tracepoint_event(const char *target, char *why, size_t wlen)
{
	const char *dir = st_tracefs_dir();
	struct perf_event_attr a;
	char cat[64], path[256];
	const char *colon = strchr(target, ':');
	int id, pfd;

	if (!colon || colon == target || (size_t)(colon - target) >= sizeof(cat)) {
		snprintf(why, wlen, "tracepoint: target '%s' is not category:event", target);
		return -EINVAL;
	}
	if (!dir) {
		snprintf(why, wlen, "tracepoint: tracefs is not mounted");
		return -ENOENT;
	}
	memcpy(cat, target, colon - target);
	cat[colon - target] = 0;
	snprintf(path, sizeof(path), "%s/events/%s/%s/id", dir, cat, colon + 1);
	if (read_sysfs_int(path, "%d", &id)) {
		snprintf(why, wlen, "tracepoint: no %s in %s/events", target, dir);
		return -ENOENT;
	}
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.type = PERF_TYPE_TRACEPOINT;
	a.config = id;
	pfd = perf_open(&a);
	if (pfd < 0) {
		int err = -errno;

		snprintf(why, wlen, "tracepoint: perf_event_open(%s): %s", target, strerror(errno));
		return err;
	}
	return pfd;
}

/* Attach prog to a perf event (kprobe, tracepoint); closes pfd. */
static int perf_attach(const char *method, int pfd, int prog, char *why, size_t wlen)
{
	int err = 0;

	if (ioctl(pfd, PERF_EVENT_IOC_SET_BPF, prog) || ioctl(pfd, PERF_EVENT_IOC_ENABLE, 0)) {
		err = -errno;
		snprintf(why, wlen, "%s: attach failed: %s", method, strerror(errno));
	}
	close(pfd);
	return err;
}

static int probe_perf(const char *method, const char *target, char *why, size_t wlen)
{
	LIBBPF_OPTS(bpf_prog_load_opts, o);
	int tp = !strcmp(method, "tracepoint");
	int prog, pfd, err;

	prog = bpf_prog_load(tp ? BPF_PROG_TYPE_TRACEPOINT : BPF_PROG_TYPE_KPROBE,
			     "st_probe", "GPL", ret0, 2, &o);
	if (prog < 0) {
		snprintf(why, wlen, "%s: load refused: %s", method, strerror(-prog));
		return prog;
	}
	pfd = tp ? tracepoint_event(target, why, wlen) : kprobe_event(method, target, why, wlen);
	err = pfd < 0 ? pfd : perf_attach(method, pfd, prog, why, wlen);
	close(prog);
	return err;
}

static int probe_btf_or_raw(const char *method, const char *target, char *why, size_t wlen)
{
	int raw = !strcmp(method, "raw_tp");
	int fd, lfd, err;

	if (raw) {
		LIBBPF_OPTS(bpf_prog_load_opts, o);

		fd = bpf_prog_load(BPF_PROG_TYPE_RAW_TRACEPOINT, "st_probe", "GPL", ret0, 2, &o);
		if (fd < 0)
			snprintf(why, wlen, "%s: load refused: %s", method, strerror(-fd));
	} else {
		fd = load_tracing(method, target, why, wlen);
	}
	if (fd < 0)
		return fd;
	lfd = bpf_raw_tracepoint_open(raw ? target : NULL, fd);
	if (lfd < 0) {
		err = -errno;
		snprintf(why, wlen, "%s: attach to %s failed: %s", method, target, strerror(errno));
		close(fd);
		return err;
	}
	close(lfd);
	close(fd);
	return 0;
}

/*
 * Compiler clones of a function as kallsyms names them: the first symbol
 * "fn.isra.N", "fn.constprop.N" or "fn.part.N" (not ".cold", which is no
 * entry point). 0 with the name in out, or -ENOENT.
 */
static int clone_symbol(const char *fn, char *out, size_t len)
{
	static const char *const kinds[] = { "isra.", "constprop.", "part." };
	FILE *f = fopen("/proc/kallsyms", "r");
	size_t n = strlen(fn);
	char line[512];
	int rc = -ENOENT;

	if (!f)
		return -errno;
	while (rc && fgets(line, sizeof(line), f)) {
		char type, name[256];

		if (sscanf(line, "%*s %c %255s", &type, name) != 2 ||
		    (type != 't' && type != 'T') || strncmp(name, fn, n) || name[n] != '.')
			continue;
		for (size_t k = 0; k < 3; k++) {
			if (!strncmp(name + n + 1, kinds[k], strlen(kinds[k]))) {
				snprintf(out, len, "%s", name);
				rc = 0;
				break;
			}
		}
	}
	fclose(f);
	return rc;
}

int st_probe_attach_sym(const char *method, const char *target, char *sym,
			size_t slen, char *why, size_t wlen)
{
	int err;

	if (!st_attach_method_known(method)) {
		snprintf(why, wlen, "unknown attach method '%s'", method);
		return -EINVAL;
	}
	if (!strcmp(method, "kprobe") || !strcmp(method, "kretprobe")) {
		char clone[256];

		err = probe_perf(method, target, why, wlen);
		if ((err == -ENOENT || err == -EINVAL) &&
		    !clone_symbol(target, clone, sizeof(clone))) {
			err = probe_perf(method, clone, why, wlen);
			if (!err && sym)
				snprintf(sym, slen, "%s", clone);
			return err;
		}
	} else if (!strcmp(method, "tracepoint")) {
		err = probe_perf(method, target, why, wlen);
	} else {
		err = probe_btf_or_raw(method, target, why, wlen);
	}
	if (!err && sym)
		snprintf(sym, slen, "%s", target);
	return err;
}

int st_probe_attach(const char *method, const char *target, char *why, size_t wlen)
{
	return st_probe_attach_sym(method, target, NULL, 0, why, wlen);
}

const char *st_probe_best(const char *tp, char *why, size_t wlen)
{
	char w1[160] = "", w2[160] = "";

	if (!st_probe_attach("tp_btf", tp, w1, sizeof(w1)))
		return "tp_btf";
	if (!st_probe_attach("raw_tp", tp, w2, sizeof(w2)))
		return "raw_tp";
	snprintf(why, wlen, "%s; %s", w1, w2);
	return NULL;
}

int st_attach_plan_try(const struct st_attach_alt *alts, size_t n,
		       struct st_attach_choice *c)
{
	size_t used = 0;

	c->index = -1;
	c->symbol[0] = 0;
	c->why[0] = 0;
	for (size_t i = 0; i < n; i++) {
		char w[256] = "";

		if (!st_probe_attach_sym(alts[i].method, alts[i].target, c->symbol,
					 sizeof(c->symbol), w, sizeof(w))) {
			c->index = (int)i;
			return (int)i;
		}
		if (used < sizeof(c->why)) {
			int k = snprintf(c->why + used, sizeof(c->why) - used, "%s%s", used ? "; " : "", w);

			used += k > 0 ? (size_t)k : 0;
		}
	}
	return -1;
}
