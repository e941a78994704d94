// SPDX-License-Identifier: MIT
#include "clocks.h"

#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector.h"
#include "log.h"
#include "timeutil.h"

#define HC_UNKNOWN_BOUND 10e6	/* 10 ms: an unsynchronised host clock */
#define DRIFT_UNC 1e-7		/* 0.1 ppm: extrapolation allowance */

void c_clock_init(struct st_collector *c)
{
	struct st_clock_triple t;

	/* The shared base keeps every offset small enough for doubles. */
	st_clock_triple_read(&t);
	c->clk_base = t.real_ns - (int64_t)t.mono_ns;
	for (int h = 0; h < C_MAX_HOSTS; h++) {
		c->hosts[h].clk.ctl.base = c->clk_base;
		c->hosts[h].clk.wls_idx = -1;
	}
	st_u64map_init(&c->dp, 64);
}

static uint64_t dp_key(int a, int b)
{
	int lo = a < b ? a : b, hi = a < b ? b : a;

	return ((uint64_t)lo << 32 | (uint64_t)hi) + 1;
}

void c_clock_reset_host(struct st_collector *c, int h)
{
	struct c_clock *k = &c->hosts[h].clk;
	uint64_t key;
	size_t it = 0;
	void *v;

	st_ctl_reset(&k->ctl);
	k->hc_valid = 0;
	k->valid = 0;
	k->ctl_valid = 0;
	k->has_truth = 0;
	while (st_u64map_next(&c->dp, &it, &key, &v)) {
		int lo = (int)((key - 1) >> 32), hi = (int)((key - 1) & 0xffffffff);

		if (lo == h || hi == h)
			st_dp_reset(v);
	}
}

void c_clock_batch(struct st_collector *c, int h, const void *batch)
{
	const st_batch *b = batch;
	struct c_clock *k = &c->hosts[h].clk;

	if (b->test_skew) {
		k->has_truth = 1;
		k->skew_off = b->test_skew->offset_ns;
		k->skew_ppb = b->test_skew->drift_ppb;
		k->skew_origin = b->test_skew->origin_mono;
	}
	for (size_t i = 0; i < b->n_exchanges; i++) {
		const Stagetrace__V1__ClockExchange *x = b->exchanges[i];

		if (st_ctl_add(&k->ctl, x->t1, x->t2, x->t3, x->t4)) {
			c->c.clock_steps++;
			pr_warn("host %s: clock step seen in the control channel; "
				"its model restarts", c->hosts[h].name);
			c_clock_reset_host(c, h);
			st_ctl_add(&k->ctl, x->t1, x->t2, x->t3, x->t4);
		}
	}
	if (b->n_clock) {
		const Stagetrace__V1__ClockSample *cs = b->clock[b->n_clock - 1];
		int64_t off = cs->realtime_ns - (int64_t)cs->mono_ns;

		if (k->hc_valid && llabs(off - k->hc_off) > 1000000) {
			k->hc_steps++;
			c->c.clock_steps++;
			pr_warn("host %s: its realtime clock stepped by %+.3f ms",
				c->hosts[h].name, (off - k->hc_off) / 1e6);
		}
		k->hc_off = off;
		k->hc_bound = cs->est_error_ns ? (double)cs->est_error_ns : HC_UNKNOWN_BOUND;
		k->hc_valid = 1;
	}
}

void c_clock_wire(struct st_collector *c, int tx, uint64_t t_tx, int rx, uint64_t t_rx)
{
	uint64_t key = dp_key(tx, rx);
	struct st_dp_est *e = st_u64map_get(&c->dp, key);
	int step;

	if (tx == rx)
		return;
	if (!e) {
		e = malloc(sizeof(*e));
		if (!e)
			return;
		e->resets = 0;
		st_dp_reset(e);
		if (st_u64map_put(&c->dp, key, e)) {
			free(e);
			return;
		}
	}
	if (tx < rx)
		step = st_dp_add(e, 0, t_tx, t_rx);
	else
		step = st_dp_add(e, 1, t_rx, t_tx);
	if (step) {
		c->c.clock_steps++;
		pr_warn("hosts %s/%s: one-way delays jumped; data-plane alignment restarts",
			c->hosts[tx].name, c->hosts[rx].name);
	}
}

