#!/bin/bash
# SPDX-License-Identifier: MIT
# stagetrace drops --ovs on a real Debian kernel (kernel-matrix guest): the
# OVS set-up of ovs.sh plus one OpenFlow rule that drops vma's UDP to port
# 7009. vma sends 1 + 5 datagrams to 7009 (the first is the flow miss
# ovs-vswitchd answers by installing the drop flow; the 5 hits are dropped
# by the datapath) and 5 to 7000 (forwarded, answered) while
# `drops --ovs -v --json` runs.
# Asserted where the kernel has OVS drop reasons (enum ovs_drop_reason in
# the module's BTF, Linux 6.4 and later): exactly 5 drops, each with an
# OVS_DROP_* reason named from the module's BTF, located in the
# openvswitch module, for the flow to port 7009; none for port 7000. On
# older kernels (6.1) the datapath frees such packets with consume_skb: no
# drop event exists to see, so the test says SKIP with that reason after
# checking the command ran and saw no OVS drop.
. "$ST_VM_REPO/tests/vm/guest-lib.sh"
. "$REPO/tests/vm/guest/dp-lib.sh"
vm_modprobe openvswitch tun || { vm_fail ovsdrop-modules "modprobe openvswitch tun"; exit 1; }
dp_ovs_up || { vm_fail ovsdrop-setup "OVS userspace"; exit 1; }
# Above the port-to-port rules (default priority 32768).
ovs-ofctl add-flow br0 priority=40000,udp,in_port=tapa,tp_dst=7009,actions=drop || { vm_fail ovsdrop-setup "drop rule"; exit 1; }
dp_vms || { vm_fail ovsdrop-setup "vmsim"; exit 1; }
w=$(dp_traffic 2)
vm_check ovsdrop-warmup "vma->vmb over OVS: $w" test "$(jq .received <<<"$w")" = 2

"$ST" drops --ovs -v --json -i 1 >"$T/drops.json" 2>"$T/drops.err" &
DR=$!
DP_PIDS+=("$DR")
for i in $(seq 300); do
	grep -q '"type":"interval"' "$T/drops.json" 2>/dev/null && break
	sleep 0.2
done
# The first datagram of the flow misses the megaflow cache: ovs-vswitchd
# decides "drop" and installs the flow without executing the packet, and
# the kernel's copy is freed as consumed after the upcall. Only the hits
# that follow are dropped by the datapath: prime the flow, then count 5.
p=$("$VMSIM" --ctl "$T/a.sock" traffic peer=10.9.0.2 proto=udp count=1 rate=50 dport=7009 \
	sport=40001 wait_ms=300)
sleep 0.5
d=$("$VMSIM" --ctl "$T/a.sock" traffic peer=10.9.0.2 proto=udp count=5 rate=50 dport=7009 \
	sport=40001 wait_ms=300)
n=$(dp_traffic 5)
sleep 2
kill -INT "$DR"
timeout 20 tail --pid="$DR" -f /dev/null
vm_check ovsdrop-traffic "to 7009: 1+$(jq -c '{sent, received}' <<<"$d") (dropped), to 7000: $(jq -c '{sent, received}' <<<"$n")" \
	test "$(jq .received <<<"$p")" = 0 -a "$(jq .received <<<"$d")" = 0 -a "$(jq .received <<<"$n")" = 5
head -c 400 "$T/drops.err"
ev=$(jq -s -c '[.[] | select(.type == "event")]' "$T/drops.json")
echo "guest: drops --ovs events: $(jq -c '[.[] | {reason, location, dport}]' <<<"$ev" | cut -c1-900)"
tot=$(jq -s '[.[] | select(.type == "interval") | .total] | add // 0' "$T/drops.json")
if bpftool btf dump file /sys/kernel/btf/openvswitch -B /sys/kernel/btf/vmlinux 2>/dev/null |
	grep -q "ENUM 'ovs_drop_reason'"; then
	vm_check ovsdrop-count "$(jq length <<<"$ev") drop events, interval totals $tot (want 5 each)" \
		test "$(jq length <<<"$ev")" = 5 -a "$tot" = 5
	vm_check ovsdrop-reason "reasons $(jq -r '[.[].reason] | unique | join(",")' <<<"$ev")" \
		jq -e 'length == 5 and all(.[]; .reason | startswith("OVS_DROP_"))' <<<"$ev" >/dev/null
	vm_check ovsdrop-location "locations $(jq -r '[.[].location] | unique | join(",")' <<<"$ev")" \
		jq -e 'all(.[]; .location | endswith("[openvswitch]"))' <<<"$ev" >/dev/null
	vm_check ovsdrop-flow "every drop is vma's UDP to 7009" \
		jq -e 'all(.[]; .dport == 7009 and .src == "10.9.0.1")' <<<"$ev" >/dev/null
else
	vm_check ovsdrop-none-visible "no OVS drop seen ($tot)" test "$tot" = 0
	vm_skip ovsdrop-count "$(uname -r): the datapath frees packets of a drop rule with consume_skb (OVS drop reasons came with Linux 6.4): nothing to see"
fi
exit 0
