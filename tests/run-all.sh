#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# make test: unit tests, BPF load tests, the testbed's own self-test and the
# live end-to-end tests. Needs root (BPF, network namespaces). Every suite
# runs even if an earlier one failed; the last line is the summary.
set -u
O=${1:-build}
cd "$(dirname "$0")/.."
if [[ $(id -u) -ne 0 ]]; then
	echo "make test needs root (BPF programs, network namespaces)" >&2
	exit 1
fi
# tracefs is not needed (tp_btf/raw_tp), BPF statistics are toggled by the
# tests that read them.
declare -a names results
run() {
	local name=$1
	shift
	echo
	echo "######## $name"
	if "$@"; then results+=(pass); else results+=(FAIL); fi
	names+=("$name")
}
run unit make -s unit O="$O"
run bpf tests/bpf/run.sh "$O"
run testbed env ST_TOOLS_DIR="$PWD/$O/tests/tools" tests/testbed/selftest.sh
run deploy tests/deploy/run.sh "$O"
run e2e tests/e2e/run.sh "$O"
# The qemu kernel matrix boots Debian kernels (downloaded once, cached);
# ST_SKIP_VMTEST=1 leaves it out explicitly and the summary says so.
if [[ -n ${ST_SKIP_VMTEST:-} ]]; then
	echo
	echo "######## vmtest: skipped (ST_SKIP_VMTEST=$ST_SKIP_VMTEST)"
else
	run vmtest tests/vm/run.sh "$O"
	# The arm64 guests (virt kvm on a vGICv3): cross-built CLI, Debian
	# arm64 kernels under qemu TCG, a few minutes; ST_SKIP_ARM64=1 leaves
	# them out explicitly.
	if [[ -n ${ST_SKIP_ARM64:-} ]]; then
		echo
		echo "######## vmtest-arm64: skipped (ST_SKIP_ARM64=$ST_SKIP_ARM64)"
	else
		run vmtest-arm64 make -s vmtest-arm64
	fi
fi
echo
pass=0
fail=0
for i in "${!names[@]}"; do
	printf '%-8s %s\n' "${results[$i]}" "${names[$i]}"
	[[ ${results[$i]} == pass ]] && pass=$((pass + 1)) || fail=$((fail + 1))
done
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
