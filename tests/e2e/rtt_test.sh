#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# End-to-end test of `stagetrace rtt` on the real kernel with real ICMP.
#
# Two network namespaces A (10.93.0.1) and B (10.93.0.2) joined by a veth
# pair. In B an NFQUEUE rule holds every echo request 20 ms before the
# kernel answers it (tests/tools/nfqdelay). A sends echo requests with
# tests/tools/icmpping (raw socket, known id and sequence numbers). One
# tracer runs in A's direction (tx, --netns A), one in B's (--rx --netns B):
#
#  1. 20 requests: all answered, none lost; the median round trip is the
#     injected 20 ms plus at most 6 ms of this VM's noise; the tx split puts
#     it in "network" (request to driver -> reply at the device) with
#     "send" and "recv" under 2 ms; the rx split puts it in "stack"
#     (request at B's device -> reply queued) with "send" under 2 ms.
#  2. An iptables rule in B's OUTPUT chain drops the replies of 7 requests,
#     then is removed and 5 more are sent: lost == 7 and answered == 5
#     exactly in tx, unanswered == 7 and answered == 5 in rx.
#     Filters: a tracer whose --dst-ip is another address sees 0 requests;
#     --dev lo in A's netns sees none either.
#  3. 10 requests to an address B does not own, with --max-inflight 4:
#     4 tracked and lost, 6 counted as untracked (map full), exactly.
#  4. Text output. 5. Usage errors: one line, exit 2.
#
# Needs root, jq, iptables. Usage: tests/e2e/rtt_test.sh [BUILD_DIR].
# Prints "N passed, N failed" last; exits non-zero on any failure.

set -u
LT_NAME=rtt_test
LT_TRACER=(rtt -i 0.3 --timeout 500ms --json)
. "$(dirname "${BASH_SOURCE[0]}")/local_lib.sh"
PING=$O/tests/tools/icmpping
NFQ=$O/tests/tools/nfqdelay
NSA=st-rtt-a-$SFX
NSB=st-rtt-b-$SFX
QNUM=$((200 + SFX % 50))

lt_begin jq iptables ip
for b in "$PING" "$NFQ"; do
	[[ -x $b ]] || { log "no $b (run make)"; echo "0 passed, 1 failed"; exit 1; }
done

# ---- topology ---------------------------------------------------------------
lt_netns "$NSA" "$NSB" || exit 1
ip link add ra netns "$NSA" type veth peer name rb netns "$NSB" || exit 1
ip -n "$NSA" addr add 10.93.0.1/24 dev ra
ip -n "$NSB" addr add 10.93.0.2/24 dev rb
ip -n "$NSA" link set ra up
ip -n "$NSB" link set rb up
ip -n "$NSA" neigh replace 10.93.0.2 lladdr "$(ip netns exec "$NSB" cat /sys/class/net/rb/address)" \
	dev ra nud permanent
ip -n "$NSB" neigh replace 10.93.0.1 lladdr "$(ip netns exec "$NSA" cat /sys/class/net/ra/address)" \
	dev rb nud permanent
ip netns exec "$NSB" iptables -A INPUT -p icmp --icmp-type echo-request \
	-j NFQUEUE --queue-num "$QNUM" || exit 1
ip netns exec "$NSB" "$NFQ" --queue "$QNUM" --delay-us 20000 --quiet --pidfile "$TMP/nfq.ready" &
PIDS+=($!)
# No --queue-bypass: a request queued before nfqdelay binds is dropped, so
# wait for its pid file (written once bound) instead of a fixed 0.3 s.
wait_file "$TMP/nfq.ready" || { log "nfqdelay did not bind queue $QNUM"; echo "0 passed, 1 failed"; exit 1; }

summary() { # name jq-expression on the summary object
	jq -r "select(.type == \"summary\") | $2" "$TMP/$1.out"
}

ms() { awk -v v="$1" 'BEGIN { printf "%.3f", v / 1000 }'; }

# ---- 1. delay at the peer, in the right segment ------------------------------
log "20 echo requests, 20 ms held in $NSB"
start_tracer tx --netns "$NSA" || exit 1
start_tracer rx --rx --netns "$NSB" || exit 1
start_tracer other --netns "$NSA" --dst-ip 10.93.0.3 || exit 1
start_tracer odev --netns "$NSA" --dev lo || exit 1
start_tracer txv -v --netns "$NSA" || exit 1
start_tracer raw --method raw_tp --netns "$NSA" || exit 1
start_tracer rxv -v --rx --netns "$NSB" || exit 1
ip netns exec "$NSA" "$PING" 10.93.0.2 20 30 101 300 >"$TMP/ping1.out"
sleep 0.7
for t in tx rx other odev txv raw rxv; do stop_tracer "$t"; done
eq "tracer exit status" "$RC_tx$RC_rx$RC_other$RC_odev$RC_txv$RC_raw$RC_rxv" "0000000"
eq "pinger got every reply" "$(tail -1 "$TMP/ping1.out")" "sent 20 received 20"
eq "tx: requests/answered/lost" "$(summary tx '"\(.requests)/\(.answered)/\(.lost)"')" "20/20/0"
within "tx: median rtt (ms)" "$(ms "$(summary tx .hist.rtt.p50_us)")" 20.0 26.0
within "tx: median network stage (ms)" "$(ms "$(summary tx .hist.network.p50_us)")" 20.0 26.0
within "tx: median send stage (ms)" "$(ms "$(summary tx .hist.send.p50_us)")" 0 2
within "tx: median recv stage (ms)" "$(ms "$(summary tx .hist.recv.p50_us)")" 0 2
eq "tx: rtt, send, network, recv have 20 samples each" \
	"$(summary tx '[.hist.rtt, .hist.send, .hist.network, .hist.recv] | map(.count | tostring) | join(",")')" "20,20,20,20"
