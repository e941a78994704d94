// SPDX-License-Identifier: MIT
/*
 * stagetrace report: decoding the collector's matrix answer into the report
 * model, and the arithmetic behind the report.
 *
 * Design: the answer is untrusted input (it may also come from a file), so
 * it is decoded by field tables that say, for every key, its type, where it
 * goes in the struct and whether it may be missing or null. A wrong type is
 * an error that names the offending path ("cells[2].stages[0].mean_us"),
 * never a silent zero. After decoding, report_build() computes what the
 * collector does not send: each stage's time (mean x count), its share of
 * the pair's summed stage time and its rank, and the overall part. Overall
 * counts, means (weighted by count), maxima and shares are exact; overall
 * percentiles cannot be derived from per-pair percentiles, but the
 * q-quantile of a mixture always lies between the smallest and the largest
 * q-quantile of its parts, so the model keeps that range.
 */
#include "report.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

/* ---- field tables ------------------------------------------------------- */

enum field_kind {
	FK_U64,		/* non-negative integer */
	FK_DOUBLE,	/* finite number */
	FK_STRING,	/* copied with strdup */
	FK_BOOL,
	FK_DIST,	/* a nested histogram summary, or null */
};

struct field {
	const char *key;
	enum field_kind kind;
	size_t off;		/* offset of the destination in the struct */
	bool optional;		/* may be missing or null */
};

static const struct field dist_fields[] = {
	{ "count", FK_U64, offsetof(struct report_dist, count), false },
	{ "mean_us", FK_DOUBLE, offsetof(struct report_dist, mean_us), false },
	{ "p50_us", FK_DOUBLE, offsetof(struct report_dist, p50_us), false },
	{ "p95_us", FK_DOUBLE, offsetof(struct report_dist, p95_us), false },
	{ "p99_us", FK_DOUBLE, offsetof(struct report_dist, p99_us), false },
	{ "max_us", FK_DOUBLE, offsetof(struct report_dist, max_us), false },
	{ "clock_bound_us", FK_DOUBLE, offsetof(struct report_dist, clock_bound_us), true },
	{ NULL, 0, 0, false },
};

static const struct field pair_fields[] = {
	{ "src", FK_STRING, offsetof(struct report_pair, src), false },
	{ "dst", FK_STRING, offsetof(struct report_pair, dst), false },
	{ "count", FK_U64, offsetof(struct report_pair, packets), false },
	{ "lost", FK_U64, offsetof(struct report_pair, lost), true },
	{ "dropped", FK_U64, offsetof(struct report_pair, dropped), true },
	{ "unmatched", FK_U64, offsetof(struct report_pair, unmatched), true },
	{ "match_rate", FK_DOUBLE, offsetof(struct report_pair, match_rate), true },
	{ "clock_bound_large", FK_BOOL, offsetof(struct report_pair, clock_bound_large), true },
	{ "latency", FK_DIST, offsetof(struct report_pair, latency), true },
	{ "turnaround", FK_DIST, offsetof(struct report_pair, turnaround), true },
	{ NULL, 0, 0, false },
};

/* A stage object holds its name next to the summary fields. */
static const struct field stage_name_field[] = {
	{ "stage", FK_STRING, offsetof(struct report_stage, name), false },
	{ NULL, 0, 0, false },
};

struct decoder {
	char *err;
	size_t errlen;
	char path[160];		/* where in the answer we are, for errors */
};

static int fail(struct decoder *dc, const char *key, const char *fmt, ...)
{
	char what[96];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(dc->err, dc->errlen, "%s%s%s: %s", dc->path, *dc->path && key ? "." : "",
		 key ? key : "", what);
	return -1;
}

static int decode_fields(struct decoder *dc, json_object *o, const struct field *tab,
			 void *base);

