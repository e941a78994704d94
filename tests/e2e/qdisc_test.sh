#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# End-to-end test of `stagetrace qdisc` on the real kernel with real packets.
#
# Namespaces A and B joined by two veth pairs (va1/vb1 10.81.1.0/24, va2/vb2
# 10.81.2.0/24), tbf qdiscs on A's ends. IPv6 is off and A has static
# neighbour entries, so only the test's own UDP datagrams (stpkt) cross the
# veths and every count can be compared exactly:
#   --drops    a tbf with a 3000-byte queue overflows: the drops counted equal
#              the "dropped" tbf itself reports (tc -s qdisc) +-0, each with
#              reason QDISC_DROP and the queue depth at the drop (qlen 1..5,
#              backlog 1..3000 bytes); -v prints one event per drop.
#   --dequeue  packets dequeued equal packets sent and tbf's "Sent", bytes
#              equal sent x skb length.
#   --latency  two tbf rates, 1 and 4 Mbit/s, take interleaved bursts: every
#              packet gets a latency and the slow qdisc's median is more than
#              twice the fast one's (the physics say 4x).
#   --xmit     queued = started = driver OK = packets sent, on the right TX queue.
#   --tc       adding and deleting an htb shows its create/destroy events; an
#              egress clsact program returning TC_ACT_SHOT yields TC_EGRESS drops;
#              an htb with u32 filters: the class counters show 30/20/5 packets
#              sent to ports 7001/7002/other landing in 1:10/1:20/1:30.
# And bad flags exit 2 with one line.
#
# Needs root, jq, tc, clang. Usage: tests/e2e/qdisc_test.sh [BUILD_DIR].
# Prints "N passed, N failed" last; exits non-zero on any failure.

set -u
LT_NAME=qdisc_test
LT_TRACER=(qdisc -i 30)
LT_READY='"type":"start"'
. "$(dirname "${BASH_SOURCE[0]}")/local_lib.sh"
PKT=$O/tests/tools/stpkt
NSA=st-qdisc-a-$SFX
NSB=st-qdisc-b-$SFX
lt_begin jq tc ip clang
[[ -x $PKT ]] || { log "no $PKT (run make)"; echo "0 passed, 1 failed"; exit 1; }

# ---- topology ---------------------------------------------------------------
lt_netns "$NSA" "$NSB" || exit 1
for i in 1 2; do
	ip link add va$i netns "$NSA" type veth peer name vb$i netns "$NSB" || exit 1
	ip -n "$NSA" addr add 10.81.$i.1/24 dev va$i
	ip -n "$NSB" addr add 10.81.$i.2/24 dev vb$i
	# Static neighbours and no ARP: only stpkt's datagrams cross.
	ip -n "$NSA" link set va$i arp off up
	ip -n "$NSB" link set vb$i arp off up
	mac=$(ip netns exec "$NSB" cat /sys/class/net/vb$i/address)
	ip -n "$NSA" neigh replace 10.81.$i.2 lladdr "$mac" dev va$i nud permanent
done
INOA=$(stat -L -c %i /run/netns/"$NSA")

tbf() { # dev rate limit
	ip netns exec "$NSA" tc qdisc replace dev "$1" root handle 10: tbf rate "$2" burst 1600 limit "$3"
}
# A tbf counter of dev from tc -s: dropped or pkts (Sent N bytes M pkt).
tc_stat() { # dev dropped|pkt|bytes
	local s
	s=$(ip netns exec "$NSA" tc -s qdisc show dev "$1" | grep -m1 -o 'Sent.*)')
	case $2 in
	dropped) sed -E 's/.*dropped ([0-9]+).*/\1/' <<<"$s" ;;
	pkt) sed -E 's/Sent [0-9]+ bytes ([0-9]+) pkt.*/\1/' <<<"$s" ;;
	bytes) sed -E 's/Sent ([0-9]+) bytes.*/\1/' <<<"$s" ;;
	esac
}
# Wait (up to 10 s) until dev's qdisc has sent want packets in all: tbf
# releases packets on a timer, which a loaded machine runs late.
wait_sent() { # dev want
	local i
	for ((i = 0; i < 100; i++)); do
		[[ $(tc_stat "$1" pkt) -ge $2 ]] && return 0
		sleep 0.1
	done
	log "$1 sent only $(tc_stat "$1" pkt) of $2 packets"
}
udp() { # dev-index count size [pps]
	ip netns exec "$NSA" "$PKT" udp 10.81.$1.2 9000 "$2" "$3" ${4:-} >/dev/null
}