eq "tx: nothing lost by the tracer" \
	"$(summary tx '"\(.counters.lost_untracked_map_full)/\(.counters.lost_events)/\(.unmatched_replies)"')" "0/0/0"
eq "rx: requests/answered/unanswered" "$(summary rx '"\(.requests)/\(.answered)/\(.lost)"')" "20/20/0"
within "rx: median reply time (ms)" "$(ms "$(summary rx .hist.reply_time.p50_us)")" 20.0 26.0
within "rx: median stack stage (ms)" "$(ms "$(summary rx .hist.stack.p50_us)")" 20.0 26.0
within "rx: median send stage (ms)" "$(ms "$(summary rx .hist.send.p50_us)")" 0 2
eq "--method raw_tp: requests/answered/lost, attached by raw_tp" \
	"$(summary raw '"\(.requests)/\(.answered)/\(.lost) \(.attach.net_dev_start_xmit)"')" "20/20/0 raw_tp"
within "--method raw_tp: median network stage (ms)" "$(ms "$(summary raw .hist.network.p50_us)")" 20.0 26.0
# ip_output (fentry, else kprobe) is optional: either it is attached and
# splits the stages, or it is reported unavailable with a reason.
if [[ $(summary tx '.hooks[0].status') == available ]]; then
	eq "ip_output hook: ip_out samples (tx) and icmp/ip_out (rx)" \
		"$(summary tx .hist.ip_out.count)/$(summary rx .hist.icmp.count)/$(summary rx .hist.ip_out.count)" "20/20/20"
else
	check "ip_output hook unavailable, with the reason ($(summary tx .hooks[0].reason | cut -c1-60)...)" \
		test -n "$(summary tx .hooks[0].reason)" -a "$(summary tx .hist.ip_out.count)" = 0
fi
eq "--dst-ip of another address: no requests" "$(summary other .requests)" 0
eq "--dev lo: no requests" "$(summary odev .requests)" 0
eq "-v: one answered echo line per sequence 1..20, id 101, ra both ways" \
	"$(jq -s '[.[] | select(.type == "echo" and .status == "answered" and .id == 101 and
		.src == "10.93.0.1" and .dst == "10.93.0.2" and
		.dev_out == "ra@'"$NSA"'" and .dev_in == "ra@'"$NSA"'" and
		.total_us >= 20000 and .stages.network_us >= 20000) | .seq] | sort == [range(1; 21)]' \
		"$TMP/txv.out")" true
check "-v: total = send + network + recv for every line (+-0.01 us)" \
	jq -es '[.[] | select(.type == "echo") |
		(.total_us - .stages.send_us - .stages.network_us - .stages.recv_us) | fabs < 0.01] |
		length == 20 and all' "$TMP/txv.out" >/dev/null

eq "--rx -v: 20 answered lines, request in and reply out by rb, stack >= 20 ms" \
	"$(jq -s '[.[] | select(.type == "echo" and .status == "answered" and .mode == "rx" and
		.src == "10.93.0.1" and .dst == "10.93.0.2" and .dev_in == "rb@'"$NSB"'" and
		.dev_out == "rb@'"$NSB"'" and .stages.stack_us >= 20000)] | length' "$TMP/rxv.out")" 20

# ---- 2. exact loss --------------------------------------------------------------
log "7 replies dropped in $NSB, then 5 answered"
start_tracer tx2 --netns "$NSA" || exit 1
start_tracer rx2 --rx --netns "$NSB" || exit 1
start_tracer tx2v -v --netns "$NSA" || exit 1
ip netns exec "$NSB" iptables -A OUTPUT -p icmp --icmp-type echo-reply -j DROP
ip netns exec "$NSA" "$PING" 10.93.0.2 7 20 102 100 >"$TMP/ping2.out"
# The pinger waits only 100 ms past its last request, held 20 ms: a nfqdelay
# stalled longer would release a request after the rule is gone and it would
# be answered. Remove the rule once it has dropped all 7 replies.
reply_drops() { ip netns exec "$NSB" iptables -L OUTPUT -v -x -n | awk '$3 == "DROP" { print $1; exit }'; }
for ((i = 0; i < 100; i++)); do n=$(reply_drops); ((${n:-0} >= 7)) && break; sleep 0.1; done
ip netns exec "$NSB" iptables -D OUTPUT -p icmp --icmp-type echo-reply -j DROP
ip netns exec "$NSA" "$PING" 10.93.0.2 5 20 103 300 >"$TMP/ping3.out"
sleep 0.8	# past the 500 ms timeout of the last dropped reply
for t in tx2 rx2 tx2v; do stop_tracer "$t"; done
eq "pinger: 0 of 7, then 5 of 5" "$(tail -1 "$TMP/ping2.out")|$(tail -1 "$TMP/ping3.out")" \
	"sent 7 received 0|sent 5 received 5"
