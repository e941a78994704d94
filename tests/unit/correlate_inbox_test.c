// SPDX-License-Identifier: MIT
/*
 * Unit tests for the collector's inbox durability (collector/ingest.c,
 * store.c, correlate.c): a batch's inbox row is retired once every path in
 * it is finalised and rewritten while some are pending, a collector
 * restarted on the same database replays the inbox and finalises the same
 * paths, and fixed bugs (stage table exhaustion, unreadable rewritten
 * rows, replay order against a live batch) stay fixed.
 *
 * The collector runs in-process on an in-memory or temporary SQLite store
 * and is fed hand-made batches from two hypervisors (the fixture is
 * correlate_fixture.h, shared with correlate_test.c).
 */
#include "unit_stubs.h"
#include "correlate_fixture.h"


static int64_t inbox_rows(struct st_collector *c)
{
	return sql_int(c, "SELECT COUNT(*) FROM inbox");
}

/* Decodes the stored inbox row id; returns its path count and ids. */
static int inbox_paths(struct st_collector *c, int64_t id, uint64_t *ids, int max)
{
	sqlite3_stmt *st;
	st_envelope *env = NULL;
	const char *why;
	int n = -1;

	assert_int_equal(sqlite3_prepare_v2(c->db, "SELECT batch FROM inbox WHERE id=?", -1,
					    &st, NULL), SQLITE_OK);
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW) {
		assert_int_equal(st_wire_unpack(sqlite3_column_blob(st, 0),
						(size_t)sqlite3_column_bytes(st, 0), &env, &why), 0);
		n = (int)env->batch->n_paths;
		for (int i = 0; i < n && i < max; i++)
			ids[i] = env->batch->paths[i]->packet_id;
		/* The rewritten row is still this host's batch. */
		assert_string_equal(env->batch->host, "hv1");
		assert_int_equal(env->batch->n_clock, 1);
		st_wire_free(env);
	}
	sqlite3_finalize(st);
	return n;
}

static void test_inbox_retired_when_done(void **state)
{
	struct st_collector *c = *state;
	struct st_pkt_key k = udp_key(A_IP, B_IP, A_PORT, B_PORT, 0x4000);
	struct path_spec s = send_half(k, "vma", T0), r = recv_half(k, "vmb", T0);
	int64_t id1, id2;

	id1 = feed_stored(c, &hv1, &s, 1);
	assert_int_equal(inbox_rows(c), 1);
	/* Nothing finalised yet: a flush keeps the row as it is. */
	assert_int_equal(c_flush(c), 0);
	assert_int_equal(inbox_paths(c, id1, NULL, 0), 1);
	id2 = feed_stored(c, &hv2, &r, 1);
	assert_int_not_equal(id1, id2);
	assert_int_equal(inbox_rows(c), 2);
	assert_int_equal(c->c.matched, 1);
	assert_int_equal(c_flush(c), 0);
	/* Both rows are gone in the same flush that stored the path. */
	assert_int_equal(inbox_rows(c), 0);
	assert_null(c->batches);
	check_matched_path(c, "vma", "vmb", 1);
	/* The agents' sequence numbers were recorded. */
	assert_int_equal(c_store_seen(c, "hv1", hv1.instance, hv1.seq), 1);
	assert_int_equal(c_store_seen(c, "hv2", hv2.instance, hv2.seq + 1), 0);
}

static void test_inbox_rewritten_while_pending(void **state)
{
	struct st_collector *c = *state;
	struct st_pkt_key k[3];
	struct path_spec s[3], r[3];
	uint64_t ids[4];
	int64_t id;

	for (int i = 0; i < 3; i++) {
		k[i] = udp_key(A_IP, B_IP, A_PORT, B_PORT, 0x5000 + (unsigned)i);
		s[i] = send_half(k[i], "vma", T0 + i * MS);
		r[i] = recv_half(k[i], "vmb", T0 + i * MS);
	}
	id = feed_stored(c, &hv1, s, 3);
	assert_int_equal(inbox_paths(c, id, ids, 4), 3);

	/* Packet 0 completes; 1 and 2 are pending. */
	feed(c, &hv2, &r[0], 1);
	assert_int_equal(c->c.matched, 1);
	assert_int_equal(c_flush(c), 0);
	assert_int_equal(inbox_rows(c), 1);
	assert_int_equal(inbox_paths(c, id, ids, 4), 2);
	assert_true(ids[0] == st_pkt_id(&k[1]));
	assert_true(ids[1] == st_pkt_id(&k[2]));
	assert_int_equal(pair_row(c, "vma", "vmb").matched, 1);

	/* Packet 2 completes: only packet 1 is left in the row. */
	feed(c, &hv2, &r[2], 1);
	assert_int_equal(c_flush(c), 0);
	assert_int_equal(inbox_paths(c, id, ids, 4), 1);
	assert_true(ids[0] == st_pkt_id(&k[1]));
	assert_int_equal(pair_row(c, "vma", "vmb").matched, 2);

	/* Packet 1 is given up on: lost, and the row is retired. */
	c_correlate_expire(c, 1);
	assert_int_equal(c->c.lost, 1);
	assert_int_equal(c_flush(c), 0);
	assert_int_equal(inbox_rows(c), 0);
	assert_int_equal(inbox_paths(c, id, ids, 4), -1);
	assert_null(c->batches);
	/* By now 10.0.0.2 is known to be vmb, from the delivered halves. */
	{
		struct pair_row pr = pair_row(c, "vma", "vmb");

		assert_int_equal(pr.lost, 1);
		assert_int_equal(pr.matched, 2);
	}
	assert_false(pair_row(c, "vma", "10.0.0.2").found);
}

