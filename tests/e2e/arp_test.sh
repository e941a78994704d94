#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# End-to-end test of `stagetrace arp` on the real kernel with real frames.
#
# Two namespaces A (va 10.81.0.1) and B (vb 10.81.0.2) joined by a veth
# pair; IPv6 is off, so nothing but what the test sends crosses it. Frames
# are sent from B's side with tests/tools/rawsend (a packet socket), so A
# receives them as it would from a hostile neighbour:
#
#   1. normal: A sends one UDP datagram to B: one ARP request out of A, one
#      reply into A. Nothing may be flagged, on either side.
#   2. gratuitous: B announces 10.81.0.2 with its own MAC (sender == target).
#   3. conflict: 10.81.0.9 announced by MAC ..:01, then by MAC ..:02.
#   4. spoofed: "10.81.0.2 is-at 02:00:00:00:00:ee" sent to A, which asked
#      for nothing and holds 10.81.0.2 -> B's MAC (reachable): unsolicited,
#      conflicting, and contradicting A's neighbour table.
#   5. an administrator changes A's permanent entry for 10.81.0.3 with
#      `ip neigh replace` (not flagged, counted as an admin change), then a
#      forged reply for 10.81.0.3 arrives: spoofed against a permanent
#      entry (which the kernel keeps).
#
# Every count is exact. Needs root, jq. Usage: tests/e2e/arp_test.sh [BUILD_DIR].
# Prints "N passed, N failed" last; exits non-zero on any failure.

set -u
LT_NAME=arp_test
LT_TRACER=(arp -i 0.3)
. "$(dirname "${BASH_SOURCE[0]}")/local_lib.sh"
RAW=$O/tests/tools/rawsend
NSA=st-arp-a-$SFX
NSB=st-arp-b-$SFX
lt_begin jq ip
[[ -x $RAW ]] || { log "no $RAW (run make)"; echo "0 passed, 1 failed"; exit 1; }

# ---- topology ---------------------------------------------------------------
lt_netns "$NSA" "$NSB" || exit 1
ip link add va netns "$NSA" type veth peer name vb netns "$NSB" || exit 1
# Neighbour entries stay reachable for the whole test. Otherwise, on a slow
# run, the kernel re-checks 10.81.0.2 after the forged reply (STALE ->
# DELAY -> PROBE), B answers with its real MAC, and that adds one request,
# one reply and one more "spoofed" to the text tracer's exact counts.
# (The neigh "default" directory exists only in the initial namespace, so
# per device.)
ip netns exec "$NSA" sysctl -qw net.ipv4.neigh.va.base_reachable_time_ms=3600000 \
	net.ipv4.neigh.va.delay_first_probe_time=3600 || exit 1
ip netns exec "$NSB" sysctl -qw net.ipv4.neigh.vb.base_reachable_time_ms=3600000 \
	net.ipv4.neigh.vb.delay_first_probe_time=3600 || exit 1
ip -n "$NSA" addr add 10.81.0.1/24 dev va
ip -n "$NSB" addr add 10.81.0.2/24 dev vb
ip -n "$NSA" link set va up
ip -n "$NSB" link set vb up
MACA=$(ip netns exec "$NSA" cat /sys/class/net/va/address)
MACB=$(ip netns exec "$NSB" cat /sys/class/net/vb/address)
EVIL=02:00:00:00:00:ee
INOA=$(stat -L -c %i /run/netns/"$NSA")
sleep 0.5	# let link-up settle before tracing

# Sum of a row field over all intervals: name dir field [dev]
sum_rows() {
	jq -s --arg d "$2" --arg f "$3" --arg dev "${4:-}" \
		'[.[] | select(.type == "interval") | .rows[] | select(.dir == $d and ($dev == "" or .dev == $dev)) | .[$f]] | add // 0' \
		"$TMP/$1.out"
}

wait_settle() { sleep 0.4; }

# ---- the four phases, seen from A, from B and through an address filter ------
start_tracer a --json --netns "$NSA" --window 60 || exit 1
start_tracer b --json --netns "$NSB" --dev vb --window 60 || exit 1
start_tracer src --json --src-ip 10.81.0.9 || exit 1
"$ST" arp -v -i 0.5 --netns "$NSA" --window 60 >"$TMP/txt.out" 2>"$TMP/txt.err" &
PIDS+=($!)
PID_txt=$!
for ((i = 0; i < 100; i++)); do grep -q '^Tracing' "$TMP/txt.err" && break; sleep 0.1; done

