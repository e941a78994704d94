// SPDX-License-Identifier: MIT
/*
 * stagetrace report: the HTML renderer.
 *
 * Design: one self-contained file that any browser shows offline: inline
 * CSS, inline SVG, no script, no fonts or images from elsewhere (a
 * Content-Security-Policy meta tag forbids them, so even a renderer bug
 * could not make the page load or run anything). It holds three charts and
 * the tables of the markdown format. This file writes the page, the
 * summary cards and the tables, and owns the escaping; the three SVG
 * charts are drawn by report_svg.c (see report_svg.h).
 * Every string that came from the collector (VM and stage names) is
 * written through report_html_put(), which escapes the five HTML
 * metacharacters; attributes are always double-quoted, so the same
 * escaping is safe there.
 */
#include "report.h"
#include "report_svg.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>


/* ---- escaping ----------------------------------------------------------- */

/* Write s escaped for HTML text and double-quoted attributes. */
void report_html_put(FILE *f, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; p && *p; p++) {
		switch (*p) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		default:
			/* Controls have no business in a name; show them as '?'. */
			fputc(*p < 0x20 || *p == 0x7f ? '?' : *p, f);
		}
	}
}

/*
 * Write s escaped, cut to at most max characters (UTF-8 aware) with an
 * ellipsis, for SVG labels that must fit a cell; the full name goes in a
 * <title> next to it.
 */
void report_html_put_cut(FILE *f, const char *s, size_t max)
{
	size_t chars = 0, i;
	char *copy;

	for (i = 0; s[i]; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80 && ++chars > max)
			break;
	if (!s[i]) {
		report_html_put(f, s);
		return;
	}
	/* Cut one character earlier to make room for the ellipsis. */
	while (i > 0 && ((unsigned char)s[--i] & 0xc0) == 0x80)
		;
	if (!(copy = strndup(s, i)))
		return;
	report_html_put(f, copy);
	fputs("…", f);
	free(copy);
}

void report_html_pair_label(FILE *f, const struct report_pair *p, size_t max)
{
	if (max) {
		/* Each side gets half the room. */
		report_html_put_cut(f, p->src, max / 2);
		fputs(" → ", f);
		report_html_put_cut(f, p->dst, max / 2);
	} else {
		report_html_put(f, p->src);
		fputs(" → ", f);
		report_html_put(f, p->dst);
	}
}

/* ---- page parts --------------------------------------------------------- */

static const char css[] =
	"body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;"
	"color:#1d2330;background:#fff;margin:24px auto;max-width:1320px;padding:0 20px}"
	"h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;margin:34px 0 6px;"
	"border-bottom:1px solid #e3e6ec;padding-bottom:4px}h3{font-size:15px;margin:22px 0 6px}"
	".meta{color:#5b6475;margin:0}.note{color:#5b6475;font-size:13px;max-width:900px}"
	".cards{display:flex;flex-wrap:wrap;gap:10px;margin:18px 0}"
	".card{border:1px solid #e3e6ec;border-radius:8px;padding:8px 14px;min-width:110px;"
	"background:#fafbfc}.card b{display:block;font-size:20px}"
	".card span{color:#5b6475;font-size:12px}.card.wide{min-width:260px}"
	"table{border-collapse:collapse;margin:8px 0 4px;font-size:13px}"
	"th,td{border-bottom:1px solid #e3e6ec;padding:4px 9px;text-align:right;white-space:nowrap}"
	"th{background:#f3f5f8;font-weight:600}td.l,th.l{text-align:left}"
	"td.l{white-space:normal;overflow-wrap:anywhere;max-width:420px}"
	"tr.overall td{font-weight:600;background:#fafbfc}.warn{color:#b3261e}"
	".chart{overflow-x:auto}svg{display:block;margin:6px 0}svg text{font-family:system-ui,'DejaVu Sans',sans-serif;"
	"font-size:12px;fill:#1d2330}svg text.w{fill:#fff}svg text.s{font-size:11px}"
	"svg text.h{font-weight:600}.mono{font-variant-numeric:tabular-nums}";

static void page_head(FILE *f, const struct report *r)
{
	char a[32], b[32], d[32];

	report_fmt_time(r->since, a, sizeof(a));
	report_fmt_time(r->until, b, sizeof(b));
	report_fmt_duration(report_duration(r), d, sizeof(d));
	fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
		   "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
		   "style-src 'unsafe-inline'\">\n"
		   "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
		   "<title>stagetrace report %s – %s UTC</title>\n<style>%s</style>\n</head>\n"
		   "<body>\n<h1>stagetrace report</h1>\n"
		   "<p class=\"meta\">%s – %s UTC (%s)", a, b, css, a, b, d);
	if (r->source && *r->source) {
		fputs(" · ", f);
		report_html_put(f, r->source);
	}
	fputs("</p>\n", f);
}

static void card(FILE *f, const char *cls, const char *value, const char *label)
{
	fprintf(f, "<div class=\"card%s%s\"><b>%s</b><span>%s</span></div>\n", cls ? " " : "",
		cls ? cls : "", value, label);
}

