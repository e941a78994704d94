#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# make vmtest-arm64: the arm64 guest runs of the qemu kernel matrix. For
# every kernel series (Debian's arm64 6.1 and 6.12 by default) fetch the
# kernel package into the cache (tests/vm/lib.sh, arm64 package names),
# boot it under qemu TCG as an arm64 "virt" machine with EL2
# (virtualization=on, GICv3, -cpu max: the guest kernel starts KVM in VHE
# mode and has /dev/kvm) and run guest tests (tests/vm/arm64/<name>.sh).
#
# Unlike the x86 matrix the guest cannot share this machine's root: its
# programs are x86. Its whole userspace is an initramfs: the arm64 runtime
# packages of the CLI (dpkg -x of Debian arm64 .debs, cached), busybox-static
# for the shell and tools, jq, and the cross-built binaries of the build
# directory given as $1 (default build-arm64: make CROSS=aarch64-linux-gnu-
# ARCH=arm64 O=build-arm64). The guest prints its verdicts on the console
# between "ST-RESULTS" and "DONE rc=N"; a run without DONE (timeout, panic)
# is a failure.
#
# Environment:
#   ST_VM_KERNELS   kernel series to boot (default "6.1 6.12"), one after
#                   the other (one qemu at a time)
#   ST_VM_TESTS     guest tests (default "kvm")
#   ST_VM_CACHE     cache (default /var/cache/stagetrace-vmtest-arm64)
#   ST_VM_TIMEOUT   seconds per guest boot, everything included (default 900)
#   ST_VM_KEEP=1    keep the run directory (console logs)
#
# Prints per-kernel verdicts and "N passed, N failed"; exit 0 only when
# every kernel booted, ran every test to the end and no verdict is FAIL.
set -u
cd "$(dirname "$0")/../.." || exit 1
O=$(cd "${1:-build-arm64}" && pwd) || exit 1
export ST_VM_CACHE=${ST_VM_CACHE:-/var/cache/stagetrace-vmtest-arm64}
. tests/vm/lib.sh

# lib.sh knows the amd64 package names; the arm64 flavour of each series.
vm_series_pattern() {
	case $1 in
	6.1) echo '^linux-image-6\.1\.0-[0-9]+-arm64-unsigned$' ;;
	6.12) echo '^linux-image-6\.12\.[0-9]+\+deb12-arm64-unsigned$' ;;
	*) return 1 ;;
	esac
}

# The guest's userspace: what build-arm64/stagetrace links (ldd), the
# shell and jq. Bump ROOTFS_V when the list changes.
ROOTFS_PKGS="libc6 libgcc-s1 libbpf1 libelf1 zlib1g libnng1 libjson-c5 libmnl0
libmbedtls14 libmbedx509-1 libmbedcrypto7 busybox-static jq libjq1 libonig5"
ROOTFS_V=1

if [[ $(id -u) -ne 0 ]]; then
	echo "vmtest-arm64 needs root (kernel cache)" >&2
	exit 1
fi
for t in qemu-system-aarch64 busybox apt-get dpkg depmod; do
	command -v "$t" >/dev/null || { vm_log "ERROR: $t missing (make deps)"; exit 1; }
done
for b in stagetrace tests/tools/kvmirq; do
	if [[ ! -x $O/$b ]] || ! file -b "$O/$b" | grep -q aarch64; then
		vm_log "ERROR: $O/$b is not an arm64 build (make CROSS=aarch64-linux-gnu- ARCH=arm64 O=build-arm64)"
		exit 1
	fi
done

