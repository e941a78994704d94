#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# `stagetrace virt kvm` and `latency --path tap-to-irq` on this machine's
# own kernel. Interrupt injection itself needs /dev/kvm and kprobes or
# fentry, which only the kernel matrix has (tests/vm/guest/kvm.sh counts
# real injections there); here the commands must start, say for every hook
# which method it got or why none, keep what works (KVM's tracepoints) and
# refuse bad input:
#   - help text, bad options (exit 2, one line);
#   - virt kvm --json: every hook is either available with a method or
#     unavailable with a reason; exit 0 when something attached, else exit
#     1 with an error;
#   - latency --path: exit 0 when every needed hook attached, else exit 1
#     naming the missing hook;
#   - --check-hooks: every kvm hook has a variant the verifier accepts on
#     this kernel (CO-RE relocations against its BTF), and so does every
#     path hook whose types exist (tun_net_xmit when tun is present).
#
# Needs root and jq. Usage: tests/e2e/kvm_test.sh [BUILD_DIR]. Prints
# "N passed, N failed" last; exits non-zero on any failure.

set -u
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
O=${1:-${O:-$REPO/build}}
ST=$O/stagetrace
TMP=$(mktemp -d /tmp/stagetrace-kvm.XXXXXX)
PASS=0
FAIL=0
trap '[[ -z ${KEEP:-} ]] && rm -rf "$TMP"' EXIT

check() { # name command...
	local name=$1
	shift
	if "$@"; then
		PASS=$((PASS + 1))
		echo "ok   $name"
	else
		FAIL=$((FAIL + 1))
		echo "FAIL $name"
	fi
}

# The entry points: `virt kvm`; `latency --path tap-to-irq` once the
# latency dispatcher is merged, this branch's alias before.
VIRT_KVM=("$ST" virt kvm)
TAP_IRQ=("$ST" latency --path tap-to-irq)

# ---- help and bad input ------------------------------------------------------
"${VIRT_KVM[@]}" -h >"$TMP/h1" 2>&1
check "virt kvm -h exits 0 and names the script it replaces" \
	grep -q kvm_irqfd_stats_summary.py "$TMP/h1"
"${TAP_IRQ[@]}" -h >"$TMP/h2" 2>&1
check "latency --path -h exits 0 and names the script it replaces" \
	grep -q tun_tx_to_kvm_irq.py "$TMP/h2"
for bad in "--dev eth0" "--method uprobe" "-i 0" "--bogus"; do
	# shellcheck disable=SC2086
	"${VIRT_KVM[@]}" $bad >"$TMP/o" 2>"$TMP/e"
	rc=$?
	check "virt kvm $bad: exit 2, one error line ($(head -c 80 "$TMP/e"))" \
		test "$rc" = 2 -a "$(grep -c . "$TMP/e")" = 1
done
"${TAP_IRQ[@]}" --path tap-to-vm >"$TMP/o" 2>"$TMP/e"
rc=$?
check "latency --path tap-to-vm: exit 2 ($(head -c 80 "$TMP/e"))" test "$rc" = 2
"${TAP_IRQ[@]}" --netns 1 >"$TMP/o" 2>"$TMP/e"
rc=$?
check "latency --path: --netns without --dev is refused (exit 2)" test "$rc" = 2

# ---- virt kvm on this kernel -------------------------------------------------
"${VIRT_KVM[@]}" --json -c 1 -i 0.5 >"$TMP/kvm.json" 2>"$TMP/kvm.err"
rc=$?
nh=$(jq -s '[.[] | select(.type == "interval") | .hooks[]] | length' "$TMP/kvm.json" 2>/dev/null)
ok=$(jq -s '[.[] | select(.type == "interval") | .hooks[] |
	select((.status == "available" and .method != null) or
	       (.status == "unavailable" and (.reason | length) > 0))] | length' "$TMP/kvm.json" 2>/dev/null)
jq -r -s '.[] | select(.type == "interval") | .hooks[] | "  \(.hook): \(.method // ("unavailable: " + .reason))"' \
	"$TMP/kvm.json" 2>/dev/null | cut -c1-160
any=$(jq -s '[.[] | select(.type == "interval") | .hooks[] | select(.status == "available")] | length' \
	"$TMP/kvm.json" 2>/dev/null)
if [[ ${any:-0} -gt 0 ]]; then
	check "virt kvm: exit 0 with $any of $nh hooks attached" test "$rc" = 0
	check "virt kvm: all $nh hooks (8) have a method or a reason ($ok)" test "${nh:-0}" = 8 -a "$ok" = "$nh"
else
	check "virt kvm: nothing attached: exit 1 with an error ($(head -c 80 "$TMP/kvm.err"))" \
		test "$rc" = 1 -a -n "$(grep '^error:' "$TMP/kvm.err")"
fi

# ---- latency --path tap-to-irq on this kernel --------------------------------
"${TAP_IRQ[@]}" -c 1 -i 0.5 >"$TMP/p.out" 2>"$TMP/p.err"
rc=$?
if [[ $rc -eq 0 ]]; then
	check "latency --path: every path hook attached, one interval printed" grep -q "packets" "$TMP/p.out"
else
	miss=$(sed -n 's/^error: .*tap-to-irq: \(.*\) cannot be hooked.*/\1/p' "$TMP/p.err")
	check "latency --path: exit 1 naming the missing hook ($miss) in one line" \
		test "$rc" = 1 -a -n "$miss" -a "$(wc -l <"$TMP/p.err")" = 1
	"${TAP_IRQ[@]}" -v -c 1 -i 0.5 >/dev/null 2>"$TMP/pv.err"
	check "latency --path -v: lists every hook's reason" \
		test "$(grep -c '^  hook .*: unavailable: ' "$TMP/pv.err")" -ge 1
fi

# ---- every program through this kernel's verifier ----------------------------
"${VIRT_KVM[@]}" --check-hooks >"$TMP/c1" 2>/dev/null
rc=$?
check "virt kvm --check-hooks: a variant of all 6 kvm hooks passes the verifier" test "$rc" = 0
cat "$TMP/c1" | cut -c1-120
"${TAP_IRQ[@]}" --check-hooks --json >"$TMP/c2" 2>/dev/null
if grep -qw tun_net_xmit /proc/kallsyms; then
	n=$(jq -s '[.[] | select(.hook == "tun_net_xmit" and .loaded == true)] | length' "$TMP/c2" 2>/dev/null)
	check "latency --path --check-hooks: a tun_net_xmit variant passes the verifier ($n)" \
		test "${n:-0}" -ge 1
fi

echo "$PASS passed, $FAIL failed"
[[ $FAIL -eq 0 ]]
