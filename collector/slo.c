// SPDX-License-Identifier: MIT
#include "slo.h"

#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector.h"
#include "log.h"
#include "opts.h"
#include "timeutil.h"

#define FAST_BURN 14.4
#define SLOW_BURN 6.0

static int take(const char **p, char sep, char *out, size_t len)
{
	const char *e = strchr(*p, sep);
	size_t n;

	if (!e)
		return -1;
	n = (size_t)(e - *p);
	if (!n || n >= len)
		return -1;
	memcpy(out, *p, n);
	out[n] = '\0';
	*p = e + 1;
	return 0;
}

int c_slo_parse(const char *spec, struct c_slo *s, char *why, size_t len)
{
	const char *p = spec;
	char qs[16], ths[32];
	double th, target;
	char *end;

	memset(s, 0, sizeof(*s));
	s->tenant_idx = -1;
	if (take(&p, ':', s->name, sizeof(s->name)))
		goto syntax;
	if (!strncmp(p, "tenant=", 7)) {
		p += 7;
		if (take(&p, ':', s->tenant, sizeof(s->tenant)))
			goto syntax;
		strcpy(s->src, "*");
		strcpy(s->dst, "*");
	} else if (take(&p, '>', s->src, sizeof(s->src)) || take(&p, ':', s->dst, sizeof(s->dst))) {
		goto syntax;
	}
	if (take(&p, '<', qs, sizeof(qs)) || *p++ != '=' || take(&p, ':', ths, sizeof(ths)))
		goto syntax;
	if (!strcmp(qs, "p50")) s->q = 0.50;
	else if (!strcmp(qs, "p90")) s->q = 0.90;
	else if (!strcmp(qs, "p95")) s->q = 0.95;
	else if (!strcmp(qs, "p99")) s->q = 0.99;
	else if (!strcmp(qs, "p999")) s->q = 0.999;
	else {
		snprintf(why, len, "'%s': quantile '%s' (p50, p90, p95, p99 or p999)", spec, qs);
		return -1;
	}
	if (st_parse_duration(ths, &th) || th <= 0) {
		snprintf(why, len, "'%s': threshold '%s' (a duration like 300us, 2ms)", spec, ths);
		return -1;
	}
	target = strtod(p, &end);
	if (end == p || *end || !(target > 0 && target < 100)) {
		snprintf(why, len, "'%s': target '%s' (a percentage between 0 and 100)", spec, p);
		return -1;
	}
	s->threshold_ns = (uint64_t)(th * 1e9);
	s->target = target / 100;
	return 0;
syntax:
	snprintf(why, len, "'%s': expected NAME:SRC>DST:pQQ<=DURATION:TARGET or NAME:tenant=TENANT:pQQ<=DURATION:TARGET",
		 spec);
	return -1;
}

int c_slo_parse_windows(const char *spec, struct c_slo_cfg *w)
{
	char buf[128], *save = NULL, *tok;
	double v[4];
	int n = 0;

	if (strlen(spec) >= sizeof(buf))
		return -1;
	strcpy(buf, spec);
	for (tok = strtok_r(buf, ",", &save); tok && n < 4; tok = strtok_r(NULL, ",", &save))
		if (st_parse_duration(tok, &v[n++]) || v[n - 1] < SLO_SLICE_NS / 1e9 ||
		    v[n - 1] > SLO_RING * (SLO_SLICE_NS / 1e9))
			return -1;
	if (n != 4 || tok || v[0] > v[1] || v[2] > v[3])
		return -1;
	w->fast_short = v[0];
	w->fast_long = v[1];
	w->slow_short = v[2];
	w->slow_long = v[3];
	return 0;
}

void c_slo_observe(struct st_collector *c, const char *src, const char *dst,
		   uint64_t total_ns)
{
	int pair_tenant = -2;	/* not looked up yet */

	for (int i = 0; i < c->n_slo; i++) {
		struct c_slo *s = &c->slo[i];

		if (!s->cur)
			continue;
		if (s->tenant[0]) {
			if (pair_tenant == -2) {
				int ts = c_tenant_of_cached(c, src);

				pair_tenant = ts >= 0 && ts == c_tenant_of_cached(c, dst) ? ts : -1;
			}
			if (pair_tenant == s->tenant_idx)
				st_hist_add(s->cur, total_ns);
		} else if (!strcmp(s->src, src) && !strcmp(s->dst, dst)) {
			st_hist_add(s->cur, total_ns);
		}
	}
}

double c_slo_burn(const struct c_slo *s, uint32_t slices)
{
	uint32_t good = 0, bad = 0;

	for (uint32_t i = 0; i < slices && i < s->n; i++) {
		int8_t v = s->ring[(s->head + SLO_RING - 1 - i) % SLO_RING];

		good += v == 0;
		bad += v == 1;
	}
	if (!good && !bad)
		return -1;
	return ((double)bad / (good + bad)) / (1 - s->target);
}

