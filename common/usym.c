// SPDX-License-Identifier: MIT
/*
 * User-space symbolizer (see usym.h): /proc/PID/maps + ELF symbol tables,
 * read with libelf. Parsed files are kept as sorted arrays of function
 * symbols plus their PT_LOAD segments; a lookup is two binary searches.
 * Everything is bounded: files, processes and symbols per file.
 */
#include "usym.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct usym {
	uint64_t addr, size;
	char *name;
};

struct useg {
	uint64_t vaddr, off, filesz;
};

struct ufile {
	char *path;		/* as named in the maps */
	uint64_t ino;
	struct usym *syms;
	size_t nsyms;
	struct useg *segs;
	size_t nsegs;
	int ok;			/* parsed; 0: unreadable, print file+off */
	uint64_t used;		/* for eviction: last use tick */
};

struct umap {
	uint64_t start, end, pgoff, ino;
	char *path;		/* NULL: anonymous */
};

struct upid {
	uint32_t pid;
	struct umap *maps;
	size_t nmaps;
	int ok;			/* maps read; 0: process gone */
	int stale;		/* re-read on next use, keep if the process is gone */
	uint64_t used;
};

struct st_usyms {
	struct ufile *files[ST_USYM_MAX_FILES];
	size_t nfiles;
	struct upid *pids[ST_USYM_MAX_PIDS];
	size_t npids;
	uint64_t tick;
};

/* ---- ELF ------------------------------------------------------------------ */

static int sym_cmp(const void *a, const void *b)
{
	const struct usym *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	/* Prefer the sized symbol, then the shorter name, at one address. */
	if ((x->size != 0) != (y->size != 0))
		return x->size ? -1 : 1;
	return (int)strlen(x->name) - (int)strlen(y->name);
}

static void ufile_free(struct ufile *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->nsyms; i++)
		free(f->syms[i].name);
	free(f->syms);
	free(f->segs);
	free(f->path);
	free(f);
}

/* Open an ELF file; returns the Elf handle and fd, or NULL. */
static Elf *elf_open(const char *path, int *fd)
{
	Elf *e;

	if (elf_version(EV_CURRENT) == EV_NONE)
		return NULL;
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0)
		return NULL;
	e = elf_begin(*fd, ELF_C_READ_MMAP, NULL);
	if (!e || elf_kind(e) != ELF_K_ELF) {
		if (e)
			elf_end(e);
		close(*fd);
		return NULL;
	}
	return e;
}

/* Append the function symbols of one symbol table section. */
static int read_symtab(Elf *e, Elf_Scn *scn, GElf_Shdr *sh, struct ufile *f, size_t *cap)
{
	Elf_Data *d = elf_getdata(scn, NULL);
	size_t n = sh->sh_entsize ? sh->sh_size / sh->sh_entsize : 0;

	if (!d)
		return 0;
	for (size_t i = 0; i < n && f->nsyms < ST_USYM_MAX_SYMS; i++) {
		GElf_Sym s;
		const char *name;
		int type;

		if (!gelf_getsym(d, (int)i, &s))
			break;
		type = GELF_ST_TYPE(s.st_info);
		if ((type != STT_FUNC && type != STT_GNU_IFUNC) || !s.st_value ||
		    s.st_shndx == SHN_UNDEF)
			continue;
		name = elf_strptr(e, sh->sh_link, s.st_name);
		if (!name || !*name)
			continue;
		if (f->nsyms == *cap) {
			struct usym *nv;

			*cap = *cap ? *cap * 2 : 1024;
			nv = realloc(f->syms, *cap * sizeof(*nv));
			if (!nv)
				return -ENOMEM;
			f->syms = nv;
		}
		f->syms[f->nsyms].addr = s.st_value;
		f->syms[f->nsyms].size = s.st_size;
		f->syms[f->nsyms].name = strndup(name, strcspn(name, "@"));
		if (!f->syms[f->nsyms].name)
			return -ENOMEM;
		f->nsyms++;
	}
	return 0;
}

