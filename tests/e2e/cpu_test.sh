#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# End-to-end test of `stagetrace cpu` (offcpu, futex, rwlock, runqlat, top)
# on the real kernel, against tests/tools/cputest, a process that creates
# each condition on demand and reports what it did with its own clock:
#
#   offcpu   5 sleeps of 100 ms in a known stack -> exactly 5 episodes in
#            that stack, total between 5 x 100 ms and the helper's own
#            measurement; -v: 5 events of >= 100 ms in state S.
#   futex    6 FUTEX_WAIT_PRIVATE of 50 ms on a word nobody wakes -> one
#            row at the helper's address with 6 calls, 6 timeouts, total
#            between 6 x 50 ms and the helper's measurement; histogram of 6.
#   rwlock   4 rounds of a writer holding the lock 200 ms while another
#            thread waits in pthread_rwlock_wrlock, then 4 rdlocks -> exact
#            call counts (8 wrlock, 4 rdlock), the waiting caller's 4 calls
#            between 80 % and 100 % of the helper's own timing of them;
#            --min-us keeps exactly the 4 contended ones.
#   runqlat  one spinning thread pinned to CPU 0, then two, taking turns
#            under the same background -> samples, and the median wait with
#            two is larger; two spinners for 2 s wait >= 1.2 s in total.
#   top      a spinning thread: CPU% + run-queue wait% ~ 100 % (it always
#            either runs or waits), CPU% well above zero.
# Plus usage errors (packet filters refused per mode), -h, not-root.
#
# The helper waits for SIGUSR1 (-w) so each tracer, filtered to its pid,
# is attached before anything happens. Timing bounds are physics: a sleep
# or a timed wait cannot end early, and the tracer cannot see more time
# than the helper itself measured around the same calls.
#
# Needs root and jq. Usage: tests/e2e/cpu_test.sh [BUILD_DIR]. Prints
# "N passed, N failed" last; exits non-zero on any failure.

set -u
LT_NAME=cpu_test
LT_TRACER=()
. "$(dirname "${BASH_SOURCE[0]}")/local_lib.sh"
CT=$O/tests/tools/cputest

lt_begin jq
[[ -x $CT ]] || { log "no $CT (run make)"; echo "0 passed, 1 failed"; exit 1; }

# Start the helper gated (-w); sets HPID once it waits for SIGUSR1.
start_helper() { # name args...
	local name=$1 i
	shift
	"$@" >"$TMP/$name.helper" 2>&1 &
	PIDS+=($!)
	for ((i = 0; i < 100; i++)); do
		HPID=$(sed -n 's/^ready pid=//p' "$TMP/$name.helper")
		[[ -n $HPID ]] && return 0
		sleep 0.05
	done
	log "helper $name did not start: $(cat "$TMP/$name.helper")"
	return 1
}

# A fact the helper printed at the end: helper_fact name key.
helper_fact() { sed -n "s/.*\b$2=\([^ ]*\).*/\1/p" "$TMP/$1.helper" | tail -1; }

# Text mode says "Tracing ..." on stderr once attached.
start_text() { # name args...
	local name=$1 i
	shift
	"$ST" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
	PIDS+=($!)
	eval "PID_$name=$!"
	for ((i = 0; i < 100; i++)); do
		grep -q '^Tracing' "$TMP/$name.err" 2>/dev/null && return 0
		kill -0 "$!" 2>/dev/null || break
		sleep 0.1
	done
	log "tracer $name did not start: $(cat "$TMP/$name.err")"
	return 1
}

go() { # run the gated helper and wait for it to finish
	kill -USR1 "$HPID"
	timeout 30 tail --pid="$HPID" -f /dev/null
	sleep 0.7	# one more interval drains what it left
}

