# SPDX-License-Identifier: MIT
# Shared helpers for the live end-to-end tests: start a collector and one
# agent per testbed hypervisor, drive traffic, query the matrix, assert on
# measured values, and clean everything up on any exit.
#
# Source it after setting ST_TB (testbed name) and O (build dir). Every test
# file calls e2e_begin once and uses check/check_range for assertions; the
# summary line "N passed, N failed" is printed by e2e_end.

E2E_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
O=${O:-$E2E_REPO/build}
O=$(cd "$O" && pwd)
export ST_TOOLS_DIR=$O/tests/tools
. "$E2E_REPO/tests/testbed/testbed.sh"
. "$E2E_REPO/tests/e2e/pki.sh"

E2E_PASS=0
E2E_FAIL=0
E2E_PIDS=()
E2E_TMP=

e2e_log() { echo "e2e[$ST_TB]: $*" >&2; }

e2e_cleanup() {
	local p
	for p in "${E2E_PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in "${E2E_PIDS[@]}"; do
		timeout 10 tail --pid="$p" -f /dev/null 2>/dev/null || kill -KILL "$p" 2>/dev/null
	done
	E2E_PIDS=()
	TB_QUIET=1 tb_down >/dev/null 2>&1
	if [[ -n $E2E_TMP && -d $E2E_TMP && -z ${E2E_KEEP:-} ]]; then
		rm -rf "$E2E_TMP"
	fi
}

e2e_begin() {
	E2E_TMP=$(mktemp -d /tmp/stagetrace-e2e.XXXXXX)
	trap e2e_cleanup EXIT
	trap 'exit 130' INT TERM
	# Ports derived from the testbed name, so parallel beds do not collide,
	# and below the kernel's ephemeral range (32768 and up by default):
	# there a client connection, or one still in TIME_WAIT, can hold the
	# port (CI once saw the collector's --query refused, "Address in use").
	local h
	h=$(printf '%s' "$ST_TB" | cksum | cut -d' ' -f1)
	E2E_PORT=$((20000 + h % 12000))
	E2E_QUERY=tcp://127.0.0.1:$((E2E_PORT + 1))
	# Agents and collector talk mutual TLS, as in production; the CLI's
	# query socket stays on loopback.
	E2E_PKI=$E2E_TMP/pki
	pki_make "$E2E_PKI" || { e2e_log "cannot make test certificates (openssl)"; return 1; }
	E2E_INGEST=tls+tcp://127.0.0.1:$E2E_PORT
	E2E_COLLECTOR_TLS=(--tls-cert "$E2E_PKI/collector.pem" --tls-key "$E2E_PKI/collector.key"
		--tls-ca "$E2E_PKI/ca.pem")
	E2E_AGENT_TLS=(--tls-cert "$E2E_PKI/agent.pem" --tls-key "$E2E_PKI/agent.key"
		--tls-ca "$E2E_PKI/ca.pem")
	# Test tools (stsend, stloadgen) read their TLS material from here.
	export ST_TLS_CERT=$E2E_PKI/agent.pem ST_TLS_KEY=$E2E_PKI/agent.key ST_TLS_CA=$E2E_PKI/ca.pem
}

e2e_end() {
	echo "$E2E_PASS passed, $E2E_FAIL failed"
	[[ $E2E_FAIL -eq 0 ]]
}

check() { # name condition-exit-status message
	local name=$1
	shift
	if "$@"; then
		E2E_PASS=$((E2E_PASS + 1))
		echo "ok   $name"
	else
		E2E_FAIL=$((E2E_FAIL + 1))
		echo "FAIL $name"
	fi
}

# check_range NAME VALUE LO HI: LO <= VALUE <= HI, numbers as floats.
check_range() {
	local name=$1 v=$2 lo=$3 hi=$4
	if [[ -z $v || $v == null ]]; then
		E2E_FAIL=$((E2E_FAIL + 1))
		echo "FAIL $name: no value (expected [$lo, $hi])"
		return 1
	fi
	if awk -v v="$v" -v lo="$lo" -v hi="$hi" 'BEGIN { exit !(v >= lo && v <= hi) }'; then
		E2E_PASS=$((E2E_PASS + 1))
		echo "ok   $name = $v in [$lo, $hi]"
	else
		E2E_FAIL=$((E2E_FAIL + 1))
		echo "FAIL $name = $v not in [$lo, $hi]"
		return 1
	fi
}