/*
 * Known bug: stage names are interned from every batch's StageDefs into a
 * table of C_MAX_STAGES entries that is never pruned, and a full table
 * maps every new name to 0 ("unknown"). One batch defining 600 names (a
 * buggy or hostile agent) fills it before "wire" and "total" are first
 * interned by finalize(), so every later path's wire and total go to
 * "unknown".
 */
static void test_fixed_stage_table_exhaustion(void **state)
{
	struct st_collector *c = *state;
	st_envelope env = STAGETRACE__V1__ENVELOPE__INIT, *e = NULL;
	st_batch b = STAGETRACE__V1__BATCH__INIT;
	Stagetrace__V1__StageDef defs[600], *defp[600];
	char names[600][16];
	struct st_pkt_key k = udp_key(A_IP, B_IP, A_PORT, B_PORT, 0x7100);
	struct path_spec s = send_half(k, "vma", T0), r = recv_half(k, "vmb", T0);
	uint8_t *buf;
	size_t len;
	const char *why;

	for (int i = 0; i < 600; i++) {
		stagetrace__v1__stage_def__init(&defs[i]);
		snprintf(names[i], sizeof(names[i]), "junk%d", i);
		defs[i].id = (uint32_t)i;
		defs[i].name = names[i];
		defp[i] = &defs[i];
	}
	env.version = ST_WIRE_VERSION;
	env.body_case = STAGETRACE__V1__ENVELOPE__BODY_BATCH;
	env.batch = &b;
	b.host = "hv3";
	b.seq = 1;
	b.stages = defp;
	b.n_stages = 600;
	assert_int_equal(st_wire_pack(&env, &buf, &len), 0);
	assert_int_equal(st_wire_unpack(buf, len, &e, &why), 0);
	free(buf);
	c_ingest_batch(c, e, 0);
	feed(c, &hv1, &s, 1);
	feed(c, &hv2, &r, 1);
	assert_int_equal(c_flush(c), 0);
	assert_true(hist_cell(c, "vma", "vmb", "wire").found);
	assert_true(hist_cell(c, "vma", "vmb", "total").found);
}

/*
 * Known bug: protobuf-c accepts an unknown field numbered 0 when its tag is
 * an overlong varint (0x80 0x00), keeps it, and packs it back with the
 * one-byte tag 0x00, which its parser rejects. When a flush rewrites such
 * a batch's inbox row to hold only its pending paths, the row becomes
 * unreadable and a restart skips it: acked paths are lost.
 */
static void test_fixed_rewritten_row_unreadable(void **state)
{
	struct st_collector *c = *state;
	struct st_pkt_key k[2];
	struct path_spec s[2], r0;
	struct built b;
	uint8_t *buf;
	const char *why;
	int64_t id = -1;
	uint64_t ids[2];

	for (int i = 0; i < 2; i++) {
		k[i] = udp_key(A_IP, B_IP, A_PORT, B_PORT, 0x7000 + (unsigned)i);
		s[i] = send_half(k[i], "vma", T0 + i * MS);
	}
	r0 = recv_half(k[0], "vmb", T0);
	b = build_batch(&hv1, s, 2);
	st_wire_free(b.env);
	buf = realloc(b.buf, b.len + 3);
	assert_non_null(buf);
	memcpy(buf + b.len, "\x80\x00\x05", 3);
	b.len += 3;
	b.env = NULL;
	/* Field number 0 would not survive a rewrite of the inbox row: the
	 * message is refused at the door instead. */
	assert_int_not_equal(st_wire_unpack(buf, b.len, &b.env, &why), 0);
	assert_string_equal(why, "field number 0");
	free(buf);
	(void)c;
	(void)r0;
	(void)id;
	(void)ids;
}

/*
 * A collector's first life on the store at path: packets 0 and 1 leave hv1
 * in one stored batch, packet 0's other half arrives and is flushed, then
 * the process dies with packet 1 still pending.
 */
static void first_life(const char *path, struct path_spec *s, struct path_spec *r)
{
	struct st_collector *c = col_new(path);

	feed_stored(c, &hv1, s, 2);
	feed_stored(c, &hv2, &r[0], 1);
	assert_int_equal(c_flush(c), 0);
	assert_int_equal(inbox_rows(c), 1);
	col_free(c);	/* a crash: nothing more is flushed */
}

struct tmpdb {
	char path[64], wal[80], shm[80];
};

