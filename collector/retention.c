// SPDX-License-Identifier: MIT
/*
 * Retention of the store: per-minute rows become per-hour rows once they
 * are older than --keep-minutes, and every row older than --keep goes.
 *
 * Why downsample rather than only expire: a month of minute rows per pair
 * and stage is 43,200 histogram rows each; hour rows are 60 times fewer,
 * and the log-linear histograms merge exactly (bucket counts add), so an
 * hour row answers quantiles over the hour with the same <= 0.78 % error
 * as the minute rows it replaces. What is lost is only time resolution:
 * a range that starts inside a downsampled hour counts that whole hour
 * (query.c rounds such ranges to the hour, and says so in the answer).
 * Drill-down paths, gap histograms and stalls are kept only as long as
 * minute rows.
 *
 * An hour is downsampled in one transaction (read its rows, merge per
 * pair and stage, delete them, insert the hour row), so a crash leaves
 * either the minute rows or the hour row, never both. The hour row sits
 * at the hour's first minute; late deltas for an old minute (inbox replay
 * after a long outage) merge into whatever row is there, which keeps
 * totals exact. Work per run is bounded (C_RETENTION_HOURS_PER_RUN) so a
 * store that was off for weeks catches up without stalling the loop.
 */
#include "collector.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"

struct r_cell {
	char *src, *dst, *stage;
	int ord;
	double bsum;
	int64_t bn;
	struct st_hist h;
};

struct r_pair {
	char *src, *dst;
	int64_t v[4];
};

static int run_sql(struct st_collector *c, const char *sql, int64_t a, int64_t b)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK) {
		pr_warn("retention: %s", sqlite3_errmsg(c->db));
		return -1;
	}
	sqlite3_bind_int64(st, 1, a);
	sqlite3_bind_int64(st, 2, b);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
	if (rc)
		pr_warn("retention: %s", sqlite3_errmsg(c->db));
	sqlite3_finalize(st);
	return rc;
}

/* Read one hour's hist rows merged per (src, dst, stage). */
static int read_cells(struct st_collector *c, int64_t m0, struct r_cell **out, size_t *n)
{
	sqlite3_stmt *st;
	struct r_cell *v = NULL;
	size_t k = 0;
	int rc = 0;

	if (sqlite3_prepare_v2(c->db, "SELECT src,dst,stage,ord,hist,bound_sum,bound_n FROM hist"
			       " WHERE tenant='' AND minute BETWEEN ? AND ? ORDER BY src,dst,stage",
			       -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, m0);
	sqlite3_bind_int64(st, 2, m0 + 59);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *s = (const char *)sqlite3_column_text(st, 0);
		const char *d = (const char *)sqlite3_column_text(st, 1);
		const char *g = (const char *)sqlite3_column_text(st, 2);
		struct r_cell *cur = k ? &v[k - 1] : NULL;

		if (!cur || strcmp(cur->src, s) || strcmp(cur->dst, d) || strcmp(cur->stage, g)) {
			struct r_cell *nv = realloc(v, (k + 1) * sizeof(*v));

			if (!nv) {
				rc = -1;
				break;
			}
			v = nv;
			cur = &v[k++];
			memset(cur, 0, sizeof(*cur));
			cur->src = strdup(s);
			cur->dst = strdup(d);
			cur->stage = strdup(g);
			st_hist_init(&cur->h);
		}
		if (sqlite3_column_int(st, 3) > cur->ord)
			cur->ord = sqlite3_column_int(st, 3);
		cur->bsum += sqlite3_column_double(st, 5);
		cur->bn += sqlite3_column_int64(st, 6);
		if (st_hist_merge_encoded(&cur->h, sqlite3_column_blob(st, 4),
					  (size_t)sqlite3_column_bytes(st, 4))) {
			pr_warn("retention: unreadable histogram %s->%s %s at minute %lld kept out",
				s, d, g, (long long)m0);
		}
	}
	sqlite3_finalize(st);
	*out = v;
	*n = k;
	return rc;
}

