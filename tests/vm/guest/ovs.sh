#!/bin/bash
# SPDX-License-Identifier: MIT
# The OVS kernel datapath stages on a real Debian kernel (kernel-matrix
# guest). Two vmsim "VMs" on taps joined by an OVS bridge (real openvswitch
# module, the host's ovs-vswitchd started once the guest has been up 11 s,
# or its early upcalls are lost), OpenFlow rules port to port so every
# packet has exactly one output. With the agent and collector running:
#   1. the datapath flows are flushed (ovs-dpctl del-flows) and vma sends one
#      UDP request: a flow miss both ways (request, reply);
#   2. vma sends 20 more at once: flow hits (the megaflows are installed).
# Asserted, per direction, from the collector's matrix: 21 packets matched,
# ovs_in and ovs_out each exactly 21 times, ovs_exec 20 times (the hits),
# ovs_upcall and upcall@guest (userspace's time) exactly once (the miss)
# and never on a hit; the kernel's own miss counter
# (ovs-dpctl show) moved by exactly the upcalls we saw. Every path's stamps
# are in time order (collector: no negative segment), and the stored path of
# the missed packet has ovs_in < ovs_upcall < upcall@guest < ovs_out with
# one packet id.
. "$ST_VM_REPO/tests/vm/guest-lib.sh"
. "$REPO/tests/vm/guest/dp-lib.sh"
vm_modprobe openvswitch tun || { vm_fail ovs-modules "modprobe openvswitch tun"; exit 1; }

dp_collector || { vm_fail ovs-setup "collector"; exit 1; }

dp_ovs_up || { vm_fail ovs-setup "OVS userspace"; exit 1; }

dp_vms || { vm_fail ovs-setup "vmsim"; exit 1; }
w=$(dp_traffic 2)
vm_check ovs-warmup "vma->vmb over OVS before tracing: $w" test "$(jq .received <<<"$w")" = 2
dp_agent -v || { vm_fail ovs-agent "agent did not start"; exit 1; }
grep -E "unavailable|attached|error" "$T/agent.log" | grep -v '^debug' | head

# Past the agent's first device rescan (every 2 s): roles must survive it
# (an agent without --netns used to lose them there).
sleep 2.5
ovs-dpctl del-flows
m0=$(dp_missed)
r1=$(dp_traffic 1)
r2=$(dp_traffic 20)
m1=$(dp_missed)
echo "guest: miss: $r1"; echo "guest: hits: $r2"
ovs-dpctl dump-flows
sleep 1.5
dp_agent_stop
vm_check ovs-traffic "replies $(jq .received <<<"$r1")+$(jq .received <<<"$r2") of 1+20" \
	test "$(jq .received <<<"$r1")" = 1 -a "$(jq .received <<<"$r2")" = 20

mx=$(dp_matrix)
# unmatched_rx > 0 means host paths without a VM source (see the report).
"$ST" stats -C tcp://127.0.0.1:17731 --json | jq -M -c .
"$ST" hosts -C tcp://127.0.0.1:17731 --json | jq -M -c '.hosts[]?.counters // .' | cut -c1-2000
grep -E "device .*role" "$T/agent.log" | head
jq -M -c '.cells[] | {src, dst, count, stages: [.stages[]? | {stage, count, p50_us}]}' <<<"$mx"
ups=0
for dir in "vma vmb" "vmb vma"; do
	read -r s d <<<"$dir"
	c=$(jq --arg s "$s" --arg d "$d" '[.cells[] | select(.src == $s and .dst == $d) | .count] | add // 0' <<<"$mx")
	vm_check "ovs-matched-$s-$d" "$c packets matched (want 21)" test "$c" = 21
	for st in ovs_in ovs_out; do
		n=$(dp_stage_count "$mx" "$s" "$d" "$st")
		vm_check "ovs-stage-$st-$s-$d" "$n of 21 packets" test "$n" = 21
	done
	# ovs_exec after a hit (the flow lookup), upcall@guest after the miss
	# (ovs-vswitchd's time): the collector names the two apart.
	n=$(dp_stage_count "$mx" "$s" "$d" ovs_exec)
	vm_check "ovs-stage-ovs_exec-$s-$d" "$n of 20 hits" test "$n" = 20
	n=$(dp_stage_count "$mx" "$s" "$d" upcall@guest)
	vm_check "ovs-stage-upcall-$s-$d" "upcall@guest on $n packet(s) (the miss: 1)" test "$n" = 1
	# Control for vhost.sh: taps written by vmsim, not by a vhost worker,
	# get no vhost_tx stamp, so their receive is never a stage.
	n=$(dp_stage_count "$mx" "$s" "$d" tap_rcv)
	vm_check "ovs-no-vhost_tx-$s-$d" "tap_rcv on $n packets (no vhost worker: 0)" test "$n" = 0
	n=$(dp_stage_count "$mx" "$s" "$d" ovs_upcall)
	vm_check "ovs-upcall-miss-only-$s-$d" "$n upcall(s): 1 miss, 20 hits" test "$n" = 1
	ups=$((ups + n))
done
vm_check ovs-kernel-misses "kernel missed +$((m1 - m0)), upcall stages $ups" test "$((m1 - m0))" = "$ups"

neg=$("$ST" stats -C tcp://127.0.0.1:17731 --json | jq '.negative_segments // .counters.negative_segments // 0')
vm_check ovs-monotonic "negative segments $neg" test "$neg" = 0

# The missed packet's own path: every datapath stage, in order, one id.
pj=$("$ST" paths -C tcp://127.0.0.1:17731 --src vma --dst vmb --slowest 30 --json)
up=$(jq -c '[.paths[] | select([.stages[].stage] | index("ovs_upcall"))] | .[0]' <<<"$pj")
echo "guest: missed packet's path: $up"
order=$(jq -r '[.stages[].stage | select(startswith("ovs_") or startswith("upcall@"))] | join(",")' <<<"$up")
vm_check ovs-path-order "id $(jq -r .packet_id <<<"$up"): $order; userspace $(jq '.stages[] | select(.stage == "upcall@guest") | .us' <<<"$up") us" \
	test "$order" = "ovs_in,ovs_upcall,upcall@guest,ovs_out"
hit=$(jq -c '[.paths[] | select([.stages[].stage] | index("ovs_upcall") | not)] | .[0]' <<<"$pj")
order=$(jq -r '[.stages[].stage | select(startswith("ovs_"))] | join(",")' <<<"$hit")
vm_check ovs-path-hit "id $(jq -r .packet_id <<<"$hit"): $order" test "$order" = "ovs_in,ovs_exec,ovs_out"
exit 0
