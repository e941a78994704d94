/* SPDX-License-Identifier: MIT */
/*
 * stagetrace report: the model every output format renders.
 *
 * Design: the collector's matrix answer is decoded once, by a field table,
 * into plain structs (struct report), and everything a report says is
 * computed there: each stage's share of a pair's time, the stages ranked
 * by share, and the overall figures across pairs. The renderers (text,
 * markdown, CSV and JSON in report_text.c and report_json.c, HTML in
 * report_html.c with its charts in report_svg.c) only format what the
 * model holds, so the formats cannot disagree, and each renderer can be tested on a hand-made answer without
 * a collector. This header is private to the report command and its tests.
 *
 * Absent figures are NAN (a double) or present == 0 (a summary), never a
 * made-up zero: a pair whose packets were all lost has no latency at all.
 * Overall percentiles cannot be merged from per-pair summaries, so the
 * model keeps them as a range (struct report_bound) instead of a number.
 */
#ifndef ST_CLI_REPORT_H
#define ST_CLI_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <json-c/json.h>

enum report_format {
	REPORT_TEXT,
	REPORT_MARKDOWN,
	REPORT_CSV,
	REPORT_JSON,
	REPORT_HTML,
};

/* One histogram summary as the collector sent it (all times in us). */
struct report_dist {
	int present;		/* 0: the collector sent null or nothing */
	uint64_t count;
	double mean_us, p50_us, p95_us, p99_us, max_us;
	double clock_bound_us;	/* NAN unless the figure crosses hosts */
};

/* A stage of one pair, or of all pairs together in the overall part. */
struct report_stage {
	char *name;
	struct report_dist d;	/* overall stages: percentiles are NAN */
	double time_us;		/* mean x count: all the time spent here */
	double share;		/* time_us / the summed time of all stages */
	int rank;		/* 1 for the largest share */
};

struct report_pair {
	char *src, *dst;
	uint64_t packets, lost, dropped, unmatched;
	double match_rate;	/* NAN when nothing left the source */
	int clock_bound_large;
	struct report_dist latency, turnaround;
	struct report_stage *stages;	/* path order, as the collector sent them */
	size_t nstages;
	size_t *by_share;	/* indexes into stages, largest share first */
};

/* A percentile over several pairs: only its range is known. */
struct report_bound {
	double lower, upper;	/* smallest and largest per-pair value */
};

/* Latency or turnaround summed over pairs. */
struct report_agg {
	size_t pairs;		/* pairs that had this summary */
	uint64_t count;		/* exact */
	double mean_us;		/* exact: means weighted by count */
	double max_us;		/* exact */
	struct report_bound p50, p95, p99;
};

struct report_overall {
	size_t pairs;
	uint64_t packets, lost, dropped, unmatched;
	double match_rate;
	struct report_agg latency, turnaround;
	struct report_stage *stages;	/* one per stage name, path order */
	size_t nstages;
	size_t *by_share;
};

struct report {
	const char *source;	/* "collector URL" or "file PATH", for headers */
	int64_t since, until;	/* the seconds the figures cover, inclusive */
	int64_t generated;	/* when the report was made (unix seconds) */
	unsigned top;		/* contributors to list; 0 lists every stage */
	struct report_pair *pairs;
	size_t npairs;
	struct report_overall overall;
};

/*
 * Decode a matrix answer ({"cells": [...], "since": S, "until": U}) and
 * compute shares, ranks and the overall part. Returns 0, or -1 with a
 * one-line reason in err (the report is then empty but safe to free).
 */
int report_build(json_object *answer, struct report *r, char *err, size_t errlen);
void report_free(struct report *r);

/* Write r in a format; 0, or -1 when the stream failed (errno set). */
int report_render(FILE *f, const struct report *r, enum report_format fmt);
int report_render_text(FILE *f, const struct report *r);
int report_render_markdown(FILE *f, const struct report *r);
int report_render_csv(FILE *f, const struct report *r);
int report_render_json(FILE *f, const struct report *r);
int report_render_html(FILE *f, const struct report *r);

/* The JSON document of the json format (caller puts it). */
json_object *report_to_json(const struct report *r);

/* ---- formatting helpers shared by the renderers ---------------------- */

/* How many contributors to list for a pair or overall with n stages. */
size_t report_top_count(const struct report *r, size_t nstages);
/* "2026-11-24 10:19:00" (UTC). */
void report_fmt_time(int64_t t, char *buf, size_t n);
/* "45s", "11m00s", "2h05m", "3d04h". */
void report_fmt_duration(int64_t seconds, char *buf, size_t n);
/* v with the given decimals, or "-" when v is NAN. Returns buf. */
const char *report_fmt_num(char *buf, size_t n, double v, int decimals);
/* Seconds the report covers (until - since + 1, or 0). */
int64_t report_duration(const struct report *r);

#endif /* ST_CLI_REPORT_H */
