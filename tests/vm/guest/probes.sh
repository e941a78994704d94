#!/bin/bash
# SPDX-License-Identifier: MIT
# Attach plans on a real Debian kernel (inside a kernel-matrix guest), with
# the openvswitch, bridge, vhost_net, vxlan, geneve, virtio_net and kvm
# modules loaded from the booted kernel's tree:
#  - `stagetrace probes --json`: every hook has a method; the datapath hooks
#    (OVS, bridge, vhost-net, tunnel kernel functions) get fentry, the
#    first choice of their plan (handle_rx's exit: fexit, its kretprobe
#    tried ad hoc; KVM's irqfd_wakeup: kprobe, its plan's first choice);
#  - kprobes work here (refused on the development host): an ad-hoc kprobe
#    plan on a module function attaches;
#  - the agent loads and attaches its real programs for every hook, once
#    with its own plan and once per forced method (kprobe, tp_btf, raw_tp),
#    so every variant of every datapath program passes this kernel's
#    verifier and attaches.
. "$ST_VM_REPO/tests/vm/guest-lib.sh"
if grep -qw svm /proc/cpuinfo; then kmod=kvm_amd; else kmod=kvm_intel; fi
vm_modprobe openvswitch bridge vhost_net vxlan geneve virtio_net kvm "$kmod" ||
	{ vm_fail probes-modules "modprobe openvswitch bridge vhost_net vxlan geneve virtio_net kvm $kmod"; exit 1; }
AG=$O/stagetrace-agent
dp='select(.stage | test("^(ovs|br|vhost|irq)_|^(vxlan|geneve)_(encap|decap)$"))'

cli=$("$ST" probes --json)
jq -M -c '.[] | {hook, stage, method, symbol}' <<<"$cli"
n=$(jq '[.[] | select(.method == null)] | length' <<<"$cli")
vm_check probes-all-hooks "unavailable=$n $(jq -c '[.[] | select(.method == null) | .hook]' <<<"$cli")" test "$n" = 0
n=$(jq "[.[] | $dp | select(.method == \"fentry\")] | length" <<<"$cli")
# 13: every datapath hook but handle_rx's exit (vhost_rx_done: fexit) and
# irqfd_wakeup (irq_inject), whose plan tries kprobe first (its fentry
# attaches but never runs under emulation: common/stage_names.c).
vm_check probes-datapath-fentry "$n/13 datapath hooks via fentry: $(jq -c "[.[] | $dp | .hook + \"=\" + (.method // \"-\")]" <<<"$cli")" test "$n" = 13
m=$(jq -r '.[] | select(.stage == "irq_inject") | .method' <<<"$cli")
vm_check probes-irq-inject-kprobe "irq_inject via $m (want kprobe)" test "$m" = kprobe
t=$("$ST" probes --try kretprobe:handle_rx --json)
vm_check probes-kretprobe "$(jq -c '{method, symbol}' <<<"$t")" test "$(jq -r .method <<<"$t")" = kretprobe

t=$("$ST" probes --try kprobe:ovs_vport_receive --json)
vm_check probes-kprobe "$(jq -c '{method, symbol}' <<<"$t")" test "$(jq -r .method <<<"$t")" = kprobe
t=$("$ST" probes --try fentry:tcp_v4_rcv --json)
vm_check probes-fentry-vmlinux "$(jq -c '{method, symbol}' <<<"$t")" test "$(jq -r .method <<<"$t")" = fentry

out=$("$AG" --probes --json 2>/tmp/agent.err)
n=$(jq '[.[] | select(.status == "attached")] | length' <<<"$out")
tot=$(jq length <<<"$out")
vm_check agent-attach-plan "${n:-0}/${tot:-0} hooks attached: $(jq -c '[.[] | .hook + "=" + (.method // "-")]' <<<"$out")" \
	test "${tot:-0}" -ge 15 -a "${n:-0}" = "${tot:-0}"
[[ -n $out ]] || grep -v '^debug' /tmp/agent.err | tail -n 20

# Every variant of the datapath programs: forced methods.
for m in kprobe tp_btf raw_tp; do
	out=$("$AG" --probes --json --force-method "$m" 2>/tmp/agent.err)
	[[ -n $out ]] || grep -v '^debug' /tmp/agent.err | tail -n 20
	att=$(jq -c "[.[] | $dp | select(.status == \"attached\" and .method == \"$m\") | .hook + \"@\" + .symbol]" <<<"$out")
	n=$(jq length <<<"$att")
	case $m in
	kprobe) want=14 ;;		# every datapath hook but handle_rx's exit (OVS, bridge, vhost, tunnels, irqfd)
	*) want=2 ;;			# ovs_dp_upcall, ovs_do_execute_action
	esac
	vm_check "agent-force-$m" "$n/$want datapath hooks attached: $att" test "$n" = "$want"
done
exit 0