static void overall_cards(FILE *f, const struct report *r)
{
	const struct report_overall *o = &r->overall;
	const struct report_agg *l = &o->latency;
	char v[64];
	size_t top = report_top_count(r, o->nstages);

	fputs("<div class=\"cards\">\n", f);
	snprintf(v, sizeof(v), "%zu", o->pairs);
	card(f, NULL, v, "VM pairs");
	snprintf(v, sizeof(v), "%llu", (unsigned long long)o->packets);
	card(f, NULL, v, "packets matched");
	snprintf(v, sizeof(v), "%llu / %llu", (unsigned long long)o->lost,
		 (unsigned long long)o->dropped);
	card(f, NULL, v, "lost / dropped");
	report_fmt_num(v, sizeof(v), isfinite(o->match_rate) ? 100 * o->match_rate : NAN, 2);
	strcat(v, isfinite(o->match_rate) ? "%" : "");
	card(f, NULL, v, "match rate");
	card(f, NULL, report_fmt_num(v, sizeof(v), l->mean_us, 1), "avg µs (exact)");
	if (l->pairs) {
		snprintf(v, sizeof(v), "≤ %.1f", l->p50.upper);
		card(f, NULL, v, "p50 µs (upper bound)");
		snprintf(v, sizeof(v), "≤ %.1f", l->p99.upper);
		card(f, NULL, v, "p99 µs (upper bound)");
	}
	card(f, NULL, report_fmt_num(v, sizeof(v), l->max_us, 1), "max µs (exact)");
	fputs("<div class=\"card wide\"><b>", f);
	for (size_t i = 0; i < top; i++) {
		const struct report_stage *s = &o->stages[o->by_share[i]];

		fputs(i ? ", " : "", f);
		report_html_put(f, s->name);
		fprintf(f, " %.1f%%", 100 * s->share);
	}
	if (!o->nstages)
		fputs("–", f);
	fputs("</b><span>top latency contributors, all pairs</span></div>\n</div>\n", f);
}

/* ---- tables ------------------------------------------------------------- */

static void td_num(FILE *f, double v, int decimals)
{
	if (isfinite(v))
		fprintf(f, "<td>%.*f</td>", decimals, v);
	else
		fputs("<td>–</td>", f);
}

static void td_contributors(FILE *f, const struct report *r, const struct report_stage *st,
			    size_t n, const size_t *by_share)
{
	size_t top = report_top_count(r, n);

	fputs("<td class=\"l\">", f);
	for (size_t i = 0; i < top; i++) {
		fputs(i ? ", " : "", f);
		report_html_put(f, st[by_share[i]].name);
		fprintf(f, " %.1f%%", 100 * st[by_share[i]].share);
	}
	fputs(n ? "</td>" : "–</td>", f);
}

static void table_pairs(FILE *f, const struct report *r)
{
	const struct report_overall *o = &r->overall;
	const struct report_agg *ol = &o->latency, *ot = &o->turnaround;

	fputs("<table>\n<tr><th class=\"l\">pair</th><th>packets</th><th>lost</th>"
	      "<th>dropped</th><th>match %</th><th>avg µs</th><th>p50 µs</th><th>p95 µs</th>"
	      "<th>p99 µs</th><th>max µs</th><th class=\"l\">top contributors</th>"
	      "<th>turnaround p50 / p99 µs</th></tr>\n", f);
	for (size_t i = 0; i < r->npairs; i++) {
		const struct report_pair *p = &r->pairs[i];
		const struct report_dist *l = &p->latency, *t = &p->turnaround;
		bool has = l->present && l->count;

		fputs("<tr><td class=\"l\">", f);
		report_html_pair_label(f, p, 0);
		if (p->clock_bound_large)
			fputs(" <span class=\"warn\" title=\"the clock bound is large next to the "
			      "cross-host figures: see stagetrace clocks\">⚠</span>", f);
		fprintf(f, "</td><td>%llu</td><td>%llu</td><td>%llu</td>",
			(unsigned long long)p->packets, (unsigned long long)p->lost,
			(unsigned long long)p->dropped);
		td_num(f, isfinite(p->match_rate) ? 100 * p->match_rate : NAN, 2);
		td_num(f, has ? l->mean_us : NAN, 1);
		td_num(f, has ? l->p50_us : NAN, 1);
		td_num(f, has ? l->p95_us : NAN, 1);
		td_num(f, has ? l->p99_us : NAN, 1);
		td_num(f, has ? l->max_us : NAN, 1);
		td_contributors(f, r, p->stages, p->nstages, p->by_share);
		if (t->present && t->count)
			fprintf(f, "<td>%.1f / %.1f</td></tr>\n", t->p50_us, t->p99_us);
		else
			fputs("<td>–</td></tr>\n", f);
	}
	fprintf(f, "<tr class=\"overall\"><td class=\"l\">overall</td><td>%llu</td><td>%llu</td>"
		   "<td>%llu</td>", (unsigned long long)o->packets, (unsigned long long)o->lost,
		(unsigned long long)o->dropped);
	td_num(f, isfinite(o->match_rate) ? 100 * o->match_rate : NAN, 2);
	td_num(f, ol->mean_us, 1);
	if (ol->pairs)
		fprintf(f, "<td title=\"upper bound\">≤ %.1f</td><td title=\"upper bound\">≤ %.1f</td>"
			   "<td title=\"upper bound\">≤ %.1f</td>", ol->p50.upper, ol->p95.upper,
			ol->p99.upper);
	else
		fputs("<td>–</td><td>–</td><td>–</td>", f);
	td_num(f, ol->max_us, 1);
	td_contributors(f, r, o->stages, o->nstages, o->by_share);
	if (ot->pairs)
		fprintf(f, "<td>≤ %.1f / ≤ %.1f</td></tr>\n", ot->p50.upper, ot->p99.upper);
	else
		fputs("<td>–</td></tr>\n", f);
	fputs("</table>\n<p class=\"note\">Shares are of the summed stage time "
	      "(mean × count). <b>Overall</b> packets, losses, match rate, avg, max and shares are "
	      "exact (sums over pairs, means weighted by packets). Percentiles cannot be merged "
	      "from per-pair summaries: ≤ marks the largest per-pair value, an upper bound", f);
	if (ol->pairs)
		fprintf(f, "; the smallest per-pair value is a lower bound (p50 ≥ %.1f, p95 ≥ %.1f, "
			   "p99 ≥ %.1f µs)", ol->p50.lower, ol->p95.lower, ol->p99.lower);
	fputs(".</p>\n", f);
}

