// SPDX-License-Identifier: MIT
/*
 * Bars for log-linear histograms (see hist_bars.h). Rows are built from
 * value boundaries: within the power of two [2^e, 2^(e+1)) a row is
 * 2^e / rows_per_octave wide (at least 1), which is always a whole number of
 * the histogram's buckets, so a row's count is a plain sum of buckets.
 */
#include "hist_bars.h"

#include <stdlib.h>
#include <string.h>

/* Rows of empty space folded into "..." when more than this many. */
#define FOLD_EMPTY 3

const char *st_hist_fmt_val(double v, char *buf, size_t len)
{
	size_t n;

	if (v == (double)(unsigned long long)v && v < 1e15) {
		snprintf(buf, len, "%llu", (unsigned long long)v);
		return buf;
	}
	snprintf(buf, len, "%.3f", v);
	n = strlen(buf);
	while (n > 1 && buf[n - 1] == '0')
		buf[--n] = '\0';
	if (n > 1 && buf[n - 1] == '.')
		buf[--n] = '\0';
	return buf;
}

/* Start of the row after the one starting at lo. */
static uint64_t row_next(uint64_t lo, unsigned per)
{
	uint64_t step;
	uint32_t e;

	if (lo == 0)
		return 1;
	e = st_hist_msb(lo);
	step = (1ull << e) / per;
	return lo + (step ? step : 1);
}

/* Sum of the buckets with low bound in [lo, hi) (recorded units). */
static uint64_t row_count(const struct st_hist *h, uint64_t lo, uint64_t hi)
{
	uint64_t n = 0;
	uint32_t a = st_hist_index(lo);

	if (st_hist_bucket_low(a) < lo)
		a++;
	for (uint32_t i = a; i < ST_HIST_NBUCKETS && st_hist_bucket_low(i) < hi; i++)
		n += h->buckets[i];
	return n;
}

struct row {
	uint64_t lo, hi, count;
};

static void print_row(FILE *f, const struct st_hist_bars_opts *o, const struct row *r,
		      double unit, unsigned width, uint64_t maxrow)
{
	unsigned bar = maxrow ? (unsigned)((r->count * width + maxrow - 1) / maxrow) : 0;
	char a[32], b[32], range[80];

	(void)unit;
	snprintf(range, sizeof(range), "[%s, %s)", st_hist_fmt_val((double)r->lo, a, sizeof(a)),
		 st_hist_fmt_val((double)r->hi, b, sizeof(b)));
	fprintf(f, "%s%-24s: %-10llu |", o->indent ? o->indent : "", range,
		(unsigned long long)r->count);
	for (unsigned k = 0; k < width; k++)
		fputc(k < bar ? '@' : ' ', f);
	fprintf(f, "|\n");
}

void st_hist_bars(FILE *f, const struct st_hist *h, const struct st_hist_bars_opts *o)
{
	unsigned per = o->rows_per_octave ? o->rows_per_octave : 4;
	unsigned width = o->width ? o->width : 40;
	double unit = o->unit > 0 ? o->unit : 1;
	const char *ind = o->indent ? o->indent : "";
	uint64_t first = UINT64_MAX, last, maxrow = 0, lo;
	uint32_t lastidx = 0;
	struct row *rows;
	size_t n = 0, cap = (size_t)ST_HIST_MAX_EXP * ST_HIST_SUB + ST_HIST_SUB + 1;

	if (per > ST_HIST_SUB)
		per = ST_HIST_SUB;
	if (!h->count) {
		fprintf(f, "%s(no samples)\n", ind);
		return;
	}
	for (uint32_t i = 0; i < ST_HIST_NBUCKETS; i++)
		if (h->buckets[i]) {
			if (first == UINT64_MAX)
				first = st_hist_bucket_low(i);
			lastidx = i;
		}
	last = st_hist_bucket_high(lastidx);
	rows = calloc(cap, sizeof(*rows));
	if (!rows)
		return;

	/* Rows, in display units, from the one holding the first value to
	 * the one holding the last; the first row starts at a row boundary. */
	first = (uint64_t)(first / unit);
	last = (uint64_t)((last + unit - 1) / unit);
	for (lo = 0; row_next(lo, per) <= first;)
		lo = row_next(lo, per);
	for (; lo < last && n < cap; lo = row_next(lo, per)) {
		rows[n].lo = lo;
		rows[n].hi = row_next(lo, per);
		rows[n].count = row_count(h, (uint64_t)(lo * unit), (uint64_t)(rows[n].hi * unit));
		if (rows[n].count > maxrow)
			maxrow = rows[n].count;
		n++;
	}

	fprintf(f, "%s%-24s: %-10s distribution\n", ind, o->unit_name ? o->unit_name : "value",
		"count");
	for (size_t i = 0; i < n;) {
		size_t j = i;

		while (j < n && !rows[j].count)
			j++;
		if (j - i > FOLD_EMPTY) {
			fprintf(f, "%s%-24s: %-10s |%*s|\n", ind, "...", "0", width, "");
			i = j;
			continue;
		}
		print_row(f, o, &rows[i], unit, width, maxrow);
		i++;
	}
	free(rows);
}
