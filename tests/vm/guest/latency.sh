#!/bin/bash
# SPDX-License-Identifier: MIT
# The local `stagetrace latency --vm` on a real Debian kernel (kernel-matrix
# guest), where the bridge hooks attach (fentry, else kprobe): two vmsim
# "VMs" on taps tapa/tapb in one bridge (learning done before tracing),
# `latency --vm tapa -v --json` traces vma's packets only; vma sends 20 UDP
# requests that vmb answers. Asserted: br_in/br_fwd attached (with the
# method the plan chose), exactly 20 from_vm and 20 to_vm paths, every one
# carrying br_in then br_fwd after tapa's receive or before tapa's queue,
# to_vm ended by vma's read (vm_rx on tapa), from_vm ended by vmb's read,
# nothing timed out or lost, and the histogram of the bridge segment
# br_in -> br_fwd has all 20 samples per direction. Then --host: 20 UDP
# datagrams the guest sends from br0's address start at sock_tx
# (ip_send_skb), then br0's queue.
. "$ST_VM_REPO/tests/vm/guest-lib.sh"
. "$REPO/tests/vm/guest/dp-lib.sh"
vm_modprobe bridge tun || { vm_fail latency-modules "modprobe bridge tun"; exit 1; }
dp_taps || exit 1
ip link add br0 type bridge forward_delay 0 stp_state 0 || exit 1
ip link set tapa master br0 && ip link set tapb master br0 && ip link set br0 up || exit 1
dp_vms || { vm_fail latency-setup "vmsim"; exit 1; }
w=$(dp_traffic 2)
vm_check latency-warmup "vma->vmb over the bridge before tracing: $(jq -c '{sent, received}' <<<"$w")" \
	test "$(jq .received <<<"$w")" = 2

"$ST" latency --vm tapa --proto udp -v --json >"$T/lat.out" 2>"$T/lat.err" &
LAT=$!
DP_PIDS+=($LAT)
for i in $(seq 300); do
	grep -q '"type":"hooks"' "$T/lat.out" && break
	kill -0 "$LAT" 2>/dev/null || break
	sleep 0.2
done
grep -q '"type":"hooks"' "$T/lat.out" || { vm_fail latency-start "$(tail -3 "$T/lat.err")"; exit 1; }
r=$(dp_traffic 20)
sleep 1.6	# past the path timeout, so nothing is in flight
kill -INT "$LAT"
timeout 20 tail --pid="$LAT" -f /dev/null
vm_check latency-traffic "replies $(jq .received <<<"$r") of 20" test "$(jq .received <<<"$r")" = 20

J() { jq -s "$1" "$T/lat.out"; }
for h in br_handle_frame br_forward; do
	st=$(J "[.[] | select(.type == \"hooks\") | .hooks[] | select(.hook == \"$h\")][0] | \"\(.status) \(.method)\"")
	vm_check "latency-hook-$h" "$st" test "${st%% *}" = '"attached'
done
for d in from_vm to_vm; do
	n=$(J "[.[] | select(.type == \"interval\") | .dirs.$d] | add")
	vm_check "latency-$d-paths" "$n of 20" test "$n" = 20
	b=$(J "[.[] | select(.type == \"packet\" and .dir == \"$d\") |
		select([.stages[].stage | select(startswith(\"br_\"))] == [\"br_in\", \"br_fwd\"])] | length")
	vm_check "latency-$d-bridge" "$b of 20 paths with br_in then br_fwd" test "$b" = 20
	s=$(J "[.[] | select(.type == \"interval\") | .segments[] |
		select(.dir == \"$d\" and .from == \"br_in\" and .to == \"br_fwd\") | .latency.count] | add // 0")
	vm_check "latency-$d-segment" "br_in -> br_fwd histogram: $s samples" test "$s" = 20
done
e=$(J "[.[] | select(.type == \"packet\" and .dir == \"to_vm\" and .end == \"delivered\" and .stages[-1].stage == \"vm_rx\")] | length")
vm_check latency-to_vm-read "$e of 20 ended by vma's read" test "$e" = 20
e=$(J "[.[] | select(.type == \"packet\" and .dir == \"from_vm\" and .end == \"delivered\")] | length")
vm_check latency-from_vm-read "$e of 20 ended by vmb's read" test "$e" = 20
l=$(J "[.[] | select(.type == \"interval\") | .unmatched.timed_out + .lost.ringbuf_full + .lost.path_map_full] | add")
vm_check latency-nothing-lost "timed out + lost = $l" test "$l" = 0
echo "guest: a from_vm packet: $(J '[.[] | select(.type == "packet" and .dir == "from_vm")][0]' | jq -c .)"

# --host, where ip_send_skb can be hooked: the guest itself sends 20 UDP
# datagrams from br0's address to vmb (its MAC learned on tapb above):
# every tx path starts at sock_tx (the send), then br0's queue.
ip addr add 10.9.0.254/24 dev br0 || exit 1
ip neigh replace 10.9.0.2 lladdr 02:00:0a:09:00:02 dev br0 nud permanent
"$ST" latency --host --proto udp --dport 9000 -v --json >"$T/host.out" 2>"$T/host.err" &
LAT=$!
DP_PIDS+=($LAT)
for i in $(seq 300); do
	grep -q '"type":"hooks"' "$T/host.out" && break
	kill -0 "$LAT" 2>/dev/null || break
	sleep 0.2
done
"$O/tests/tools/stpkt" udp 10.9.0.2 9000 20 64 50 >/dev/null
sleep 1.6
kill -INT "$LAT"
timeout 20 tail --pid="$LAT" -f /dev/null
H() { jq -s "$1" "$T/host.out"; }
st=$(H '[.[] | select(.type == "hooks") | .hooks[] | select(.hook == "ip_send_skb")][0] | "\(.status) \(.method)"')
vm_check latency-hook-ip_send_skb "$st" test "${st%% *}" = '"attached'
n=$(H '[.[] | select(.type == "interval") | .dirs.tx] | add')
vm_check latency-host-tx-paths "$n of 20" test "$n" = 20
n=$(H '[.[] | select(.type == "packet" and .dir == "tx") | select(.stages[0].stage == "sock_tx" and .stages[1].stage == "br_queue")] | length')
vm_check latency-host-sock_tx "$n of 20 tx paths start sock_tx, br_queue" test "$n" = 20
echo "guest: a host tx packet: $(H '[.[] | select(.type == "packet" and .dir == "tx")][0]' | jq -c .)"
echo "guest: --host BPF counters: $(H '[.[] | select(.type == "interval") | .bpf] | reduce .[] as $i ({}; reduce ($i | keys[]) as $k (.; .[$k] += $i[$k]))' | jq -c .)"
exit 0
