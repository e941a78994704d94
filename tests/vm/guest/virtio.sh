#!/bin/bash
# SPDX-License-Identifier: MIT
# stagetrace virt virtio inside a guest with a real virtio-net NIC (qemu
# -nic user,model=virtio-net-pci, set up by tests/vm/run.sh when this test
# runs): the guest's virtio_net driver, qemu's device model and slirp
# behind it (gateway 10.0.2.2, IPv6 off, so nothing arrives unasked).
#
# Traffic: 20 TCP connects to 10.0.2.2 port 1, which slirp refuses on the
# host side and answers with a RST: 20 SYNs out, 20 RSTs in, plus one ARP
# exchange. `virt virtio --json` runs across it. Asserted against the
# driver's own counters (/sys/class/net/DEV/statistics), exactly: frames
# processed by NAPI runs (virtnet_poll's return values) = rx_packets
# delta; receive_buf calls = rx_packets delta; start_xmit calls =
# tx_packets delta; at least 20 each way. RX interrupt callbacks
# (skb_recv_done): at least 1 and at most the interrupts of the RX queue
# (or of the device, on INTx) in /proc/interrupts: a callback runs only
# for an interrupt that found work. The
# interrupt -> poll wait was measured at least once.
#
# Per packet (--rx-path -v), across the same traffic: a run filtered on
# the RSTs (--src-ip 10.0.2.2 --proto tcp --sport 1) prints exactly one
# record per connect, each 10.0.2.2:1 -> 10.0.2.15:<a distinct port>,
# every one with its NAPI run, receive_buf, GRO, netif_receive_skb and
# socket (tcp_v4_do_rcv of the SYN_SENT socket) stamps in that order,
# interrupt stamps (when present) before the run; at least one has an
# interrupt stamp. Every other frame (ARP) is counted as filtered out:
# records + filtered >= rx_packets delta, at least one filtered. An
# unfiltered text run (shown in docs/tools.md) has a line per frame
# (>= rx_packets delta).
# Three tracers, each loading its BPF objects by real load under emulation:
# minutes of guest time on a loaded host.
# vm-test-timeout: 600
. "$ST_VM_REPO/tests/vm/guest-lib.sh"
VT=/tmp/virtio-guest
mkdir -p "$VT"
TP=
TT=
trap '[[ -n $TP ]] && kill -TERM $TP 2>/dev/null; [[ -n $TT ]] && kill -TERM $TT 2>/dev/null; rm -rf "$VT"' EXIT
dev=$(vm_virtio_nic) || { vm_fail virtio-nic "no virtio-net device (qemu -nic user,model=virtio-net-pci missing?)"; exit 1; }
ip link set "$dev" up
ip addr add 10.0.2.15/24 dev "$dev"
sleep 0.5

stat() { cat "/sys/class/net/$dev/statistics/$1"; }
# Interrupts that can run the RX callback of queue pair 0, all CPUs: the
# RX virtqueue's own MSI-X vector (virtioN-input.0), or with INTx (what
# this qemu machine gives) the device's one line (virtioN).
vdev=$(basename "$(readlink -f "/sys/class/net/$dev/device")")
rxirq() {
	awk -v n="$(nproc)" -v a="$vdev-input.0" -v b="$vdev" \
		'$NF == a || $NF == b { for (i = 2; i <= n + 1; i++) s += $i } END { print s + 0 }' /proc/interrupts
}

"$ST" virt virtio --json -i 600 >"$VT/v.json" 2>"$VT/v.err" &
TP=$!
for _ in $(seq 600); do
	grep -q '^Tracing' "$VT/v.err" && break
	kill -0 $TP 2>/dev/null || break
	sleep 0.1
done
sed 's/^/guest: /' "$VT/v.err"
grep -q '^Tracing' "$VT/v.err" || { vm_fail virtio-start "virt virtio did not start"; exit 1; }
# The same run as a table (docs/tools.md shows it).
"$ST" virt virtio -i 600 >"$VT/t.out" 2>"$VT/t.err" &
TT=$!
for _ in $(seq 600); do grep -q '^Tracing' "$VT/t.err" && break; sleep 0.1; done
PKT=()
pkt_start() {	# name, args...
	local n=$1
	shift
	"$ST" virt virtio --rx-path -v -i 600 "$@" >"$VT/$n.out" 2>"$VT/$n.err" &
	PKT+=($!)
	for _ in $(seq 600); do
		grep -q '^Tracing' "$VT/$n.err" && break
		kill -0 $! 2>/dev/null || break
		sleep 0.1
	done
	grep -q '^Tracing' "$VT/$n.err" || { sed 's/^/guest: /' "$VT/$n.err"; vm_fail virtio-pkt-start "virt virtio --rx-path -v $* did not start"; exit 1; }
}
pkt_start p1 --json --src-ip 10.0.2.2 --proto tcp --sport 1
pkt_start p3
sed 's/^/guest: p1| /' "$VT/p1.err"
trap '[[ -n $TP ]] && kill -TERM $TP 2>/dev/null; [[ -n $TT ]] && kill -TERM $TT 2>/dev/null; for p in "${PKT[@]}"; do kill -TERM $p 2>/dev/null; done; rm -rf "$VT"' EXIT
grep virtio /proc/interrupts | sed 's/^/guest: irq| /'
rx0=$(stat rx_packets) tx0=$(stat tx_packets) irq0=$(rxirq)
for i in $(seq 20); do
	timeout 3 bash -c "exec 3<>/dev/tcp/10.0.2.2/1" 2>/dev/null
