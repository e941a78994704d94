# SPDX-License-Identifier: MIT
# Shared by the datapath guest tests (ovs.sh, bridge.sh): two "VMs" played
# by vmsim behind tap devices tapa/tapb (10.9.0.1, 10.9.0.2) joined by a
# datapath the test builds, one collector (plaintext on loopback, inside
# the guest), one agent naming the taps as VMs vma/vmb and tracing UDP.
# Everything runs in the guest's root namespace: the guest is the
# hypervisor.

T=/tmp/dp
mkdir -p "$T"
DP_PIDS=()
VMSIM=$O/tests/tools/vmsim

dp_cleanup() {
	local p
	for p in "${DP_PIDS[@]}"; do kill -INT "$p" 2>/dev/null; done
	for p in "${DP_PIDS[@]}"; do
		timeout 10 tail --pid="$p" -f /dev/null 2>/dev/null || kill -KILL "$p" 2>/dev/null
	done
	DP_PIDS=()
	# The next guest test builds its own datapath with the same names.
	command -v ovs-dpctl >/dev/null && ovs-dpctl del-dp system@ovs-system 2>/dev/null
	ip link del br0 2>/dev/null
	ip link del tapa 2>/dev/null
	ip link del tapb 2>/dev/null
	rm -rf "$T"
}
trap dp_cleanup EXIT

dp_taps() {
	local t
	for t in tapa tapb; do
		ip tuntap add dev "$t" mode tap || return 1
		ip link set "$t" up || return 1
	done
}

dp_vms() {
	"$VMSIM" --tap tapa --mac 02:00:0a:09:00:01 --ip 10.9.0.1/24 --ctl-listen "$T/a.sock" \
		--pidfile "$T/a.ready" --quiet >"$T/vma.log" 2>&1 &
	DP_PIDS+=($!)
	"$VMSIM" --tap tapb --mac 02:00:0a:09:00:02 --ip 10.9.0.2/24 --ctl-listen "$T/b.sock" \
		--pidfile "$T/b.ready" --quiet >"$T/vmb.log" 2>&1 &
	DP_PIDS+=($!)
	local i
	for i in $(seq 100); do
		[[ -e $T/a.ready && -e $T/b.ready ]] && return 0
		sleep 0.1
	done
	echo "vmsim did not start: $(cat "$T"/vm?.log)"
	return 1
}

# dp_traffic N: vma sends N UDP requests to vmb (each answered); prints
# vmsim's JSON result.
dp_traffic() {
	"$VMSIM" --ctl "$T/a.sock" traffic peer=10.9.0.2 proto=udp count="$1" rate=50 \
		dport=7000 sport=40000 wait_ms=1000
}

dp_collector() {
	"$O/stagetrace-collector" --listen tcp://127.0.0.1:17730 --query tcp://127.0.0.1:17731 \
		--insecure-plaintext --db "$T/st.db" "$@" >"$T/collector.log" 2>&1 &
	DP_PIDS+=($!)
	DP_COLLECTOR=$!
	local i
	for i in $(seq 100); do
		"$ST" stats -C tcp://127.0.0.1:17731 -t 0.5 >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	echo "collector did not come up: $(tail -5 "$T/collector.log")"
	return 1
}

# dp_agent: starts the agent and waits until it traces.
dp_agent() {
	"$O/stagetrace-agent" -C tcp://127.0.0.1:17730 --insecure-plaintext --host guest \
		--vm tapa=vma --vm tapb=vmb --proto udp --flush-ms 100 "$@" \
		>"$T/agent.log" 2>&1 &
	DP_AGENT=$!
	DP_PIDS+=($!)
	local i
	for i in $(seq 300); do
		grep -q "tracing:" "$T/agent.log" && return 0
		kill -0 "$DP_AGENT" 2>/dev/null || break
		sleep 0.2
	done
	echo "agent did not start:"; grep -v '^debug' "$T/agent.log" | tail -20
	return 1
}

dp_agent_stop() {
	kill -INT "$DP_AGENT"
	timeout 30 tail --pid="$DP_AGENT" -f /dev/null
	grep -v '^debug' "$T/agent.log" | tail -n 3
}

# dp_matrix: the collector's matrix JSON for the last hour, once the
# collector has finalised every packet (pending_packets 0).
dp_matrix() {
	local i p
	for i in $(seq 60); do
		p=$("$ST" stats -C tcp://127.0.0.1:17731 -t 2 --json 2>&1)
		[[ $(jq '.pending_packets // 1' <<<"$p" 2>/dev/null) == 0 ]] && break
		[[ $i == 1 || $i == 20 ]] && echo "guest: collector stats: $(head -c 600 <<<"$p")" >&2
		sleep 0.5
	done
	[[ $i == 60 ]] && { echo "guest: collector still has pending packets; its log:" >&2; tail -20 "$T/collector.log" >&2; }
	"$ST" matrix -C tcp://127.0.0.1:17731 -t 10 --last 1h --json
}

# dp_stage_count MATRIX SRC DST STAGE: the stage's packet count in a cell.
dp_stage_count() {
	jq --arg s "$2" --arg d "$3" --arg st "$4" \
		'[.cells[] | select(.src == $s and .dst == $d) | .stages[]? | select(.stage == $st) | .count] | add // 0' <<<"$1"
}

# dp_ovs_up: ovsdb-server and ovs-vswitchd (the host's OVS userspace, state
# under $T), the taps on bridge br0 with one OpenFlow rule per direction so
# every packet has exactly one output. Sets DP_VSWITCHD (its pid).
dp_ovs_up() {
	export OVS_RUNDIR=$T OVS_LOGDIR=$T OVS_DBDIR=$T OVS_SYSCONFDIR=$T
	local db=unix:$T/db.sock
	local vs=(ovs-vsctl --db="$db" --timeout=60)
	ovsdb-tool create "$T/conf.db" /usr/share/openvswitch/vswitch.ovsschema || return 1
	ovsdb-server "$T/conf.db" --remote=punix:"$T/db.sock" --pidfile="$T/ovsdb.pid" \
		--log-file="$T/ovsdb.log" --detach || return 1
	DP_PIDS+=($(cat "$T/ovsdb.pid"))
	"${vs[@]}" --no-wait init
	# Early upcalls of a datapath created before the guest has been up
	# ~11 s are lost (DESIGN.md, Testing).
	vm_wait_uptime 11
	echo "guest: starting ovs-vswitchd at uptime $(vm_uptime)s"
	ovs-vswitchd "$db" --pidfile="$T/vswitchd.pid" --log-file="$T/vswitchd.log" --detach || return 1
	DP_VSWITCHD=$(cat "$T/vswitchd.pid")
	DP_PIDS+=("$DP_VSWITCHD")
	dp_taps || return 1
	"${vs[@]}" add-br br0 -- add-port br0 tapa -- add-port br0 tapb || return 1
	ovs-ofctl del-flows br0
	ovs-ofctl add-flow br0 in_port=tapa,actions=output:tapb
	ovs-ofctl add-flow br0 in_port=tapb,actions=output:tapa
	ip link set br0 up
	ovs-dpctl show
}

# dp_missed: the kernel datapath's "lookups: missed" counter.
dp_missed() { ovs-dpctl show | sed -n 's/.*lookups: hit:\([0-9]*\) missed:\([0-9]*\).*/\2/p'; }
