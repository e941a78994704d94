#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# make bench-clock: clock alignment error against exact ground truth.
# hv2's agent reports its clock +3 ms off and drifting 50 ppm (test-only
# options; all namespaces share one real clock); 60 s of UDP
# request/response traffic vma<->vmb at 500/s. Every second the collector's
# relative hv1/hv2 offset error is sampled, for the full model and for the
# control channel alone. Prints:
#   clock_error_p99_us=               p99 |error| over the last 30 s
#   clock_error_p99_us_control_only=  same, control-channel estimate only
#   clock_error_p50_us=               median |error| over the last 30 s
#   converge_s=                       first second after which |error|
#                                     stays <= 2 us to the end
#   clock_bound_us=                   the bound the collector claims
set -u
O=${1:-build}
export O
export ST_TB=${ST_TB:-benchclk}
. "$(dirname "$0")/../e2e/lib.sh"

DUR=${CLOCK_BENCH_S:-60}
e2e_begin || exit 1
TB_QUIET=1 tb_up --wire veth || exit 1
e2e_collector || exit 1
e2e_agent hv1 --test-clock-offset-us 0
e2e_agent hv2 --test-clock-offset-us 3000 --test-clock-drift-ppm 50
e2e_wait_agents 2 || exit 1
tb_traffic --from vma --to vmb --proto udp --rate 500 --duration "$DUR" >/dev/null &
tpid=$!
S=$E2E_TMP/samples
for i in $(seq "$DUR"); do
	sleep 1
	"$O/stagetrace" clocks -C "$E2E_QUERY" --json 2>/dev/null |
		jq -r --arg i "$i" '.pairs[0] // {} | "\($i) \(.error_us) \(.error_control_only_us) \(.bound_us)"'
done >"$S"
wait "$tpid"
half=$((DUR / 2))
p() { # p QUANTILE COLUMN: |value| quantile over the second half
	awk -v h="$half" -v c="$2" '$1 > h && $c != "null" { v = $c < 0 ? -$c : $c; print v }' "$S" |
		sort -g | awk -v q="$1" '{ a[NR] = $1 } END { if (!NR) { print "null"; exit }
			i = int(q * NR + 0.999999); if (i < 1) i = 1; print a[i] }'
}
converge=$(awk '{ v = $2 == "null" ? 1e9 : ($2 < 0 ? -$2 : $2); if (v > 2) last = $1 }
	END { print last + 0 }' "$S")
echo "clock_error_p99_us=$(p 0.99 2)"
echo "clock_error_p99_us_control_only=$(p 0.99 3)"
echo "clock_error_p50_us=$(p 0.5 2)"
echo "converge_s=$converge"
echo "clock_bound_us=$(p 0.5 4)"
