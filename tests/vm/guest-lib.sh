# SPDX-License-Identifier: MIT
# Helpers for scripts that run inside a kernel-matrix guest (sourced).
#
# Verdicts go to $ST_VM_OUT/results.txt, one line each:
#   PASS <name> <details>   FAIL <name> <details>   SKIP <name> <reason>
# The host (tests/vm/run.sh) counts them; guest-init.sh appends DONE.
# Modules come from the unpacked Debian package the guest booted, which the
# guest sees over the 9p root at $ST_VM_TREE.

REPO=${ST_VM_REPO:?guest script run outside a kernel-matrix guest}
O=${O:-$REPO/build}
ST=$O/stagetrace
RESULTS=${ST_VM_OUT:-/run/vmout}/results.txt
KREL=$(uname -r)

vm_pass() { echo "PASS $*" | tee -a "$RESULTS"; }
vm_fail() { echo "FAIL $*" | tee -a "$RESULTS"; }
vm_skip() { echo "SKIP $*" | tee -a "$RESULTS"; }

# vm_check NAME DETAILS command...: PASS when the command succeeds.
vm_check() {
	local name=$1 det=$2
	shift 2
	if "$@"; then vm_pass "$name $det"; else vm_fail "$name $det"; fi
}

# vm_modprobe MODULE...: load from the booted kernel's own unpacked tree.
vm_modprobe() {
	local m rc=0
	for m in "$@"; do
		if ! modprobe -d "$ST_VM_TREE" "$m"; then
			echo "guest: modprobe -d $ST_VM_TREE $m failed" >&2
			rc=1
		fi
	done
	return $rc
}

vm_uptime() { cut -d' ' -f1 /proc/uptime; }

# vm_wait_uptime SECONDS: sleep until the guest has been up that long.
vm_wait_uptime() {
	local want=$1
	while awk -v u="$(vm_uptime)" -v w="$want" 'BEGIN { exit !(u < w) }'; do
		sleep 0.5
	done
}

# vm_virtio_nic: load virtio_net and print the name of the guest's
# virtio-net device (tests/vm/run.sh gives one to the tests that need
# it); waits up to 5 s for it to appear. Non-zero when there is none.
vm_virtio_nic() {
	local d
	vm_modprobe virtio_net || return 1
	for _ in $(seq 50); do
		for d in /sys/class/net/*; do
			if [[ $(basename "$(readlink -f "$d/device/driver" 2>/dev/null)") == virtio_net ]]; then
				basename "$d"
				return 0
			fi
		done
		sleep 0.1
	done
	return 1
}

# vm_trap_cleanup DIR LINK...: on exit, stop every process in the caller's
# PIDS array (SIGINT, then SIGKILL after 10 s), delete the links and DIR.
vm_trap_cleanup() {
	VM_CLEAN_DIR=$1
	shift
	VM_CLEAN_LINKS=("$@")
	trap vm_cleanup_now EXIT
}
vm_cleanup_now() {
	local p
	for p in "${PIDS[@]}"; do kill -INT "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do
		timeout 10 tail --pid="$p" -f /dev/null 2>/dev/null || kill -KILL "$p" 2>/dev/null
	done
	for p in "${VM_CLEAN_LINKS[@]}"; do ip link del "$p" 2>/dev/null; done
	rm -rf "$VM_CLEAN_DIR"
}