static void table_stages(FILE *f, const struct report_pair *p)
{
	fputs("<h3>", f);
	report_html_pair_label(f, p, 0);
	fputs("</h3>\n", f);
	if (!p->nstages) {
		fputs("<p class=\"note\">No stage recorded.</p>\n", f);
		return;
	}
	fputs("<table>\n<tr><th class=\"l\">stage</th><th>count</th><th>mean µs</th>"
	      "<th>p50 µs</th><th>p95 µs</th><th>p99 µs</th><th>max µs</th><th>share</th>"
	      "<th>clock bound µs</th></tr>\n", f);
	for (size_t k = 0; k < p->nstages; k++) {
		const struct report_stage *s = &p->stages[k];

		fputs("<tr><td class=\"l\">", f);
		report_html_put(f, s->name);
		fprintf(f, "</td><td>%llu</td>", (unsigned long long)s->d.count);
		td_num(f, s->d.mean_us, 1);
		td_num(f, s->d.p50_us, 1);
		td_num(f, s->d.p95_us, 1);
		td_num(f, s->d.p99_us, 1);
		td_num(f, s->d.max_us, 1);
		fprintf(f, "<td>%.1f%%</td>", 100 * s->share);
		if (isfinite(s->d.clock_bound_us))
			fprintf(f, "<td>±%.1f</td></tr>\n", s->d.clock_bound_us);
		else
			fputs("<td>–</td></tr>\n", f);
	}
	fputs("</table>\n", f);
	if (p->turnaround.present && p->turnaround.count) {
		fputs("<p class=\"note\">", f);
		report_html_put(f, p->dst);
		fprintf(f, " answered in p50 %.1f µs, p99 %.1f µs, max %.1f µs (%llu replies; not "
			   "part of the one-way latency).</p>\n", p->turnaround.p50_us,
			p->turnaround.p99_us, p->turnaround.max_us,
			(unsigned long long)p->turnaround.count);
	}
}

int report_render_html(FILE *f, const struct report *r)
{
	page_head(f, r);
	overall_cards(f, r);
	if (!r->npairs) {
		fputs("<p>No traffic was recorded in this time range.</p>\n</body>\n</html>\n", f);
		return ferror(f) ? -1 : 0;
	}
	fputs("<h2>VM-pair matrix</h2>\n<p class=\"note\">Rows are sources, columns destinations. "
	      "The colour is the pair's end-to-end p50 on a log scale; each cell shows its p50 "
	      "and p99 in µs. Hover a cell for p95 and max.</p>\n", f);
	report_svg_matrix(f, r);
	fputs("<h2>Where the time goes</h2>\n<p class=\"note\">Each stage's share of the pair's "
	      "time (the stage's mean × its count, over the sum for all stages): the darker, "
	      "the more of the latency that stage holds.</p>\n", f);
	report_svg_shares(f, r);
	fputs("<h2>Stage means per pair</h2>\n<p class=\"note\">Mean time per stage, stacked in "
	      "the order a packet travels; all bars share one scale.</p>\n", f);
	report_svg_bars(f, r);
	fputs("<h2>Pairs</h2>\n", f);
	table_pairs(f, r);
	fputs("<h2>Stages per pair</h2>\n<p class=\"note\">A stage's time is the interval that "
	      "ends at its stamp; <code>wire</code> is between hosts and carries the bound of "
	      "the clock alignment.</p>\n", f);
	for (size_t i = 0; i < r->npairs; i++)
		table_stages(f, &r->pairs[i]);
	fputs("</body>\n</html>\n", f);
	return ferror(f) ? -1 : 0;
}
