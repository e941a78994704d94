#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Run every cmocka unit-test binary given; each has a 120 s timeout.
set -u
fail=0
for t in "$@"; do
	echo "== $(basename "$t")"
	if ! timeout 120 "$t"; then
		echo "FAIL $(basename "$t")"
		fail=$((fail + 1))
	fi
done
echo "unit: $(($# - fail)) passed, $fail failed"
[[ $fail -eq 0 ]]
