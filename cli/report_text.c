// SPDX-License-Identifier: MIT
/*
 * stagetrace report: the text, markdown and CSV renderers.
 *
 * Design: each renderer walks the report model (report.h) top-down and
 * formats it; none of them computes a figure. Every string that came from
 * the collector (VM names, stage names) passes through the escaper of its
 * format before it is written: for terminals, control characters are
 * replaced so a VM name cannot move the cursor or change colours; for
 * markdown, characters that start markup (and raw HTML, which markdown
 * renderers pass through) are backslash-escaped; for CSV, fields are quoted
 * as RFC 4180 says. Overall percentiles are printed as what they are, an
 * upper bound ("<=" in text, "≤" in markdown), with the lower bound in the
 * note beneath; CSV leaves them empty rather than print a guess.
 */
#include "report.h"

#include <ctype.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

/* ---- text --------------------------------------------------------------- */

/*
 * Copy s for a terminal: C0 controls, DEL and the UTF-8 encodings of C1
 * controls (U+0080..U+009F, which some terminals obey) become '?'.
 */
static void text_clean(char *out, size_t n, const char *s)
{
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p && o + 1 < n; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			out[o++] = '?';
		} else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			out[o++] = '?';
			p++;
		} else {
			out[o++] = (char)*p;
		}
	}
	out[o] = '\0';
}

static void text_pair_label(char *out, size_t n, const struct report_pair *p)
{
	char s[256], d[256];

	text_clean(s, sizeof(s), p->src);
	text_clean(d, sizeof(d), p->dst);
	snprintf(out, n, "%s -> %s", s, d);
}

/* "wire 81.4%, vm_rx 17.6%, nic_queue 0.4%" */
static void text_contributors(FILE *f, const struct report *r, const struct report_stage *st,
			      size_t n, const size_t *by_share)
{
	size_t top = report_top_count(r, n);
	char name[128];

	fprintf(f, "  top contributors:");
	if (!n)
		fprintf(f, " (no stage recorded)");
	for (size_t i = 0; i < top; i++) {
		text_clean(name, sizeof(name), st[by_share[i]].name);
		fprintf(f, "%s %s %.1f%%", i ? "," : "", name, 100 * st[by_share[i]].share);
	}
	if (top < n)
		fprintf(f, " (+%zu more)", n - top);
	fprintf(f, "\n");
}

/* The largest clock bound of a pair's cross-host figures, or NAN. */
static double pair_clock_bound(const struct report_pair *p)
{
	double b = p->latency.clock_bound_us;

	for (size_t i = 0; i < p->nstages; i++)
		if (isfinite(p->stages[i].d.clock_bound_us) &&
		    (isnan(b) || p->stages[i].d.clock_bound_us > b))
			b = p->stages[i].d.clock_bound_us;
	return b;
}

static void text_header(FILE *f, const struct report *r)
{
	char a[32], b[32], d[32], src[512];
	const struct report_overall *o = &r->overall;

	report_fmt_time(r->since, a, sizeof(a));
	report_fmt_time(r->until, b, sizeof(b));
	report_fmt_duration(report_duration(r), d, sizeof(d));
	text_clean(src, sizeof(src), r->source ? r->source : "");
	fprintf(f, "stagetrace report: %s .. %s UTC (%s)\n", a, b, d);
	if (*src)
		fprintf(f, "source: %s\n", src);
	fprintf(f, "%zu VM pair%s: %llu packets matched end to end, %llu lost, %llu dropped, "
		"%llu unmatched", o->pairs, o->pairs == 1 ? "" : "s",
		(unsigned long long)o->packets, (unsigned long long)o->lost,
		(unsigned long long)o->dropped, (unsigned long long)o->unmatched);
	if (isfinite(o->match_rate))
		fprintf(f, " (match %.2f%%)", 100 * o->match_rate);
	fprintf(f, "\n\n");
}

static void text_row(FILE *f, int w, const char *label, uint64_t packets, uint64_t lost,
		     uint64_t dropped, double match, const char *avg, const char *p50,
		     const char *p95, const char *p99, const char *max)
{
	char m[16];

	if (isfinite(match))
		snprintf(m, sizeof(m), "%.2f%%", 100 * match);
	else
		snprintf(m, sizeof(m), "-");
	fprintf(f, "%-*s %8llu %6llu %6llu %8s %9s %9s %9s %10s %9s\n", w, label,
		(unsigned long long)packets, (unsigned long long)lost,
		(unsigned long long)dropped, m, avg, p50, p95, p99, max);
}

