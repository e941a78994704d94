#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# End-to-end test of `stagetrace offload`: a TCP bulk transfer (stpkt, 20 MB)
# from namespace A to B over a veth pair, three times:
#   TSO on (veth default)   both hooks see GSO packets: gso_segs > 1, gso_size
#                           = the MSS (1448 with timestamps on a 1500 MTU, so
#                           within 1200..1460), type TCPV4, nothing abnormal
#   TSO off, GSO on         net_dev_queue still sees GSO packets (the stack
#                           builds them), net_dev_start_xmit sees none (the
#                           stack segmented them in software on the way)
#   TSO off, GSO off        no GSO packet reaches the driver (net_dev_queue may
#                           still see some: recent kernels always build GSO
#                           packets for TCP and segment them in software)
# Every transfer is checked to have arrived whole. --abnormal on the same
# traffic counts nothing (no false alarms on normal TCP). Then a tap bridged
# to va plays a guest writing virtio-net headers with bad GSO metadata
# (stpkt tap-gso): a TCP packet with gso_size 2000 on a 1500 MTU and a UDP
# packet marked TCPV4 are each flagged once, with the right reason.
#
# Needs root, jq, ethtool. Usage: tests/e2e/offload_test.sh [BUILD_DIR].
# Prints "N passed, N failed" last; exits non-zero on any failure.

set -u
LT_NAME=offload_test
LT_TRACER=(offload)
. "$(dirname "${BASH_SOURCE[0]}")/local_lib.sh"
PKT=$O/tests/tools/stpkt
NSA=st-offload-a-$SFX
NSB=st-offload-b-$SFX
PORT=$((20000 + SFX % 12000))	# below the ephemeral range (tests/e2e/lib.sh)
BYTES=20000000
lt_begin jq ethtool ip
[[ -x $PKT ]] || { log "no $PKT (run make)"; echo "0 passed, 1 failed"; exit 1; }

lt_netns "$NSA" "$NSB" || exit 1
ip link add va netns "$NSA" type veth peer name vb netns "$NSB" || exit 1
ip -n "$NSA" addr add 10.83.0.1/24 dev va
ip -n "$NSB" addr add 10.83.0.2/24 dev vb
ip -n "$NSA" link set va up
ip -n "$NSB" link set vb up

# One transfer under a tracer; the tracer's JSON goes to $TMP/NAME.out.
transfer() { # name tracer-args...
	local name=$1 i sink tr
	shift
	ip netns exec "$NSB" "$PKT" tcp-sink $PORT >"$TMP/$name.sink" &
	sink=$!
	PIDS+=($sink)
	"$ST" offload -i 30 --json --netns "$NSA" --dev va --proto tcp --dport $PORT "$@" \
		>"$TMP/$name.out" 2>"$TMP/$name.err" &
	tr=$!
	PIDS+=($tr)
	for ((i = 0; i < 100; i++)); do
		grep -q '"type":"start"' "$TMP/$name.out" 2>/dev/null && break
		sleep 0.1
	done
	ip netns exec "$NSA" "$PKT" tcp-send 10.83.0.2 $PORT $BYTES || log "send failed"
	timeout 20 tail --pid=$sink -f /dev/null
	sleep 0.3
	kill -INT $tr
	timeout 10 tail --pid=$tr -f /dev/null
	wait $tr
	eval "RC_$name=$?"
	eq "$name: the transfer arrived whole" "$(jq -r .received "$TMP/$name.sink")" $BYTES
}
jqr() { # name hook filter-on-rows
	jq -rs "[.[] | select(.type == \"interval\") | .rows[] | select(.hook == \"$2\")] | $3" "$TMP/$1.out"
}

log "TSO on (veth default)"
ip netns exec "$NSA" ethtool -K va tso on gso on >/dev/null
transfer tso
eq "tso: tracer exit status" "$RC_tso" 0
for h in queue xmit; do
	g=$(jqr tso $h '[.[].gso_packets] | add // 0')
	segs=$(jqr tso $h '[.[].gso_segs_max] | max // 0')
	size=$(jqr tso $h '[.[] | select(.gso_packets > 0) | .gso_size_max] | max // 0')
	log "tso $h: $g GSO packets, gso_segs max $segs, gso_size $size"
	check "tso $h: GSO packets seen ($g)" jqtrue "$g > 0"
	check "tso $h: gso_segs > 1 (max $segs)" jqtrue "$segs > 1"
	check "tso $h: gso_size is the MSS ($size in 1200..1460)" jqtrue "$size >= 1200 and $size <= 1460"
	eq "tso $h: GSO packets are TCPV4" \
		"$(jqr tso $h '[.[] | select(.gso_packets > 0) | .gso_type | split("|") | index("TCPV4") != null] | all')" true
	eq "tso $h: nothing abnormal" "$(jqr tso $h '[.[].abnormal] | add // 0')" 0
