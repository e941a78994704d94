#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# BPF load tests: every stage program is loaded by the real verifier and
# attached on the running kernel, once per attach method (tp_btf, raw_tp),
# through the agent's own attach plan. Then the loaded programs are checked
# to really run: a ping through a veth pair in a scratch namespace must
# raise the programs' run counts (kernel BPF statistics) and the agent's
# stamp counters.
set -u
O=$(cd "${1:-build}" && pwd)
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }

# Host-stack hooks are tracepoints every kernel has; the datapath hooks
# (OVS, bridge, vhost, guest virtio-net, the UDP send ip_send_skb and the
# VXLAN/Geneve encap/decap functions: kernel functions,
# stages ovs_*, br_*, vhost_*, virtio_*, sock_tx) need fentry or
# kprobes and their module, which this kernel may not give: they must
# then say why (the qemu kernel matrix, make vmtest, proves them on
# kernels that have them).
plan=$("$O/stagetrace-agent" --probes --json 2>/dev/null)
hooks=$(jq -r '.[] | select(.stage | test("^((ovs|br|vhost|virtio|irq)_|sock_tx$|(vxlan|geneve)_(encap|decap)$)") | not) | .hook' <<<"$plan" | sort | tr '\n' ' ')
nh=$(wc -w <<<"$hooks")
[[ $nh -ge 9 ]] && ok "attach plan lists $nh host-stack hooks" || bad "attach plan lists only $nh host-stack hooks"
n=$(jq '[.[] | select(.stage | test("^((ovs|br|vhost|virtio|irq)_|sock_tx$|(vxlan|geneve)_(encap|decap)$)")) | select(.status == "attached" or (.status == "unavailable" and (.reason | length) > 0))] | length' <<<"$plan")
nd=$(jq '[.[] | select(.stage | test("^((ovs|br|vhost|virtio|irq)_|sock_tx$|(vxlan|geneve)_(encap|decap)$)"))] | length' <<<"$plan")
[[ $nd -ge 7 && $n -eq $nd ]] && ok "datapath hooks: $nd, each attached or unavailable with its reason" ||
	bad "datapath hooks: $(jq -c '.[] | select(.stage | test("^((ovs|br|vhost|virtio|irq)_|sock_tx$|(vxlan|geneve)_(encap|decap)$)"))' <<<"$plan")"

for m in tp_btf raw_tp; do
	out=$("$O/stagetrace-agent" --probes --json --force-method "$m" 2>/dev/null)
	rc=$?
	[[ $rc -eq 0 ]] && ok "$m: agent loads and attaches (exit 0)" || bad "$m: agent exit $rc: $out"
	n=$(jq --arg m "$m" '[.[] | select(.stage | test("^((ovs|br|vhost|virtio|irq)_|sock_tx$|(vxlan|geneve)_(encap|decap)$)") | not) | select(.status=="attached" and .method==$m)] | length' <<<"$out" 2>/dev/null)
	[[ ${n:-0} -eq $nh ]] && ok "$m: all $nh host-stack hooks attached" ||
		bad "$m: $n of $nh hooks attached: $(jq -c '.[] | select(.status!="attached")' <<<"$out" 2>/dev/null)"
done

# Ad-hoc plans (--try): every method answers for itself on this kernel.
# tp_btf on a core tracepoint must work here; kprobes must work exactly when
# the kernel has a kprobe PMU, and say why not otherwise; an unknown
# function is refused with a reason naming BTF; a plan falls through to its
# next alternative.
t=$("$O/stagetrace" probes --try tp_btf:netif_receive_skb --json)
[[ $(jq -r .method <<<"$t") == tp_btf ]] && ok "--try tp_btf:netif_receive_skb attaches" || bad "--try tp_btf: $t"
t=$("$O/stagetrace" probes --try kprobe:tcp_v4_rcv --json)
if [[ -d /sys/bus/event_source/devices/kprobe ]]; then
	[[ $(jq -r .method <<<"$t") == kprobe ]] && ok "--try kprobe attaches (kernel has kprobes)" || bad "--try kprobe: $t"
else
	[[ $(jq -r .status <<<"$t") == unavailable && $(jq -r .reason <<<"$t") == *"no kprobe PMU"* ]] &&
		ok "--try kprobe: unavailable with its reason (no kprobe PMU)" || bad "--try kprobe: $t"
fi
t=$("$O/stagetrace" probes --try fentry:st_no_such_function,raw_tp:netif_rx --json)
[[ $(jq -r .method <<<"$t") == raw_tp && $(jq -r .reason <<<"$t") == *"no st_no_such_function in kernel or module BTF"* ]] &&
	ok "--try falls through to the next alternative and keeps the reason" || bad "--try fall-through: $t"
