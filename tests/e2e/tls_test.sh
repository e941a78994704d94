#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Mutual TLS between agents and collector:
#  - an agent with a certificate from the right CA is accepted;
#  - an agent whose certificate comes from another CA is refused: the
#    collector never hears of its host and the agent counts its batches as
#    undelivered;
#  - plaintext towards the network is refused without --insecure-plaintext
#    (exit 2, one line) and logged as a warning with it;
#  - a tls+tcp:// address without certificates is a usage error.
set -u
export ST_TB=${ST_TB:-e2etls}
. "$(dirname "$0")/lib.sh"

e2e_begin || exit 1
TB_QUIET=1 tb_up --wire veth || exit 1
e2e_collector || exit 1

# Good agent on hv1, rogue agent on hv2.
e2e_agent hv1
"$O/stagetrace-agent" --netns "$(tb_ns hv2)" --host rogue --uplink eth0 -C "$E2E_INGEST" \
	--tls-cert "$E2E_PKI/rogue-agent.pem" --tls-key "$E2E_PKI/rogue-agent.key" \
	--tls-ca "$E2E_PKI/ca.pem" --duration 4 >"$E2E_TMP/rogue.log" 2>&1 &
rogue=$!
E2E_PIDS+=("$rogue")
e2e_wait_agents 1 || exit 1
wait "$rogue"
rc=$?
hosts=$("$O/stagetrace" hosts -C "$E2E_QUERY" --json | jq -r '[.hosts[].host] | sort | join(",")')
check "agent with a valid certificate accepted, rogue one refused (hosts: $hosts)" test "$hosts" = hv1
check "rogue agent exits non-zero with undelivered batches" test "$rc" -ne 0
check "rogue agent says what it could not deliver" grep -q "undelivered" "$E2E_TMP/rogue.log"

# Plaintext and configuration errors.
"$O/stagetrace-agent" -C tcp://192.0.2.1:7730 --probes >/dev/null 2>"$E2E_TMP/e1"
"$O/stagetrace-agent" -C tcp://192.0.2.1:7730 >/dev/null 2>"$E2E_TMP/e1"
rc=$?
check "plaintext to the network refused (exit $rc, one line)" test "$rc" = 2 -a "$(wc -l <"$E2E_TMP/e1")" = 1
"$O/stagetrace-agent" -C "$E2E_INGEST" >/dev/null 2>"$E2E_TMP/e2"
check "tls+tcp:// without certificates is a usage error" test $? = 2
"$O/stagetrace-collector" --listen tcp://0.0.0.0:1 --db "$E2E_TMP/x.db" >/dev/null 2>"$E2E_TMP/e3"
check "collector refuses a plaintext network listener by default" test $? = 2
"$O/stagetrace-collector" --listen "tcp://127.0.0.2:$((E2E_PORT + 2))" --query "tcp://127.0.0.1:$((E2E_PORT + 3))" \
	--insecure-plaintext --db "$E2E_TMP/y.db" --duration 1 >/dev/null 2>"$E2E_TMP/e4"
check "--insecure-plaintext works and is logged as a warning" grep -q "warn.*plaintext" "$E2E_TMP/e4"
e2e_end