int report_render_text(FILE *f, const struct report *r)
{
	const struct report_overall *o = &r->overall;
	const struct report_agg *ol = &o->latency, *ot = &o->turnaround;
	char label[600], n1[32], n2[32], n3[32], n4[32], n5[32];
	int w = 7;

	for (size_t i = 0; i < r->npairs; i++) {
		text_pair_label(label, sizeof(label), &r->pairs[i]);
		if ((int)strlen(label) > w)
			w = (int)strlen(label);
	}
	if (w > 40)
		w = 40;
	text_header(f, r);
	fprintf(f, "%-*s %8s %6s %6s %8s %9s %9s %9s %10s %9s\n", w, "PAIR", "PACKETS", "LOST",
		"DROP", "MATCH", "AVG us", "P50 us", "P95 us", "P99 us", "MAX us");
	for (size_t i = 0; i < r->npairs; i++) {
		const struct report_pair *p = &r->pairs[i];
		const struct report_dist *l = &p->latency, *t = &p->turnaround;
		double b = pair_clock_bound(p);
		bool has = l->present && l->count;

		text_pair_label(label, sizeof(label), p);
		text_row(f, w, label, p->packets, p->lost, p->dropped, p->match_rate,
			 report_fmt_num(n1, sizeof(n1), has ? l->mean_us : NAN, 1),
			 report_fmt_num(n2, sizeof(n2), has ? l->p50_us : NAN, 1),
			 report_fmt_num(n3, sizeof(n3), has ? l->p95_us : NAN, 1),
			 report_fmt_num(n4, sizeof(n4), has ? l->p99_us : NAN, 1),
			 report_fmt_num(n5, sizeof(n5), has ? l->max_us : NAN, 1));
		text_contributors(f, r, p->stages, p->nstages, p->by_share);
		if (t->present && t->count) {
			text_clean(label, sizeof(label), p->dst);
			fprintf(f, "  %s turnaround: p50 %.1f us, p99 %.1f us, max %.1f us "
				"(%llu replies)\n", label, t->p50_us, t->p99_us, t->max_us,
				(unsigned long long)t->count);
		}
		if (p->clock_bound_large && isfinite(b))
			fprintf(f, "  ! clock bound +-%.1f us is large next to the cross-host "
				"figures (see stagetrace clocks)\n", b);
		fprintf(f, "\n");
	}

	/* Overall: "<=" marks percentiles that are upper bounds. */
	snprintf(n2, sizeof(n2), "<=%.1f", ol->p50.upper);
	snprintf(n3, sizeof(n3), "<=%.1f", ol->p95.upper);
	snprintf(n4, sizeof(n4), "<=%.1f", ol->p99.upper);
	text_row(f, w, "OVERALL", o->packets, o->lost, o->dropped, o->match_rate,
		 report_fmt_num(n1, sizeof(n1), ol->mean_us, 1), ol->pairs ? n2 : "-",
		 ol->pairs ? n3 : "-", ol->pairs ? n4 : "-",
		 report_fmt_num(n5, sizeof(n5), ol->max_us, 1));
	text_contributors(f, r, o->stages, o->nstages, o->by_share);
	if (ot->pairs)
		fprintf(f, "  turnaround (%zu pair%s, %llu replies): avg %.1f us, p50 <=%.1f us, "
			"p99 <=%.1f us, max %.1f us\n", ot->pairs, ot->pairs == 1 ? "" : "s",
			(unsigned long long)ot->count, ot->mean_us, ot->p50.upper,
			ot->p99.upper, ot->max_us);
	fprintf(f, "\nOverall packets, losses, match rate, avg, max and shares are exact (sums over\n"
		   "pairs, means weighted by packets). Percentiles cannot be merged from per-pair\n"
		   "summaries: '<=' is the largest per-pair value, an upper bound");
	if (ol->pairs)
		fprintf(f, "; the smallest\nper-pair value is a lower bound (p50 >= %.1f, p95 >= %.1f, "
			"p99 >= %.1f us)", ol->p50.lower, ol->p95.lower, ol->p99.lower);
	fprintf(f, ".\n");
	return ferror(f) ? -1 : 0;
}

/* ---- markdown ----------------------------------------------------------- */

/*
 * Write s as literal markdown text inside a table cell. CommonMark lets
 * any ASCII punctuation be backslash-escaped; we escape what could start
 * markup, raw HTML or an entity, and '|' (a GFM cell border). '_' between
 * two alphanumerics cannot open or close emphasis, so "vm_rx" stays as it
 * is. Line breaks and other controls would end the table row: they become
 * spaces.
 */
