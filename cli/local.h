/* SPDX-License-Identifier: MIT */
/*
 * What every local (single-host, in-process BPF) command shares.
 *
 * Options: the common flags of the tools stagetrace replaces (-i, -d, -c,
 * --src-ip, --dst-ip, -p, -v, --json, --netns, --dev, --vm, --proto,
 * --sport, --dport) are one st_opt table fragment writing into struct
 * st_local_opts. A command appends the fragment to its own table and says
 * which of the common options it implements; the others stay in the table
 * so that using one is refused with a one-line error naming the command,
 * instead of being silently ignored. st_local_validate() then resolves
 * names (protocol, netns, device) and fills in defaults.
 *
 * Run-time helpers: the root check, attach-method probing by real load
 * (tp_btf, then raw_tp; the same method as agent/attach.c, to move into
 * common/ together with it), kernel symbols from /proc/kallsyms, enum value
 * names from the running kernel's BTF, device names per (netns, ifindex),
 * SIGINT/SIGTERM handling and wall-clock time stamps.
 */
#ifndef ST_CLI_LOCAL_H
#define ST_CLI_LOCAL_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "opts.h"

/* Which common options a command implements. */
enum st_local_opt_bit {
	ST_LO_INTERVAL = 1u << 0,
	ST_LO_DURATION = 1u << 1,
	ST_LO_COUNT    = 1u << 2,
	ST_LO_SRC      = 1u << 3,
	ST_LO_DST      = 1u << 4,
	ST_LO_PID      = 1u << 5,
	ST_LO_VERBOSE  = 1u << 6,
	ST_LO_JSON     = 1u << 7,
	ST_LO_NETNS    = 1u << 8,
	ST_LO_DEV      = 1u << 9,
	ST_LO_VM       = 1u << 10,
	ST_LO_PROTO    = 1u << 11,
	ST_LO_SPORT    = 1u << 12,
	ST_LO_DPORT    = 1u << 13,
	ST_LO_ALL      = (1u << 14) - 1,
};

/* Number of st_opt entries st_local_opts_table() appends. */
#define ST_LOCAL_NOPTS 14

struct st_local_opts {
	/* As parsed. Unset: interval/duration < 0, count/pid/ports 0,
	 * strings NULL, CIDRs .set == 0. */
	double interval;	/* seconds; default 1 */
	double duration;	/* seconds; 0 = until interrupted */
	uint32_t count;		/* intervals; 0 = unlimited */
	struct st_cidr src, dst;
	uint32_t pid;
	int verbose, json;
	const char *netns;	/* name in /run/netns, a path, or an inode */
	const char *dev;
	const char *vm;
	const char *proto;	/* tcp, udp, icmp or a number */
	uint16_t sport, dport;	/* host order */

	/* Resolved by st_local_validate(). */
	int proto_set;
	uint8_t proto_num;
	int netns_set;
	uint32_t netns_ino;
	int dev_set;
	uint32_t dev_netns;	/* netns inode the device lives in */
	uint32_t dev_ifindex;
};

void st_local_opts_init(struct st_local_opts *o);
/*
 * Append the common options to tab[*n..] (cap entries in all) and advance
 * *n. Options the command does not implement say so in their help text.
 */
void st_local_opts_table(struct st_local_opts *o, unsigned supported,
			 struct st_opt *tab, size_t *n, size_t cap);
/*
 * After st_opts_parse(): refuse options outside supported, resolve names,
 * apply defaults. Returns 0 or ST_EXIT_USAGE (one line printed).
 */
int st_local_validate(struct st_local_opts *o, unsigned supported, const char *cmd);

/* 0, or ST_EXIT_FAIL after "error: CMD needs root ...". */
int st_local_require_root(const char *cmd);

/* Kernel symbols of /proc/kallsyms, sorted, for address -> symbol+off. */
struct st_ksym {
	uint64_t addr;
	char *name;
	char *module;		/* NULL for vmlinux */
};
struct st_ksyms {
	struct st_ksym *v;
	size_t n;
};
int st_ksyms_load(struct st_ksyms *ks);	/* 0 or -errno */
const struct st_ksym *st_ksyms_find(const struct st_ksyms *ks, uint64_t addr);
/* "sym+0xoff" (module symbols: "sym+0xoff [mod]"), or "0xaddr". */
const char *st_ksyms_fmt(const struct st_ksyms *ks, uint64_t addr, char *buf,
			 size_t len);
void st_ksyms_free(struct st_ksyms *ks);

/* Value -> name of an enum in the running kernel's BTF, prefix stripped. */
struct st_enum_names {
	struct { int64_t val; char *name; } *v;
	size_t n;
};
int st_btf_enum_load(const char *enum_name, const char *strip_prefix,
		     struct st_enum_names *out);	/* 0 or -errno */
/* The same from a kernel module's BTF (/sys/kernel/btf/MODULE); module
 * NULL: vmlinux. -ENOENT also when the module is not loaded. */
int st_btf_enum_load_mod(const char *module, const char *enum_name, const char *strip_prefix,
			 struct st_enum_names *out);
const char *st_enum_name(const struct st_enum_names *e, int64_t val);
void st_enum_names_free(struct st_enum_names *e);

/* Network namespaces and devices. */
int st_local_netns_inode(const char *spec, uint32_t *ino);	/* 0 or -errno */
uint32_t st_local_self_netns(void);
/*
 * Name of a device: "eth0" in our own netns, "veth1@ns2" in a netns named
 * in /run/netns, "if7@4026532291" when it cannot be resolved, "-" for
 * ifindex 0. Results are cached; the pointer stays valid until
 * st_local_dev_names_free().
 */
