#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The multi-port gap matrix: an injected 300 ms stall on one port is
# located at the right stage, on the right host, with the right length.
#
# vma (hv1) sends UDP requests to vmb (hv2) on ports 7001 and 7002 at
# RATE/s each. In hv2, bridged frames to port 7001 coming in from the wire
# go through NFQUEUE to nfqdelay (no added delay), i.e. between hv2's
# nic_rcv and tap_queue stamps. Mid-run nfqdelay is stopped for STALL_MS
# (SIGSTOP/SIGCONT): port 7001's packets wait in the queue, port 7002's
# do not. Asserted:
#   - exactly one stall on vma -> vmb port 7001 starting at the injection,
#     at tap_queue on hv2, of STALL_MS within [-10, +100] ms, with a small
#     gap just upstream (nic_rcv on hv2 saw the packets on time): "started
#     here";
#   - port 7002 did not stall during the injection; a stall on a reply flow,
#     if any, is at its first stage (vmb answered late because the request
#     came late). (This VM is noisy: other, real stalls of a descheduled
#     sender or responder happen and are reported, not asserted away.)
#   - the gap medians equal the send interval (1/RATE) within 20 % at every
#     stage of the healthy port, and the gap counts equal the packets;
#   - gap histograms exist at every stage of both hosts (both ports);
#   - no packet was measured out of order (held packets are released in
#     send order).
set -u
export ST_TB=${ST_TB:-e2egap}
. "$(dirname "$0")/lib.sh"

RATE=${RATE:-100}
DUR=${DUR:-8}
STALL_MS=${STALL_MS:-300}

e2e_begin || exit 1
TB_QUIET=1 tb_up --wire veth || exit 1
NS2=$(tb_ns hv2)
ip netns exec "$NS2" sh -c 'echo 1 >/proc/sys/net/bridge/bridge-nf-call-iptables' || exit 1
ip netns exec "$NS2" "$ST_TOOLS_DIR/nfqdelay" --queue 3 --delay-us 0 \
	--pidfile "$E2E_TMP/nfq.ready" >"$E2E_TMP/nfq.log" 2>&1 &
NFQ=$!
E2E_PIDS+=("$NFQ")
for i in $(seq 50); do [[ -s $E2E_TMP/nfq.ready ]] && break; sleep 0.1; done
[[ -s $E2E_TMP/nfq.ready ]] || { e2e_log "nfqdelay did not start"; cat "$E2E_TMP/nfq.log"; exit 1; }
ipt=iptables
ip netns exec "$NS2" iptables -S >/dev/null 2>&1 || ipt=iptables-legacy
ip netns exec "$NS2" "$ipt" -A FORWARD -m physdev --physdev-in eth0 -p udp --dport 7001 \
	-j NFQUEUE --queue-num 3 --queue-bypass || { e2e_log "no NFQUEUE rule"; exit 1; }

