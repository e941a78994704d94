#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# make demo: two "hypervisors" (network namespaces with a switch each: Open
# vSwitch on the OVS kernel datapath where the openvswitch module exists, a
# Linux bridge otherwise; ST_DEMO_SWITCH=bridge|ovs forces one), four "VMs"
# (taps played by vmsim), a wire that adds 300 us each way, a VM that takes
# 500 us to answer; one collector, one agent per hypervisor; ~10 s of UDP,
# TCP and ICMP request/response traffic; then the matrix. Everything is torn
# down at the end, also on Ctrl-C.
set -u
O=${1:-build}
export O
export ST_TB=demo
. "$(dirname "$0")/../tests/e2e/lib.sh"

if [[ $(id -u) -ne 0 ]]; then
	echo "demo: needs root (BPF programs, network namespaces)" >&2
	exit 1
fi
e2e_begin || exit 1
switch=${ST_DEMO_SWITCH:-auto}
if [[ $switch == auto ]]; then
	switch=$(tb_switch_auto)
	[[ $switch == bridge ]] && echo "demo: no OVS here ($(_tb_ovs_why)): using a Linux bridge"
fi
echo "demo: building the testbed (2 hypervisors with $([[ $switch == ovs ]] && echo "Open vSwitch" || echo "a Linux bridge"), 4 VMs, 300 us wire)"
TB_QUIET=1 tb_up --switch "$switch" --wire fwd --wire-delay-us 300 \
	--vms "hv1:vma:10.10.0.1 hv1:vmc:10.10.0.3 hv2:vmb:10.10.0.2 hv2:vmd:10.10.0.4" \
	--vm-opt "vmd:reply_delay_us=500" || exit 1
echo "demo: starting collector and agents"
e2e_collector || exit 1
e2e_agent hv1
e2e_agent hv2
e2e_wait_agents 2 || exit 1
echo "demo: 10 s of traffic: vma->vmb UDP, vmc->vmd TCP, vma->vmd ICMP, vmc->vma UDP (same host)"
tpids=()
tb_traffic --from vma --to vmb --proto udp --rate 500 --duration 10 >"$E2E_TMP/t1" & tpids+=($!)
tb_traffic --from vmc --to vmd --proto tcp --rate 300 --duration 10 >"$E2E_TMP/t2" & tpids+=($!)
tb_traffic --from vma --to vmd --proto icmp --rate 100 --duration 10 >"$E2E_TMP/t3" & tpids+=($!)
tb_traffic --from vmc --to vma --proto udp --rate 100 --duration 10 >"$E2E_TMP/t4" & tpids+=($!)
wait "${tpids[@]}"
e2e_stop_agents 3
echo
"$O/stagetrace" matrix -C "$E2E_QUERY" --last 10m
rc=$?
echo "demo: the same as JSON: stagetrace matrix --json; agents' health: stagetrace hosts"
"$O/stagetrace" hosts -C "$E2E_QUERY"
exit $rc
