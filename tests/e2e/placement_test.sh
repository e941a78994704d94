#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Delay injected inside a host's data path lands in the stage that contains
# it, on the right host and direction only:
#  1. NFQUEUE (br_netfilter FORWARD hook) on hv2 holding packets towards its
#     VMs for NFQ_US: the interval from the uplink receive to the tap's
#     queue is "tap_queue", so vma->vmb tap_queue ~ NFQ_US, while vmb->vma
#     (not delayed) stays small and the wire is not blamed. The upper
#     tolerance includes nfqdelay's own netlink round trip (~100 us).
#  2. A tbf qdisc on hv1's uplink, offered more than its rate: queueing
#     between net_dev_queue and the driver is "nic_tx", so vma->vmb nic_tx
#     grows to milliseconds, the reverse direction does not, and the
#     packets tbf drops are counted as drops, not as losses on the wire.
set -u
export ST_TB=${ST_TB:-e2eplace}
. "$(dirname "$0")/lib.sh"

NFQ_US=${NFQ_US:-1000}
e2e_begin || exit 1

scenario_begin() {
	E2E_DB=$E2E_TMP/$1.db
	e2e_collector || return 1
	e2e_agent hv1
	e2e_agent hv2
	e2e_wait_agents 2
}
scenario_end() {
	kill -TERM "$E2E_COLLECTOR_PID"
	wait "$E2E_COLLECTOR_PID" 2>/dev/null
	TB_QUIET=1 tb_down
}

# --- 1. NFQUEUE on hv2, towards the VMs -------------------------------------
TB_QUIET=1 tb_up --wire veth --nfq-delay "hv2:$NFQ_US:to-vm" || exit 1
scenario_begin nfq || exit 1
tb_traffic --from vma --to vmb --proto udp --rate 300 --duration 3 >"$E2E_TMP/n.json" || exit 1
e2e_stop_agents 3
M=$E2E_TMP/nfq.json
e2e_matrix --last 10m >"$M" || exit 1
[[ -n ${E2E_VERBOSE:-} ]] && "$O/stagetrace" matrix -C "$E2E_QUERY" --last 10m
tol=$(awk -v v="$NFQ_US" 'BEGIN { t = v * 0.05; if (t < 20) t = 20; print t }')
check_range "nfq: vma->vmb tap_queue p50 (NFQUEUE $NFQ_US us on hv2)" \
	"$(stage "$M" vma vmb tap_queue .p50_us)" \
	"$(awk -v a="$NFQ_US" -v t="$tol" 'BEGIN{print a-t}')" "$(awk -v a="$NFQ_US" -v t="$tol" 'BEGIN{print a+t+200}')"
check_range "nfq: vma->vmb wire p50 not blamed" "$(stage "$M" vma vmb wire .p50_us)" 0 100
check_range "nfq: vmb->vma tap_queue p50 undelayed" "$(stage "$M" vmb vma tap_queue .p50_us)" 0 100
check_range "nfq: match rate" "$(cell "$M" vma vmb .match_rate)" 0.99 1
scenario_end

# --- 2. tbf on hv1's uplink ----------------------------------------------------
# 1 Mbit/s, one-packet burst, 20 ms of queue: 2000 UDP requests/s of
# ~110-byte frames offer ~1.8 Mbit/s, so the queue fills and tbf drops.
TB_QUIET=1 tb_up --wire veth --tbf 1mbit/1600/20ms || exit 1
scenario_begin tbf || exit 1
tb_traffic --from vma --to vmb --proto udp --rate 2000 --duration 3 >"$E2E_TMP/t.json"
e2e_stop_agents 3
M=$E2E_TMP/tbf.json
e2e_matrix --last 10m >"$M" || exit 1
[[ -n ${E2E_VERBOSE:-} ]] && "$O/stagetrace" matrix -C "$E2E_QUERY" --last 10m
check_range "tbf: vma->vmb nic_tx p50 (uplink queueing)" "$(stage "$M" vma vmb nic_tx .p50_us)" 2000 60000
check_range "tbf: vma->vmb nic_tx share of the time" "$(stage "$M" vma vmb nic_tx .share)" 0.9 1
check_range "tbf: vmb->vma nic_tx p50 (no tbf that way)" "$(stage "$M" vmb vma nic_tx .p50_us)" 0 100
check_range "tbf: drops counted on vma->vmb" "$(cell "$M" vma vmb .dropped)" 100 100000
check_range "tbf: nothing lost on the wire" "$(cell "$M" vma vmb .lost)" 0 5
scenario_end
e2e_end