static void md_put(FILE *f, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		unsigned char c = *p;

		if (c < 0x20 || c == 0x7f) {
			fputc(' ', f);
		} else if (strchr("\\`*[]<>|&!#~$", c)) {
			fputc('\\', f);
			fputc(c, f);
		} else if (c == '_' && !(p > (const unsigned char *)s && isalnum(p[-1]) &&
					 isalnum(p[1]))) {
			fputs("\\_", f);
		} else {
			fputc(c, f);
		}
	}
}

static void md_pair(FILE *f, const struct report_pair *p)
{
	md_put(f, p->src);
	fputs(" → ", f);
	md_put(f, p->dst);
}

static void md_contributors(FILE *f, const struct report *r, const struct report_stage *st,
			    size_t n, const size_t *by_share)
{
	size_t top = report_top_count(r, n);

	if (!n)
		fputs("–", f);
	for (size_t i = 0; i < top; i++) {
		fputs(i ? ", " : "", f);
		md_put(f, st[by_share[i]].name);
		fprintf(f, " %.1f%%", 100 * st[by_share[i]].share);
	}
}

static const char *md_num(char *buf, size_t n, double v, int decimals)
{
	return isnan(v) ? "–" : report_fmt_num(buf, n, v, decimals);
}

static void md_match(FILE *f, double v)
{
	if (isfinite(v))
		fprintf(f, "%.2f%%", 100 * v);
	else
		fputs("–", f);
}