e2e_collector --stall-ms 100 || exit 1
e2e_agent hv1
e2e_agent hv2
e2e_wait_agents 2 || exit 1
tb_traffic --from vma --to vmb --proto udp --rate "$RATE" --duration "$DUR" --dport 7001 >"$E2E_TMP/t1.json" &
t1=$!
tb_traffic --from vma --to vmb --proto udp --rate "$RATE" --duration "$DUR" --dport 7002 >"$E2E_TMP/t2.json" &
t2=$!
sleep 3
# Bash's own clock (no fork between the stamp and the signal): the last
# packet before the stall passes by T_STOPPED; `sleep` overshoots on a busy
# machine, so the stall really lasted T_CONT - T_STOP, not STALL_MS.
T_STOP=${EPOCHREALTIME//[.,]/}000
kill -STOP "$NFQ"
T_STOPPED=${EPOCHREALTIME//[.,]/}000
sleep "$(awk -v m="$STALL_MS" 'BEGIN { print m / 1000 }')"
kill -CONT "$NFQ"
T_CONT=${EPOCHREALTIME//[.,]/}000
HELD_MS=$(((T_CONT - T_STOP) / 1000000))
e2e_log "nfqdelay stopped for $HELD_MS ms (asked $STALL_MS)"
wait "$t1" "$t2"
e2e_stop_agents 3

G=$("$O/stagetrace" gap -C "$E2E_QUERY" --last 10m --json) || { e2e_log "gap query failed"; exit 1; }
[[ -n ${E2E_VERBOSE:-} ]] && "$O/stagetrace" gap -C "$E2E_QUERY" --last 10m
# This machine is noisy: a descheduled sender or responder makes real
# stalls of its own. The injected one is told apart by its time: it starts
# when the last packet before SIGSTOP passed (within 100 ms before it).
lo=$((T_STOP - 100000000))
hi=$((T_STOPPED + 10000000))
mid=$((T_STOP + HELD_MS * 500000))
S1=$(jq -c --argjson lo "$lo" --argjson hi "$hi" '[.stalls[] | select(.src == "vma" and .dst == "vmb" and
	.port == 7001 and .start_ns >= $lo and .start_ns <= $hi)]' <<<"$G")
e2e_log "stalls recorded: $(jq '.stalls | length' <<<"$G") (other than the injected one: the machine's own noise)"
check "one stall on vma -> vmb port 7001 at the injection ($(jq length <<<"$S1"))" test "$(jq length <<<"$S1")" = 1
check "located at tap_queue on hv2 ($(jq -r '.[0] | "\(.stage) on \(.host)"' <<<"$S1"))" \
	test "$(jq -r '.[0] | "\(.stage)@\(.host)"' <<<"$S1")" = "tap_queue@hv2"
# Upper bound from the stop nfqdelay really got (HELD_MS >= STALL_MS): the
# gap adds at most a send interval and nfqdelay's wake-up to it.
check_range "stall length (ms, injected $STALL_MS, held $HELD_MS)" "$(jq '.[0].duration_ms' <<<"$S1")" \
	$((STALL_MS - 10)) $((HELD_MS + 100))
check "started there: upstream gap small, not seen upstream ($(jq -c '.[0] | [.upstream_gap_ms, .seen_upstream]' <<<"$S1"))" \
	test "$(jq '.[0].upstream_gap_ms < 50 and .[0].seen_upstream == false' <<<"$S1")" = true
S2=$(jq -c --argjson m "$mid" '[.stalls[] | select(.src == "vma" and .dst == "vmb" and .port == 7002 and
	.start_ns <= $m and .start_ns + .duration_ms * 1e6 >= $m)]' <<<"$G")
check "port 7002 did not stall during the injection ($(jq -c '[.[] | .stage]' <<<"$S2"))" test "$(jq length <<<"$S2")" = 0
end=$((T_STOP + (HELD_MS + 100) * 1000000))
check "reply-flow stalls of the injection, if any, are at their first stage (vmb answered late)" \
	test "$(jq --argjson lo "$lo" --argjson e "$end" '[.stalls[] | select(.src == "vmb" and .start_ns >= $lo and
		.start_ns <= $e) | select(.upstream_gap_ms != null)] | length' <<<"$G")" = 0
F2=$(jq -c '.flows[] | select(.src == "vma" and .dst == "vmb" and .port == 7002)' <<<"$G")
sent2=$(jq .sent "$E2E_TMP/t2.json")
npts=$(jq '.points | length' <<<"$F2")
check "port 7002: gap histograms at $npts stages on both hosts" \
	test "$npts" -ge 4 -a "$(jq '[.points[].host] | unique | length' <<<"$F2")" = 2
iv=$(awk -v r="$RATE" 'BEGIN { print 1e6 / r }')
bad=$(jq --argjson iv "$iv" '[.points[] | select(.p50_us < 0.8 * $iv or .p50_us > 1.2 * $iv)] | length' <<<"$F2")
check "port 7002: gap median = send interval ($iv us) +-20 % at every stage ($(jq -c '[.points[].p50_us]' <<<"$F2"))" test "$bad" = 0
check_range "port 7002: gaps counted per stage = packets - 1" "$(jq '.points[0].count' <<<"$F2")" \
	$((sent2 * 98 / 100 - 1)) "$sent2"
check "no packet measured out of order or dropped ($(jq -c '.counters | [.reordered, .flows_dropped, .stalls_dropped]' <<<"$G"))" \
	test "$(jq -c '.counters | [.reordered, .flows_dropped, .stalls_dropped]' <<<"$G")" = "[0,0,0]"
