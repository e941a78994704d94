/* SPDX-License-Identifier: MIT */
/*
 * Attach plans ask the running kernel, by doing: a two-instruction program
 * is loaded and attached the way a method would attach the real one, then
 * closed. Feature probes that only ask can lie (bpftool has reported
 * tracing unavailable on kernels where tp_btf loads fine); a real load and
 * attach cannot. Used by the agent's per-hook plans and by local commands.
 *
 * Methods, in the order plans usually prefer them:
 *   fentry, fexit        target: kernel function with BTF (vmlinux or a
 *                        module's BTF, so openvswitch/vhost functions work)
 *   kprobe, kretprobe    target: kernel function; when the plain name is not
 *                        a symbol, its compiler clones (name.isra.N,
 *                        name.constprop.N, name.part.N) from /proc/kallsyms
 *                        are tried, and the one that worked is returned
 *   tp_btf, raw_tp       target: tracepoint event name ("netif_rx"),
 *                        module tracepoints included
 *   tracepoint           target: "category:event"; needs tracefs (see
 *                        st_tracefs_dir/st_tracefs_mount)
 * No per-kernel #ifdef anywhere: a method that this kernel lacks fails its
 * probe with a reason ("kprobe: kernel has no kprobe PMU ...").
 */
#ifndef ST_ATTACH_PROBE_H
#define ST_ATTACH_PROBE_H

#include <stddef.h>

/*
 * method: one of the names above; target as described there.
 * 0 when it works, else -errno with a one-line reason in why.
 */
int st_probe_attach(const char *method, const char *target, char *why, size_t wlen);

/*
 * Like st_probe_attach; on success sym (if not NULL) gets the symbol that
 * was really attached (a kprobe may land on "handle_tx.isra.0").
 */
int st_probe_attach_sym(const char *method, const char *target, char *sym,
			size_t slen, char *why, size_t wlen);

/* The first method of "tp_btf", "raw_tp" that works for tp, or NULL with
 * every failure's reason in why ("tp_btf: ...; raw_tp: ..."). */
const char *st_probe_best(const char *tp, char *why, size_t wlen);

/* One alternative of an attach plan. */
struct st_attach_alt {
	const char *method;
	const char *target;
};

struct st_attach_choice {
	int index;		/* chosen alternative, -1 when none works */
	char symbol[128];	/* what was attached (clone names resolved) */
	char why[768];		/* "method target: reason; ..." of each failure */
};

/*
 * Try alts[0..n) in order; stop at the first that loads and attaches.
 * Returns the chosen index (also in c->index) or -1.
 */
int st_attach_plan_try(const struct st_attach_alt *alts, size_t n,
		       struct st_attach_choice *c);

/* Is method one of the names above? */
int st_attach_method_known(const char *method);

/* The mounted tracefs directory, or NULL. */
const char *st_tracefs_dir(void);
/* Mount tracefs at /sys/kernel/tracing when it is not mounted anywhere.
 * 1 when it mounted it, 0 when already there, -errno on failure. */
int st_tracefs_mount(void);

#endif /* ST_ATTACH_PROBE_H */