int report_render_markdown(FILE *f, const struct report *r)
{
	const struct report_overall *o = &r->overall;
	const struct report_agg *ol = &o->latency, *ot = &o->turnaround;
	char a[32], b[32], d[32], n1[32], n2[32], n3[32], n4[32], n5[32];

	report_fmt_time(r->since, a, sizeof(a));
	report_fmt_time(r->until, b, sizeof(b));
	report_fmt_duration(report_duration(r), d, sizeof(d));
	fprintf(f, "# stagetrace report\n\n");
	fprintf(f, "- **Range:** %s – %s UTC (%s)\n", a, b, d);
	if (r->source && *r->source) {
		fputs("- **Source:** ", f);
		md_put(f, r->source);
		fputs("\n", f);
	}
	fprintf(f, "- **Traffic:** %zu VM pairs, %llu packets matched end to end, %llu lost, "
		"%llu dropped, %llu unmatched, match rate ", o->pairs,
		(unsigned long long)o->packets, (unsigned long long)o->lost,
		(unsigned long long)o->dropped, (unsigned long long)o->unmatched);
	md_match(f, o->match_rate);
	fputs("\n\n## Pairs\n\nEnd-to-end latency in µs; shares are of the summed stage time "
	      "(mean × count).\n\n", f);
	fputs("| pair | packets | lost | dropped | match | avg | p50 | p95 | p99 | max "
	      "| top contributors | turnaround p50 / p99 |\n"
	      "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|--:|\n", f);
	for (size_t i = 0; i < r->npairs; i++) {
		const struct report_pair *p = &r->pairs[i];
		const struct report_dist *l = &p->latency, *t = &p->turnaround;
		bool has = l->present && l->count;

		fputs("| ", f);
		md_pair(f, p);
		fprintf(f, " | %llu | %llu | %llu | ", (unsigned long long)p->packets,
			(unsigned long long)p->lost, (unsigned long long)p->dropped);
		md_match(f, p->match_rate);
		fprintf(f, " | %s | %s | %s | %s | %s | ",
			md_num(n1, sizeof(n1), has ? l->mean_us : NAN, 1),
			md_num(n2, sizeof(n2), has ? l->p50_us : NAN, 1),
			md_num(n3, sizeof(n3), has ? l->p95_us : NAN, 1),
			md_num(n4, sizeof(n4), has ? l->p99_us : NAN, 1),
			md_num(n5, sizeof(n5), has ? l->max_us : NAN, 1));
		md_contributors(f, r, p->stages, p->nstages, p->by_share);
		if (t->present && t->count)
			fprintf(f, " | %.1f / %.1f |\n", t->p50_us, t->p99_us);
		else
			fputs(" | – |\n", f);
	}
	fprintf(f, "| **overall** | %llu | %llu | %llu | ", (unsigned long long)o->packets,
		(unsigned long long)o->lost, (unsigned long long)o->dropped);
	md_match(f, o->match_rate);
	fprintf(f, " | %s | ", md_num(n1, sizeof(n1), ol->mean_us, 1));
	if (ol->pairs)
		fprintf(f, "≤ %.1f | ≤ %.1f | ≤ %.1f | ", ol->p50.upper, ol->p95.upper, ol->p99.upper);
	else
		fputs("– | – | – | ", f);
	fprintf(f, "%s | ", md_num(n5, sizeof(n5), ol->max_us, 1));
	md_contributors(f, r, o->stages, o->nstages, o->by_share);
	if (ot->pairs)
		fprintf(f, " | ≤ %.1f / ≤ %.1f |\n", ot->p50.upper, ot->p99.upper);
	else
		fputs(" | – |\n", f);

	fputs("\n**Overall** packets, losses, match rate, avg, max and shares are exact (sums "
	      "over pairs, means weighted by packets). Percentiles cannot be merged from "
	      "per-pair summaries: ≤ marks the largest per-pair value, an upper bound", f);
	if (ol->pairs)
		fprintf(f, "; the smallest per-pair value is a lower bound (p50 ≥ %.1f, "
			"p95 ≥ %.1f, p99 ≥ %.1f µs)", ol->p50.lower, ol->p95.lower, ol->p99.lower);
	fputs(".\n\n## Stages\n\nTimes in µs. A stage's time is the interval that ends at "
	      "its stamp; `wire` is between hosts and carries the clock bound.\n", f);
	for (size_t i = 0; i < r->npairs; i++) {
		const struct report_pair *p = &r->pairs[i];

		fputs("\n### ", f);
		md_pair(f, p);
		fputs("\n\n", f);
		if (!p->nstages) {
			fputs("No stage recorded.\n", f);
			continue;
		}
		fputs("| stage | count | mean | p50 | p95 | p99 | max | share | clock bound |\n"
		      "|---|--:|--:|--:|--:|--:|--:|--:|--:|\n", f);
		for (size_t k = 0; k < p->nstages; k++) {
			const struct report_stage *s = &p->stages[k];

			fputs("| ", f);
			md_put(f, s->name);
			fprintf(f, " | %llu | %s | %s | %s | %s | %s | %.1f%% | ",
				(unsigned long long)s->d.count,
				md_num(n1, sizeof(n1), s->d.mean_us, 1),
				md_num(n2, sizeof(n2), s->d.p50_us, 1),
				md_num(n3, sizeof(n3), s->d.p95_us, 1),
				md_num(n4, sizeof(n4), s->d.p99_us, 1),
				md_num(n5, sizeof(n5), s->d.max_us, 1), 100 * s->share);
			if (isfinite(s->d.clock_bound_us))
				fprintf(f, "±%.1f |\n", s->d.clock_bound_us);
			else
				fputs("– |\n", f);
		}
		if (p->turnaround.present && p->turnaround.count) {
			fputs("\n", f);
			md_put(f, p->dst);
			fprintf(f, " answered in p50 %.1f µs, p99 %.1f µs, max %.1f µs "
				"(%llu replies; not part of the one-way latency).\n",
				p->turnaround.p50_us, p->turnaround.p99_us, p->turnaround.max_us,
				(unsigned long long)p->turnaround.count);
		}
		if (p->clock_bound_large)
			fputs("\n**Clock bound is large** next to the cross-host figures: see "
			      "`stagetrace clocks`.\n", f);
	}
	return ferror(f) ? -1 : 0;
}

/* ---- CSV ---------------------------------------------------------------- */

/* RFC 4180: quote a field that holds a comma, quote, CR or LF. */
static void csv_str(FILE *f, const char *s, bool last)
{
	if (s && s[strcspn(s, ",\"\r\n")]) {
		fputc('"', f);
		for (; *s; s++) {
			if (*s == '"')
				fputc('"', f);
			fputc(*s, f);
		}
		fputc('"', f);
	} else if (s) {
		fputs(s, f);
	}
	fputs(last ? "\r\n" : ",", f);
}

/* A number, or an empty field when it is not known. */
static void csv_num(FILE *f, double v, int decimals)
{
	if (isfinite(v))
		fprintf(f, "%.*f", decimals, v);
	fputc(',', f);
}

static void csv_u64(FILE *f, uint64_t v)
{
	fprintf(f, "%llu,", (unsigned long long)v);
}

