#!/bin/bash
# SPDX-License-Identifier: MIT
# stagetrace qdisc --tc per-packet classifier results on a real Debian
# kernel (kernel-matrix guest: fentry/fexit and kprobes work there, not on
# the build host). Namespace A sends UDP to B over a veth pair; A's veth
# has an htb root (1:, default 1:30) with classes 1:10, 1:20, 1:30 and u32
# filters: dport 7410 -> 1:10, dport 7420 -> 1:20, dport 7430 -> action
# drop. IPv6 is off and both addresses have permanent neighbour entries, so
# the only packets the filters see are ours. While
# `qdisc --tc -v --json --netns A` runs, A sends 7 datagrams to 7410, 4 to
# 7420, 3 to 7430 and 2 to 7499 (no filter matches: htb's default class).
# Asserted: the classifier hook attached; the interval counts per
# (qdisc htb 1:, verdict, classid) are exactly OK/1:10 = 7, OK/1:20 = 4,
# SHOT = 3, UNSPEC = 2; the per-packet events are the same 16, each with
# the flow of its port; B received exactly 7 + 4 + 2; nothing lost.
. "$ST_VM_REPO/tests/vm/guest-lib.sh"
PKT=$O/tests/tools/stpkt
NSA=st-tcc-a-$$
NSB=st-tcc-b-$$
T=/tmp/tcclass
mkdir -p "$T"
TC_PID=

tcc_cleanup() {
	[[ -n $TC_PID ]] && kill -INT "$TC_PID" 2>/dev/null
	ip netns del "$NSA" 2>/dev/null
	ip netns del "$NSB" 2>/dev/null
	rm -rf "$T"
}
trap tcc_cleanup EXIT

vm_modprobe veth sch_htb cls_u32 act_gact || { vm_fail tcclass-modules "modprobe veth sch_htb cls_u32 act_gact"; exit 1; }
setup() {
	ip netns add "$NSA" && ip netns add "$NSB" || return 1
	local ns
	for ns in "$NSA" "$NSB"; do
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 || return 1
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.disable_ipv6=1 || return 1
	done
	ip -n "$NSA" link add tca type veth peer name tcb netns "$NSB" || return 1
	ip -n "$NSA" addr add 10.9.8.1/24 dev tca && ip -n "$NSB" addr add 10.9.8.2/24 dev tcb || return 1
	ip -n "$NSA" link set tca up && ip -n "$NSB" link set tcb up || return 1
	ip -n "$NSA" neigh replace 10.9.8.2 lladdr "$(ip -n "$NSB" -j link show tcb | jq -r '.[0].address')" \
		dev tca nud permanent || return 1
	ip -n "$NSB" neigh replace 10.9.8.1 lladdr "$(ip -n "$NSA" -j link show tca | jq -r '.[0].address')" \
		dev tcb nud permanent || return 1
	local q=(ip netns exec "$NSA" tc)
	"${q[@]}" qdisc add dev tca root handle 1: htb default 30 || return 1
	local c
	for c in 10 20 30; do
		"${q[@]}" class add dev tca parent 1: classid 1:$c htb rate 100mbit quantum 1514 || return 1
	done
	"${q[@]}" filter add dev tca parent 1: protocol ip prio 1 u32 match ip dport 7410 0xffff classid 1:10 &&
	"${q[@]}" filter add dev tca parent 1: protocol ip prio 2 u32 match ip dport 7420 0xffff classid 1:20 &&
	"${q[@]}" filter add dev tca parent 1: protocol ip prio 3 u32 match ip dport 7430 0xffff action drop
}
setup || { vm_fail tcclass-setup "namespaces, htb, u32 filters"; exit 1; }
ip netns exec "$NSA" tc filter show dev tca | sed 's/^/guest: /' | head -20

"$ST" qdisc --tc -v --json -i 1 --netns "$NSA" >"$T/tc.json" 2>"$T/tc.err" &
TC_PID=$!
for i in $(seq 300); do
	grep -q '"type":"interval"' "$T/tc.json" 2>/dev/null && break
	kill -0 "$TC_PID" 2>/dev/null || break
	sleep 0.2
done
grep -q '"type":"interval"' "$T/tc.json" ||
	{ vm_fail tcclass-start "qdisc --tc did not start: $(head -c 400 "$T/tc.err")"; exit 0; }
cls=$(jq -sc '.[0].classifier' "$T/tc.json")
echo "guest: classifier hook $cls"
vm_check tcclass-hook "tcf_classify hook: $(jq -r '.[0] | "\(.status) \(.method) \(.symbol)"' <<<"$cls")" \
	jq -e '.[0].status == "available"' <<<"$cls" >/dev/null

