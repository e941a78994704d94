#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# End-to-end test of `stagetrace defrag` on the real kernel with real packets.
#
# Namespaces A (va 10.83.0.1) and B (vb 10.83.0.2) joined by a veth pair
# (MTU 1500), IPv6 off, B's net.ipv4.ipfrag_time lowered to 1 s so a
# reassembly times out quickly. Into B go:
#
#   1. a 3000-byte UDP datagram A's kernel fragments (3 fragments, 3008
#      payload bytes): one complete datagram, no failure; B's kernel counts
#      one ReasmOKs.
#   2. two of three fragments of datagram id 4242 (tests/tools/rawsend,
#      offsets 0 and 800, the last never sent): one failure with reason
#      FRAG_REASM_TIMEOUT at ip_expire, 2 fragments / 1600 bytes seen,
#      first yes, last no.
#   3. only a middle fragment of id 4343: one failure, FRAG_REASM_TIMEOUT,
#      freed by inet_frag_rbtree_purge (no device left on the skb: the
#      netns comes from where the fragment was seen).
#   4. id 4646: [0, 800) then an overlapping [400, 1200): the kernel
#      discards the queue (ReasmOverlaps) and frees the fragment with the
#      default reason inside ip_defrag: one failure, cause "discarded".
#   5. id 4747: a first fragment twice, then the last: the duplicate is
#      dropped (DUP_FRAG), the datagram still completes.
#
# Every count is exact. Needs root, jq, python3. Usage:
# tests/e2e/defrag_test.sh [BUILD_DIR]. Prints "N passed, N failed" last.

set -u
LT_NAME=defrag_test
LT_TRACER=(defrag -i 0.5)
. "$(dirname "${BASH_SOURCE[0]}")/local_lib.sh"
RAW=$O/tests/tools/rawsend
NSA=st-frag-a-$SFX
NSB=st-frag-b-$SFX
lt_begin jq ip python3
[[ -x $RAW ]] || { log "no $RAW (run make)"; echo "0 passed, 1 failed"; exit 1; }

# ---- topology ---------------------------------------------------------------
lt_netns "$NSA" "$NSB" || exit 1
ip link add va netns "$NSA" type veth peer name vb netns "$NSB" || exit 1
ip -n "$NSA" addr add 10.83.0.1/24 dev va
ip -n "$NSB" addr add 10.83.0.2/24 dev vb
ip -n "$NSA" link set va up
ip -n "$NSB" link set vb up
MACA=$(ip netns exec "$NSA" cat /sys/class/net/va/address)
MACB=$(ip netns exec "$NSB" cat /sys/class/net/vb/address)
ip -n "$NSA" neigh replace 10.83.0.2 lladdr "$MACB" dev va nud permanent
ip -n "$NSB" neigh replace 10.83.0.1 lladdr "$MACA" dev vb nud permanent
ip netns exec "$NSB" sysctl -qw net.ipv4.ipfrag_time=1 || exit 1
INOB=$(stat -L -c %i /run/netns/"$NSB")
DB="vb@$NSB"

# Sum of a row field over all intervals: name field
sum_rows() {
	jq -s --arg f "$2" '[.[] | select(.type == "interval") | .rows[] | .[$f]] | add // 0' "$TMP/$1.out"
}
# Sum of a kernel counter over all intervals: name counter
sum_kernel() {
	jq -s --arg f "$2" --argjson ns "$INOB" \
		'[.[] | select(.type == "interval") | .kernel[] | select(.netns == $ns) | .[$f]] | add // 0' "$TMP/$1.out"
}
frag() { ip netns exec "$NSA" "$RAW" va ipfrag "$MACB" 10.83.0.1 10.83.0.2 "$@"; }