# ---- 1. offcpu ----------------------------------------------------------------
log "offcpu: 5 x 100 ms in cputest_block_outer"
start_helper off "$CT" -w sleep 100 5 || exit 1
start_tracer off cpu offcpu -p "$HPID" --json -i 0.3 --top 50 || exit 1
start_tracer offv cpu offcpu -p "$HPID" --json -v --min-us 50000 --stacks -i 0.3 || exit 1
start_tracer offraw cpu offcpu -p "$HPID" --json -i 0.3 --method raw_tp --no-user || exit 1
start_text offtxt cpu offcpu -p "$HPID" -i 0.3 --min-us 50000 || exit 1
start_tracer offS cpu offcpu -p "$HPID" --json -i 0.3 --state S --top 50 || exit 1
start_tracer offR cpu offcpu -p "$HPID" --json -i 0.3 --state R --top 50 || exit 1
go
for t in off offv offraw offtxt offS offR; do stop_tracer "$t"; done
eq "offcpu: tracers exit 0" "$RC_off$RC_offv$RC_offraw$RC_offtxt$RC_offS$RC_offR" 000000
truth=$(helper_fact off blocked_ns)
# What the tracers saw, for the log: episodes >= 50 ms with their state and
# duration, and the counters that explain a missing one.
log "offcpu: helper blocked $truth ns; -v saw $(jq -rs '[.[] | select(.type == "event") | "\(.state):\(.dur_ns / 1e6 | floor)ms"] | join(" ")' "$TMP/offv.out"); no_start $(jq -s '[.[] | .counters.no_start] | add' "$TMP/off.out"), lost $(jq -s '[.[] | .lost | add] | add' "$TMP/off.out")"
# The sleeps are the episodes in state S in that stack. The same stack can
# also leave the CPU runnable (R: woken, or preempted, before it blocked);
# such an episode is real, but it is not one of the sleeps.
sel='select(.type == "interval") | .stacks[] | select(any(.user[]; startswith("cputest_block_outer+0x")) and any(.kernel[]; startswith("do_nanosleep+0x")))'
vol="$sel | select(.state == \"S\")"
eq "offcpu: sleeping (S) episodes in the sleep stack" "$(jq -s "[.[] | $vol | .count] | add // 0" "$TMP/off.out")" 5
tot=$(jq -s "[.[] | $sel | .total_ns] | add // 0" "$TMP/off.out")
# The timer is armed a few us before the thread leaves the CPU.
within "offcpu: off-CPU ns in that stack (>= 5 x 99.9 ms, <= helper's $truth)" "$tot" 499500000 $((truth + 1000000))
eq "offcpu: the stack is main <- cputest_block_outer <- libc" \
	"$(jq -rs "[.[] | $sel | .user | map(sub(\"\\\\+.*\"; \"\")) | index(\"cputest_block_outer\") < index(\"main\")] | unique | join(\",\")" "$TMP/off.out")" true
eq "offcpu: pid/tid/comm of the row" \
	"$(jq -rs "[.[] | $sel | \"\(.pid)/\(.tid)/\(.comm)\"] | unique | join(\",\")" "$TMP/off.out")" "$HPID/$HPID/cputest"
eq "offcpu: kernel frames start at the scheduler (BPF frames cut)" \
	"$(jq -rs "[.[] | $sel | .kernel[0] | sub(\"\\\\+.*\"; \"\")] | unique | join(\",\")" "$TMP/off.out")" __schedule
eq "offcpu: nothing lost" "$(jq -s '[.[] | .lost.tasks + .lost.map_full + .lost.events] | add' "$TMP/off.out")" 0
eq "offcpu: other processes filtered out" "$(jq -s "[.[] | .stacks[] | select(.pid != $HPID)] | length" "$TMP/off.out")" 0
schema='select(.type == "interval") |
	(.time | type) == "string" and (.interval_s | type) == "number" and
	(.total_ns | type) == "number" and (.episodes | type) == "number" and (.rows | type) == "number" and
	(.lost | [.tasks, .map_full, .stack, .events] | all(type == "number")) and
	(.counters | [.switches, .wakeups, .episodes, .filtered_short, .lost_stack] | all(type == "number")) and
	(.attach.method == "tp_btf" or .attach.method == "raw_tp") and
	.total_ns == ([.stacks[].total_ns] | add // 0) and .episodes == ([.stacks[].count] | add // 0) and
	all(.stacks[]; (.pid | type) == "number" and (.tid | type) == "number" and
	    (.comm | type) == "string" and (.state | test("^[RSDITt?]$")) and
	    (.total_ns | type) == "number" and (.count | type) == "number" and
	    .max_ns <= .total_ns and (.kernel | type) == "array" and (.user | type) == "array")'
eq "offcpu --json: every interval follows the schema (totals add up)" \
	"$(jq -c "$schema" "$TMP/off.out" | sort -u | tr '\n' ' ')" "true "

eq "offcpu --state S: only S rows, the 5 sleeps among them" \
	"$(jq -rs '[.[] | select(.type == "interval") | .stacks[] | .state] | unique | join(",")' "$TMP/offS.out")/$(jq -s "[.[] | $vol | .count] | add // 0" "$TMP/offS.out")" "S/5"
eq "offcpu --state R: no S rows, none of the sleeps" \
	"$(jq -s '[.[] | select(.type == "interval") | .stacks[] | select(.state != "R")] | length' "$TMP/offR.out")/$(jq -s "[.[] | $vol | .count] | add // 0" "$TMP/offR.out")" "0/0"
eq "offcpu --state R: the sleeps are counted as filtered by state" \
	"$(jq -s '[.[] | .counters.filtered_state] | add >= 5' "$TMP/offR.out")" true
eq "offcpu -v: 5 events >= 50 ms" \
	"$(jq -s '[.[] | select(.type == "event" and .event == "offcpu")] | length' "$TMP/offv.out")" 5
# nanosleep arms its timer before the task switches out, so an episode can
# be a few microseconds shorter than the 100 ms asked for (CI saw 99.9x ms).
eq "offcpu -v: all in state S, >= 99.9 ms (and < 1 s)" \
	"$(jq -rs "[.[] | select(.type == \"event\") | .state == \"S\" and .dur_ns >= 99900000 and .dur_ns < 1000000000 and .pid == $HPID] | unique | join(\",\")" "$TMP/offv.out")" true
eq "offcpu -v: time stamps HH:MM:SS.us" \
	"$(jq -rs '[.[] | select(.type == "event") | .time | test("^[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}$")] | unique | join(",")' "$TMP/offv.out")" true
eq "offcpu -v --stacks: events carry the user stack" \
	"$(jq -s '[.[] | select(.type == "event") | select(any(.user[]; startswith("cputest_block_outer+0x")))] | length' "$TMP/offv.out")" 5
eq "offcpu -v: intervals count what --min-us filtered" \
	"$(jq -s '[.[] | select(.type == "interval") | .counters.episodes] | add' "$TMP/offv.out")" 5
eq "offcpu raw_tp: 5 sleeping episodes in do_nanosleep" \
	"$(jq -s '[.[] | select(.type == "interval") | .stacks[] | select(any(.kernel[]; startswith("do_nanosleep+0x")) and .state == "S") | .count] | add' "$TMP/offraw.out")" 5
eq "offcpu raw_tp: attach method reported" \
	"$(jq -rs '[.[] | .attach.method] | unique | join(",")' "$TMP/offraw.out")" raw_tp
eq "offcpu --no-user: no user frames" \
	"$(jq -s '[.[] | select(.type == "interval") | .stacks[] | .user | length] | add // 0' "$TMP/offraw.out")" 0
check "offcpu text: the user frame is printed" grep -Eq '^    cputest_block_outer\+0x[0-9a-f]+ \[cputest\]$' "$TMP/offtxt.out"
check "offcpu text: '- comm (pid/tid) state' line" grep -Eq "^    -  +cputest \\($HPID/$HPID\\) S$" "$TMP/offtxt.out"
# 5 x 99.9 ms, as above: each sleep can be microseconds short of 100 ms
# (timer armed before the switch-out), so the five can sum to 499.9x ms.
eq "offcpu text: microseconds add up to >= 499.5 ms" \
	"$(awk '/us in [0-9]+ episodes/ { s += $1 } END { print (s >= 499500) }' "$TMP/offtxt.out")" 1

log "offcpu -v text"
start_helper offv2 "$CT" -w sleep 60 3 || exit 1
start_text offvt cpu offcpu -p "$HPID" -v --min-us 30000 -i 0.3 || exit 1
go
stop_tracer offvt
check "offcpu -v text: header TIME PID COMM EVENT DETAILS" \
	grep -Eq '^TIME +PID +COMM +EVENT +DETAILS$' "$TMP/offvt.out"
eq "offcpu -v text: 3 episode lines" \
	"$(grep -Ec "^[0-9:.]+ +$HPID +cputest +offcpu +dur=[0-9.]+ms tid=$HPID state=S cpu=[0-9]+->[0-9]+" "$TMP/offvt.out")" 3

# ---- 2. futex ------------------------------------------------------------------
log "futex: 6 x FUTEX_WAIT_PRIVATE 50 ms"
start_helper fx "$CT" -w futex 50 6 || exit 1
start_tracer fx cpu futex -p "$HPID" --json -i 0.3 || exit 1
start_tracer fxraw cpu futex -p "$HPID" --json -i 0.3 --method raw_tp || exit 1
start_text fxtxt cpu futex -p "$HPID" -i 0.3 || exit 1
go
for t in fx fxraw fxtxt; do stop_tracer "$t"; done
eq "futex: tracers exit 0" "$RC_fx$RC_fxraw$RC_fxtxt" 000
ua=$(helper_fact fx uaddr)
truth=$(helper_fact fx waited_ns)
fsel="select(.type == \"interval\") | .futexes[] | select(.uaddr == \"$ua\" and .op == \"WAIT_PRIVATE\")"
eq "futex: calls at the helper's word $ua" "$(jq -s "[.[] | $fsel | .count] | add // 0" "$TMP/fx.out")" 6
eq "futex: all 6 timed out" "$(jq -s "[.[] | $fsel | .timeouts] | add // 0" "$TMP/fx.out")" 6
within "futex: wait ns (>= 6 x 50 ms, <= helper's $truth)" \
	"$(jq -s "[.[] | $fsel | .total_ns] | add // 0" "$TMP/fx.out")" 300000000 $((truth + 1000000))
eq "futex: WAIT histogram holds the 6 waits" \
	"$(jq -s '[.[] | select(.type == "interval") | .hists[] | select(.op == "WAIT") | .count] | add // 0' "$TMP/fx.out")" 6
within "futex: histogram min (us)" \
	"$(jq -s '[.[] | select(.type == "interval") | .hists[] | select(.op == "WAIT") | .min_us] | min' "$TMP/fx.out")" 50000 1000000
eq "futex raw_tp: same 6 calls" "$(jq -s "[.[] | $fsel | .count] | add // 0" "$TMP/fxraw.out")" 6
eq "futex: nothing lost" "$(jq -s '[.[] | .lost.tasks + .lost.map_full + .lost.hist] | add' "$TMP/fx.out")" 0
# A histogram's buckets add up to its count; quantiles lie within [min, max].
hschema='(.count | type) == "number" and .count == ([.buckets[][2]] | add // 0) and
	.min_us <= .p50_us and .p50_us <= .p90_us and .p90_us <= .p99_us and .p99_us <= .max_us and
	all(.buckets[]; .[0] < .[1])'
schema="select(.type == \"interval\") |
	(.calls | type) == \"number\" and (.waits | type) == \"number\" and (.wait_ns | type) == \"number\" and
	(.lost | [.tasks, .map_full, .hist] | all(type == \"number\")) and
	(.counters.calls | type) == \"number\" and (.attach.method | test(\"^(tp_btf|raw_tp)$\")) and
	all(.futexes[]; (.uaddr | test(\"^0x[0-9a-f]+$\")) and (.op | type) == \"string\" and
	    (.wait | type) == \"boolean\" and .errors >= .timeouts + .eagain) and
	all(.hists[]; $hschema)"
eq "futex --json: every interval follows the schema (histograms add up)" \
	"$(jq -c "$schema" "$TMP/fx.out" | sort -u | tr '\n' ' ')" "true "
eq "futex text: row at the word" \
	"$(awk -v u="$ua" -v p="$HPID" '$1 == p && $3 == u && $4 == "WAIT_PRIVATE" { s += $5 } END { print s + 0 }' "$TMP/fxtxt.out")" 6
check "futex text: histogram rows with bars" grep -Eq '^    \[[0-9.]+, [0-9.]+\) +: [0-9]+ +\|@+ *\|$' "$TMP/fxtxt.out"

# ---- 3. rwlock -------------------------------------------------------------------
# The holder keeps the lock 200 ms: --min-us 10000 below counts a wait as
# contended unless the waiter left the barrier 190 ms late (with 50 ms, a
# 40 ms scheduling delay on a busy VM turned 4/8 into 3/9).
log "rwlock: 4 contended wrlocks of ~200 ms"
start_helper rw "$CT" -w rwlock 200 4 || exit 1
start_tracer rw cpu rwlock -p "$HPID" --json --stacks -i 0.3 || exit 1
start_tracer rwmin cpu rwlock -p "$HPID" --json --min-us 10000 -i 0.3 || exit 1
start_text rwtxt cpu rwlock -p "$HPID" -i 0.3 || exit 1
# Without -p: the library ldconfig names, every process.
start_tracer rwall cpu rwlock --json --wronly -i 0.3 || exit 1
go
for t in rw rwmin rwtxt rwall; do stop_tracer "$t"; done
eq "rwlock: tracers exit 0" "$RC_rw$RC_rwmin$RC_rwtxt$RC_rwall" 0000
lk=$(helper_fact rw lock)
truth=$(helper_fact rw waited_ns)
eq "rwlock: wrlock calls on the helper's lock (2 threads x 4)" \
	"$(jq -s "[.[] | select(.type == \"interval\") | .locks[] | select(.lock == \"$lk\" and .op == \"wrlock\") | .count] | add // 0" "$TMP/rw.out")" 8
eq "rwlock: rdlock calls" \
	"$(jq -s "[.[] | select(.type == \"interval\") | .locks[] | select(.lock == \"$lk\" and .op == \"rdlock\") | .count] | add // 0" "$TMP/rw.out")" 4
wsel='select(.type == "interval") | .locks[] | select(.op == "wrlock" and (.caller | startswith("cputest_rwlock_waiter+0x")))'
eq "rwlock: the waiting caller's calls" "$(jq -s "[.[] | $wsel | .count] | add // 0" "$TMP/rw.out")" 4
# The helper times its own calls of pthread_rwlock_wrlock; the probes sit
# inside that window, so the tool sees at most that much, and about as much
# (the holder keeps the lock 200 ms, so each wait is most of that unless
# the waiter was kept off the CPU after the barrier).
within "rwlock: waited ns (<= helper's own $truth, >= 80 % of it)" \
	"$(jq -s "[.[] | $wsel | .total_ns] | add // 0" "$TMP/rw.out")" $((truth * 8 / 10)) $((truth + 1000000))
eq "rwlock --stacks: caller then main" \
	"$(jq -rs "[.[] | $wsel | .stack[0:2] | map(sub(\"\\\\+.*\"; \"\")) | join(\">\")] | unique | join(\",\")" "$TMP/rw.out")" "cputest_rwlock_waiter>main"
eq "rwlock: wrlock histogram has the 8 calls" \
	"$(jq -s '[.[] | select(.type == "interval") | .hists[] | select(.op == "wrlock") | .count] | add // 0' "$TMP/rw.out")" 8
eq "rwlock --min-us 10000: only the 4 contended calls recorded" \
	"$(jq -s '[.[] | select(.type == "interval") | .locks[] | .count] | add // 0' "$TMP/rwmin.out")/$(jq -s '[.[] | .counters.filtered_short] | add' "$TMP/rwmin.out")" "4/8"
eq "rwlock: nothing lost" "$(jq -s '[.[] | .lost.tasks + .lost.map_full + .lost.stack] | add' "$TMP/rw.out")" 0
eq "rwlock without -p (ldconfig's libc, --wronly): the helper's 8 wrlocks, no rdlock" \
	"$(jq -rs "[.[] | select(.type == \"interval\") | .locks[] | select(.pid == $HPID) | .op] | unique | join(\",\")" "$TMP/rwall.out")/$(jq -s "[.[] | select(.type == \"interval\") | .locks[] | select(.pid == $HPID) | .count] | add" "$TMP/rwall.out")" "wrlock/8"
eq "rwlock without -p: the library is the system's libc" \
	"$(jq -rs '[.[] | .attach.library | test("^/(usr/)?lib.*/libc\\.so\\.6$")] | unique | join(",")' "$TMP/rwall.out")" true
schema="select(.type == \"interval\") |
	.calls == ([.locks[].count] | add // 0) and (.total_ns | type) == \"number\" and
	(.attach.method == \"uprobe\") and (.attach.library | test(\"libc\\\\.so\")) and
	all(.locks[]; (.lock | test(\"^0x[0-9a-f]+$\")) and (.op == \"wrlock\" or .op == \"rdlock\") and
	    (.caller | type) == \"string\" and (.stack | type) == \"array\") and
	all(.hists[]; $hschema)"
eq "rwlock --json: every interval follows the schema" \
	"$(jq -c "$schema" "$TMP/rw.out" | sort -u | tr '\n' ' ')" "true "
eq "rwlock text: the waiter's rows with their caller (calls over all intervals)" \
	"$(awk -v p="$HPID" -v l="$lk" '$1 == p && $3 == l && $4 == "wrlock" && $NF == "[cputest]" &&
		$(NF - 1) ~ /^cputest_rwlock_waiter\+0x[0-9a-f]+$/ { s += $5 } END { print s + 0 }' "$TMP/rwtxt.out")" 4

# ---- 4. runqlat ------------------------------------------------------------------
# Median run-queue wait of one process over all intervals of a JSON output
# (the low bound of the bucket holding it, ns).
median() { # file pid
	jq -s --argjson p "$2" '[.[] | select(.type == "interval") | .hists[] | select(.pid == $p) |
		.buckets[]] | group_by(.[0]) |
		map([.[0][0], (map(.[2]) | add)]) | sort_by(.[0]) as $b |
		($b | map(.[1]) | add) as $n |
		reduce $b[] as $x ({c: 0, m: null};
			if .m == null and (.c + $x[1]) * 2 >= $n then {c: (.c + $x[1]), m: $x[0]}
			else {c: (.c + $x[1]), m: .m} end) | .m // 0' "$1"
}
samples() { # file [pid]
	jq -s --argjson p "${2:-0}" '[.[] | select(.type == "interval") | .hists[] |
		select($p == 0 or .pid == $p) | .count] | add // 0' "$1"
}

# One spinner against two on CPU 0, in turns: 8 rounds of 100 ms of one
# process spinning with one thread, then 100 ms of another with two. This
# machine is shared with other jobs (in other cgroups, so nice does not
# rank us above them) and their load changes by the second; taking turns
# puts both under the same background, so the difference left is the one
# the test is about: two spinners wait for each other.
log "runqlat: one spinner on CPU 0, then two, in turns"
start_helper alt taskset -c 0 "$CT" -w alt 100 8 || exit 1
start_tracer alt cpu runqlat --per-pid --json -i 0.3 || exit 1
go
stop_tracer alt
one=$(helper_fact alt one)
two=$(helper_fact alt two)
m1=$(median "$TMP/alt.out" "$one")
m2=$(median "$TMP/alt.out" "$two")
log "runqlat: median one spinner ${m1} ns ($(samples "$TMP/alt.out" "$one") samples), two ${m2} ns ($(samples "$TMP/alt.out" "$two") samples)"
within "runqlat: the two-spinner process gives samples" "$(samples "$TMP/alt.out" "$two")" 10 1000000
check "runqlat: median with two spinners ($m2 ns) > with one ($m1 ns)" test "$m2" -gt "$m1"

log "runqlat: two spinners on CPU 0 for 2 s"
start_helper rq2 taskset -c 0 "$CT" -w busy 2 2 || exit 1
start_tracer rq2 cpu runqlat -p "$HPID" --json --per-pid -i 0.3 || exit 1
start_text rqtxt cpu runqlat -p "$HPID" --per-cpu -i 0.5 || exit 1
start_tracer rqraw cpu runqlat -p "$HPID" --json --method raw_tp -i 0.3 || exit 1
go
for t in rq2 rqtxt rqraw; do stop_tracer "$t"; done
eq "runqlat: tracers exit 0" "$RC_alt$RC_rq2$RC_rqtxt$RC_rqraw" 0000
within "runqlat raw_tp: samples too" "$(samples "$TMP/rqraw.out")" 10 1000000
eq "runqlat raw_tp: attach method reported" \
	"$(jq -rs '[.[] | .attach.method] | unique | join(",")' "$TMP/rqraw.out")" raw_tp
# Total waiting: with two spinners on one CPU one of them waits whenever the
# other runs (and both when anything else does), so their waits add up to
# at least half of the 2 x 2 s their threads existed.
wsum() { jq -s '[.[] | select(.type == "interval") | .hists[] | .avg_us * .count * 1000] | add // 0 | floor' "$1"; }
within "runqlat: two spinners wait >= 1.2 s of their 2 s x 2 threads" "$(wsum "$TMP/rq2.out")" 1200000000 10000000000
eq "runqlat --per-pid -p: one histogram, of the helper" \
	"$(jq -rs '[.[] | select(.type == "interval") | .hists[] | .pid] | unique | join(",")' "$TMP/rq2.out")" "$HPID"
eq "runqlat --per-cpu: only CPU 0" \
	"$(grep -E '^  cpu [0-9]+$' "$TMP/rqtxt.out" | sort -u | tr -d ' ')" cpu0
check "runqlat text: rows [lo, hi) with bars" grep -Eq '^    \[[0-9.]+, [0-9.]+\) +: [0-9]+ +\|@+ *\|$' "$TMP/rqtxt.out"
check "runqlat text: quantile summary" grep -Eq '^    count [0-9]+, avg .* us, p50 .* us, p90 .* us, p99 .* us, max .* us$' "$TMP/rqtxt.out"
eq "runqlat: nothing lost" "$(jq -s '[.[] | .lost.tasks + .lost.map_full] | add' "$TMP/rq2.out" "$TMP/alt.out")" 0
eq "runqlat --json: every histogram adds up" \
	"$(jq -c "select(.type == \"interval\") | .by == \"pid\" and all(.hists[]; $hschema and (.pid | type) == \"number\")" "$TMP/rq2.out" "$TMP/alt.out" | sort -u | tr '\n' ' ')" "true "

# ---- 5. top ------------------------------------------------------------------------
log "top: one spinner"
# The spinner spins until killed after top: a fixed 3.5 s could end inside
# top's third interval on a slow machine (start-up + 3 x 1 s + drift).
"$CT" busy 600 1 >"$TMP/top.helper" &
PIDS+=($!)
BP=$!
"$ST" cpu top -p "$BP" --json -i 1 -c 3 >"$TMP/top.out" 2>"$TMP/top.err"
eq "top: exit 0" "$?" 0
cpu=$(jq -s '.[-1].procs[0].cpu_pct' "$TMP/top.out")
# CPU% + RQWT% of each interval, and their mean over the three.
sums=$(jq -rs '[.[] | .procs[0] | .cpu_pct + .rq_wait_pct | round] | join(" ")' "$TMP/top.out")
sum=$(jq -s '[.[] | .procs[0] | .cpu_pct + .rq_wait_pct] | add / length' "$TMP/top.out")
log "top: spinner at $cpu % CPU, CPU% + wait% per interval: $sums"
eq "top -p: the row is the spinner" "$(jq -rs '[.[] | .procs[0].pid] | unique | join(",")' "$TMP/top.out")" "$BP"
# At most one CPU; how much of it depends on the other jobs sharing this
# machine (they are in other cgroups), so the lower bound only says "busy".
within "top: spinner's CPU% (one CPU at most; shared machine)" "$cpu" 10 102
# Both from the thread's schedstat: a spinner is always either running or
# waiting, so they add up to 100 % of the time. The kernel books a wait
# when it ends, so one interval can hold a wait begun in the one before
# (on this shared machine waits of 100 ms happen); over three intervals
# only the two ends are off by that.
within "top: spinner's CPU% + run-queue wait% ~ 100 (mean of 3 intervals)" "$sum" 85 105
eq "top --json: every interval follows the schema" \
	"$(jq -c '(.interval_s | type) == "number" and (.ctxt_per_s | type) == "number" and
		(.procs_running | type) == "number" and .cpus[0].cpu == "all" and
		all(.cpus[]; [.busy, .usr, .sys, .irq, .iowait, .steal, .idle] | all(type == "number" and . >= 0 and . <= 100.5)) and
		all(.procs[]; (.pid | type) == "number" and (.cpu_pct | type) == "number" and (.state | length) == 1)' \
		"$TMP/top.out" | sort -u | tr '\n' ' ')" "true "
eq "top: one line per CPU plus all" \
	"$(jq -s '.[-1].cpus | length' "$TMP/top.out")" $(($(nproc) + 1))
within "top: CPU 'all' busy% >= the spinner's share of all CPUs" \
	"$(jq -s ".[-1].cpus[0].busy - $cpu / $(nproc)" "$TMP/top.out")" -2 100
"$ST" cpu top -c 1 -i 0.5 --top 3 >"$TMP/toptxt.out" 2>&1
check "top text: CPU table header" grep -Eq '^CPU +BUSY% +USR% +SYS% +IRQ% +IOWT% +STEAL% +IDLE% +RQWT%$' "$TMP/toptxt.out"
check "top text: process table header" grep -Eq '^PID +COMM +CPU% +RQWT% +THR +CPU +S$' "$TMP/toptxt.out"
kill "$BP" 2>/dev/null
wait "$BP" 2>/dev/null

# --bpf: per-CPU run-queue wait from the sched tracepoints. Two spinners
# pinned to CPU 0: whenever one runs the other waits, so CPU 0 carries at
# least ~100 % of waiting (the sum over waiting tasks), whatever else runs.
log "top --bpf: two spinners on CPU 0"
# Until killed after top: --bpf loads and attaches before its first interval
# (over 1 s on a slow VM), so a fixed 3 s let the last interval see them exit.
taskset -c 0 "$CT" busy 600 2 >"$TMP/topb.helper" &
PIDS+=($!)
BP=$!
"$ST" cpu top --bpf --json -i 1 -c 2 >"$TMP/topb.out" 2>"$TMP/topb.err"
eq "top --bpf: exit 0" "$?" 0
kill "$BP" 2>/dev/null
wait "$BP" 2>/dev/null
rq0=$(jq -s '.[-1].cpus[] | select(.cpu == 0) | .rq_wait' "$TMP/topb.out")
log "top --bpf: CPU 0 run-queue wait $rq0 %"
within "top --bpf: CPU 0 run-queue wait % (two pinned spinners)" "$rq0" 80 100000
eq "top --bpf: every CPU has a run-queue wait" \
	"$(jq -s '[.[-1].cpus[] | .rq_wait | type] | unique | join(",")' -r "$TMP/topb.out")" number
eq "top --bpf: source says bpf" \
	"$(jq -rs '.[-1].source | test("bpf:")' "$TMP/topb.out")" true

# ---- 6. usage and privilege errors -----------------------------------------------
log "errors"
rc_of() { "$@" >/dev/null 2>"$TMP/err"; echo $?; }
one_line() { [[ $(wc -l <"$TMP/err") -eq 1 ]] && grep -q '^error: ' "$TMP/err"; }
for args in "" "bogus" "offcpu --src-ip 10.0.0.1" "futex --dport 53" "rwlock --netns x" \
	"runqlat --proto udp" "top --dev eth0" "top -v" "runqlat -v" "offcpu --method kprobe" \
	"futex --method x" "runqlat --per-cpu --per-pid" "offcpu --stacks" \
	"offcpu --min-us -1" "rwlock -p 4000000" "top -p 4000000" "offcpu -p 4000000" \
	"futex -p 4000000" "runqlat -p 4000000" "offcpu --rows 4" "offcpu --state X" \
	"offcpu --state \"\"" "offcpu extra" "top -i 0"; do
	# shellcheck disable=SC2086
	eq "usage error: cpu $args -> exit 2" "$(rc_of "$ST" cpu $args)" 2
	check "usage error: cpu $args -> one line" one_line
done
eq "rwlock --lib without the functions -> exit 1" "$(rc_of "$ST" cpu rwlock --lib /bin/true -c 1)" 1
check "rwlock --lib without the functions -> one line" one_line
rc_of "$ST" cpu offcpu --src-ip 10.0.0.1 >/dev/null
check "packet filter refusal names the mode" \
	grep -qx 'error: --src-ip is not supported by stagetrace cpu offcpu' "$TMP/err"
if command -v setpriv >/dev/null; then
	for m in offcpu futex rwlock runqlat; do
		eq "not root: cpu $m -> exit 1" \
			"$(rc_of setpriv --reuid=65534 --regid=65534 --clear-groups "$ST" cpu $m -c 1)" 1
		check "not root: cpu $m -> one line" one_line
	done
	eq "not root: cpu top --bpf -> exit 1" \
		"$(rc_of setpriv --reuid=65534 --regid=65534 --clear-groups "$ST" cpu top --bpf -c 1)" 1
	eq "not root: cpu top works (it reads /proc)" \
		"$(rc_of setpriv --reuid=65534 --regid=65534 --clear-groups "$ST" cpu top -c 1 -i 0.2)" 0
fi
for m in "" offcpu futex rwlock top runqlat; do
	# shellcheck disable=SC2086
	eq "cpu $m -h -> exit 0" "$(rc_of "$ST" cpu $m -h)" 0
done

lt_end
