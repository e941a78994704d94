#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Deployment artefacts: the systemd units pass `systemd-analyze verify`
# (with ExecStart pointed at the built binaries), the example config files
# are accepted key by key by the daemons, and the agent really drops its
# capabilities once attached.
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
"$O/stagetrace-agent" --netns "$ns" -C tcp://127.0.0.1:1 --duration 3 >"$tmp/a1" 2>&1 &
p1=$!
"$O/stagetrace-agent" -C tcp://127.0.0.1:1 --duration 3 >"$tmp/a2" 2>&1 &
p2=$!
sleep 1.5
c1=$(capeff "$p1")
c2=$(capeff "$p2")
wait "$p1" "$p2"
[[ $c1 == 0000000000200000 ]] && ok "agent with --netns keeps CAP_SYS_ADMIN only ($c1)" ||
	bad "agent with --netns: CapEff $c1: $(head -3 "$tmp/a1")"
[[ $c2 == 0000000000000000 ]] && ok "agent without --netns keeps nothing ($c2)" ||
	bad "agent without --netns: CapEff $c2: $(head -3 "$tmp/a2")"
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
