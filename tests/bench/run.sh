#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# tests/bench/run.sh BUILD_DIR - the stagetrace benchmark (make bench).
#
# Measures, on the live test bed (tests/testbed/testbed.sh, bed "bench"):
#   1. probe cost: average ns per run of every stage program, from the
#      kernel's own BPF statistics (kernel.bpf_stats_enabled, switched on for
#      this phase only and restored), under steady UDP/TCP/ICMP traffic
#      between the two VMs with an agent on each hypervisor;
#   2. overhead: request/response throughput between the VMs with agents off
#      and on, at the fastest rate vmsim sends (open loop, it saturates the
#      two CPUs), and the median RTT at a moderate fixed rate; off and on
#      variants are interleaved (ABBA) in every round and the figures are
#      medians over the rounds, because this machine's noise is larger than
#      the effect of a single run;
#   3. correlation quality: the worst match rate of the two directions in
#      the collector's matrix after the on-rounds;
#   4. collector throughput: host paths ingested and correlated per second,
#      fed by build/tests/tools/stloadgen (two synthetic agents sending
#      joinable paths as fast as the collector acks them);
#   5. agent footprint: RSS and CPU of the agents during the on-rounds.
#
# Progress goes to stderr; stdout gets only the key=value figures, at the
# end (also written to BUILD_DIR/bench/results.txt). docs/benchmarks.md says
# what each figure means. Exit status is non-zero only on real failures
# (something did not start, a tool errored, traffic got no replies); slow
# numbers are numbers, not failures.
#
# Knobs (environment):
#   BENCH_ROUNDS=5        off/on rounds for throughput and RTT
#   BENCH_COUNT=100000    requests per saturating run (UDP and TCP each)
#   BENCH_RTT_RATE=2000   requests/s of the RTT runs (UDP)
#   BENCH_RTT_SECS=2      duration of each RTT run
#   BENCH_PROBE_RATE=10000  requests/s during the probe-cost phase
#   BENCH_PROBE_SECS=2    duration per protocol of the probe-cost phase
#   BENCH_LOAD_SECS=2     duration of each of the 3 collector load runs
#   BENCH_SINK=0          1: agents of the throughput rounds ship to a
#                         stand-in that only acks (stloadgen sink), so the
#                         co-located collector's CPU is not part of the
#                         overhead; match_rate then comes from phase 1
#   BENCH_AGENT_OPTS=""   extra agent options, e.g. "--force-method raw_tp"
#   BENCH_TB=bench        test bed name (ST_TB)
set -u

