// SPDX-License-Identifier: MIT
/*
 * The embedded store: SQLite in WAL mode.
 *
 *   hist(tenant, minute, src, dst, stage, ord, count, hist)  per-minute
 *        histograms, hist = st_hist_encode() bytes
 *   pair(tenant, minute, src, dst, matched, lost, dropped, unmatched)
 *   names(addr, name)  the address each VM name was last seen with
 *   gap(minute, src, dst, proto, port, ord, stage, host, count, hist)
 *   stalls(minute, src, dst, proto, port, stage, host, start_ns, dur_ns, up_ns)
 *   inbox(id, host, instance, seq, received, batch)  acked batches whose
 *        paths are not all aggregated yet (protobuf Envelope bytes)
 *   agent_seq(host, instance, seq)  highest stored sequence per agent run
 *
 * Tenant is '' until tenants are configured; it is part of the keys now
 * so that adding tenants needs no migration.
 */
#include "collector.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "timeutil.h"

static const char *schema =
	"PRAGMA journal_mode=WAL;"
	"PRAGMA synchronous=NORMAL;"
	"CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);"
	"INSERT OR IGNORE INTO meta VALUES('schema_version','2');"
	"CREATE TABLE IF NOT EXISTS hist(tenant TEXT NOT NULL DEFAULT '',"
	" minute INTEGER NOT NULL, src TEXT NOT NULL, dst TEXT NOT NULL,"
	" stage TEXT NOT NULL, ord INTEGER NOT NULL, count INTEGER NOT NULL,"
	" hist BLOB NOT NULL, bound_sum REAL NOT NULL DEFAULT 0,"
	" bound_n INTEGER NOT NULL DEFAULT 0,"
	" PRIMARY KEY(tenant, minute, src, dst, stage)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS pair(tenant TEXT NOT NULL DEFAULT '',"
	" minute INTEGER NOT NULL, src TEXT NOT NULL, dst TEXT NOT NULL,"
	" matched INTEGER NOT NULL, lost INTEGER NOT NULL,"
	" dropped INTEGER NOT NULL, unmatched INTEGER NOT NULL,"
	" PRIMARY KEY(tenant, minute, src, dst)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS inbox(id INTEGER PRIMARY KEY,"
	" host TEXT NOT NULL, instance INTEGER NOT NULL, seq INTEGER NOT NULL,"
	" received INTEGER NOT NULL, batch BLOB NOT NULL);"
	"CREATE TABLE IF NOT EXISTS paths(tenant TEXT NOT NULL DEFAULT '',"
	" minute INTEGER NOT NULL, src TEXT NOT NULL, dst TEXT NOT NULL,"
	" total_ns INTEGER NOT NULL, t0_ns INTEGER NOT NULL, packet_id TEXT NOT NULL,"
	" flow TEXT NOT NULL, stages TEXT NOT NULL, bound_ns REAL NOT NULL);"
	"CREATE INDEX IF NOT EXISTS paths_pair ON paths(src, dst, minute, total_ns);"
	"CREATE TABLE IF NOT EXISTS names(addr INTEGER PRIMARY KEY, name TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS gap(minute INTEGER NOT NULL, src TEXT NOT NULL,"
	" dst TEXT NOT NULL, proto INTEGER NOT NULL, port INTEGER NOT NULL, ord INTEGER NOT NULL,"
	" stage TEXT NOT NULL, host TEXT NOT NULL, count INTEGER NOT NULL, hist BLOB NOT NULL,"
	" PRIMARY KEY(minute, src, dst, proto, port, ord, stage, host)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS stalls(minute INTEGER NOT NULL, src TEXT NOT NULL,"
	" dst TEXT NOT NULL, proto INTEGER NOT NULL, port INTEGER NOT NULL, stage TEXT NOT NULL,"
	" host TEXT NOT NULL, start_ns INTEGER NOT NULL, dur_ns INTEGER NOT NULL, up_ns INTEGER);"
	"CREATE INDEX IF NOT EXISTS stalls_minute ON stalls(minute);"
	"CREATE TABLE IF NOT EXISTS agent_seq(host TEXT NOT NULL,"
	" instance INTEGER NOT NULL, seq INTEGER NOT NULL,"
	" PRIMARY KEY(host, instance));";

