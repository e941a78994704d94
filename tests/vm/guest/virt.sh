#!/bin/bash
# SPDX-License-Identifier: MIT
# stagetrace virt tun/vhost/queues on a real Debian kernel (kernel-matrix
# guest, kprobe/fentry and vhost-net available).
#
# 1. vhost-net traffic: tests/tools/vhostnet plays VM vmv through
#    /dev/vhost-net on tap tapv; a vmsim VM on tapb echoes; a bridge joins
#    them. vmv sends 20 UDP datagrams (TX virtqueue -> tun_sendmsg) and
#    gets 20 answers (tun_net_xmit on tapv -> the RX virtqueue via
#    tun_recvmsg, call eventfd signalled). `virt queues --peek --json`
#    runs across it. Asserted, exactly: the TX virtqueue moved 20 frames,
#    the RX virtqueue as many as vhostnet received; TX and RX moved the
#    same frame bytes (the answers echo the datagrams; counted from the
#    XDP batch buffers or the message length on TX, from the ring entries
#    on RX); both virtqueues' backend is tapv queue 0 (learned from the vq
#    socket) and their worker is the thread "vhost-<vhostnet pid>"; the RX
#    virtqueue's eventfd signals equal the sum of the values vhostnet read
#    from its call eventfd; its non-empty peeks (vhost_net_buf_peek) equal
#    its frames and their head lengths its bytes; tapv queue 0 took as
#    many frames from the host as vhostnet received, with no drop.
# 2. A stalled reader: tap tapf (txqueuelen 64) held open by
#    tests/tools/taphold, never read; 100 datagrams sent out of it.
#    `virt tun` must count 100 frames, 36 ring-full drops (= the kernel's
#    tx_dropped) and a fill level of 64 of 64.
. "$ST_VM_REPO/tests/vm/guest-lib.sh"
. "$REPO/tests/vm/guest/dp-lib.sh"
vm_modprobe tun vhost_net bridge || { vm_fail virt-modules "modprobe tun vhost_net bridge"; exit 1; }
[[ -c /dev/vhost-net ]] || { vm_fail virt-dev "no /dev/vhost-net"; exit 1; }
VT=/tmp/virt-guest
mkdir -p "$T" "$VT"
VPIDS=()
virt_cleanup() {
	local p
	for p in "${VPIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${VPIDS[@]}"; do
		timeout 10 tail --pid="$p" -f /dev/null 2>/dev/null || kill -KILL "$p" 2>/dev/null
	done
	dp_cleanup
	ip link del tapv 2>/dev/null
	ip link del tapf 2>/dev/null
	rm -rf "$VT"
}
trap virt_cleanup EXIT

# virt_start NAME ARGS...: start a tracer, wait until it traces (60 s).
virt_start() {
	local name=$1
	shift
	"$ST" virt "$@" >"$VT/$name.json" 2>"$VT/$name.err" &
	VPIDS+=($!)
	eval "${name}_pid=$!"
	for _ in $(seq 600); do
		grep -q '^Tracing' "$VT/$name.err" && return 0
		kill -0 "${VPIDS[-1]}" 2>/dev/null || break
		sleep 0.1
	done
	cat "$VT/$name.err" >&2
	return 1
}

# virt_stop PID: SIGINT (the tracer prints its last interval), wait.
virt_stop() {
	kill -INT "$1" 2>/dev/null
	timeout 30 tail --pid="$1" -f /dev/null
}

# ---- 1. vhost-net traffic -------------------------------------------------
ip tuntap add dev tapv mode tap vnet_hdr || exit 1
ip tuntap add dev tapb mode tap || exit 1
ip link add br0 type bridge forward_delay 0 stp_state 0 || exit 1
for t in tapv tapb; do ip link set "$t" master br0 && ip link set "$t" up || exit 1; done
ip link set br0 up
"$VMSIM" --tap tapb --mac 02:00:0a:08:00:01 --ip 10.8.0.1/24 --ctl-listen "$T/b.sock" \
	--pidfile "$T/b.ready" --quiet >"$T/vmb.log" 2>&1 &
DP_PIDS+=($!)
for _ in $(seq 100); do [[ -e $T/b.ready ]] && break; sleep 0.1; done

echo "guest: t=$(vm_uptime) s: starting virt queues"
virt_start q queues --peek --json -i 600 || { vm_fail virt-start "virt queues did not start"; exit 1; }
sed 's/^/guest: /' "$VT/q.err"
echo "guest: t=$(vm_uptime) s: tracing; vhostnet"
"$O/tests/tools/vhostnet" --tap tapv --mac 02:00:0a:08:00:02 --ip 10.8.0.2 --peer 10.8.0.1 \
	--peer-mac 02:00:0a:08:00:01 --dport 7001 --count 20 >"$VT/vhostnet.json" &