log "1. normal request/reply"
ip netns exec "$NSA" bash -c 'echo x > /dev/udp/10.81.0.2/9' 2>/dev/null
wait_settle
log "2. gratuitous announcement of 10.81.0.2 by its owner"
ip netns exec "$NSB" "$RAW" vb arp request "$MACB" 10.81.0.2 00:00:00:00:00:00 10.81.0.2 || exit 1
wait_settle
log "3. 10.81.0.9 claimed by two MACs"
ip netns exec "$NSB" "$RAW" vb arp reply 02:00:00:00:00:01 10.81.0.9 ff:ff:ff:ff:ff:ff 10.81.0.9 || exit 1
ip netns exec "$NSB" "$RAW" vb arp reply 02:00:00:00:00:02 10.81.0.9 ff:ff:ff:ff:ff:ff 10.81.0.9 || exit 1
wait_settle
log "4. spoofed reply 10.81.0.2 is-at $EVIL to A"
ip netns exec "$NSB" "$RAW" vb arp reply "$EVIL" 10.81.0.2 "$MACA" 10.81.0.1 || exit 1
wait_settle
log "5. admin change of a permanent entry, then a forged reply for it"
ip -n "$NSA" neigh replace 10.81.0.3 lladdr 02:00:00:00:00:33 dev va nud permanent || exit 1
ip -n "$NSA" neigh replace 10.81.0.3 lladdr 02:00:00:00:00:34 dev va nud permanent || exit 1
ip netns exec "$NSB" "$RAW" vb arp reply "$EVIL" 10.81.0.3 "$MACA" 10.81.0.1 || exit 1
wait_settle
for t in a b src txt; do stop_tracer "$t"; done
eq "tracer exit status" "$RC_a$RC_b$RC_src$RC_txt" "0000"

DA="va@$NSA"
eq "A rx: requests (the gratuitous one)" "$(sum_rows a rx request "$DA")" 1
eq "A rx: replies (1 normal, 2 announcements, 2 forged)" "$(sum_rows a rx reply "$DA")" 5
eq "A tx: one request" "$(sum_rows a tx request "$DA")" 1
eq "A tx: no replies" "$(sum_rows a tx reply "$DA")" 0
eq "A rx: gratuitous" "$(sum_rows a rx gratuitous "$DA")" 3
eq "A rx: unsolicited (only the forged replies)" "$(sum_rows a rx unsolicited "$DA")" 2
eq "A rx: conflicts (10.81.0.9 ..:01->..:02, 10.81.0.2 B->ee)" "$(sum_rows a rx conflict "$DA")" 2
eq "A rx: spoofed" "$(sum_rows a rx spoofed "$DA")" 2
eq "A: the admin change was not flagged, and was counted" \
	"$(jq -s '[.[] | select(.type == "interval") | .counters.neigh_admin_changes] | add' "$TMP/a.out")" 1
