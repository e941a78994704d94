/* SPDX-License-Identifier: MIT */
/*
 * stagetrace report: the interface between the HTML page (report_html.c)
 * and its SVG charts (report_svg.c).
 *
 * Design: the page writer owns the document, its order and the escaping;
 * each chart function writes one self-contained <div class="chart"><svg>
 * block for the whole report and nothing else, so the page decides where
 * the charts go and the charts cannot break the page around them. The
 * charts write collector strings only through the escaping functions
 * below, which live in report_html.c so there is exactly one HTML escaper.
 * Private to the report command, like report.h.
 */
#ifndef ST_CLI_REPORT_SVG_H
#define ST_CLI_REPORT_SVG_H

#include <stddef.h>
#include <stdio.h>

#include "report.h"

/* Escaping (report_html.c). */

/* Write s escaped for HTML text and double-quoted attributes. */
void report_html_put(FILE *f, const char *s);
/* Write s escaped, cut to at most max characters (UTF-8 aware), with an
 * ellipsis when cut. */
void report_html_put_cut(FILE *f, const char *s, size_t max);
/* Write "src → dst" escaped; max > 0 cuts each side to max / 2
 * characters, 0 writes both names whole. */
void report_html_pair_label(FILE *f, const struct report_pair *p, size_t max);

/* Charts (report_svg.c). */

/* The VM-pair matrix: sources by destinations, filled by p50 on a log
 * scale, with its legend. */
void report_svg_matrix(FILE *f, const struct report *r);
/* Pairs by stages, filled by the stage's share of the pair's time. */
void report_svg_shares(FILE *f, const struct report *r);
/* Per pair, the stage means stacked in path order on one linear scale. */
void report_svg_bars(FILE *f, const struct report *r);

#endif /* ST_CLI_REPORT_SVG_H */
