#!/bin/bash
# SPDX-License-Identifier: MIT
# Guest virtio-net stages: the agent runs INSIDE a VM (this guest) with a
# real virtio-net NIC (qemu -nic user,model=virtio-net-pci, tests/vm/run.sh
# gives it when this test runs; slirp behind it, gateway 10.0.2.2, IPv6
# off, so nothing arrives unasked).
#
# Traffic, as in virtio.sh: 20 TCP connects to 10.0.2.2 port 1, which
# slirp refuses with a RST: 20 SYNs out, 20 RSTs in over the virtio NIC.
# The agent (--uplink DEV, TCP to/from 10.0.2.2 port 1 only) ships its
# host paths to a collector in the guest. Asserted:
#  - the three virtio hooks attach with their first method (fentry, fentry,
#    fexit), and their second (kprobe, kprobe, kretprobe) when forced: the
#    real programs load and attach;
#  - exactly 20 paths guest -> 10.0.2.2, each ending at virtio_tx (the
#    driver's start_xmit returned) after nic_tx;
#  - exactly 20 paths 10.0.2.2 -> guest, each beginning with virtio_irq
#    (RX interrupt callback) then virtio_poll (NAPI run) then nic_rx: the
#    stage virtio_poll (interrupt -> poll) exists only when virtio_irq
#    opened the path, so its count is the number of such paths;
#  - every stored path's stages are in that order with no negative
#    interval (monotonic stamps), one packet id per path;
#  - the agent's counters of unattributed guest stamps are shown.
. "$ST_VM_REPO/tests/vm/guest-lib.sh"
. "$REPO/tests/vm/guest/dp-lib.sh"
N=20
vm_modprobe virtio_net || { vm_fail gv-module "modprobe virtio_net"; exit 1; }
dev=
for _ in $(seq 50); do
	for d in /sys/class/net/*; do
		[[ $(basename "$(readlink -f "$d/device/driver" 2>/dev/null)") == virtio_net ]] && dev=$(basename "$d")
	done
	[[ -n $dev ]] && break
	sleep 0.1
done
[[ -n $dev ]] || { vm_fail gv-nic "no virtio-net device (qemu -nic user,model=virtio-net-pci missing?)"; exit 1; }
ip link set "$dev" up
ip addr replace 10.0.2.15/24 dev "$dev"
sleep 0.5

# Attach plans: first and second alternative of each virtio hook.
AG=$O/stagetrace-agent
vsel='.[] | select(.stage | test("^virtio_"))'
out=$("$AG" --probes --json 2>"$T/probes.err")
echo "guest: plan: $(jq -c "[$vsel | .stage + \"=\" + (.method // \"-\") + \" \" + .status]" <<<"$out")"
n=$(jq "[$vsel | select(.status == \"attached\")] | length" <<<"$out")
m=$(jq -r "[$vsel | .method // \"-\"] | join(\",\")" <<<"$out")
vm_check gv-attach "$n/3 virtio hooks attached by $m" test "$n" = 3 -a "$m" = fentry,fentry,fexit
for fm in kprobe kretprobe; do
	out=$("$AG" --probes --json --force-method "$fm" 2>"$T/probes.err")
	att=$(jq -c "[$vsel | select(.status == \"attached\" and .method == \"$fm\") | .stage + \"@\" + .symbol]" <<<"$out")
	want=$([[ $fm == kprobe ]] && echo 2 || echo 1)
	vm_check "gv-force-$fm" "$(jq length <<<"$att")/$want virtio hooks attached: $att" \
		test "$(jq length <<<"$att")" = "$want"
done

dp_collector || { vm_fail gv-setup "collector"; exit 1; }
"$AG" -C tcp://127.0.0.1:17730 --insecure-plaintext --host guest --uplink "$dev" \
	--proto tcp --dst-ip 10.0.2.2/32 --dport 1 --either-direction --flush-ms 100 \
	--metrics http://127.0.0.1:17739 >"$T/agent.log" 2>&1 &
DP_AGENT=$!
DP_PIDS+=($!)
for _ in $(seq 300); do
	grep -q "tracing:" "$T/agent.log" && break
	kill -0 "$DP_AGENT" 2>/dev/null || break
	sleep 0.2
done
grep -q "tracing:" "$T/agent.log" || { vm_fail gv-agent "agent did not start: $(grep -v '^debug' "$T/agent.log" | tail -5)"; exit 1; }
sleep 2.5	# past the agent's first device rescan
tx0=$(cat "/sys/class/net/$dev/statistics/tx_packets")
rx0=$(cat "/sys/class/net/$dev/statistics/rx_packets")
for _ in $(seq $N); do
	timeout 3 bash -c "exec 3<>/dev/tcp/10.0.2.2/1" 2>/dev/null
done
sleep 1.5
echo "guest: driver counters: tx_packets +$(($(cat "/sys/class/net/$dev/statistics/tx_packets") - tx0)), rx_packets +$(($(cat "/sys/class/net/$dev/statistics/rx_packets") - rx0))"
met=$(curl -s http://127.0.0.1:17739/metrics 2>/dev/null | grep -E 'bpf_(virtio|paths|stamps)' | tr '\n' ' ')
echo "guest: agent counters: $met"
dp_agent_stop

mx=$(dp_matrix)
jq -M -c '.cells[] | {src, dst, count, stages: [.stages[]? | {stage, count, p50_us}]}' <<<"$mx"
cell() { jq --arg s "$1" --arg d "$2" '[.cells[] | select(.src == $s and .dst == $d) | .count] | add // 0' <<<"$mx"; }
vm_check gv-tx-paths "$(cell 10.0.2.15 10.0.2.2) of $N SYN paths guest -> 10.0.2.2" test "$(cell 10.0.2.15 10.0.2.2)" = $N
vm_check gv-rx-paths "$(cell 10.0.2.2 10.0.2.15) of $N RST paths 10.0.2.2 -> guest" test "$(cell 10.0.2.2 10.0.2.15)" = $N
n=$(dp_stage_count "$mx" 10.0.2.15 10.0.2.2 virtio_tx)
p50=$(jq '[.cells[] | select(.src == "10.0.2.15") | .stages[]? | select(.stage == "virtio_tx") | .p50_us][0]' <<<"$mx")
vm_check gv-stage-virtio_tx "$n of $N TX paths end at virtio_tx (nic_tx -> virtio_tx p50 $p50 us)" test "$n" = $N
n=$(dp_stage_count "$mx" 10.0.2.2 10.0.2.15 virtio_poll)
p50=$(jq '[.cells[] | select(.src == "10.0.2.2") | .stages[]? | select(.stage == "virtio_poll") | .p50_us][0]' <<<"$mx")
vm_check gv-stage-virtio_irq "$n of $N RX paths open at virtio_irq (irq -> poll p50 $p50 us)" test "$n" = $N
n=$(dp_stage_count "$mx" 10.0.2.2 10.0.2.15 nic_rx)
p50=$(jq '[.cells[] | select(.src == "10.0.2.2") | .stages[]? | select(.stage == "nic_rx") | .p50_us][0]' <<<"$mx")
vm_check gv-stage-nic_rx "$n of $N RX paths: virtio_poll -> nic_rx (p50 $p50 us)" test "$n" = $N

# Per path: order and monotonic stamps (no negative interval).
for dir in "10.0.2.15 10.0.2.2 nic_tx,virtio_tx" "10.0.2.2 10.0.2.15 virtio_poll,nic_rx"; do
	read -r s d want <<<"$dir"
	pj=$("$ST" paths -C tcp://127.0.0.1:17731 --src "$s" --dst "$d" --slowest 100 --json)
	echo "guest: a path $s -> $d: $(jq -c '.paths[0]' <<<"$pj")"
	np=$(jq '.paths | length' <<<"$pj")
	# The guest's stages of each path, in order, must contain WANT as a
	# contiguous run at the expected end (TX) or start (RX).
	ok=$(jq --arg w "$want" '[.paths[] | [.stages[] | select(.stage != "wire" and .stage != "total") | .stage] | join(",")
		| select(if ($w | startswith("virtio_poll")) then startswith($w) else endswith($w) end)] | length' <<<"$pj")
	neg=$(jq '[.paths[] | .stages[] | select(.us < 0)] | length' <<<"$pj")
	ids=$(jq '[.paths[] | .packet_id] | unique | length' <<<"$pj")
	vm_check "gv-order-$s-$d" "$ok of $np stored paths have $want in place; $neg negative intervals; $ids distinct packet ids" \
		test "$np" = $N -a "$ok" = $N -a "$neg" = 0 -a "$ids" = $N
done
exit 0
