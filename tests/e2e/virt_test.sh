#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# End-to-end test of `stagetrace virt tun` on the real kernel with real
# frames: a tap whose reader has stalled.
#
# A namespace holds a multi-queue tap (2 queues, txqueuelen 64, so each
# queue's ring has 64 entries) that tests/tools/taphold attaches to and
# never reads, like a VM whose virtio-net RX stopped. 200 UDP datagrams go
# out of the tap to a static neighbour (IPv6 off: no other frame crosses
# it). Each queue accepts 64 frames, then tun_net_xmit drops every further
# one because the ring is full. Asserted, exactly: 200 frames over the two
# queues; per queue, frames - drops = min(frames, 64); the drops equal the
# kernel's own tx_dropped of the tap; the fill level reached the ring size
# (64) on each queue that got 64 frames or more. A tracer filtered to
# another namespace sees none of it. Also: `virt vhost`, `virt queues`
# and `virt virtio` without their hooks name the unavailable hooks and
# exit 1 (on kernels without kprobes/fentry), bad options exit 2.
#
# Needs root and jq. Usage: tests/e2e/virt_test.sh [BUILD_DIR].

set -u
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
O=${1:-${O:-$REPO/build}}
ST=$O/stagetrace
NS=st-virt-$$
NSO=st-virt-o-$$
TMP=$(mktemp -d /tmp/stagetrace-virt.XXXXXX)
PASS=0
FAIL=0
PIDS=()

cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do
		timeout 5 tail --pid="$p" -f /dev/null 2>/dev/null || kill -KILL "$p" 2>/dev/null
	done
	ip netns del "$NS" 2>/dev/null
	ip netns del "$NSO" 2>/dev/null
	[[ -z ${KEEP:-} ]] && rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

check() { # name command...
	local name=$1
	shift
	if "$@"; then PASS=$((PASS + 1)); echo "ok   $name"; else FAIL=$((FAIL + 1)); echo "FAIL $name"; fi
}

RING=64
SEND=200
for n in "$NS" "$NSO"; do
	ip netns add "$n" || exit 1
	ip netns exec "$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
	ip netns exec "$n" ip link set lo up
done
ip netns exec "$NS" ip tuntap add dev tapst mode tap multi_queue || exit 1
ip netns exec "$NS" ip link set tapst txqueuelen $RING
ip netns exec "$NS" "$O/tests/tools/taphold" --tap tapst --queues 2 --ready "$TMP/ready" &
PIDS+=($!)
for _ in $(seq 50); do [[ -e $TMP/ready ]] && break; sleep 0.1; done
ip netns exec "$NS" ip addr add 10.79.0.1/24 dev tapst
ip netns exec "$NS" ip neigh replace 10.79.0.2 lladdr 02:00:00:00:00:02 dev tapst nud permanent
ip netns exec "$NS" ip link set tapst up

# Two tracers: this namespace, and another one (must see nothing). One
# interval that SIGINT ends once the frames are sent, after "Tracing" (hooks
# attached): a fixed 4 s interval and sleep 1.5 missed frames sent before a
# slow attach, or after the interval if the 200 sends took over 2.5 s.
"$ST" virt tun --netns "$NS" -i 30 -c 1 --json >"$TMP/tun.json" 2>"$TMP/tun.err" &
T1=$!
PIDS+=($T1)
"$ST" virt tun --netns "$NSO" -i 30 -c 1 --json >"$TMP/other.json" 2>"$TMP/other.err" &
T2=$!
PIDS+=($T2)
for f in tun other; do
	for _ in $(seq 100); do grep -q '^Tracing' "$TMP/$f.err" && break; sleep 0.1; done
