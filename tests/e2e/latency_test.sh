#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Known delays land in the right stage.
#
# Testbed: fwd wire (a userspace forwarder between two taps) holding every
# frame WIRE_US, and VM responders holding every reply REPLY_US. Agents on
# both hypervisors, one collector. The matrix must show:
#   - >= 99 % of sampled packets matched across the hypervisors;
#   - the wire stage at WIRE_US within max(5 %, 20 us) (median; the
#     forwarder's own cost, tens of us, is inside that tolerance);
#   - vmb's turnaround for vma at REPLY_US within max(5 %, 20 us);
#   - no other stage absorbing either delay (every other stage's median
#     stays below 5 % of the smaller injected delay).
# The same run also checks ICMP and TCP matching.
set -u
export ST_TB=${ST_TB:-e2elat}
. "$(dirname "$0")/lib.sh"

WIRE_US=${WIRE_US:-5000}
REPLY_US=${REPLY_US:-2000}
RATE=${RATE:-400}
DUR=${DUR:-4}

tol() { awk -v v="$1" 'BEGIN { t = v * 0.05; if (t < 20) t = 20; print t }'; }

e2e_begin || exit 1
TB_QUIET=1 tb_up --wire fwd --wire-delay-us "$WIRE_US" \
	--vm-opt "vmb:reply_delay_us=$REPLY_US" || exit 1
e2e_collector || exit 1
e2e_agent hv1
e2e_agent hv2
e2e_wait_agents 2 || exit 1

for proto in udp tcp icmp; do
	tb_traffic --from vma --to vmb --proto "$proto" --rate "$RATE" \
		--duration "$DUR" >"$E2E_TMP/traffic-$proto.json" || exit 1
done
e2e_stop_agents 3
e2e_matrix --last 10m >"$E2E_TMP/m.json" || { e2e_log "matrix query failed"; exit 1; }
[[ -n ${E2E_VERBOSE:-} ]] && "$O/stagetrace" matrix -C "$E2E_QUERY" --last 10m

M=$E2E_TMP/m.json
sent=$(jq -s 'map(.sent) | add' "$E2E_TMP"/traffic-*.json)
recv=$(jq -s 'map(.received) | add' "$E2E_TMP"/traffic-*.json)
check "traffic generator got its replies ($recv/$sent)" test "$recv" -ge $((sent * 99 / 100))

for dir in "vma vmb" "vmb vma"; do
	set -- $dir
	count=$(cell "$M" "$1" "$2" .count)
	check_range "$1->$2 matched packets" "$count" $((sent * 99 / 100)) $((sent + sent / 100 + 10))
	check_range "$1->$2 match rate" "$(cell "$M" "$1" "$2" .match_rate)" 0.99 1
	t=$(tol "$WIRE_US")
	check_range "$1->$2 wire p50 (injected $WIRE_US us)" \
		"$(stage "$M" "$1" "$2" wire .p50_us)" "$(awk -v a="$WIRE_US" -v t="$t" 'BEGIN{print a-t}')" \
		"$(awk -v a="$WIRE_US" -v t="$t" 'BEGIN{print a+t}')"
	# Every other stage stays far below both injected delays.
	limit=$(awk -v a="$WIRE_US" -v b="$REPLY_US" 'BEGIN { m = a < b ? a : b; print m * 0.05 }')
	worst=$(jq -r --arg s "$1" --arg d "$2" '[.cells[] | select(.src==$s and .dst==$d) |
		.stages[] | select(.stage != "wire") | .p50_us] | max' "$M")
	check_range "$1->$2 largest non-wire stage p50" "$worst" 0 "$limit"
	# End to end is wire plus the small host stages.
	check_range "$1->$2 total p50" "$(cell "$M" "$1" "$2" .latency.p50_us)" \
		"$WIRE_US" "$(awk -v a="$WIRE_US" -v l="$limit" 'BEGIN { print a + 4 * l + 100 }')"
done

t=$(tol "$REPLY_US")
check_range "vmb turnaround for vma p50 (injected $REPLY_US us)" \
	"$(cell "$M" vma vmb .turnaround.p50_us)" \
	"$(awk -v a="$REPLY_US" -v t="$t" 'BEGIN{print a-t}')" "$(awk -v a="$REPLY_US" -v t="$t" 'BEGIN{print a+t}')"
check_range "vmb turnaround count" "$(cell "$M" vma vmb .turnaround.count)" $((sent * 98 / 100)) $((sent + 10))
check "vma answers nothing: no turnaround on vmb->vma" \
	test "$(cell "$M" vmb vma .turnaround)" = null
"$O/stagetrace" pair vma vmb -C "$E2E_QUERY" --json >"$E2E_TMP/pair.json"
check "pair vma vmb: both directions, nothing else" \
	test "$(jq -r '[.cells[] | "\(.src)>\(.dst)"] | sort | join(",")' "$E2E_TMP/pair.json")" = "vma>vmb,vmb>vma"
"$O/stagetrace" paths -C "$E2E_QUERY" --src vma --dst vmb --slowest 3 --json >"$E2E_TMP/p.json"
check "drill-down: 3 slowest vma->vmb paths stored" test "$(jq '.paths | length' "$E2E_TMP/p.json")" = 3
check_range "drill-down: a slow path's wire interval holds the injected delay" \
	"$(jq '[.paths[0].stages[] | select(.stage=="wire") | .us] | first' "$E2E_TMP/p.json")" "$WIRE_US" 1000000
check "drill-down: stages add up to the total" jq -e '.paths[0] |
	(([.stages[].us] | add) - .total_us) | fabs < 1' "$E2E_TMP/p.json" >/dev/null
check "collector rejected nothing" test "$(jq .collector.batches_bad "$M")" = 0
check "no negative stage intervals" test "$(jq .collector.negative_segments "$M")" = 0
e2e_end