static int decode_one(struct decoder *dc, json_object *v, const struct field *f, void *base)
{
	char *dst = (char *)base + f->off;
	enum json_type t = json_object_get_type(v);
	double d;

	if (t == json_type_null) {
		if (!f->optional)
			return fail(dc, f->key, "must not be null");
		return 0;	/* the default set by the caller stays */
	}
	switch (f->kind) {
	case FK_U64:
		d = json_object_get_double(v);
		if ((t != json_type_int && t != json_type_double) || !(d >= 0) ||
		    d != floor(d) || d > 9.007199254740992e15)
			return fail(dc, f->key, "expected a non-negative integer");
		*(uint64_t *)(void *)dst = t == json_type_int ?
			(uint64_t)json_object_get_int64(v) : (uint64_t)d;
		return 0;
	case FK_DOUBLE:
		d = json_object_get_double(v);
		if ((t != json_type_int && t != json_type_double) || !isfinite(d))
			return fail(dc, f->key, "expected a number");
		*(double *)(void *)dst = d;
		return 0;
	case FK_STRING: {
		char *s;

		if (t != json_type_string)
			return fail(dc, f->key, "expected a string");
		if (!(s = strdup(json_object_get_string(v))))
			return fail(dc, f->key, "out of memory");
		*(char **)(void *)dst = s;
		return 0;
	}
	case FK_BOOL:
		if (t != json_type_boolean)
			return fail(dc, f->key, "expected true or false");
		*(int *)(void *)dst = json_object_get_boolean(v);
		return 0;
	case FK_DIST: {
		struct report_dist *rd = (struct report_dist *)(void *)dst;
		size_t len = strlen(dc->path);
		int rc;

		if (t != json_type_object)
			return fail(dc, f->key, "expected an object or null");
		snprintf(dc->path + len, sizeof(dc->path) - len, "%s%s", len ? "." : "", f->key);
		rc = decode_fields(dc, v, dist_fields, rd);
		dc->path[len] = '\0';
		if (rc)
			return rc;
		rd->present = 1;
		return 0;
	}
	}
	return fail(dc, f->key, "unknown field kind");
}

static int decode_fields(struct decoder *dc, json_object *o, const struct field *tab,
			 void *base)
{
	for (const struct field *f = tab; f->key; f++) {
		json_object *v;

		if (!json_object_object_get_ex(o, f->key, &v)) {
			if (!f->optional)
				return fail(dc, f->key, "missing");
			continue;
		}
		if (decode_one(dc, v, f, base))
			return -1;
	}
	return 0;
}

static void dist_init(struct report_dist *d)
{
	memset(d, 0, sizeof(*d));
	d->mean_us = d->p50_us = d->p95_us = d->p99_us = d->max_us = NAN;
	d->clock_bound_us = NAN;
}

static int decode_stages(struct decoder *dc, json_object *arr, struct report_pair *p)
{
	size_t n, base = strlen(dc->path);

	if (!arr || json_object_get_type(arr) == json_type_null)
		return 0;
	if (!json_object_is_type(arr, json_type_array))
		return fail(dc, "stages", "expected an array");
	n = json_object_array_length(arr);
	if (!n)
		return 0;
	if (!(p->stages = calloc(n, sizeof(*p->stages))) ||
	    !(p->by_share = calloc(n, sizeof(*p->by_share))))
		return fail(dc, "stages", "out of memory");
	for (size_t i = 0; i < n; i++) {
		json_object *so = json_object_array_get_idx(arr, i);
		struct report_stage *s = &p->stages[i];

		dist_init(&s->d);
		p->nstages = i + 1;	/* so report_free() sees what was filled */
		snprintf(dc->path + base, sizeof(dc->path) - base, ".stages[%zu]", i);
		if (!json_object_is_type(so, json_type_object))
			return fail(dc, NULL, "expected an object");
		if (decode_fields(dc, so, stage_name_field, s) ||
		    decode_fields(dc, so, dist_fields, &s->d))
			return -1;
		s->d.present = 1;
	}
	dc->path[base] = '\0';
	return 0;
}

static int decode_answer(struct decoder *dc, json_object *ans, struct report *r)
{
	json_object *cells, *v;
	size_t n;

	if (!json_object_is_type(ans, json_type_object))
		return fail(dc, NULL, "the answer is not a JSON object");
	if (json_object_object_get_ex(ans, "since", &v) && json_object_is_type(v, json_type_int))
		r->since = json_object_get_int64(v);
	if (json_object_object_get_ex(ans, "until", &v) && json_object_is_type(v, json_type_int))
		r->until = json_object_get_int64(v);
	if (!json_object_object_get_ex(ans, "cells", &cells) ||
	    !json_object_is_type(cells, json_type_array))
		return fail(dc, "cells", "missing or not an array");
	n = json_object_array_length(cells);
	if (n && !(r->pairs = calloc(n, sizeof(*r->pairs))))
		return fail(dc, "cells", "out of memory");
	for (size_t i = 0; i < n; i++) {
		json_object *c = json_object_array_get_idx(cells, i), *stages = NULL;
		struct report_pair *p = &r->pairs[i];

		r->npairs = i + 1;
		p->match_rate = NAN;
		dist_init(&p->latency);
		dist_init(&p->turnaround);
		snprintf(dc->path, sizeof(dc->path), "cells[%zu]", i);
		if (!json_object_is_type(c, json_type_object))
			return fail(dc, NULL, "expected an object");
		if (decode_fields(dc, c, pair_fields, p))
			return -1;
		json_object_object_get_ex(c, "stages", &stages);
		if (decode_stages(dc, stages, p))
			return -1;
	}
	dc->path[0] = '\0';
	return 0;
}