# Collector with a fresh store in the test's temp dir.
e2e_collector() {
	"$O/stagetrace-collector" --listen "$E2E_INGEST" --query "$E2E_QUERY" \
		"${E2E_COLLECTOR_TLS[@]}" --db "${E2E_DB:-$E2E_TMP/st.db}" "$@" \
		>>"$E2E_TMP/collector.log" 2>&1 &
	E2E_COLLECTOR_PID=$!
	E2E_PIDS+=("$E2E_COLLECTOR_PID")
	local i
	for i in $(seq 50); do
		"$O/stagetrace" stats -C "$E2E_QUERY" -t 0.2 >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	e2e_log "collector did not come up"; cat "$E2E_TMP/collector.log" >&2
	return 1
}

# e2e_agent hv1|hv2 [extra agent options]: one agent restricted to the
# hypervisor's namespace, with its uplink and VM names from the testbed.
e2e_agent() {
	local hv=$1 ns vm args=()
	shift
	ns=$(tb_ns "$hv")
	for vm in $(tb_vms); do
		[[ $(tb_vm_hv "$vm") == "$hv" ]] && args+=(--vm "$(tb_vm_tap "$vm")=$vm")
	done
	"$O/stagetrace-agent" --netns "$ns" --host "$hv" --uplink eth0 "${args[@]}" \
		-C "$E2E_INGEST" "${E2E_AGENT_TLS[@]}" "$@" >>"$E2E_TMP/agent-$hv.log" 2>&1 &
	E2E_PIDS+=("$!")
	eval "E2E_AGENT_${hv}_PID=$!"
}

# Wait until both agents have delivered a batch (they heartbeat every flush).
e2e_wait_agents() {
	local i n
	for i in $(seq 100); do
		n=$("$O/stagetrace" hosts -C "$E2E_QUERY" --json -t 0.5 2>/dev/null |
			jq '[.hosts[] | select(.batches > 0)] | length' 2>/dev/null)
		[[ ${n:-0} -ge ${1:-2} ]] && return 0
		sleep 0.1
	done
	e2e_log "agents did not report"; tail -5 "$E2E_TMP"/agent-*.log >&2
	return 1
}

# e2e_wait_traced LOG HOST [N]: wait (15 s at most) until LOG holds N
# (default 1) "tracing: host HOST" lines, which the agent logs once its
# hooks are attached (a log appended to by a restarted agent holds more).
e2e_wait_traced() {
	local i
	for i in $(seq 150); do
		[[ $(grep -c "tracing: host $2" "$1" 2>/dev/null) -ge ${3:-1} ]] && return 0
		sleep 0.1
	done
	e2e_log "agent $2 did not log 'tracing:' ${3:-1} time(s) in $1"
	return 1
}

# Stop agents (they flush and drain), then let the collector expire windows.
e2e_stop_agents() {
	local p
	for p in ${E2E_AGENT_hv1_PID:-} ${E2E_AGENT_hv2_PID:-}; do
		kill -INT "$p" 2>/dev/null
		timeout 15 tail --pid="$p" -f /dev/null
	done
	# Complete packets can wait in the collector for up to its window (and
	# longer while the clock model matures): poll until none is pending
	# (20 s at most; no collector to ask ends it), then give the store its
	# flush time. A fixed sleep alone had no margin on a slow machine.
	local i n
	for i in $(seq 40); do
		[[ -n ${E2E_QUERY:-} ]] || break
		n=$("$O/stagetrace" stats -C "$E2E_QUERY" --json 2>/dev/null | jq '.collector.pending_packets' 2>/dev/null)
		[[ -z $n || $n == 0 ]] && break	# drained, or no collector to ask
		if [[ $n == null ]]; then
			e2e_log "stats --json has no .collector.pending_packets: not waiting for the collector"
			break
		fi
		sleep 0.5
	done
	sleep "${1:-3}"
}

e2e_matrix() { "$O/stagetrace" matrix -C "$E2E_QUERY" --json "$@"; }

# jq helpers over a matrix JSON file: cell SRC DST -> field path
cell() { jq -r --arg s "$2" --arg d "$3" ".cells[] | select(.src==\$s and .dst==\$d) | $4" "$1"; }
stage() { jq -r --arg s "$2" --arg d "$3" --arg st "$4" ".cells[] | select(.src==\$s and .dst==\$d) | .stages[] | select(.stage==\$st) | $5" "$1"; }