static double line_at(const struct st_line *l, double t)
{
	return l->a + l->b * (t - l->t0) / 1e9;
}

void c_clock_update(struct st_collector *c)
{
	static struct st_wls w, wd;
	double x[ST_WLS_MAX], xd[ST_WLS_MAX], m[ST_WLS_MAX];
	static double covd[ST_WLS_MAX][ST_WLS_MAX];
	int host_of[ST_WLS_MAX], n = 0, has_dp[ST_WLS_MAX] = { 0 };
	struct st_clock_triple now;
	double P, K;
	uint64_t key;
	size_t it = 0;
	void *v;

	st_clock_triple_read(&now);
	P = (double)(now.real_ns - c->clk_base);	/* relative to base */
	K = (double)(now.real_ns - (int64_t)now.mono_ns - c->clk_base);

	for (int h = 0; h < c->n_hosts; h++) {
		struct c_clock *k = &c->hosts[h].clk;
		struct st_line l;
		double b;

		k->wls_idx = -1;
		k->ctl_valid = st_ctl_estimate(&k->ctl, &l, &b) == 0;
		if (k->ctl_valid) {
			double mh = P - l.a;

			/* Host h's clock reading at the instant P, refined once
			 * with the drift. */
			mh = P - line_at(&l, mh);
			k->ctl_o = line_at(&l, mh);
			k->ctl_d = l.b;
			k->ctl_m0 = mh;
			k->ctl_bound = b;
		}
		if (n == ST_WLS_MAX || (!k->ctl_valid && !k->hc_valid))
			continue;
		k->wls_idx = n;
		host_of[n] = h;
		m[n] = k->ctl_valid ? k->ctl_m0 : P - (double)(k->hc_off - c->clk_base);
		n++;
	}
	if (!n)
		return;
	st_wls_init(&w, n);
	st_wls_init(&wd, n);
	for (int i = 0; i < n; i++) {
		struct c_clock *k = &c->hosts[host_of[i]].clk;

		if (k->ctl_valid) {
			st_wls_abs(&w, i, k->ctl_o, k->ctl_bound);
			st_wls_abs(&wd, i, k->ctl_d, 1000);	/* ns/s = ppb */
		} else {
			st_wls_abs(&wd, i, 0, 1e6);
		}
		if (k->hc_valid)
			st_wls_abs(&w, i, (double)(k->hc_off - c->clk_base), k->hc_bound);
	}
	while (st_u64map_next(&c->dp, &it, &key, &v)) {
		int lo = (int)((key - 1) >> 32), hi = (int)((key - 1) & 0xffffffff);
		int ilo = c->hosts[lo].clk.wls_idx, ihi = c->hosts[hi].clk.wls_idx;
		struct st_line r;
		double b;

		if (ilo < 0 || ihi < 0 || st_dp_estimate(v, &r, &b))
			continue;
		st_wls_rel(&w, ilo, ihi, line_at(&r, m[ilo]), b);
		st_wls_rel(&wd, ilo, ihi, r.b, 20);
		has_dp[ilo] = has_dp[ihi] = 1;
	}
	if (st_wls_solve(&w, x, c->clk_cov) || st_wls_solve(&wd, xd, covd)) {
		pr_warn("clock model: singular system; models kept");
		return;
	}
	for (int i = 0; i < n; i++) {
		struct c_clock *k = &c->hosts[host_of[i]].clk;

		k->valid = 1;
		k->o = x[i];
		k->d = xd[i];
		k->m0 = m[i];
		k->bound = sqrt(c->clk_cov[i][i]);
		k->source = has_dp[i] ? "data-plane" : k->ctl_valid ? "control" : "host-clock";
		k->at = now.real_ns;
		if (k->has_truth) {
			/* The agent's clock at P: the machine's monotonic time
			 * (same clock here) plus the injected skew. */
			double u = P - K;
			double ms = u + k->skew_off +
				    (u - (double)k->skew_origin) * k->skew_ppb / 1e9;
			double truth = P - ms;

			k->err = (k->o + k->d * (ms - k->m0) / 1e9) - truth;
			k->ctl_err = k->ctl_valid ?
				(k->ctl_o + k->ctl_d * (ms - k->ctl_m0) / 1e9) - truth : NAN;
		}
	}
	c->clk_n = n;
}

