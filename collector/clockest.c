// SPDX-License-Identifier: MIT
#include "clockest.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), dcmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Weighted LS over the active points; times in seconds from t0 keep the
 * sums well conditioned. */
static int wls_line(const double *t, const double *y, const double *w,
		    const char *on, int n, double t0, struct st_line *l)
{
	double sw = 0, st = 0, sy = 0, stt = 0, sty = 0, tbar, sxx, ss = 0;
	int m = 0;

	for (int i = 0; i < n; i++) {
		double wi = w ? w[i] : 1, ti = (t[i] - t0) / 1e9;

		if (!on[i])
			continue;
		sw += wi;
		st += wi * ti;
		sy += wi * y[i];
		stt += wi * ti * ti;
		sty += wi * ti * y[i];
		m++;
	}
	if (m < 2 || sw <= 0)
		return -1;
	tbar = st / sw;
	sxx = stt - st * st / sw;
	l->b = sxx > 1e-12 ? (sty - st * sy / sw) / sxx : 0;	/* per second */
	l->a = sy / sw - l->b * tbar;
	for (int i = 0; i < n; i++) {
		double r;

		if (!on[i])
			continue;
		r = y[i] - (l->a + l->b * (t[i] - t0) / 1e9);
		ss += (w ? w[i] : 1) * r * r;
	}
	l->sd = m > 2 ? sqrt(ss / sw * m / (m - 2)) : 0;
	l->se = l->sd * sqrt(1.0 / m + (sxx > 1e-12 ? tbar * tbar / (sxx / sw * m) : 0));
	l->n = m;
	l->t0 = t0;
	return 0;
}

int st_fit_lower(const double *t, const double *y, const double *w, int n,
		 double t0, double k, int min_n, struct st_line *out)
{
	char *on = malloc((size_t)(n ? n : 1));
	double *res = malloc(sizeof(double) * (size_t)(n ? n : 1));
	int rc = -1;

	if (!on || !res)
		goto out;
	memset(on, 1, (size_t)n);
	for (int round = 0; round < 6; round++) {
		double med, mad;
		int m = 0, dropped = 0;

		if (wls_line(t, y, w, on, n, t0, out) || out->n < min_n)
			goto out;
		for (int i = 0; i < n; i++)
			if (on[i])
				res[m++] = y[i] - (out->a + out->b * (t[i] - t0) / 1e9);
		med = median(res, m);
		for (int i = 0; i < m; i++)
			res[i] = fabs(res[i] - med);
		mad = 1.4826 * median(res, m);
		if (mad < 1)
			mad = 1;
		/* Queueing only ever adds delay: trim what lies above. */
		for (int i = 0; i < n; i++) {
			if (on[i] && y[i] - (out->a + out->b * (t[i] - t0) / 1e9) > med + k * mad) {
				on[i] = 0;
				dropped++;
			}
		}
		if (!dropped)
			break;
	}
	rc = wls_line(t, y, w, on, n, t0, out) || out->n < min_n ? -1 : 0;
out:
	free(on);
	free(res);
	return rc;
}

/* --- control channel ------------------------------------------------------- */
void st_ctl_reset(struct st_ctl_est *c)
{
	uint64_t steps = c->steps;
	int64_t base = c->base;

	memset(c, 0, sizeof(*c));
	c->steps = steps;
	c->base = base;
}

int st_ctl_estimate(const struct st_ctl_est *c, struct st_line *l, double *bound)
{
	double t[ST_CTL_MAX], y[ST_CTL_MAX], w[ST_CTL_MAX], minrtt = INFINITY, tmax = 0;
	int m = 0;

	if (c->n < 3)
		return -1;
	for (int i = 0; i < c->n; i++) {
		if (c->sus[i])
			continue;
		if (c->rtt[i] < minrtt)
			minrtt = c->rtt[i];
		if (c->m[i] > tmax)
			tmax = c->m[i];
	}
	/* Only the exchanges whose round trip was near the best: their
	 * offsets can be wrong by at most their RTT / 2. */
	for (int i = 0; i < c->n; i++) {
		if (c->rtt[i] > 2 * minrtt + 20000 || c->sus[i])
			continue;
		t[m] = c->m[i];
		y[m] = c->off[i];
		w[m] = 1.0 / ((c->rtt[i] + 1000) * (c->rtt[i] + 1000));
		m++;
	}
	if (m < 3 || st_fit_lower(t, y, w, m, tmax, 1e9, 3, l))
		return -1;
	*bound = minrtt / 2 + 2 * l->se;
	return 0;
}

