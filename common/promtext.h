/* SPDX-License-Identifier: MIT */
/*
 * Writing the Prometheus text exposition format (version 0.0.4) into a
 * growing buffer: families (HELP and TYPE lines) and samples with labels,
 * escaped as the format requires. Label values may come from the network
 * (agent and VM names); invalid UTF-8 in them becomes '?', because
 * Prometheus rejects a whole scrape over one bad byte. Used by the
 * collector's and the agent's /metrics.
 *
 * The buffer never fails midway: on allocation failure it sets oom and
 * ignores further writes, so renderers check once at the end.
 */
#ifndef ST_PROMTEXT_H
#define ST_PROMTEXT_H

#include <stddef.h>
#include <stdint.h>

struct st_sbuf {
	char *p;		/* NUL-terminated once anything was written */
	size_t len, cap;
	int oom;
};

void st_sb_put(struct st_sbuf *b, const char *s, size_t n);
void st_sb_puts(struct st_sbuf *b, const char *s);
__attribute__((format(printf, 2, 3)))
void st_sb_printf(struct st_sbuf *b, const char *fmt, ...);

/* A label value, escaped; invalid UTF-8 becomes '?'. */
void st_prom_label_value(struct st_sbuf *b, const char *s);
/* "# HELP name help" and "# TYPE name type". */
void st_prom_family(struct st_sbuf *b, const char *name, const char *type, const char *help);
/*
 * One sample: name, value, then NULL-terminated label key, value pairs:
 *   st_prom_sample_u(b, "x_total", 3, "host", "hv1", NULL);
 * _d spells NaN and infinities as the format wants.
 */
void st_prom_sample_u(struct st_sbuf *b, const char *name, uint64_t v, ...);
void st_prom_sample_d(struct st_sbuf *b, const char *name, double v, ...);

#endif /* ST_PROMTEXT_H */