ip netns exec "$NSB" "$PKT" udp-sink 7410 7 10 >"$T/r10.json" &
S1=$!
ip netns exec "$NSB" "$PKT" udp-sink 7420 4 10 >"$T/r20.json" &
S2=$!
ip netns exec "$NSB" "$PKT" udp-sink 7499 2 10 >"$T/r30.json" &
S3=$!
sleep 0.3
ip netns exec "$NSA" "$PKT" udp 10.9.8.2 7410 7 100 >/dev/null
ip netns exec "$NSA" "$PKT" udp 10.9.8.2 7420 4 100 >/dev/null
ip netns exec "$NSA" "$PKT" udp 10.9.8.2 7430 3 100 >/dev/null
ip netns exec "$NSA" "$PKT" udp 10.9.8.2 7499 2 100 >/dev/null
sleep 1
kill "$S1" "$S2" "$S3" 2>/dev/null
wait "$S1" "$S2" "$S3" 2>/dev/null
sleep 1.5
kill -INT "$TC_PID"
timeout 20 tail --pid="$TC_PID" -f /dev/null
TC_PID=
rcv="$(jq .received "$T/r10.json")/$(jq .received "$T/r20.json")/$(jq .received "$T/r30.json")"
vm_check tcclass-traffic "B received 7410/7420/7499: $rcv (want 7/4/2)" test "$rcv" = 7/4/2

# Interval counts per (qdisc, verdict, classid).
rows=$(jq -sc '[.[] | select(.type == "interval") | .classified[]?]' "$T/tc.json")
echo "guest: classified rows $(cut -c1-1500 <<<"$rows")"
sum() { jq "[.[] | select($1) | .count] | add // 0" <<<"$rows"; }
htb='.qdisc.kind == "htb" and .qdisc.handle == "1:" and .dev == "tca@'"$NSA"'"'
got="$(sum "$htb and .verdict == \"OK\" and .classid == \"1:10\"")/$(sum "$htb and .verdict == \"OK\" and .classid == \"1:20\"")/$(sum "$htb and .verdict == \"SHOT\"")/$(sum "$htb and .verdict == \"UNSPEC\"")"
vm_check tcclass-counts "htb 1: OK->1:10 / OK->1:20 / SHOT / UNSPEC: $got (want 7/4/3/2)" test "$got" = 7/4/3/2
vm_check tcclass-only-ours "all classified packets: $(sum true) (want 16)" test "$(sum true)" = 16

# Per-packet events (-v).
ev=$(jq -sc '[.[] | select(.type == "event" and .event == "classify")]' "$T/tc.json")
echo "guest: first events $(jq -c '.[:3]' <<<"$ev" | cut -c1-900)"
evc() { jq "[.[] | select($1)] | length" <<<"$ev"; }
got="$(evc '.verdict == "OK" and .classid == "1:10" and (.flow | endswith(":7410"))')/$(evc '.verdict == "OK" and .classid == "1:20" and (.flow | endswith(":7420"))')/$(evc '.verdict == "SHOT" and (.flow | endswith(":7430"))')/$(evc '.verdict == "UNSPEC" and (.flow | endswith(":7499"))')"
vm_check tcclass-events "events with the right flow: 1:10/1:20/SHOT/UNSPEC $got (want 7/4/3/2), total $(jq length <<<"$ev")" \
	test "$got" = 7/4/3/2 -a "$(jq length <<<"$ev")" = 16
lost=$(jq -s '[.[] | select(.type == "interval") | .lost.map_full + .lost.events] | add // 0' "$T/tc.json")
vm_check tcclass-lost "lost rows/events: $lost" test "$lost" = 0

# The text form (for docs/tools.md): 2 datagrams to 1:20, one line each.
"$ST" qdisc --tc -v -i 1 --netns "$NSA" >"$T/tc.txt" 2>&1 &
TC_PID=$!
for i in $(seq 300); do
	grep -q 'Ctrl-C to end' "$T/tc.txt" 2>/dev/null && break
	kill -0 "$TC_PID" 2>/dev/null || break
	sleep 0.2
done
ip netns exec "$NSA" "$PKT" udp 10.9.8.2 7420 2 100 >/dev/null
sleep 2.5
kill -INT "$TC_PID"
timeout 20 tail --pid="$TC_PID" -f /dev/null
TC_PID=
sed 's/^/guest: text: /' "$T/tc.txt" | head -30
vm_check tcclass-text "text classify lines to 1:20: $(grep -c 'classify .*verdict=OK classid=1:20 .*:7420$' "$T/tc.txt") (want 2)" \
	test "$(grep -c 'classify .*verdict=OK classid=1:20 .*:7420$' "$T/tc.txt")" = 2
exit 0