/* The file's GNU build id, hex, into buf; 0 or -ENOENT. */
static int elf_build_id(Elf *e, char *buf, size_t len)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;
		GElf_Nhdr nh;
		size_t off = 0, noff, doff;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE || !(d = elf_getdata(scn, NULL)))
			continue;
		while ((off = gelf_getnote(d, off, &nh, &noff, &doff)) > 0) {
			const unsigned char *id = (const unsigned char *)d->d_buf + doff;

			if (nh.n_type != NT_GNU_BUILD_ID || nh.n_namesz != 4 ||
			    memcmp((const char *)d->d_buf + noff, "GNU", 4) || !nh.n_descsz ||
			    nh.n_descsz * 2 + 1 > len)
				continue;
			for (size_t i = 0; i < nh.n_descsz; i++)
				snprintf(buf + 2 * i, 3, "%02x", id[i]);
			return 0;
		}
	}
	return -ENOENT;
}

/*
 * The separate debug file of a stripped ELF file, as Debian's -dbg and
 * -dbgsym packages install it: /usr/lib/debug/.build-id/ab/cdef....debug.
 * Its .symtab has the static functions the file itself no longer lists,
 * at the same addresses.
 */
static int debug_path(Elf *e, char *buf, size_t len)
{
	char id[129];

	if (elf_build_id(e, id, sizeof(id)) || strlen(id) < 3)
		return -ENOENT;
	snprintf(buf, len, "/usr/lib/debug/.build-id/%.2s/%s.debug", id, id + 2);
	return access(buf, R_OK) ? -ENOENT : 0;
}

