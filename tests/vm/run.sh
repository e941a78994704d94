#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# make vmtest: the qemu kernel matrix. For every kernel series (Debian's 6.1
# and 6.12 by default), fetch the newest kernel package into the cache
# (tests/vm/lib.sh), boot it under qemu (software emulation, no /dev/kvm
# needed) with the host root shared read-only, run the guest tests
# (tests/vm/guest/*.sh) inside, and count their verdicts.
#
# Environment:
#   ST_VM_KERNELS   kernel series to boot (default "6.1 6.12")
#   ST_VM_TESTS     guest tests to run, in order (default: all, see below)
#   ST_VM_CACHE     kernel cache (default /var/cache/stagetrace-vmtest)
#   ST_VM_TIMEOUT   seconds per guest boot, everything included (default 3600;
#                   the guest's runner stops a minute earlier; each guest test
#                   has its own 600 s unless it declares a limit, ST_VM_TEST_TIMEOUT)
#   ST_VM_KEEP=1    keep the run directory (console logs, results)
#   ST_VM_PARALLEL  1: boot the kernels side by side (default when the host
#                   has 2 or more CPUs; each guest emulates on one thread)
#   ST_VM_NIC=user  give the guest a virtio-net NIC (on when virtio or guestvirtio runs)
#
# A kernel that cannot be resolved or downloaded is a FAILURE, not a skip:
# skipping the matrix is `ST_SKIP_VMTEST=1` (tests/run-all.sh), explicitly.
# Prints per-kernel verdicts and "N passed, N failed"; exit 0 only when
# every kernel booted, ran every test to the end and no verdict is FAIL.
set -u
cd "$(dirname "$0")/../.."
O=$(cd "${1:-build}" && pwd)
. tests/vm/lib.sh

if [[ $(id -u) -ne 0 ]]; then
	echo "vmtest needs root (qemu 9p export of /, kernel cache)" >&2
	exit 1
fi
for t in qemu-system-x86_64 busybox apt-get dpkg depmod; do
	command -v "$t" >/dev/null || { vm_log "ERROR: $t missing (make deps)"; exit 1; }
done
for b in stagetrace stagetrace-agent stagetrace-collector; do
	[[ -x $O/$b ]] || { vm_log "ERROR: $O/$b not built (make)"; exit 1; }
done
# The guests run the binaries of this build directory (same path over 9p).
VM_BUILD=$O

KERNELS=${ST_VM_KERNELS:-6.1 6.12}
TESTS=${ST_VM_TESTS:-smoke probes ovs upcall ovsdrop ctinvalid tcclass bridge vhost virt virtio guestvirtio rcvbuf rttflow latency kvm encap vhostrx testbed}
# The virtio guest tests need the guest's own virtio-net NIC (lib.sh).
[[ " $TESTS " == *" virtio "* || " $TESTS " == *" guestvirtio "* || " $TESTS " == *" rcvbuf "* ]] && [[ -z ${ST_VM_NIC:-} ]] && VM_NIC=user
RUN=$(mktemp -d /tmp/stagetrace-vmtest.XXXXXX)
trap 'vm_cleanup; [[ -z ${ST_VM_KEEP:-} ]] && rm -rf "$RUN"' EXIT
trap 'exit 130' INT TERM

# boot_one SERIES TREE: one kernel's guest run into $RUN/<release>; its
# status and duration land in files there, so that runs can go in parallel.
boot_one() {
	local tree=$2 rel out start
	rel=$(vm_release "$tree")
	out=$RUN/$rel
	mkdir -p "$out"
	start=$(date +%s)
	# shellcheck disable=SC2086
	vm_boot "$tree" "$out" "${ST_VM_TIMEOUT:-3600}" "$VM_REPO/tests/vm/guest-run.sh" $TESTS
	echo "$? $(($(date +%s) - start))" >"$out/boot.rc"
}

# Every guest is one emulated CPU thread (tcg,thread=single), so with two
# or more host CPUs the kernels boot side by side (ST_VM_PARALLEL=0: one
# after the other). Kernels are fetched first, one at a time (apt).
PAR=${ST_VM_PARALLEL:-$(($(nproc) >= 2))}
pass=0
fail=0
skip=0
declare -A TREE=() BOOTPID=()
trap 'for p in "${BOOTPID[@]}"; do kill -TERM "$p" 2>/dev/null; done; vm_cleanup; [[ -z ${ST_VM_KEEP:-} ]] && rm -rf "$RUN"' EXIT
for series in $KERNELS; do
	if ! TREE[$series]=$(vm_kernel "$series"); then
		TREE[$series]=
		continue
	fi
	if [[ $PAR == 1 ]]; then
		# The subshell kills its own qemu when the parent stops it.
		( trap 'vm_cleanup' EXIT; trap 'exit 130' INT TERM; boot_one "$series" "${TREE[$series]}" ) &
		BOOTPID[$series]=$!
	else
		boot_one "$series" "${TREE[$series]}"
	fi
done
for series in $KERNELS; do
	[[ -n ${BOOTPID[$series]:-} ]] && wait "${BOOTPID[$series]}"
done
for series in $KERNELS; do
	echo "######## kernel $series"
	if [[ -z ${TREE[$series]} ]]; then
		echo "FAIL kernel-$series cannot get the Debian $series kernel (see above)"
		fail=$((fail + 1))
		continue
	fi
	rel=$(vm_release "${TREE[$series]}")
	out=$RUN/$rel
	read -r qrc secs <"$out/boot.rc" 2>/dev/null || { qrc=?; secs=?; }
	echo "kernel $rel: guest ran $secs s, qemu exit $qrc"
	vm_tally "$rel" "$out"
done
echo "vmtest: $pass passed, $fail failed, $skip skipped"
[[ $fail -eq 0 && $pass -gt 0 ]]
