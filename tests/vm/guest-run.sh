#!/bin/bash
# SPDX-License-Identifier: MIT
# Runs the named guest tests (tests/vm/guest/<name>.sh) one after another
# inside a kernel-matrix guest, each under its own timeout. A test that
# fails or dies without writing a FAIL verdict gets one: "FAIL <name> exited N".
. "$ST_VM_REPO/tests/vm/guest-lib.sh"
for t in "$@"; do
	f=$REPO/tests/vm/guest/$t.sh
	if [[ ! -r $f ]]; then
		vm_fail "$t no such guest test $f"
		continue
	fi
	before=$(grep -c '^FAIL' "$RESULTS" 2>/dev/null)
	# A test may ask for another limit than the default 600 s in a line
	# "# vm-test-timeout: SECONDS"; ST_VM_TEST_TIMEOUT overrides both.
	lim=$(sed -n 's/^# vm-test-timeout: \([0-9][0-9]*\)$/\1/p' "$f" | head -n 1)
	echo "guest: ---- $t (uptime $(vm_uptime)s)"
	t0=$(vm_uptime)
	timeout --kill-after=5 "${ST_VM_TEST_TIMEOUT:-${lim:-600}}" bash "$f"
	rc=$?
	# How long each test ran, for the host's summary (vm_tally).
	echo "TIME $t $(awk -v a="$t0" -v b="$(vm_uptime)" 'BEGIN { printf "%.0f", b - a }')" >>"$RESULTS"
	after=$(grep -c '^FAIL' "$RESULTS" 2>/dev/null)
	if [[ $rc -ne 0 && ${after:-0} -eq ${before:-0} ]]; then
		vm_fail "$t exited $rc without a FAIL verdict (timeout or crash?)"
	fi
done
# Verdicts carry the results; a non-zero exit means this runner was stopped.
exit 0
