// SPDX-License-Identifier: MIT
/*
 * Retention (collector/retention.c) on a real SQLite store: minute rows
 * older than keep_minutes become exact hour rows (histograms merged bucket
 * by bucket, pair outcomes summed), recent minutes are untouched, rows
 * older than keep are deleted, drill-down paths follow the minute rows,
 * a second run changes nothing, and a late delta for a downsampled hour
 * is folded in by the next run with totals still exact.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collector/collector.h"
#include "unit_stubs.h"

/* now: 10:20 of some day; keep minutes 1 h, keep 1 day. */
#define NOW_S ((int64_t)1800000000 / 86400 * 86400 + 10 * 3600 + 20 * 60)
#define AGO(m) (NOW_S / 60 - (m))	/* minute index, m minutes ago */

struct fixture {
	struct st_collector *c;
	char db[64];
	uint16_t total;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct st_collector *c = calloc(1, sizeof(*c));

	snprintf(f->db, sizeof(f->db), "/tmp/st-retention-%d.db", getpid());
	unlink(f->db);
	c->cfg.db = f->db;
	c->cfg.keep_minutes = 3600;
	c->cfg.keep = 86400;
	st_u64map_init(&c->ipnames, 16);
	c_stage_intern(c, "unknown");
	f->total = c_stage_intern(c, "total");
	assert_int_equal(c_store_open(c), 0);
	f->c = c;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	c_store_close(f->c);
	for (int i = 0; i < f->c->n_stages; i++)
		free(f->c->stage_names[i]);
	st_u64map_free(&f->c->ipnames);
	free(f->c);
	unlink(f->db);
	free(f);
	return 0;
}

/* One minute's cell: n values v, v+1, ... (ns). */
static void put_cell(struct fixture *f, int64_t minute, uint64_t v, int n, struct st_hist *expect)
{
	struct c_cell_delta d = { .minute = minute, .src = "a", .dst = "b", .stage = f->total, .ord = 3 };

	st_hist_init(&d.h);
	for (int i = 0; i < n; i++) {
		st_hist_add(&d.h, v + (uint64_t)i * 997);
		if (expect)
			st_hist_add(expect, v + (uint64_t)i * 997);
	}
	d.bound_sum = 10.0 * n;
	d.bound_n = (uint64_t)n;
	assert_int_equal(c_store_begin(f->c), 0);
	assert_int_equal(c_store_merge_cell(f->c, &d), 0);
	assert_int_equal(c_store_commit(f->c), 0);
}

static void put_pair(struct fixture *f, int64_t minute, uint64_t matched, uint64_t lost)
{
	struct c_pair_delta d = { .minute = minute, .src = "a", .dst = "b", .matched = matched, .lost = lost };

	assert_int_equal(c_store_add_pair(f->c, &d), 0);
}

