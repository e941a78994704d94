#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# End-to-end test of `stagetrace flow` on the real kernel with real packets.
#
# 1. Forwarding: S (10.94.1.1) -- R (router, ip_forward) -- D (10.94.2.1),
#    veth pairs s0/r0 and r1/d0, a tbf qdisc on r1 and an NFQUEUE rule in
#    R's FORWARD chain that holds every packet of the flow 10 ms
#    (tests/tools/nfqdelay). 20 UDP datagrams S -> D:PORT (nobody listens:
#    D drops them with NO_SOCKET), 10 to D:PORT+1 as noise. Asserted: exactly
#    20 packets, each with exactly the hops
#      queue s0@S, xmit s0@S, rx r0@R, queue r1@R, enq r1@R, deq r1@R,
#      xmit r1@R, rx d0@D, drop d0@D (NO_SOCKET)
#    in that order with non-decreasing time stamps; the interval tables
#    count 20 per transition; the 10 ms hold is in rx r0 -> queue r1 (the
#    forwarding step, where netfilter runs) and nowhere else; --netns R
#    shows only R's 5 hops.
# 2. VLAN: T -- bridge namespace B (br0 with ports p0, p1) -- U. Frames
#    injected on t0 by tests/tools/rawsend: 6 tagged 100, 4 tagged 200, 5
#    untagged, same UDP flow. --vlan 100 sees exactly 6 packets, --vlan 200
#    exactly 4, no --vlan all 15; a --vlan 100 packet's path crosses the
#    bridge (rx p0 -> queue p1) with vlan 100 at every hop until U, which
#    has no VLAN device, clears the tag and drops it (OTHERHOST): that
#    untagged last hop is still shown.
# 3. Usage errors: one line, exit 2 (no flow filter is one).
#
# Needs root, jq, iptables, tc, bridge. Usage: tests/e2e/flow_test.sh [BUILD_DIR].
# Prints "N passed, N failed" last; exits non-zero on any failure.

set -u
LT_NAME=flow_test
# --settle 1: a path ends after 200 ms without an event by default; a
# nfqdelay stalled ~200 ms past its 10 ms hold would split a packet in two.
LT_TRACER=(flow -i 0.3 --json --settle 1)
. "$(dirname "${BASH_SOURCE[0]}")/local_lib.sh"
NFQ=$O/tests/tools/nfqdelay
RAW=$O/tests/tools/rawsend
NSS=st-flow-s-$SFX
NSR=st-flow-r-$SFX
NSD=st-flow-d-$SFX
NST=st-flow-t-$SFX
NSB=st-flow-b-$SFX
NSU=st-flow-u-$SFX
ALLNS=("$NSS" "$NSR" "$NSD" "$NST" "$NSB" "$NSU")
QNUM=$((250 + SFX % 50))
# Ports of this run: tracers without --netns see the whole host, so the
# flow must not be another test's (or a capture's freed late).
PORT=$((20000 + SFX % 12000))	# below the ephemeral range (tests/e2e/lib.sh)
PORT2=$((PORT + 1))
VPORT=$((PORT + 2))

lt_begin jq iptables ip tc bridge
for b in "$NFQ" "$RAW"; do
	[[ -x $b ]] || { log "no $b (run make)"; echo "0 passed, 1 failed"; exit 1; }
done

mac() { ip netns exec "$1" cat /sys/class/net/"$2"/address; }

# ---- topology -------------------------------------------------------------------
lt_netns "${ALLNS[@]}" || exit 1
ip link add s0 netns "$NSS" type veth peer name r0 netns "$NSR" || exit 1
ip link add r1 netns "$NSR" type veth peer name d0 netns "$NSD" || exit 1
ip -n "$NSS" addr add 10.94.1.1/24 dev s0
ip -n "$NSR" addr add 10.94.1.2/24 dev r0
ip -n "$NSR" addr add 10.94.2.2/24 dev r1
ip -n "$NSD" addr add 10.94.2.1/24 dev d0
for x in "$NSS s0" "$NSR r0" "$NSR r1" "$NSD d0"; do
	# shellcheck disable=SC2086
	set -- $x
	ip -n "$1" link set "$2" up
