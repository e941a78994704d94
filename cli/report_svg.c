// SPDX-License-Identifier: MIT
/*
 * stagetrace report: the SVG charts of the HTML report.
 *
 * Design: each chart is inline SVG written straight into the page, sized
 * from the data (label columns from the longest name, matrix cells
 * shrinking to fit the page), with no script: hover titles (SVG <title>)
 * carry the exact figures. The three charts are
 *   - the VM-pair matrix: rows are sources, columns destinations, the fill
 *     is the pair's end-to-end p50 on a log scale (legend below), the
 *     label its p50 and p99;
 *   - pairs x stages: the fill is the stage's share of the pair's time;
 *   - per pair, a horizontal bar of the stage means stacked in path order,
 *     all bars on one linear scale so pairs compare.
 * Colours come from fixed palettes (ColorBrewer ramps, Tableau 10) and
 * text on a dark fill turns white. Names are written only through the
 * escaping helpers of report_html.c, so this file never emits a raw
 * collector string.
 */
#include "report.h"
#include "report_svg.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Characters of a UTF-8 string, for sizing label columns. */
static size_t utf8_len(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

/* ---- colours ------------------------------------------------------------ */

/* ColorBrewer YlOrRd (latency: pale is fast, dark red slow) and Blues. */
static const uint32_t pal_latency[] = { 0xffffcc, 0xffeda0, 0xfed976, 0xfeb24c, 0xfd8d3c,
					0xfc4e2a, 0xe31a1c, 0xbd0026, 0x800026 };
static const uint32_t pal_share[] = { 0xf7fbff, 0xdeebf7, 0xc6dbef, 0x9ecae1, 0x6baed6,
				      0x4292c6, 0x2171b5, 0x08519c, 0x08306b };
/* Tableau 10, for stages in the stacked bars. */
static const uint32_t pal_stage[] = { 0x4e79a7, 0xf28e2b, 0xe15759, 0x76b7b2, 0x59a14f,
				      0xedc948, 0xb07aa1, 0xff9da7, 0x9c755f, 0xbab0ac };
#define NPAL(a) (sizeof(a) / sizeof(a[0]))

/* Linear interpolation between palette stops, t in [0, 1]. */
static uint32_t ramp(const uint32_t *pal, size_t n, double t)
{
	double pos, frac;
	size_t i;
	uint32_t c = 0;

	if (!(t > 0))
		t = 0;
	if (t > 1)
		t = 1;
	pos = t * (double)(n - 1);
	i = (size_t)pos;
	if (i >= n - 1)
		return pal[n - 1];
	frac = pos - (double)i;
	for (int sh = 0; sh <= 16; sh += 8) {
		double a = (pal[i] >> sh) & 0xff, b = (pal[i + 1] >> sh) & 0xff;

		c |= (uint32_t)lround(a + (b - a) * frac) << sh;
	}
	return c;
}

/* Whether a fill is dark enough to need white text (relative luminance). */
static bool is_dark(uint32_t c)
{
	double r = (c >> 16) & 0xff, g = (c >> 8) & 0xff, b = c & 0xff;

	return 0.2126 * r + 0.7152 * g + 0.0722 * b < 140;
}

/* ---- scales ------------------------------------------------------------- */

/* A log scale over whole decades that covers [lo, hi] (both > 0). */
struct logscale {
	double lo, hi;	/* powers of ten */
};

static struct logscale logscale_make(double lo, double hi)
{
	struct logscale s;

	if (!(lo > 0))
		lo = 1;
	if (!(hi >= lo))
		hi = lo;
	s.lo = pow(10, floor(log10(lo)));
	s.hi = pow(10, ceil(log10(hi)));
	if (s.hi <= s.lo)
		s.hi = s.lo * 10;
	return s;
}

static double logscale_t(const struct logscale *s, double v)
{
	if (!(v > s->lo))
		return 0;
	return (log10(v) - log10(s->lo)) / (log10(s->hi) - log10(s->lo));
}

/* "50 µs", "2 ms", "1.5 s" for axis and legend ticks. */
static void fmt_time_tick(char *buf, size_t n, double us)
{
	if (us >= 1e6)
		snprintf(buf, n, "%g s", us / 1e6);
	else if (us >= 1e3)
		snprintf(buf, n, "%g ms", us / 1e3);
	else
		snprintf(buf, n, "%g µs", us);
}

/* A "nice" tick step (1, 2 or 5 x 10^k) for about `ticks` ticks up to max. */
static double nice_step(double max, int ticks)
{
	double raw = max / ticks, mag = pow(10, floor(log10(raw))), r = raw / mag;

	return (r <= 1 ? 1 : r <= 2 ? 2 : r <= 5 ? 5 : 10) * mag;
}

/* ---- chart 1: the VM-pair matrix ---------------------------------------- */

/* Names sort naturally ("vm-2" before "vm-10"). */
static int cmp_name(const void *a, const void *b)
{
	return strverscmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted distinct sources (dst == 0) or destinations; NULL on ENOMEM. */
static const char **axis_names(const struct report *r, bool dst, size_t *n)
{
	const char **v = calloc(r->npairs + 1, sizeof(*v));

	if (!v)
		return NULL;
	for (size_t i = 0; i < r->npairs; i++)
		v[i] = dst ? r->pairs[i].dst : r->pairs[i].src;
	qsort(v, r->npairs, sizeof(*v), cmp_name);
	*n = 0;
	for (size_t i = 0; i < r->npairs; i++)
		if (!*n || strcmp(v[*n - 1], v[i]))
			v[(*n)++] = v[i];
	return v;
}

static size_t name_at(const char **names, size_t n, const char *s)
{
	const char **hit = bsearch(&s, names, n, sizeof(*names), cmp_name);

	return hit ? (size_t)(hit - names) : 0;
}

/* A latency in few characters, for narrow cells: "27.3", "432", "41157". */
static void fmt_compact(char *buf, size_t n, double us)
{
	snprintf(buf, n, us < 100 ? "%.1f" : us < 1e6 ? "%.0f" : "%.3g", us);
}

static void legend_gradient(FILE *f, const char *id, const uint32_t *pal, size_t npal, double x,
			    double y, double w)
{
	fprintf(f, "<defs><linearGradient id=\"%s\">", id);
	for (size_t i = 0; i < npal; i++)
		fprintf(f, "<stop offset=\"%.3f\" stop-color=\"#%06x\"/>",
			(double)i / (double)(npal - 1), pal[i]);
	fprintf(f, "</linearGradient></defs>\n<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
		   "height=\"12\" fill=\"url(#%s)\" stroke=\"#9aa3b2\" stroke-width=\"0.5\"/>\n",
		x, y, w, id);
}

static void legend_tick(FILE *f, double x, double y, const char *label)
{
	fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#5b6475\"/>"
		   "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" class=\"s\">%s</text>\n",
		x, x, y + 12, y + 17, x, y + 30, label);
}

/* The log colour scale with ticks at 1, 2 and 5 x 10^k that do not collide. */
static void legend_log(FILE *f, const struct logscale *ls, double x, double y, double w)
{
	static const double mult[] = { 1, 2, 5 };
	double last = -1e9;

	legend_gradient(f, "lg-lat", pal_latency, NPAL(pal_latency), x, y, w);
	for (double dec = ls->lo; dec <= ls->hi * 1.0001; dec *= 10)
		for (size_t m = 0; m < 3; m++) {
			double v = dec * mult[m], tx = x + w * logscale_t(ls, v);
			char lab[32];

			/* Decades always; 2 and 5 only where there is room. */
			if (v > ls->hi * 1.0001 || (m && (tx - last < 48 ||
							  x + w - tx < 48)))
				continue;
			fmt_time_tick(lab, sizeof(lab), v);
			legend_tick(f, tx, y, lab);
			last = tx;
		}
}

void report_svg_matrix(FILE *f, const struct report *r)
{
	const double ch = 50, top = 46, lw = 420, avail = 1260;
	size_t nr = 0, nc = 0, *at = NULL, maxc = 4;
	const char **rows = axis_names(r, false, &nr), **cols = axis_names(r, true, &nc);
	double lo = INFINITY, hi = 0, left, cw, width, height, ly;
	bool narrow;
	struct logscale ls;

	if (!rows || !cols || !(at = malloc((nr * nc + 1) * sizeof(*at))))
		goto out;
	for (size_t i = 0; i < nr * nc; i++)
		at[i] = SIZE_MAX;
	for (size_t i = 0; i < r->npairs; i++) {
		const struct report_pair *p = &r->pairs[i];

		at[name_at(rows, nr, p->src) * nc + name_at(cols, nc, p->dst)] = i;
		if (p->latency.present && p->latency.count && p->latency.p50_us > 0) {
			lo = fmin(lo, p->latency.p50_us);
			hi = fmax(hi, p->latency.p50_us);
		}
	}
	for (size_t i = 0; i < nr; i++)
		maxc = utf8_len(rows[i]) > maxc ? utf8_len(rows[i]) : maxc;
	if (maxc > 18)
		maxc = 18;
	ls = logscale_make(isfinite(lo) ? lo : 1, hi > 0 ? hi : 1);
	left = 30 + 7.5 * (double)maxc;
	/* Cells shrink to fit the page, down to a width that still reads. */
	cw = (avail - left) / (double)nc;
	cw = cw > 122 ? 122 : cw < 58 ? 58 : cw;
	narrow = cw < 110;
	width = left + cw * (double)nc + 20;
	if (width < left + lw + 40)
		width = left + lw + 40;
	ly = top + ch * (double)nr + 34;
	height = ly + 44;

	fprintf(f, "<div class=\"chart\"><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" "
		   "height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" role=\"img\" "
		   "aria-label=\"VM-pair latency matrix\">\n", width, height, width, height);
	fprintf(f, "<text x=\"%.1f\" y=\"14\" class=\"s\">destination →</text>\n", left);
	fprintf(f, "<text transform=\"translate(14 %.1f) rotate(-90)\" text-anchor=\"end\" "
		   "class=\"s\">source →</text>\n", top);
	for (size_t j = 0; j < nc; j++) {
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" class=\"h\"><title>",
			left + cw * ((double)j + 0.5), top - 10);
		report_html_put(f, cols[j]);
		fputs("</title>", f);
		report_html_put_cut(f, cols[j], (size_t)(cw / 8));
		fputs("</text>\n", f);
	}
	for (size_t i = 0; i < nr; i++) {
		double y = top + ch * (double)i;

		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" class=\"h\"><title>",
			left - 8, y + ch / 2 + 4);
		report_html_put(f, rows[i]);
		fputs("</title>", f);
		report_html_put_cut(f, rows[i], maxc);
		fputs("</text>\n", f);
		for (size_t j = 0; j < nc; j++) {
			double x = left + cw * (double)j;
			size_t k = at[i * nc + j];
			const struct report_pair *p = k == SIZE_MAX ? NULL : &r->pairs[k];
			bool has = p && p->latency.present && p->latency.count;
			uint32_t fill = has ? ramp(pal_latency, NPAL(pal_latency),
						   logscale_t(&ls, p->latency.p50_us)) : 0xf1f3f6;
			const char *tc = is_dark(fill) ? " w" : "";
			char a[32], b[32];

			fprintf(f, "<g><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
				   "fill=\"#%06x\" stroke=\"#fff\" stroke-width=\"2\"/>",
				x, y, cw, ch, fill);
			if (!p) {
				fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" "
					   "class=\"s\" fill-opacity=\"0.5\">–</text></g>\n",
					x + cw / 2, y + ch / 2 + 4);
				continue;
			}
			fputs("<title>", f);
			report_html_pair_label(f, p, 0);
			if (has)
				fprintf(f, ": %llu packets, p50 %.1f µs, p95 %.1f µs, p99 %.1f µs, "
					   "max %.1f µs", (unsigned long long)p->latency.count,
					p->latency.p50_us, p->latency.p95_us, p->latency.p99_us,
					p->latency.max_us);
			else
				fprintf(f, ": no packet matched (%llu lost)",
					(unsigned long long)p->lost);
			fputs("</title>", f);
			if (has && narrow) {
				fmt_compact(a, sizeof(a), p->latency.p50_us);
				fmt_compact(b, sizeof(b), p->latency.p99_us);
			} else if (has) {
				snprintf(a, sizeof(a), "p50 %.1f", p->latency.p50_us);
				snprintf(b, sizeof(b), "p99 %.1f µs", p->latency.p99_us);
			}
			if (has)
				fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" "
					   "class=\"h%s\">%s</text><text x=\"%.1f\" y=\"%.1f\" "
					   "text-anchor=\"middle\" class=\"s%s\">%s</text>",
					x + cw / 2, y + 21, tc, a, x + cw / 2, y + 37, tc, b);
			else
				fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" "
					   "class=\"s\">no match</text>", x + cw / 2, y + ch / 2 + 4);
			fputs("</g>\n", f);
		}
	}
	fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" class=\"s\">end-to-end p50 (log scale)%s</text>\n",
		left, ly - 6, narrow ? "; cells: p50 above p99, in µs" : "");
	legend_log(f, &ls, left, ly, lw);
	fputs("</svg></div>\n", f);
