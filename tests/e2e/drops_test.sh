#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# End-to-end test of `stagetrace drops` on the real kernel with real packets.
#
# Three network namespaces: A and B joined by a veth pair (va 10.77.0.1 <->
# vb 10.77.0.2), and C on its own. Drops of known kinds are caused in B and
# counted exactly: UDP datagrams to a port nobody listens on (NO_SOCKET, in
# __udp4_lib_rcv) and UDP datagrams an iptables DROP rule in B's INPUT chain
# throws away (NETFILTER_DROP, in nf_hook_slow). Drops caused in C at the
# same time must not show up in a tracer filtered to B (and do show up in one
# filtered to C). IPv6 is off in every namespace and A has a static
# neighbour entry for B, so no other traffic crosses the veth. Every drop
# count is compared with what was sent, +-0.
#
# Needs root, jq and iptables. Usage: tests/e2e/drops_test.sh [BUILD_DIR].
# Prints "N passed, N failed" last; exits non-zero on any failure; removes
# its namespaces and temporary files on any exit.

set -u
LT_NAME=drops_test
LT_TRACER=(drops -i 0.3)
. "$(dirname "${BASH_SOURCE[0]}")/local_lib.sh"
NSA=st-drops-a-$SFX
NSB=st-drops-b-$SFX
NSC=st-drops-c-$SFX
lt_begin jq iptables ip

# ---- topology ---------------------------------------------------------------
lt_netns "$NSA" "$NSB" "$NSC" || exit 1
ip link add va netns "$NSA" type veth peer name vb netns "$NSB" || exit 1
ip -n "$NSA" addr add 10.77.0.1/24 dev va
ip -n "$NSB" addr add 10.77.0.2/24 dev vb
ip -n "$NSA" link set va up
ip -n "$NSB" link set vb up
MACB=$(ip netns exec "$NSB" cat /sys/class/net/vb/address)
MACA=$(ip netns exec "$NSA" cat /sys/class/net/va/address)
ip -n "$NSA" neigh replace 10.77.0.2 lladdr "$MACB" dev va nud permanent
ip -n "$NSB" neigh replace 10.77.0.1 lladdr "$MACA" dev vb nud permanent
# A second pair whose B end stays down: A's transmissions on va2 are
# dropped in A (a device that cannot transmit), the eth_drop.py case.
ip link add va2 netns "$NSA" type veth peer name vb2 netns "$NSB" || exit 1
ip -n "$NSA" addr add 10.78.0.1/24 dev va2
ip -n "$NSA" link set va2 up
ip -n "$NSA" neigh replace 10.78.0.2 lladdr 02:00:00:00:00:02 dev va2 nud permanent
ip netns exec "$NSB" iptables -A INPUT -p udp --dport 7777 -j DROP || exit 1
INOB=$(stat -L -c %i /run/netns/"$NSB")
INOC=$(stat -L -c %i /run/netns/"$NSC")

# Send N UDP datagrams from namespace NS to IP:PORT, one socket each.
send_udp() { # ns ip port n
	ip netns exec "$1" bash -c \
		"for ((i = 0; i < $4; i++)); do echo x > /dev/udp/$2/$3; done" 2>/dev/null
}

# Sum of counts over all intervals of a JSON output, for a jq row filter.
sum_json() { # name jq-select
	jq -s "[.[] | select(.type == \"interval\") | .drops[] | select($2) | .count] | add // 0" \
		"$TMP/$1.out"
}

# ---- 1. NO_SOCKET and NETFILTER_DROP, netns filter ----------------------------
log "exact counts of NO_SOCKET and NETFILTER_DROP in $NSB, with drops in $NSC as noise"
start_tracer b --json --netns "$NSB" || exit 1
start_tracer c --json --netns "$NSC" || exit 1
start_tracer port --json --netns "$NSB" --proto udp --dport 7777 || exit 1
start_tracer src --json --src-ip 10.77.0.0/30 --dst-ip 10.77.0.2 || exit 1
start_tracer dev --json --netns "$NSB" --dev vb || exit 1
send_udp "$NSA" 10.77.0.2 9999 20
send_udp "$NSA" 10.77.0.2 7777 15
send_udp "$NSC" 127.0.0.1 9999 7
sleep 1
for t in b c port src dev; do stop_tracer "$t"; done