done
ip -n "$NSS" route add default via 10.94.1.2
ip -n "$NSD" route add default via 10.94.2.2
ip netns exec "$NSR" sysctl -qw net.ipv4.ip_forward=1
ip -n "$NSS" neigh replace 10.94.1.2 lladdr "$(mac "$NSR" r0)" dev s0 nud permanent
ip -n "$NSR" neigh replace 10.94.1.1 lladdr "$(mac "$NSS" s0)" dev r0 nud permanent
ip -n "$NSR" neigh replace 10.94.2.1 lladdr "$(mac "$NSD" d0)" dev r1 nud permanent
ip -n "$NSD" neigh replace 10.94.2.2 lladdr "$(mac "$NSR" r1)" dev d0 nud permanent
tc -n "$NSR" qdisc add dev r1 root tbf rate 100mbit burst 64k latency 100ms || exit 1
ip netns exec "$NSR" iptables -A FORWARD -p udp --dport "$PORT" -j NFQUEUE --queue-num "$QNUM" || exit 1
ip netns exec "$NSR" "$NFQ" --queue "$QNUM" --delay-us 10000 --quiet --pidfile "$TMP/nfq.ready" &
PIDS+=($!)
# The rule has no --queue-bypass: a datagram queued before nfqdelay binds is
# dropped, so wait for its "bound" pid file rather than trust the set-up time.
wait_file "$TMP/nfq.ready" || { log "nfqdelay did not bind queue $QNUM"; echo "0 passed, 1 failed"; exit 1; }

# VLAN part: T -- p0 [br0] p1 -- U
ip link add t0 netns "$NST" type veth peer name p0 netns "$NSB" || exit 1
ip link add p1 netns "$NSB" type veth peer name u0 netns "$NSU" || exit 1
ip -n "$NSB" link add br0 type bridge
ip -n "$NSB" link set p0 master br0
ip -n "$NSB" link set p1 master br0
for x in "$NST t0" "$NSB p0" "$NSB p1" "$NSB br0" "$NSU u0"; do
	# shellcheck disable=SC2086
	set -- $x
	ip -n "$1" link set "$2" up
done
MACU=$(mac "$NSU" u0)
bridge -n "$NSB" fdb replace "$MACU" dev p1 master static || exit 1
sleep 0.3

send_udp() { # ns ip port n
	ip netns exec "$1" bash -c \
		"for ((i = 0; i < $4; i++)); do echo x > /dev/udp/$2/$3; sleep 0.02; done" 2>/dev/null
}

# The hop sequence of a packet as "stage dev,stage dev,...".
path_of='[.hops[] | "\(.stage) \(.dev)"] | join(",")'

# ---- 1. forwarding path --------------------------------------------------------------
log "20 datagrams S -> R -> D held 10 ms in R's FORWARD chain, 10 of another flow"
start_tracer v -v --proto udp --dport "$PORT" || exit 1
start_tracer t --proto udp --dst-ip 10.94.2.1 --dport "$PORT" || exit 1
start_tracer r -v --proto udp --dport "$PORT" --netns "$NSR" || exit 1
start_tracer raw --method raw_tp --proto udp --dport "$PORT" || exit 1
send_udp "$NSS" 10.94.2.1 "$PORT" 20
send_udp "$NSS" 10.94.2.1 "$PORT2" 10
sleep 0.6
for t in v t r raw; do stop_tracer "$t"; done
eq "tracer exit status" "$RC_v$RC_t$RC_r$RC_raw" "0000"
WANT="queue s0@$NSS,xmit s0@$NSS,rx r0@$NSR,queue r1@$NSR,enq r1@$NSR,deq r1@$NSR,xmit r1@$NSR,rx d0@$NSD,drop d0@$NSD"
eq "-v: 20 packets" "$(jq -s '[.[] | select(.type == "packet")] | length' "$TMP/v.out")" 20
eq "-v: every packet has exactly the 9 hops in order" \
	"$(jq -r 'select(.type == "packet") | '"$path_of" "$TMP/v.out" | sort | uniq -c | awk '{ $1 = $1; print }')" \
	"20 $WANT"
