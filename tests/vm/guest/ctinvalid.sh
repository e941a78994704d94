#!/bin/bash
# SPDX-License-Identifier: MIT
# stagetrace conntrack --ovs-invalid on a real Debian kernel (kernel-matrix
# guest; the openvswitch module exists only there). Two network namespaces
# joined by veth pairs to the OVS bridge of dp-lib.sh (br0, its tap ports
# unused here), with a stateful OpenFlow pipeline in conntrack zone 7:
#   table 0: ARP normal; IPv4 -> ct(zone=7, table=1)
#   table 1: +trk+inv -> drop (priority 40000); +trk+new -> ct(commit,
#            zone=7), normal; +trk+est -> normal
# While `conntrack --ovs-invalid --json` runs, A sends valid traffic to B
# (10 UDP datagrams, one TCP connection carrying 64 KiB) and, through a
# packet socket (tests/tools/rawsend tcp), 5 SYN+ACK segments of a
# connection that never existed (45001 -> 7301: conntrack's TCP state
# machine refuses a SYN+ACK as the first packet) and 3 SYN+FIN segments
# (45002 -> 7302: a flag combination conntrack calls invalid by itself).
# Asserted: exactly 8 ovs_ct_invalid events, 5 and 3 with those exact
# 5-tuples, zone 7, ct_state with the invalid bit (0x10); none for the
# valid traffic (which arrived in full); the per-interval kernel counts of
# OVS conntrack results add up to 8 invalid too; no event lost.
# Tracers and tools loading BPF by real load under emulation: minutes of
# guest time on a loaded host.
# vm-test-timeout: 600
. "$ST_VM_REPO/tests/vm/guest-lib.sh"
. "$REPO/tests/vm/guest/dp-lib.sh"
RAW=$O/tests/tools/rawsend
PKT=$O/tests/tools/stpkt
NSA=st-cti-a-$$
NSB=st-cti-b-$$

cti_cleanup() {
	ip netns del "$NSA" 2>/dev/null
	ip netns del "$NSB" 2>/dev/null
	dp_cleanup
}
trap cti_cleanup EXIT

vm_modprobe openvswitch tun veth nf_conntrack_netlink || { vm_fail ctinvalid-modules "modprobe openvswitch tun veth nf_conntrack_netlink"; exit 1; }
dp_ovs_up || { vm_fail ctinvalid-setup "OVS userspace"; exit 1; }
setup_ns() {
	local ns=$1 port=$2 ip=$3
	ip netns add "$ns" || return 1
	ip link add "$port" type veth peer name ct0 netns "$ns" || return 1
	ip link set "$port" up || return 1
	ip -n "$ns" addr add "$ip"/24 dev ct0 || return 1
	ip -n "$ns" link set ct0 up && ip -n "$ns" link set lo up || return 1
	ovs-vsctl --db=unix:$T/db.sock --timeout=60 add-port br0 "$port"
}
setup_ns "$NSA" ctia 10.9.7.1 && setup_ns "$NSB" ctib 10.9.7.2 ||
	{ vm_fail ctinvalid-setup "namespaces"; exit 1; }
ovs-ofctl del-flows br0
ovs-ofctl add-flows br0 - <<'EOF' || { vm_fail ctinvalid-setup "OpenFlow rules"; exit 1; }
table=0,priority=100,arp,actions=NORMAL
table=0,priority=100,ip,actions=ct(zone=7,table=1)
table=1,priority=40000,ct_state=+trk+inv,ip,actions=drop
table=1,priority=200,ct_state=+trk+new,ip,actions=ct(commit,zone=7),NORMAL
table=1,priority=200,ct_state=+trk+est,ip,actions=NORMAL
EOF
ovs-ofctl dump-flows br0 | sed 's/^/guest: /'
MACB=$(ip -n "$NSB" -j link show ct0 | jq -r '.[0].address')

# Warm-up: ARP and the first upcalls of the valid flows.
ip netns exec "$NSB" "$PKT" udp-sink 7100 3 10 >"$T/warm.json" &
sleep 0.3
ip netns exec "$NSA" "$PKT" udp 10.9.7.2 7100 3 32 20 >/dev/null
wait $!
vm_check ctinvalid-warmup "A->B over OVS conntrack: $(cat "$T/warm.json")" \
	test "$(jq .received "$T/warm.json")" = 3

