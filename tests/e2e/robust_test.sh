#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Nothing silent, nothing lost:
#  1. hostile input to the collector (random bytes, truncated batches, a
#     wrong wire version, an empty envelope) is rejected, counted, and the
#     collector keeps serving;
#  2. agents started before the collector queue their batches and deliver
#     them once it is up: the matrix counts what was sent;
#  3. the collector killed with SIGKILL in the middle of traffic and
#     restarted on the same store loses nothing it acknowledged: agents
#     resend what was not acked, the inbox replays what was not aggregated;
#  4. the CLI fails clearly: exit 3 for an unreachable collector, 2 for bad
#     flags, each with a one-line error.
set -u
export ST_TB=${ST_TB:-e2erob}
. "$(dirname "$0")/lib.sh"

e2e_begin || exit 1
TB_QUIET=1 tb_up --wire veth || exit 1
E2E_DB=$E2E_TMP/st.db

# --- 1. hostile input ------------------------------------------------------
e2e_collector || exit 1
"$O/tests/tools/stsend" "$E2E_INGEST" garbage 200 >"$E2E_TMP/g.out"
check "200 garbage messages all answered" test "$(grep -c '^ack seq=0 status=2' "$E2E_TMP/g.out")" = 200
"$O/tests/tools/stsend" "$E2E_INGEST" truncated >"$E2E_TMP/t.out"
ntr=$(wc -l <"$E2E_TMP/t.out")
check "every truncated batch rejected ($ntr)" test "$(grep -c 'status=2' "$E2E_TMP/t.out")" = "$ntr"
"$O/tests/tools/stsend" "$E2E_INGEST" version | grep -q 'status=2'
check "wrong wire version rejected" test $? = 0
"$O/tests/tools/stsend" "$E2E_INGEST" empty | grep -q 'status=2'
check "empty envelope rejected" test $? = 0
bad=$("$O/stagetrace" stats -C "$E2E_QUERY" --json | jq .collector.batches_bad)
check_range "collector counted every rejected message" "$bad" $((200 + ntr + 2)) $((200 + ntr + 2))
"$O/tests/tools/stsend" "$E2E_INGEST" valid | grep -q 'ack seq=1 status=0'
check "valid batch still accepted afterwards" test $? = 0
"$O/tests/tools/stsend" "$E2E_INGEST" valid | grep -q 'ack seq=1 status=1'
check "resent batch recognised as duplicate" test $? = 0
kill -TERM "$E2E_COLLECTOR_PID"; wait "$E2E_COLLECTOR_PID" 2>/dev/null
rm -f "$E2E_DB" "$E2E_DB"-*

# --- 2. agents before the collector ---------------------------------------
e2e_agent hv1
e2e_agent hv2
# No collector to ask yet: traffic once both agents log "tracing:" (after
# attach); a fixed sleep 1 is shorter than a BPF load on a loaded machine,
# and packets sent before it are counted as sent but never traced.
e2e_wait_traced "$E2E_TMP/agent-hv1.log" hv1
e2e_wait_traced "$E2E_TMP/agent-hv2.log" hv2
tb_traffic --from vma --to vmb --proto udp --rate 500 --duration 2 >"$E2E_TMP/t1.json" || exit 1
sent1=$(jq .sent "$E2E_TMP/t1.json")
e2e_collector || exit 1
e2e_wait_agents 2 || exit 1

# --- 3. collector killed mid-traffic -------------------------------------
tb_traffic --from vma --to vmb --proto udp --rate 500 --duration 4 >"$E2E_TMP/t2.json" &
tpid=$!
sleep 2
kill -KILL "$E2E_COLLECTOR_PID"
wait "$E2E_COLLECTOR_PID" 2>/dev/null
sleep 1
e2e_collector || exit 1
wait "$tpid"
sent2=$(jq .sent "$E2E_TMP/t2.json")
e2e_stop_agents 3
e2e_matrix --last 10m >"$E2E_TMP/m.json" || exit 1
M=$E2E_TMP/m.json
total=$((sent1 + sent2))
for dir in "vma vmb" "vmb vma"; do
	set -- $dir
	check_range "$1->$2 matched after queueing and a collector crash" \
		"$(cell "$M" "$1" "$2" .count)" $((total * 99 / 100)) $((total + total / 100 + 10))
	check_range "$1->$2 lost" "$(cell "$M" "$1" "$2" .lost)" 0 $((total / 100))
done
check "agents exited with everything delivered" \
	grep -q "dropped 0 batches / 0 paths" "$E2E_TMP/agent-hv1.log"
check "restarted collector replayed its inbox" grep -q "replayed [0-9]* stored batch" "$E2E_TMP/collector.log"

# --- 4. CLI errors ------------------------------------------------------------
"$O/stagetrace" matrix -C tcp://127.0.0.1:1 -t 0.5 >/dev/null 2>"$E2E_TMP/err"
rc=$?
check "unreachable collector: exit 3" test "$rc" = 3
check "unreachable collector: one-line error" test "$(wc -l <"$E2E_TMP/err")" = 1
"$O/stagetrace" matrix --last banana >/dev/null 2>"$E2E_TMP/err"
rc=$?
check "bad duration: exit 2 with one line" test "$rc" = 2 -a "$(wc -l <"$E2E_TMP/err")" = 1
"$O/stagetrace" nosuchcommand >/dev/null 2>&1
check "unknown command: exit 2" test $? = 2
"$O/stagetrace-agent" --netns no-such-ns >/dev/null 2>"$E2E_TMP/err"
check "agent: unknown netns is a usage error" test $? = 2
"$O/stagetrace-collector" --listen bogus://x --db "$E2E_TMP/x.db" >/dev/null 2>"$E2E_TMP/err"
check "collector: bad listen URL fails with one line" test $? -ne 0 -a "$(wc -l <"$E2E_TMP/err")" = 1
e2e_end