eq "-v: time stamps never go back and start at 0" \
	"$(jq -s '[.[] | select(.type == "packet") | .hops | (.[0].t_us == 0) and
		([range(1; length) as $i | .[$i].t_us >= .[$i - 1].t_us] | all)] | all' "$TMP/v.out")" true
eq "-v: the drop is NO_SOCKET" \
	"$(jq -r 'select(.type == "packet") | .hops[-1].reason' "$TMP/v.out" | sort -u)" NO_SOCKET
eq "-v: addresses and port" \
	"$(jq -r 'select(.type == "packet") | "\(.proto) \(.src) \(.dst) \(.dport)"' "$TMP/v.out" | sort -u)" \
	"udp 10.94.1.1 10.94.2.1 $PORT"
eq "table: 20 packets in all intervals" \
	"$(jq -s '[.[] | select(.type == "interval") | .packets] | add' "$TMP/t.out")" 20
eq "table: 8 transitions, 20 each, in path order" \
	"$(jq -r 'select(.type == "summary") | .hops[] | "\(.latency.count) \(.from.stage) \(.from.dev)>\(.to.stage) \(.to.dev)"' "$TMP/t.out" | tr '\n' ';')" \
	"20 queue s0@$NSS>xmit s0@$NSS;20 xmit s0@$NSS>rx r0@$NSR;20 rx r0@$NSR>queue r1@$NSR;20 queue r1@$NSR>enq r1@$NSR;20 enq r1@$NSR>deq r1@$NSR;20 deq r1@$NSR>xmit r1@$NSR;20 xmit r1@$NSR>rx d0@$NSD;20 rx d0@$NSD>drop d0@$NSD;"
within "the 10 ms hold is in the forwarding step (median ms)" \
	"$(jq -r 'select(.type == "summary") | .hops[] | select(.from.stage == "rx" and .to.stage == "queue") | .latency.p50_us / 1000' "$TMP/t.out")" 10 16
within "every other transition's median is under 2 ms (max of medians, ms)" \
	"$(jq -r 'select(.type == "summary") | [.hops[] | select((.from.stage == "rx" and .to.stage == "queue") | not) | .latency.p50_us] | max / 1000' "$TMP/t.out")" 0 2
eq "--method raw_tp: the same 20 packets, 8 transitions of 20" \
	"$(jq -r 'select(.type == "summary") | "\(.packets) \([.hops[].latency.count] | map(tostring) | join(","))"' "$TMP/raw.out")" \
	"20 20,20,20,20,20,20,20,20"
eq "--method raw_tp: attached by raw_tp" \
	"$(jq -r 'select(.type == "summary") | .attach.netif_receive_skb' "$TMP/raw.out")" raw_tp
eq "nothing lost by the tracer" \
	"$(jq -r 'select(.type == "summary") | [.lost[]] | add' "$TMP/t.out")" 0
eq "--netns R: 20 packets with R's 5 hops only" \
	"$(jq -r 'select(.type == "packet") | '"$path_of" "$TMP/r.out" | sort | uniq -c | awk '{ $1 = $1; print }')" \
	"20 rx r0@$NSR,queue r1@$NSR,enq r1@$NSR,deq r1@$NSR,xmit r1@$NSR"

