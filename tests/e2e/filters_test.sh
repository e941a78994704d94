#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The agents' header filters work in BPF, before any per-packet work:
# agents told --proto udp --dst-ip 10.10.0.2/32 --dport 7000 trace the UDP
# requests to vmb's port 7000 and nothing else (no replies, no TCP, no
# ICMP, no other port), and say how much they filtered out.
set -u
export ST_TB=${ST_TB:-e2efilt}
. "$(dirname "$0")/lib.sh"

e2e_begin || exit 1
TB_QUIET=1 tb_up --wire veth || exit 1
e2e_collector || exit 1
F=(--proto udp --dst-ip 10.10.0.2/32 --dport 7000)
e2e_agent hv1 "${F[@]}"
e2e_agent hv2 "${F[@]}"
e2e_wait_agents 2 || exit 1
tb_traffic --from vma --to vmb --proto udp --dport 7000 --rate 400 --duration 2 >"$E2E_TMP/u.json" || exit 1
tb_traffic --from vma --to vmb --proto udp --dport 7001 --rate 200 --duration 1 >/dev/null || exit 1
tb_traffic --from vma --to vmb --proto tcp --dport 7000 --rate 200 --duration 1 >/dev/null || exit 1
tb_traffic --from vma --to vmb --proto icmp --rate 200 --duration 1 >/dev/null || exit 1
e2e_stop_agents 3
M=$E2E_TMP/m.json
e2e_matrix --last 10m >"$M" || exit 1
sent=$(jq .sent "$E2E_TMP/u.json")
check "only the vma->vmb cell exists" \
	test "$(jq -r '[.cells[] | "\(.src)>\(.dst)"] | join(",")' "$M")" = "vma>vmb"
check_range "vma->vmb holds exactly the UDP requests to port 7000" \
	"$(cell "$M" vma vmb .count)" "$sent" "$sent"
"$O/stagetrace" hosts -C "$E2E_QUERY" --json >"$E2E_TMP/h.json"
check_range "agents counted what their header filter dropped" \
	"$(jq '[.hosts[].counters.bpf_filtered_l34] | add' "$E2E_TMP/h.json")" 1000 100000000
e2e_end