"$O/stagetrace" probes --try nope:x >/dev/null 2>&1
[[ $? -eq 2 ]] && ok "--try with an unknown method exits 2" || bad "--try unknown method did not exit 2"
cli=$("$O/stagetrace" probes --json 2>&1)
n=$(jq '[.[] | select(.stage | test("^((ovs|br|vhost|virtio|irq)_|sock_tx$|(vxlan|geneve)_(encap|decap)$)") | not) | select(.method != null)] | length' <<<"$cli" 2>/dev/null)
[[ ${n:-0} -eq $nh ]] && ok "stagetrace probes: all $nh host-stack hooks have a method" || bad "stagetrace probes: $cli"
n=$(jq '[.[] | select(.method != null or (.reason | length) > 0)] | length' <<<"$cli" 2>/dev/null)
[[ ${n:-0} -eq $((nh + nd)) ]] && ok "stagetrace probes: every hook has a method or a reason" || bad "stagetrace probes: $cli"

# Programs really run: a veth pair between two scratch namespaces, UDP
# datagrams across it.
ns=stbpf$$
cleanup() {
	[[ -n ${apid:-} ]] && kill "$apid" 2>/dev/null
	ip netns del "$ns" 2>/dev/null
	ip netns del "$ns-peer" 2>/dev/null
	sysctl -qw kernel.bpf_stats_enabled="${old_stats:-0}" 2>/dev/null
}
trap cleanup EXIT
ip netns add "$ns"
ip netns add "$ns-peer"
ip -n "$ns" link add sta type veth peer name stb netns "$ns-peer"
ip -n "$ns" addr add 10.99.0.1/24 dev sta
ip -n "$ns-peer" addr add 10.99.0.2/24 dev stb
ip -n "$ns" link set sta up
ip -n "$ns-peer" link set stb up
old_stats=$(sysctl -n kernel.bpf_stats_enabled)
sysctl -qw kernel.bpf_stats_enabled=1
log=$(mktemp)
"$O/stagetrace-agent" --netns "$ns" --uplink sta --host bpftest -C tcp://127.0.0.1:1 \
	--duration 60 >"$log" 2>&1 &
apid=$!
# Until it traces (probing every hook by real load takes seconds on a
# loaded machine; a fixed sleep missed the traffic), then stop it.
for _ in $(seq 300); do
	grep -q "tracing:" "$log" && break
	kill -0 "$apid" 2>/dev/null || break
	sleep 0.1
done
# UDP datagrams from bash itself: no extra tool needed.
ip netns exec "$ns" bash -c 'for i in $(seq 20); do echo x >/dev/udp/10.99.0.2/9; sleep 0.02; done' 2>/dev/null
runs=$(bpftool prog show --json | jq '[.[] | select(.name // "" | test("^btf_")) | .run_cnt // 0] | add // 0')
sleep 1.5	# past --path-timeout-ms and a flush
kill -INT "$apid" 2>/dev/null
wait "$apid"
apid=
[[ ${runs:-0} -gt 0 ]] && ok "stage programs ran $runs times under traffic" || bad "stage programs never ran"
stamps=$(grep -o 'paths [0-9]*' "$log" | head -1 | cut -d' ' -f2)
[[ ${stamps:-0} -gt 0 ]] && ok "agent produced $stamps host paths from real packets" ||
	bad "agent produced no host paths: $(tail -3 "$log")"
grep -q "undelivered" "$log" && ok "agent reports undelivered batches when the collector is unreachable" ||
	bad "agent did not report undelivered batches"
rm -f "$log"

# stagetrace upcall --local: its kprobe and raw_tp programs pass this
# kernel's verifier (fentry / tp_btf need the openvswitch module's BTF);
# without the module the command says why and exits 1, and --megaflow
# still runs on the datapath counters alone (the kernel matrix runs it on
# real OVS: tests/vm/guest/upcall.sh).
chk=$("$O/stagetrace" upcall --local --check-hooks --json 2>/dev/null)
n=$(jq -s '[.[] | select((.method == "kprobe" or .method == "raw_tp") and .loaded)] | length' <<<"$chk")
[[ $n -eq 4 ]] && ok "upcall --local: kprobe and raw_tp programs of both hooks load ($n of 4)" ||
	bad "upcall --local --check-hooks: $chk"
if ! lsmod 2>/dev/null | grep -q '^openvswitch'; then
	err=$("$O/stagetrace" upcall --local -c 1 2>&1 >/dev/null)
	rc=$?
	[[ $rc -eq 1 && $(wc -l <<<"$err") -eq 1 && $err == *"cannot see OVS upcalls"* ]] &&
		ok "upcall --local without OVS: exit 1, one line: ${err:0:90}..." ||
		bad "upcall --local without OVS: rc $rc: $err"
	out=$("$O/stagetrace" upcall --local --megaflow -c 1 -i 0.2 --json 2>/dev/null)
	[[ $? -eq 0 && $(jq -s '.[1].datapaths | length' <<<"$out") == 0 ]] &&
		ok "upcall --local --megaflow without OVS: runs, no datapath" ||
		bad "upcall --local --megaflow without OVS: $out"
fi
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
