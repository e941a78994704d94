#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# End-to-end test of `stagetrace conntrack` on the real kernel.
#
# Namespaces A (va 10.84.0.1) and B (vb 10.84.0.2), a veth pair, IPv6 off,
# static neighbours. B tracks connections (iptables -m conntrack in its
# INPUT chain) and drops what conntrack finds INVALID; B's established
# timeout is set to 1234 s and its TIME_WAIT timeout to 2 s, so the
# timeouts the events carry are the namespace's, not defaults. Then:
#
#   1. one real TCP connection A -> B:7300 (zone 0, mark 0): the server
#      closes first, so conntrack walks SYN_SENT, SYN_RECV, ESTABLISHED,
#      FIN_WAIT, CLOSE_WAIT, LAST_ACK, TIME_WAIT;
#   2. the same to B:7301, which B's raw table puts in zone 5 and whose
#      connection B marks 7 (CONNMARK);
#   2b. one UDP request and its answer (B:7400; udp_timeout set to 31 s):
#      UNREPLIED, then REPLIED;
#   3. a TCP segment with data offset 0 (tests/tools/rawsend): conntrack
#      calls it invalid, the INVALID rule drops it;
#   4. B's table is flushed over ctnetlink (what `conntrack -F` does), so
#      both connections are destroyed now rather than when the garbage
#      collector gets to them.
#
# Every event, its state and its timeout are compared exactly. Needs root,
# jq, python3, iptables. Usage: tests/e2e/conntrack_test.sh [BUILD_DIR].

set -u
LT_NAME=conntrack_test
LT_TRACER=(conntrack -i 0.5)
. "$(dirname "${BASH_SOURCE[0]}")/local_lib.sh"
RAW=$O/tests/tools/rawsend
NSA=st-ct-a-$SFX
NSB=st-ct-b-$SFX
lt_begin jq ip python3 iptables
[[ -x $RAW ]] || { log "no $RAW (run make)"; echo "0 passed, 1 failed"; exit 1; }

# ---- topology ---------------------------------------------------------------
lt_netns "$NSA" "$NSB" || exit 1
lt_veth "$NSA" va 10.84.0.1 "$NSB" vb 10.84.0.2 || exit 1
MACB=$(ip netns exec "$NSB" cat /sys/class/net/vb/address)
ipt() { ip netns exec "$NSB" iptables "$@" || exit 1; }
ipt -t raw -A PREROUTING -p tcp --dport 7301 -j CT --zone 5
ipt -t raw -A OUTPUT -p tcp --sport 7301 -j CT --zone 5
ipt -t mangle -A PREROUTING -p tcp --dport 7301 -j CONNMARK --set-mark 7
ipt -A INPUT -m conntrack --ctstate INVALID -j DROP
ipt -A INPUT -p tcp -m multiport --dports 7300,7301 -m conntrack --ctstate NEW,ESTABLISHED -j ACCEPT
ipt -A INPUT -p udp --dport 7400 -m conntrack --ctstate NEW,ESTABLISHED -j ACCEPT
ip netns exec "$NSB" sysctl -qw net.netfilter.nf_conntrack_tcp_timeout_established=1234 \
	net.netfilter.nf_conntrack_tcp_timeout_time_wait=2 net.netfilter.nf_conntrack_udp_timeout=31 || exit 1
INOB=$(stat -L -c %i /run/netns/"$NSB")

# One TCP connection A -> B:port; the server closes first.
tcp_conn() { # port
	timeout 15 ip netns exec "$NSB" python3 -c "
import socket, sys
s = socket.socket(); s.settimeout(10); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('10.84.0.2', $1)); s.listen(1); print('ready', flush=True)
c, _ = s.accept(); c.recv(100); c.close(); s.close()" >"$TMP/srv.$1" &
	local sp=$! i
	for ((i = 0; i < 50; i++)); do grep -q ready "$TMP/srv.$1" 2>/dev/null && break; sleep 0.1; done
	timeout 15 ip netns exec "$NSA" python3 -c "
import socket, time
s = socket.create_connection(('10.84.0.2', $1), timeout=5); s.send(b'hi'); time.sleep(0.3); s.close()" || return 1
	wait "$sp"
}

