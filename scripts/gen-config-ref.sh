#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Regenerate the configuration reference in docs/operations.md from the
# daemons' own -h (the option tables the config files are parsed with), so
# the reference cannot drift from the code. With --check, only report
# whether the page is current (exit 1 if not); tests/deploy/run.sh runs it.
#   scripts/gen-config-ref.sh [--check] [BUILD_DIR]
set -eu
check=0
[[ ${1:-} == --check ]] && { check=1; shift; }
O=${1:-build}
cd "$(dirname "$0")/.."
DOC=docs/operations.md

table() {
	echo "| key | value | meaning |"
	echo "|---|---|---|"
	"$1" -h | awk '/^Options:/ { f = 1; next } /^$/ { f = 0 }
		f && /--/ {
			line = $0; sub(/^ *(-[a-zA-Z], )? *--/, "", line)
			n = split(line, a, /  +/); key = a[1]; sub(/ .*/, "", key)
			arg = a[1]; sub(/^[^ ]* ?/, "", arg)
			if (key == "help" || key == "config" || key == "check-config") next
			gsub(/\|/, "\\|", a[2])
			printf "| `%s` | %s | %s |\n", key, arg, a[2] }'
}

new=$(mktemp)
trap 'rm -f "$new"' EXIT
awk -v coll="$(table "$O/stagetrace-collector")" -v agent="$(table "$O/stagetrace-agent")" '
	/<!-- config-ref:begin -->/ { print; print ""; print "### stagetrace-collector"; print ""; print coll
		print ""; print "### stagetrace-agent"; print ""; print agent; print ""; skip = 1; next }
	/<!-- config-ref:end -->/ { skip = 0 }
	!skip' "$DOC" >"$new"
if ((check)); then
	if cmp -s "$new" "$DOC"; then echo "config reference current"; exit 0; fi
	echo "docs/operations.md: configuration reference is stale; run scripts/gen-config-ref.sh" >&2
	diff "$DOC" "$new" | head -20 >&2
	exit 1
fi
cp "$new" "$DOC"
