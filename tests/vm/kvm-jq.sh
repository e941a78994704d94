# SPDX-License-Identifier: MIT
# Readers of `stagetrace virt kvm --json -v` output, shared by the x86 guest
# test (tests/vm/guest/kvm.sh, bash) and the arm64 one (tests/vm/arm64/kvm.sh,
# busybox sh in an initramfs): POSIX sh and jq only. FILE is the tracer's
# JSON lines; PID and GSI pick one irqfd (the VM's process, its GSI).

# kvm_irqfd_sum FILE PID GSI EXPR: EXPR (".wakeups", ".inline + .deferred",
# ".signal_to_inject.count" ...) summed over every interval's row of that
# irqfd; 0 when it has none.
kvm_irqfd_sum() {
	jq -s "[.[] | select(.type == \"interval\") | .irqfds[] |
		select(.vm_pid == $2 and .gsi == $3) | $4] | add // 0" "$1"
}

# kvm_irqfd_p50 FILE PID GSI: the largest per-interval p50 (us) of that
# irqfd's eventfd -> injection latency; null when it has none.
kvm_irqfd_p50() {
	jq -s "[.[] | select(.type == \"interval\") | .irqfds[] |
		select(.vm_pid == $2 and .gsi == $3) | .signal_to_inject.p50_us] | max" "$1"
}

# kvm_events FILE PID GSI: injection events (-v) of that irqfd.
kvm_events() {
	jq -s "[.[] | select(.type == \"event\" and .vm_pid == $2 and .gsi == $3)] | length" "$1"
}

# kvm_events_positive FILE PID: events of that VM with an eventfd ->
# injection time above zero.
kvm_events_positive() {
	jq -s "[.[] | select(.type == \"event\" and .vm_pid == $2) |
		select(.signal_to_inject_ns > 0)] | length" "$1"
}

# kvm_counter FILE NAME: a tracer counter summed over the intervals.
kvm_counter() {
	jq -s "[.[] | select(.type == \"interval\") | .counters.$2] | add // 0" "$1"
}

# kvm_hook FILE HOOK FIELD: status or method of HOOK in the first interval.
kvm_hook() {
	jq -r "select(.type == \"interval\") | .hooks[] | select(.hook == \"$2\") | .$3" "$1" | head -n 1
}

# kvm_show FILE: the first interval's hooks, the intervals that saw irqfds,
# three events and the counters summed, for the console log.
kvm_show() {
	jq -M -c 'select(.type == "interval") | .hooks' "$1" | head -n 1
	jq -M -c 'select(.type == "interval" and (.irqfds | length) > 0) | del(.hooks)' "$1"
	jq -M -c 'select(.type == "event")' "$1" | head -n 3
	echo "guest: virt kvm counters: $(jq -s -c '[.[] | select(.type == "interval") | .counters] |
		reduce .[] as $c ({}; reduce ($c | keys[]) as $k (.; .[$k] += $c[$k]))' "$1")"
}