# One UDP request and its answer, A -> B:7400.
udp_exchange() {
	timeout 15 ip netns exec "$NSB" python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(10); s.bind(('10.84.0.2', 7400))
print('ready', flush=True); d, a = s.recvfrom(100); s.sendto(b'pong', a)" >"$TMP/srv.udp" &
	local sp=$! i
	for ((i = 0; i < 50; i++)); do grep -q ready "$TMP/srv.udp" 2>/dev/null && break; sleep 0.1; done
	timeout 15 ip netns exec "$NSA" python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(5)
s.sendto(b'ping', ('10.84.0.2', 7400)); s.recvfrom(100)" || return 1
	wait "$sp"
}

# IPCTNL_MSG_CT_DELETE without attributes: flush B's IPv4 table.
ct_flush() {
	ip netns exec "$NSB" python3 -c "
import socket, struct
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)
s.send(struct.pack('=IHHII', 20, (1 << 8) | 2, 1 | 4, 1, 0) + struct.pack('=BBH', 2, 0, 0))
err = struct.unpack('=i', s.recv(100)[16:20])[0]
raise SystemExit(-err)"
}

# ---- the run ---------------------------------------------------------------------
start_tracer b --json -v --netns "$NSB" || exit 1
start_tracer p7301 --json --netns "$NSB" --dport 7301 || exit 1
start_tracer a --json --netns "$NSA" || exit 1
"$ST" conntrack -i 0.5 --netns "$NSB" >"$TMP/txt.out" 2>"$TMP/txt.err" &
PIDS+=($!)
PID_txt=$!
for ((i = 0; i < 100; i++)); do grep -q '^Ctrl-C' "$TMP/txt.err" && break; sleep 0.1; done

log "1. TCP connection to :7300"
tcp_conn 7300 || exit 1
log "2. TCP connection to :7301 (zone 5, mark 7)"
tcp_conn 7301 || exit 1
log "2b. a UDP request and its answer to :7400"
udp_exchange || exit 1
sleep 0.3
log "3. an invalid TCP segment"
ip netns exec "$NSA" "$RAW" va ipfrag "$MACB" 10.84.0.1 10.84.0.2 777 0 0 20 6 || exit 1
sleep 0.3
log "4. flush B's conntrack table"
ct_flush || { log "flush failed"; exit 1; }
sleep 1.2
for t in b p7301 a txt; do stop_tracer "$t"; done
eq "tracer exit status" "$RC_b$RC_p7301$RC_a$RC_txt" "0000"

