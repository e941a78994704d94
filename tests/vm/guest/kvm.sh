#!/bin/bash
# SPDX-License-Identifier: MIT
# KVM irqfd injection on a real Debian kernel (kernel-matrix guest; qemu
# -cpu max gives the guest SVM or VMX, so kvm_amd/kvm_intel load).
#
# 1. `virt kvm`: tests/tools/kvmirq creates a VM (in-kernel irqchip, one
#    vCPU, one MSI route on GSI 24) and binds an eventfd to GSI 24 with
#    KVM_IRQFD, then writes the eventfd 40 times, 5 ms apart. Asserted:
#    exactly 40 wakeups for (kvmirq's pid, GSI 24); inline + deferred
#    injections = 40; 40 injection events; 40 eventfd->inject latencies in
#    the histograms, every one positive; the irqfd_wakeup hook attached.
#    Then the same without a vCPU (no APIC map: KVM defers every injection
#    to irqfd_inject in a kworker), 10 writes: 10 wakeups, deferred +
#    coalesced = 10, none inline, two kvm:kvm_set_irq per deferred one.
# 2. `latency --path tap-to-irq`: vhostnet plays a virtio-net device on
#    tap tapk through /dev/vhost-net with its RX call eventfd bound to GSI
#    25 by kvmirq, a vmsim VM on tap tapm echoes 20 datagrams across a
#    bridge; each answer goes tun_net_xmit -> handle_rx ->
#    vhost_add_used_and_signal_n -> eventfd_signal -> irqfd_wakeup ->
#    injection. Asserted: the packets of all path records sum to the 20
#    answers (signals may cover several packets: packets per signal summed),
#    every record is attributed to GSI 25 of kvmirq's VM, and every
#    record's stamps increase along the path.
. "$ST_VM_REPO/tests/vm/guest-lib.sh"
. "$ST_VM_REPO/tests/vm/kvm-jq.sh"
T=/tmp/kvmt
mkdir -p "$T"
PIDS=()
vm_trap_cleanup "$T" brk tapk tapm

# The commands' entry points: `virt kvm`; `latency --path tap-to-irq` once
# the latency dispatcher is merged, this branch's alias before. Arrays, not
# shell functions: a background function is a subshell, and a signal sent
# to it would not reach the tracer.
VIRT_KVM=("$ST" virt kvm)
TAP_IRQ=("$ST" latency --path tap-to-irq)

# wait_lines FILE N: until FILE has N lines (30 s at most).
wait_lines() {
	local i
	for i in $(seq 300); do
		[[ $(wc -l <"$1" 2>/dev/null || echo 0) -ge $2 ]] && return 0
		sleep 0.1
	done
	return 1
}

if grep -qw svm /proc/cpuinfo; then kmod=kvm_amd; else kmod=kvm_intel; fi
vm_modprobe kvm "$kmod" || { vm_fail kvm-modules "modprobe kvm $kmod"; exit 1; }
[[ -c /dev/kvm ]] || { vm_fail kvm-dev "no /dev/kvm after modprobe kvm $kmod"; exit 1; }

# ---- 1. virt kvm: 40 eventfd writes -> 40 injections on GSI 24 ------------
"${VIRT_KVM[@]}" --json -v -i 1 -d 60 >"$T/kvm.json" 2>"$T/kvm.err" &
tracer=$!
PIDS+=($tracer)
wait_lines "$T/kvm.json" 1 || { vm_fail kvm-start "virt kvm printed nothing: $(tail -5 "$T/kvm.err")"; exit 1; }
r=$("$O/tests/tools/kvmirq" --gsi 24 --writes 40 --gap-us 5000)
echo "guest: kvmirq: $r"
vmpid=$(jq .pid <<<"$r")
# Then without a vCPU: no APIC map for the fast path, so KVM defers.
rd=$("$O/tests/tools/kvmirq" --gsi 27 --writes 10 --gap-us 5000 --no-vcpu)
echo "guest: kvmirq --no-vcpu: $rd"
vmpid_d=$(jq .pid <<<"$rd")
sleep 1.5
kill -INT "$tracer"
timeout 20 tail --pid="$tracer" -f /dev/null
K=$T/kvm.json
kvm_show "$K"
ok=$(kvm_hook "$K" irqfd_wakeup status)
vm_check kvm-hook-irqfd_wakeup "irqfd_wakeup: $ok ($(kvm_hook "$K" irqfd_wakeup method))" test "$ok" = available
w=$(kvm_irqfd_sum "$K" "$vmpid" 24 .wakeups)
vm_check kvm-wakeups "$w of 40 eventfd writes woke irqfd GSI 24 of VM $vmpid" test "$w" = 40
inj=$(kvm_irqfd_sum "$K" "$vmpid" 24 ".inline + .deferred")
inl=$(kvm_irqfd_sum "$K" "$vmpid" 24 .inline)
co=$(kvm_irqfd_sum "$K" "$vmpid" 24 .coalesced)
vm_check kvm-injections "$inj injections ($inl inline, $co coalesced) for 40 writes" test "$inj" = 40
ev=$(kvm_events "$K" "$vmpid" 24)
vm_check kvm-events "$ev injection events (-v)" test "$ev" = 40
hc=$(kvm_irqfd_sum "$K" "$vmpid" 24 .signal_to_inject.count)
p50=$(kvm_irqfd_p50 "$K" "$vmpid" 24)
pos=$(kvm_events_positive "$K" "$vmpid")
vm_check kvm-latency "$hc latencies in the histogram, $pos positive, p50 $p50 us (eventfd_write -> injection)" \
	test "$hc" = 40 -a "$pos" = 40
