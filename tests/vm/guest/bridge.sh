#!/bin/bash
# SPDX-License-Identifier: MIT
# The Linux bridge datapath stages on a real Debian kernel (kernel-matrix
# guest): two vmsim "VMs" on taps in one bridge (learning done before
# tracing, so no flooding), agent and collector running, vma sends 20 UDP
# requests that vmb answers. Asserted from the collector, per direction:
# 20 packets matched, br_in (br_handle_frame) and br_fwd (br_forward) each
# exactly 20 times, stamps in time order (no negative segment), and a
# stored path with br_in before br_fwd under one packet id.
. "$ST_VM_REPO/tests/vm/guest-lib.sh"
. "$REPO/tests/vm/guest/dp-lib.sh"
vm_modprobe bridge tun || { vm_fail bridge-modules "modprobe bridge tun"; exit 1; }
dp_collector || { vm_fail bridge-setup "collector"; exit 1; }
dp_taps || exit 1
ip link add br0 type bridge forward_delay 0 stp_state 0 || exit 1
ip link set tapa master br0 && ip link set tapb master br0 && ip link set br0 up || exit 1
dp_vms || { vm_fail bridge-setup "vmsim"; exit 1; }
w=$(dp_traffic 2)
vm_check bridge-warmup "vma->vmb over the bridge before tracing: $(jq -c '{sent, received}' <<<"$w")" \
	test "$(jq .received <<<"$w")" = 2
dp_agent -v || { vm_fail bridge-agent "agent did not start"; exit 1; }
sleep 2.5	# past the agent's first device rescan, as in ovs.sh
r=$(dp_traffic 20)
sleep 1.5
dp_agent_stop
vm_check bridge-traffic "replies $(jq .received <<<"$r") of 20" test "$(jq .received <<<"$r")" = 20

mx=$(dp_matrix)
jq -M -c '.cells[] | {src, dst, count, stages: [.stages[]? | {stage, count, p50_us}]}' <<<"$mx"
for dir in "vma vmb" "vmb vma"; do
	read -r s d <<<"$dir"
	c=$(jq --arg s "$s" --arg d "$d" '[.cells[] | select(.src == $s and .dst == $d) | .count] | add // 0' <<<"$mx")
	vm_check "bridge-matched-$s-$d" "$c packets matched (want 20)" test "$c" = 20
	for st in br_in br_fwd; do
		n=$(dp_stage_count "$mx" "$s" "$d" "$st")
		vm_check "bridge-stage-$st-$s-$d" "$n of 20 packets" test "$n" = 20
	done
done
neg=$("$ST" stats -C tcp://127.0.0.1:17731 --json | jq '.negative_segments // .counters.negative_segments // 0')
vm_check bridge-monotonic "negative segments $neg" test "$neg" = 0
pj=$("$ST" paths -C tcp://127.0.0.1:17731 --src vma --dst vmb --slowest 1 --json)
p=$(jq -c '.paths[0]' <<<"$pj")
echo "guest: a bridged packet's path: $p"
order=$(jq -r '[.stages[].stage | select(startswith("br_"))] | join(",")' <<<"$p")
vm_check bridge-path-order "id $(jq -r .packet_id <<<"$p"): $order" test "$order" = "br_in,br_fwd"
exit 0
