/* SPDX-License-Identifier: MIT */
/*
 * Text rendering of a log-linear histogram (hist.h) as rows of bars:
 *
 *       usecs               : count    distribution
 *     [4, 5)                : 890      |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
 *
 * Each power of two is cut into rows_per_octave equal rows (1 gives the
 * familiar log2 rows; 64 shows every sub-bucket), because the stored
 * buckets are much finer than a screen: the rows are sums of whole
 * buckets, never interpolated. Row boundaries are powers of two (and their
 * fractions) of the display unit, so they read "[16, 24)" in microseconds;
 * when the unit is not 1 a boundary falls inside a bucket and that bucket
 * counts in the row its low bound is in, an error below 1/64 of the
 * boundary. With unit 1 the rows are exact. Long runs of empty rows inside the range
 * are folded into one "..." line. A summary line with count, mean and
 * quantiles follows; those come from the full-precision buckets, not from
 * the rows.
 */
#ifndef ST_HIST_BARS_H
#define ST_HIST_BARS_H

#include <stdio.h>

#include "hist.h"

struct st_hist_bars_opts {
	double unit;		/* recorded values per displayed unit (1000: ns -> us) */
	const char *unit_name;	/* "usecs" */
	unsigned rows_per_octave;	/* 1..64, a power of two */
	unsigned width;		/* bar width in characters */
	const char *indent;
};

void st_hist_bars(FILE *f, const struct st_hist *h, const struct st_hist_bars_opts *o);

/* "12.5" / "3" / "0.512": a value in display units, shortest exact-ish form. */
const char *st_hist_fmt_val(double v, char *buf, size_t len);

#endif /* ST_HIST_BARS_H */