tail -n 12 "$T/kvm.err"

w=$(kvm_irqfd_sum "$K" "$vmpid_d" 27 .wakeups)
de=$(kvm_irqfd_sum "$K" "$vmpid_d" 27 .deferred)
co=$(kvm_irqfd_sum "$K" "$vmpid_d" 27 .coalesced)
il=$(kvm_irqfd_sum "$K" "$vmpid_d" 27 .inline)
# irqfd_inject raises and lowers the line: two kvm:kvm_set_irq per
# injection (the VM with a vCPU injects inline: none there).
tp=$(kvm_counter "$K" tp_kvm_set_irq)
hc=$(kvm_irqfd_sum "$K" "$vmpid_d" 27 .signal_to_inject.count)
p50=$(kvm_irqfd_p50 "$K" "$vmpid_d" 27)
vm_check kvm-deferred "$w wakeups: $de deferred + $co coalesced, $il inline; kvm:kvm_set_irq $tp (2 per injection); $hc latencies, p50 $p50 us" \
	test "$w" = 10 -a "$((de + co))" = 10 -a "$il" = 0 -a "$tp" = "$((2 * de))" -a "$hc" = "$de" -a "$de" -ge 1

# ---- 2. latency --path tap-to-irq: vhost RX ring -> irqfd GSI 25 ----------
vm_modprobe tun vhost_net bridge || { vm_fail kvm-path-modules "modprobe tun vhost_net bridge"; exit 1; }
ip tuntap add dev tapk mode tap vnet_hdr || exit 1
ip tuntap add dev tapm mode tap || exit 1
ip link add brk type bridge forward_delay 0 stp_state 0 || exit 1
# No IPv6: router/neighbour solicitations would be extra frames in the ring.
for d in tapk tapm brk; do sysctl -qw "net.ipv6.conf.$d.disable_ipv6=1"; done
for t in tapk tapm; do ip link set "$t" master brk && ip link set "$t" up || exit 1; done
ip link set brk up
"$O/tests/tools/vmsim" --tap tapm --mac 02:00:0a:0b:00:01 --ip 10.11.0.1/24 --ctl-listen "$T/m.sock" \
	--pidfile "$T/m.ready" --quiet >"$T/vmm.log" 2>&1 &
PIDS+=($!)
for i in $(seq 100); do [[ -e $T/m.ready ]] && break; sleep 0.1; done
"${TAP_IRQ[@]}" --dev tapk --json -v -i 1 -d 80 >"$T/path.json" 2>"$T/path.err" &
tracer=$!
PIDS+=($tracer)
wait_lines "$T/path.json" 1 || { vm_fail kvm-path-start "latency --path printed nothing: $(tail -5 "$T/path.err")"; exit 1; }
out=$("$O/tests/tools/kvmirq" --gsi 25 -- "$O/tests/tools/vhostnet" --tap tapk --mac 02:00:0a:0b:00:02 \
	--ip 10.11.0.2 --peer 10.11.0.1 --peer-mac 02:00:0a:0b:00:01 --dport 7002 --count 20 --call-fd 3)
echo "guest: kvmirq + vhostnet: $out"
vn=$(grep echo_ok <<<"$out")
vmpid=$(grep eventfd_count <<<"$out" | jq .pid)
rcv=$(jq .received <<<"$vn")
sleep 1.5
kill -INT "$tracer"
timeout 20 tail --pid="$tracer" -f /dev/null
jq -M -c 'select(.type == "path")' "$T/path.json" | head -3
jq -M -c 'select(.type == "interval" and .packets > 0) | del(.hooks) | del(.latency)' "$T/path.json"
vm_check kvm-path-echo "$(jq .echo_ok <<<"$vn") of 20 answers in the RX virtqueue, $rcv frames in all" \
	test "$(jq .echo_ok <<<"$vn")" = 20
recs=$(jq -s '[.[] | select(.type == "path")] | length' "$T/path.json")
sig=$(jq -s '[.[] | select(.type == "interval") | .signals] | add // 0' "$T/path.json")
bsum=$(jq -s '[.[] | select(.type == "path") | 1 / .batch] | add // 0 | round' "$T/path.json")
vm_check kvm-path-records "$recs path records for the $rcv frames vhost put in the RX ring; $sig interrupts covering $bsum batches" \
	test "$recs" = "$rcv" -a "$sig" = "$bsum" -a "$sig" -ge 1
attr=$(jq -s '[.[] | select(.type == "path" and .gsi == 25 and .vm_pid == '"$vmpid"' and .dev == "tapk")] | length' "$T/path.json")
vm_check kvm-path-gsi "$attr of $recs records attributed to tapk -> GSI 25 of VM $vmpid" test "$attr" = "$recs"
mono=$(jq -s '[.[] | select(.type == "path") | .ts_ns | select(.tun_net_xmit <= .vhost_used and .vhost_used <= .eventfd_signal and .eventfd_signal <= .irqfd_wakeup and .irqfd_wakeup <= .inject)] | length' "$T/path.json")
tot=$(jq -s '[.[] | select(.type == "interval") | .latency.total.p50_us // empty] | max' "$T/path.json")
vm_check kvm-path-order "$mono of $recs records: tun_net_xmit <= vhost used <= eventfd_signal <= irqfd_wakeup <= injection (p50 total $tot us)" \
	test "$mono" = "$recs"
unj=$(jq -s '[.[] | select(.type == "interval") | .unjoined | .used_without_xmit + .unsignalled + .events] | add // 0' "$T/path.json")
vm_check kvm-path-joined "$unj packets not joined or lost" test "$unj" = 0

exit 0