# jq over the interval lines of a tracer's output.
jqi() { # name filter
	jq -rs "[.[] | select(.type == \"interval\")] | $2" "$TMP/$1.out"
}

# ---- 1. drops with queue depth -------------------------------------------------
log "--drops: a full tbf (3000-byte queue) against tc's own drop counter"
tbf va1 1mbit 3000
start_tracer drops --drops --json --netns "$NSA" --dev va1 || exit 1
start_tracer dropsv --drops --json -v --netns "$NSA" || exit 1
start_tracer dropsr --drops --json --method raw_tp --netns "$NSA" --dev va1 || exit 1
before=$(tc_stat va1 dropped)
udp 1 300 500
sleep 0.5
after=$(tc_stat va1 dropped)
stop_tracer drops
stop_tracer dropsv
stop_tracer dropsr
tcd=$((after - before))
eq "tracer exit status" "$RC_drops$RC_dropsv$RC_dropsr" "000"
check "tbf dropped packets ($tcd)" test "$tcd" -gt 0
eq "qdisc drops counted = tc -s qdisc dropped" "$(jqi drops '[.[].total] | add')" "$tcd"
eq "raw_tp counts the same" "$(jqi dropsr '[.[].total] | add')/$(jqi dropsr '[.[].attach[0].method] | unique | join(",")')" "$tcd/raw_tp"
eq "every drop is QDISC_DROP in tbf 10: on va1" \
	"$(jqi drops "[.[].drops[] | select(.reason == \"QDISC_DROP\" and .kind == \"tbf\" and .handle == \"10:\" and .dev == \"va1@$NSA\" and .netns == $INOA) | .count] | add")" "$tcd"
qmax=$(jqi drops '[.[].drops[].qlen_max] | max')
bmax=$(jqi drops '[.[].drops[].backlog_max] | max')
qavg=$(jqi drops '[.[].drops[].qlen_avg] | max')
check "queue depth at the drop: qlen max $qmax in 1..5 (3000 B / 542 B packets)" \
	test "$qmax" -ge 1 -a "$qmax" -le 5
check "queue depth at the drop: backlog max $bmax in 1..3000 bytes" \
	test "$bmax" -ge 1 -a "$bmax" -le 3000
check "a full queue: average qlen at the drops $qavg >= 4" \
	jqtrue "$qavg >= 4"
loc=$(jqi drops '[.[].drops[].location] | unique | join(",")')
check "drop location is symbol+offset ($loc)" grep -Eqx '[A-Za-z_][A-Za-z0-9_.]*\+0x[0-9a-f]+' <<<"$loc"
eq "-v: one event per drop" \
	"$(jq -s "[.[] | select(.type == \"event\" and .event == \"drop\" and .qdisc.dev == \"va1@$NSA\")] | length" "$TMP/dropsv.out")" "$tcd"
eq "-v: events carry depth and flow" \
	"$(jq -s "[.[] | select(.type == \"event\" and .qlen >= 1 and .backlog >= 1 and (.flow | startswith(\"udp 10.81.1.1:\")))] | length" "$TMP/dropsv.out")" "$tcd"

# ---- 2. dequeue counts ----------------------------------------------------------
log "--dequeue: packets dequeued = packets sent (no drops: 100 Mbit/s, big queue)"
tbf va2 100mbit 1000000
start_tracer deq --dequeue --json --netns "$NSA" --dev va2 || exit 1
p0=$(tc_stat va2 pkt)
b0=$(tc_stat va2 bytes)
udp 2 100 200
wait_sent va2 $((p0 + 100))
sleep 0.2
p1=$(tc_stat va2 pkt)
b1=$(tc_stat va2 bytes)
stop_tracer deq
eq "tracer exit status" "$RC_deq" 0
eq "tbf sent what was sent" "$((p1 - p0))" 100
eq "packets dequeued" "$(jqi deq '[.[].qdiscs[] | select(.dev == "va2@'"$NSA"'" and .kind == "tbf") | .packets] | add')" 100
# 200 B payload + UDP 8 + IPv4 20 + Ethernet 14.
eq "bytes dequeued = 100 x 242 = tc's Sent bytes" \
	"$(jqi deq '[.[].qdiscs[].bytes] | add')/$((b1 - b0))" "24200/24200"
eq "batch sizes add up to the non-empty calls" \
	"$(jqi deq '[.[].qdiscs[] | (.batches | to_entries | map(.value) | add // 0)] | add')" \
	"$(jqi deq '[.[].qdiscs[] | .calls - .empty] | add')"
eq "no requeues on a veth" "$(jqi deq '[.[].qdiscs[].requeues] | add')" 0

# ---- 3. latency grows when the rate falls ----------------------------------------
log "--latency: 1 Mbit/s vs 4 Mbit/s, bursts of 10 x 1000 B, interleaved"
tbf va1 1mbit 100000
tbf va2 4mbit 100000
start_tracer lat --latency --json --netns "$NSA" || exit 1
start_tracer latv --latency --json -v --netns "$NSA" --dev va1 --proto udp --dport 9000 || exit 1
l1=$(tc_stat va1 pkt)
l2=$(tc_stat va2 pkt)
for ((r = 0; r < 4; r++)); do
	udp 1 10 1000
	udp 2 10 1000
	sleep 0.2
done
wait_sent va1 $((l1 + 40))
wait_sent va2 $((l2 + 40))
sleep 0.2
stop_tracer lat
stop_tracer latv
eq "tracer exit status" "$RC_lat$RC_latv" "00"
c1=$(jqi lat '[.[].qdiscs[] | select(.dev == "va1@'"$NSA"'") | .latency.count] | add')
c2=$(jqi lat '[.[].qdiscs[] | select(.dev == "va2@'"$NSA"'") | .latency.count] | add')
eq "every packet has a latency (slow, fast)" "$c1/$c2" "40/40"
# One interval (-i 30) holds the whole run, so its p50 is the run's median.
m1=$(jqi lat '[.[].qdiscs[] | select(.dev == "va1@'"$NSA"'") | .latency.p50_us] | max')
m2=$(jqi lat '[.[].qdiscs[] | select(.dev == "va2@'"$NSA"'") | .latency.p50_us] | max')
log "median latency: 1 Mbit/s $m1 us, 4 Mbit/s $m2 us"
check "median at 1 Mbit/s ($m1 us) > 2 x median at 4 Mbit/s ($m2 us)" \
	jqtrue "$m1 > 2 * $m2 and $m2 > 0"
check "median at 1 Mbit/s ($m1 us) is milliseconds of queueing (> 10 ms)" \
	jqtrue "$m1 > 10000"
eq "-v with a header filter: one event per packet on va1" \
	"$(jq -s '[.[] | select(.type == "event" and .event == "dequeue" and .latency_us > 0)] | length' "$TMP/latv.out")" 40

# ---- 3b. multi-queue: one tbf per TX queue under mq --------------------------
log "--latency on a 2-queue veth: mq with tbf 11: on 1:1 (txq 0) and 12: on 1:2 (txq 1)"
ip -n "$NSA" link add mq0 numtxqueues 2 numrxqueues 2 type veth peer name mq1 \
	numtxqueues 2 numrxqueues 2 || exit 1
ip -n "$NSA" addr add 10.81.9.1/24 dev mq0
ip -n "$NSA" link set mq0 arp off up
ip -n "$NSA" link set mq1 up
ip -n "$NSA" neigh replace 10.81.9.2 lladdr 02:00:00:00:00:09 dev mq0 nud permanent
ip netns exec "$NSA" tc qdisc add dev mq0 root handle 1: mq
for q in 1 2; do
	ip netns exec "$NSA" tc qdisc replace dev mq0 parent 1:$q handle 1$q: tbf rate 50mbit \
		burst 5000 limit 100000
done
start_tracer mq --latency --json --netns "$NSA" --dev mq0 || exit 1
for ((p = 1; p <= 6; p++)); do
	ip netns exec "$NSA" "$PKT" udp 10.81.9.2 900$p 10 200 >/dev/null
done
wait_sent mq0 60	# mq's own line sums its children
sleep 0.2
stop_tracer mq
eq "tracer exit status" "$RC_mq" 0
eq "every packet has a latency on mq0" "$(jqi mq '[.[].qdiscs[].latency.count] | add')" 60
eq "each row's txq is its tbf's queue (parent 1:N -> txq N-1)" \
	"$(jqi mq '[.[].qdiscs[] | select(.kind != "tbf" or .parent != "1:\(.txq + 1)")] | length')" 0
for q in 1 2; do
	sent=$(ip netns exec "$NSA" tc -s qdisc show dev mq0 | grep -A1 "tbf 1$q:" | grep -o 'Sent [0-9]* bytes [0-9]*' | awk '{print $4}')
	eq "tbf 1$q: latencies = its own Sent count" \
		"$(jqi mq "[.[].qdiscs[] | select(.handle == \"1$q:\") | .latency.count] | add // 0")" "$sent"
done

# ---- 4. xmit ----------------------------------------------------------------------
log "--xmit: net_dev_queue -> start_xmit on va2"
tbf va2 100mbit 1000000
start_tracer xmit --xmit --json --netns "$NSA" --dev va2 || exit 1
p0=$(tc_stat va2 pkt)
udp 2 50 300
wait_sent va2 $((p0 + 50))
sleep 0.2
stop_tracer xmit
eq "tracer exit status" "$RC_xmit" 0
eq "queued/started/ok on va2 txq 0" \
	"$(jqi xmit '[.[].txqs[] | select(.dev == "va2@'"$NSA"'" and .txq == 0)] | "\(map(.queued) | add)/\(map(.started) | add)/\(map(.xmit_ok) | add)"')" "50/50/50"
eq "queue -> xmit histogram holds every packet" \
	"$(jqi xmit '[.[].txqs[] | .queue_to_xmit.count] | add')" 50
eq "no busy/errors/timeouts" "$(jqi xmit '[.[].txqs[] | .xmit_busy + .xmit_err + .timeouts] | add')" 0

# ---- 5. tc events and tc drops -----------------------------------------------------
log "--tc: htb create/destroy, TC_EGRESS drops from a clsact program"
cat >"$TMP/shot.c" <<'EOF'
/* Drop everything on egress: TC_ACT_SHOT. */
__attribute__((section("tc"), used)) int shot(void *ctx) { return 2; }
char _license[] __attribute__((section("license"), used)) = "GPL";
EOF
clang -O2 -target bpf -c "$TMP/shot.c" -o "$TMP/shot.o" || exit 1
start_tracer tc --tc --json -i 1 --netns "$NSA" || exit 1
ip netns exec "$NSA" tc qdisc replace dev va2 root handle 7: htb default 1
ip netns exec "$NSA" tc qdisc del dev va2 root
ip netns exec "$NSA" tc qdisc add dev va1 clsact
ip netns exec "$NSA" tc filter add dev va1 egress bpf da obj "$TMP/shot.o" sec tc || log "cannot add the tc program"
udp 1 9 100
ip netns exec "$NSA" tc qdisc del dev va1 clsact
# An htb whose u32 filters send dport 7001 to 1:10, 7002 to 1:20, the rest
# to the default 1:30.
ip netns exec "$NSA" tc qdisc add dev va2 root handle 1: htb default 30
for c in 10 20 30; do
	ip netns exec "$NSA" tc class add dev va2 parent 1: classid 1:$c htb rate 100mbit quantum 1514
done
for p in 1 2; do
	ip netns exec "$NSA" tc filter add dev va2 parent 1: protocol ip prio 1 u32 \
		match ip dport 700$p 0xffff classid 1:${p}0
done
# A new class counts from the first sample that sees it (at an interval's
# end). A fixed 1.2 s could end before that sample when the tracer runs
# late, and the first packets would go into the baseline: wait for two more
# interval lines (the second one's sample began after the classes existed).
n=$(grep -c '"type":"interval"' "$TMP/tc.out")
for ((i = 0; i < 100; i++)); do
	(($(grep -c '"type":"interval"' "$TMP/tc.out") >= n + 2)) && break
	sleep 0.1
done
ip netns exec "$NSA" "$PKT" udp 10.81.2.2 7001 30 300 >/dev/null
ip netns exec "$NSA" "$PKT" udp 10.81.2.2 7002 20 300 >/dev/null
ip netns exec "$NSA" "$PKT" udp 10.81.2.2 7003 5 300 >/dev/null
sleep 0.3
stop_tracer tc
eq "tracer exit status" "$RC_tc" 0
eq "htb created on va2 (7:, then 1:)" \
	"$(jq -s '[.[] | select(.type == "event" and .event == "create" and .qdisc.kind == "htb" and .qdisc.dev == "va2@'"$NSA"'")] | length' "$TMP/tc.out")" 2
eq "htb 7: destroyed on va2" \
	"$(jq -s '[.[] | select(.type == "event" and .event == "destroy" and .qdisc.kind == "htb" and .qdisc.handle == "7:")] | length' "$TMP/tc.out")" 1
eq "TC_EGRESS drops on va1" \
	"$(jqi tc '[.[].drops[] | select(.reason == "TC_EGRESS" and .dev == "va1@'"$NSA"'") | .count] | add')" 9
eq "classes fed by the u32 filters: 1:10/1:20/1:30 packets" \
	"$(for c in 10 20 30; do jqi tc "[.[].tc_stats[] | select(.type == \"class\" and .handle == \"1:$c\" and .dev == \"va2@$NSA\") | .packets] | add // 0"; done | paste -sd/)" "30/20/5"
eq "the htb qdisc passed all 55" \
	"$(jqi tc "[.[].tc_stats[] | select(.type == \"qdisc\" and .kind == \"htb\" and .dev == \"va2@$NSA\") | .packets] | add // 0")" 55
# tcf_classify has no tracepoint; fexit and kprobe are what this kernel
# lacks, so the hook must be reported unavailable, with the reasons.
eq "tcf_classify hook: status in the start line" \
	"$(jq -rs '.[0].classifier[0] | "\(.hook) \(.status)"' "$TMP/tc.out")" \
	"tcf_classify $(if "$ST" probes --try fexit:tcf_classify,kprobe:tcf_classify >/dev/null 2>&1; then echo available; else echo unavailable; fi)"
check "tcf_classify hook: a reason when unavailable" \
	test -n "$(jq -rs '.[0].classifier[0] | if .status == "unavailable" then .reason else .status end' "$TMP/tc.out")"
"$ST" qdisc --check-hooks --json >"$TMP/chk.out" 2>/dev/null
eq "--check-hooks: exit status (an alternative loads)" "$?" 0
eq "--check-hooks: the kprobe/kretprobe programs pass this verifier" \
	"$(jq -rs '[.[] | select(.method == "kprobe" and .loaded)] | length' "$TMP/chk.out")" 1

# ---- 6. bad input -------------------------------------------------------------------
log "usage errors"
bad() { # name want-substring args...
	local name=$1 want=$2 rc
	shift 2
	"$ST" qdisc "$@" >"$TMP/bad.out" 2>"$TMP/bad.err"
	rc=$?
	eq "$name: exit 2" "$rc" 2
	check "$name: one line naming the problem" \
		bash -c "[[ \$(wc -l <'$TMP/bad.err') -eq 1 ]] && grep -q -- '$want' '$TMP/bad.err'"
}
bad "two modes" "exclusive" --drops --latency
bad "--dequeue refuses header filters" "--proto is not supported" --dequeue --proto udp
bad "--pid refused" "--pid is not supported" --pid 1
bad "unknown device" "no such device" --dev nosuchdev0
bad "bad --method" "--method" --method kprobe

lt_end