F1=$(jq -c '.flows[] | select(.src == "vma" and .dst == "vmb" and .port == 7001)' <<<"$G")
check_range "port 7001: the gap histogram at tap_queue on hv2 holds the stall (max, us)" \
	"$(jq '[.points[] | select(.stage == "tap_queue" and .host == "hv2")][0].max_us' <<<"$F1")" \
	$(((STALL_MS - 10) * 1000)) 10000000
# --- the pairs x ports grid -------------------------------------------------
"$O/stagetrace" gap -C "$E2E_QUERY" --last 10m --matrix >"$E2E_TMP/grid.txt"
[[ -n ${E2E_VERBOSE:-} ]] && cat "$E2E_TMP/grid.txt"
row=$(grep '^vma -> vmb ' "$E2E_TMP/grid.txt")
check "gap --matrix: vma -> vmb, port 7001 cell: largest gap >= $((STALL_MS - 10)) ms, >= 1 stall ($(echo $row))" \
	awk -v r="$row" -v m=$((STALL_MS - 10)) 'BEGIN { split(r, f, " "); exit !(f[4] >= m && f[5] == "/" && f[6] >= 1) }'
check "gap --matrix: columns 7001 and 7002 in order" \
	grep -Eq '^PAIR .* 7001 +7002' "$E2E_TMP/grid.txt"

# --- pcapng export of the stored sampled paths ------------------------------
"$O/stagetrace" paths -C "$E2E_QUERY" --last 10m --slowest 10000 --json >"$E2E_TMP/paths.json"
np=$(jq '.paths | length' "$E2E_TMP/paths.json")
"$O/stagetrace" export -C "$E2E_QUERY" --last 10m --pcapng "$E2E_TMP/p.pcapng" 2>"$E2E_TMP/export.err"
check "export: exit 0 ($(cat "$E2E_TMP/export.err"))" test $? = 0
check "tcpdump reads $np packets back" test "$(tcpdump -nn -r "$E2E_TMP/p.pcapng" 2>/dev/null | wc -l)" = "$np"
n7001=$(jq '[.paths[] | select(.flow | test("-> [0-9.]+:7001 "))] | length' "$E2E_TMP/paths.json")
check "a BPF filter on the rebuilt headers works (udp dst port 7001: $n7001)" \
	test "$(tcpdump -nn -r "$E2E_TMP/p.pcapng" 'udp dst port 7001' 2>/dev/null | wc -l)" = "$n7001"
check "headers checksum-clean (tcpdump -v finds no bad cksum)" \
	test "$(tcpdump -v -nn -r "$E2E_TMP/p.pcapng" 2>/dev/null | grep -ci 'bad cksum')" = 0
# Times and comments: every packet's time is a stored path's first stamp
# (ns) and its comment names that path's packet id and every stage.
python3 - "$E2E_TMP/p.pcapng" "$E2E_TMP/paths.json" >"$E2E_TMP/pcapng.check" 2>&1 <<'PY'
import json, struct, sys
data = open(sys.argv[1], 'rb').read()
paths = {p['packet_id']: p for p in json.load(open(sys.argv[2]))['paths']}
off, seen, bad = 0, 0, []
while off < len(data):
    btype, blen = struct.unpack_from('<II', data, off)
    if btype == 6:
        hi, lo, cap = struct.unpack_from('<III', data, off + 12)
        o = off + 28 + ((cap + 3) & ~3)
        comment = ''
        while o < off + blen - 4:
            code, ln = struct.unpack_from('<HH', data, o)
            if code == 0:
                break
            if code == 1:
                comment = data[o + 4:o + 4 + ln].decode()
            o += 4 + ((ln + 3) & ~3)
        pid = comment.split(' pkt ')[1].split(':')[0] if ' pkt ' in comment else None
        p = paths.get(pid)
        seen += 1
        if not p:
            bad.append('no path for comment %r' % comment)
        elif (hi << 32 | lo) != p['time_ns']:
            bad.append('time %d != %d' % (hi << 32 | lo, p['time_ns']))
        elif not all(s['stage'] in comment for s in p['stages']) or 'total' not in comment:
            bad.append('stages missing in %r' % comment)
    off += blen
print(seen, len(bad), bad[:3])
sys.exit(0 if seen == len(paths) and not bad else 1)
PY
check "pcapng: times = first stamps, comments carry packet id and every stage ($(cat "$E2E_TMP/pcapng.check"))" \
	test $? = 0
e2e_end
