#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Cross-host matching on every wire the testbed offers, with UDP, TCP and
# ICMP request/response traffic and a sample of 1/2:
#   veth   the packet crosses namespaces inside one veth_xmit call;
#   vxlan  the packet is encapsulated on hv1 and decapsulated on hv2, so the
#          underlay stamps only match if the BPF key is the INNER packet's.
# Asserts >= 99 % matched in both directions, that the consistent sampling
# picked about half of the packets on both hosts alike, and that the stages
# each wire implies are present.
set -u
export ST_TB=${ST_TB:-e2ewire}
. "$(dirname "$0")/lib.sh"

RATE=${RATE:-500}
DUR=${DUR:-2}
e2e_begin || exit 1

run_wire() {
	local wire=$1 sent M
	TB_QUIET=1 tb_up --wire "$wire" || return 1
	E2E_DB=$E2E_TMP/$wire.db
	e2e_collector || return 1
	e2e_agent hv1 --sample 1/2
	e2e_agent hv2 --sample 1/2
	e2e_wait_agents 2 || return 1
	rm -f "$E2E_TMP"/traffic-*.json
	for proto in udp tcp icmp; do
		tb_traffic --from vma --to vmb --proto "$proto" --rate "$RATE" \
			--duration "$DUR" >"$E2E_TMP/traffic-$proto.json" || return 1
	done
	e2e_stop_agents 3
	M=$E2E_TMP/$wire.json
	e2e_matrix --last 10m >"$M" || return 1
	[[ -n ${E2E_VERBOSE:-} ]] && "$O/stagetrace" matrix -C "$E2E_QUERY" --last 10m
	sent=$(jq -s 'map(.sent) | add' "$E2E_TMP"/traffic-*.json)
	for dir in "vma vmb" "vmb vma"; do
		set -- $dir
		check_range "$wire: $1->$2 match rate" "$(cell "$M" "$1" "$2" .match_rate)" 0.99 1
		# Half the packets by id, +-5 sigma of a binomial(sent, 1/2).
		check_range "$wire: $1->$2 sampled about 1/2 of $sent" "$(cell "$M" "$1" "$2" .count)" \
			"$(awk -v n="$sent" 'BEGIN { print int(n/2 - 5*sqrt(n)/2) }')" \
			"$(awk -v n="$sent" 'BEGIN { print int(n/2 + 5*sqrt(n)/2) + 5 }')"
		check_range "$wire: $1->$2 wire p50 (no delay injected)" \
			"$(stage "$M" "$1" "$2" wire .p50_us)" 0 200
	done
	case $wire in
	veth)
		check "veth: uplink receive stage present" test -n "$(stage "$M" vma vmb nic_rcv .count)"
		;;
	vxlan)
		# hv1 stamps the inner packet on vxlan0 and the encapsulated one on
		# eth0 under one packet id; hv2 the reverse.
		check "vxlan: encap stage (vxlan_tx) present" test -n "$(stage "$M" vma vmb vxlan_tx .count)"
		check "vxlan: underlay queue after encap (nic_queue) present" test -n "$(stage "$M" vma vmb nic_queue .count)"
		check "vxlan: decap receive (vxlan_rcv) present" test -n "$(stage "$M" vma vmb vxlan_rcv .count)"
		;;
	esac
	check "$wire: nothing rejected" test "$(jq '.collector.batches_bad' "$M")" = 0
	# A veth wire is 2-15 us; the data-plane clock estimate is good to
	# ~1 us on an idle machine, a few us under load (CI runs beside other
	# work), so a fraction of wire intervals can come out negative
	# (counted, clamped to 0). Idle runs here give 0; allow 10 %.
	check_range "$wire: negative intervals (clock error) <= 10 % of matched" \
		"$(jq '.collector.negative_segments' "$M")" 0 \
		"$(jq '(.collector.matched + 1) * 0.10 | floor' "$M")"
	kill -TERM "$E2E_COLLECTOR_PID"; wait "$E2E_COLLECTOR_PID" 2>/dev/null
	TB_QUIET=1 tb_down
}

run_wire veth
run_wire vxlan
e2e_end