static int64_t q1(struct fixture *f, const char *sql, int64_t a, int64_t b)
{
	sqlite3_stmt *st;
	int64_t v = -1;

	assert_int_equal(sqlite3_prepare_v2(f->c->db, sql, -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_int64(st, 1, a);
	sqlite3_bind_int64(st, 2, b);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* The stored histogram of (a, b, total) at one minute. */
static void stored(struct fixture *f, int64_t minute, struct st_hist *h)
{
	sqlite3_stmt *st;

	st_hist_init(h);
	assert_int_equal(sqlite3_prepare_v2(f->c->db, "SELECT hist FROM hist WHERE minute=?",
					    -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_int64(st, 1, minute);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(st_hist_merge_encoded(h, sqlite3_column_blob(st, 0),
					       (size_t)sqlite3_column_bytes(st, 0)), 0);
	sqlite3_finalize(st);
}

static void same_hist(const struct st_hist *a, const struct st_hist *b)
{
	assert_int_equal(a->count, b->count);
	assert_int_equal(a->max, b->max);
	for (double q = 0.01; q < 1; q += 0.07)
		assert_int_equal(st_hist_quantile(a, q), st_hist_quantile(b, q));
}

static void test_downsample_and_expire(void **state)
{
	struct fixture *f = *state;
	/* Hours ago: 8:00-8:59 (every minute), 9:00-9:59 (some), and the last 20 minutes. */
	int64_t h8 = (NOW_S / 3600 - 2) * 60, h9 = (NOW_S / 3600 - 1) * 60;
	struct st_hist e8, e9, got;
	uint64_t m8 = 0;

	st_hist_init(&e8);
	st_hist_init(&e9);
	for (int m = 0; m < 60; m++) {
		put_cell(f, h8 + m, 1000 + (uint64_t)m * 50, 5, &e8);
		put_pair(f, h8 + m, 5, m % 7 == 0);
		m8 += m % 7 == 0;
	}
	for (int m = 5; m < 60; m += 10) {
		put_cell(f, h9 + m, 200000, 3, &e9);
		put_pair(f, h9 + m, 3, 0);
	}
	for (int m = 0; m < 20; m++)
		put_cell(f, AGO(m), 5000, 2, NULL);
	/* Two days old: expired outright. */
	put_cell(f, AGO(2 * 1440), 7000, 4, NULL);
	put_pair(f, AGO(2 * 1440), 4, 0);
	/* Drill-down paths: one old, one recent. */
	assert_int_equal(sqlite3_exec(f->c->db, "INSERT INTO paths VALUES('',1,'a','b',1,1,'x','f','',0)", NULL, NULL, NULL), 0);
	{
		char sql[200];

		snprintf(sql, sizeof(sql), "INSERT INTO paths VALUES('',%lld,'a','b',1,1,'y','f','',0)",
			 (long long)AGO(3));
		assert_int_equal(sqlite3_exec(f->c->db, sql, NULL, NULL, NULL), 0);
	}

	/* The cut: 9:00 (10:20 minus one hour, to the hour). 8:00 is merged; 9:xx stays. */
	assert_int_equal(c_retention_hour_cut(f->c, NOW_S), h9);
	assert_int_equal(c_retention_run(f->c, NOW_S), 0);
	assert_int_equal(f->c->c.hours_downsampled, 1);
	assert_int_equal(q1(f, "SELECT COUNT(*) FROM hist WHERE minute BETWEEN ? AND ?", h8, h8 + 59), 1);
	stored(f, h8, &got);
	same_hist(&got, &e8);
	assert_int_equal(q1(f, "SELECT count FROM hist WHERE minute=?", h8, 0), 300);
	assert_int_equal(q1(f, "SELECT bound_n FROM hist WHERE minute=?", h8, 0), 300);
	assert_int_equal(q1(f, "SELECT COUNT(*) FROM pair WHERE minute BETWEEN ? AND ?", h8, h8 + 59), 1);
	assert_int_equal(q1(f, "SELECT matched FROM pair WHERE minute=?", h8, 0), 300);
	assert_int_equal(q1(f, "SELECT lost FROM pair WHERE minute=?", h8, 0), (int64_t)m8);
	/* 9:xx and the last 20 minutes keep their minute rows. */
	assert_int_equal(q1(f, "SELECT COUNT(*) FROM hist WHERE minute BETWEEN ? AND ?", h9, h9 + 59), 6);
	assert_int_equal(q1(f, "SELECT COUNT(*) FROM hist WHERE minute > ?", AGO(20), 0), 20);
	/* Older than a day: gone. Old path gone, recent path kept. */
	assert_int_equal(q1(f, "SELECT COUNT(*) FROM hist WHERE minute < ?", h8, 0), 0);
	assert_int_equal(q1(f, "SELECT COUNT(*) FROM pair WHERE minute < ?", h8, 0), 0);
	/* hist, pair and the old path */
	assert_int_equal(f->c->c.rows_expired, 3);
	assert_int_equal(q1(f, "SELECT COUNT(*) FROM paths WHERE packet_id='x' AND ?=?", 0, 0), 0);
	assert_int_equal(q1(f, "SELECT COUNT(*) FROM paths WHERE packet_id='y' AND ?=?", 0, 0), 1);

	/* Again: nothing to do. */
	assert_int_equal(c_retention_run(f->c, NOW_S), 0);
	assert_int_equal(f->c->c.hours_downsampled, 1);
	stored(f, h8, &got);
	same_hist(&got, &e8);

	/* An hour later 9:xx is merged too, exactly. */
	assert_int_equal(c_retention_run(f->c, NOW_S + 3600), 0);
	assert_int_equal(f->c->c.hours_downsampled, 2);
	stored(f, h9, &got);
	same_hist(&got, &e9);
	assert_int_equal(q1(f, "SELECT matched FROM pair WHERE minute=?", h9, 0), 18);

	/* A late delta for 8:37 (inbox replay): merged into the hour at the next run. */
	put_cell(f, h8 + 37, 123456, 4, &e8);
	put_pair(f, h8 + 37, 4, 0);
	assert_int_equal(q1(f, "SELECT COUNT(*) FROM hist WHERE minute BETWEEN ? AND ?", h8, h8 + 59), 2);
	assert_int_equal(c_retention_run(f->c, NOW_S + 3600), 0);
	assert_int_equal(q1(f, "SELECT COUNT(*) FROM hist WHERE minute BETWEEN ? AND ?", h8, h8 + 59), 1);
	stored(f, h8, &got);
	same_hist(&got, &e8);
	assert_int_equal(q1(f, "SELECT matched FROM pair WHERE minute=?", h8, 0), 304);
	assert_int_equal(f->c->c.retention_errors, 0);
}

static void test_disabled(void **state)
{
	struct fixture *f = *state;

	f->c->cfg.keep_minutes = 0;
	f->c->cfg.keep = 0;
	put_cell(f, AGO(3000), 1000, 1, NULL);
	put_cell(f, AGO(3001), 1000, 1, NULL);
	assert_int_equal(sqlite3_exec(f->c->db, "INSERT INTO paths VALUES('',1,'a','b',1,1,'x','f','',0)", NULL, NULL, NULL), 0);
	assert_int_equal(c_retention_run(f->c, NOW_S), 0);
	assert_int_equal(q1(f, "SELECT COUNT(*) FROM hist WHERE ?=?", 0, 0), 2);
	assert_int_equal(q1(f, "SELECT COUNT(*) FROM paths WHERE ?=?", 0, 0), 1);
	/* Only --keep: old rows go, nothing is merged. */
	f->c->cfg.keep = 3 * 86400;
	assert_int_equal(c_retention_run(f->c, NOW_S), 0);
	assert_int_equal(q1(f, "SELECT COUNT(*) FROM hist WHERE ?=?", 0, 0), 2);
	assert_int_equal(q1(f, "SELECT COUNT(*) FROM paths WHERE ?=?", 0, 0), 0);
	f->c->cfg.keep = 2900 * 60;
	assert_int_equal(c_retention_run(f->c, NOW_S), 0);
	assert_int_equal(q1(f, "SELECT COUNT(*) FROM hist WHERE ?=?", 0, 0), 0);
	assert_int_equal(f->c->c.hours_downsampled, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_downsample_and_expire, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disabled, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
