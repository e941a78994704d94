# SPDX-License-Identifier: MIT
# Verdict helpers of the arm64 guest tests (sourced; busybox sh, no bash):
# the same "PASS|FAIL|SKIP <name> <details>" lines as tests/vm/guest-lib.sh,
# into /run/vmout/results.txt, which init.sh prints for the host.
# shellcheck disable=SC2034 # used by the tests that source this file
ST=/st/stagetrace
# shellcheck disable=SC2034
TOOLS=/st/tools
RESULTS=${ST_VM_OUT:-/run/vmout}/results.txt

vm_pass() { echo "PASS $*" | tee -a "$RESULTS"; }
vm_fail() { echo "FAIL $*" | tee -a "$RESULTS"; }
vm_skip() { echo "SKIP $*" | tee -a "$RESULTS"; }

# vm_check NAME DETAILS command...: PASS when the command succeeds.
vm_check() {
	_n=$1 _d=$2
	shift 2
	if "$@"; then vm_pass "$_n $_d"; else vm_fail "$_n $_d"; fi
}

# wait_lines FILE N [SECONDS]: until FILE has N lines (default 60 s).
wait_lines() {
	_i=0
	while [ "$_i" -lt "$((${3:-60} * 10))" ]; do
		[ "$(wc -l <"$1" 2>/dev/null || echo 0)" -ge "$2" ] && return 0
		sleep 0.1
		_i=$((_i + 1))
	done
	return 1
}
