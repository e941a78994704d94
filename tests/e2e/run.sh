#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Run the live end-to-end tests (root; network namespaces). Each test has a
# timeout and cleans up after itself; see tests/e2e/*_test.sh.
set -u
O=$(cd "${1:-build}" && pwd)
export O
fail=0
n=0
for t in "$(dirname "$0")"/*_test.sh; do
	n=$((n + 1))
	echo "== $(basename "$t")"
	if ! timeout 300 "$t"; then
		echo "FAIL $(basename "$t")"
		fail=$((fail + 1))
	fi
done
echo "e2e: $((n - fail)) passed, $fail failed"
[[ $fail -eq 0 ]]
