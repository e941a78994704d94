#!/bin/bash
# SPDX-License-Identifier: MIT
# The OVS upcall matrix on a real Debian kernel (kernel-matrix guest): two
# vmsim VMs on an OVS bridge (as ovs.sh), agent and collector running.
# Three rounds, each one UDP request vma->vmb after the datapath flows were
# flushed, so each round is a miss both ways (request, then the reply):
#   1. normal;
#   2. userspace slowed: ovs-vswitchd is stopped (SIGSTOP) just before the
#      request is sent and continued 500 ms later, so the request's upcall
#      waits for it; the reply's upcall comes after SIGCONT;
#   3. normal again; then one request that hits the installed flows.
# Asserted from `stagetrace upcall` (the collector's stored histograms):
#   - per pair, both directions: exactly 3 upcalls and 1 hit;
#   - the slowed request's upcall is >= 250 ms (the 500 ms stop, less the
#     time between SIGSTOP and the send: starting the sender takes up to
#     ~100 ms under emulation) and exceeds the slower of the two normal
#     ones by >= 250 ms (per packet, from the stored paths): the stop adds
#     its length on top of whatever an upcall normally costs, which under a
#     loaded emulator is itself 2-100 ms, so a ratio would not hold;
#   - the reply direction, never slowed, stays under 100 ms at p50;
#   - host "guest": 6 upcalls, max >= 250 ms, and the kernel's own miss
#     counter as the agent read it over generic netlink lies between two
#     `ovs-dpctl show` readings taken around the agent's last refresh.
# `stagetrace upcall --local --megaflow -v`, run at the same time, must time
# the same 6 upcalls (the slowed one >= 250 ms and >= 250 ms over the others), name
# ovs-vswitchd's handler threads as the re-injectors, and count as many
# ovs_dp_upcall calls as the datapath's own missed counter moved.
. "$ST_VM_REPO/tests/vm/guest-lib.sh"
. "$REPO/tests/vm/guest/dp-lib.sh"
vm_modprobe openvswitch tun || { vm_fail upcall-modules "modprobe openvswitch tun"; exit 1; }
dp_collector || { vm_fail upcall-setup "collector"; exit 1; }
dp_ovs_up || { vm_fail upcall-setup "OVS userspace"; exit 1; }
dp_vms || { vm_fail upcall-setup "vmsim"; exit 1; }
w=$(dp_traffic 2)
vm_check upcall-warmup "vma->vmb over OVS before tracing: $w" test "$(jq .received <<<"$w")" = 2
dp_agent || { vm_fail upcall-agent "agent did not start"; exit 1; }
# The local command on the same host, at the same time.
"$ST" upcall --local --megaflow -v --json -i 1 >"$T/local.json" 2>"$T/local.err" &
LOCAL=$!
DP_PIDS+=("$LOCAL")
# The same as an operator reads it (printed below for docs/tools.md).
"$ST" upcall --local --megaflow -v -i 2 >"$T/local.txt" 2>&1 &
LOCALT=$!
DP_PIDS+=("$LOCALT")
# Its first line (the hooks) comes once its programs are attached.
for i in $(seq 300); do
	grep -q '"hooks"' "$T/local.json" 2>/dev/null && grep -q '^Ctrl-C' "$T/local.txt" && break
	sleep 0.2
done
echo "guest: upcall --local: $(head -c 700 "$T/local.json")"
sleep 2.5

# revalidator/purge, not ovs-dpctl del-flows: it drops ovs-vswitchd's own
# flow keys with the datapath flows, so the next miss installs its flow
# again (a stale key makes ovs-vswitchd skip the install, and the "hit"
# below would miss).
purge() { ovs-appctl -t "$T/ovs-vswitchd.$DP_VSWITCHD.ctl" revalidator/purge || echo "guest: revalidator/purge failed"; }
got=0
purge
got=$((got + $(dp_traffic 1 | jq .received)))
purge
kill -STOP "$DP_VSWITCHD"
(sleep 0.5; kill -CONT "$DP_VSWITCHD") &
cont=$!
got=$((got + $(dp_traffic 1 | jq .received)))
wait "$cont"
purge
got=$((got + $(dp_traffic 1 | jq .received)))
# The agent reads the datapath counters at every device rescan (2 s); the
# last request (a hit) carries the refreshed values to the collector.
m1=$(dp_missed)
sleep 2.5
got=$((got + $(dp_traffic 1 | jq .received)))
m2=$(dp_missed)
sleep 1.5
kill -INT "$LOCAL" "$LOCALT"
timeout 20 tail --pid="$LOCAL" -f /dev/null
timeout 20 tail --pid="$LOCALT" -f /dev/null
echo "guest: upcall --local text output:"; cat "$T/local.txt"
dp_agent_stop
vm_check upcall-traffic "answers $got of 4" test "$got" = 4
dp_matrix >/dev/null