/* ---- computing shares, ranks and the overall part ----------------------- */

/* Orders stage indexes by share, largest first; ties keep path order. */
static void rank_stages(struct report_stage *st, size_t n, size_t *idx)
{
	for (size_t i = 0; i < n; i++)
		idx[i] = i;
	for (size_t i = 1; i < n; i++) {
		size_t k = idx[i], j = i;

		while (j > 0 && st[idx[j - 1]].share < st[k].share) {
			idx[j] = idx[j - 1];
			j--;
		}
		idx[j] = k;
	}
	for (size_t i = 0; i < n; i++)
		st[idx[i]].rank = (int)i + 1;
}

/* Stage time is mean x count; shares are of the summed stage time. */
static void compute_shares(struct report_stage *st, size_t n)
{
	double sum = 0;

	for (size_t i = 0; i < n; i++) {
		st[i].time_us = isfinite(st[i].d.mean_us) ? st[i].d.mean_us * (double)st[i].d.count : 0;
		sum += st[i].time_us;
	}
	for (size_t i = 0; i < n; i++)
		st[i].share = sum > 0 ? st[i].time_us / sum : 0;
}

static void bound_add(struct report_bound *b, double v, bool first)
{
	if (first || v < b->lower)
		b->lower = v;
	if (first || v > b->upper)
		b->upper = v;
}

/* Sums one summary (latency or turnaround) of every pair that has it. */
static void aggregate(struct report *r, size_t off, struct report_agg *a)
{
	double time = 0;

	memset(a, 0, sizeof(*a));
	a->mean_us = a->max_us = NAN;
	a->p50 = a->p95 = a->p99 = (struct report_bound){ NAN, NAN };
	for (size_t i = 0; i < r->npairs; i++) {
		const struct report_dist *d =
			(const struct report_dist *)(const void *)((const char *)&r->pairs[i] + off);
		bool first = a->pairs == 0;

		if (!d->present || !d->count)
			continue;
		a->pairs++;
		a->count += d->count;
		time += d->mean_us * (double)d->count;
		if (first || d->max_us > a->max_us)
			a->max_us = d->max_us;
		bound_add(&a->p50, d->p50_us, first);
		bound_add(&a->p95, d->p95_us, first);
		bound_add(&a->p99, d->p99_us, first);
	}
	if (a->count)
		a->mean_us = time / (double)a->count;
}

static ssize_t find_stage(const struct report_overall *o, const char *name)
{
	for (size_t i = 0; i < o->nstages; i++)
		if (!strcmp(o->stages[i].name, name))
			return (ssize_t)i;
	return -1;
}

/*
 * The overall stage list is the union of every pair's stages in path
 * order: a stage not seen yet goes right after the stage that precedes it
 * in its pair (or first, if it opens its pair's path). Same-host pairs
 * have a suffix of a cross-host path, so the merged order stays the order
 * a packet travels.
 */