out:
	free(at);
	free(rows);
	free(cols);
}

/* ---- chart 2: pairs x stages, coloured by share ------------------------- */

static const struct report_stage *pair_stage(const struct report_pair *p, const char *name)
{
	for (size_t k = 0; k < p->nstages; k++)
		if (!strcmp(p->stages[k].name, name))
			return &p->stages[k];
	return NULL;
}

/* Width in characters of the pair labels of charts 2 and 3. */
static size_t pair_label_chars(const struct report *r)
{
	size_t w = 8;

	for (size_t i = 0; i < r->npairs; i++) {
		size_t c = utf8_len(r->pairs[i].src) + utf8_len(r->pairs[i].dst) + 3;

		w = c > w ? c : w;
	}
	return w > 36 ? 36 : w;
}

void report_svg_shares(FILE *f, const struct report *r)
{
	const struct report_overall *o = &r->overall;
	const double cw = 86, ch = 26, top = 30, lw = 300;
	size_t lc = pair_label_chars(r);
	double left = 16 + 7.2 * (double)lc, width, height, ly;

	width = left + cw * (double)o->nstages + 20;
	if (width < left + lw + 40)
		width = left + lw + 40;
	ly = top + ch * (double)r->npairs + 30;
	height = ly + 40;
	fprintf(f, "<div class=\"chart\"><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" "
		   "height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" role=\"img\" "
		   "aria-label=\"stage share per pair\">\n",
		width, height, width, height);
	for (size_t j = 0; j < o->nstages; j++) {
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" class=\"h\"><title>",
			left + cw * ((double)j + 0.5), top - 10);
		report_html_put(f, o->stages[j].name);
		fputs("</title>", f);
		report_html_put_cut(f, o->stages[j].name, 11);
		fputs("</text>\n", f);
	}
	for (size_t i = 0; i < r->npairs; i++) {
		const struct report_pair *p = &r->pairs[i];
		double y = top + ch * (double)i;

		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\"><title>", left - 8,
			y + ch / 2 + 4);
		report_html_pair_label(f, p, 0);
		fputs("</title>", f);
		report_html_pair_label(f, p, lc - 3);
		fputs("</text>\n", f);
		for (size_t j = 0; j < o->nstages; j++) {
			const struct report_stage *s = pair_stage(p, o->stages[j].name);
			double x = left + cw * (double)j;
			uint32_t fill = s ? ramp(pal_share, NPAL(pal_share), s->share) : 0xffffff;

			fprintf(f, "<g><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
				   "fill=\"#%06x\" stroke=\"#e3e6ec\"/>", x, y, cw, ch, fill);
			if (s) {
				fputs("<title>", f);
				report_html_pair_label(f, p, 0);
				fputs(", ", f);
				report_html_put(f, s->name);
				fprintf(f, ": share %.1f%%, mean %.1f µs, p50 %.1f µs, p99 %.1f µs "
					   "(rank %d)</title><text x=\"%.1f\" y=\"%.1f\" "
					   "text-anchor=\"middle\" class=\"s%s\">%.1f%%</text>",
					100 * s->share, s->d.mean_us, s->d.p50_us, s->d.p99_us, s->rank,
					x + cw / 2, y + ch / 2 + 4, is_dark(fill) ? " w" : "",
					100 * s->share);
			}
			fputs("</g>\n", f);
		}
	}
	fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" class=\"s\">share of the pair's summed stage "
		   "time (blank: stage not on this path)</text>\n", left, ly - 6);
	legend_gradient(f, "lg-share", pal_share, NPAL(pal_share), left, ly, lw);
	for (int t = 0; t <= 100; t += 25) {
		char lab[8];

		snprintf(lab, sizeof(lab), "%d%%", t);
		legend_tick(f, left + lw * t / 100, ly, lab);
	}
	fputs("</svg></div>\n", f);
}

