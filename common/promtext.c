// SPDX-License-Identifier: MIT
/* Prometheus text exposition; see promtext.h. */
#include "promtext.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int sb_reserve(struct st_sbuf *b, size_t need)
{
	size_t cap = b->cap ? b->cap : 16384;
	char *n;

	if (b->oom)
		return -1;
	while (cap - b->len < need)
		cap *= 2;
	if (cap == b->cap)
		return 0;
	n = realloc(b->p, cap);
	if (!n) {
		b->oom = 1;
		return -1;
	}
	b->p = n;
	b->cap = cap;
	return 0;
}

void st_sb_put(struct st_sbuf *b, const char *s, size_t n)
{
	if (sb_reserve(b, n + 1))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

void st_sb_puts(struct st_sbuf *b, const char *s) { st_sb_put(b, s, strlen(s)); }

void st_sb_printf(struct st_sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		if (sb_reserve(b, 64))
			return;
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = 1;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		if (sb_reserve(b, (size_t)n + 1))
			return;
	}
}

/*
 * Length of the valid UTF-8 sequence at s, or 0 if it is not one (overlong
 * forms, surrogates and code points above U+10FFFF included). Label values
 * come from agents; Prometheus refuses a scrape with invalid UTF-8 in one.
 */
static int utf8_len(const unsigned char *s)
{
	unsigned c = s[0];
	int n, i;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return n;
}

/* A label value, escaped as the format requires; invalid UTF-8 becomes '?'. */
void st_prom_label_value(struct st_sbuf *b, const char *s)
{
	const unsigned char *u = (const unsigned char *)s;

	while (*u) {
		int n = utf8_len(u);

		if (n == 0) {
			st_sb_put(b, "?", 1);
			u++;
			continue;
		}
		if (*u == '\\')
			st_sb_put(b, "\\\\", 2);
		else if (*u == '"')
			st_sb_put(b, "\\\"", 2);
		else if (*u == '\n')
			st_sb_put(b, "\\n", 2);
		else
			st_sb_put(b, (const char *)u, (size_t)n);
		u += n;
	}
}

void st_prom_family(struct st_sbuf *b, const char *name, const char *type, const char *help)
{
	st_sb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{k1="v1",...}: the labels are NULL-terminated key, value pairs. */
static void series(struct st_sbuf *b, const char *name, va_list ap)
{
	const char *k, *v;
	int n = 0;

	st_sb_puts(b, name);
	while ((k = va_arg(ap, const char *)) != NULL) {
		v = va_arg(ap, const char *);
		st_sb_puts(b, n++ ? ",": "{");
		st_sb_puts(b, k);
		st_sb_puts(b, "=\"");
		st_prom_label_value(b, v ? v : "");
		st_sb_puts(b, "\"");
	}
	if (n)
		st_sb_puts(b, "}");
}

/* A sample with an exact integer value. */
void st_prom_sample_u(struct st_sbuf *b, const char *name, uint64_t v, ...)
{
	va_list ap;

	va_start(ap, v);
	series(b, name, ap);
	va_end(ap);
	st_sb_printf(b, " %" PRIu64 "\n", v);
}

/* A sample with a float value; NaN and infinities as the format spells them. */
void st_prom_sample_d(struct st_sbuf *b, const char *name, double v, ...)
{
	va_list ap;

	va_start(ap, v);
	series(b, name, ap);
	va_end(ap);
	if (isnan(v))
		st_sb_puts(b, " NaN\n");
	else if (isinf(v))
		st_sb_puts(b, v > 0 ? " +Inf\n" : " -Inf\n");
	else
		st_sb_printf(b, " %.15g\n", v);
}

