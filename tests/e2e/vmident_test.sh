#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# VM identity without --vm flags (agent/vmident.c).
#
# Testbed: vma on hv1, vmb on hv2 (vmsim behind taps). hv1's agent gets no
# --vm flag; instead a libvirt domain status file in --libvirt-dir names
# vma's tap as the interface of domain "web-1" (with its UUID), the way
# libvirt's /run/libvirt/qemu/NAME.xml does. In hv1's namespace a real
# qemu (paused, no guest) opens its own tap by name: -name guest=db-2
# -netdev tap,ifname=tapq0. hv2's agent names vmb with --vm as usual, and
# a third tap in hv1 has no VM behind it anywhere.
# Asserted:
#   - the matrix is keyed by "web-1" for vma's traffic (both directions),
#     with every packet matched;
#   - hv1's agent logs web-1's UUID and source (libvirt), db-2 for tapq0
#     from the qemu command line, and keeps the bare tap name otherwise;
#   - --no-vm-discovery turns it off (the matrix is keyed by the IP).
set -u
export ST_TB=${ST_TB:-e2evmid}
. "$(dirname "$0")/lib.sh"

UUID=6d1c2e0a-7b3f-4c55-9a1e-2f8b9c0d4e11
e2e_begin || exit 1
TB_QUIET=1 tb_up || exit 1
ns1=$(tb_ns hv1)
tapa=$(tb_vm_tap vma)
mkdir -p "$E2E_TMP/libvirt"
# The shape of a libvirt status file: <domstatus> around the live <domain>.
cat >"$E2E_TMP/libvirt/web-1.xml" <<EOF
<!--
WARNING: THIS IS AN AUTO-GENERATED FILE. CHANGES TO IT ARE LIKELY TO BE
OVERWRITTEN AND LOST.
-->
<domstatus state='running' reason='booted' pid='4242'>
  <domain type='kvm' id='3'>
    <name>web-1</name>
    <uuid>$UUID</uuid>
    <devices>
      <interface type='bridge'>
        <mac address='52:54:00:aa:bb:01'/>
        <source bridge='br0'/>
        <target dev="$tapa"/>
        <model type='virtio'/>
        <alias name='net0'/>
      </interface>
    </devices>
  </domain>
</domstatus>
EOF

ip netns exec "$ns1" qemu-system-x86_64 -name guest=db-2,debug-threads=on -uuid "$UUID" \
	-netdev tap,id=hostnet0,ifname=tapq0,script=no,downscript=no \
	-device virtio-net-pci,netdev=hostnet0 -nodefaults -display none -monitor none \
	-S -m 64 >"$E2E_TMP/qemu.log" 2>&1 &
E2E_PIDS+=("$!")
ip -n "$ns1" tuntap add dev tapz mode tap
for i in $(seq 50); do
	ip -n "$ns1" link show tapq0 >/dev/null 2>&1 && break
	sleep 0.1
done
check "qemu opened tapq0 in hv1" ip -n "$ns1" link show tapq0 >/dev/null

e2e_collector || exit 1
"$O/stagetrace-agent" --netns "$ns1" --host hv1 --uplink eth0 -C "$E2E_INGEST" \
	"${E2E_AGENT_TLS[@]}" --libvirt-dir "$E2E_TMP/libvirt" >>"$E2E_TMP/agent-hv1.log" 2>&1 &
E2E_PIDS+=("$!")
E2E_AGENT_hv1_PID=$!
e2e_agent hv2
e2e_wait_agents 2 || exit 1
# Traffic once hv1's agent has named the tap (its first device scan).
for i in $(seq 100); do
	grep -q "tap $tapa: VM web-1" "$E2E_TMP/agent-hv1.log" && break
	sleep 0.1
done
tb_traffic --from vma --to vmb --proto udp --rate 200 --duration 2 >"$E2E_TMP/t.json" || exit 1
e2e_stop_agents 3
e2e_matrix --last 10m >"$E2E_TMP/m.json" || exit 1
sent=$(jq .sent "$E2E_TMP/t.json")
check_range "web-1 -> vmb matched (of $sent sent)" "$(cell "$E2E_TMP/m.json" web-1 vmb .count)" \
	$((sent * 99 / 100)) "$sent"
check_range "vmb -> web-1 matched" "$(cell "$E2E_TMP/m.json" vmb web-1 .count)" \
	$((sent * 99 / 100)) "$sent"
check "no cell keyed by vma's tap or IP" \
	test -z "$(jq -r --arg t "$tapa" '.cells[] | select(.src == $t or .src == "10.10.0.1") | .src' "$E2E_TMP/m.json")"
log=$E2E_TMP/agent-hv1.log
check "agent: $tapa is web-1 with its UUID, from libvirt" \
	grep -q "tap $tapa: VM web-1 uuid $UUID (from libvirt)" "$log"
check "agent: tapq0 is db-2, from the qemu command line" \
	grep -q "tap tapq0: VM db-2 uuid $UUID (from qemu)" "$log"
check "agent: tapz (no VM known) keeps its device name" \
	bash -c "! grep -q 'tap tapz: VM' '$log'"

# The same without discovery: vma is known by its address only.
"$O/stagetrace-agent" --netns "$ns1" --host hv1 --uplink eth0 -C "$E2E_INGEST" \
	"${E2E_AGENT_TLS[@]}" --libvirt-dir "$E2E_TMP/libvirt" --no-vm-discovery \
	>>"$E2E_TMP/agent-hv1b.log" 2>&1 &
E2E_PIDS+=("$!")
E2E_AGENT_hv1_PID=$!
e2e_agent hv2
# Traffic once both new agents have attached ("tracing:" is logged after
# attach; hv2's log is appended to, so its second one). A fixed sleep 2 was
# shorter than a BPF load on a loaded machine: no packets, no tap cell.
e2e_wait_traced "$E2E_TMP/agent-hv2.log" hv2 2
e2e_wait_traced "$E2E_TMP/agent-hv1b.log" hv1
tb_traffic --from vma --to vmb --proto udp --rate 200 --duration 1 >/dev/null || exit 1
e2e_stop_agents 3
check "--no-vm-discovery: no web-1 from hv1's agent" \
	bash -c "! grep -q 'VM web-1' '$E2E_TMP/agent-hv1b.log'"
check "--no-vm-discovery: vma's tap named by its device in the matrix" \
	test -n "$(e2e_matrix --last 10m | jq -r --arg t "$tapa" '.cells[] | select(.src == $t) | .src')"
e2e_end