/* Read the .symtab of the debug file at path; 1 if it had one. */
static int read_debug_symtab(const char *path, struct ufile *f, size_t *cap)
{
	Elf_Scn *scn = NULL;
	int fd, found = 0;
	Elf *e = elf_open(path, &fd);

	if (!e)
		return 0;
	while ((scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;

		if (gelf_getshdr(scn, &sh) && sh.sh_type == SHT_SYMTAB) {
			found = !read_symtab(e, scn, &sh, f, cap);
			break;
		}
	}
	elf_end(e);
	close(fd);
	return found;
}

static void ufile_parse(struct ufile *f, const char *openpath)
{
	char dbg[PATH_MAX];
	size_t cap = 0, nph = 0;
	Elf_Scn *scn = NULL;
	int fd, have_symtab = 0;
	Elf *e = elf_open(openpath, &fd);

	if (!e)
		return;
	/* Segments: file offset <-> virtual address. */
	if (!elf_getphdrnum(e, &nph) && nph) {
		f->segs = calloc(nph, sizeof(*f->segs));
		for (size_t i = 0; f->segs && i < nph; i++) {
			GElf_Phdr ph;

			if (gelf_getphdr(e, (int)i, &ph) && ph.p_type == PT_LOAD) {
				f->segs[f->nsegs].vaddr = ph.p_vaddr;
				f->segs[f->nsegs].off = ph.p_offset;
				f->segs[f->nsegs].filesz = ph.p_filesz;
				f->nsegs++;
			}
		}
	}
	/* .symtab when present (it has the static functions too), and
	 * .dynsym for what a stripped file still exports. */
	while ((scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;

		if (gelf_getshdr(scn, &sh) && sh.sh_type == SHT_SYMTAB) {
			have_symtab = 1;
			if (read_symtab(e, scn, &sh, f, &cap))
				goto out;
		}
	}
	/* A stripped file: its separate debug file, when installed, has all
	 * the functions; else what .dynsym exports. */
	if (!have_symtab && !debug_path(e, dbg, sizeof(dbg)))
		have_symtab = read_debug_symtab(dbg, f, &cap);
	while (!have_symtab && (scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;

		if (gelf_getshdr(scn, &sh) && sh.sh_type == SHT_DYNSYM)
			if (read_symtab(e, scn, &sh, f, &cap))
				goto out;
	}
	qsort(f->syms, f->nsyms, sizeof(*f->syms), sym_cmp);
	f->ok = f->nsegs > 0;
out:
	elf_end(e);
	close(fd);
}

/* ELF virtual address of a file offset, through the PT_LOAD segments. */
static int off_to_vaddr(const struct ufile *f, uint64_t off, uint64_t *va)
{
	for (size_t i = 0; i < f->nsegs; i++)
		if (off >= f->segs[i].off && off < f->segs[i].off + f->segs[i].filesz) {
			*va = off - f->segs[i].off + f->segs[i].vaddr;
			return 0;
		}
	return -ENOENT;
}

static const struct usym *sym_find(const struct ufile *f, uint64_t va)
{
	size_t lo = 0, hi = f->nsyms;
	const struct usym *s;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (f->syms[mid].addr <= va)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return NULL;
	s = &f->syms[lo - 1];
	/* Step back over same-address aliases to the preferred one. */
	while (s > f->syms && s[-1].addr == s->addr)
		s--;
	/* Outside a sized symbol: in code no symbol describes. */
	if (s->size && va >= s->addr + s->size)
		return NULL;
	if (!s->size && va - s->addr >= 0x10000)
		return NULL;
	return s;
}

int st_elf_func_offset(const char *path, const char *name, uint64_t *off)
{
	struct ufile f = { 0 };
	int rc = -ENOENT;

	if (access(path, R_OK))
		return -errno;
	ufile_parse(&f, path);
	for (size_t i = 0; i < f.nsyms; i++) {
		GElf_Addr va = f.syms[i].addr;

		if (strcmp(f.syms[i].name, name))
			continue;
		for (size_t j = 0; j < f.nsegs; j++)
			if (va >= f.segs[j].vaddr && va < f.segs[j].vaddr + f.segs[j].filesz) {
				*off = va - f.segs[j].vaddr + f.segs[j].off;
				rc = 0;
				break;
			}
		break;
	}
	for (size_t i = 0; i < f.nsyms; i++)
		free(f.syms[i].name);
	free(f.syms);
	free(f.segs);
	return rc;
}

/* ---- caches --------------------------------------------------------------- */

struct st_usyms *st_usyms_new(void)
{
	return calloc(1, sizeof(struct st_usyms));
}

static void upid_free(struct upid *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nmaps; i++)
		free(p->maps[i].path);
	free(p->maps);
	free(p);
}

void st_usyms_flush_pids(struct st_usyms *u)
{
	for (size_t i = 0; i < u->npids; i++)
		u->pids[i]->stale = 1;
}

static void upid_clear(struct upid *p)
{
	for (size_t i = 0; i < p->nmaps; i++)
		free(p->maps[i].path);
	free(p->maps);
	p->maps = NULL;
	p->nmaps = 0;
	p->ok = 0;
}

void st_usyms_free(struct st_usyms *u)
{
	if (!u)
		return;
	for (size_t i = 0; i < u->npids; i++)
		upid_free(u->pids[i]);
	for (size_t i = 0; i < u->nfiles; i++)
		ufile_free(u->files[i]);
	free(u);
}

/* Index of the least recently used entry of a full cache. */
#define LRU_SLOT(arr, n, out)						\
	do {								\
		size_t _o = 0;						\
		for (size_t _i = 1; _i < (n); _i++)			\
			if ((arr)[_i]->used < (arr)[_o]->used)		\
				_o = _i;				\
		(out) = _o;						\
	} while (0)

static void upid_read(struct upid *p)
{
	char path[64], line[4096];
	size_t cap = 0;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%u/maps", p->pid);
	fp = fopen(path, "re");
	if (!fp)
		return;
	while (fgets(line, sizeof(line), fp)) {
		unsigned long long start, end, pgoff, ino;
		char perms[8], dev[16];
		int pos = 0;
		char *name;

		if (sscanf(line, "%llx-%llx %7s %llx %15s %llu %n", &start, &end, perms,
			   &pgoff, dev, &ino, &pos) < 6 || perms[2] != 'x')
			continue;
		name = line + pos;
		name[strcspn(name, "\n")] = '\0';
		if (p->nmaps == cap) {
			struct umap *nv;

			cap = cap ? cap * 2 : 64;
			nv = realloc(p->maps, cap * sizeof(*nv));
			if (!nv)
				break;
			p->maps = nv;
		}
		p->maps[p->nmaps] = (struct umap){ start, end, pgoff, ino,
						   *name ? strdup(name) : NULL };
		p->nmaps++;
	}
	fclose(fp);
	p->ok = 1;
}

static struct upid *pid_get(struct st_usyms *u, uint32_t pid)
{
	struct upid *p;
	size_t slot;

	for (size_t i = 0; i < u->npids; i++)
		if (u->pids[i]->pid == pid) {
			p = u->pids[i];
			p->used = ++u->tick;
			if (p->stale) {
				/* Re-read; a process that has exited keeps its
				 * last maps, so its stacks still resolve. */
				struct upid fresh = { .pid = pid };

				upid_read(&fresh);
				/* A zombie has an empty maps file. */
				if (fresh.ok && fresh.nmaps) {
					upid_clear(p);
					p->maps = fresh.maps;
					p->nmaps = fresh.nmaps;
					p->ok = 1;
				} else {
					upid_clear(&fresh);
				}
				p->stale = 0;
			}
			return p;
		}
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->pid = pid;
	p->used = ++u->tick;
	upid_read(p);
	if (u->npids < ST_USYM_MAX_PIDS) {
		u->pids[u->npids++] = p;
	} else {
		LRU_SLOT(u->pids, u->npids, slot);
		upid_free(u->pids[slot]);
		u->pids[slot] = p;
	}
	return p;
}

static struct ufile *file_get(struct st_usyms *u, uint32_t pid, const struct umap *m)
{
	char openpath[4200];
	struct ufile *f;
	size_t slot;

	for (size_t i = 0; i < u->nfiles; i++)
		if (u->files[i]->ino == m->ino && !strcmp(u->files[i]->path, m->path)) {
			u->files[i]->used = ++u->tick;
			return u->files[i];
		}
	f = calloc(1, sizeof(*f));
	if (!f || !(f->path = strdup(m->path))) {
		free(f);
		return NULL;
	}
	f->ino = m->ino;
	f->used = ++u->tick;
	/* Through the process's root: the file as that process sees it. */
	snprintf(openpath, sizeof(openpath), "/proc/%u/root%s", pid, m->path);
	ufile_parse(f, openpath);
	if (!f->ok && !f->nsyms && !f->nsegs)
		ufile_parse(f, m->path);
	if (u->nfiles < ST_USYM_MAX_FILES) {
		u->files[u->nfiles++] = f;
	} else {
		LRU_SLOT(u->files, u->nfiles, slot);
		ufile_free(u->files[slot]);
		u->files[slot] = f;
	}
	return f;
}

const char *st_usyms_fmt(struct st_usyms *u, uint32_t pid, uint64_t addr,
			 char *buf, size_t len)
{
	struct upid *p = u ? pid_get(u, pid) : NULL;
	const struct umap *m = NULL;
	const struct usym *s = NULL;
	const char *base;
	struct ufile *f;
	uint64_t off, va;

	for (size_t i = 0; p && i < p->nmaps; i++)
		if (addr >= p->maps[i].start && addr < p->maps[i].end) {
			m = &p->maps[i];
			break;
		}
	if (!m || !m->path) {
		snprintf(buf, len, "0x%llx", (unsigned long long)addr);
		return buf;
	}
	base = strrchr(m->path, '/');
	base = base ? base + 1 : m->path;
	off = addr - m->start + m->pgoff;
	if (m->path[0] != '/') {	/* [vdso], [stack], ... */
		snprintf(buf, len, "%s+0x%llx", m->path, (unsigned long long)(addr - m->start));
		return buf;
	}
	f = file_get(u, pid, m);
	if (f && f->ok && !off_to_vaddr(f, off, &va))
		s = sym_find(f, va);
	if (s)
		snprintf(buf, len, "%s+0x%llx [%s]", s->name,
			 (unsigned long long)(va - s->addr), base);
	else
		snprintf(buf, len, "%s+0x%llx", base, (unsigned long long)off);
	return buf;
}

int st_elf_debug_file(const char *path, char *buf, size_t len)
{
	int fd, rc;
	Elf *e = elf_open(path, &fd);

	if (!e)
		return -ENOENT;
	rc = debug_path(e, buf, len);
	elf_end(e);
	close(fd);
	return rc;
}

int st_proc_find_lib(uint32_t pid, const char *prefix, char *buf, size_t len)
{
	struct upid p = { .pid = pid };
	int rc = -ENOENT;

	upid_read(&p);
	if (!p.ok)
		return -ESRCH;
	for (size_t i = 0; i < p.nmaps; i++) {
		const char *b;

		if (!p.maps[i].path || p.maps[i].path[0] != '/')
			continue;
		b = strrchr(p.maps[i].path, '/') + 1;
		if (!strncmp(b, prefix, strlen(prefix))) {
			snprintf(buf, len, "/proc/%u/root%s", pid, p.maps[i].path);
			rc = 0;
			break;
		}
	}
	for (size_t i = 0; i < p.nmaps; i++)
		free(p.maps[i].path);
	free(p.maps);
	return rc;
}