static int read_pairs(struct st_collector *c, int64_t m0, struct r_pair **out, size_t *n)
{
	sqlite3_stmt *st;
	struct r_pair *v = NULL;
	size_t k = 0;

	if (sqlite3_prepare_v2(c->db, "SELECT src,dst,SUM(matched),SUM(lost),SUM(dropped),"
			       "SUM(unmatched) FROM pair WHERE tenant='' AND minute BETWEEN ? AND ?"
			       " GROUP BY src,dst", -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, m0);
	sqlite3_bind_int64(st, 2, m0 + 59);
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct r_pair *nv = realloc(v, (k + 1) * sizeof(*v));

		if (!nv)
			break;
		v = nv;
		v[k].src = strdup((const char *)sqlite3_column_text(st, 0));
		v[k].dst = strdup((const char *)sqlite3_column_text(st, 1));
		for (int j = 0; j < 4; j++)
			v[k].v[j] = sqlite3_column_int64(st, 2 + j);
		k++;
	}
	sqlite3_finalize(st);
	*out = v;
	*n = k;
	return 0;
}

static int write_hour(struct st_collector *c, int64_t m0, const struct r_cell *cells, size_t nc,
		      const struct r_pair *pairs, size_t np)
{
	static uint8_t buf[32768];
	sqlite3_stmt *hs = NULL, *ps = NULL;
	int rc = -1;

	if (sqlite3_prepare_v2(c->db, "INSERT INTO hist VALUES('',?,?,?,?,?,?,?,?,?)", -1, &hs,
			       NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(c->db, "INSERT INTO pair VALUES('',?,?,?,?,?,?,?)", -1, &ps,
			       NULL) != SQLITE_OK)
		goto out;
	for (size_t i = 0; i < nc; i++) {
		size_t len = st_hist_encode(&cells[i].h, buf, sizeof(buf));

		if (!len)
			goto out;
		sqlite3_reset(hs);
		sqlite3_bind_int64(hs, 1, m0);
		sqlite3_bind_text(hs, 2, cells[i].src, -1, SQLITE_STATIC);
		sqlite3_bind_text(hs, 3, cells[i].dst, -1, SQLITE_STATIC);
		sqlite3_bind_text(hs, 4, cells[i].stage, -1, SQLITE_STATIC);
		sqlite3_bind_int(hs, 5, cells[i].ord);
		sqlite3_bind_int64(hs, 6, (sqlite3_int64)cells[i].h.count);
		sqlite3_bind_blob(hs, 7, buf, (int)len, SQLITE_STATIC);
		sqlite3_bind_double(hs, 8, cells[i].bsum);
		sqlite3_bind_int64(hs, 9, cells[i].bn);
		if (sqlite3_step(hs) != SQLITE_DONE)
			goto out;
	}
	for (size_t i = 0; i < np; i++) {
		sqlite3_reset(ps);
		sqlite3_bind_int64(ps, 1, m0);
		sqlite3_bind_text(ps, 2, pairs[i].src, -1, SQLITE_STATIC);
		sqlite3_bind_text(ps, 3, pairs[i].dst, -1, SQLITE_STATIC);
		for (int j = 0; j < 4; j++)
			sqlite3_bind_int64(ps, 4 + j, pairs[i].v[j]);
		if (sqlite3_step(ps) != SQLITE_DONE)
			goto out;
	}
	rc = 0;
out:
	if (rc)
		pr_warn("retention: writing hour %lld: %s", (long long)m0, sqlite3_errmsg(c->db));
	sqlite3_finalize(hs);
	sqlite3_finalize(ps);
	return rc;
}

/* Merge the minute rows of the hour starting at minute m0 into one row. */
static int downsample_hour(struct st_collector *c, int64_t m0)
{
	struct r_cell *cells = NULL;
	struct r_pair *pairs = NULL;
	size_t nc = 0, np = 0;
	int rc = -1;

	if (c_store_begin(c))
		return -1;
	if (!read_cells(c, m0, &cells, &nc) && !read_pairs(c, m0, &pairs, &np) &&
	    !run_sql(c, "DELETE FROM hist WHERE tenant='' AND minute BETWEEN ? AND ?", m0, m0 + 59) &&
	    !run_sql(c, "DELETE FROM pair WHERE tenant='' AND minute BETWEEN ? AND ?", m0, m0 + 59) &&
	    !write_hour(c, m0, cells, nc, pairs, np))
		rc = c_store_commit(c);
	if (rc)
		c_store_rollback(c);
	for (size_t i = 0; i < nc; i++) {
		free(cells[i].src);
		free(cells[i].dst);
		free(cells[i].stage);
	}
	for (size_t i = 0; i < np; i++) {
		free(pairs[i].src);
		free(pairs[i].dst);
	}
	free(cells);
	free(pairs);
	return rc;
}

/* Hours before cut (a minute, hour-aligned) that still hold minute rows. */
static size_t hours_to_do(struct st_collector *c, int64_t cut, int64_t *out, size_t max)
{
	sqlite3_stmt *st;
	size_t n = 0;

	if (sqlite3_prepare_v2(c->db, "SELECT h FROM (SELECT DISTINCT minute/60 AS h FROM hist"
			       " WHERE tenant='' AND minute < ?1 AND minute % 60 != 0 UNION"
			       " SELECT DISTINCT minute/60 FROM pair WHERE tenant='' AND minute < ?1"
			       " AND minute % 60 != 0) ORDER BY h LIMIT ?2", -1, &st, NULL) != SQLITE_OK)
		return 0;
	sqlite3_bind_int64(st, 1, cut);
	sqlite3_bind_int64(st, 2, (int64_t)max);
	while (n < max && sqlite3_step(st) == SQLITE_ROW)
		out[n++] = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

int64_t c_retention_hour_cut(const struct st_collector *c, int64_t now_s)
{
	int64_t m = (now_s - (int64_t)c->cfg.keep_minutes) / 60;

	return m < 0 ? 0 : m / 60 * 60;
}

int c_retention_run(struct st_collector *c, int64_t now_s)
{
	int64_t hours[C_RETENTION_HOURS_PER_RUN];
	int64_t cut = c_retention_hour_cut(c, now_s);
	size_t n;
	int rc = 0;

	if (!c->db)
		return 0;
	/* Expire first: no point merging hours that are about to go. Paths
	 * live as long as minute rows; everything as long as --keep. */
	if (c->cfg.keep > 0) {
		int64_t kcut = (now_s - (int64_t)c->cfg.keep) / 60;
		int before = sqlite3_total_changes(c->db);

		if (run_sql(c, "DELETE FROM hist WHERE tenant='' AND minute < ?", kcut, 0) ||
		    run_sql(c, "DELETE FROM pair WHERE tenant='' AND minute < ?", kcut, 0) ||
		    run_sql(c, "DELETE FROM paths WHERE minute < ?", kcut, 0) ||
		    run_sql(c, "DELETE FROM gap WHERE minute < ?", kcut, 0) ||
		    run_sql(c, "DELETE FROM stalls WHERE minute < ?", kcut, 0))
			rc = -1;
		c->c.rows_expired += (uint64_t)(sqlite3_total_changes(c->db) - before);
	}
	if (c->cfg.keep_minutes <= 0)
		goto out;
	/* Per-flow gap detail lives as long as the minute rows too. */
	if (run_sql(c, "DELETE FROM paths WHERE minute < ?", cut, 0) ||
	    run_sql(c, "DELETE FROM gap WHERE minute < ?", cut, 0) ||
	    run_sql(c, "DELETE FROM stalls WHERE minute < ?", cut, 0))
		rc = -1;
	n = hours_to_do(c, cut, hours, C_RETENTION_HOURS_PER_RUN);
	for (size_t i = 0; i < n; i++) {
		if (downsample_hour(c, hours[i] * 60)) {
			rc = -1;
			break;
		}
		c->c.hours_downsampled++;
	}
	if (n)
		pr_info("retention: %zu hour(s) of minute rows merged into hour rows", n);
out:
	if (rc)
		c->c.retention_errors++;
	return rc;
}