const char *st_local_dev_name(uint32_t netns, uint32_t ifindex);
/*
 * Enter the netns of inode ino (ours, one named in /run/netns, else that
 * of some process in it) for a moment: returns the fd to give
 * st_local_netns_leave(), ST_LOCAL_NETNS_SAME when ino is our own netns
 * (leave is then a no-op), or -errno (-ENOENT: no name and no process to
 * enter it by).
 */
#define ST_LOCAL_NETNS_SAME (-1000)
int st_local_netns_enter(uint32_t ino);
void st_local_netns_leave(int self);
/*
 * The same for a namespace given by path (/run/netns/NAME, /proc/PID/ns/net):
 * returns the fd for st_local_netns_leave(), or -errno. Sockets opened
 * inside stay in that namespace after leaving it.
 */
int st_local_netns_enter_path(const char *path);
/* The /run/netns name of a netns inode, or NULL. */
const char *st_local_netns_name(uint32_t netns);
void st_local_dev_names_free(void);

/* Set by SIGINT/SIGTERM once st_local_signals() was called. */
extern volatile sig_atomic_t st_local_stop;
void st_local_signals(void);

/* "HH:MM:SS" local time of now. */
const char *st_local_hms(char *buf, size_t len);
/* "HH:MM:SS.uuuuuu" local time of a CLOCK_MONOTONIC stamp. */
const char *st_local_mono_hms(uint64_t mono_ns, char *buf, size_t len);

/* ---- BPF maps, BTF enums, histograms for the interval commands ---------- */
/* (local_maps.c; the interval schedule and per-CPU sums are in localrun.h) */

struct bpf_object;
struct ring_buffer;
struct st_hist;

/*
 * A tracepoint tp served by two programs of obj, "btf_<tp>" and
 * "raw_<tp>" (see bpf/qdisc.bpf.c's QD_HOOK): pick the method (force, or
 * probed by real load: tp_btf, then raw_tp), turn the chosen program's
 * autoload on and the other's off. Returns "tp_btf"/"raw_tp", or NULL with
 * the reason in why (both programs are then off).
 */
const char *st_local_tp_select(struct bpf_object *obj, const char *tp,
			       const char *force, char *why, size_t wlen);
/* Turn both programs of tp off (a mode that does not use the hook). */
void st_local_tp_off(struct bpf_object *obj, const char *tp);

/*
 * Generation-flipped maps (bpf/drops.h explains the scheme): switch the
 * programs to the other generation by storing *gen + 1 into the BPF
 * object's generation variable, give programs already running 2 ms to
 * finish, consume rb (may be NULL), and return the parity of the
 * generation that is now idle (the maps to drain).
 */
int st_local_gen_flip(volatile uint32_t *bss_gen, uint32_t *gen, struct ring_buffer *rb);
/*
 * Drain a hash map: every key with its value (vsz bytes: ncpus copies of
 * the value for per-CPU maps), at most max, deleted after reading. Keys
 * first, then values: deleting while walking restarts the walk. Returns
 * the count; *keys and *vals are calloc'ed (caller frees, also on 0).
 */
size_t st_local_map_drain(int fd, size_t ksz, size_t vsz, size_t max, void **keys,
			  void **vals);

/*
 * Read a cumulative hash map (values counted since the start, never
 * deleted) and what each row gained since the last read: *rows gets up to
 * max rows of [key (ksz) | value now (vsz) | difference (vsz)], calloc'ed
 * (caller frees, also on 0). The difference subtracts, for the first
 * ndiff 64-bit words of the value, the same row of prev (the rows of the
 * last read, nprev of them; a new key counts from 0); the words after them
 * (maxima, modes) are copied as they are. Returns the count.
 */
size_t st_local_cum_read(int fd, size_t ksz, size_t vsz, size_t ndiff, size_t max,
			 const void *prev, size_t nprev, void **rows);

/*
 * Like st_btf_enum_load, for an enum found by the name of one of its
 * members (for anonymous enums such as the kernel's SKB_GSO_* flags).
 */
int st_btf_enum_load_member(const char *member, const char *strip_prefix,
			    struct st_enum_names *out);

/*
 * A log-linear histogram of nanosecond values as rows of bars in
 * microseconds, four rows per power of two (exact sums of whole buckets),
 * then "count N, avg, p50, p90, p99, max" from the full-precision buckets.
 */
void st_local_hist_print(const struct st_hist *h, const char *indent);
/* The unit of a histogram's values as shown: the column head, the suffix
 * of the summary line, the suffix of the JSON keys, and what a recorded
 * value is divided by (ns -> us: 1000). */
struct st_hist_unit {
	const char *head, *suffix, *json_suffix;
	double div;
};
extern const struct st_hist_unit st_hist_unit_ns;	/* usecs, the default */
extern const struct st_hist_unit st_hist_unit_bytes;	/* sizes */
void st_local_hist_print_unit(const struct st_hist *h, const char *indent,
			      const struct st_hist_unit *u);
/*
 * The same histogram as JSON: {"count", "avg_us", "min_us", "p50_us",
 * "p90_us", "p99_us", "max_us", "buckets": [[low_ns, high_ns, count], ...]}
 * with every non-empty bucket at full precision (caller puts it).
 */
struct json_object;
struct json_object *st_local_hist_json(const struct st_hist *h);
struct json_object *st_local_hist_json_unit(const struct st_hist *h, const struct st_hist_unit *u);

#endif /* ST_CLI_LOCAL_H */
