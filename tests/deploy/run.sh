#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Deployment artefacts: the systemd units pass `systemd-analyze verify`
# (with ExecStart pointed at the built binaries), the example config files
# are accepted key by key by the daemons, --check-config validates a file
# without starting anything, the agent really drops its capabilities once
# attached, and the Ansible roles pass tests/deploy/ansible_test.sh.
set -u
O=$(cd "${1:-build}" && pwd)
cd "$(dirname "$0")/../.."
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }
tmp=$(mktemp -d)
ns=stcaps$$
cleanup() {
	ip netns del "$ns" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

# The configuration reference in docs/operations.md is generated from the
# daemons' option tables: it must be current.
if out=$(scripts/gen-config-ref.sh --check "$O" 2>&1); then
	ok "docs/operations.md configuration reference matches the daemons' options"
else
	bad "$out"
fi

if command -v systemd-analyze >/dev/null; then
	for u in deploy/systemd/*.service; do
		n=$(basename "$u")
		sed "s#/usr/local/bin/#$O/#" "$u" >"$tmp/$n"
		if out=$(systemd-analyze verify --man=no "$tmp/$n" 2>&1) && [[ -z $out ]]; then
			ok "$n: systemd-analyze verify clean"
		else
			bad "$n: $out"
		fi
	done
else
	echo "skip systemd units: systemd-analyze not installed"
fi

# Example configs: every key known (the TLS files do not exist here, which
# is the one error allowed, and it names a TLS option).
for d in agent collector; do
	out=$("$O/stagetrace-$d" --config "deploy/config/$d.conf.example" --duration 0.1 2>&1)
	if grep -q "unknown key\|invalid value\|out of range" <<<"$out"; then
		bad "$d.conf.example: $out"
	elif grep -q -- "--tls-cert" <<<"$out"; then
		ok "$d.conf.example: all keys accepted (stops only at the missing certificate)"
	else
		bad "$d.conf.example: unexpected: $out"
	fi
done

# Capabilities after attach: CAP_SYS_ADMIN only with --netns, none without.
capeff() { awk '/^CapEff/ { print $2 }' "/proc/$1/status"; }
ip netns add "$ns"
"$O/stagetrace-agent" --netns "$ns" -C tcp://127.0.0.1:1 --duration 30 >"$tmp/a1" 2>&1 &
p1=$!
"$O/stagetrace-agent" -C tcp://127.0.0.1:1 --duration 30 >"$tmp/a2" 2>&1 &
p2=$!
# Read CapEff once each agent says it dropped them (loading the programs
# takes seconds on a busy machine), then stop both.
for _ in $(seq 100); do
	grep -q "capabilities dropped" "$tmp/a1" && grep -q "capabilities dropped" "$tmp/a2" && break
	sleep 0.2
done
c1=$(capeff "$p1")
c2=$(capeff "$p2")
kill -TERM "$p1" "$p2" 2>/dev/null
wait "$p1" "$p2"
[[ $c1 == 0000000000200000 ]] && ok "agent with --netns keeps CAP_SYS_ADMIN only ($c1)" ||
	bad "agent with --netns: CapEff $c1: $(head -3 "$tmp/a1")"
[[ $c2 == 0000000000000000 ]] && ok "agent without --netns keeps nothing ($c2)" ||
	bad "agent without --netns: CapEff $c2: $(head -3 "$tmp/a2")"
# --check-config: what deployment tools validate a file with before
# installing it. A valid file passes without loading anything (no BPF, no
# sockets); a bad key fails with the file, line and key, exit 2.
printf 'collector = tcp://127.0.0.1:7730\nsample = 1/4\nuplink = eth0\n' >"$tmp/good.conf"
printf 'collector = tcp://127.0.0.1:7730\nsampel = 1/4\n' >"$tmp/bad.conf"
out=$("$O/stagetrace-agent" --check-config --config "$tmp/good.conf" 2>&1)
rc=$?
[[ $rc -eq 0 && $out == "config ok" ]] && ok "agent --check-config accepts a valid file" ||
	bad "agent --check-config on a valid file: rc $rc: $out"
out=$("$O/stagetrace-agent" --check-config --config "$tmp/bad.conf" 2>&1)
rc=$?
[[ $rc -eq 2 && $out == *"bad.conf:2: unknown key 'sampel'"* ]] && ok "agent --check-config names a bad key (exit 2)" ||
	bad "agent --check-config on a bad key: rc $rc: $out"
printf 'listen = tcp://127.0.0.1:7730\nwindow-ms = 5\n' >"$tmp/col.conf"
out=$("$O/stagetrace-collector" --check-config --config "$tmp/col.conf" 2>&1)
rc=$?
[[ $rc -eq 2 && $out == *"col.conf:2: window-ms"* ]] && ok "collector --check-config names an out-of-range value (exit 2)" ||
	bad "collector --check-config on a bad value: rc $rc: $out"

# The Ansible roles, linted and applied to a fleet of namespace hosts.
if tests/deploy/ansible_test.sh "$O"; then
	ok "ansible roles (tests/deploy/ansible_test.sh)"
else
	bad "ansible roles (tests/deploy/ansible_test.sh)"
fi
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
