/* SPDX-License-Identifier: MIT */
/*
 * The run loop pieces the local commands share beyond cli/local.h: waiting
 * for the end of an interval while draining a ring buffer, summing per-CPU
 * counters, and optional hooks.
 *
 * An optional hook is a kernel function a command would like to see (say
 * ip_defrag's return value) that may be probed in more than one way
 * (fexit, else kprobe + kretprobe). The alternatives are tried by real load
 * and attach (common/attach_probe.c) before the BPF object is loaded; the
 * programs of the losers get autoload off, so one object serves every
 * kernel. A hook that no alternative can attach is not an error: the
 * command runs without it and says "unavailable: <why>" in its banner and
 * its JSON, so a reader knows what the output cannot contain.
 */
#ifndef ST_CLI_LOCALRUN_H
#define ST_CLI_LOCALRUN_H

#include <bpf/libbpf.h>
#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include "attach_probe.h"

/*
 * Sleep (or poll rb, when not NULL) until CLOCK_MONOTONIC deadline_ns, or
 * st_local_stop is set, or tick_ms (0: 100 ms) have passed, whichever comes
 * first; callers loop until the deadline and do periodic work in between.
 */
void st_local_wait(uint64_t deadline_ns, struct ring_buffer *rb, int tick_ms);

/*
 * The interval schedule of a local command: intervals follow a fixed
 * schedule from the start, so time spent reporting does not make them
 * drift; after a stall the schedule restarts from now.
 */
struct st_local_ticker {
	uint64_t start, end, last, sched, step;
	uint32_t done;
};
void st_local_ticker_init(struct st_local_ticker *t, double interval, double duration);
/* CLOCK_MONOTONIC deadline of the interval that starts now. */
uint64_t st_local_ticker_next(struct st_local_ticker *t);
/*
 * At the end of an interval (now): its length in seconds into *secs, and
 * 1 when the command should stop (signal, -c count or -d duration reached).
 */
int st_local_ticker_end(struct st_local_ticker *t, uint64_t now, uint32_t count, double *secs);

/*
 * The usual interval: wait until the end of the interval that starts now
 * (polling rb, may be NULL), then st_local_ticker_end(): its length into
 * *secs, and 1 when the command should stop.
 */
int st_local_ticker_wait(struct st_local_ticker *t, struct ring_buffer *rb, uint32_t count,
			 double *secs);

/* 0, or ST_EXIT_USAGE after a one-line error for a --method other than
 * tp_btf and raw_tp (NULL: not given). */
int st_local_method_check(const char *method);

/* Sum of the ncpus values of key in a per-CPU array map; 0 when unreadable. */
uint64_t st_local_percpu_sum(int fd, uint32_t key, int ncpus);

/* At most this many alternatives per optional hook. */
#define ST_HOOK_MAX_ALTS 4

struct st_local_hook {
	const char *name;		/* what the hook shows, for messages */
	size_t n;
	struct st_attach_alt alts[ST_HOOK_MAX_ALTS];
	/* prog[i] implements alts[i]; prog2[i] (may be NULL) is its
	 * companion, e.g. the kprobe that stashes arguments for a
	 * kretprobe alternative. Both attach to the same symbol. */
	struct bpf_program *prog[ST_HOOK_MAX_ALTS];
	struct bpf_program *prog2[ST_HOOK_MAX_ALTS];
	int ret2[ST_HOOK_MAX_ALTS];	/* prog2 is a kretprobe (else prog is) */

	/* Filled in by st_local_hooks_plan / _attach. */
	struct st_attach_choice choice;
	struct bpf_link *link, *link2;
	int attached;
};

/*
 * Before load: try each hook's alternatives in order; autoload only the
 * chosen programs (fentry/fexit get their attach target set). Never fails.
 */
void st_local_hooks_plan(struct st_local_hook *h, size_t n);
/*
 * After load: attach the chosen programs. A hook that fails here becomes
 * unavailable with the reason; returns the number of hooks attached.
 */
size_t st_local_hooks_attach(struct st_local_hook *h, size_t n);
void st_local_hooks_destroy(struct st_local_hook *h, size_t n);
/* "method symbol" or "unavailable: why", into buf. */
const char *st_local_hook_status(const struct st_local_hook *h, char *buf, size_t len);
/* [{"hook":..., "status": "available"|"unavailable", "method":...,
 *   "symbol":..., "reason":...}] */
json_object *st_local_hooks_json(const struct st_local_hook *h, size_t n);

/*
 * --check-hooks support: autoload only alternative alt of hook h in obj
 * (every other program of obj off; fentry/fexit get their target), so
 * loading obj runs exactly that program through the verifier. Hooks that
 * cannot attach on this kernel are still verified where their program
 * type loads (kprobe programs load without a kprobe PMU).
 */
void st_local_hook_only(struct bpf_object *obj, const struct st_local_hook *h, size_t alt);
/* One line (or JSON object) per checked alternative; err 0 or -errno. */
void st_local_hook_check_print(const struct st_local_hook *h, size_t alt, int err, int json);

/*
 * --check-hooks of a command whose hooks live in one BPF skeleton: for
 * every alternative of every hook, open a fresh object (open), describe
 * its hooks (init fills h[0..n)), keep only that alternative, load it
 * (load), print the result, destroy it. Exit status 0 when every hook has
 * an alternative that loads, else ST_EXIT_FAIL.
 */
struct st_hook_object_ops {
	void *(*open)(void);
	struct bpf_object *(*obj)(void *skel);
	int (*load)(void *skel);
	void (*destroy)(void *skel);
	void (*init)(void *skel, struct st_local_hook *h);
};
int st_local_hooks_check(const struct st_hook_object_ops *ops, size_t nhooks, int json);

/*
 * 1 when libbpf can read the running kernel's configuration (/proc/config.gz
 * or /boot/config-<release>). Without it libbpf refuses to load an object
 * with __kconfig externs, weak ones included, unless their values are
 * handed over in bpf_object_open_opts.kconfig.
 */
int st_local_kconfig_readable(void);

#endif /* ST_CLI_LOCALRUN_H */
