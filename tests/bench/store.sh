#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Store benchmark (part of make bench; alone: make bench-store):
#   bytes_per_pkt=    store bytes per traced packet: a fresh collector takes
#                     LOAD_S seconds of synthetic agent load (stloadgen:
#                     one VM pair, every request and reply joined), then is
#                     stopped; the database (checkpointed, inbox drained)
#                     over the packets matched. Includes the drill-down
#                     paths and the per-minute rows of every stage.
#   hist_rows=        rows in the query store (>= 1,000,000)
#   query_ms_p50=, query_ms_p99=
#                     `stagetrace matrix --last 1h --json` against a store of
#                     200 pairs x 10 stages x 500 minutes = 1,000,000
#                     histogram rows (the last hour: 120,000 rows), QUERIES
#                     runs, wall time per query as the CLI sees it
#   query_ms_p50_empty=
#                     the same query on an empty store, same run: the fixed
#                     cost (process start, connect) to subtract
#   query_ms_full_p50=
#                     the whole 500 minutes (1,000,000 rows), 5 runs
# The histograms in the big store are real encoded histograms taken from
# the load run's store, copied (the query decodes every row it reads).
set -u
O=${1:-build}
O=$(cd "$O" && pwd)
cd "$(dirname "$0")/../.."
LOAD_S=${LOAD_S:-10}
QUERIES=${QUERIES:-60}
PAIRS=200
STAGES=10
MINUTES=500
T=$(mktemp -d /tmp/stagetrace-benchstore.XXXXXX)
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -INT "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do timeout 10 tail --pid="$p" -f /dev/null 2>/dev/null || kill -KILL "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT
die() { echo "bench-store: $*" >&2; exit 1; }
ms() { date +%s%N; }
pct() { sort -n | awk -v q="$1" '{ v[NR] = $1 } END { i = int(q * NR + 0.999999); if (i < 1) i = 1; print v[i] }'; }

# collector DB PORT: start a plaintext loopback collector, wait for it.
collector() {
	"$O/stagetrace-collector" --listen "tcp://127.0.0.1:$2" --query "tcp://127.0.0.1:$(($2 + 1))" \
		--db "$1" --keep-minutes 0 --keep 0 >>"$T/collector.log" 2>&1 &
	CPID=$!
	PIDS+=("$CPID")
	for i in $(seq 50); do
		"$O/stagetrace" stats -C "tcp://127.0.0.1:$(($2 + 1))" -t 0.2 >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	die "collector did not start: $(tail -3 "$T/collector.log")"
}
stop_collector() {
	kill -INT "$CPID"
	timeout 30 tail --pid="$CPID" -f /dev/null || die "collector did not stop"
}

# --- bytes per packet --------------------------------------------------------
PORT=$((16000 + $$ % 1000 * 4))	# below the ephemeral range (tests/e2e/lib.sh)
collector "$T/load.db" "$PORT"
"$O/tests/tools/stloadgen" load "tcp://127.0.0.1:$PORT" --duration "$LOAD_S" >"$T/load.json" ||
	die "stloadgen failed"
# Let the collector catch up (acks precede correlation) and every
# correlation window close: nothing pending, counts stable.
prev=-1
for i in $(seq 60); do
	sleep 1
	read -r matched pend < <("$O/stagetrace" stats -C "tcp://127.0.0.1:$((PORT + 1))" --json |
		jq -r '.collector | "\(.matched) \(.pending_packets)"')
	[[ $matched == "$prev" && $pend == 0 ]] && break
	prev=$matched
done
stop_collector
sqlite3 "$T/load.db" "PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null
inbox=$(sqlite3 "$T/load.db" "SELECT COUNT(*) FROM inbox")
# Pages in use: the inbox's rows were written and deleted again, and the
# file keeps those pages for reuse; they are not data kept per packet.
bytes=$(sqlite3 "$T/load.db" "SELECT (page_count - freelist_count) * page_size FROM pragma_page_count, pragma_freelist_count, pragma_page_size")
echo "store_file_bytes=$(stat -c %s "$T/load.db")"
((matched > 0)) || die "no packets matched in the load run"
echo "load_packets_matched=$matched"
echo "load_inbox_rows_left=$inbox"
echo "store_bytes=$bytes"
echo "bytes_per_pkt=$(awk -v b="$bytes" -v p="$matched" 'BEGIN { printf "%.3f\n", b / p }')"