static void ctl_push(struct st_ctl_est *c, double mid, double off, double rtt, int sus)
{
	c->m[c->head] = mid;
	c->off[c->head] = off;
	c->rtt[c->head] = rtt;
	c->sus[c->head] = (char)sus;
	c->head = (c->head + 1) % ST_CTL_MAX;
	if (c->n < ST_CTL_MAX)
		c->n++;
}

/*
 * A sample far from the fit is suspect and kept out of it: one alone is an
 * outlier; three in a row are a step, and the model restarts from them.
 */
int st_ctl_add(struct st_ctl_est *c, uint64_t t1, int64_t t2, int64_t t3, uint64_t t4)
{
	double mid = ((double)t1 + (double)t4) / 2;
	double off = ((double)(t2 - (int64_t)t1 - c->base) +
		      (double)(t3 - (int64_t)t4 - c->base)) / 2;
	double rtt = (double)(int64_t)(t4 - t1) - (double)(t3 - t2);
	struct st_line l;
	double bound;
	int sus = 0;

	if (rtt < 0 || t4 < t1)
		return 0;	/* impossible exchange: ignore */
	if (c->n >= 5 && st_ctl_estimate(c, &l, &bound) == 0) {
		double dev = fabs(off - (l.a + l.b * (mid - l.t0) / 1e9));

		sus = dev > fmax(20 * bound, 1e6) && dev > rtt;
	}
	c->outliers = sus ? c->outliers + 1 : 0;
	if (c->outliers >= 3) {
		/* Keep the suspects: they are the clock as it is now. */
		double sm[2], so[2], sr[2];
		int k = 0;

		for (int back = 2; back >= 1; back--) {
			int i = (c->head - back + ST_CTL_MAX) % ST_CTL_MAX;

			sm[k] = c->m[i];
			so[k] = c->off[i];
			sr[k] = c->rtt[i];
			k++;
		}
		c->steps++;
		st_ctl_reset(c);
		for (int i = 0; i < 2; i++)
			ctl_push(c, sm[i], so[i], sr[i], 0);
		ctl_push(c, mid, off, rtt, 0);
		return 1;
	}
	ctl_push(c, mid, off, rtt, sus);
	return 0;
}

/* --- data plane ------------------------------------------------------------- */
void st_dp_reset(struct st_dp_est *e)
{
	uint64_t resets = e->resets;

	memset(e, 0, sizeof(*e));
	for (int d = 0; d < 2; d++)
		for (int i = 0; i < ST_DP_BUCKETS; i++)
			e->dir[d].key[i] = -1;
	e->resets = resets;
}

static int64_t newest_key(const struct st_dp_est *e)
{
	int64_t k = -1;

	for (int d = 0; d < 2; d++)
		for (int i = 0; i < ST_DP_BUCKETS; i++)
			if (e->dir[d].key[i] > k)
				k = e->dir[d].key[i];
	return k;
}

static int dir_line(const struct st_dp_est *e, int d, int64_t newest, double t0,
		    struct st_line *l)
{
	double t[ST_DP_BUCKETS], x[ST_DP_BUCKETS];
	int m = 0;

	for (int i = 0; i < ST_DP_BUCKETS; i++) {
		int64_t k = e->dir[d].key[i];

		if (k < 0 || k <= newest - ST_DP_BUCKETS || e->dir[d].sus[i])
			continue;
		t[m] = e->dir[d].t[i];
		x[m] = e->dir[d].x[i];
		m++;
	}
	return st_fit_lower(t, x, NULL, m, t0, 3, 8, l);
}

int st_dp_estimate(const struct st_dp_est *e, struct st_line *r, double *bound)
{
	struct st_line l0, l1;
	int64_t newest = newest_key(e);
	double t0 = 0;

	if (newest < 0)
		return -1;
	for (int d = 0; d < 2; d++)
		for (int i = 0; i < ST_DP_BUCKETS; i++)
			if (e->dir[d].key[i] == newest && e->dir[d].t[i] > t0)
				t0 = e->dir[d].t[i];
	if (dir_line(e, 0, newest, t0, &l0) || dir_line(e, 1, newest, t0, &l1))
		return -1;
	r->a = (l1.a - l0.a) / 2;
	r->b = (l1.b - l0.b) / 2;
	r->t0 = t0;
	r->se = sqrt(l0.se * l0.se + l1.se * l1.se) / 2;
	r->sd = sqrt(l0.sd * l0.sd + l1.sd * l1.sd) / 2;
	r->n = l0.n < l1.n ? l0.n : l1.n;
	/* 3 standard errors, plus 1 us for stamping asymmetry the method cannot
	 * see (where each direction's stamps sit in the two kernels). */
	*bound = 3 * r->se + 1000;
	return 0;
}