"$ST" conntrack --ovs-invalid --json -i 1 >"$T/ct.json" 2>"$T/ct.err" &
CT=$!
DP_PIDS+=("$CT")
for i in $(seq 300); do
	grep -q '"type":"interval"' "$T/ct.json" 2>/dev/null && break
	kill -0 "$CT" 2>/dev/null || break
	sleep 0.2
done
echo "guest: conntrack stderr: $(head -c 600 "$T/ct.err")"
grep -q '"type":"interval"' "$T/ct.json" ||
	{ vm_fail ctinvalid-start "conntrack --ovs-invalid did not start: $(head -c 400 "$T/ct.err")"; exit 0; }
echo "guest: hooks $(grep -m1 '"type":"interval"' "$T/ct.json" | jq -c .hooks)"

ip netns exec "$NSB" "$PKT" udp-sink 7100 10 10 >"$T/udp.json" &
US=$!
ip netns exec "$NSB" "$PKT" tcp-sink 7200 >"$T/tcp.json" &
TS=$!
sleep 0.3
ip netns exec "$NSA" "$PKT" udp 10.9.7.2 7100 10 32 50 >/dev/null
ip netns exec "$NSA" "$PKT" tcp-send 10.9.7.2 7200 65536
ip netns exec "$NSA" "$RAW" ct0 tcp "$MACB" 10.9.7.1 10.9.7.2 45001 7301 0x12 5
ip netns exec "$NSA" "$RAW" ct0 tcp "$MACB" 10.9.7.1 10.9.7.2 45002 7302 0x03 3
wait "$US" "$TS"
sleep 2.5
kill -INT "$CT"
timeout 20 tail --pid="$CT" -f /dev/null
vm_check ctinvalid-valid "valid traffic arrived: udp $(cat "$T/udp.json"), tcp $(cat "$T/tcp.json")" \
	test "$(jq .received "$T/udp.json")" = 10 -a "$(jq .received "$T/tcp.json")" = 65536

ev=$(jq -s -c '[.[] | select(.type == "event" and .event == "ovs_ct_invalid")]' "$T/ct.json")
echo "guest: events $(jq -c '[.[] | {proto, src, sport, dst, dport, zone, ct_state, dev}]' <<<"$ev" | cut -c1-1200)"
vm_check ctinvalid-count "$(jq length <<<"$ev") invalid events (want 8)" test "$(jq length <<<"$ev")" = 8
n1=$(jq '[.[] | select(.proto == "tcp" and .src == "10.9.7.1" and .sport == 45001 and .dst == "10.9.7.2" and .dport == 7301)] | length' <<<"$ev")
n2=$(jq '[.[] | select(.proto == "tcp" and .src == "10.9.7.1" and .sport == 45002 and .dst == "10.9.7.2" and .dport == 7302)] | length' <<<"$ev")
vm_check ctinvalid-tuples "SYN+ACK 45001->7301: $n1 (want 5), SYN+FIN 45002->7302: $n2 (want 3)" \
	test "$n1" = 5 -a "$n2" = 3
vm_check ctinvalid-zone "zones $(jq -c '[.[].zone] | unique' <<<"$ev"), ct_state $(jq -c '[.[].ct_state] | unique' <<<"$ev")" \
	jq -e 'length > 0 and all(.[]; .zone == 7 and (.ct_state / 16 | floor) % 2 == 1)' <<<"$ev" >/dev/null
vm_check ctinvalid-dev "devices $(jq -c '[.[].dev] | unique' <<<"$ev")" \
	jq -e 'length > 0 and all(.[]; .dev == "ctia")' <<<"$ev" >/dev/null
kinv=$(jq -s '[.[] | select(.type == "interval") | .kernel[] | select(.kind == "ovs" and ((.a / 16 | floor) % 2 == 1)) | .count] | add // 0' "$T/ct.json")
kval=$(jq -s '[.[] | select(.type == "interval") | .kernel[] | select(.kind == "ovs" and ((.a / 16 | floor) % 2 == 0)) | .count] | add // 0' "$T/ct.json")
vm_check ctinvalid-counts "interval counts: $kinv invalid (want 8), $kval valid OVS ct results (want > 0)" \
	test "$kinv" = 8 -a "$kval" -gt 0
lost=$(jq -s '[.[] | select(.type == "interval") | .lost.ovs_events] | add // 0' "$T/ct.json")
vm_check ctinvalid-lost "lost OVS events: $lost" test "$lost" = 0

exit 0