done
ip netns exec "$NS" bash -c "for i in \$(seq $SEND); do echo x\$i > /dev/udp/10.79.0.2/7000; done"
kill -INT "$T1" "$T2"
wait "$T1"; rc1=$?
wait "$T2"; rc2=$?
cat "$TMP/tun.err" >&2
J=$(cat "$TMP/tun.json")
echo "virt_test: $(jq -c '[.tun_queues[] | {queue, frames, drops_ring_full, fill_max, ring_size}]' <<<"$J")"
kdrop=$(ip netns exec "$NS" cat /sys/class/net/tapst/statistics/tx_dropped)
frames=$(jq '[.tun_queues[].frames] | add // 0' <<<"$J")
drops=$(jq '[.tun_queues[].drops_ring_full] | add // 0' <<<"$J")
check "tracer exited 0 (rc $rc1)" test "$rc1" = 0
m=$(jq -r '.hooks[] | select(.hook == "tun_net_xmit") | "\(.status) \(.method) \(.symbol)"' <<<"$J")
check "tun_net_xmit hook: $m" test "${m%% *}" = available
check "$frames of $SEND frames into the tap's queues" test "$frames" = $SEND
check "two queues seen ($(jq '.tun_queues | length' <<<"$J"))" test "$(jq '.tun_queues | length' <<<"$J")" = 2
check "ring-full drops $drops = kernel tx_dropped $kdrop" test "$drops" = "$kdrop"
check "drops = frames beyond the two rings ($drops = $SEND - 2*$RING)" test "$drops" = $((SEND - 2 * RING))
bad=$(jq --argjson r $RING '[.tun_queues[] | select(.frames - .drops_ring_full != ([.frames, $r] | min))] | length' <<<"$J")
check "per queue: accepted = min(frames, $RING)" test "$bad" = 0
bad=$(jq --argjson r $RING '[.tun_queues[] | select(.frames >= $r and (.fill_max != $r or .ring_size != $r))] | length' <<<"$J")
check "per queue: fill level reached the ring size $RING" test "$bad" = 0
check "other namespace's tracer: no tun frames (rc $rc2)" \
	test "$rc2" = 0 -a "$(jq '[.tun_queues[].frames] | add // 0' "$TMP/other.json")" = 0
check "other namespace's tracer: filtered counter = $SEND+" \
	test "$(jq '.counters.filtered' "$TMP/other.json")" -ge $SEND

# vhost: hooks that need kprobe/fentry; where they are missing the command
# says which and why, and exits 1 (virt queues and virt virtio too).
"$ST" virt vhost -d 1 >"$TMP/vh.out" 2>"$TMP/vh.err"
rc=$?
if [[ $rc -eq 1 ]]; then
	check "virt vhost without hooks: exit 1 and reasons" grep -q 'handle_tx.*unavailable' "$TMP/vh.err"
else
	check "virt vhost ran (hooks available, rc $rc)" test "$rc" = 0
fi
head -n 12 "$TMP/vh.err" >&2
for m in queues virtio; do
	"$ST" virt $m -d 1 >/dev/null 2>"$TMP/$m.err"
	rc=$?
	if [[ $rc -eq 1 ]]; then
		check "virt $m without hooks: exit 1 and reasons" grep -q 'unavailable: .*kprobe' "$TMP/$m.err"
	else
		check "virt $m ran (hooks available, rc $rc)" test "$rc" = 0
	fi
done
# Every program variant this kernel can load passes its verifier: the
# tracepoint fallbacks and the kprobe variants of the tun and virtio hooks
# (vhost's need the vhost modules' BTF, absent here).
"$ST" virt tun --check-hooks --json >"$TMP/ch.json" 2>/dev/null
n=$(jq -s '[.[] | select(.hook == "tun_net_xmit" and .method != "fentry" and .loaded)] | length' "$TMP/ch.json")
check "tun_net_xmit: tp_btf, raw_tp and kprobe variants load ($n of 3)" test "${n:-0}" = 3
"$ST" virt virtio --check-hooks >"$TMP/cv.out" 2>/dev/null
rc=$?
check "virt virtio --check-hooks: every hook has a variant that loads (rc $rc)" test "$rc" = 0
"$ST" virt tun --bogus >/dev/null 2>&1
check "unknown option: exit 2" test $? = 2
"$ST" virt tun --pid 1 >/dev/null 2>&1
check "unsupported common option --pid: exit 2" test $? = 2
"$ST" virt nosuch >/dev/null 2>&1
check "unknown mode: exit 2" test $? = 2

echo "$PASS passed, $FAIL failed"
[[ $FAIL -eq 0 ]]
