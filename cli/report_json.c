// SPDX-License-Identifier: MIT
/*
 * stagetrace report: the JSON renderer (schema "stagetrace-report/1").
 *
 * Design: the document is built from the report model with json-c, so
 * every string is escaped by the library, and printed with fixed decimals
 * (json_object_new_double_s) so that figures read as the other formats
 * print them instead of as 1471.0999999999999. The schema is documented in
 * docs/report.md and is stable: keys are only ever added, never renamed or
 * removed, and key order is the insertion order below. Unknown values are
 * null, never 0. Overall percentiles are objects with a lower and an upper
 * bound, so a consumer cannot mistake them for measured values.
 */
#include "report.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define REPORT_SCHEMA "stagetrace-report/1"

/* A number with at most `decimals` decimals (trailing zeros dropped), or null. */
static json_object *jnum(double v, int decimals)
{
	char buf[48];
	size_t n;

	if (!isfinite(v))
		return NULL;
	snprintf(buf, sizeof(buf), "%.*f", decimals, v);
	if (strchr(buf, '.')) {
		n = strlen(buf);
		while (buf[n - 1] == '0')
			buf[--n] = '\0';
		if (buf[n - 1] == '.')
			buf[--n] = '\0';
	}
	if (!strcmp(buf, "-0"))
		strcpy(buf, "0");
	return json_object_new_double_s(v, buf);
}

static json_object *ju64(uint64_t v)
{
	return json_object_new_int64(v > INT64_MAX ? INT64_MAX : (int64_t)v);
}

static void add(json_object *o, const char *k, json_object *v)
{
	json_object_object_add(o, k, v);
}

static json_object *dist_json(const struct report_dist *d)
{
	json_object *o;

	if (!d->present)
		return NULL;
	o = json_object_new_object();
	add(o, "count", ju64(d->count));
	add(o, "mean_us", jnum(d->mean_us, 2));
	add(o, "p50_us", jnum(d->p50_us, 2));
	add(o, "p95_us", jnum(d->p95_us, 2));
	add(o, "p99_us", jnum(d->p99_us, 2));
	add(o, "max_us", jnum(d->max_us, 2));
	add(o, "clock_bound_us", jnum(d->clock_bound_us, 2));
	return o;
}

static json_object *bound_json(const struct report_bound *b)
{
	json_object *o = json_object_new_object();

	add(o, "lower_bound", jnum(b->lower, 2));
	add(o, "upper_bound", jnum(b->upper, 2));
	return o;
}

static json_object *agg_json(const struct report_agg *a)
{
	json_object *o;

	if (!a->pairs)
		return NULL;
	o = json_object_new_object();
	add(o, "pairs", json_object_new_int64((int64_t)a->pairs));
	add(o, "count", ju64(a->count));
	add(o, "mean_us", jnum(a->mean_us, 2));
	add(o, "max_us", jnum(a->max_us, 2));
	add(o, "p50_us", bound_json(&a->p50));
	add(o, "p95_us", bound_json(&a->p95));
	add(o, "p99_us", bound_json(&a->p99));
	return o;
}

/* Stages in path order; overall stages have no percentiles to show. */
static json_object *stages_json(const struct report_stage *st, size_t n, int overall)
{
	json_object *arr = json_object_new_array();

	for (size_t i = 0; i < n; i++) {
		const struct report_stage *s = &st[i];
		json_object *o = json_object_new_object();

		add(o, "stage", json_object_new_string(s->name));
		add(o, "rank", json_object_new_int(s->rank));
		add(o, "count", ju64(s->d.count));
		add(o, "mean_us", jnum(s->d.mean_us, 2));
		if (!overall) {
			add(o, "p50_us", jnum(s->d.p50_us, 2));
			add(o, "p95_us", jnum(s->d.p95_us, 2));
			add(o, "p99_us", jnum(s->d.p99_us, 2));
		}
		add(o, "max_us", jnum(s->d.max_us, 2));
		add(o, "time_us", jnum(s->time_us, 2));
		add(o, "share", jnum(s->share, 4));
		if (!overall)
			add(o, "clock_bound_us", jnum(s->d.clock_bound_us, 2));
		json_object_array_add(arr, o);
	}
	return arr;
}