eq "tracer exit status" "$RC_b$RC_c$RC_port$RC_src$RC_dev" "00000"
eq "NO_SOCKET drops in $NSB on vb" \
	"$(sum_json b ".reason == \"NO_SOCKET\" and .dev == \"vb@$NSB\" and .netns == $INOB")" 20
eq "NETFILTER_DROP drops in $NSB on vb" \
	"$(sum_json b ".reason == \"NETFILTER_DROP\" and .dev == \"vb@$NSB\"")" 15
eq "NO_SOCKET location is the UDP receive path" \
	"$(jq -rs '[.[] | select(.type == "interval") | .drops[] | select(.reason == "NO_SOCKET") | .location | sub("\\+.*"; "")] | unique | join(",")' "$TMP/b.out")" \
	"__udp4_lib_rcv"
# nf_hook_slow frees on NF_DROP; newer nf_tables frees in nft_do_chain.
nfloc=$(jq -rs '[.[] | select(.type == "interval") | .drops[] | select(.reason == "NETFILTER_DROP") | .location | sub("\\+.*"; "")] | unique | join(",")' "$TMP/b.out")
check "NETFILTER_DROP location is netfilter's ($nfloc)" \
	grep -Eqx 'nf_hook_slow|nft_do_chain' <<<"$nfloc"
eq "netns filter: nothing from other namespaces" \
	"$(sum_json b ".netns != $INOB")" 0
eq "netns filter: $NSC's own drops seen by its tracer" \
	"$(sum_json c ".reason == \"NO_SOCKET\" and .netns == $INOC")" 7
eq "netns filter: $NSC's tracer sees nothing of $NSB" \
	"$(sum_json c ".netns != $INOC")" 0
eq "--proto udp --dport 7777: only the NETFILTER_DROPs" \
	"$(sum_json port 'true')/$(sum_json port '.reason == "NETFILTER_DROP"')" "15/15"
# Host-wide tracer: counted over this test's namespaces only, so another
# test on the machine using the same addresses cannot disturb it ($NSC's
# 127.0.0.1 drops must be filtered out by the address filter).
eq "--src-ip/--dst-ip CIDR: both kinds from A to B, nothing else" \
	"$(sum_json src ".netns == $INOB or .netns == $INOC")/$(sum_json src '.dev == "vb@'"$NSB"'"')" "35/35"
eq "--dev vb: both kinds on vb" \
	"$(sum_json dev '.dev == "vb@'"$NSB"'"')" 35
bad=$(jq -rs '.[] | select(.type == "interval") | .drops[] | .location' "$TMP/b.out" "$TMP/c.out" |
	grep -Evc '^[a-z_0-9.]+\+0x[0-9a-f]+$')
eq "every location is symbol+0xoff" "$bad" 0
# The documented JSON schema of an interval object.
schema='select(.type == "interval") |
	(.time | type) == "string" and (.unix_s | type) == "number" and
	(.interval_s | type) == "number" and (.total | type) == "number" and
	(.drops | type) == "array" and (.lost | type) == "object" and
	(.lost.map_full | type) == "number" and (.lost.events | type) == "number" and
	(.lost.stack | type) == "number" and (.counters.calls | type) == "number" and
	(.counters.counted | type) == "number" and
	(.attach.method == "tp_btf" or .attach.method == "raw_tp") and
	.total == ([.drops[].count] | add // 0) and
	all(.drops[]; (.count | type) == "number" and (.bytes | type) == "number" and
	    (.reason | type) == "string" and (.reason_code | type) == "number" and
	    (.location | type) == "string" and (.address | test("^0x[0-9a-f]+$")) and
	    (.netns | type) == "number" and (.ifindex | type) == "number" and
	    (.dev | type) == "string")'
eq "--json: every interval object follows the schema" \
	"$(jq -c "$schema" "$TMP/b.out" | sort -u | tr '\n' ' ')" "true "
eq "--json: nothing lost" \
	"$(jq -s '[.[] | .lost.map_full + .lost.events] | add' "$TMP/b.out")" 0

# ---- 1b. a device whose peer is down --------------------------------------------
log "transmit on a veth whose peer is down"
start_tracer down --json --netns "$NSA" --dev va2 || exit 1
start_tracer notdown --json --netns "$NSA" --dev va || exit 1
send_udp "$NSA" 10.78.0.2 9 12
sleep 0.8
stop_tracer down
stop_tracer notdown
eq "peer down: drops on va2 in $NSA" "$(sum_json down ".dev == \"va2@$NSA\"")" 12
eq "peer down: reason resolved to a name" \
	"$(jq -rs '[.[] | select(.type == "interval") | .drops[] | .reason | test("^[A-Z][A-Z0-9_]+$")] | unique | join(",")' "$TMP/down.out")" true
