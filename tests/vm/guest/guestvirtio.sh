#!/bin/bash
# SPDX-License-Identifier: MIT
# Guest virtio-net stages: the stage programs run INSIDE a VM (this guest)
# with a real virtio-net NIC (qemu -nic user,model=virtio-net-pci, given
# by tests/vm/run.sh when this test runs; slirp behind it, gateway
# 10.0.2.2, IPv6 off, so nothing arrives unasked).
#
# Traffic, as in virtio.sh: N TCP connects to 10.0.2.2 port 1, which
# slirp refuses with a RST: N SYNs out, N RSTs in over the virtio NIC.
# Asserted:
#  - the three virtio hooks attach with their first method (fentry,
#    fentry, fexit; latency's hook list) and, forced, with their second
#    (kprobe, kprobe, kretprobe: stagetrace-agent --probes): the real
#    programs load and attach;
#  - `stagetrace latency --host -v --json` (the agent's programs and
#    plans, one record per packet): exactly N tx paths ending nic_tx,
#    virtio_tx (the driver's start_xmit returned) and exactly N rx paths
#    beginning virtio_irq (RX interrupt callback), virtio_poll (the NAPI
#    run), nic_rx; one packet id each, no negative interval (monotonic
#    stamps); the counters of unattributed guest stamps are 0;
. "$ST_VM_REPO/tests/vm/guest-lib.sh"
. "$REPO/tests/vm/guest/dp-lib.sh"
N=20
dev=$(vm_virtio_nic) || { vm_fail gv-nic "no virtio-net device (qemu -nic user,model=virtio-net-pci missing?)"; exit 1; }
ip link set "$dev" up
ip addr replace 10.0.2.15/24 dev "$dev"
sleep 0.5
# Resolve the gateway first: a connect that waits for ARP under a loaded
# TCG host can time out before its SYN leaves.
timeout 10 bash -c "exec 3<>/dev/tcp/10.0.2.2/1" 2>/dev/null

# The second alternative of each virtio hook, forced: the agent's real
# kprobe / kretprobe programs load and attach (the first alternatives are
# what the runs below use, asserted from their hook list).
AG=$O/stagetrace-agent
vsel='.[] | select(.stage | test("^virtio_"))'
for fm in kprobe kretprobe; do
	out=$("$AG" --probes --json --force-method "$fm" 2>"$T/probes.err")
	att=$(jq -c "[$vsel | select(.status == \"attached\" and .method == \"$fm\") | .stage + \"@\" + .symbol]" <<<"$out")
	want=$([[ $fm == kprobe ]] && echo 2 || echo 1)
	vm_check "gv-force-$fm" "$(jq length <<<"$att")/$want virtio hooks attached: $att" \
		test "$(jq length <<<"$att")" = "$want"
done

# The traffic seen per packet by stagetrace latency: the agent's
# programs, loaded and attached by the agent's plan code
# (common/stage_attach.c), with every packet's record printed. (The agent
# itself adds its own start-up under TCG, which made this test overrun its
# time; the agent's config flag for virtio_tx is the same code path.)
"$ST" latency --host --proto tcp -v --json >"$T/lat.out" 2>"$T/lat.err" &
LAT=$!
DP_PIDS+=($LAT)
for _ in $(seq 600); do
	grep -q '"type":"hooks"' "$T/lat.out" && break
	kill -0 "$LAT" 2>/dev/null || break
	sleep 0.2
done
grep -q '"type":"hooks"' "$T/lat.out" || { vm_fail gv-latency-start "$(tail -3 "$T/lat.err")"; exit 1; }
# TCP's own segment counters (ARP frames, which the driver also counts,
# come and go with the neighbour cache): nothing else speaks TCP here.
tcpseg() { awk '/^Tcp:/ { if (!h) { for (i = 1; i <= NF; i++) c[$i] = i; h = 1 } else print $c["InSegs"], $c["OutSegs"] }' /proc/net/snmp; }
read -r in0 out0 <<<"$(tcpseg)"
tx0=$(cat "/sys/class/net/$dev/statistics/tx_packets")
rx0=$(cat "/sys/class/net/$dev/statistics/rx_packets")
for _ in $(seq $N); do
	timeout 10 bash -c "exec 3<>/dev/tcp/10.0.2.2/1" 2>/dev/null
