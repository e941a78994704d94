# SPDX-License-Identifier: MIT
# Shared frame of the end-to-end tests of the local commands (drops, qdisc,
# conntrack, defrag, arp, offload, iface, rtt, flow, cpu, latency --host/--vm):
# each builds its own namespaces, runs the real `stagetrace <command>` while
# it creates the condition the command detects, and asserts on what it
# printed. What they all need is here, once: the build paths, a temp dir,
# cleanup of tracers and namespaces on any exit, the check/eq assertions
# with the "N passed, N failed" summary, and starting/stopping a tracer.
#
# Set before sourcing:
#   LT_NAME      the test's name, for messages and the temp dir
#   LT_TRACER    the command and options every start_tracer runs, as an
#                array, e.g. (drops -i 0.3)
#   LT_READY     optional: an extended regex that the tracer's stdout matches
#                once it traces (default: any output)
# Then call lt_begin TOOL... (root and the listed programs are required),
# register namespaces with lt_netns, and end with lt_end. A test may define
# lt_cleanup_extra to undo more on exit. The build directory is the test's
# first argument, else $O, else build/.

LT_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
REPO=$LT_REPO
O=${1:-${O:-$LT_REPO/build}}
ST=$O/stagetrace
SFX=$$
PASS=0
FAIL=0
PIDS=()
LT_NETNS=()
TMP=

log() { echo "$LT_NAME: $*" >&2; }

cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill -INT "$p" 2>/dev/null
	done
	for p in "${PIDS[@]}"; do
		timeout 5 tail --pid="$p" -f /dev/null 2>/dev/null || kill -KILL "$p" 2>/dev/null
	done
	declare -F lt_cleanup_extra >/dev/null && lt_cleanup_extra
	for p in "${LT_NETNS[@]}"; do
		ip netns del "$p" 2>/dev/null
	done
	[[ -n $TMP && -z ${KEEP:-} ]] && rm -rf "$TMP"
}

# lt_begin TOOL...: refuses to run (one "0 passed, 1 failed" line, exit 1)
# without root, a listed program or the stagetrace binary; then makes the
# temp dir and installs the cleanup trap.
lt_begin() {
	local t
	if [[ $(id -u) -ne 0 ]]; then
		log "needs root"
		echo "0 passed, 1 failed"
		exit 1
	fi
	for t in "$@"; do
		command -v "$t" >/dev/null || { log "needs $t"; echo "0 passed, 1 failed"; exit 1; }
	done
	[[ -x $ST ]] || { log "no $ST (run make)"; echo "0 passed, 1 failed"; exit 1; }
	TMP=$(mktemp -d "/tmp/stagetrace-$LT_NAME.XXXXXX")
	trap cleanup EXIT
	trap 'exit 130' INT TERM
}

# lt_netns NAME...: new namespaces with IPv6 off (no router solicitations
# or DAD in the captures) and lo up, deleted on exit.
lt_netns() {
	local ns
	for ns in "$@"; do
		LT_NETNS+=("$ns")
		ip netns add "$ns" || return 1
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
			net.ipv6.conf.default.disable_ipv6=1
		ip -n "$ns" link set lo up
	done
}

check() { # name command...
	local name=$1
	shift
	if "$@"; then
		PASS=$((PASS + 1))
		echo "ok   $name"
	else
		FAIL=$((FAIL + 1))
		echo "FAIL $name"
	fi
}

eq() { # name got want
	if [[ "$2" == "$3" ]]; then
		PASS=$((PASS + 1))
		echo "ok   $1 ($2)"
	else
		FAIL=$((FAIL + 1))
		echo "FAIL $1: got '$2', want '$3'"
	fi
}

# jqtrue EXPR: a jq boolean expression over numbers, quietly.
jqtrue() { jq -en "$1" >/dev/null; }

# start_tracer NAME ARGS...: runs `stagetrace ${LT_TRACER[@]} ARGS` in the
# background (stdout $TMP/NAME.out, stderr $TMP/NAME.err, pid in PID_NAME)
# and waits up to 10 s until it traces.
start_tracer() {
	local name=$1 i
	shift
	"$ST" "${LT_TRACER[@]}" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
	PIDS+=($!)
	eval "PID_$name=$!"
	for ((i = 0; i < 100; i++)); do
		if [[ -n ${LT_READY:-} ]]; then
			grep -Eq "$LT_READY" "$TMP/$name.out" 2>/dev/null && return 0
		else
			[[ -s $TMP/$name.out ]] && return 0
		fi
		kill -0 "$!" 2>/dev/null || break
		sleep 0.1
	done
	log "tracer $name did not start: $(cat "$TMP/$name.err")"
	return 1
}

# stop_tracer NAME: SIGINT, wait for the exit; its status goes to RC_NAME.
stop_tracer() {
	local pid
	eval "pid=\$PID_$1"
	kill -INT "$pid" 2>/dev/null
	timeout 10 tail --pid="$pid" -f /dev/null
	wait "$pid" 2>/dev/null
	eval "RC_$1=$?"
}

# wait_file FILE: wait (10 s at most) until FILE exists and is not empty,
# e.g. a tool's pid file written once it is ready; 1 if it never is.
wait_file() {
	local i
	for ((i = 0; i < 100; i++)); do
		[[ -s $1 ]] && return 0
		sleep 0.1
	done
	return 1
}

# wait_tracing ERRFILE PID: text mode says "Tracing ..." on stderr once
# attached.
wait_tracing() {
	local i
	for ((i = 0; i < 100; i++)); do
		grep -q '^Tracing' "$1" 2>/dev/null && return 0
		kill -0 "$2" 2>/dev/null || break
		sleep 0.1
	done
	log "tracer did not start: $(cat "$1")"
	return 1
}

lt_end() {
	echo "$PASS passed, $FAIL failed"
	((FAIL == 0))
}

# lt_veth NSA IFA IPA NSB IFB IPB: a veth pair between two namespaces,
# addresses IPA/24 and IPB/24, both up, and permanent neighbour entries both
# ways so no ARP exchange is ever part of what a test measures.
lt_veth() {
	local nsa=$1 ifa=$2 ipa=$3 nsb=$4 ifb=$5 ipb=$6 maca macb
	ip link add "$ifa" netns "$nsa" type veth peer name "$ifb" netns "$nsb" || return 1
	ip -n "$nsa" addr add "$ipa/24" dev "$ifa" &&
		ip -n "$nsb" addr add "$ipb/24" dev "$ifb" &&
		ip -n "$nsa" link set "$ifa" up && ip -n "$nsb" link set "$ifb" up || return 1
	maca=$(ip netns exec "$nsa" cat "/sys/class/net/$ifa/address")
	macb=$(ip netns exec "$nsb" cat "/sys/class/net/$ifb/address")
	ip -n "$nsa" neigh replace "$ipb" lladdr "$macb" dev "$ifa" nud permanent &&
		ip -n "$nsb" neigh replace "$ipa" lladdr "$maca" dev "$ifb" nud permanent
}

# within NAME VALUE LO HI: LO <= VALUE <= HI, floating point, inclusive.
within() {
	if awk -v v="$2" -v lo="$3" -v hi="$4" 'BEGIN { exit !(v != "" && v != "null" && v >= lo && v <= hi) }'; then
		PASS=$((PASS + 1))
		echo "ok   $1 ($2 in [$3, $4])"
	else
		FAIL=$((FAIL + 1))
		echo "FAIL $1: $2 not in [$3, $4]"
	fi
}