int64_t c_clock_map(struct st_collector *c, int h, uint64_t mono, double *bound)
{
	struct c_clock *k = &c->hosts[h].clk;

	if (k->valid) {
		double dm = (double)mono - k->m0;

		if (bound)
			*bound = k->bound + fabs(dm) * DRIFT_UNC;
		return (int64_t)mono + c->clk_base + (int64_t)llround(k->o + k->d * dm / 1e9);
	}
	if (k->hc_valid) {
		if (bound)
			*bound = k->hc_bound;
		return (int64_t)mono + k->hc_off;
	}
	if (bound)
		*bound = 1e9;
	return (int64_t)mono + c->clk_base;
}

double c_clock_pair_bound(struct st_collector *c, int a, int b)
{
	struct c_clock *ka = &c->hosts[a].clk, *kb = &c->hosts[b].clk;
	int ia = ka->wls_idx, ib = kb->wls_idx;
	double v;

	if (a == b)
		return 0;
	if (ia < 0 || ib < 0 || !ka->valid || !kb->valid) {
		double ba = ka->valid ? ka->bound : ka->hc_valid ? ka->hc_bound : 1e9;
		double bb = kb->valid ? kb->bound : kb->hc_valid ? kb->hc_bound : 1e9;

		return ba + bb;
	}
	v = c->clk_cov[ia][ia] + c->clk_cov[ib][ib] - 2 * c->clk_cov[ia][ib];
	return sqrt(v > 0 ? v : 0);
}

int c_clock_dp_pending(struct st_collector *c, int a, int b)
{
	struct st_dp_est *e = st_u64map_get(&c->dp, dp_key(a, b));
	struct st_line r;
	double bound;

	if (!e || !e->samples[0] || !e->samples[1])
		return 0;
	return st_dp_estimate(e, &r, &bound) != 0;
}

static json_object *num_or_null(double v, double scale)
{
	return isfinite(v) ? json_object_new_double(round(v / scale * 1000) / 1000) : NULL;
}