static json_object *top_json(const struct report *r, const struct report_stage *st, size_t n,
			     const size_t *by_share)
{
	json_object *arr = json_object_new_array();
	size_t top = report_top_count(r, n);

	for (size_t i = 0; i < top; i++) {
		const struct report_stage *s = &st[by_share[i]];
		json_object *o = json_object_new_object();

		add(o, "stage", json_object_new_string(s->name));
		add(o, "share", jnum(s->share, 4));
		add(o, "mean_us", jnum(s->d.mean_us, 2));
		json_object_array_add(arr, o);
	}
	return arr;
}

static json_object *pair_json(const struct report *r, const struct report_pair *p)
{
	json_object *o = json_object_new_object();

	add(o, "src", json_object_new_string(p->src));
	add(o, "dst", json_object_new_string(p->dst));
	add(o, "packets", ju64(p->packets));
	add(o, "lost", ju64(p->lost));
	add(o, "dropped", ju64(p->dropped));
	add(o, "unmatched", ju64(p->unmatched));
	add(o, "match_rate", jnum(p->match_rate, 4));
	add(o, "latency", dist_json(&p->latency));
	add(o, "top_contributors", top_json(r, p->stages, p->nstages, p->by_share));
	add(o, "turnaround", dist_json(&p->turnaround));
	add(o, "clock_bound_large", json_object_new_boolean(p->clock_bound_large));
	add(o, "stages", stages_json(p->stages, p->nstages, 0));
	return o;
}

static json_object *overall_json(const struct report *r)
{
	static const char *const exact[] = {
		"pairs", "packets", "lost", "dropped", "unmatched", "match_rate",
		"latency.count", "latency.mean_us", "latency.max_us", "turnaround.count",
		"turnaround.mean_us", "turnaround.max_us", "stages", "top_contributors",
	};
	const struct report_overall *ov = &r->overall;
	json_object *o = json_object_new_object(), *ex = json_object_new_array();

	add(o, "pairs", json_object_new_int64((int64_t)ov->pairs));
	add(o, "packets", ju64(ov->packets));
	add(o, "lost", ju64(ov->lost));
	add(o, "dropped", ju64(ov->dropped));
	add(o, "unmatched", ju64(ov->unmatched));
	add(o, "match_rate", jnum(ov->match_rate, 4));
	add(o, "latency", agg_json(&ov->latency));
	add(o, "top_contributors", top_json(r, ov->stages, ov->nstages, ov->by_share));
	add(o, "turnaround", agg_json(&ov->turnaround));
	add(o, "stages", stages_json(ov->stages, ov->nstages, 1));
	for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
		json_object_array_add(ex, json_object_new_string(exact[i]));
	add(o, "exact", ex);
	add(o, "note", json_object_new_string(
		"Percentiles cannot be merged from per-pair summaries: each overall "
		"percentile is given as the range [smallest, largest per-pair value], "
		"which always contains the true value. Everything listed in 'exact' "
		"is a sum over pairs or a mean weighted by packet count."));
	return o;
}

static void iso(char *buf, size_t n, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || !strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, n, "%lld", (long long)t);
}

json_object *report_to_json(const struct report *r)
{
	json_object *doc = json_object_new_object(), *range = json_object_new_object();
	json_object *pairs = json_object_new_array();
	char a[32], b[32];

	iso(a, sizeof(a), r->since);
	iso(b, sizeof(b), r->until);
	add(range, "since", json_object_new_int64(r->since));
	add(range, "until", json_object_new_int64(r->until));
	add(range, "since_utc", json_object_new_string(a));
	add(range, "until_utc", json_object_new_string(b));
	add(range, "duration_s", json_object_new_int64(report_duration(r)));
	add(doc, "schema", json_object_new_string(REPORT_SCHEMA));
	add(doc, "generated", json_object_new_int64(r->generated));
	add(doc, "source", json_object_new_string(r->source ? r->source : ""));
	add(doc, "range", range);
	add(doc, "top", json_object_new_int64(r->top));
	for (size_t i = 0; i < r->npairs; i++)
		json_object_array_add(pairs, pair_json(r, &r->pairs[i]));
	add(doc, "pairs", pairs);
	add(doc, "overall", overall_json(r));
	return doc;
}

int report_render_json(FILE *f, const struct report *r)
{
	json_object *doc = report_to_json(r);

	fprintf(f, "%s\n", json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY |
							  JSON_C_TO_STRING_SPACED |
							  JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(doc);
	return ferror(f) ? -1 : 0;
}
