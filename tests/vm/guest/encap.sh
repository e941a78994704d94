#!/bin/bash
# SPDX-License-Identifier: MIT
# The tunnel stages on a real Debian kernel (kernel-matrix guest). Two
# "hypervisors" are network namespaces ena and enb joined by a veth
# underlay (eth0, 192.168.77.1/.2), each with a VXLAN device (VNI 42,
# port 4789, 10.77.1.x) and a Geneve device (VNI 77, port 6081, 10.77.2.x)
# towards the other. One agent per namespace (--netns, hosts hv1 and hv2,
# eth0 the uplink) and one collector, as on two real hosts. ena sends 20
# UDP datagrams over each tunnel to a socket in enb. Asserted:
#  - every tunnel hook attaches with fentry (stagetrace probes), and the
#    agent's real programs also load and attach with kprobe forced;
#  - per tunnel, from the collector: exactly 20 packets matched across the
#    two hosts, each with exactly one <tunnel>_encap (sender, hv1) and one
#    <tunnel>_decap (receiver, hv2), none of the other tunnel's stages;
#  - a stored path carries encap on hv1, then the wire, then decap on hv2
#    under ONE packet id (the receiver keys the outer datagram on its
#    inner packet), and the collector saw no negative interval (stamps in
#    time order along every path);
#  - the outer addresses and VNI each agent saw (agent -v logs them per
#    path): 20 vxlan paths with VNI 42 and 20 geneve paths with VNI 77 on
#    each host, outer 192.168.77.1 > 192.168.77.2.
. "$ST_VM_REPO/tests/vm/guest-lib.sh"
. "$REPO/tests/vm/guest/dp-lib.sh"
STPKT=$O/tests/tools/stpkt
AG=$O/stagetrace-agent
N=20
NS=(ena enb)
en_cleanup() {
	dp_cleanup
	local n
	for n in "${NS[@]}"; do ip netns del "$n" 2>/dev/null; done
}
trap en_cleanup EXIT
vm_modprobe veth vxlan geneve || { vm_fail encap-modules "modprobe veth vxlan geneve"; exit 1; }

# ---- attach plans ------------------------------------------------------
tun='select(.stage | test("_(encap|decap)$"))'
cli=$("$ST" probes --json)
att=$(jq -c "[.[] | $tun | .stage + \"=\" + (.method // \"-\") + \"@\" + (.symbol // \"-\")]" <<<"$cli")
n=$(jq "[.[] | $tun | select(.method == \"fentry\")] | length" <<<"$cli")
vm_check encap-probes-fentry "$n/4 tunnel hooks via fentry: $att" test "$n" = 4
out=$("$AG" --probes --json --force-method kprobe 2>"$T/probes.err")
[[ -n $out ]] || grep -v '^debug' "$T/probes.err" | tail -n 20
att=$(jq -c "[.[] | select(.hook | test(\"^(vxlan|geneve)_\")) | select(.status == \"attached\" and .method == \"kprobe\") | .hook + \"@\" + .symbol]" <<<"$out")
vm_check encap-probes-kprobe "$(jq length <<<"$att")/4 real tunnel programs attached as kprobes: $att" \
	test "$(jq length <<<"$att")" = 4

# ---- two hypervisors joined by a veth underlay, two tunnels each --------
for n in "${NS[@]}"; do
	ip netns add "$n" || { vm_fail encap-setup "ip netns add $n"; exit 1; }
	ip -n "$n" link set lo up
done
ip link add eth0 netns ena type veth peer name eth0 netns enb || { vm_fail encap-setup veth; exit 1; }
mac() { ip netns exec "$1" cat /sys/class/net/"$2"/address; }
for i in 1 2; do
	n=${NS[$((i - 1))]}
	p=$((3 - i))
	ip -n "$n" addr add 192.168.77.$i/24 dev eth0
	ip -n "$n" link set eth0 up
	ip -n "$n" link add vxlan0 type vxlan id 42 local 192.168.77.$i remote 192.168.77.$p \
		dstport 4789 dev eth0 || { vm_fail encap-setup "vxlan in $n"; exit 1; }
	ip -n "$n" link add gnv0 type geneve id 77 remote 192.168.77.$p ||
		{ vm_fail encap-setup "geneve in $n"; exit 1; }
	ip -n "$n" addr add 10.77.1.$i/24 dev vxlan0
	ip -n "$n" addr add 10.77.2.$i/24 dev gnv0
	ip -n "$n" link set vxlan0 up
	ip -n "$n" link set gnv0 up
done
# Static neighbours: no ARP (not keyed, but it would delay the first
# datagrams) while tracing.
for i in 1 2; do
	n=${NS[$((i - 1))]}
	o=${NS[$((2 - i))]}
	p=$((3 - i))
	ip -n "$n" neigh replace 192.168.77.$p lladdr "$(mac "$o" eth0)" dev eth0 nud permanent
	ip -n "$n" neigh replace 10.77.1.$p lladdr "$(mac "$o" vxlan0)" dev vxlan0 nud permanent
	ip -n "$n" neigh replace 10.77.2.$p lladdr "$(mac "$o" gnv0)" dev gnv0 nud permanent
done