void *c_clock_json(struct st_collector *c)
{
	json_object *o = json_object_new_object(), *hosts = json_object_new_array();
	json_object *pairs = json_object_new_array();
	int64_t now = (int64_t)st_real_ns();
	uint64_t key;
	size_t it = 0;
	void *v;

	for (int h = 0; h < c->n_hosts; h++) {
		struct c_clock *k = &c->hosts[h].clk;
		json_object *j = json_object_new_object();

		json_object_object_add(j, "host", json_object_new_string(c->hosts[h].name));
		json_object_object_add(j, "source", json_object_new_string(
			k->valid ? k->source : k->hc_valid ? "host-clock" : "none"));
		/* How far the host's clock is ahead of the collector's (both as
		 * monotonic clocks), and how fast it runs: positive = fast. The
		 * model's offset is the correction, hence the signs. */
		json_object_object_add(j, "offset_us", k->valid ?
			num_or_null((double)(now - (int64_t)st_mono_ns()) - c->clk_base - k->o, 1e3) : NULL);
		json_object_object_add(j, "drift_ppm", k->valid ? num_or_null(-k->d, 1e3) : NULL);
		json_object_object_add(j, "bound_us", num_or_null(k->valid ? k->bound :
			k->hc_valid ? k->hc_bound : NAN, 1e3));
		json_object_object_add(j, "age_s", k->valid ?
			json_object_new_double(round((now - k->at) / 1e6) / 1e3) : NULL);
		json_object_object_add(j, "control_bound_us", k->ctl_valid ?
			num_or_null(k->ctl_bound, 1e3) : NULL);
		json_object_object_add(j, "control_exchanges", json_object_new_int(k->ctl.n));
		json_object_object_add(j, "host_clock_bound_us", k->hc_valid ?
			num_or_null(k->hc_bound, 1e3) : NULL);
		json_object_object_add(j, "steps", json_object_new_int64(
			(int64_t)(k->ctl.steps + k->hc_steps)));
		if (k->has_truth) {
			json_object *t = json_object_new_object();

			json_object_object_add(t, "injected_offset_us", num_or_null((double)k->skew_off, 1e3));
			json_object_object_add(t, "injected_drift_ppm", num_or_null((double)k->skew_ppb, 1e3));
			json_object_object_add(t, "error_us", k->valid ? num_or_null(k->err, 1e3) : NULL);
			json_object_object_add(t, "error_control_only_us", num_or_null(k->ctl_err, 1e3));
			json_object_object_add(j, "test_truth", t);
		}
		json_object_array_add(hosts, j);
	}
	while (st_u64map_next(&c->dp, &it, &key, &v)) {
		int lo = (int)((key - 1) >> 32), hi = (int)((key - 1) & 0xffffffff);
		struct st_dp_est *e = v;
		struct c_clock *ka = &c->hosts[lo].clk, *kb = &c->hosts[hi].clk;
		json_object *j = json_object_new_object();
		struct st_line r;
		double b;
		int ok = st_dp_estimate(e, &r, &b) == 0;

		json_object_object_add(j, "a", json_object_new_string(c->hosts[lo].name));
		json_object_object_add(j, "b", json_object_new_string(c->hosts[hi].name));
		json_object_object_add(j, "data_plane", json_object_new_boolean(ok));
		json_object_object_add(j, "data_plane_bound_us", ok ? num_or_null(b, 1e3) : NULL);
		/* r = clock(b) - clock(a) by the data plane alone, at its newest
		 * sample (on a's clock). */
		json_object_object_add(j, "data_plane_offset_us", ok ? num_or_null(r.a, 1e3) : NULL);
		json_object_object_add(j, "data_plane_drift_ppm", ok ? num_or_null(r.b, 1e3) : NULL);
		json_object_object_add(j, "bound_us", num_or_null(c_clock_pair_bound(c, lo, hi), 1e3));
		json_object_object_add(j, "samples_ab", json_object_new_int64((int64_t)e->samples[0]));
		json_object_object_add(j, "samples_ba", json_object_new_int64((int64_t)e->samples[1]));
		json_object_object_add(j, "resets", json_object_new_int64((int64_t)e->resets));
		if (ka->has_truth || kb->has_truth) {
			/* Hosts without a test skew are exact (error 0 by truth). */
			double ea = ka->has_truth ? ka->err : NAN, eb = kb->has_truth ? kb->err : NAN;
			double ca = ka->has_truth ? ka->ctl_err : NAN, cb = kb->has_truth ? kb->ctl_err : NAN;

			json_object_object_add(j, "error_us", num_or_null(eb - ea, 1e3));
			json_object_object_add(j, "error_control_only_us", num_or_null(cb - ca, 1e3));
		}
		json_object_array_add(pairs, j);
	}
	json_object_object_add(o, "hosts", hosts);
	json_object_object_add(o, "pairs", pairs);
	json_object_object_add(o, "clock_steps", json_object_new_int64((int64_t)c->c.clock_steps));
	return o;
}
