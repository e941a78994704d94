/* SPDX-License-Identifier: MIT */
/*
 * Attach plans ask the running kernel, by doing: a two-instruction program
 * is loaded and attached the way a method would attach the real one, then
 * closed. Feature probes that only ask can lie (bpftool has reported
 * tracing unavailable on kernels where tp_btf loads fine); a real load and
 * attach cannot. Used by the agent's per-hook plans and by local commands.
 */
#ifndef ST_ATTACH_PROBE_H
#define ST_ATTACH_PROBE_H

#include <stddef.h>

/*
 * method: "tp_btf" or "raw_tp"; tp: the tracepoint's event name.
 * 0 when it works, else -errno with a one-line reason in why.
 */
int st_probe_attach(const char *method, const char *tp, char *why, size_t wlen);

/* The first method of "tp_btf", "raw_tp" that works for tp, or NULL with
 * every failure's reason in why ("tp_btf: ...; raw_tp: ..."). */
const char *st_probe_best(const char *tp, char *why, size_t wlen);

#endif /* ST_ATTACH_PROBE_H */
