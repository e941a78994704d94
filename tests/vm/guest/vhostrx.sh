#!/bin/bash
# SPDX-License-Identifier: MIT
# vhost-net RX and KVM interrupt injection as stages (kernel-matrix guest).
# tests/tools/vhostnet plays a virtio-net device on tap tapr through
# /dev/vhost-net; tests/tools/kvmirq creates a real KVM VM and binds
# vhostnet's RX call eventfd to GSI 26 with KVM_IRQFD, so vhost's signal
# really injects an MSI. A vmsim VM on tap tapq echoes 20 datagrams across
# a bridge; each answer is read from tapr by the vhost worker in handle_rx
# (vm_rx), published in the RX used ring (vhost_add_used_and_signal_n:
# vhost_rx) and notified (irqfd_wakeup: irq_inject). The local
# `stagetrace latency --vm tapr -v --json` loads the agent's stage programs.
# Asserted: the four hooks attach (tests/vm/guest/probes.sh forces the
# kprobe alternatives); exactly 20 to_vm paths end vm_rx -> vhost_rx
# -> irq_inject, delivered, with stamps increasing along the path, the
# irq_inject stamp carrying GSI 26; the distinct interrupts the paths
# share plus the held/injected counters agree (packets per interrupt sum to
# 20; interrupts seen <= the kernel's kvm:kvm_msi_set_irq count, the
# difference at most the non-traced frames vhost received); nothing timed
# out or lost.
# Tracers and tools loading BPF by real load under emulation: minutes of
# guest time on a loaded host.
# vm-test-timeout: 600
. "$ST_VM_REPO/tests/vm/guest-lib.sh"
T=/tmp/vhostrx
mkdir -p "$T"
PIDS=()
vm_trap_cleanup "$T" brr tapr tapq
N=20
GSI=26

if grep -qw svm /proc/cpuinfo; then kmod=kvm_amd; else kmod=kvm_intel; fi
vm_modprobe kvm "$kmod" tun vhost_net bridge ||
	{ vm_fail vhostrx-modules "modprobe kvm $kmod tun vhost_net bridge"; exit 1; }
[[ -c /dev/kvm && -c /dev/vhost-net ]] || { vm_fail vhostrx-dev "no /dev/kvm or /dev/vhost-net"; exit 1; }

ip tuntap add dev tapr mode tap vnet_hdr || exit 1
ip tuntap add dev tapq mode tap || exit 1
ip link add brr type bridge forward_delay 0 stp_state 0 || exit 1
for d in tapr tapq brr; do sysctl -qw "net.ipv6.conf.$d.disable_ipv6=1"; done
for t in tapr tapq; do ip link set "$t" master brr && ip link set "$t" up || exit 1; done
ip link set brr up
"$O/tests/tools/vmsim" --tap tapq --mac 02:00:0a:0c:00:01 --ip 10.12.0.1/24 --ctl-listen "$T/q.sock" \
	--pidfile "$T/q.ready" --quiet >"$T/vmq.log" 2>&1 &
PIDS+=($!)
for i in $(seq 100); do [[ -e $T/q.ready ]] && break; sleep 0.1; done

# The kernel's own count of MSI injections: kvm:kvm_msi_set_irq (tracefs).
TR=/sys/kernel/tracing
mountpoint -q "$TR" || mount -t tracefs nodev "$TR" || { vm_fail vhostrx-tracefs "cannot mount tracefs"; exit 1; }
echo 0 >"$TR/tracing_on"
echo >"$TR/trace"
echo 1 >"$TR/events/kvm/kvm_msi_set_irq/enable" || { vm_fail vhostrx-tracefs "no kvm:kvm_msi_set_irq"; exit 1; }

"$ST" latency --vm tapr --proto udp -v --json >"$T/lat.out" 2>"$T/lat.err" &
LAT=$!
PIDS+=($LAT)
for i in $(seq 300); do
	grep -q '"type":"hooks"' "$T/lat.out" && break
	kill -0 "$LAT" 2>/dev/null || break
	sleep 0.2
done
grep -q '"type":"hooks"' "$T/lat.out" || { vm_fail vhostrx-start "$(tail -3 "$T/lat.err")"; exit 1; }
echo 1 >"$TR/tracing_on"
out=$("$O/tests/tools/kvmirq" --gsi "$GSI" -- "$O/tests/tools/vhostnet" --tap tapr --mac 02:00:0a:0c:00:02 \
	--ip 10.12.0.2 --peer 10.12.0.1 --peer-mac 02:00:0a:0c:00:01 --dport 7003 --count "$N" --call-fd 3)