/* Schema 1 -> 2: clock bounds of cross-host intervals. */
static const char *migrate_2 =
	"ALTER TABLE hist ADD COLUMN bound_sum REAL NOT NULL DEFAULT 0;"
	"ALTER TABLE hist ADD COLUMN bound_n INTEGER NOT NULL DEFAULT 0;";

static int sql_err(struct st_collector *c, const char *what)
{
	pr_warn("sqlite %s: %s", what, sqlite3_errmsg(c->db));
	return -EIO;
}

/* Addresses the VMs were seen with (tenant membership by CIDR). */
static int names_load(struct st_collector *c)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(c->db, "SELECT addr, name FROM names", -1, &st, NULL) != SQLITE_OK)
		return sql_err(c, "names");
	while (sqlite3_step(st) == SQLITE_ROW) {
		uint64_t k = (uint64_t)(uint32_t)sqlite3_column_int64(st, 0) | (1ull << 32);
		const char *n = (const char *)sqlite3_column_text(st, 1);

		if (n && !st_u64map_get(&c->ipnames, k))
			st_u64map_put(&c->ipnames, k, strdup(n));
	}
	sqlite3_finalize(st);
	return 0;
}

int c_store_open(struct st_collector *c)
{
	char *msg = NULL;

	/* One thread (the loop) uses the connection: no SQLite mutexes. */
	if (sqlite3_open_v2(c->cfg.db, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		pr_err("cannot open store %s: %s", c->cfg.db,
		       c->db ? sqlite3_errmsg(c->db) : "out of memory");
		return -EIO;
	}
	sqlite3_busy_timeout(c->db, 2000);
	if (sqlite3_exec(c->db, schema, NULL, NULL, &msg) != SQLITE_OK) {
		pr_err("store %s: %s", c->cfg.db, msg);
		sqlite3_free(msg);
		return -EIO;
	}
	/* A store written by schema 1 lacks the bound columns. */
	if (sqlite3_exec(c->db, "SELECT bound_n FROM hist LIMIT 0", NULL, NULL, NULL) != SQLITE_OK) {
		if (sqlite3_exec(c->db, migrate_2, NULL, NULL, &msg) != SQLITE_OK) {
			pr_err("store %s: migration to schema 2: %s", c->cfg.db, msg);
			sqlite3_free(msg);
			return -EIO;
		}
		sqlite3_exec(c->db, "UPDATE meta SET value='2' WHERE key='schema_version'",
			     NULL, NULL, NULL);
		pr_info("store %s migrated to schema 2", c->cfg.db);
	}
	return names_load(c);
}

void c_store_name_put(struct st_collector *c, uint32_t addr, const char *name)
{
	sqlite3_stmt *st;

	if (!c->db)
		return;		/* no store (unit tests) */
	if (sqlite3_prepare_v2(c->db, "INSERT OR REPLACE INTO names VALUES(?,?)", -1, &st,
			       NULL) != SQLITE_OK) {
		sql_err(c, "names");
		return;
	}
	sqlite3_bind_int64(st, 1, addr);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		sql_err(c, "names");
	sqlite3_finalize(st);
}

void c_store_close(struct st_collector *c)
{
	if (c->db)
		sqlite3_close(c->db);
	c->db = NULL;
}

static int exec(struct st_collector *c, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(c->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		pr_warn("sqlite %s: %s", sql, msg);
		sqlite3_free(msg);
		return -EIO;
	}
	return 0;
}

int c_store_begin(struct st_collector *c) { return exec(c, "BEGIN IMMEDIATE"); }
int c_store_commit(struct st_collector *c) { return exec(c, "COMMIT"); }
void c_store_rollback(struct st_collector *c)
{
	if (!sqlite3_get_autocommit(c->db))
		exec(c, "ROLLBACK");
}

/* 1 if (host, instance) already stored seq or later. */
int c_store_seen(struct st_collector *c, const char *host, uint64_t instance,
		 uint64_t seq)
{
	sqlite3_stmt *st;
	int seen = 0;

	if (sqlite3_prepare_v2(c->db, "SELECT seq FROM agent_seq WHERE host=? AND instance=?",
			       -1, &st, NULL) != SQLITE_OK)
		return sql_err(c, "prepare seen");
	sqlite3_bind_text(st, 1, host, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)instance);
	if (sqlite3_step(st) == SQLITE_ROW)
		seen = (uint64_t)sqlite3_column_int64(st, 0) >= seq;
	sqlite3_finalize(st);
	return seen;
}