static void tmpdb_make(struct tmpdb *t)
{
	int fd;

	snprintf(t->path, sizeof(t->path), "/tmp/st-correlate-XXXXXX");
	fd = mkstemp(t->path);
	assert_true(fd >= 0);
	close(fd);
	snprintf(t->wal, sizeof(t->wal), "%s-wal", t->path);
	snprintf(t->shm, sizeof(t->shm), "%s-shm", t->path);
}

static void tmpdb_remove(struct tmpdb *t)
{
	unlink(t->path);
	unlink(t->wal);
	unlink(t->shm);
}

static void replay_scenario(int heartbeat_first)
{
	struct tmpdb db;
	struct st_collector *c;
	struct st_pkt_key k[2];
	struct path_spec s[2], r[2];

	tmpdb_make(&db);
	for (int i = 0; i < 2; i++) {
		k[i] = udp_key(A_IP, B_IP, A_PORT, B_PORT, 0x6000 + (unsigned)i);
		s[i] = send_half(k[i], "vma", T0 + i * MS);
		r[i] = recv_half(k[i], "vmb", T0 + i * MS);
	}
	first_life(db.path, s, r);

	/* Second life: the inbox is replayed, packet 1's other half arrives,
	 * and packet 0 is not counted twice. */
	c = col_new(db.path);
	assert_int_equal(c_store_replay(c), 1);
	assert_int_equal(c->c.replayed_batches, 1);
	assert_int_equal(c->pending.len, 1);
	if (heartbeat_first)
		feed(c, &hv1, NULL, 0);	/* hv1's agent is back too */
	feed_stored(c, &hv2, &r[1], 1);
	assert_int_equal(c->c.matched, 1);
	assert_int_equal(c_flush(c), 0);
	assert_int_equal(inbox_rows(c), 0);
	assert_int_equal(pair_row(c, "vma", "vmb").matched, 2);
	{
		struct cell w = hist_cell(c, "vma", "vmb", "wire");
		struct cell tot = hist_cell(c, "vma", "vmb", "total");

		assert_true(w.found);
		assert_int_equal(w.count, 2);
		assert_int_equal(w.minute, MINUTE0);
		assert_true(w.h.min == (uint64_t)(50 * US) && w.h.max == (uint64_t)(50 * US));
		assert_true(tot.h.min == (uint64_t)CHAIN_TOTAL && tot.h.max == (uint64_t)CHAIN_TOTAL);
	}
	col_free(c);
	tmpdb_remove(&db);
}

static void test_inbox_replay_after_restart(void **state)
{
	replay_scenario(1);
}

/*
 * Known bug, the common case of the one below: both halves of a packet
 * were acked and matched, and the collector died before the flush that
 * would have stored the path and retired both inbox rows. At start-up both
 * rows are replayed, the packet is matched again during the replay, and
 * neither host has a clock model yet: the path is stored with a wire time
 * that is the difference of the hosts' boot times.
 */
static void test_fixed_replay_matches_unmapped(void **state)
{
	struct tmpdb db;
	struct st_collector *c;
	struct st_pkt_key k = udp_key(A_IP, B_IP, A_PORT, B_PORT, 0x6100);
	struct path_spec s = send_half(k, "vma", T0), r = recv_half(k, "vmb", T0);

	tmpdb_make(&db);
	c = col_new(db.path);
	feed_stored(c, &hv1, &s, 1);
	feed_stored(c, &hv2, &r, 1);
	assert_int_equal(c->c.matched, 1);
	col_free(c);	/* dies before flushing */

	c = col_new(db.path);
	assert_int_equal(c_store_replay(c), 2);
	assert_int_equal(c->c.matched, 1);
	assert_int_equal(c_flush(c), 0);
	{
		struct cell w = hist_cell(c, "vma", "vmb", "wire");

		assert_true(w.found);
		assert_int_equal(w.minute, MINUTE0);
		assert_single(&w, "wire", 50 * US);
	}
	col_free(c);
	tmpdb_remove(&db);
}

/*
 * Known bug: replayed paths must map onto the timeline as they did live,
 * even when their other half arrives before the replayed host sends
 * anything new. While replaying, c_ingest_batch skips c_clock_batch, so
 * the replayed batch's own clock triple is never used; finalize() maps
 * its stamps with c_clock_map, which, for a host with neither a model nor
 * a triple, falls back to the collector's own monotonic offset. The wire
 * and total come out wrong by the difference of the two hosts' boot
 * times (and the minute is wrong), and the bad sample is also fed to the
 * data-plane clock estimator through c_clock_wire.
 */
static void test_fixed_replay_before_live_batch(void **state)
{
	replay_scenario(0);
}


int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_inbox_retired_when_done, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inbox_rewritten_while_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inbox_replay_after_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fixed_rewritten_row_unreadable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fixed_replay_before_live_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fixed_replay_matches_unmapped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fixed_stage_table_exhaustion, setup, teardown),
	};

	st_log_init("correlate_inbox_test", ST_LOG_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