int st_dp_add(struct st_dp_est *e, int dir, uint64_t tA, uint64_t tB)
{
	struct st_dp_dir *d = &e->dir[dir & 1];
	double t = (double)tA;
	double x = dir == 0 ? (double)(int64_t)(tB - tA) : (double)(int64_t)(tA - tB);
	int64_t key = (int64_t)(t / ST_DP_BUCKET_NS);
	int slot = (int)(key % ST_DP_BUCKETS);
	int step = 0;

	e->samples[dir & 1]++;
	if (d->key[slot] == key) {
		/* A suspect bucket is judged by its first sample only. */
		if (x < d->x[slot]) {
			d->x[slot] = x;
			d->t[slot] = t;
		}
		return 0;
	}
	/* A new bucket: judge the fit against this first sample of it. A
	 * point far BELOW the lower envelope cannot be queueing: suspect, kept
	 * out of the fit; three suspect buckets in a row are a step. */
	{
		struct st_line r;
		double bound;
		int sus = 0;

		if (st_dp_estimate(e, &r, &bound) == 0) {
			struct st_line l;
			int64_t nk = newest_key(e);

			if (dir_line(e, dir & 1, nk, r.t0, &l) == 0)
				sus = (l.a + l.b * (t - l.t0) / 1e9) - x > fmax(10 * bound, 100000);
		}
		e->outliers[dir & 1] = sus ? e->outliers[dir & 1] + 1 : 0;
		if (e->outliers[dir & 1] >= 3) {
			e->resets++;
			st_dp_reset(e);
			step = 1;
			sus = 0;
		}
		d->sus[slot] = (char)sus;
	}
	d->key[slot] = key;
	d->x[slot] = x;
	d->t[slot] = t;
	return step;
}

/* --- weighted least squares ---------------------------------------------- */
void st_wls_init(struct st_wls *w, int n)
{
	memset(w, 0, sizeof(*w));
	w->n = n;
}

void st_wls_abs(struct st_wls *w, int i, double v, double s)
{
	double q = 1 / (s * s);

	w->h[i][i] += q;
	w->g[i] += q * v;
}

void st_wls_rel(struct st_wls *w, int i, int j, double v, double s)
{
	double q = 1 / (s * s);

	w->h[i][i] += q;
	w->h[j][j] += q;
	w->h[i][j] -= q;
	w->h[j][i] -= q;
	w->g[j] += q * v;
	w->g[i] -= q * v;
}

int st_wls_solve(struct st_wls *w, double *x, double cov[][ST_WLS_MAX])
{
	int n = w->n;
	static double a[ST_WLS_MAX][2 * ST_WLS_MAX];

	/* Gauss-Jordan with partial pivoting on [H | I] gives H^-1. */
	for (int i = 0; i < n; i++) {
		for (int j = 0; j < n; j++) {
			a[i][j] = w->h[i][j];
			a[i][n + j] = i == j;
		}
	}
	for (int c = 0; c < n; c++) {
		int p = c;

		for (int r = c + 1; r < n; r++)
			if (fabs(a[r][c]) > fabs(a[p][c]))
				p = r;
		if (fabs(a[p][c]) < 1e-300)
			return -1;
		if (p != c)
			for (int j = 0; j < 2 * n; j++) {
				double tmp = a[c][j];

				a[c][j] = a[p][j];
				a[p][j] = tmp;
			}
		for (int j = 2 * n - 1; j >= c; j--)
			a[c][j] /= a[c][c];
		for (int r = 0; r < n; r++) {
			double f;

			if (r == c || a[r][c] == 0)
				continue;
			f = a[r][c];
			for (int j = c; j < 2 * n; j++)
				a[r][j] -= f * a[c][j];
		}
	}
	for (int i = 0; i < n; i++) {
		x[i] = 0;
		for (int j = 0; j < n; j++) {
			cov[i][j] = a[i][n + j];
			x[i] += cov[i][j] * w->g[j];
		}
	}
	return 0;
}