done
eq "tso: same GSO packets at both hooks" "$(jqr tso queue '[.[].gso_packets] | add')" \
	"$(jqr tso xmit '[.[].gso_packets] | add')"

log "TSO off, GSO on"
ip netns exec "$NSA" ethtool -K va tso off gso on >/dev/null
transfer gso
eq "gso: tracer exit status" "$RC_gso" 0
check "gso: net_dev_queue sees GSO packets ($(jqr gso queue '[.[].gso_packets] | add // 0'))" \
	jqtrue "$(jqr gso queue '[.[].gso_packets] | add // 0') > 0"
eq "gso: net_dev_start_xmit sees none (segmented in software)" \
	"$(jqr gso xmit '[.[].gso_packets] | add // 0')" 0
check "gso: more packets reach the driver than were queued" \
	jqtrue "$(jqr gso xmit '[.[].packets] | add // 0') > $(jqr gso queue '[.[].packets] | add // 0')"

log "TSO off, GSO off"
ip netns exec "$NSA" ethtool -K va tso off gso off >/dev/null
transfer none
eq "none: tracer exit status" "$RC_none" 0
# Kernels that always build GSO packets for TCP (and segment them in
# software when the device cannot) still show them at net_dev_queue.
log "none: GSO packets at net_dev_queue: $(jqr none queue '[.[].gso_packets] | add // 0') (the stack's choice, not the device's)"
eq "none: no GSO packet at net_dev_start_xmit" "$(jqr none xmit '[.[].gso_packets] | add // 0')" 0
check "none: packets were seen ($(jqr none xmit '[.[].packets] | add // 0'))" \
	jqtrue "$(jqr none xmit '[.[].packets] | add // 0') > 1000"
check "none: no packet larger than the MTU (max avg len)" \
	jqtrue "$(jqr none xmit '[.[] | .bytes / .packets] | max') <= 1514"

log "--abnormal on normal TSO traffic"
ip netns exec "$NSA" ethtool -K va tso on gso on >/dev/null
transfer ab --abnormal
eq "abnormal: tracer exit status" "$RC_ab" 0
eq "abnormal: no rows, no events" \
	"$(jq -s '[.[] | select(.type == "event")] | length' "$TMP/ab.out")/$(jq -s '[.[] | select(.type == "interval") | .rows[]] | length' "$TMP/ab.out")" "0/0"
# 20 MB in GSO packets of at most 64 KiB: over 300 packets, at two hooks.
seen=$(jq -s '[.[] | select(.type == "interval") | .counters | .calls - .filtered_dev - .filtered_headers] | add' "$TMP/ab.out")
check "abnormal: the probe did see va's packets ($seen >= 600)" jqtrue "$seen >= 600"

log "abnormal GSO from a guest: a tap with virtio-net headers, bridged to va"
ip -n "$NSA" link add br0 type bridge mcast_snooping 0
ip -n "$NSA" link set br0 up
ip -n "$NSA" tuntap add dev tapg mode tap vnet_hdr
ip -n "$NSA" link set tapg master br0 up
ip -n "$NSA" link set va master br0
"$ST" offload -i 30 --json --abnormal --netns "$NSA" --dev va >"$TMP/tap.out" 2>"$TMP/tap.err" &
tr=$!
PIDS+=($tr)
for ((i = 0; i < 100; i++)); do
	grep -q '"type":"start"' "$TMP/tap.out" 2>/dev/null && break
	sleep 0.1
done
ip netns exec "$NSA" "$PKT" tap-gso tapg >/dev/null || log "tap-gso failed"
sleep 0.3
kill -INT $tr
timeout 10 tail --pid=$tr -f /dev/null
wait $tr
eq "tap: tracer exit status" "$?" 0
ev() { # hook why flow-prefix
	jq -s "[.[] | select(.type == \"event\" and .event == \"abnormal\" and .hook == \"$1\" and .why == \"$2\" and (.flow | startswith(\"$3\")))] | length" "$TMP/tap.out"
}
eq "TCP with gso_size 2000 > MTU 1500 flagged over_mtu as it is queued" \
	"$(ev queue over_mtu 'tcp 10.84.0.1:40000')" 1
eq "UDP packet with a TCPV4 GSO type flagged l4_mismatch" \
	"$(ev queue l4_mismatch 'udp 10.84.0.1:40000')" 1
eq "the guest's packets carry TCPV4|DODGY" \
	"$(jq -rs '[.[] | select(.type == "event") | .gso_type] | unique | join(",")' "$TMP/tap.out")" "TCPV4|DODGY"
eq "--abnormal rows count only those packets" \
	"$(jq -s '[.[] | select(.type == "interval") | .rows[] | select(.abnormal != .packets)] | length' "$TMP/tap.out")" 0

"$ST" offload --hook sideways >/dev/null 2>"$TMP/bad.err"
eq "bad --hook: exit 2" "$?" 2
"$ST" offload --vm x >/dev/null 2>"$TMP/bad.err"
eq "--vm refused: exit 2" "$?" 2

lt_end