# --- a store of a million histogram rows ------------------------------------
BLOB=$(sqlite3 "$T/load.db" "SELECT hex(hist) FROM hist ORDER BY length(hist) DESC LIMIT 1")
[[ -n $BLOB ]] || die "no histogram in the load store"
collector "$T/big.db" "$((PORT + 2))"	# creates the schema
stop_collector
now_min=$(($(date +%s) / 60))
sqlite3 "$T/big.db" >/dev/null <<SQL || die "filling the store failed"
PRAGMA journal_mode=WAL;
BEGIN;
WITH RECURSIVE
  p(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM p WHERE i < $PAIRS - 1),
  s(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM s WHERE j < $STAGES - 1),
  m(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM m WHERE k < $MINUTES - 1)
INSERT INTO hist SELECT '', $now_min - k, 'vm' || i, 'vm' || (i + 1),
  CASE j WHEN 0 THEN 'total' ELSE 'stage' || j END, j, 1000, X'$BLOB', 0, 0
  FROM p, s, m;
WITH RECURSIVE
  p(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM p WHERE i < $PAIRS - 1),
  m(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM m WHERE k < $MINUTES - 1)
INSERT INTO pair SELECT '', $now_min - k, 'vm' || i, 'vm' || (i + 1), 1000, 0, 0, 0 FROM p, m;
COMMIT;
SQL
rows=$(sqlite3 "$T/big.db" "SELECT COUNT(*) FROM hist")
echo "hist_rows=$rows"
((rows >= 1000000)) || die "store has only $rows rows"

collector "$T/empty.db" "$((PORT + 4))"
EQ=tcp://127.0.0.1:$((PORT + 5))
collector "$T/big.db" "$((PORT + 6))"
BQ=tcp://127.0.0.1:$((PORT + 7))
"$O/stagetrace" matrix -C "$BQ" --last 1h --json -t 60 >"$T/check.json" || die "matrix query failed"
cells=$(jq '.cells | length' "$T/check.json")
((cells == PAIRS)) || die "matrix answered $cells cells, expected $PAIRS"
# Interleaved: empty store, big store, each QUERIES times.
: >"$T/empty.ms"
: >"$T/big.ms"
for ((i = 0; i < QUERIES; i++)); do
	t0=$(ms)
	"$O/stagetrace" matrix -C "$EQ" --last 1h --json >/dev/null 2>&1
	t1=$(ms)
	"$O/stagetrace" matrix -C "$BQ" --last 1h --json -t 60 >/dev/null || die "matrix query failed"
	t2=$(ms)
	echo $(((t1 - t0) / 1000)) >>"$T/empty.ms"
	echo $(((t2 - t1) / 1000)) >>"$T/big.ms"
done
: >"$T/full.ms"
for i in 1 2 3 4 5; do
	t0=$(ms)
	"$O/stagetrace" matrix -C "$BQ" --last 1000m --json -t 120 >/dev/null || die "full matrix query failed"
	echo $((($(ms) - t0) / 1000)) >>"$T/full.ms"
done
us2ms() { awk '{ printf "%.1f\n", $1 / 1000 }'; }
echo "query_rows_last_hour=$((PAIRS * STAGES * 60))"
echo "query_ms_p50=$(pct 0.5 <"$T/big.ms" | us2ms)"
echo "query_ms_p99=$(pct 0.99 <"$T/big.ms" | us2ms)"
echo "query_ms_p50_empty=$(pct 0.5 <"$T/empty.ms" | us2ms)"
echo "query_ms_full_p50=$(pct 0.5 <"$T/full.ms" | us2ms)"