static uint32_t slices(double seconds)
{
	return (uint32_t)ceil(seconds / (SLO_SLICE_NS / 1e9));
}

static void close_slice(struct st_collector *c, struct c_slo *s)
{
	int8_t v = -1;
	int fast, slow;

	if (s->cur->count) {
		s->last_q_ns = (double)st_hist_quantile(s->cur, s->q);
		v = s->last_q_ns > (double)s->threshold_ns;
	}
	s->ring[s->head] = v;
	s->head = (s->head + 1) % SLO_RING;
	if (s->n < SLO_RING)
		s->n++;
	st_hist_init(s->cur);

	fast = c_slo_burn(s, slices(c->slo_cfg.fast_long)) >= FAST_BURN &&
	       c_slo_burn(s, slices(c->slo_cfg.fast_short)) >= FAST_BURN;
	slow = c_slo_burn(s, slices(c->slo_cfg.slow_long)) >= SLOW_BURN &&
	       c_slo_burn(s, slices(c->slo_cfg.slow_short)) >= SLOW_BURN;
	if ((fast || slow) && !(s->fast || s->slow)) {
		s->fired++;
		pr_warn("SLO %s (%s>%s p%g<=%.0fus %.4g%%): %s burn alert firing",
			s->name, s->src, s->dst, s->q * 100, s->threshold_ns / 1e3,
			s->target * 100, fast ? "fast" : "slow");
	} else if (!(fast || slow) && (s->fast || s->slow)) {
		s->cleared++;
		pr_info("SLO %s: burn alert cleared", s->name);
	}
	s->fast = fast;
	s->slow = slow;
}

void c_slo_tick(struct st_collector *c)
{
	int64_t now = (int64_t)st_mono_ns();

	for (int i = 0; i < c->n_slo; i++) {
		struct c_slo *s = &c->slo[i];

		if (!s->cur) {
			s->cur = malloc(sizeof(*s->cur));
			if (!s->cur)
				continue;
			st_hist_init(s->cur);
			s->slice_start = now;
			continue;
		}
		while (now - s->slice_start >= SLO_SLICE_NS) {
			close_slice(c, s);
			s->slice_start += SLO_SLICE_NS;
		}
	}
}

static json_object *burn_json(double b)
{
	return b < 0 ? NULL : json_object_new_double(round(b * 100) / 100);
}

void *c_slo_json(struct st_collector *c)
{
	json_object *arr = json_object_new_array();

	for (int i = 0; i < c->n_slo; i++) {
		const struct c_slo *s = &c->slo[i];
		json_object *o = json_object_new_object(), *w = json_object_new_object();
		double fl = c_slo_burn(s, slices(c->slo_cfg.fast_long));
		const char *state;

		json_object_object_add(o, "name", json_object_new_string(s->name));
		json_object_object_add(o, "src", json_object_new_string(s->src));
		json_object_object_add(o, "dst", json_object_new_string(s->dst));
		json_object_object_add(o, "tenant", s->tenant[0] ? json_object_new_string(s->tenant) : NULL);
		json_object_object_add(o, "quantile", json_object_new_double(s->q));
		json_object_object_add(o, "threshold_us", json_object_new_double(s->threshold_ns / 1e3));
		json_object_object_add(o, "target_pct", json_object_new_double(s->target * 100));
		json_object_object_add(w, "fast_short", burn_json(c_slo_burn(s, slices(c->slo_cfg.fast_short))));
		json_object_object_add(w, "fast_long", burn_json(fl));
		json_object_object_add(w, "slow_short", burn_json(c_slo_burn(s, slices(c->slo_cfg.slow_short))));
		json_object_object_add(w, "slow_long", burn_json(c_slo_burn(s, slices(c->slo_cfg.slow_long))));
		json_object_object_add(o, "burn", w);
		json_object_object_add(o, "last_slice_quantile_us", s->n ?
				       json_object_new_double(round(s->last_q_ns / 10) / 100) : NULL);
		json_object_object_add(o, "fast_alert", json_object_new_boolean(s->fast));
		json_object_object_add(o, "slow_alert", json_object_new_boolean(s->slow));
		json_object_object_add(o, "alerts_fired", json_object_new_int64((int64_t)s->fired));
		json_object_object_add(o, "alerts_cleared", json_object_new_int64((int64_t)s->cleared));
		state = s->fast || s->slow ? "violated" :
			c_slo_burn(s, slices(c->slo_cfg.slow_long)) < 0 ? "unknown" : "ok";
		json_object_object_add(o, "state", json_object_new_string(state));
		json_object_array_add(arr, o);
	}
	return arr;
}