log "peer down: reasons $(jq -rs '[.[] | select(.type == "interval") | .drops[] | "\(.reason)@\(.location)"] | unique | join(" ")' "$TMP/down.out")"
eq "--dev va: nothing of va2" "$(sum_json notdown 'true')" 0

# ---- 2. raw_tp fallback counts the same; --ovs keeps none of them ---------------
log "raw_tp attach; --ovs alongside"
start_tracer raw --json --netns "$NSB" --method raw_tp || exit 1
start_tracer ovs --json --netns "$NSB" --ovs || exit 1
send_udp "$NSA" 10.77.0.2 9999 9
sleep 0.8
stop_tracer raw
stop_tracer ovs
eq "raw_tp: NO_SOCKET count" "$(sum_json raw '.reason == "NO_SOCKET"')" 9
# No OVS here: the same 9 are outside the datapath, counted as filtered.
eq "--ovs: no row for UDP-stack drops" "$(sum_json ovs 'true')" 0
eq "--ovs: the 9 counted as filtered_not_ovs" \
	"$(jq -s '[.[] | select(.type == "interval") | .counters.filtered_not_ovs] | add' "$TMP/ovs.out")" 9
eq "raw_tp: attach method reported" \
	"$(jq -rs '[.[] | .attach.method] | unique | join(",")' "$TMP/raw.out")" raw_tp

# ---- 3. stacks ------------------------------------------------------------------
log "--stacks"
start_tracer stk --json --netns "$NSB" --stacks || exit 1
send_udp "$NSA" 10.77.0.2 9999 6
sleep 0.8
stop_tracer stk
eq "--stacks: counts per stack add up" \
	"$(jq -s '[.[] | select(.type == "interval") | .stacks[] | select(.reason == "NO_SOCKET") | .count] | add' "$TMP/stk.out")" 6
nfr=$(jq -rs '[.[] | select(.type == "interval") | .stacks[] | select(.reason == "NO_SOCKET") | .frames | length] | min' "$TMP/stk.out")
check "--stacks: every NO_SOCKET stack has frames ($nfr)" test "${nfr:-0}" -ge 3
check "--stacks: the UDP receive path is in the stack" \
	jq -es '[.[] | select(.type == "interval") | .stacks[] | .frames[] | select(startswith("__udp4_lib_rcv+0x"))] | length > 0' "$TMP/stk.out" >/dev/null
eq "--stacks: stacks start at the drop location" \
	"$(jq -rs '[.[] | select(.type == "interval") | .stacks[] | .frames[0] | sub("\\+.*"; "")] | unique | join(",")' "$TMP/stk.out")" \
	"__udp4_lib_rcv"
bad=$(jq -rs '.[] | select(.type == "interval") | .stacks[] | .frames[]' "$TMP/stk.out" |
	grep -Evc '^[a-zA-Z_0-9.]+\+0x[0-9a-f]+( \[[a-z_0-9]+\])?$')
eq "--stacks: frames are symbol+0xoff" "$bad" 0

# Text table with stacks.
"$ST" drops -i 0.5 -c 4 --netns "$NSB" --stacks >"$TMP/stxt.out" 2>"$TMP/stxt.err" &
PIDS+=($!)
tp=$!
wait_tracing "$TMP/stxt.err" "$tp"
send_udp "$NSA" 10.77.0.2 9999 4
wait "$tp"
eq "text: exit status" "$?" 0
check "text: header TIME COUNT REASON LOCATION DEV" \
	grep -Eq '^TIME +COUNT +REASON +LOCATION +DEV$' "$TMP/stxt.out"