# vm_rootfs: prints the cached directory with the unpacked arm64 packages.
vm_rootfs() {
	local dir=$VM_CACHE/rootfs-$ROOTFS_V tmp p debs=()
	if [[ -e $dir/.ready ]]; then
		echo "$dir"
		return 0
	fi
	vm_log "fetching the arm64 guest userspace into $dir"
	for p in $ROOTFS_PKGS; do debs+=("$p:arm64"); done
	tmp=$(vm_apt_download "${debs[@]}") ||
		{ vm_log "(the :arm64 packages need dpkg --add-architecture arm64; apt-get update)"; return 1; }
	rm -rf "$dir"
	mkdir -p "$dir"
	for p in "$tmp"/*.deb; do
		dpkg -x "$p" "$dir" || { vm_log "ERROR: dpkg -x $p"; rm -rf "$tmp" "$dir"; return 1; }
	done
	rm -rf "$tmp"
	touch "$dir/.ready"
	echo "$dir"
}

# arm64_initramfs ROOTFS OUT: the rootfs plus this build's binaries, the
# guest scripts and tests/vm/arm64/init.sh as /init.
arm64_initramfs() {
	local rootfs=$1 out=$2 root
	root=$(mktemp -d /tmp/stagetrace-vminitrd-arm64.XXXXXX) || return 1
	cp -a "$rootfs/." "$root/" &&
		mkdir -p "$root"/{proc,sys,dev,tmp,run,st/tools,st/tests} &&
		cp "$O/stagetrace" "$root/st/" &&
		cp "$O/tests/tools/kvmirq" "$root/st/tools/" &&
		cp tests/vm/arm64/*.sh "$root/st/tests/" &&
		cp tests/vm/kvm-jq.sh "$root/st/tests/" &&
		cp tests/vm/arm64/init.sh "$root/init" &&
		chmod 755 "$root/init" || { rm -rf "$root"; return 1; }
	rm -f "$root/.ready"
	(set -o pipefail; cd "$root" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1) >"$out"
	local rc=$?
	rm -rf "$root"
	return $rc
}

# arm64_boot TREE OUT TIMEOUT TESTS...: one guest; console in OUT/console.log.
arm64_boot() {
	local tree=$1 out=$2 tmo=$3 rel
	shift 3
	rel=$(vm_release "$tree")
	mkdir -p "$out"
	arm64_initramfs "$ROOTFS" "$out/initramfs.gz" || { vm_log "ERROR: initramfs for $rel"; return 1; }
	# -smp 1: one emulated CPU thread, this runner never takes more than
	# one host core.
	timeout --kill-after=10 "$tmo" qemu-system-aarch64 \
		-machine virt,virtualization=on,gic-version=3 -cpu max \
		-accel tcg,thread=single -m 1024 -smp 1 \
		-display none -monitor none -serial "file:$out/console.log" -no-reboot \
		-kernel "$tree/boot/vmlinuz-$rel" -initrd "$out/initramfs.gz" \
		-append "console=ttyAMA0 panic=-1 loglevel=4 st_tests=$(IFS=,; echo "$*") st_guest_timeout=$((tmo > 120 ? tmo - 60 : tmo))" \
		</dev/null >"$out/qemu.log" 2>&1 &
	local pid=$!
	VM_QEMU_PIDS+=("$pid")
	wait "$pid"
	local rc=$?
	VM_QEMU_PIDS=("${VM_QEMU_PIDS[@]/$pid/}")
	return $rc
}

KERNELS=${ST_VM_KERNELS:-6.1 6.12}
TESTS=${ST_VM_TESTS:-kvm}
TMO=${ST_VM_TIMEOUT:-900}
RUN=$(mktemp -d /tmp/stagetrace-vmtest-arm64.XXXXXX)
trap 'vm_cleanup; [[ -z ${ST_VM_KEEP:-} ]] && rm -rf "$RUN"' EXIT
trap 'exit 130' INT TERM

pass=0
fail=0
skip=0
ROOTFS=$(vm_rootfs) || { echo "FAIL rootfs cannot build the arm64 guest userspace"; echo "vmtest-arm64: 0 passed, 1 failed, 0 skipped"; exit 1; }
for series in $KERNELS; do
	echo "######## arm64 kernel $series"
	if ! tree=$(vm_kernel "$series"); then
		echo "FAIL kernel-$series cannot get the Debian arm64 $series kernel (see above)"
		fail=$((fail + 1))
		continue
	fi
	rel=$(vm_release "$tree")
	out=$RUN/$rel
	start=$(date +%s)
	# shellcheck disable=SC2086
	arm64_boot "$tree" "$out" "$TMO" $TESTS
	qrc=$?
	echo "kernel $rel: guest ran $(($(date +%s) - start)) s, qemu exit $qrc"
	tr -d '\r' <"$out/console.log" 2>/dev/null | sed -n '/^ST-RESULTS$/,/^DONE rc=/p' >"$out/results.txt"
	vm_tally "$rel" "$out"
done
echo "vmtest-arm64: $pass passed, $fail failed, $skip skipped"
[[ $fail -eq 0 && $pass -gt 0 ]]