static int overall_stages(struct report *r)
{
	struct report_overall *o = &r->overall;
	size_t cap = 0;
	double sum = 0;

	for (size_t i = 0; i < r->npairs; i++)
		cap += r->pairs[i].nstages;
	if (!cap)
		return 0;
	if (!(o->stages = calloc(cap, sizeof(*o->stages))) ||
	    !(o->by_share = calloc(cap, sizeof(*o->by_share))))
		return -1;
	for (size_t i = 0; i < r->npairs; i++) {
		const struct report_pair *p = &r->pairs[i];
		ssize_t prev = -1;

		for (size_t k = 0; k < p->nstages; k++) {
			const struct report_stage *ps = &p->stages[k];
			ssize_t at = find_stage(o, ps->name);
			struct report_stage *os;

			if (at < 0) {
				at = prev + 1;
				memmove(&o->stages[at + 1], &o->stages[at],
					(o->nstages - (size_t)at) * sizeof(*o->stages));
				os = &o->stages[at];
				memset(os, 0, sizeof(*os));
				dist_init(&os->d);
				os->d.present = 1;
				os->d.max_us = 0;
				if (!(os->name = strdup(ps->name)))
					return -1;
				o->nstages++;
			}
			os = &o->stages[at];
			os->d.count += ps->d.count;
			os->time_us += ps->time_us;
			if (ps->d.max_us > os->d.max_us)
				os->d.max_us = ps->d.max_us;
			prev = at;
		}
	}
	for (size_t i = 0; i < o->nstages; i++)
		sum += o->stages[i].time_us;
	for (size_t i = 0; i < o->nstages; i++) {
		struct report_stage *s = &o->stages[i];

		s->d.mean_us = s->d.count ? s->time_us / (double)s->d.count : NAN;
		s->share = sum > 0 ? s->time_us / sum : 0;
	}
	rank_stages(o->stages, o->nstages, o->by_share);
	return 0;
}

int report_build(json_object *answer, struct report *r, char *err, size_t errlen)
{
	struct decoder dc = { .err = err, .errlen = errlen };
	struct report_overall *o = &r->overall;
	uint64_t left = 0;

	r->pairs = NULL;
	r->npairs = 0;
	memset(o, 0, sizeof(*o));
	if (decode_answer(&dc, answer, r))
		return -1;
	o->pairs = r->npairs;
	for (size_t i = 0; i < r->npairs; i++) {
		struct report_pair *p = &r->pairs[i];

		compute_shares(p->stages, p->nstages);
		rank_stages(p->stages, p->nstages, p->by_share);
		o->packets += p->packets;
		o->lost += p->lost;
		o->dropped += p->dropped;
		o->unmatched += p->unmatched;
	}
	/* As the collector defines it per pair: matched / (matched + lost). */
	left = o->packets + o->lost;
	o->match_rate = left ? (double)o->packets / (double)left : NAN;
	aggregate(r, offsetof(struct report_pair, latency), &o->latency);
	aggregate(r, offsetof(struct report_pair, turnaround), &o->turnaround);
	if (overall_stages(r)) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

static void stages_free(struct report_stage *st, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(st[i].name);
	free(st);
}

void report_free(struct report *r)
{
	for (size_t i = 0; i < r->npairs; i++) {
		free(r->pairs[i].src);
		free(r->pairs[i].dst);
		stages_free(r->pairs[i].stages, r->pairs[i].nstages);
		free(r->pairs[i].by_share);
	}
	free(r->pairs);
	stages_free(r->overall.stages, r->overall.nstages);
	free(r->overall.by_share);
	r->pairs = NULL;
	r->npairs = 0;
	memset(&r->overall, 0, sizeof(r->overall));
}

/* ---- helpers shared by the renderers ------------------------------------ */

size_t report_top_count(const struct report *r, size_t nstages)
{
	return r->top && r->top < nstages ? r->top : nstages;
}

void report_fmt_time(int64_t t, char *buf, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || !strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(buf, n, "%lld", (long long)t);
}

void report_fmt_duration(int64_t s, char *buf, size_t n)
{
	if (s < 60)
		snprintf(buf, n, "%llds", (long long)s);
	else if (s < 3600)
		snprintf(buf, n, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
	else if (s < 86400)
		snprintf(buf, n, "%lldh%02lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
	else
		snprintf(buf, n, "%lldd%02lldh", (long long)(s / 86400), (long long)(s % 86400 / 3600));
}

const char *report_fmt_num(char *buf, size_t n, double v, int decimals)
{
	if (isnan(v))
		snprintf(buf, n, "-");
	else
		snprintf(buf, n, "%.*f", decimals, v);
	return buf;
}

int64_t report_duration(const struct report *r)
{
	return r->until >= r->since && r->until > 0 ? r->until - r->since + 1 : 0;
}

int report_render(FILE *f, const struct report *r, enum report_format fmt)
{
	switch (fmt) {
	case REPORT_TEXT:
		return report_render_text(f, r);
	case REPORT_MARKDOWN:
		return report_render_markdown(f, r);
	case REPORT_CSV:
		return report_render_csv(f, r);
	case REPORT_JSON:
		return report_render_json(f, r);
	case REPORT_HTML:
		return report_render_html(f, r);
	}
	return -1;
}