up=$("$ST" upcall -C tcp://127.0.0.1:17731 --last 1h --json)
echo "guest: upcall matrix: $(jq -M -c . <<<"$up" | cut -c1-1500)"
"$ST" upcall -C tcp://127.0.0.1:17731 --last 1h
pair() { jq -c --arg s "$1" --arg d "$2" '.pairs[] | select(.src == $s and .dst == $d)' <<<"$up"; }
for dir in "vma vmb" "vmb vma"; do
	read -r s d <<<"$dir"
	p=$(pair "$s" "$d")
	vm_check "upcall-count-$s-$d" "upcalls $(jq .upcalls <<<"$p") (want 3), hits $(jq .hits <<<"$p") (want 1)" \
		test "$(jq .upcalls <<<"$p")" = 3 -a "$(jq .hits <<<"$p")" = 1
done
p50=$(pair vmb vma | jq '.latency.p50_us')
vm_check upcall-reply-normal "reply direction (never slowed) p50 $p50 us < 100000" \
	jq -e 'type == "number" and . > 0 and . < 100000' <<<"$p50" >/dev/null

# Per packet: the three requests' upcall times from the stored paths.
us=$("$ST" paths -C tcp://127.0.0.1:17731 --src vma --dst vmb --slowest 30 --json |
	jq '[.paths[] | .stages[] | select(.stage == "upcall@guest") | .us] | sort')
echo "guest: request upcalls (us): $(jq -c . <<<"$us")"
vm_check upcall-paths "3 request paths carry upcall@guest: $(jq -c . <<<"$us")" test "$(jq length <<<"$us")" = 3
slow=$(jq '.[2]' <<<"$us")
norm=$(jq '.[1]' <<<"$us")
vm_check upcall-slowed "slowed upcall $slow us >= 250000 and >= 250000 over the normal $norm us" \
	jq -e 'length == 3 and .[2] >= 250000 and .[2] - .[1] >= 250000' <<<"$us" >/dev/null

h=$(jq -c '.hosts[] | select(.host == "guest")' <<<"$up")
vm_check upcall-host "host guest: $(jq -c '{upcalls, upcalls_per_s, max: .latency.max_us}' <<<"$h")" \
	test "$(jq .upcalls <<<"$h")" = 6 -a "$(jq '.latency.max_us >= 250000' <<<"$h")" = true
dm=$(jq '.datapath.missed // -1' <<<"$h")
vm_check upcall-datapath "agent-read kernel missed $dm within [$m1, $m2] (ovs-dpctl show)" \
	test "$dm" -ge "$m1" -a "$dm" -le "$m2"
# stagetrace upcall --local: every upcall timed in the kernel, by handler.
head -c 600 "$T/local.err"
lj=$(jq -s -c '[.[] | select(.event == "upcall")]' "$T/local.json")
echo "guest: local upcalls: $(jq -c '[.[] | {flow, latency_us, handler}]' <<<"$lj" | cut -c1-1200)"
vm_check upcall-local-count "$(jq length <<<"$lj") upcalls timed (want 6: 3 requests, 3 replies)" \
	test "$(jq length <<<"$lj")" = 6
ls=$(jq '[.[] | select(.flow | test("10.9.0.1:40000 > 10.9.0.2:7000")) | .latency_us] | sort' <<<"$lj")
vm_check upcall-local-slowed "requests $(jq -c . <<<"$ls") us: slowest >= 250000 and >= 250000 over the next" \
	jq -e 'length == 3 and .[2] >= 250000 and .[2] - .[1] >= 250000' <<<"$ls" >/dev/null
hn=$(jq -r '[.[].handler] | unique | join(",")' <<<"$lj")
vm_check upcall-local-handler "re-injected by ovs-vswitchd handler thread(s): $hn" \
	jq -e 'all(.[]; .handler | startswith("handler"))' <<<"$lj" >/dev/null
ints=$(jq -s -c '[.[] | select(.interval_s)]' "$T/local.json")
kup=$(jq '[.[].counters.upcalls // 0] | add' <<<"$ints")
kmiss=$(jq '[.[].datapaths[]?.missed] | add // 0' <<<"$ints")
vm_check upcall-local-megaflow "ovs_dp_upcall calls $kup, datapath missed (netlink, per interval) $kmiss: equal, >= 6" \
	test "$kup" = "$kmiss" -a "$kup" -ge 6

txt=$("$ST" upcall -C tcp://127.0.0.1:17731 --last 1h)
vm_check upcall-text "table names host guest and pair vma->vmb" \
	grep -qE '^guest +6 ' <<<"$txt"
exit 0
