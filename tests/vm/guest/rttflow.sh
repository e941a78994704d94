#!/bin/bash
# SPDX-License-Identifier: MIT
# stagetrace rtt and flow on a real Debian kernel (kernel-matrix guest):
# their hooks are tracepoints every kernel has, so this checks that the
# programs pass this kernel's verifier, attach, and count exactly.
# Namespaces A -- R (router) -- B over veth pairs, and T -- bridge -- U.
#  rtt: 10 echo requests A -> R's 10.96.1.2 all answered; 5 to 10.96.1.3,
#    which A sends to R's MAC (static neighbour) and R does not own, so R
#    drops them: 5 lost exactly (timeout 300 ms); --rx in R: 10 answered,
#    5 unanswered. The optional ip_output hook (fentry, else kprobe: both
#    exist on these kernels) attaches and gives 10 ip_out samples (tx) and
#    10 icmp + 10 ip_out samples (rx).
#  flow: 10 UDP datagrams A -> B through R: exactly 10 packets with the 7
#    hops queue/xmit a0, rx r0, queue/xmit r1, rx b0, drop b0 (NO_SOCKET);
#    --vlan 100: of frames tagged 100 (4), 200 (3) and untagged (2) sent
#    across the bridge, exactly the 4.
. "$ST_VM_REPO/tests/vm/guest-lib.sh"
PING=$O/tests/tools/icmpping
RAW=$O/tests/tools/rawsend
T=$(mktemp -d /tmp/rttflow.XXXXXX)
NS=(rfa rfr rfb rft rfbr rfu)
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -INT "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do timeout 10 tail --pid="$p" -f /dev/null 2>/dev/null; done
	for p in "${NS[@]}"; do ip netns del "$p" 2>/dev/null; done
}
trap cleanup EXIT
vm_modprobe veth bridge || { vm_fail rttflow-modules "modprobe veth bridge"; exit 1; }

mac() { ip netns exec "$1" cat /sys/class/net/"$2"/address; }
for n in "${NS[@]}"; do
	ip netns add "$n" || { vm_fail rttflow-setup "ip netns add $n"; exit 1; }
	ip -n "$n" link set lo up
done
ip link add a0 netns rfa type veth peer name r0 netns rfr || { vm_fail rttflow-setup veth; exit 1; }
ip link add r1 netns rfr type veth peer name b0 netns rfb
ip -n rfa addr add 10.96.1.1/24 dev a0
ip -n rfr addr add 10.96.1.2/24 dev r0
ip -n rfr addr add 10.96.2.2/24 dev r1
ip -n rfb addr add 10.96.2.1/24 dev b0
for x in "rfa a0" "rfr r0" "rfr r1" "rfb b0"; do set -- $x; ip -n "$1" link set "$2" up; done
ip -n rfa route add default via 10.96.1.2
ip -n rfb route add default via 10.96.2.2
ip netns exec rfr sysctl -qw net.ipv4.ip_forward=1
ip -n rfa neigh replace 10.96.1.2 lladdr "$(mac rfr r0)" dev a0 nud permanent
ip -n rfa neigh replace 10.96.1.3 lladdr "$(mac rfr r0)" dev a0 nud permanent
ip -n rfr neigh replace 10.96.1.1 lladdr "$(mac rfa a0)" dev r0 nud permanent
ip -n rfr neigh replace 10.96.2.1 lladdr "$(mac rfb b0)" dev r1 nud permanent
ip -n rfb neigh replace 10.96.2.2 lladdr "$(mac rfr r1)" dev b0 nud permanent
ip link add t0 netns rft type veth peer name p0 netns rfbr
ip link add p1 netns rfbr type veth peer name u0 netns rfu
ip -n rfbr link add br0 type bridge forward_delay 0 stp_state 0
ip -n rfbr link set p0 master br0
ip -n rfbr link set p1 master br0
for x in "rft t0" "rfbr p0" "rfbr p1" "rfbr br0" "rfu u0"; do set -- $x; ip -n "$1" link set "$2" up; done
MACU=$(mac rfu u0)
bridge -n rfbr fdb replace "$MACU" dev p1 master static
sleep 1

