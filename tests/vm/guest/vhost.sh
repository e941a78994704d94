#!/bin/bash
# SPDX-License-Identifier: MIT
# vhost-net on a real Debian kernel (kernel-matrix guest): tests/tools/
# vhostnet plays VM vmv's virtio-net device through /dev/vhost-net on tap
# tapv (IFF_VNET_HDR), the way qemu hands its queues to the kernel; a
# vmsim VM vmb sits on tap tapb; a Linux bridge joins the two taps. vmv
# sends 20 UDP datagrams through its TX virtqueue (vhost worker: handle_tx
# -> tun_sendmsg -> the bridge -> tapb -> vmb), vmb echoes each, and the
# worker copies the answers into vmv's RX virtqueue (tun_net_xmit ->
# handle_rx -> tun_recvmsg) and signals the call eventfd.
# Asserted: vhost took all 20 from the TX ring; all 20 answers came back
# through the RX ring with their payloads; the call eventfd fired; the
# agent (tapv = vmv, tapb = vmb) matched 20 packets each way; every vmv->vmb
# path opens with the vhost_tx stamp (handle_tx entry in the same worker
# thread), so tap_rcv (the worker's copy) is a stage 20 times; the answers
# end at vm_rx (the worker's read of the tap) 20 times.
. "$ST_VM_REPO/tests/vm/guest-lib.sh"
. "$REPO/tests/vm/guest/dp-lib.sh"
vm_modprobe tun vhost_net bridge || { vm_fail vhost-modules "modprobe tun vhost_net bridge"; exit 1; }
[[ -c /dev/vhost-net ]] || { vm_fail vhost-dev "no /dev/vhost-net"; exit 1; }
trap 'dp_cleanup; ip link del tapv 2>/dev/null' EXIT
dp_collector || { vm_fail vhost-setup "collector"; exit 1; }
ip tuntap add dev tapv mode tap vnet_hdr || exit 1
ip tuntap add dev tapb mode tap || exit 1
ip link add br0 type bridge forward_delay 0 stp_state 0 || exit 1
for t in tapv tapb; do ip link set "$t" master br0 && ip link set "$t" up || exit 1; done
ip link set br0 up
"$VMSIM" --tap tapb --mac 02:00:0a:08:00:01 --ip 10.8.0.1/24 --ctl-listen "$T/b.sock" \
	--pidfile "$T/b.ready" --quiet >"$T/vmb.log" 2>&1 &
DP_PIDS+=($!)
for i in $(seq 100); do [[ -e $T/b.ready ]] && break; sleep 0.1; done

dp_agent -v --vm tapv=vmv --vm tapb=vmb || { vm_fail vhost-agent "agent did not start"; exit 1; }
sleep 2.5	# past the agent's first device rescan
r=$("$O/tests/tools/vhostnet" --tap tapv --mac 02:00:0a:08:00:02 --ip 10.8.0.2 --peer 10.8.0.1 \
	--peer-mac 02:00:0a:08:00:01 --dport 7001 --count 20)
echo "guest: vhostnet: $r"
vm_check vhost-tx-ring "vhost took $(jq .tx_used <<<"$r") of 20 from the TX virtqueue" test "$(jq .tx_used <<<"$r")" = 20
vm_check vhost-rx-ring "$(jq .echo_ok <<<"$r") of 20 answers in the RX virtqueue, $(jq .rx_calls <<<"$r") call signal(s)" \
	test "$(jq .echo_ok <<<"$r")" = 20 -a "$(jq .rx_calls <<<"$r")" -ge 1
sleep 1.5
dp_agent_stop

mx=$(dp_matrix)
jq -M -c '.cells[] | {src, dst, count, stages: [.stages[]? | {stage, count, p50_us}]}' <<<"$mx"
"$ST" stats -C tcp://127.0.0.1:17731 --json | jq -M -c .
for dir in "vmv vmb" "vmb vmv"; do
	read -r s d <<<"$dir"
	c=$(jq --arg s "$s" --arg d "$d" '[.cells[] | select(.src == $s and .dst == $d) | .count] | add // 0' <<<"$mx")
	vm_check "vhost-matched-$s-$d" "$c of 20 packets matched" test "$c" = 20
done
# The vhost_tx stamp (handle_tx entry in the worker thread) opens each of
# vmv's paths, so the tap's receive becomes a stage: the worker's copy.
n=$(dp_stage_count "$mx" vmv vmb tap_rcv)
vm_check vhost-stage-vhost_tx "$n of 20 paths open at handle_tx (tap_rcv = worker copy, p50 $(jq '[.cells[] | select(.src == "vmv") | .stages[]? | select(.stage == "tap_rcv") | .p50_us][0]' <<<"$mx") us)" test "$n" = 20
n=$(dp_stage_count "$mx" vmb vmv vm_rx)
vm_check vhost-stage-vm_rx "$n of 20 answers end at the worker's tap read" test "$n" = 20
pj=$("$ST" paths -C tcp://127.0.0.1:17731 --src vmv --dst vmb --slowest 1 --json)
p=$(jq -c '.paths[0]' <<<"$pj")
echo "guest: a vhost datagram's path: $p"
order=$(jq -r '[.stages[].stage] | join(",")' <<<"$p")
vm_check vhost-path "id $(jq -r .packet_id <<<"$p"): $order" test "${order%%,*}" = tap_rcv
exit 0