done
sleep 1.6	# past the path timeouts: the rx paths end by timeout or free
kill -INT "$LAT"
timeout 30 tail --pid="$LAT" -f /dev/null
dtx=$(($(cat "/sys/class/net/$dev/statistics/tx_packets") - tx0))
drx=$(($(cat "/sys/class/net/$dev/statistics/rx_packets") - rx0))
read -r in1 out1 <<<"$(tcpseg)"
stx=$((out1 - out0)) srx=$((in1 - in0))
echo "guest: driver counters: tx_packets +$dtx, rx_packets +$drx (ARP included); TCP segments out +$stx, in +$srx"
# Everything from one pass over the records (each jq start costs seconds
# under TCG).
S=$(jq -s -c '
	def stg: [.stages[].stage] | join(",");
	def st($s): [.[] | select(.type == "packet") | .stages[] | select(.stage == $s) | .delta_us] | sort
		| {n: length, min: .[0], p50: .[length / 2 | floor], max: .[-1]};
	[.[] | select(.type == "packet")] as $p
	| [$p[] | select(.dir == "tx" and (.flow | test("-> 10.0.2.2:1 ")))] as $tx
	| [$p[] | select(.dir == "rx" and (.flow | test("10.0.2.2:1 ->")))] as $rx
	| ([.[] | select(.type == "interval") | .bpf]
	   | reduce .[] as $i ({}; reduce ($i | keys[]) as $k (.; .[$k] += $i[$k]))) as $bpf
	| {hooks: [.[] | select(.type == "hooks") | .hooks[]
			| select(.hook == "skb_recv_done" or .hook == "virtnet_poll" or .hook == "start_xmit")
			| "\(.hook)=\(.method) \(.status)"],
	   tx: ($tx | length),
	   tx_ok: ([$tx[] | select((stg | endswith("nic_tx,virtio_tx")) and .end == "left")] | length),
	   rx: ($rx | length),
	   rx_ok: ([$rx[] | select(stg | startswith("virtio_irq,virtio_poll,nic_rx"))] | length),
	   all: ($p | length), ids: ([$p[].pkt_id] | unique | length),
	   neg: ([$p[].stages[] | select(.delta_us < 0)] | length),
	   unattributed: ($bpf.virtio_rx_without_irq + $bpf.virtio_rx_without_poll
			  + $bpf.virtio_rx_stale_poll + $bpf.virtio_tx_unfinished),
	   stages_us: {virtio_poll: st("virtio_poll"), nic_rx: st("nic_rx"), virtio_tx: st("virtio_tx")},
	   bpf: $bpf, tx_sample: $tx[0], rx_sample: $rx[0]}' "$T/lat.out")
echo "guest: summary: $S"
# (No process substitution: the guest's initramfs has no /dev/fd.)
read -r h tx txok rx rxok all ids neg un <<<"$(jq -r '[(.hooks | map(select(endswith(" attached"))) | length),
	.tx, .tx_ok, .rx, .rx_ok, .all, .ids, .neg, .unattributed] | @tsv' <<<"$S")"
vm_check gv-latency-hooks "$h/3 virtio hooks attached (first alternatives)" test "$h" = 3
vm_check gv-tx-paths "$tx tx paths to 10.0.2.2:1, $txok end nic_tx, virtio_tx (left); TCP sent $stx, want $N" \
	test "$tx" = $N -a "$txok" = $N -a "$stx" = $N
vm_check gv-rx-paths "$rx rx paths from 10.0.2.2:1, $rxok begin virtio_irq, virtio_poll, nic_rx; TCP received $srx, want $N" \
	test "$rx" = $N -a "$rxok" = $N -a "$srx" = $N
vm_check gv-monotonic "$all paths, $ids distinct packet ids, $neg negative intervals" test "$neg" = 0 -a "$ids" = "$all"
vm_check gv-unattributed "virtio stamps not attributed: $un" test "$un" = 0

exit 0