int c_store_inbox_put(struct st_collector *c, const char *host, uint64_t instance,
		      uint64_t seq, const uint8_t *buf, size_t len, int64_t *id)
{
	sqlite3_stmt *st = NULL;
	int rc = -EIO;

	if (c_store_begin(c))
		return -EIO;
	if (buf) {
		if (sqlite3_prepare_v2(c->db, "INSERT INTO inbox(host,instance,seq,received,batch)"
				       " VALUES(?,?,?,?,?)", -1, &st, NULL) != SQLITE_OK)
			goto out;
		sqlite3_bind_text(st, 1, host, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)instance);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)seq);
		sqlite3_bind_int64(st, 4, (sqlite3_int64)st_real_ns());
		sqlite3_bind_blob(st, 5, buf, (int)len, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			goto out;
		*id = sqlite3_last_insert_rowid(c->db);
		sqlite3_finalize(st);
		st = NULL;
	} else {
		*id = 0;
	}
	if (sqlite3_prepare_v2(c->db, "INSERT INTO agent_seq VALUES(?,?,?) ON CONFLICT"
			       " DO UPDATE SET seq=excluded.seq", -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(st, 1, host, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)instance);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)seq);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto out;
	sqlite3_finalize(st);
	st = NULL;
	rc = c_store_commit(c);
out:
	if (st) {
		sql_err(c, "inbox put");
		sqlite3_finalize(st);
	}
	if (rc)
		c_store_rollback(c);
	return rc;
}

int c_store_replay(struct st_collector *c)
{
	sqlite3_stmt *st;
	int n = 0;

	if (sqlite3_prepare_v2(c->db, "SELECT id, batch FROM inbox ORDER BY id", -1,
			       &st, NULL) != SQLITE_OK)
		return sql_err(c, "prepare replay");
	c->replaying = 1;
	while (sqlite3_step(st) == SQLITE_ROW) {
		const uint8_t *blob = sqlite3_column_blob(st, 1);
		size_t len = (size_t)sqlite3_column_bytes(st, 1);
		st_envelope *env;
		const char *why;

		if (st_wire_unpack(blob, len, &env, &why)) {
			pr_warn("inbox row %lld unreadable (%s); skipped",
				(long long)sqlite3_column_int64(st, 0), why);
			continue;
		}
		c_ingest_batch(c, env, sqlite3_column_int64(st, 0));
		n++;
	}
	sqlite3_finalize(st);
	c->replaying = 0;
	c->c.replayed_batches += n;
	if (n)
		pr_info("replayed %d stored batch(es) from the inbox", n);
	return n;
}