/* ---- chart 3: stacked stage means per pair ------------------------------ */

static size_t overall_index(const struct report *r, const char *name)
{
	for (size_t i = 0; i < r->overall.nstages; i++)
		if (!strcmp(r->overall.stages[i].name, name))
			return i;
	return 0;
}

void report_svg_bars(FILE *f, const struct report *r)
{
	const struct report_overall *o = &r->overall;
	const double bh = 20, gap = 9, top = 30, chartw = 760;
	size_t lc = pair_label_chars(r);
	double left = 16 + 7.2 * (double)lc, max = 0, step, scale, width, height, ly, lx;

	for (size_t i = 0; i < r->npairs; i++) {
		double sum = 0;

		for (size_t k = 0; k < r->pairs[i].nstages; k++)
			sum += r->pairs[i].stages[k].d.mean_us;
		max = fmax(max, sum);
	}
	if (!(max > 0))
		max = 1;
	step = nice_step(max, 6);
	max = ceil(max / step) * step;
	scale = chartw / max;
	width = left + chartw + 120;
	ly = top + (bh + gap) * (double)r->npairs + 14;
	/* Legend rows: swatches wrap at the chart width. */
	lx = 0;
	height = ly + 22;
	for (size_t j = 0; j < o->nstages; j++) {
		double w = 22 + 7.2 * (double)utf8_len(o->stages[j].name) + 18;

		if (lx + w > chartw + 100) {
			lx = 0;
			height += 20;
		}
		lx += w;
	}
	height += 10;

	fprintf(f, "<div class=\"chart\"><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" "
		   "height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" role=\"img\" "
		   "aria-label=\"stage means per pair\">\n",
		width, height, width, height);
	for (double t = 0; t <= max * 1.0001; t += step) {
		double x = left + t * scale;
		char lab[32];

		fmt_time_tick(lab, sizeof(lab), t);
		fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#e3e6ec\"/>"
			   "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" class=\"s\">%s</text>\n",
			x, x, top - 6, ly - 10, x, top - 10, lab);
	}
	for (size_t i = 0; i < r->npairs; i++) {
		const struct report_pair *p = &r->pairs[i];
		double y = top + (bh + gap) * (double)i, x = left, sum = 0;

		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\"><title>", left - 8,
			y + bh / 2 + 4);
		report_html_pair_label(f, p, 0);
		fputs("</title>", f);
		report_html_pair_label(f, p, lc - 3);
		fputs("</text>\n", f);
		for (size_t k = 0; k < p->nstages; k++) {
			const struct report_stage *s = &p->stages[k];
			double w = s->d.mean_us * scale;
			uint32_t fill = pal_stage[overall_index(r, s->name) % NPAL(pal_stage)];

			sum += s->d.mean_us;
			if (!(w > 0))
				continue;
			fprintf(f, "<g><rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" "
				   "fill=\"#%06x\"/><title>", x, y, w, bh, fill);
			report_html_pair_label(f, p, 0);
			fputs(", ", f);
			report_html_put(f, s->name);
			fprintf(f, ": mean %.1f µs (%.1f%% of the time)</title>", s->d.mean_us,
				100 * s->share);
			if (w > 7.0 * (double)(utf8_len(s->name) + 1) + 8) {
				fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" class=\"s%s\">", x + 4,
					y + bh / 2 + 4, is_dark(fill) ? " w" : "");
				report_html_put(f, s->name);
				fputs("</text>", f);
			}
			fputs("</g>\n", f);
			x += w;
		}
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" class=\"s mono\">%.1f µs</text>\n", x + 6,
			y + bh / 2 + 4, sum);
	}
	lx = 0;
	for (size_t j = 0; j < o->nstages; j++) {
		double w = 22 + 7.2 * (double)utf8_len(o->stages[j].name) + 18;

		if (lx + w > chartw + 100) {
			lx = 0;
			ly += 20;
		}
		fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"14\" fill=\"#%06x\"/>"
			   "<text x=\"%.1f\" y=\"%.1f\">", left + lx, ly, pal_stage[j % NPAL(pal_stage)],
			left + lx + 20, ly + 12);
		report_html_put(f, o->stages[j].name);
		fputs("</text>\n", f);
		lx += w;
	}
	fputs("</svg></div>\n", f);
}