# send DST PORT COUNT: COUNT datagrams from ena to a socket in enb that
# reads them; prints "sent received".
send() {
	local s r
	ip netns exec enb "$STPKT" udp-sink "$2" "$3" 10 >"$T/sink.json" &
	local sp=$!
	sleep 0.5
	s=$(ip netns exec ena "$STPKT" udp "$1" "$2" "$3" 64 50 | jq .sent)
	wait "$sp"
	r=$(jq .received "$T/sink.json")
	echo "${s:-0} ${r:-0}"
}
read -r s r <<<"$(send 10.77.1.2 7101 2)"
vm_check encap-warmup-vxlan "sent $s received $r over vxlan before tracing" test "$r" = 2
read -r s r <<<"$(send 10.77.2.2 7201 2)"
vm_check encap-warmup-geneve "sent $s received $r over geneve before tracing" test "$r" = 2

# ---- agents and traffic ------------------------------------------------
dp_collector || { vm_fail encap-setup "collector"; exit 1; }
for h in 1 2; do
	"$AG" -C tcp://127.0.0.1:17730 --insecure-plaintext --host hv$h --netns "${NS[$((h - 1))]}" \
		--uplink eth0 --proto udp --flush-ms 100 -v >"$T/agent$h.log" 2>&1 &
	DP_PIDS+=($!)
	eval "AG$h=$!"
done
for h in 1 2; do
	for i in $(seq 300); do
		grep -q "tracing:" "$T/agent$h.log" && break
		sleep 0.2
	done
	grep -q "tracing:" "$T/agent$h.log" ||
		{ vm_fail encap-agent "agent hv$h did not start: $(grep -v '^debug' "$T/agent$h.log" | tail -5)"; exit 1; }
done
grep -h -E "unavailable|error" "$T"/agent?.log | grep -v '^debug' | head
sleep 2.5	# past the agents' first device rescan, as in ovs.sh
read -r s r <<<"$(send 10.77.1.2 7100 $N)"
vm_check encap-traffic-vxlan "sent $s received $r over vxlan (want $N)" test "$r" = "$N"
read -r s r <<<"$(send 10.77.2.2 7200 $N)"
vm_check encap-traffic-geneve "sent $s received $r over geneve (want $N)" test "$r" = "$N"
sleep 2		# receive paths that end without a read stamp time out after 1 s
for h in 1 2; do
	eval "kill -INT \$AG$h"
	eval "timeout 30 tail --pid=\$AG$h -f /dev/null"
	grep -v '^debug' "$T/agent$h.log" | tail -n 2
done

# ---- the collector's view ----------------------------------------------
mx=$(dp_matrix)
jq -M -c '.cells[] | {src, dst, count, stages: [.stages[]? | {stage, count, p50_us}]}' <<<"$mx"
for t in "vxlan 10.77.1.1 10.77.1.2 geneve" "geneve 10.77.2.1 10.77.2.2 vxlan"; do
	read -r tn s d other <<<"$t"
	c=$(jq --arg s "$s" --arg d "$d" '[.cells[] | select(.src == $s and .dst == $d) | .count] | add // 0' <<<"$mx")
	vm_check "encap-matched-$tn" "$s->$d: $c packets matched across hv1 and hv2 (want $N)" test "$c" = "$N"
	for st in "${tn}_encap" "${tn}_decap"; do
		n=$(dp_stage_count "$mx" "$s" "$d" "$st")
		vm_check "encap-stage-$st" "$n of $N packets" test "$n" = "$N"
	done
	n=$(( $(dp_stage_count "$mx" "$s" "$d" "${other}_encap") + $(dp_stage_count "$mx" "$s" "$d" "${other}_decap") ))
	vm_check "encap-stage-$tn-no-$other" "$n ${other} stamps on $tn packets" test "$n" = 0
	pj=$("$ST" paths -C tcp://127.0.0.1:17731 --src "$s" --dst "$d" --slowest 1 --json)
	p=$(jq -c '.paths[0]' <<<"$pj")
	echo "guest: a $tn packet's path: $p"
	order=$(jq -r '[.stages[].stage | select(test("_(encap|decap)$") or . == "wire")] | join(",")' <<<"$p")
	vm_check "encap-path-$tn" "id $(jq -r .packet_id <<<"$p"): $order" \
		test "$order" = "${tn}_encap,wire,${tn}_decap"
done
neg=$("$ST" stats -C tcp://127.0.0.1:17731 --json | jq '.negative_segments // .counters.negative_segments // 0')
vm_check encap-monotonic "negative segments $neg" test "$neg" = 0

# ---- outer headers: what each agent's BPF side recorded ------------------
for h in 1 2; do
	v=$(grep -c "vxlan vni 42 outer 192.168.77.1 > 192.168.77.2$" "$T/agent$h.log")
	g=$(grep -c "geneve vni 77 outer 192.168.77.1 > 192.168.77.2$" "$T/agent$h.log")
	grep -m 2 -E " (vxlan|geneve) vni " "$T/agent$h.log"
	vm_check "encap-outer-hv$h" "vxlan VNI 42 paths $v, geneve VNI 77 paths $g (want $N each)" \
		test "$v" = "$N" -a "$g" = "$N"
done
exit 0
