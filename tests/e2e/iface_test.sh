#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# End-to-end test of `stagetrace iface` with real packets in network
# namespaces A and B:
#   * va <-> vb: stpkt sends N UDP datagrams of S bytes at R packets/s from A.
#     Summed over the intervals, va's TX and vb's RX count exactly N packets
#     and N x (S + 42) bytes (UDP 8 + IPv4 20 + Ethernet 14); the intervals
#     that lie wholly inside the sending time show R packets/s: their mean
#     within 10%, each within 35% (the sender can be held up and catch up).
#     Both namespaces are read in the same run and kept apart.
#   * vdown: a veth whose peer is down; N2 datagrams sent on it are N2 TX drops.
#   * tapvm1a/tapvm1b (veths named like a VM's taps): --vm 'tapvm1*' shows only
#     those two and a total row equal to what was sent on both.
#   * --perf: NET_RX softirq runs and time appear while packets flow, and the
#     CPU shares add up to 100%.
# IPv6 and ARP are off and neighbours static, so no other packet crosses.
#
# Needs root and jq. Usage: tests/e2e/iface_test.sh [BUILD_DIR].
# Prints "N passed, N failed" last; exits non-zero on any failure.

set -u
LT_NAME=iface_test
LT_TRACER=(iface)
LT_READY='"type":"start"'
. "$(dirname "${BASH_SOURCE[0]}")/local_lib.sh"
PKT=$O/tests/tools/stpkt
NSA=st-iface-a-$SFX
NSB=st-iface-b-$SFX
lt_begin jq
[[ -x $PKT ]] || { log "no $PKT (run make)"; echo "0 passed, 1 failed"; exit 1; }

# ---- topology ---------------------------------------------------------------
lt_netns "$NSA" "$NSB" || exit 1
pair() { # a-name b-name subnet-octet
	ip link add "$1" netns "$NSA" type veth peer name "$2" netns "$NSB" || exit 1
	ip -n "$NSA" addr add 10.82.$3.1/24 dev "$1"
	ip -n "$NSB" addr add 10.82.$3.2/24 dev "$2"
	ip -n "$NSA" link set "$1" arp off up
	ip -n "$NSB" link set "$2" arp off up
	ip -n "$NSA" neigh replace 10.82.$3.2 lladdr 02:00:00:00:00:02 dev "$1" nud permanent
	ip -n "$NSB" link set "$2" address 02:00:00:00:00:02
}
pair va vb 1
pair vdown vdownb 2
ip -n "$NSB" link set vdownb down
pair tapvm1a peer3 3
pair tapvm1b peer4 4
pair other otherb 5
INOA=$(stat -L -c %i /run/netns/"$NSA")
INOB=$(stat -L -c %i /run/netns/"$NSB")

udp() { # subnet-octet count size [pps]
	ip netns exec "$NSA" "$PKT" udp 10.82.$1.2 9000 "$2" "$3" ${4:-} >/dev/null
}

jqi() { # name filter
	jq -rs "[.[] | select(.type == \"interval\")] | $2" "$TMP/$1.out"
}
sum() { # name dev field
	jqi "$1" "[.[].devices[] | select(.dev == \"$2\") | .$3] | add // 0"
}

