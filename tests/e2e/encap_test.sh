#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Tunnels on this host's kernel, which has the vxlan module but no geneve
# module, no kprobes and refuses fentry: the test bed with its VXLAN wire
# (hv1 and hv2 joined by a veth underlay 192.168.200.1/.2 carrying vxlan0,
# VNI 42, port 4789; vma on hv1, vmb on hv2), one agent per hypervisor and
# a collector. vma sends 20 UDP requests that vmb answers. Asserted:
#  - the tunnel stages (vxlan_encap, geneve_encap, vxlan_decap,
#    geneve_decap) are reported unavailable with the reason of every
#    alternative that failed, by `stagetrace probes` and the agent;
#  - the VXLAN packets still match across the two hosts, 20 of 20 each
#    way: the receiver keys the outer datagram on its inner packet, or its
#    stamps would carry another packet id;
#  - the host-stack stages around the tunnel are there for every packet
#    (vxlan_tx on the sender's tunnel device, nic_rcv on the receiver's
#    underlay) and the unavailable tunnel stages are not;
#  - each agent recorded the outer addresses and VNI 42 of all 20 paths
#    each way, with stamps in time order (agent -v logs both per path).
set -u
export ST_TB=encap$$
. "$(dirname "$0")/lib.sh"

N=20
e2e_begin || exit 1

# ---- what the plans say -----------------------------------------------
pj=$("$O/stagetrace" probes --json)
tun='select(.stage | test("^(vxlan|geneve)_(encap|decap)$"))'
check "probes: 4 tunnel stages listed" test "$(jq "[.[] | $tun] | length" <<<"$pj")" = 4
check "probes: all 4 unavailable" test "$(jq "[.[] | $tun | select(.status == \"unavailable\" and .method == null)] | length" <<<"$pj")" = 4
# Every failed alternative (fentry, kprobe) is named in the reason.
check "probes: reasons name fentry and kprobe" \
	test "$(jq "[.[] | $tun | select(.reason | test(\"fentry: .*; kprobe: \"))] | length" <<<"$pj")" = 4
jq -r ".[] | $tun | .stage + \": \" + .reason" <<<"$pj"
aj=$("$O/stagetrace-agent" --probes --json 2>/dev/null)
check "agent --probes: tunnel hooks unavailable" \
	test "$(jq '[.[] | select(.hook | test("^(vxlan|geneve)_")) | select(.status == "unavailable" and (.reason | length) > 0)] | length' <<<"$aj")" = 4

# ---- VXLAN between two test-bed hypervisors ------------------------------
TB_QUIET=1 tb_up --wire vxlan || { check "testbed up" false; exit 1; }
w=$(tb_traffic --from vma --to vmb --proto udp --count 2 --rate 50 --wait-ms 1000)
check "warm-up before tracing: $(jq -c '{sent, received}' <<<"$w")" test "$(jq .received <<<"$w")" = 2
E2E_DB=$E2E_TMP/encap.db
e2e_collector || exit 1
e2e_agent hv1 --proto udp --flush-ms 100 -v
e2e_agent hv2 --proto udp --flush-ms 100 -v
e2e_wait_agents 2 || exit 1
sleep 2.5	# past the agents' first device rescan
r=$(tb_traffic --from vma --to vmb --proto udp --count $N --rate 50 --wait-ms 1000)
check "traffic: $(jq .received <<<"$r") of $N answered over vxlan" test "$(jq .received <<<"$r")" = $N
e2e_stop_agents 3	# it waits until nothing is pending
"$O/stagetrace" stats -C "$E2E_QUERY" --json | jq -c .
M=$E2E_TMP/encap.json
e2e_matrix --last 10m >"$M" || { check "matrix" false; exit 1; }
jq -c '.cells[] | {src, dst, count, stages: [.stages[]? | {stage, count}]}' "$M"
for dir in "vma vmb" "vmb vma"; do
	set -- $dir
	check "$1->$2: $(cell "$M" "$1" "$2" .count) of $N matched across the hosts (inner key on both)" \
		test "$(cell "$M" "$1" "$2" .count)" = $N
	check "$1->$2: vxlan_tx (sender's tunnel device) on every packet" \
		test "$(stage "$M" "$1" "$2" vxlan_tx .count)" = $N
	check "$1->$2: nic_rcv (receiver's underlay, outer datagram) on every packet" \
		test "$(stage "$M" "$1" "$2" nic_rcv .count)" = $N
	check "$1->$2: no tunnel stage stamped (unavailable here)" \
		test -z "$(jq -r '.cells[] | .stages[]? | select(.stage | test("_(encap|decap)$")) | .stage' "$M")"
done
for h in hv1 hv2; do
	a=$(grep -c -E "vxlan vni 42 outer 192.168.200.1 > 192.168.200.2 stamps [0-9]+ unordered 0$" "$E2E_TMP/agent-$h.log")
	b=$(grep -c -E "vxlan vni 42 outer 192.168.200.2 > 192.168.200.1 stamps [0-9]+ unordered 0$" "$E2E_TMP/agent-$h.log")
	check "$h: outer addresses and VNI 42, stamps in time order, on $a requests and $b replies (want $N each)" \
		test "$a $b" = "$N $N"
done
e2e_end