# ---- 2. VLAN tags ----------------------------------------------------------------------
log "6 frames tagged 100, 4 tagged 200, 5 untagged across a bridge"
start_tracer v100 -v --vlan 100 --proto udp --dport "$VPORT" || exit 1
start_tracer v200 --vlan 200 --dport "$VPORT" || exit 1
start_tracer vall --proto udp --dport "$VPORT" || exit 1
ip netns exec "$NST" "$RAW" t0 udp "$MACU" 10.95.0.1 10.95.0.2 4000 "$VPORT" 1000 100 6 || exit 1
ip netns exec "$NST" "$RAW" t0 udp "$MACU" 10.95.0.1 10.95.0.2 4000 "$VPORT" 2000 200 4 || exit 1
ip netns exec "$NST" "$RAW" t0 udp "$MACU" 10.95.0.1 10.95.0.2 4000 "$VPORT" 3000 0 5 || exit 1
sleep 0.6
for t in v100 v200 vall; do stop_tracer "$t"; done
eq "tracer exit status" "$RC_v100$RC_v200$RC_vall" "000"
eq "--vlan 100: exactly the 6 tagged packets (ip ids 1000..1005)" \
	"$(jq -sc '[.[] | select(.type == "packet") | .ip_id] | sort' "$TMP/v100.out")" \
	"[1000,1001,1002,1003,1004,1005]"
eq "--vlan 100: every packet crosses the bridge and is dropped in U" \
	"$(jq -r 'select(.type == "packet") | '"$path_of" "$TMP/v100.out" | sort | uniq -c | awk '{ $1 = $1; print }')" \
	"6 queue t0@$NST,xmit t0@$NST,rx p0@$NSB,queue p1@$NSB,xmit p1@$NSB,rx u0@$NSU,drop u0@$NSU"
# U has no VLAN device: its receive path clears the tag and drops the frame
# as not for this host. That last hop is untagged and still belongs to the
# packet (remembered by id), which is what --vlan promises.
eq "--vlan 100: hops carry vlan 100 up to rx u0, the drop after untagging 0" \
	"$(jq -r 'select(.type == "packet") | [.hops[].vlan | tostring] | join(",")' "$TMP/v100.out" | sort -u)" \
	"100,100,100,100,100,100,0"
eq "--vlan 100: the drop reason is OTHERHOST" \
	"$(jq -r 'select(.type == "packet") | .hops[-1].reason' "$TMP/v100.out" | sort -u)" OTHERHOST
eq "--vlan 200: exactly 4 packets" \
	"$(jq -s '[.[] | select(.type == "interval") | .packets] | add' "$TMP/v200.out")" 4
eq "no --vlan: all 15 packets" \
	"$(jq -s '[.[] | select(.type == "interval") | .packets] | add' "$TMP/vall.out")" 15

# ---- 3. text output and usage errors -------------------------------------------------
"$ST" flow --proto udp --dport "$PORT" -d 3 -i 0.4 --settle 1 >"$TMP/text.out" 2>"$TMP/text.err" &
PIDS+=($!)
TPID=$!
wait_tracing "$TMP/text.err" "$TPID"
send_udp "$NSS" 10.94.2.1 "$PORT" 3
wait "$TPID"
eq "text: exit status" "$?" 0
eq "text: 3 packets over the intervals" \
	"$(awk '$2 == "flow:" { n += $3 } END { print n + 0 }' "$TMP/text.out")" 3
check "text: a row for the forwarding step" grep -q "rx r0@$NSR  *queue r1@$NSR" "$TMP/text.out"

rc_of() { "$@" >/dev/null 2>"$TMP/err"; echo $?; }
one_line() { [[ $(wc -l <"$TMP/err") -eq 1 ]] && grep -q '^error: ' "$TMP/err"; }
for args in "" "-v" "--netns $NSR" "--vlan 0 --proto udp" "--vlan 4095" "--pid 1 --proto udp" \
	"--vm x --proto udp" "--proto banana" "--settle 0 --proto udp" "--dport 0" "--proto udp extra"; do
	# shellcheck disable=SC2086
	eq "usage error: flow $args -> exit 2" "$(rc_of "$ST" flow $args)" 2
	check "usage error: flow $args -> one line" one_line
done
eq "-h -> exit 0" "$(rc_of "$ST" flow -h)" 0

lt_end