# ---- 1. known rate over va, both namespaces -------------------------------------
N=1500
S=1000
R=500
log "$N datagrams of $S bytes at $R/s over va -> vb"
start_tracer all --json -i 1 || exit 1
start_tracer perf --json -i 1 --perf --netns "$NSA" --dev va || exit 1
t0=$(date +%s.%N)
ip netns exec "$NSA" "$PKT" udp 10.82.1.2 9000 $N $S $R >"$TMP/send1.json"
t1=$(date +%s.%N)
# [t0, t1] also holds ip netns exec's start-up and the exits (100 ms and more
# on a loaded machine) when nothing is sent; the sender's own "seconds" pins
# the sending: it starts by t1 - seconds and lasts until at least t0 + seconds.
secs=$(jq .seconds "$TMP/send1.json")
w0=$(awk -v t="$t1" -v s="$secs" 'BEGIN { printf "%.6f", t - s }')
w1=$(awk -v t="$t0" -v s="$secs" 'BEGIN { printf "%.6f", t + s }')
udp 2 40 100
sleep 1.2
stop_tracer all
stop_tracer perf
eq "tracer exit status" "$RC_all$RC_perf" "00"
eq "va TX packets" "$(sum all "va@$NSA" tx_packets)" $N
eq "va TX bytes = N x (S + 42)" "$(sum all "va@$NSA" tx_bytes)" $((N * (S + 42)))
eq "vb RX packets (other namespace, same run)" "$(sum all "vb@$NSB" rx_packets)" $N
eq "vb RX bytes" "$(sum all "vb@$NSB" rx_bytes)" $((N * (S + 42)))
eq "netns kept apart: va is in A, vb in B" \
	"$(jqi all "[.[].devices[] | select(.dev == \"va@$NSA\") | .netns] | unique | join(\",\")")/$(jqi all "[.[].devices[] | select(.dev == \"vb@$NSB\") | .netns] | unique | join(\",\")")" \
	"$INOA/$INOB"
# Intervals wholly inside the sending window [w0, w1]: their end minus their
# length is after w0 and their end before w1.
rates=$(jqi all "[.[] | select(.unix_s - .interval_s > $w0 and .unix_s < $w1) | .devices[] | select(.dev == \"va@$NSA\") | .tx_pps]")
log "va TX pps of the full intervals: $rates"
check "full intervals exist" jqtrue "($rates | length) >= 1"
# The sender paces itself on a fixed schedule, but on a loaded machine it
# can be held up for tens of ms and catch up in the next interval: the mean
# of the full intervals is held to 10%, each one to 35%.
check "mean TX rate of the full intervals is $R/s +-10%" \
	jqtrue "($rates | add / length) > $R * 0.9 and ($rates | add / length) < $R * 1.1"
check "each full interval's TX rate is $R/s +-35%" \
	jqtrue "$rates | all(. > $R * 0.65 and . < $R * 1.35)"
eq "TX drops on vdown (peer down) = 40 sent" "$(sum all "vdown@$NSA" tx_dropped)" 40
eq "no errors or drops on va" \
	"$(jqi all "[.[].devices[] | select(.dev == \"va@$NSA\") | .tx_errors + .tx_dropped + .rx_errors + .rx_dropped] | add")" 0

# --perf
eq "--perf --dev va: only va shown" \
	"$(jqi perf '[.[].devices[].dev] | unique | join(",")')" "va@$NSA"
runs=$(jqi perf '[.[].perf.softirq.NET_RX.runs] | add')
ms=$(jqi perf '[.[].perf.softirq.NET_RX.time_ms] | add')
log "--perf: NET_RX softirq $runs runs, $ms ms while sending"
check "NET_RX softirq runs while packets flow ($runs >= 100)" jqtrue "$runs >= 100"
check "NET_RX softirq time > 0 ($ms ms)" jqtrue "$ms > 0"
# Only intervals of 0.5 s or more: /proc/stat counts 10 ms ticks, and the last
# interval, cut by SIGINT just after a tick, may see none (all shares 0).
check "CPU shares add up to 100% (+-2)" \
	jqtrue "$(jqi perf '[.[] | select(.interval_s >= 0.5) | .perf.cpu_pct | .user + .system + .irq + .softirq + .iowait + .idle + .steal] | length > 0 and (map(. > 98 and . < 102) | all)')"

# ---- 2. --vm: a VM's taps by name ------------------------------------------------
log "--vm 'tapvm1*': 300 + 200 datagrams on the VM's two devices, 100 elsewhere"
start_tracer vm --json -i 1 --vm 'tapvm1*' || exit 1
udp 3 300 200
udp 4 200 200
udp 5 100 200
sleep 1.2
stop_tracer vm
eq "tracer exit status" "$RC_vm" 0
eq "--vm shows only the VM's devices" \
	"$(jqi vm '[.[].devices[].dev | sub("@.*"; "")] | unique | join(",")')" "tapvm1a,tapvm1b"
eq "--vm total TX = 500" "$(jqi vm '[.[].vm.tx_packets] | add')" 500
eq "--vm per device" "$(sum vm "tapvm1a@$NSA" tx_packets)/$(sum vm "tapvm1b@$NSA" tx_packets)" "300/200"

# ---- 3. text output and bad input --------------------------------------------------
"$ST" iface -c 1 -i 0.3 --netns "$NSA" --all >"$TMP/text.out" 2>&1
eq "text: exit 0" "$?" 0
check "text: header and va row" grep -Eq "^[0-9:]+ +va@$NSA +0 +0 " "$TMP/text.out"
bad() { # name want args...
	local name=$1 want=$2 rc
	shift 2
	"$ST" iface "$@" >/dev/null 2>"$TMP/bad.err"
	rc=$?
	eq "$name: exit 2" "$rc" 2
	check "$name: one line" bash -c "[[ \$(wc -l <'$TMP/bad.err') -eq 1 ]] && grep -q -- '$want' '$TMP/bad.err'"
}
bad "--proto refused" "--proto is not supported" --proto udp
bad "--vm with --dev" "exclusive" --vm 'x*' --dev lo
bad "unknown netns" "no such network namespace" --netns st-nosuch-$SFX

lt_end