eq "tx: requests/answered/lost" "$(summary tx2 '"\(.requests)/\(.answered)/\(.lost)"')" "12/5/7"
eq "rx: requests/answered/unanswered" "$(summary rx2 '"\(.requests)/\(.answered)/\(.lost)"')" "12/5/7"
eq "-v: the lost ones are id 102 seq 1..7" \
	"$(jq -sc '[.[] | select(.type == "echo" and .status == "lost") | "\(.id):\(.seq)"] | sort' \
		"$TMP/tx2v.out")" '["102:1","102:2","102:3","102:4","102:5","102:6","102:7"]'
eq "interval objects add up to the loss" \
	"$(jq -s '[.[] | select(.type == "interval") | .lost] | add' "$TMP/tx2.out")" 7

# ---- 3. a full map is counted, not hidden ----------------------------------------
log "10 unanswerable requests with room for 4"
ip -n "$NSA" neigh replace 10.93.0.3 lladdr "$(ip netns exec "$NSB" cat /sys/class/net/rb/address)" \
	dev ra nud permanent
start_tracer full --netns "$NSA" --max-inflight 4 || exit 1
ip netns exec "$NSA" "$PING" 10.93.0.3 10 10 105 50 >/dev/null
sleep 0.8
stop_tracer full
eq "--max-inflight 4: 4 tracked and lost, 6 counted as untracked" \
	"$(summary full '"\(.requests)/\(.lost)/\(.counters.lost_untracked_map_full)"')" "4/4/6"
eq "interval objects carry the untracked count" \
	"$(jq -s '[.[] | select(.type == "interval") | .counters.lost_untracked_map_full] | add' "$TMP/full.out")" 6
"$ST" rtt --netns "$NSA" --max-inflight 2 --timeout 300ms -d 2 -i 0.6 >"$TMP/fulltext.out" \
	2>"$TMP/fulltext.err" &
PIDS+=($!)
TPID=$!
wait_tracing "$TMP/fulltext.err" "$TPID" || exit 1
ip netns exec "$NSA" "$PING" 10.93.0.3 5 10 106 50 >/dev/null
wait "$TPID"
check "text: the untracked requests are printed" \
	grep -q 'lost: 3 requests untracked (map of 2 in-flight exchanges full)' "$TMP/fulltext.out"

# ---- 4. text output --------------------------------------------------------------
"$ST" rtt --netns "$NSA" -d 2.5 -i 0.5 >"$TMP/text.out" 2>"$TMP/text.err" &
PIDS+=($!)
TPID=$!
wait_tracing "$TMP/text.err" "$TPID" || exit 1
ip netns exec "$NSA" "$PING" 10.93.0.2 3 30 104 200 >/dev/null
wait "$TPID"
eq "text: exit status" "$?" 0
check "text: interval lines and a summary with 3 answered" \
	grep -q 'Summary: requests 3, answered 3, lost 0' "$TMP/text.out"
check "text: the network stage histogram is printed" grep -q '^  network (request to the driver' "$TMP/text.out"

# ---- 5. usage errors -------------------------------------------------------------
rc_of() { "$@" >/dev/null 2>"$TMP/err"; echo $?; }
one_line() { [[ $(wc -l <"$TMP/err") -eq 1 ]] && grep -q '^error: ' "$TMP/err"; }
for args in "--bogus" "--pid 1" "--proto udp" "--dport 80" "--timeout 0" "--timeout x" "--max-inflight 0" \
	"--dst-ip 10.1.2.300" "--netns no-such-ns-$SFX" "--method kprobe" "extra"; do
	# shellcheck disable=SC2086
	eq "usage error: rtt $args -> exit 2" "$(rc_of "$ST" rtt $args)" 2
	check "usage error: rtt $args -> one line" one_line
done
eq "-h -> exit 0" "$(rc_of "$ST" rtt -h)" 0
# --check-hooks loads each alternative of the optional hook through the
# verifier: the kprobe program loads on any kernel (only attaching it
# needs kprobes), so at least that one passes and the exit status is 0.
"$ST" rtt --check-hooks --json >"$TMP/ck.out" 2>/dev/null
eq "--check-hooks: exit 0, the kprobe program verified" \
	"$?/$(jq -r 'select(.method == "kprobe") | .loaded' "$TMP/ck.out")" "0/true"

lt_end