# ---- 1..3 in one run ------------------------------------------------------------
start_tracer b --json --netns "$NSB" || exit 1
start_tracer a --json --netns "$NSA" || exit 1
start_tracer icmp --json --netns "$NSB" --proto icmp || exit 1
start_tracer src --json --netns "$NSB" --src-ip 10.83.0.1 --dst-ip 10.83.0.2 || exit 1
start_tracer othersrc --json --netns "$NSB" --src-ip 10.99.0.0/16 || exit 1
start_tracer devlo --json --netns "$NSB" --dev lo || exit 1
start_tracer devvb --json --netns "$NSB" --dev vb || exit 1
"$ST" defrag -v -i 0.5 --netns "$NSB" >"$TMP/txt.out" 2>"$TMP/txt.err" &
PIDS+=($!)
PID_txt=$!
for ((i = 0; i < 100; i++)); do grep -q '^Ctrl-C' "$TMP/txt.err" && break; sleep 0.1; done

log "1. a 3000-byte UDP datagram, fragmented by A's kernel"
ip netns exec "$NSA" python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(b"x" * 3000, ("10.83.0.2", 7000))' || exit 1
sleep 0.3
log "2. fragments 1 and 2 of 3 of id 4242"
frag 4242 0 1 800 || exit 1
frag 4242 800 1 800 || exit 1
log "3. a middle fragment of id 4343 alone"
frag 4343 1600 1 800 || exit 1
log "4. id 4646 with an overlapping fragment"
frag 4646 0 1 800 || exit 1
frag 4646 400 1 800 || exit 1
log "5. id 4747 with a duplicate fragment"
frag 4747 0 1 800 || exit 1
frag 4747 0 1 800 || exit 1
frag 4747 800 0 100 || exit 1
sleep 2.5	# ipfrag_time 1 s, timer slack
for t in b a icmp src othersrc devlo devvb txt; do stop_tracer "$t"; done
eq "tracer exit status" "$RC_b$RC_a$RC_icmp$RC_src$RC_othersrc$RC_devlo$RC_devvb$RC_txt" "00000000"

eq "fragments received in $NSB (3 + 2 + 1 + 2 + 3)" "$(sum_rows b fragments)" 11
eq "fragment payload bytes (3008 + 1600 + 800 + 1600 + 1700)" "$(sum_rows b bytes)" 8708
eq "complete datagrams (the UDP one, 4747)" "$(sum_rows b complete)" 2
eq "failed datagrams (4242, 4343, 4646)" "$(sum_rows b failed)" 3
eq "fragments dropped (2 of 4242, 1 of 4343, 1 of 4646, 1 of 4747)" "$(sum_rows b dropped)" 5
eq "every row is vb in $NSB" \
	"$(jq -rs '[.[] | select(.type == "interval") | .rows[] | .dev] | unique | join(",")' "$TMP/b.out")" "$DB"
eq "failures by reason" \
	"$(jq -rs '[.[] | select(.type == "interval") | .failures[] | "\(.reason)=\(.count)"] | sort | join(",")' "$TMP/b.out")" \
	"FRAG_REASM_TIMEOUT=2,NOT_SPECIFIED=1"
eq "fragment drops by reason" \
	"$(jq -rs '[.[] | select(.type == "interval") | .drops[] | "\(.reason)=\(.count)"] | sort | join(",")' "$TMP/b.out")" \
	"DUP_FRAG=1,FRAG_REASM_TIMEOUT=3,NOT_SPECIFIED=1"
ev() { jq -c "select(.type == \"event\" and .event == \"failed\" and .id == $1) | $2" "$TMP/b.out" | tr '\n' ' '; }
eq "id 4242: one failure event" "$(ev 4242 '.reason')" '"FRAG_REASM_TIMEOUT" '
eq "id 4242: seen fragments, bytes, first, last" "$(ev 4242 '[.fragments, .bytes, .have_first, .have_last, .seen] | map(tostring) | join(" ")')" \
	'"2 1600 true false true" '
check "id 4242: freed at ip_expire ($(ev 4242 .location))" grep -q '"ip_expire+0x' <<<"$(ev 4242 .location)"
age_ok() { jq -se '[.[] | select(.type == "event" and .id == 4242) | .age_s >= 0.9 and .age_s < 5] == [true]' "$TMP/b.out" >/dev/null; }
check "id 4242: failed after about ipfrag_time ($(ev 4242 .age_s)s)" age_ok
eq "id 4343: one failure event, on vb" "$(ev 4343 '[.reason, .dev, .fragments, .have_first] | map(tostring) | join(" ")')" \
	"\"FRAG_REASM_TIMEOUT $DB 1 false\" "