static const char csv_header[] =
	"scope,src,dst,since,until,duration_s,packets,lost,dropped,unmatched,match_rate,"
	"latency_count,latency_mean_us,latency_p50_us,latency_p95_us,latency_p99_us,"
	"latency_max_us,stage,stage_rank,stage_count,stage_mean_us,stage_p50_us,"
	"stage_p95_us,stage_p99_us,stage_max_us,stage_share,stage_clock_bound_us,"
	"turnaround_count,turnaround_mean_us,turnaround_p50_us,turnaround_p99_us\r\n";

static void csv_iso(char *buf, size_t n, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || !strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, n, "%lld", (long long)t);
}

/* The columns up to latency_max_us, for a pair (p) or overall (p NULL). */
static void csv_lead(FILE *f, const struct report *r, const struct report_pair *p)
{
	const struct report_overall *o = &r->overall;
	char a[32], b[32];

	csv_iso(a, sizeof(a), r->since);
	csv_iso(b, sizeof(b), r->until);
	csv_str(f, p ? "pair" : "overall", false);
	csv_str(f, p ? p->src : "", false);
	csv_str(f, p ? p->dst : "", false);
	csv_str(f, a, false);
	csv_str(f, b, false);
	fprintf(f, "%lld,", (long long)report_duration(r));
	csv_u64(f, p ? p->packets : o->packets);
	csv_u64(f, p ? p->lost : o->lost);
	csv_u64(f, p ? p->dropped : o->dropped);
	csv_u64(f, p ? p->unmatched : o->unmatched);
	csv_num(f, p ? p->match_rate : o->match_rate, 4);
	if (p && p->latency.present) {
		csv_u64(f, p->latency.count);
		csv_num(f, p->latency.mean_us, 2);
		csv_num(f, p->latency.p50_us, 2);
		csv_num(f, p->latency.p95_us, 2);
		csv_num(f, p->latency.p99_us, 2);
		csv_num(f, p->latency.max_us, 2);
	} else if (!p && o->latency.pairs) {
		/* Overall percentiles are only bounds: left empty on purpose. */
		csv_u64(f, o->latency.count);
		csv_num(f, o->latency.mean_us, 2);
		fputs(",,,", f);
		csv_num(f, o->latency.max_us, 2);
	} else {
		fputs(",,,,,,", f);
	}
}

static void csv_stage(FILE *f, const struct report_stage *s)
{
	if (!s) {
		fputs(",,,,,,,,,,", f);
		return;
	}
	csv_str(f, s->name, false);
	fprintf(f, "%d,", s->rank);
	csv_u64(f, s->d.count);
	csv_num(f, s->d.mean_us, 2);
	csv_num(f, s->d.p50_us, 2);
	csv_num(f, s->d.p95_us, 2);
	csv_num(f, s->d.p99_us, 2);
	csv_num(f, s->d.max_us, 2);
	csv_num(f, s->share, 4);
	csv_num(f, s->d.clock_bound_us, 2);
}

static void csv_turnaround(FILE *f, const struct report_dist *t, const struct report_agg *a)
{
	if (t && t->present) {
		fprintf(f, "%llu,", (unsigned long long)t->count);
		csv_num(f, t->mean_us, 2);
		csv_num(f, t->p50_us, 2);
		if (isfinite(t->p99_us))
			fprintf(f, "%.2f", t->p99_us);
	} else if (a && a->pairs) {
		fprintf(f, "%llu,", (unsigned long long)a->count);
		csv_num(f, a->mean_us, 2);
		fputs(",", f);
	} else {
		fputs(",,,", f);
	}
	fputs("\r\n", f);
}

int report_render_csv(FILE *f, const struct report *r)
{
	const struct report_overall *o = &r->overall;

	fputs(csv_header, f);
	for (size_t i = 0; i < r->npairs; i++) {
		const struct report_pair *p = &r->pairs[i];

		/* A pair without stages still gets its row. */
		for (size_t k = 0; k < (p->nstages ? p->nstages : 1); k++) {
			csv_lead(f, r, p);
			csv_stage(f, p->nstages ? &p->stages[k] : NULL);
			csv_turnaround(f, &p->turnaround, NULL);
		}
	}
	for (size_t k = 0; k < (o->nstages ? o->nstages : 1); k++) {
		csv_lead(f, r, NULL);
		csv_stage(f, o->nstages ? &o->stages[k] : NULL);
		csv_turnaround(f, NULL, &o->turnaround);
	}
	return ferror(f) ? -1 : 0;
}