done
sleep 1
kill -INT $TP $TT
timeout 30 tail --pid=$TP -f /dev/null
timeout 30 tail --pid=$TT -f /dev/null
TP= TT=
grep virtio /proc/interrupts | sed 's/^/guest: irq| /'
sed 's/^/guest: text| /' "$VT/t.out"
rx=$(($(stat rx_packets) - rx0)) tx=$(($(stat tx_packets) - tx0)) irq=$(($(rxirq) - irq0))
kill -INT "${PKT[@]}"
for p in "${PKT[@]}"; do timeout 30 tail --pid=$p -f /dev/null; done
PKT=()
J=$(tail -n 1 "$VT/v.json")
echo "guest: virt virtio: $(jq -c '{queues, hooks: [.hooks[] | "\(.hook)=\(.method // "-") \(.status)"]}' <<<"$J")"
echo "guest: driver counters: rx_packets +$rx, tx_packets +$tx, $vdev RX interrupts +$irq"
q() { jq -r "[.queues[] | select(.dev == \"$dev\" and .queue == 0)][0].$1 // 0" <<<"$J"; }
vm_check virtio-poll-pkts "NAPI runs processed $(q poll_pkts) frames in $(q polls) runs; driver rx_packets +$rx" \
	test "$(q poll_pkts)" = "$rx" -a "$rx" -ge 20
if [[ $(jq -r '.hooks[] | select(.hook == "receive_buf") | .status' <<<"$J") == available ]]; then
	vm_check virtio-rx-path "receive_buf $(q rx_pkts) frames, $(q rx_bytes) bytes; rx_packets +$rx" \
		test "$(q rx_pkts)" = "$rx"
else
	vm_skip virtio-rx-path "receive_buf not probeable here: $(jq -r '.hooks[] | select(.hook == "receive_buf") | .reason' <<<"$J")"
fi
vm_check virtio-tx "start_xmit $(q tx_pkts) frames; tx_packets +$tx" \
	test "$(q tx_pkts)" = "$tx" -a "$tx" -ge 20
vm_check virtio-irq "skb_recv_done $(q irqs) callbacks; $vdev RX interrupts +$irq" \
	test "$(q irqs)" -ge 1 -a "$(q irqs)" -le "$irq"
vm_check virtio-irq-to-poll "irq -> poll wait measured $(q irq_to_poll_n) times, avg $(q irq_to_poll_avg_us) us" \
	test "$(q irq_to_poll_n)" -ge 1

# ---- per packet ----
sed 's/^/guest: pkt-text| /' "$VT/p3.out"
P1=$(grep '"type":"packet"' "$VT/p1.out")
n1=$(grep -c . <<<"$P1")
[[ -z $P1 ]] && n1=0
echo "guest: pkt: first record: $(head -n 1 <<<"$P1")"
echo "guest: pkt: last interval: $(grep '"type":"interval"' "$VT/p1.out" | tail -n 1 | jq -c 'del(.queues, .hooks)')"
vm_check virtio-pkt-count "filtered per-packet records: $n1 for 20 connects (RSTs from 10.0.2.2:1)" \
	test "$n1" -eq 20
bad5=$(jq -s '[.[] | select(.src != "10.0.2.2" or .sport != 1 or .dst != "10.0.2.15" or .proto != "tcp")] | length' <<<"$P1")
ports=$(jq -s '[.[].dport] | unique | length' <<<"$P1")
vm_check virtio-pkt-5tuple "records not 10.0.2.2:1 -> 10.0.2.15 tcp: $bad5; distinct destination ports: $ports" \
	test "$bad5" -eq 0 -a "$ports" -eq 20
# Stage order: every record has poll..socket in order, irq before poll when there.
bad_ord=$(jq -s '[.[] | .stamps_ns | select(((.poll and .receive_buf and .gro and .netif_receive and .socket) | not)
	or (.poll > .receive_buf) or (.receive_buf > .gro) or (.gro > .netif_receive) or (.netif_receive > .socket)
	or (.irq != null and .irq > .poll))] | length' <<<"$P1")
nirq=$(jq -s '[.[] | select(.stamps_ns.irq != null)] | length' <<<"$P1")
nend=$(jq -s '[.[] | select(.end == "socket")] | length' <<<"$P1")
med=$(jq -s '[.[].total_us] | sort | .[length / 2 | floor]' <<<"$P1")
vm_check virtio-pkt-order "records missing a stage or out of order: $bad_ord; with an irq stamp: $nirq; ended at a socket: $nend; median irq..socket $med us" \
	test "$bad_ord" -eq 0 -a "$nirq" -ge 1 -a "$nend" -eq 20
# Every received frame is either a record or counted as filtered out
# (ARP: not IPv4, "unparsed"); the tracer ran across the whole window.
f1=$(jq -s '[.[] | select(.type == "interval") | .pkt_filtered + .pkt_filtered_unparsed] | add' "$VT/p1.out")
n3=$(grep -c ' > \| -  *> ' "$VT/p3.out")
vm_check virtio-pkt-filter "filtered run: $n1 records + $f1 filtered out; unfiltered run: $n3 records; rx_packets +$rx" \
	test "$((n1 + f1))" -ge "$rx" -a "$n3" -ge "$rx" -a "$f1" -ge 1
exit 0