eq "id 4646: discarded at ip_defrag" "$(ev 4646 '[.reason, .cause, (.location | sub("\\+.*"; "")), .fragments] | map(tostring) | join(" ")')" \
	'"NOT_SPECIFIED discarded ip_defrag 2" '
eq "causes of the timeouts" "$(ev 4242 .cause)$(ev 4343 .cause)" '"timeout" "timeout" '
eq "the complete datagrams did not fail" "$(jq -s '[.[] | select(.type == "event" and .src == "10.83.0.1" and .id != 4242 and .id != 4343 and .id != 4646)] | length' "$TMP/b.out")" 0
eq "kernel ReasmOverlaps in $NSB" "$(sum_kernel b ReasmOverlaps)" 1
eq "id 4242 listed as waiting (2 fragments, first, no last) before it failed" \
	"$(jq -c 'select(.type == "interval") | .waiting[] | select(.id == 4242) | [.fragments, .bytes, .have_first, .have_last]' "$TMP/b.out" | sort -u | tail -1)" \
	"[2,1600,true,false]"
eq "nothing waiting at the end" "$(jq -s '[.[] | select(.type == "interval")] | last | .pending, (.waiting | length)' "$TMP/b.out" | tr '\n' ' ')" "0 0 "
eq "kernel ReasmOKs in $NSB" "$(sum_kernel b ReasmOKs)" 2
eq "kernel ReasmTimeout in $NSB" "$(sum_kernel b ReasmTimeout)" 2
eq "kernel ReasmFails in $NSB" "$(sum_kernel b ReasmFails)" 3
eq "no failure without a netns" "$(jq -s '[.[] | select(.type == "interval") | .counters.failures_without_netns] | add' "$TMP/b.out")" 0
eq "nothing lost" "$(jq -s '[.[] | select(.type == "interval") | .lost.events + .lost.map_full + .lost.flow_table_full] | add' "$TMP/b.out")" 0
schema='select(.type == "interval") | (.time | type) == "string" and (.interval_s | type) == "number" and
	(.rows | type) == "array" and (.pending | type) == "number" and (.waiting | type) == "array" and
	(.failures | type) == "array" and (.drops | type) == "array" and (.kernel | type) == "array" and
	(.hooks | length) == 3 and (.counters.fragments | type) == "number" and
	(.attach.netif_receive_skb == "tp_btf" or .attach.netif_receive_skb == "raw_tp") and
	all(.rows[]; (.dev | type) == "string" and (.netns | type) == "number" and (.fragments | type) == "number" and
	    (.complete | type) == "number" and (.failed | type) == "number" and (.dropped | type) == "number") and
	all(.failures[], .drops[]; (.reason | type) == "string" and (.count | type) == "number")'
eq "--json: interval objects follow the schema" "$(jq -c "$schema" "$TMP/b.out" | sort -u | tr '\n' ' ')" "true "
eq "hooks this kernel lacks say unavailable with a reason" \
	"$(jq -rs '[.[] | select(.type == "interval") | .hooks[] | select(.status == "unavailable" and (.reason | length) > 0) | .hook] | unique | join(",")' "$TMP/b.out")" \
	"ip_defrag,ip_expire,ip_frag_queue"
eq "reassembled is null without the ip_defrag hook" \
	"$(jq -s '[.[] | select(.type == "interval") | .rows[] | .reassembled] | unique' -c "$TMP/b.out")" "[null]"

eq "--netns $NSA: no fragments" "$(sum_rows a fragments)" 0
eq "--netns B --proto icmp: no fragments" "$(sum_rows icmp fragments)" 0
eq "--dev vb: all fragments and failures" "$(sum_rows devvb fragments)/$(sum_rows devvb failed)" "11/3"
eq "--src-ip 10.99.0.0/16: nothing" "$(sum_rows othersrc fragments)/$(sum_rows othersrc failed)" "0/0"
eq "--dev lo: nothing" "$(sum_rows devlo fragments)/$(sum_rows devlo failed)" "0/0"
eq "--src-ip/--dst-ip: all fragments and failures" "$(sum_rows src fragments)/$(sum_rows src failed)" "11/3"