int c_store_merge_cell(struct st_collector *c, const struct c_cell_delta *d)
{
	static uint8_t buf[32768];
	struct st_hist *h = malloc(sizeof(*h));
	sqlite3_stmt *st = NULL;
	const char *stage = c->stage_names[d->stage];
	size_t len;
	int ord = d->ord, rc = -EIO;
	double bsum = d->bound_sum;
	int64_t bn = (int64_t)d->bound_n;

	if (!h)
		return -ENOMEM;
	*h = d->h;
	if (sqlite3_prepare_v2(c->db, "SELECT hist, ord, bound_sum, bound_n FROM hist WHERE tenant='' AND"
			       " minute=? AND src=? AND dst=? AND stage=?", -1, &st,
			       NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_int64(st, 1, d->minute);
	sqlite3_bind_text(st, 2, d->src, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, d->dst, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, stage, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		if (st_hist_merge_encoded(h, sqlite3_column_blob(st, 0),
					  (size_t)sqlite3_column_bytes(st, 0)))
			pr_warn("stored histogram %s->%s %s unreadable; replaced",
				d->src, d->dst, stage);
		if (sqlite3_column_int(st, 1) > ord)
			ord = sqlite3_column_int(st, 1);
		bsum += sqlite3_column_double(st, 2);
		bn += sqlite3_column_int64(st, 3);
	}
	sqlite3_finalize(st);
	st = NULL;
	len = st_hist_encode(h, buf, sizeof(buf));
	if (!len)
		goto out;
	if (sqlite3_prepare_v2(c->db, "INSERT OR REPLACE INTO hist VALUES('',?,?,?,?,?,?,?,?,?)",
			       -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_int64(st, 1, d->minute);
	sqlite3_bind_text(st, 2, d->src, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, d->dst, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, stage, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 5, ord);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)h->count);
	sqlite3_bind_blob(st, 7, buf, (int)len, SQLITE_STATIC);
	sqlite3_bind_double(st, 8, bsum);
	sqlite3_bind_int64(st, 9, bn);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
out:
	if (rc)
		sql_err(c, "merge cell");
	sqlite3_finalize(st);
	free(h);
	return rc;
}

int c_store_add_pair(struct st_collector *c, const struct c_pair_delta *d)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(c->db, "INSERT INTO pair VALUES('',?,?,?,?,?,?,?)"
			       " ON CONFLICT DO UPDATE SET matched=matched+excluded.matched,"
			       " lost=lost+excluded.lost, dropped=dropped+excluded.dropped,"
			       " unmatched=unmatched+excluded.unmatched", -1, &st, NULL) != SQLITE_OK)
		return sql_err(c, "prepare pair");
	sqlite3_bind_int64(st, 1, d->minute);
	sqlite3_bind_text(st, 2, d->src, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, d->dst, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)d->matched);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)d->lost);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)d->dropped);
	sqlite3_bind_int64(st, 7, (sqlite3_int64)d->unmatched);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : sql_err(c, "add pair");
	sqlite3_finalize(st);
	return rc;
}

/*
 * Retire an inbox row: delete it when every path in it is aggregated,
 * otherwise rewrite it to hold only the paths still pending, so a replay
 * after a crash re-feeds exactly those.
 */
int c_store_inbox_retire(struct st_collector *c, struct c_batch *b)
{
	sqlite3_stmt *st;
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc;

	if (b->remaining == 0) {
		if (sqlite3_prepare_v2(c->db, "DELETE FROM inbox WHERE id=?", -1, &st,
				       NULL) != SQLITE_OK)
			return sql_err(c, "prepare retire");
		sqlite3_bind_int64(st, 1, b->inbox_id);
	} else {
		st_batch *bt = b->env->batch;
		Stagetrace__V1__HostPath **all = bt->paths, **keep;
		size_t nall = bt->n_paths, nk = 0;

		keep = malloc(b->remaining * sizeof(*keep));
		if (!keep)
			return -ENOMEM;
		for (size_t i = 0; i < nall; i++)
			if (!b->done[i])
				keep[nk++] = all[i];
		/* Pack a view of the envelope with only the pending paths. */
		bt->paths = keep;
		bt->n_paths = nk;
		rc = st_wire_pack(b->env, &buf, &len);
		bt->paths = all;
		bt->n_paths = nall;
		free(keep);
		if (rc)
			return rc;
		if (sqlite3_prepare_v2(c->db, "UPDATE inbox SET batch=? WHERE id=?", -1,
				       &st, NULL) != SQLITE_OK) {
			free(buf);
			return sql_err(c, "prepare rewrite");
		}
		sqlite3_bind_blob(st, 1, buf, (int)len, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, b->inbox_id);
	}
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : sql_err(c, "retire");
	sqlite3_finalize(st);
	free(buf);
	return rc;
}
