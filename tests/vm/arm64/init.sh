#!/bin/busybox sh
# SPDX-License-Identifier: MIT
# PID 1 of an arm64 kernel-matrix guest (tests/vm/run-arm64.sh packs it as
# /init of the initramfs, which is the guest's whole userspace). Mounts the
# kernel file systems, runs the guest tests named on the kernel command
# line ($st_tests, comma-separated: /st/tests/<name>.sh) one after another
# under their limit, then prints every verdict on the console between
# "ST-RESULTS" and "DONE rc=N" for the host and powers off. Binaries:
# /st/stagetrace, /st/tools/*; verdict helpers: /st/tests/lib.sh.
# st_tests and st_guest_timeout come from the kernel command line.
: "${st_tests:=kvm}"
/bin/busybox --install -s /bin
export PATH=/bin:/usr/bin:/sbin:/usr/sbin
# The unpacked Debian packages put libraries in both multiarch directories
# and there is no ld.so.cache.
export LD_LIBRARY_PATH=/lib/aarch64-linux-gnu:/usr/lib/aarch64-linux-gnu
export HOME=/tmp
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mkdir -p /sys/fs/bpf /run/vmout
mount -t bpf bpf /sys/fs/bpf
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
ip link set lo up 2>/dev/null
echo "guest: $(uname -r) up $(cut -d' ' -f1 /proc/uptime)s, tests: $st_tests" >/dev/console

export ST_VM_OUT=/run/vmout
run_tests() {
	for t in $(echo "$st_tests" | tr , ' '); do
		before=$(grep -c '^FAIL' /run/vmout/results.txt 2>/dev/null)
		echo "guest: ---- $t (uptime $(cut -d' ' -f1 /proc/uptime)s)"
		if [ ! -r "/st/tests/$t.sh" ]; then
			echo "FAIL $t no such guest test" >>/run/vmout/results.txt
			continue
		fi
		timeout "${st_guest_timeout:-840}" sh "/st/tests/$t.sh"
		rc=$?
		after=$(grep -c '^FAIL' /run/vmout/results.txt 2>/dev/null)
		if [ "$rc" -ne 0 ] && [ "${after:-0}" -eq "${before:-0}" ]; then
			echo "FAIL $t exited $rc without a FAIL verdict (timeout or crash?)" >>/run/vmout/results.txt
		fi
	done
}
run_tests >/dev/console 2>&1
rc=$?
echo "guest: tests done, uptime $(cut -d' ' -f1 /proc/uptime)s" >/dev/console
{
	echo "ST-RESULTS"
	cat /run/vmout/results.txt 2>/dev/null
	echo "DONE rc=$rc"
} >/dev/console
sync
poweroff -f
