#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Continuous SLO checking on live traffic. SLO: p99 of vma->vmb <= 3 ms in
# 99.9 % of 10-s slices, with short windows for the test (fast 20s/1m,
# slow 30s/2m). UDP request/response runs throughout; then a tbf qdisc on
# hv1's uplink, offered more than its rate, queues packets for tens of ms:
# the fast-burn alert must fire within 60 s, `slo check` must exit 1; once
# the qdisc is removed the alerts must clear and `slo check` exit 0. A
# tenant SLO over tenant t1 (vma, vmb) with the same objective must fire
# and clear with it.
set -u
export ST_TB=${ST_TB:-e2eslo}
. "$(dirname "$0")/lib.sh"

e2e_begin || exit 1
TB_QUIET=1 tb_up --wire veth || exit 1
MPORT=$((E2E_PORT + 5))
e2e_collector --slo "lat:vma>vmb:p99<=3ms:99.9" --slo-windows 20s,1m,30s,2m \
	--tenant t1=vma,vmb --slo "tlat:tenant=t1:p99<=3ms:99.9" \
	--metrics "http://127.0.0.1:$MPORT" || exit 1
e2e_agent hv1
e2e_agent hv2
e2e_wait_agents 2 || exit 1
tb_traffic --from vma --to vmb --proto udp --rate 400 --duration 150 >/dev/null 2>&1 &
tpid=$!
E2E_PIDS+=("$tpid")

slo_check() { "$O/stagetrace" slo check -C "$E2E_QUERY" >/dev/null 2>&1; echo $?; }
# wait_for CODE SECONDS: seconds until `slo check` exits CODE, or -1.
wait_for() {
	local i
	for i in $(seq 0 2 "$2"); do
		[[ $(slo_check) == "$1" ]] && { echo "$i"; return; }
		sleep 2
	done
	echo -1
}

diag() {
	e2e_log "$1: $("$O/stagetrace" slo status -C "$E2E_QUERY" --json |
		jq -c '[.slos[] | {name, state, q: .last_slice_quantile_us, burn, fast_alert, slow_alert}]')"
}
t=$(wait_for 0 40)
[[ $t == -1 ]] && diag "not ok on healthy traffic"
check_range "slo ok on healthy traffic (after s)" "$t" 0 40
tc -n "$(tb_ns hv1)" qdisc replace dev eth0 root tbf rate 200kbit burst 1600 latency 100ms
t=$(wait_for 1 60)
check_range "fast-burn alert fires after tbf queueing (s)" "$t" 0 60
"$O/stagetrace" slo status -C "$E2E_QUERY" --json >"$E2E_TMP/s1.json"
check "the fast alert is the one firing" test "$(jq '.slos[0].fast_alert' "$E2E_TMP/s1.json")" = true
check "tenant SLO t1: fast alert firing too" \
	test "$(jq -c '.slos[1] | [.name, .tenant, .fast_alert]' "$E2E_TMP/s1.json")" = '["tlat","t1",true]'
curl -s "http://127.0.0.1:$MPORT/metrics" >"$E2E_TMP/m1.txt"
check "metrics: stagetrace_slo_alert{severity=fast} is 1" \
	grep -q '^stagetrace_slo_alert{slo="lat",severity="fast"} 1$' "$E2E_TMP/m1.txt"
check "metrics: promtool accepts the exposition" \
	bash -c "promtool check metrics <'$E2E_TMP/m1.txt' >/dev/null 2>&1 || ! command -v promtool >/dev/null"
check_range "last slice p99 over the threshold (us)" \
	"$(jq '.slos[0].last_slice_quantile_us' "$E2E_TMP/s1.json")" 3000 10000000
tc -n "$(tb_ns hv1)" qdisc del dev eth0 root
t=$(wait_for 0 75)
[[ $t == -1 ]] && diag "not cleared"
check_range "alerts clear once the queueing is gone (s)" "$t" 0 75
"$O/stagetrace" slo status -C "$E2E_QUERY" --json >"$E2E_TMP/s2.json"
check "alert fired and cleared once" \
	test "$(jq -c '[.slos[0].alerts_fired, .slos[0].alerts_cleared]' "$E2E_TMP/s2.json")" = "[1,1]"
check "tenant SLO fired and cleared once" \
	test "$(jq -c '[.slos[1].alerts_fired, .slos[1].alerts_cleared, .slos[1].state]' "$E2E_TMP/s2.json")" = '[1,1,"ok"]'
kill "$tpid" 2>/dev/null
e2e_end