vpid=$!
wait $vpid
r=$(cat "$VT/vhostnet.json")
echo "guest: vhostnet (pid $vpid): $r"
sleep 0.5
virt_stop "$q_pid"
J=$(tail -n 1 "$VT/q.json")
echo "guest: virt queues: $(jq -c '{tun_queues: [.tun_queues[] | select(.dev == "tapv") | {queue, frames, drops_ring_full, from_vm_pkts, to_vm_pkts, rx_vq, tx_vq}], virtqueues: [.virtqueues[] | {dir, worker, backend, runs, pkts, bytes, used_calls, used_bufs, signals}], counters, hooks: [.hooks[] | "\(.hook)=\(.method) \(.symbol)"]}' <<<"$J")"
# Every value in two jq runs (each jq start costs a second under TCG).
eval "$(jq -r '@sh "recv=\(.received) tx_used=\(.tx_used) echo_ok=\(.echo_ok) rx_calls=\(.rx_calls) vsig=\(.rx_signals)"' <<<"$r")"
eval "$(jq -r '
	([.virtqueues[] | select(.backend == "tapv:q0" and .dir == "tx")][0] // {}) as $t |
	([.virtqueues[] | select(.backend == "tapv:q0" and .dir == "rx")][0] // {}) as $x |
	([.tun_queues[] | select(.dev == "tapv" and .queue == 0)][0] // {}) as $q |
	@sh "tx_pkts=\($t.pkts) tx_bytes=\($t.bytes) tx_worker=\($t.worker) rx_pkts=\($x.pkts) rx_bytes=\($x.bytes) rx_worker=\($x.worker) rx_sig=\($x.signals) peeks=\($x.peeks) peek_empty=\($x.peek_empty) peek_bytes=\($x.peek_bytes) q_frames=\($q.frames) q_drops=\($q.drops_ring_full) q_to=\($q.to_vm_pkts) q_from=\($q.from_vm_pkts) q_rxvq=\($q.rx_vq) q_txvq=\($q.tx_vq)"' <<<"$J")"
vm_check virt-vhostnet "vhostnet: $tx_used taken, $echo_ok echoes" test "$tx_used" = 20 -a "$echo_ok" = 20
vm_check virt-vq-tx-pkts "TX virtqueue moved $tx_pkts of 20 frames (tun_sendmsg)" test "$tx_pkts" = 20
vm_check virt-vq-rx-pkts "RX virtqueue moved $rx_pkts frames, vhostnet received $recv" \
	test "$rx_pkts" = "$recv" -a "$recv" -ge 20
vm_check virt-vq-worker "worker $rx_worker (rx), $tx_worker (tx), vhostnet pid $vpid" \
	test "${rx_worker%%:*}" = "vhost-$vpid" -a "$tx_worker" = "$rx_worker"
vm_check virt-vq-bytes "TX virtqueue $tx_bytes bytes, RX $rx_bytes (echoes: the same frames back)" \
	test "$tx_bytes" = "$rx_bytes" -a "$tx_bytes" -gt $((20 * 42))
vm_check virt-vq-signals "RX virtqueue: $rx_sig eventfd signals, vhostnet counted $vsig ($rx_calls reads)" \
	test "$rx_sig" = "$vsig" -a "$rx_sig" -ge 1
vm_check virt-tun-tapv "tapv q0: $q_frames frames in, $q_drops drops, $q_to to the VM, $q_from from it" \
	test "$q_frames" = "$recv" -a "$q_drops" = 0 -a "$q_to" = "$recv" -a "$q_from" = 20
vm_check virt-queues-link "tapv q0 <-> rx $q_rxvq, tx $q_txvq" test "$q_rxvq" != null -a "$q_txvq" != null
vm_check virt-vhost-peek "RX peeks $peeks, $peek_empty empty, $peek_bytes head bytes; RX moved $rx_pkts frames, $rx_bytes bytes" \
	test "$((peeks - peek_empty))" = "$rx_pkts" -a "$peek_bytes" = "$rx_bytes"
dp_cleanup

# ---- 2. a stalled reader: ring full ---------------------------------------
ip tuntap add dev tapf mode tap || exit 1
ip link set tapf txqueuelen 64
"$O/tests/tools/taphold" --tap tapf --ready "$VT/hold.ready" &
VPIDS+=($!)
for _ in $(seq 50); do [[ -e $VT/hold.ready ]] && break; sleep 0.1; done
ip addr add 10.79.0.1/24 dev tapf
ip neigh replace 10.79.0.2 lladdr 02:00:00:00:00:02 dev tapf nud permanent
ip link set tapf up
sleep 0.5
echo "guest: t=$(vm_uptime) s: starting virt tun"
virt_start t tun --dev tapf --json -i 600 || { vm_fail virt-start-tun "virt tun did not start"; exit 1; }
echo "guest: t=$(vm_uptime) s: tracing; 100 datagrams"
for i in $(seq 100); do echo "x$i" >/dev/udp/10.79.0.2/7000; done
sleep 0.3
virt_stop "$t_pid"
J=$(tail -n 1 "$VT/t.json")
echo "guest: virt tun: $(jq -c '[.tun_queues[] | {dev, queue, frames, drops_ring_full, fill_avg, fill_max, ring_size}]' <<<"$J") hooks $(jq -c '[.hooks[] | "\(.hook)=\(.method)"]' <<<"$J")"
kd=$(cat /sys/class/net/tapf/statistics/tx_dropped)
f=$(jq '[.tun_queues[].frames] | add // 0' <<<"$J")
d=$(jq '[.tun_queues[].drops_ring_full] | add // 0' <<<"$J")
vm_check virt-tun-full "$f of 100 frames, $d ring-full drops (kernel tx_dropped $kd, expected 36)" \
	test "$f" = 100 -a "$d" = 36 -a "$kd" = 36
vm_check virt-tun-fill "fill max $(jq '.tun_queues[0].fill_max' <<<"$J") of ring $(jq '.tun_queues[0].ring_size' <<<"$J")" \
	test "$(jq '.tun_queues[0].fill_max' <<<"$J")" = 64 -a "$(jq '.tun_queues[0].ring_size' <<<"$J")" = 64
exit 0
