/* SPDX-License-Identifier: MIT */
/*
 * User-space symbols: addresses of a process to "function+0xoff [file]",
 * and function names of an ELF file to the file offsets uprobes attach at.
 *
 * libbpf has no symbolizer, so this is a small one with a fixed budget. An
 * address is looked up in /proc/PID/maps (which file, at which file
 * offset), the offset is turned into the ELF virtual address through the
 * file's PT_LOAD program headers, and that into the nearest preceding
 * function symbol of .symtab; for a stripped file, of the .symtab of its
 * separate debug file found by GNU build id under /usr/lib/debug/.build-id
 * (Debian's -dbg/-dbgsym packages), else of its .dynsym. It reads ELF
 * symbol tables only: no DWARF, no inlined frames, no JIT maps. Functions
 * a stripped file without a debug file does not export are printed as
 * "file+0xoffset", which is still exact and can be resolved later with
 * addr2line.
 *
 * Files are opened through /proc/PID/root, so processes in other mount
 * namespaces (containers) resolve too. The cache holds at most
 * ST_USYM_MAX_FILES parsed files and ST_USYM_MAX_PIDS process maps; the
 * oldest entry is dropped beyond that. Process maps change (dlopen, exec,
 * exit): call st_usyms_flush_pids() whenever a new batch of stacks is to be
 * printed; maps are then re-read on first use, except that a process that
 * has exited keeps the maps last read, so a tool that read them once (for
 * example when it started with a pid filter) still resolves its stacks.
 * Not thread safe.
 */
#ifndef ST_USYM_H
#define ST_USYM_H

#include <stddef.h>
#include <stdint.h>

#define ST_USYM_MAX_FILES 64
#define ST_USYM_MAX_PIDS  256
#define ST_USYM_MAX_SYMS  (1u << 20)	/* per file */

struct st_usyms;

struct st_usyms *st_usyms_new(void);
void st_usyms_free(struct st_usyms *u);
/* Mark every process's maps for re-reading (files stay cached). */
void st_usyms_flush_pids(struct st_usyms *u);

/*
 * Format addr of process pid: "func+0xoff [file]", "file+0xoff" when no
 * symbol covers it, "[vdso]+0xoff" and the like for special mappings, or
 * "0xaddr" when the process or mapping is gone. Always returns buf.
 */
const char *st_usyms_fmt(struct st_usyms *u, uint32_t pid, uint64_t addr,
			 char *buf, size_t len);

/*
 * The file offset of function name in the ELF file at path (the symbol's
 * virtual address mapped through its PT_LOAD segment): what a uprobe
 * attaches at. A versioned dynamic symbol ("name@@GLIBC_2.34") matches its
 * bare name. 0, or -ENOENT / -errno.
 */
int st_elf_func_offset(const char *path, const char *name, uint64_t *off);

/* The separate debug file of the ELF file at path (by GNU build id under
 * /usr/lib/debug/.build-id), into buf. 0, or -ENOENT when there is none. */
int st_elf_debug_file(const char *path, char *buf, size_t len);

/* Path of the mapped file of pid whose basename starts with prefix (e.g.
 * "libc.so"), into buf. 0, or -ENOENT / -errno. */
int st_proc_find_lib(uint32_t pid, const char *prefix, char *buf, size_t len);

#endif /* ST_USYM_H */
