# SPDX-License-Identifier: MIT
# `stagetrace virt kvm` on arm64 (busybox sh; run by init.sh in an arm64
# kernel-matrix guest, tests/vm/run-arm64.sh). The guest kernel runs at
# EL2 under qemu TCG, so KVM (built into Debian's arm64 kernel) offers
# /dev/kvm with a vGICv3.
#
# 1. tests/tools/kvmirq creates a VM with a vGICv3 and one (never run)
#    vCPU, routes GSI 24 to the vGIC's SPI 56 (24 + 32) and binds an
#    eventfd to GSI 24 with KVM_IRQFD, then writes the eventfd 20 times,
#    20 ms apart. Asserted: exactly 20 irqfd wakeups for (kvmirq's pid, GSI
#    24); exactly 20 injections (inline + deferred: whether the SPI is
#    injected inline by kvm_arch_set_irq_inatomic or deferred to
#    irqfd_inject depends on the kernel, the verdict says which), no
#    coalesced or failed one; 20 injection events (-v); 20
#    eventfd->injection latencies in the histogram, all positive.
# 2. The deferred path for sure: a second VM routes GSI 27 as an MSI, and
#    the VM has no ITS, so kvm_arch_set_irq_inatomic cannot translate it
#    in the writer's task and every injection is deferred to the
#    irqfd_inject work (which raises and lowers the line: two
#    kvm:kvm_set_irq per injection; kvm_set_msi then refuses it, no ITS).
#    (arm64 KVM refuses KVM_IRQFD before the vGIC is initialised, EAGAIN,
#    so x86's "no vCPU" variant does not exist here.) 10 writes: 10
#    wakeups, deferred + coalesced = 10, none inline, tracepoint = 2 x all
#    deferred injections, one latency per deferred injection.
# Which hooks attached with which method is printed and asserted for the
# three the counts depend on.
. /st/tests/lib.sh
. /st/tests/kvm-jq.sh
T=/tmp/kvmt
mkdir -p "$T"
tracer=
cleanup() {
	[ -n "$tracer" ] && kill -INT "$tracer" 2>/dev/null
}
trap cleanup EXIT

[ -c /dev/kvm ] || { vm_fail kvm-dev "no /dev/kvm: $(dmesg | grep -i kvm | tail -3)"; exit 1; }
vm_pass kvm-dev "/dev/kvm present ($(dmesg | grep -o 'VHE mode initialized successfully\|Hyp mode initialized successfully\|nVHE mode initialized successfully' | head -1))"

t0=$(cut -d' ' -f1 /proc/uptime)
"$ST" virt kvm --json -v -i 1 -d 120 >"$T/kvm.json" 2>"$T/kvm.err" &
tracer=$!
wait_lines "$T/kvm.json" 1 90 || { vm_fail kvm-start "virt kvm printed nothing: $(tail -5 "$T/kvm.err")"; exit 1; }
echo "guest: virt kvm ready after $(awk -v a="$t0" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN { print b - a }') s"

r=$("$TOOLS/kvmirq" --gsi 24 --writes 20 --gap-us 20000) || { vm_fail kvm-kvmirq "kvmirq failed: $r"; exit 1; }
echo "guest: kvmirq: $r"
vmpid=$(echo "$r" | jq .pid)
rd=$("$TOOLS/kvmirq" --gsi 27 --writes 10 --gap-us 20000 --route msi) || { vm_fail kvm-kvmirq-msi "kvmirq --route msi failed: $rd"; exit 1; }
echo "guest: kvmirq --route msi: $rd"
vmpid_d=$(echo "$rd" | jq .pid)
sleep 2
kill -INT "$tracer"
wait "$tracer"
echo "guest: virt kvm exited $?"
tracer=
tail -n 12 "$T/kvm.err"
K=$T/kvm.json
kvm_show "$K"

# The hooks the counts below depend on, and how each one attached.
for h in irqfd_wakeup kvm_arch_set_irq_inatomic irqfd_inject kvm:kvm_set_irq; do
	st=$(kvm_hook "$K" "$h" status)
	vm_check "kvm-hook-$h" "$h: $st ($(kvm_hook "$K" "$h" method))" test "$st" = available
done

w=$(kvm_irqfd_sum "$K" "$vmpid" 24 .wakeups)
vm_check kvm-wakeups "$w of 20 eventfd writes woke irqfd GSI 24 (SPI 56) of VM $vmpid" test "$w" = 20
inl=$(kvm_irqfd_sum "$K" "$vmpid" 24 .inline)
de=$(kvm_irqfd_sum "$K" "$vmpid" 24 .deferred)
co=$(kvm_irqfd_sum "$K" "$vmpid" 24 .coalesced)
path=none
[ "$de" -gt 0 ] && path=deferred
[ "$inl" -gt 0 ] && path=inline
[ "$inl" -gt 0 ] && [ "$de" -gt 0 ] && path=mixed
vm_check kvm-injections "$((inl + de)) injections for 20 writes: $inl inline, $de deferred, $co coalesced (SPI path on $(uname -r): $path)" \
	test "$((inl + de))" = 20 -a "$co" = 0
ev=$(kvm_events "$K" "$vmpid" 24)
vm_check kvm-events "$ev injection events (-v)" test "$ev" = 20
hc=$(kvm_irqfd_sum "$K" "$vmpid" 24 .signal_to_inject.count)
p50=$(kvm_irqfd_p50 "$K" "$vmpid" 24)
pos=$(kvm_events_positive "$K" "$vmpid")
vm_check kvm-latency "$hc latencies in the histogram, $pos positive, p50 $p50 us (eventfd_write -> injection)" \
	test "$hc" = 20 -a "$pos" = 20

w=$(kvm_irqfd_sum "$K" "$vmpid_d" 27 .wakeups)
de=$(kvm_irqfd_sum "$K" "$vmpid_d" 27 .deferred)
co=$(kvm_irqfd_sum "$K" "$vmpid_d" 27 .coalesced)
il=$(kvm_irqfd_sum "$K" "$vmpid_d" 27 .inline)
tp=$(kvm_counter "$K" tp_kvm_set_irq)
# The first VM's deferred injections (if its kernel defers SPIs) also
# raise and lower the line.
de1=$(kvm_irqfd_sum "$K" "$vmpid" 24 .deferred)
hc=$(kvm_irqfd_sum "$K" "$vmpid_d" 27 .signal_to_inject.count)
p50=$(kvm_irqfd_p50 "$K" "$vmpid_d" 27)
vm_check kvm-deferred "MSI route, no ITS: $w wakeups: $de deferred + $co coalesced, $il inline; kvm:kvm_set_irq $tp (2 per deferred injection, $de1 of VM 1); $hc latencies, p50 $p50 us" \
	test "$w" = 10 -a "$((de + co))" = 10 -a "$il" = 0 -a "$tp" = "$((2 * (de + de1)))" -a "$hc" = "$de" -a "$de" -ge 1
exit 0