eq "text: NO_SOCKET rows add up" \
	"$(awk -v d="vb@$NSB" '$3 == "NO_SOCKET" && $5 == d { s += $2 } END { print s + 0 }' "$TMP/stxt.out")" 4
check "text: top stacks printed with frames" grep -Eq '^    __udp4_lib_rcv\+0x[0-9a-f]+$' "$TMP/stxt.out"

# ---- 4. verbose: one event per drop -----------------------------------------------
log "-v"
"$ST" drops -v -i 0.5 -d 3 --netns "$NSB" >"$TMP/v.out" 2>"$TMP/v.err" &
PIDS+=($!)
vp=$!
wait_tracing "$TMP/v.err" "$vp"
send_udp "$NSA" 10.77.0.2 9999 5
send_udp "$NSA" 10.77.0.2 7777 3
wait "$vp"
eq "-v: exit status" "$?" 0
check "-v: header TIME PID COMM EVENT DETAILS" \
	grep -Eq '^TIME +PID +COMM +EVENT +DETAILS$' "$TMP/v.out"
eq "-v: NO_SOCKET event lines" \
	"$(grep -Ec "^[0-9:.]+ +[0-9]+ .* drop +reason=NO_SOCKET loc=__udp4_lib_rcv\+0x[0-9a-f]+ dev=vb@$NSB len=[0-9]+ udp 10\.77\.0\.1:[0-9]+ -> 10\.77\.0\.2:9999$" "$TMP/v.out")" 5
eq "-v: NETFILTER_DROP event lines" \
	"$(grep -Ec "drop +reason=NETFILTER_DROP loc=(nf_hook_slow|nft_do_chain)\+0x[0-9a-f]+ dev=vb@$NSB .* -> 10\.77\.0\.2:7777$" "$TMP/v.out")" 3

start_tracer vj --json -v --netns "$NSB" || exit 1
send_udp "$NSA" 10.77.0.2 9999 4
sleep 0.8
stop_tracer vj
eq "--json -v: one event object per drop" \
	"$(jq -s '[.[] | select(.type == "event" and .event == "drop" and .reason == "NO_SOCKET" and
		.proto == "udp" and .dst == "10.77.0.2" and .dport == 9999 and .src == "10.77.0.1" and
		(.pid | type) == "number" and (.comm | type) == "string" and
		(.location | test("^__udp4_lib_rcv\\+0x[0-9a-f]+$")))] | length' "$TMP/vj.out")" 4
eq "--json -v: interval objects count the same drops" \
	"$(sum_json vj '.reason == "NO_SOCKET"')" 4

# ---- 5. usage and privilege errors -------------------------------------------
log "errors"
rc_of() { "$@" >/dev/null 2>"$TMP/err"; echo $?; }
one_line() { [[ $(wc -l <"$TMP/err") -eq 1 ]] && grep -q '^error: ' "$TMP/err"; }
for args in "--bogus" "--pid 1" "--vm vm1" "--proto banana" "-i 0" "-i x" \
	"--netns no-such-ns-$SFX" "--dev no-such-dev0" "--sport 0" "--src-ip 10.1.2.300" \
	"-c" "--method kprobe" "extra"; do
	# shellcheck disable=SC2086
	eq "usage error: drops $args -> exit 2" "$(rc_of "$ST" drops $args)" 2
	check "usage error: drops $args -> one line" one_line
done
grep -q 'pid is not supported by stagetrace drops' <(rc_of "$ST" drops --pid 1 >/dev/null; cat "$TMP/err") &&
	{ PASS=$((PASS + 1)); echo "ok   --pid refusal names the command"; } ||
	{ FAIL=$((FAIL + 1)); echo "FAIL --pid refusal names the command: $(cat "$TMP/err")"; }
if command -v setpriv >/dev/null; then
	eq "not root -> exit 1" \
		"$(rc_of setpriv --reuid=65534 --regid=65534 --clear-groups "$ST" drops -c 1)" 1
	check "not root -> one line" one_line
fi
eq "-h -> exit 0" "$(rc_of "$ST" drops -h)" 0

lt_end