# Start every tracer at once (each probes its hooks by real load, which is
# slow under TCG), then wait until each has printed its first interval.
launch() { # name command args...
	local name=$1
	shift
	"$ST" "$@" -i 0.5 --json >"$T/$name.out" 2>"$T/$name.err" &
	PIDS+=($!)
	eval "PID_$name=$!"
}
ready() { # name
	local i pid
	eval "pid=\$PID_$1"
	for ((i = 0; i < 300; i++)); do
		[[ -s $T/$1.out ]] && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "guest: $1 did not start: $(cat "$T/$1.err")"
	return 1
}
stop_all() {
	local p
	for p in "${PIDS[@]}"; do kill -INT "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do timeout 20 tail --pid="$p" -f /dev/null 2>/dev/null; done
	PIDS=()
}
sum() { jq -r "select(.type == \"summary\") | $2" "$T/$1.out"; }

launch tx rtt --netns rfa --timeout 300ms
launch rx rtt --rx --netns rfr --timeout 300ms
launch fl flow -v --proto udp --dport 7300
launch vl flow --vlan 100 --proto udp --dport 7301
for n in tx rx fl vl; do
	ready "$n" || { vm_fail "rttflow-start-$n" "$(head -c 300 "$T/$n.err")"; exit 1; }
done
ip netns exec rfa "$PING" 10.96.1.2 10 20 501 300 >"$T/p1.out"
ip netns exec rfa "$PING" 10.96.1.3 5 20 502 100 >"$T/p2.out"
ip netns exec rfa bash -c 'for i in $(seq 10); do echo x > /dev/udp/10.96.2.1/7300; done'
ip netns exec rft "$RAW" t0 udp "$MACU" 10.97.0.1 10.97.0.2 4000 7301 1000 100 4
ip netns exec rft "$RAW" t0 udp "$MACU" 10.97.0.1 10.97.0.2 4000 7301 2000 200 3
ip netns exec rft "$RAW" t0 udp "$MACU" 10.97.0.1 10.97.0.2 4000 7301 3000 0 2
sleep 1
stop_all

echo "guest: rtt tx: $(sum tx '{requests, answered, lost, attach} | tostring')"
echo "guest: rtt p50 us: $(sum tx '[.hist[] | .p50_us] | tostring')"
vm_check rtt-exact "tx requests/answered/lost $(sum tx '"\(.requests)/\(.answered)/\(.lost)"') (want 15/10/5)" \
	test "$(sum tx '"\(.requests)/\(.answered)/\(.lost)"')" = 15/10/5
st=$(sum tx '[.hist.rtt, .hist.send, .hist.network, .hist.recv] | map(.count | tostring) | join(",")')
vm_check rtt-stages "tx samples of rtt/send/network/recv $st (want 10 each)" test "$st" = 10,10,10,10
# These kernels have fentry and kprobes: the optional ip_output hook
# must attach and split the stages.
hk=$(sum tx '.hooks[0] | "\(.status) \(.method)"')
ipn=$(sum tx .hist.ip_out.count)/$(sum rx .hist.icmp.count)/$(sum rx .hist.ip_out.count)
echo "guest: ip_output: $hk; p50 us tx ip_out $(sum tx .hist.ip_out.p50_us), rx icmp $(sum rx .hist.icmp.p50_us), rx ip_out $(sum rx .hist.ip_out.p50_us), rx stack $(sum rx .hist.stack.p50_us)"
vm_check rtt-ip-hook "ip_output $hk; samples tx ip_out/rx icmp/rx ip_out $ipn (want 10/10/10)" \
	test "${hk%% *}" = available -a "$ipn" = 10/10/10
vm_check rtt-rx "rx requests/answered/unanswered $(sum rx '"\(.requests)/\(.answered)/\(.lost)"') (want 15/10/5: R owns no 10.96.1.3)" \
	test "$(sum rx '"\(.requests)/\(.answered)/\(.lost)"')" = 15/10/5
ck=$("$ST" rtt --check-hooks --json 2>/dev/null | jq -r '"\(.method)=\(.loaded)"' | tr '\n' ' ')
vm_check rtt-check-hooks "ip_output alternatives through the verifier: $ck" test "$ck" = "fentry=true kprobe=true "
want="queue a0@rfa,xmit a0@rfa,rx r0@rfr,queue r1@rfr,xmit r1@rfr,rx b0@rfb,drop b0@rfb"
got=$(jq -r 'select(.type == "packet") | [.hops[] | "\(.stage) \(.dev)"] | join(",")' "$T/fl.out" | sort | uniq -c | awk '{ $1 = $1; print }')
echo "guest: flow paths: $got"
vm_check flow-path "10 packets with the 7 hops in order" test "$got" = "10 $want"
echo "guest: flow attach: $(jq -c 'select(.type == "summary") | .attach' "$T/fl.out")"
vm_check flow-vlan "--vlan 100: $(sum vl .packets) packets (want 4)" test "$(sum vl .packets)" = 4