seq_of() { # dport: the connection's events as event/state/timeout
	jq -r --argjson p "$1" 'select(.type == "event" and .dport == $p) | "\(.event)/\(.state)/\(.timeout // "-")"' \
		"$TMP/b.out" | tr '\n' ' '
}
WANT="new/SYN_SENT/120 update/SYN_RECV/60 update/ESTABLISHED/1234 update/FIN_WAIT/120 update/CLOSE_WAIT/60 update/LAST_ACK/30 update/TIME_WAIT/2 destroy/TIME_WAIT/- "
# The kernel reports the whole seconds left (ctnetlink: expiry / HZ,
# truncated), so an event sent a jiffy after the timer was set carries
# one second less: T or T - 1 is right, anything else is not.
tick() { # got want: the got sequence with every T-1 next to a wanted T written as T
	local -a g w
	local i gt wt
	read -r -a g <<<"$1"
	read -r -a w <<<"$2"
	for i in "${!g[@]}"; do
		gt=${g[$i]##*/} wt=${w[$i]:-}
		wt=${wt##*/}
		if [[ ${g[$i]%/*} == "${w[$i]%/*}" && $gt =~ ^[0-9]+$ && $wt =~ ^[0-9]+$ ]] &&
			((gt == wt - 1)); then
			g[$i]=${g[$i]%/*}/$wt
		fi
	done
	echo "${g[*]} "
}
# A destroy carries the whole seconds left, none under 1 s (ctnetlink skips
# zero); the flush comes ~1 s after :7301's 2 s TIME_WAIT, earlier or later by
# python start-up times, so 1 s left is as right as none; 2 or more is not.
tw_left() { sed -E 's#destroy/TIME_WAIT/1 #destroy/TIME_WAIT/- #'; }
eq "connection :7300: events, states and timeouts (T or T-1 s)" "$(tick "$(seq_of 7300 | tw_left)" "$WANT")" "$WANT"
eq "connection :7301: events, states and timeouts (T or T-1 s)" "$(tick "$(seq_of 7301 | tw_left)" "$WANT")" "$WANT"
eq "connection :7300: zone/mark" \
	"$(jq -r 'select(.type == "event" and .dport == 7300) | "\(.zone)/\(.mark)"' "$TMP/b.out" | sort -u | tr '\n' ' ')" "0/0 "
eq "connection :7301: zone/mark" \
	"$(jq -r 'select(.type == "event" and .dport == 7301) | "\(.zone)/\(.mark)"' "$TMP/b.out" | sort -u | tr '\n' ' ')" "5/7 "
eq "one id per connection" \
	"$(jq -r 'select(.type == "event") | "\(.dport) \(.id)"' "$TMP/b.out" | sort -u | wc -l)" 3
rows() { # jq row filter -> summed count
	jq -s "[.[] | select(.type == \"interval\") | .rows[] | select($1) | .count] | add // 0" "$TMP/$2.out"
}
# A flushed entry's destroy event may carry the seconds it had left.
# 30 for 31 is the same whole-second truncation as T-1 for the TCP timeouts.
WANT_UDP="new/UNREPLIED/31 update/REPLIED/31 destroy/-/LEFT "
eq "UDP :7400: events, states and timeouts (udp_timeout 31, or 30)" \
	"$(tick "$(seq_of 7400 | sed -E 's#destroy/-/[0-9]+ #destroy/-/LEFT #')" "$WANT_UDP")" "$WANT_UDP"
udp_left=$(jq 'select(.type == "event" and .dport == 7400 and .event == "destroy") | .timeout // 0' "$TMP/b.out")
check "UDP :7400: destroy left ${udp_left}s of 31" test "${udp_left:-99}" -le 31
eq "interval rows: new" "$(rows '.event == "new"' b)" 3
eq "interval rows: updates" "$(rows '.event == "update"' b)" 13
eq "interval rows: destroys" "$(rows '.event == "destroy"' b)" 3
# Whole seconds left, truncated: 1233 when the event leaves a jiffy after
# the timer was set (as for the sequences above); the default 432000 fails.
eq "interval rows: ESTABLISHED in zone 5 mark 7, timeout 1234 (or 1233)" \
	"$(jq -s -c '[.[] | select(.type == "interval") | .rows[] | select(.state == "ESTABLISHED" and .zone == 5) | [.count, .mark, .timeout_min, .timeout_max]] | map(if .[2] == 1233 then .[2] = 1234 else . end | if .[3] == 1233 then .[3] = 1234 else . end)' "$TMP/b.out")" \
	"[[1,7,1234,1234]]"
eq "stats: invalid" "$(jq -s '[.[] | select(.type == "interval") | .stats.invalid] | add' "$TMP/b.out")" 1
eq "stats: drop, early_drop, insert_failed, error" \
	"$(jq -s -c '[.[] | select(.type == "interval") | .stats] | [(map(.drop) | add), (map(.early_drop) | add), (map(.insert_failed) | add), (map(.error) | add)]' "$TMP/b.out")" "[0,0,0,0]"
eq "the INVALID rule's drop: one NETFILTER_DROP on vb" \
	"$(jq -s -c "[.[] | select(.type == \"interval\") | .kernel[] | select(.kind == \"drop\") | [.reason, .count, .netns]]" "$TMP/b.out")" \
	"[[\"NETFILTER_DROP\",1,$INOB]]"
drop_loc_ok() { jq -se '[.[] | select(.type == "interval") | .kernel[] | select(.kind == "drop") | .location | test("^(nf_hook_slow|nft_do_chain)\\+0x")] == [true]' "$TMP/b.out" >/dev/null; }
check "drop location is netfilter's" drop_loc_ok
eq "configured timeouts reported" \
	"$(jq -s -c '[.[] | select(.type == "interval") | [.timeouts.tcp_timeout_established, .timeouts.tcp_timeout_time_wait, .timeouts.tcp_timeout_syn_sent]] | unique' "$TMP/b.out")" \
	"[[1234,2,120]]"
eq "nothing lost" "$(jq -s '[.[] | select(.type == "interval") | .lost.netlink + .lost.map_full] | add' "$TMP/b.out")" 0
schema='select(.type == "interval") | (.time | type) == "string" and (.interval_s | type) == "number" and
	(.netns | type) == "number" and (.rows | type) == "array" and (.stats | type) == "object" and
	(.timeouts | type) == "object" and (.kernel | type) == "array" and (.hooks | length) == 5 and
	(.lost.netlink | type) == "number" and (.counters.drop_calls | type) == "number" and
	all(.rows[]; (.event == "new" or .event == "update" or .event == "destroy") and (.proto | type) == "string" and
	    (.state | type) == "string" and (.zone | type) == "number" and (.mark | type) == "number" and
	    (.count | type) == "number")'
eq "--json: interval objects follow the schema" "$(jq -c "$schema" "$TMP/b.out" | sort -u | tr '\n' ' ')" "true "
eq "hooks this kernel lacks say unavailable with a reason" \
	"$(jq -rs '[.[] | select(.type == "interval") | .hooks[] | select(.status == "unavailable" and (.reason | length) > 0) | .hook] | unique | join(",")' "$TMP/b.out")" \
	"__nf_ct_refresh_acct,nf_conntrack_in,nf_ct_delete,ovs_ct_execute,ovs_ct_update_key"
eq "--dport 7301: only that connection's events" \
	"$(rows 'true' p7301)/$(rows '.zone == 5 and .mark == 7' p7301)" "8/8"
eq "--netns $NSA: no events there" "$(rows 'true' a)" 0

check "text: header" grep -Eq '^TIME +EVENT +PROTO +STATE +ZONE +MARK +COUNT +TIMEOUT$' "$TMP/txt.out"
# 1233: the same truncation to whole seconds left (T or T-1).
eq "text: ESTABLISHED rows with timeout 1234 (or 1233)" \
	"$(grep -Ec '^[0-9:]+ +update +tcp +ESTABLISHED +(0|5) +(0|7) +1 123[34]$' "$TMP/txt.out")" 2
eq "text: invalid in the stats lines" \
	"$(grep -Eo 'stats: found \+[0-9]+ invalid \+[0-9]+' "$TMP/txt.out" | awk '{ s += $5 } END { print s }')" 1
check "text: banner shows the namespace's timeouts" grep -q 'tcp_timeout_established=1234' "$TMP/txt.err"

# ---- raw_tp and --ovs-invalid --------------------------------------------------------
log "--ovs-invalid, raw_tp"
start_tracer ovs --netns "$NSB" --ovs-invalid --method raw_tp || exit 1
stop_tracer ovs
eq "--ovs-invalid: runs (exit 0)" "$RC_ovs" 0
check "--ovs-invalid: says unavailable, with the reason" \
	grep -q 'hook ovs_ct_execute: unavailable: fexit: no ovs_ct_execute in kernel or module BTF' "$TMP/ovs.err"
check "--ovs-invalid: one-line verdict" grep -q '^conntrack --ovs-invalid: unavailable' "$TMP/ovs.err"
check "raw_tp banner" grep -q 'kfree_skb raw_tp' "$TMP/ovs.err"

"$ST" conntrack --check-hooks --json >"$TMP/chk.out" 2>/dev/null
eq "--check-hooks: exit status" "$?" 0
eq "--check-hooks: every kprobe program loads, OVS ones included" \
	"$(jq -rs '[.[] | select(.method == "kprobe") | "\(.hook)=\(.loaded)"] | join(",")' "$TMP/chk.out")" \
	"nf_conntrack_in=true,__nf_ct_refresh_acct=true,nf_ct_delete=true,ovs_ct_execute=true,ovs_ct_update_key=true"

# ---- usage errors -------------------------------------------------------------
rc_of() { "$@" >/dev/null 2>"$TMP/err"; echo $?; }
one_line() { [[ $(wc -l <"$TMP/err") -eq 1 ]] && grep -q '^error: ' "$TMP/err"; }
for args in "--bogus" "--pid 1" "--dev lo" "--vm x" "--proto banana" "--dport 0" \
	"--netns no-such-ns-$SFX" "--method kprobe" "extra"; do
	# shellcheck disable=SC2086
	eq "usage error: conntrack $args -> exit 2" "$(rc_of "$ST" conntrack $args)" 2
	check "usage error: conntrack $args -> one line" one_line
done
eq "-h -> exit 0" "$(rc_of "$ST" conntrack -h)" 0

lt_end