eq "A: probes" "$(sum_rows a rx probe)" 0
eq "A: nothing from other namespaces" \
	"$(jq -s "[.[] | select(.type == \"interval\") | .rows[] | select(.netns != $INOA)] | length" "$TMP/a.out")" 0

# Event objects: exactly the flagged frames, in order.
ev() { jq -c "select(.type == \"event\" and .event == \"arp\") | $1" "$TMP/a.out" | tr '\n' ' '; }
eq "A: flagged frames and their flags" "$(ev '.flags | join("+")')" \
	'"gratuitous" "gratuitous" "gratuitous+conflict" "unsolicited+conflict" "unsolicited" '
eq "A: conflict events name the replaced MAC" "$(ev 'select(.flags | index("conflict")) | .previous_mac')" \
	"\"02:00:00:00:00:01\" \"$MACB\" "
eq "A: the normal reply was not flagged" \
	"$(jq -s "[.[] | select(.type == \"event\" and .sender_mac == \"$MACB\" and .op == \"reply\")] | length" "$TMP/a.out")" 0
sp=$(jq -c 'select(.type == "event" and .event == "spoofed") | [.ip, .mac, .table_mac, .table_state, .op, .dev] | join(" ")' "$TMP/a.out" | tr '\n' ' ')
eq "A: spoofed events (ip mac table_mac state op dev)" "$sp" \
	"\"10.81.0.2 $EVIL $MACB reachable reply $DA\" \"10.81.0.3 $EVIL 02:00:00:00:00:34 permanent reply $DA\" "

DB="vb@$NSB"
eq "B rx: the one request" "$(sum_rows b rx request "$DB")" 1
eq "B rx: no replies" "$(sum_rows b rx reply "$DB")" 0
eq "B tx: replies (normal + 4 injected)" "$(sum_rows b tx reply "$DB")" 5
eq "B: nothing flagged on receive" \
	"$(( $(sum_rows b rx gratuitous) + $(sum_rows b rx unsolicited) + $(sum_rows b rx conflict) + $(sum_rows b rx spoofed) ))" 0
eq "B: no flagged frame events" \
	"$(jq -s '[.[] | select(.type == "event" and .dir == "rx")] | length' "$TMP/b.out")" 0

eq "--src-ip 10.81.0.9: only its two announcements, each seen tx and rx" \
	"$(sum_rows src rx reply)/$(sum_rows src tx reply)/$(sum_rows src rx request)" "2/2/0"
eq "--src-ip 10.81.0.9: one conflict" "$(sum_rows src rx conflict)" 1

schema='select(.type == "interval") | (.time | type) == "string" and (.interval_s | type) == "number" and
	(.rows | type) == "array" and (.lost.events | type) == "number" and (.lost.state | type) == "number" and
	(.counters.arp_frames | type) == "number" and (.attach.netif_receive_skb | type) == "string" and
	all(.rows[]; (.dev | type) == "string" and (.netns | type) == "number" and
	    (.dir == "rx" or .dir == "tx") and (.request | type) == "number" and (.spoofed | type) == "number")'
eq "--json: interval objects follow the schema" "$(jq -c "$schema" "$TMP/a.out" | sort -u | tr '\n' ' ')" "true "
eq "--json: nothing lost" "$(jq -s '[.[] | select(.type == "interval") | .lost.events + .lost.state] | add' "$TMP/a.out")" 0

# Text, verbose: every frame in A (1 tx request + 6 rx) and the spoofed lines.
n=$(grep -E "^[0-9:.]+ +va@$NSA +(rx|tx) +(request|reply) " "$TMP/txt.out" | grep -vc ' spoofed(')
[[ $n == 7 ]] || { echo "arp_test: the frames seen in A:"; grep -E "va@$NSA" "$TMP/txt.out"; }
eq "text -v: one line per frame" \
	"$(grep -E "^[0-9:.]+ +va@$NSA +(rx|tx) +(request|reply) " "$TMP/txt.out" | grep -vc ' spoofed(')" 7
check "text -v: spoofed line" grep -Eq "^[0-9:.]+ +va@$NSA +rx +reply +10\.81\.0\.2 $EVIL +- +spoofed\(table had $MACB reachable\)$" "$TMP/txt.out"
check "text: interval header" grep -Eq '^TIME +DEV +DIR +REQUEST +REPLY +PROBE +GRATUITOUS +UNSOLICITED +CONFLICT +SPOOFED$' "$TMP/txt.out"
eq "text: rx row of A over all intervals (spoofed column)" \
	"$(awk -v d="$DA" '$1 ~ /^[0-9]+:[0-9]+:[0-9]+$/ && $2 == d && $3 == "rx" { s += $10 } END { print s + 0 }' "$TMP/txt.out")" 2

# ---- raw_tp gives the same classification ------------------------------------
log "raw_tp"
start_tracer raw --json --netns "$NSA" --method raw_tp || exit 1
ip netns exec "$NSB" "$RAW" vb arp reply 02:00:00:00:00:03 10.81.0.9 ff:ff:ff:ff:ff:ff 10.81.0.9 || exit 1
wait_settle
stop_tracer raw
eq "raw_tp: one gratuitous reply" "$(sum_rows raw rx gratuitous)" 1
eq "raw_tp: attach method" "$(jq -rs '[.[] | select(.type == "interval") | .attach.netif_receive_skb] | unique | join(",")' "$TMP/raw.out")" raw_tp

# ---- usage errors -------------------------------------------------------------
rc_of() { "$@" >/dev/null 2>"$TMP/err"; echo $?; }
one_line() { [[ $(wc -l <"$TMP/err") -eq 1 ]] && grep -q '^error: ' "$TMP/err"; }
for args in "--bogus" "--pid 1" "--proto udp" "--dport 53" "--vm x" "--window 0" "--window x" \
	"--netns no-such-ns-$SFX" "--src-ip 1.2.3.400" "--method kprobe" "extra"; do
	# shellcheck disable=SC2086
	eq "usage error: arp $args -> exit 2" "$(rc_of "$ST" arp $args)" 2
	check "usage error: arp $args -> one line" one_line
done
eq "-h -> exit 0" "$(rc_of "$ST" arp -h)" 0

lt_end