# Text -v: one line per fragment, failure lines, kernel counter lines.
eq "text -v: fragment lines" "$(grep -Ec "^[0-9:.]+ fragment +udp 10\.83\.0\.1 -> 10\.83\.0\.2 id [0-9]+ dev=$DB offset=[0-9]+ len=[0-9]+" "$TMP/txt.out")" 11
eq "text -v: complete line" "$(grep -Ec "^[0-9:.]+ complete +udp .* frags=3 bytes=3008/3008 first=yes last=yes" "$TMP/txt.out")" 1
eq "text: timeout failure lines" "$(grep -Ec "^[0-9:.]+ failed +udp 10\.83\.0\.1 -> 10\.83\.0\.2 id (4242|4343) dev=$DB reason=FRAG_REASM_TIMEOUT cause=timeout loc=(ip_expire|inet_frag_rbtree_purge)\+0x" "$TMP/txt.out")" 2
eq "text: discarded failure line" "$(grep -Ec "^[0-9:.]+ failed +udp .* id 4646 dev=$DB reason=NOT_SPECIFIED cause=discarded loc=ip_defrag\+0x" "$TMP/txt.out")" 1
check "text: header" grep -Eq '^TIME +DEV +FRAGMENTS +BYTES +COMPLETE +FAILED +DROPPED +REASSEMBLED$' "$TMP/txt.out"
# Lines carry per-interval deltas: the UDP datagram and 4747 complete ~0.4 s
# apart, so with -i 0.5 they may share one line (+2, no +1 line); sum them.
eq "text: kernel counter lines add up to ReasmOKs 2" \
	"$(grep -E "kernel netns $NSB: ReasmReqds \+[0-9]+ ReasmOKs \+[0-9]+ " "$TMP/txt.out" |
		grep -Eo 'ReasmOKs \+[0-9]+' | awk '{ s += $2 } END { print s + 0 }')" 2
check "text: banner lists the failure reasons from BTF" grep -q 'reassembly failure reasons: FRAG_REASM_TIMEOUT' "$TMP/txt.err"

# ---- raw_tp ------------------------------------------------------------------------
log "raw_tp"
start_tracer raw --json --netns "$NSB" --method raw_tp || exit 1
frag 4545 0 1 800 || exit 1
frag 4545 800 0 100 || exit 1
sleep 0.8
stop_tracer raw
eq "raw_tp: fragments/complete/failed" "$(sum_rows raw fragments)/$(sum_rows raw complete)/$(sum_rows raw failed)" "2/1/0"

# ---- hook programs through the verifier -------------------------------------------
"$ST" defrag --check-hooks --json >"$TMP/chk.out" 2>/dev/null
eq "--check-hooks: exit status" "$?" 0
eq "--check-hooks: every kprobe program loads" \
	"$(jq -rs '[.[] | select(.method == "kprobe") | "\(.hook)=\(.loaded)"] | join(",")' "$TMP/chk.out")" \
	"ip_defrag=true,ip_frag_queue=true,ip_expire=true"

# ---- usage errors ------------------------------------------------------------------------
rc_of() { "$@" >/dev/null 2>"$TMP/err"; echo $?; }
one_line() { [[ $(wc -l <"$TMP/err") -eq 1 ]] && grep -q '^error: ' "$TMP/err"; }
for args in "--bogus" "--pid 1" "--sport 1" "--dport 2" "--vm x" "--proto banana" \
	"--netns no-such-ns-$SFX" "--dst-ip 10.0.0.0/33" "--method fentry" "extra"; do
	# shellcheck disable=SC2086
	eq "usage error: defrag $args -> exit 2" "$(rc_of "$ST" defrag $args)" 2
	check "usage error: defrag $args -> one line" one_line
done
eq "-h -> exit 0" "$(rc_of "$ST" defrag -h)" 0

lt_end