if [[ $# -lt 1 || ${1:-} == -h || ${1:-} == --help ]]; then
	sed -n '3,/^set -u/p' "$0" | sed 's/^# \{0,1\}//;/^set -u/d' >&2
	[[ $# -ge 1 ]] && exit 0
	exit 2
fi
if [[ ! -d $1 ]]; then
	echo "bench: build directory '$1' does not exist (run make first)" >&2
	exit 2
fi
if ((EUID != 0)); then
	echo "bench: needs root (BPF programs, network namespaces)" >&2
	exit 1
fi
O=$(cd "$1" && pwd)
export O
export ST_TB=${BENCH_TB:-bench}
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck disable=SC1091
. "$BENCH_DIR/../e2e/lib.sh"

ROUNDS=${BENCH_ROUNDS:-5}
COUNT=${BENCH_COUNT:-100000}
RTT_RATE=${BENCH_RTT_RATE:-2000}
RTT_SECS=${BENCH_RTT_SECS:-2}
PROBE_RATE=${BENCH_PROBE_RATE:-10000}
PROBE_SECS=${BENCH_PROBE_SECS:-2}
LOAD_SECS=${BENCH_LOAD_SECS:-2}
SINK=${BENCH_SINK:-0}
read -r -a AGENT_OPTS <<<"${BENCH_AGENT_OPTS:-}"
LOADGEN=$O/tests/tools/stloadgen
HZ=$(getconf CLK_TCK)
T_START=$(date +%s.%N)

blog() { printf 'bench[%5.1fs]: %s\n' "$(echo "$(date +%s.%N) - $T_START" | bc)" "$*" >&2; }
die() {
	blog "error: $*"
	exit 1
}

for tool in jq bpftool bc sysctl; do
	command -v "$tool" >/dev/null || die "$tool is not installed"
done
for bin in "$O/stagetrace-agent" "$O/stagetrace-collector" "$O/stagetrace" "$LOADGEN" \
	"$O/tests/tools/vmsim"; do
	[[ -x $bin ]] || die "$bin is missing (make all)"
done

# ---------------------------------------------------------------------------
# set-up and clean-up
# ---------------------------------------------------------------------------

STATS_OLD=
bench_cleanup() {
	local rc=$?
	if [[ -n $STATS_OLD ]]; then
		sysctl -qw kernel.bpf_stats_enabled="$STATS_OLD" >/dev/null 2>&1
		STATS_OLD=
	fi
	e2e_cleanup
	return $rc
}

e2e_begin || exit 1
trap bench_cleanup EXIT
LOAD_INGEST=tcp://127.0.0.1:$((E2E_PORT + 2))
LOAD_QUERY=tcp://127.0.0.1:$((E2E_PORT + 3))
SINK_URL=tcp://127.0.0.1:$((E2E_PORT + 4))

# A bed left behind by a killed earlier run would make tb_up fail.
TB_QUIET=1 tb_down >/dev/null 2>&1
TB_QUIET=1 tb_up || die "test bed did not come up"
blog "test bed '$ST_TB' up ($(nproc) CPUs, kernel $(uname -r))"

# Drops pids that have exited from the list e2e_cleanup kills at exit.
prune_pids() {
	local p keep=()
	for p in "${E2E_PIDS[@]}"; do
		kill -0 "$p" 2>/dev/null && keep+=("$p")
	done
	E2E_PIDS=("${keep[@]}")
}

# stop_pid PID: SIGINT, then wait (at most 15 s) for it to finish.
stop_pid() {
	kill -INT "$1" 2>/dev/null || return 0
	timeout 15 tail --pid="$1" -f /dev/null 2>/dev/null || kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 0
}

# agents_start URL: an agent per hypervisor shipping to URL; returns once
# both have attached their programs (their "tracing:" log line).
agents_start() {
	local url=$1 hv i p off1 off2
	off1=$(stat -c %s "$E2E_TMP/agent-hv1.log" 2>/dev/null || echo 0)
	off2=$(stat -c %s "$E2E_TMP/agent-hv2.log" 2>/dev/null || echo 0)
	e2e_agent hv1 -C "$url" "${AGENT_OPTS[@]}"
	e2e_agent hv2 -C "$url" "${AGENT_OPTS[@]}"
	for ((i = 0; i < 300; i++)); do
		if tail -c +$((off1 + 1)) "$E2E_TMP/agent-hv1.log" 2>/dev/null | grep -q 'tracing:' &&
			tail -c +$((off2 + 1)) "$E2E_TMP/agent-hv2.log" 2>/dev/null | grep -q 'tracing:'; then
			return 0
		fi
		for hv in hv1 hv2; do
			eval "p=\$E2E_AGENT_${hv}_PID"
			# shellcheck disable=SC2154
			if ! kill -0 "$p" 2>/dev/null; then
				tail -n 5 "$E2E_TMP/agent-$hv.log" >&2
				die "agent $hv exited during start-up"
			fi
		done
		sleep 0.1
	done
	tail -n 5 "$E2E_TMP"/agent-*.log >&2
	die "agents did not start tracing within 30 s"
}

# e2e_agent sets E2E_AGENT_hv1_PID / E2E_AGENT_hv2_PID (through eval).
# shellcheck disable=SC2154
agents_stop() {
	stop_pid "$E2E_AGENT_hv1_PID"
	stop_pid "$E2E_AGENT_hv2_PID"
	prune_pids
}

# Waits until the collector at QUERY_URL has taken in everything sent to it
# (its path counter stops moving), at most 30 s.
collector_settle() {
	local q=$1 prev=-1 cur i
	for ((i = 0; i < 100; i++)); do
		cur=$("$O/stagetrace" stats -C "$q" --json -t 2 2>/dev/null | jq -r '.collector.paths') ||
			cur=-2
		[[ $cur == "$prev" ]] && return 0
		prev=$cur
		sleep 0.3
	done
	blog "warning: collector at $q still busy after 30 s"
}

cpu_ticks() { # utime + stime of PID, in clock ticks
	local s
	s=$(<"/proc/$1/stat") || return 1
	s=${s##*) }
	# shellcheck disable=SC2086
	set -- $s
	echo $((${12} + ${13}))
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

median() { # numbers as arguments -> median (mean of the middle two if even)
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "nan"; exit }
		if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

fmt() { awk -v v="$1" -v d="${2:-0}" 'BEGIN { printf "%.*f\n", d, v }'; }

# traffic OUT_JSON PROTO tb_traffic-args...: one run from vma to vmb.
traffic() {
	local out=$1 proto=$2
	shift 2
	tb_traffic --from vma --to vmb --proto "$proto" "$@" >"$out" 2>>"$E2E_TMP/traffic.err" ||
		die "traffic ($proto $*) failed: $(tail -n 1 "$E2E_TMP/traffic.err")"
	jq -e '.sent > 0 and .received > 0' "$out" >/dev/null ||
		die "traffic ($proto $*) got no replies: $(cat "$out")"
}

# ---------------------------------------------------------------------------
# phase 1: probe cost from the kernel's BPF statistics
# ---------------------------------------------------------------------------

# Program ids the process holds file descriptors for (the agent's programs).
prog_ids_of() {
	local fd
	for fd in /proc/"$1"/fd/*; do
		[[ $(readlink "$fd" 2>/dev/null) == anon_inode:bpf-prog ]] || continue
		awk '/^prog_id:/ { print $2 }' "/proc/$1/fdinfo/${fd##*/}" 2>/dev/null
	done
}

e2e_collector || die "collector did not start"
agents_start "$E2E_INGEST"
ids=$( (prog_ids_of "$E2E_AGENT_hv1_PID"; prog_ids_of "$E2E_AGENT_hv2_PID") | sort -un |
	jq -R 'tonumber' | jq -s -c .)
if [[ $ids == "[]" ]]; then
	blog "no program fds visible in /proc; selecting programs by name (btf_*, raw_*)"
	ids=null
fi
STATS_OLD=$(sysctl -n kernel.bpf_stats_enabled) || die "cannot read kernel.bpf_stats_enabled"
sysctl -qw kernel.bpf_stats_enabled=1 || die "cannot enable kernel.bpf_stats_enabled"
# Counters only run while statistics are on, and these programs are fresh:
# snapshot anyway, in case something else had statistics on before.
snap() {
	bpftool prog show --json | jq -c --argjson ids "$ids" '[.[] |
		select(if $ids == null then (.name // "" | test("^(btf|raw)_"))
		       else (.id as $i | $ids | any(. == $i)) end) |
		{id, name, ns: (.run_time_ns // 0), cnt: (.run_cnt // 0)}]'
}
snap >"$E2E_TMP/bpf0.json" || die "bpftool prog show failed"
# Other agents on this machine (other test beds) attach the same kinds of
# programs; they run on our packets too, in both variants. Say so.
others=$(bpftool prog show --json | jq --argjson ids "${ids/null/[]}" '[.[] |
	select((.name // "" | test("^(btf|raw)_")) and (.id as $i | $ids | any(. == $i) | not))] | length')
blog "probe cost: $(jq length "$E2E_TMP/bpf0.json") programs of ours, ${others:-?} stage programs of other agents loaded; traffic ${PROBE_RATE}/s udp, tcp, $((PROBE_RATE / 4))/s icmp"
traffic "$E2E_TMP/probe-udp.json" udp --rate "$PROBE_RATE" --duration "$PROBE_SECS" --wait-ms 300
traffic "$E2E_TMP/probe-tcp.json" tcp --rate "$PROBE_RATE" --duration "$PROBE_SECS" --wait-ms 300
traffic "$E2E_TMP/probe-icmp.json" icmp --rate "$((PROBE_RATE / 4))" --duration "$PROBE_SECS" --wait-ms 300
snap >"$E2E_TMP/bpf1.json" || die "bpftool prog show failed"
sysctl -qw kernel.bpf_stats_enabled="$STATS_OLD"
STATS_OLD=
blog "probe traffic replies: $(jq -r -s 'map("\(.proto) \(.received)/\(.sent)") | join(", ")' "$E2E_TMP"/probe-*.json)"
# Per hook (program name without btf_/raw_), summed over both agents.
jq -r -s '(.[0] | map({key: (.id | tostring), value: .}) | from_entries) as $a |
	[.[1][] | {hook: (.name | sub("^(btf|raw)_"; "")),
		ns: (.ns - ($a[.id | tostring].ns // 0)),
		cnt: (.cnt - ($a[.id | tostring].cnt // 0))}] |
	group_by(.hook)[] | {hook: .[0].hook, ns: (map(.ns) | add), cnt: (map(.cnt) | add)} |
	"\(.hook) \(.ns) \(.cnt)"' "$E2E_TMP/bpf0.json" "$E2E_TMP/bpf1.json" >"$E2E_TMP/probe.txt" ||
	die "cannot compute probe statistics"
PROBE_LINES=()
PROBE_MAX=0
PROBE_CALLS=0
PROBE_NS_ALL=0
while read -r hook ns cnt; do
	PROBE_CALLS=$((PROBE_CALLS + cnt))
	PROBE_NS_ALL=$((PROBE_NS_ALL + ns))
	((cnt > 0)) || continue
	avg=$(fmt "$(echo "$ns / $cnt" | bc -l)" 1)
	PROBE_LINES+=("probe_ns_$hook=$avg")
	PROBE_MAX=$(awk -v a="$PROBE_MAX" -v b="$avg" 'BEGIN { print (b > a ? b : a) }')
done <"$E2E_TMP/probe.txt"
((PROBE_CALLS > 0)) || blog "warning: no program runs were counted (did something switch kernel.bpf_stats_enabled off?)"
blog "probe cost: $PROBE_CALLS runs, max average $PROBE_MAX ns"
agents_stop
collector_settle "$E2E_QUERY"

# ---------------------------------------------------------------------------
# phase 2: throughput and RTT, agents off/on interleaved
# ---------------------------------------------------------------------------

if [[ $SINK == 1 ]]; then
	"$LOADGEN" sink "$SINK_URL" >"$E2E_TMP/sink.json" 2>>"$E2E_TMP/sink.log" &
	SINK_PID=$!
	E2E_PIDS+=("$SINK_PID")
	ON_URL=$SINK_URL
else
	ON_URL=$E2E_INGEST
fi

declare -a T_OFF_UDP=() T_ON_UDP=() T_OFF_TCP=() T_ON_TCP=() RTT_OFF=() RTT_ON=()
declare -a RATIO_UDP=() RATIO_TCP=() RTT_DELTA=() CPU_SAT=() CPU_RTT=() COLL_CPU=()
RSS_MAX=0

# pct TICKS T0 T1: CPU percent of one core over the wall interval [T0, T1].
pct() {
	awk -v c="$1" -v hz="$HZ" -v a="$2" -v b="$3" 'BEGIN { printf "%.1f", 100 * c / hz / (b - a) }'
}
max2() { awk -v a="$1" -v b="$2" 'BEGIN { print (b > a ? b : a) }'; }

# variant off|on ROUND: one RTT run at the moderate rate, then a saturating
# UDP and a saturating TCP run (RTT first, so it never sees the queues or the
# agents' backlog the saturating runs leave behind).
variant() {
	local v=$1 r=$2 pfx=$E2E_TMP/r$2-$1 hv p k u t rtt cr cs
	local t0 t1 t2 cc0=0 cc1=0
	local -A a0=() a1=() a2=()
	[[ $v == on ]] && agents_start "$ON_URL"
	t0=$(date +%s.%N)
	if [[ $v == on ]]; then
		for hv in hv1 hv2; do
			eval "p=\$E2E_AGENT_${hv}_PID"
			a0[$hv]=$(cpu_ticks "$p") || die "agent $hv died"
		done
	fi
	traffic "$pfx-rtt.json" udp --rate "$RTT_RATE" --duration "$RTT_SECS" --wait-ms 300
	t1=$(date +%s.%N)
	if [[ $v == on ]]; then
		for hv in hv1 hv2; do
			eval "p=\$E2E_AGENT_${hv}_PID"
			a1[$hv]=$(cpu_ticks "$p") || die "agent $hv died during traffic"
		done
		cc0=$(cpu_ticks "$E2E_COLLECTOR_PID")
	fi
	traffic "$pfx-udp.json" udp --rate 1000000 --count "$COUNT" --wait-ms 300
	traffic "$pfx-tcp.json" tcp --rate 1000000 --count "$COUNT" --wait-ms 300
	t2=$(date +%s.%N)
	if [[ $v == on ]]; then
		cr=0 cs=0
		for hv in hv1 hv2; do
			eval "p=\$E2E_AGENT_${hv}_PID"
			a2[$hv]=$(cpu_ticks "$p") || die "agent $hv died during traffic"
			k=$(rss_kb "$p")
			((k > RSS_MAX)) && RSS_MAX=$k
			# The busier of the two agents, in percent of one core.
			cr=$(max2 "$cr" "$(pct $((a1[$hv] - a0[$hv])) "$t0" "$t1")")
			cs=$(max2 "$cs" "$(pct $((a2[$hv] - a1[$hv])) "$t1" "$t2")")
		done
		cc1=$(cpu_ticks "$E2E_COLLECTOR_PID")
		CPU_RTT+=("$cr")
		CPU_SAT+=("$cs")
		COLL_CPU+=("$(pct $((cc1 - cc0)) "$t1" "$t2")")
		agents_stop
		# Let the collector digest the round before anything else is timed.
		[[ $SINK == 1 ]] || collector_settle "$E2E_QUERY"
	fi
	u=$(jq '.received / .send_s' "$pfx-udp.json")
	t=$(jq '.received / .send_s' "$pfx-tcp.json")
	rtt=$(jq '.rtt_us.p50' "$pfx-rtt.json")
	if [[ $v == on ]]; then
		T_ON_UDP+=("$u") T_ON_TCP+=("$t") RTT_ON+=("$rtt")
	else
		T_OFF_UDP+=("$u") T_OFF_TCP+=("$t") RTT_OFF+=("$rtt")
	fi
	blog "round $r $v: udp $(fmt "$u") replies/s ($(jq -r '"\(.received)/\(.sent) in \(.send_s) s"' "$pfx-udp.json")), tcp $(fmt "$t") replies/s ($(jq -r '"\(.received)/\(.sent) in \(.send_s) s"' "$pfx-tcp.json")), rtt p50 $rtt us$([[ $v == on ]] && echo ", agent cpu ${cs}% (rtt run ${cr}%)")"
}

blog "overhead: $ROUNDS rounds, $COUNT requests per saturating run, RTT at $RTT_RATE/s; agents ship to $([[ $SINK == 1 ]] && echo "an ack-only sink" || echo "the collector")"
for ((r = 1; r <= ROUNDS; r++)); do
	# ABBA: which variant goes first alternates, so slow drifts of the
	# machine do not favour one side.
	if ((r % 2)); then
		variant off "$r"
		variant on "$r"
	else
		variant on "$r"
		variant off "$r"
	fi
	i=$((r - 1))
	RATIO_UDP+=("$(echo "${T_ON_UDP[$i]} / ${T_OFF_UDP[$i]}" | bc -l)")
	RATIO_TCP+=("$(echo "${T_ON_TCP[$i]} / ${T_OFF_TCP[$i]}" | bc -l)")
	RTT_DELTA+=("$(echo "${RTT_ON[$i]} - ${RTT_OFF[$i]}" | bc -l)")
done

# ---------------------------------------------------------------------------
# phase 3: match rate over everything the on-rounds traced
# ---------------------------------------------------------------------------

# Parts that will never be joined are finalised when the correlation window
# (2 s by default) expires; wait that out before asking.
sleep 2.5
e2e_matrix --last 30m >"$E2E_TMP/matrix.json" || die "matrix query failed"
MATCH=$(jq -r '[.cells[] | select((.src == "vma" and .dst == "vmb") or
	(.src == "vmb" and .dst == "vma")) | .match_rate] |
	if length == 2 and all(. != null) then min else "nan" end' "$E2E_TMP/matrix.json")
[[ $MATCH == nan ]] && blog "warning: the matrix lacks a vma<->vmb direction: $(jq -c '[.cells[] | {src, dst, count, lost}]' "$E2E_TMP/matrix.json")"
blog "match rate $MATCH; $(jq -c '[.cells[] | {src, dst, count, lost}]' "$E2E_TMP/matrix.json")"
stop_pid "$E2E_COLLECTOR_PID"
if [[ $SINK == 1 ]]; then
	stop_pid "$SINK_PID"
fi
prune_pids

# ---------------------------------------------------------------------------
# phase 4: collector ingest + correlation throughput
# ---------------------------------------------------------------------------

"$O/stagetrace-collector" --listen "$LOAD_INGEST" --query "$LOAD_QUERY" \
	--db "$E2E_TMP/load.db" >>"$E2E_TMP/load-collector.log" 2>&1 &
LOAD_PID=$!
E2E_PIDS+=("$LOAD_PID")
for ((i = 0; i < 50; i++)); do
	"$O/stagetrace" stats -C "$LOAD_QUERY" -t 0.2 >/dev/null 2>&1 && break
	sleep 0.1
done
((i < 50)) || die "load collector did not start: $(tail -n 3 "$E2E_TMP/load-collector.log")"
LOAD_RATES=()
for i in 1 2 3; do
	"$LOADGEN" load "$LOAD_INGEST" --duration "$LOAD_SECS" >"$E2E_TMP/load$i.json" \
		2>>"$E2E_TMP/load.err" || die "stloadgen failed: $(tail -n 2 "$E2E_TMP/load.err")"
	LOAD_RATES+=("$(jq '.paths_per_s' "$E2E_TMP/load$i.json")")
done
sleep 2.5
"$O/stagetrace" stats -C "$LOAD_QUERY" --json >"$E2E_TMP/load-stats.json" || die "load collector stats failed"
read -r lp lm lx < <(jq -r '.collector | "\(.paths) \(.matched) \(.extra_parts)"' "$E2E_TMP/load-stats.json")
# Every synthetic path has its partner: matched should be half the paths.
if ((lm * 2 < lp * 99 / 100 || lx > 0)); then
	blog "warning: load collector matched $lm of $lp paths' packets (extra parts $lx): the synthetic paths did not join as designed"
fi
blog "collector load: ${LOAD_RATES[*]} paths/s (matched $lm packets of $lp paths)"
stop_pid "$LOAD_PID"
prune_pids

# ---------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------

RATIO_U=$(median "${RATIO_UDP[@]}")
RATIO_T=$(median "${RATIO_TCP[@]}")
METHOD=$(jq -r 'if length == 0 then "none" else (.[0].name | capture("^(?<m>btf|raw)_").m |
	if . == "btf" then "tp_btf" else "raw_tp" end) end' "$E2E_TMP/bpf1.json")
RES=$O/bench/results.txt
mkdir -p "$O/bench"
{
	echo "probe_method=$METHOD"
	echo "probe_ns_max=$PROBE_MAX"
	echo "probe_ns_mean=$(fmt "$(echo "$PROBE_NS_ALL / ($PROBE_CALLS + ($PROBE_CALLS == 0))" | bc -l)" 1)"
	printf '%s\n' "${PROBE_LINES[@]}"
	echo "probe_calls_total=$PROBE_CALLS"
	echo "throughput_ratio=$(fmt "$(awk -v a="$RATIO_U" -v b="$RATIO_T" 'BEGIN { print (a < b ? a : b) }')" 3)"
	echo "throughput_ratio_udp=$(fmt "$RATIO_U" 3)"
	echo "throughput_ratio_tcp=$(fmt "$RATIO_T" 3)"
	echo "pps_off_udp=$(fmt "$(median "${T_OFF_UDP[@]}")")"
	echo "pps_on_udp=$(fmt "$(median "${T_ON_UDP[@]}")")"
	echo "pps_off_tcp=$(fmt "$(median "${T_OFF_TCP[@]}")")"
	echo "pps_on_tcp=$(fmt "$(median "${T_ON_TCP[@]}")")"
	echo "rtt_p50_us_off=$(fmt "$(median "${RTT_OFF[@]}")")"
	echo "rtt_p50_us_on=$(fmt "$(median "${RTT_ON[@]}")")"
	echo "rtt_p50_delta_us=$(fmt "$(median "${RTT_DELTA[@]}")")"
	if [[ $MATCH == nan ]]; then echo "match_rate=nan"; else echo "match_rate=$(fmt "$MATCH" 4)"; fi
	echo "collector_paths_per_s=$(fmt "$(median "${LOAD_RATES[@]}")")"
	echo "agent_rss_kb=$RSS_MAX"
	echo "agent_cpu_pct=$(median "${CPU_SAT[@]}")"
	echo "agent_cpu_pct_rtt=$(median "${CPU_RTT[@]}")"
	[[ $SINK == 1 ]] || echo "collector_cpu_pct=$(median "${COLL_CPU[@]}")"
	echo "rounds=$ROUNDS"
	echo "bench_seconds=$(fmt "$(echo "$(date +%s.%N) - $T_START" | bc)")"
} >"$RES.tmp"
mv -f "$RES.tmp" "$RES"
blog "done; results also in $RES"
cat "$RES"