echo 0 >"$TR/tracing_on"
echo 0 >"$TR/events/kvm/kvm_msi_set_irq/enable"
echo "guest: kvmirq + vhostnet: $out"
vn=$(grep echo_ok <<<"$out")
rcv=$(jq .received <<<"$vn")
sigs=$(grep -c 'kvm_msi_set_irq:' "$TR/trace")
echo >"$TR/trace"
sleep 1.6	# past the path timeout: nothing in flight
kill -INT "$LAT"
timeout 20 tail --pid="$LAT" -f /dev/null
vm_check vhostrx-echo "$(jq .echo_ok <<<"$vn") of $N answers in the RX virtqueue, $rcv frames, $sigs MSI injections (kvm:kvm_msi_set_irq)" \
	test "$(jq .echo_ok <<<"$vn")" = "$N"

J() { jq -s "$1" "$T/lat.out"; }
for h in handle_rx vhost_add_used_and_signal_n irqfd_wakeup handle_rx_exit; do
	st=$(J "[.[] | select(.type == \"hooks\") | .hooks[] | select(.hook == \"$h\")][0] | \"\(.status) \(.method)\"")
	vm_check "vhostrx-hook-$h" "$st" test "${st%% *}" = '"attached'
done
grep -q 'loading the stage programs failed' "$T/lat.err" && grep -v '^debug' "$T/lat.err" | tail -40
P='.[] | select(.type == "packet" and .dir == "to_vm")'
J "[$P] | .[0]" | jq -M -c .
tail3='[.stages[-3:][].stage] == ["vm_rx", "vhost_rx", "irq_inject"]'
n=$(J "[$P | select(.end == \"delivered\" and $tail3)] | length")
vm_check vhostrx-paths "$n of $N answers' paths end vm_rx -> vhost_rx -> irq_inject" test "$n" = "$N"
ids=$(J "[$P | select($tail3) | .pkt_id] | unique | length")
vm_check vhostrx-ids "$ids distinct packet ids" test "$ids" = "$N"
mono=$(J "[$P | select([.stages[].ts_ns] as \$t | [range(1; \$t | length) | select(\$t[.] < \$t[. - 1])] | length == 0)] | length")
vm_check vhostrx-monotonic "$mono of $N paths with stamps increasing along the path" test "$mono" = "$N"
g=$(J "[$P | .stages[] | select(.stage == \"irq_inject\") | .aux] | unique")
vm_check vhostrx-gsi "irq_inject GSIs: $(jq -c . <<<"$g")" test "$(jq -c . <<<"$g")" = "[$GSI]"
# One interrupt covers every packet the worker published before it: the
# paths of a batch share the irq_inject stamp.
inj=$(J "[$P | .stages[] | select(.stage == \"irq_inject\") | .ts_ns] | unique | length")
bat=$(J "[$P | .stages[] | select(.stage == \"irq_inject\") | .ts_ns] | group_by(.) | map(length)")
cnt=$(J '[.[] | select(.type == "interval") | .bpf] | reduce .[] as $c ({}; reduce ($c | keys[]) as $k (.; .[$k] += $c[$k]))')
echo "guest: bpf counters: $(jq -c . <<<"$cnt")"
c_inj=$(jq .irq_injections <<<"$cnt")
c_held=$(jq .vhost_rx_held <<<"$cnt")
c_ok=$(jq .vhost_rx_injected <<<"$cnt")
vm_check vhostrx-batches "$inj interrupts for $N packets (per interrupt: $(jq -c . <<<"$bat")); counted: $c_inj interrupts, $c_held held, $c_ok injected; kvm:kvm_msi_set_irq $sigs for $rcv frames" \
	test "$(jq add <<<"$bat")" = "$N" -a "$inj" = "$c_inj" -a "$c_held" = "$N" -a "$c_ok" = "$N" \
	-a "$inj" -ge 1 -a "$inj" -le "$sigs" -a "$((sigs - inj))" -le "$((rcv - N))"
l=$(J '[.[] | select(.type == "interval") | .unmatched.timed_out + .lost.ringbuf_full + .lost.path_map_full + .bpf.vhost_rx_path_gone + .bpf.vhost_rx_hold_full] | add')
s=$(J '[.[] | select(.type == "interval") | .bpf.vhost_rx_signal_suppressed + .bpf.vhost_rx_not_used] | add')
vm_check vhostrx-nothing-lost "timed out or lost: $l; emitted without interrupt: $s" test "$l" = 0 -a "$s" = 0
exit 0
