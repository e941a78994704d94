#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# selftest.sh - checks the test bed itself before anything is measured on it.
#
# For each wire (veth, vxlan, fwd) it brings the test bed up, sends 2 s of
# UDP, TCP and ICMP requests from vma to vmb and requires (almost) no loss.
# Then it checks that delays land where they are configured: a 2000 us reply
# delay, a 5000 us one-way wire delay and a 1000 us netfilter (NFQUEUE)
# delay in one hypervisor must each show up in the median RTT.
# It also runs two test beds side by side and checks that "down" leaves
# nothing behind.  The last line is "N passed, N failed"; the exit status is
# non-zero if anything failed.
#
# Usage: tests/testbed/selftest.sh      (as root; about 40 s)

set -u -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TB=$HERE/testbed.sh
export ST_TB=${ST_TB:-stself}
SECOND_TB=${ST_TB}2
RATE=${SELFTEST_RATE:-2000}
DURATION=2
MAX_LOSS_PERMILLE=5  # 0.5 %: loss is expected to be zero on an idle machine

passed=0
failed=0

ok() { passed=$((passed + 1)); echo "ok   $*"; }
not_ok() { failed=$((failed + 1)); echo "FAIL $*"; }

# Extracts an integer field from vmsim's flat JSON.  Keys are unique in its
# output (p50 appears only inside rtt_us), so a regex is enough and the test
# needs no JSON tool.
jnum() {
	[[ $2 =~ \"$1\":([0-9]+) ]] && echo "${BASH_REMATCH[1]}"
}

# Runs traffic and checks loss; leaves the JSON line in $last for delay checks.
last=
check_traffic() { # label proto [extra traffic args...]
	local label=$1 proto=$2 sent recv
	shift 2
	if ! last=$("$TB" traffic --from vma --to vmb --proto "$proto" --rate "$RATE" \
		--duration "$DURATION" "$@" 2>&1); then
		not_ok "$label: traffic failed: $last"
		return 1
	fi
	sent=$(jnum sent "$last")
	recv=$(jnum received "$last")
	if [[ -z $sent || -z $recv ]]; then
		not_ok "$label: unparsable result: $last"
		return 1
	fi
	if ((sent < RATE * DURATION * 9 / 10)); then
		not_ok "$label: only $sent of $((RATE * DURATION)) requests were sent: $last"
		return 1
	fi
	if (((sent - recv) * 1000 > sent * MAX_LOSS_PERMILLE)); then
		not_ok "$label: lost $((sent - recv)) of $sent: $last"
		return 1
	fi
	ok "$label: $recv/$sent received, rtt p50 $(jnum p50 "$last") us p99 $(jnum p99 "$last") us"
}

check_p50() { # label lo hi
	local p50
	p50=$(jnum p50 "$last")
	if [[ -n $p50 ]] && ((p50 >= $2 && p50 <= $3)); then
		ok "$1: median rtt $p50 us within [$2, $3]"
	else
		not_ok "$1: median rtt ${p50:-none} us not within [$2, $3]: $last"
	fi
}

# Fails unless the named test bed left no namespace, state or process behind.
check_gone() { # label testbed pids...
	local label=$1 tb=$2 pid stray=
	shift 2
	for pid in "$@"; do
		[[ -r /proc/$pid/stat && $(cut -d' ' -f3 "/proc/$pid/stat") != Z ]] && stray+=" $pid"
	done
	if ip netns list | grep -q "^$tb-hv[12]\b" || [[ -e /run/stagetrace-testbed/$tb ]] || [[ -n $stray ]]; then
		not_ok "$label: leftovers (namespaces: $(ip netns list | grep "^$tb-" | tr '\n' ' ')processes:${stray:- none})"
	else
		ok "$label: nothing left behind"
	fi
}

tb_pids() { cat /run/stagetrace-testbed/"${1:-$ST_TB}"/*.pid 2>/dev/null; }

up() { # label testbed-args...
	local label=$1 out
	shift
	if out=$("$TB" up "$@" 2>&1); then
		return 0
	fi
	not_ok "$label: up $*: $out"
	return 1
}

cleanup() {
	"$TB" down >/dev/null 2>&1
	ST_TB=$SECOND_TB "$TB" down >/dev/null 2>&1
}

if ((EUID != 0)); then
	echo "selftest: needs root (network namespaces)" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
trap 'cleanup; exit 130' INT TERM
cleanup
start=$SECONDS

# 1. Each wire carries every protocol without loss.
for wire in veth vxlan fwd; do
	if up "$wire" --wire "$wire"; then
		for proto in udp tcp icmp; do
			check_traffic "$wire $proto" "$proto"
		done
		if [[ $wire == vxlan ]]; then
			# Full-size frames must fit through the vxlan uplink (MTU headroom).
			check_traffic "vxlan udp 1472-byte payload" udp --size 1472
		fi
		pids=$(tb_pids)
		"$TB" down >/dev/null 2>&1
		# shellcheck disable=SC2086
		check_gone "$wire down" "$ST_TB" $pids
	fi
done

# 2. The responder's reply delay shows up once in the RTT.
if up "reply delay" --wire veth --reply-delay-us 2000; then
	check_traffic "reply delay 2000 us" udp && check_p50 "reply delay 2000 us" 2000 2600
	"$TB" down >/dev/null 2>&1
fi

# 3. The fwd wire's one-way delay shows up twice in the RTT.
if up "wire delay" --wire fwd --wire-delay-us 5000; then
	check_traffic "wire delay 5000 us" udp && check_p50 "wire delay 5000 us" 10000 11000
	"$TB" down >/dev/null 2>&1
fi

# 3b. Delay injected in a hypervisor's netfilter hook (NFQUEUE + nfqdelay).
if up "nfq delay" --wire veth --nfq-delay hv2:1000; then
	# Both directions cross hv2's FORWARD hook: the RTT grows by 2 x 1000 us.
	check_traffic "nfq delay 1000 us in hv2" tcp && check_p50 "nfq delay 1000 us in hv2" 2000 2600
	"$TB" down >/dev/null 2>&1
fi
if up "nfq delay one way" --wire vxlan --nfq-delay hv1:1000:to-vm; then
	check_traffic "nfq delay 1000 us in hv1, to-vm only" icmp &&
		check_p50 "nfq delay 1000 us in hv1, to-vm only" 1000 1600
	"$TB" down >/dev/null 2>&1
fi

# 4. Two test beds coexist, with a per-VM override in the second one.
if up "coexist first" --wire veth; then
	if ST_TB=$SECOND_TB up "coexist second" --wire vxlan \
		--vms "hv1:vma:10.10.0.1 hv2:vmb:10.10.0.2 hv2:vmc:10.10.0.3" --vm-opt vmb:reply_delay_us=1000; then
		check_traffic "coexist first udp" udp
		ST_TB=$SECOND_TB check_traffic "coexist second udp (vmb delay 1000 us)" udp &&
			check_p50 "coexist second vmb delay" 1000 1600
		if out=$(ST_TB=$SECOND_TB "$TB" traffic --from vmc --to vma --proto icmp --count 100 \
			--rate 1000 2>&1) && [[ $(jnum received "$out") == 100 ]]; then
			ok "coexist second: third VM vmc reaches vma"
		else
			not_ok "coexist second: vmc to vma: $out"
		fi
		info=$(ST_TB=$SECOND_TB "$TB" info --json 2>&1)
		if [[ $info =~ \"netns_inode\":[0-9]+ && $info == *'"tap":"tap-vmc"'* ]] &&
			{ ! command -v jq >/dev/null || jq -e . >/dev/null <<<"$info"; }; then
			ok "info --json is well formed and lists every VM"
		else
			not_ok "info --json: $info"
		fi
		pids2=$(tb_pids "$SECOND_TB")
		ST_TB=$SECOND_TB "$TB" down >/dev/null 2>&1
		# shellcheck disable=SC2086
		check_gone "coexist second down" "$SECOND_TB" $pids2
		if out=$("$TB" status 2>&1); then
			ok "first test bed unaffected by the second one's teardown"
		else
			not_ok "first test bed broken after the second one's teardown: $out"
		fi
	fi
	"$TB" down >/dev/null 2>&1
	if "$TB" down >/dev/null 2>&1; then
		ok "down is idempotent"
	else
		not_ok "second down failed"
	fi
fi

# 5. The OVS switch: where the kernel datapath exists, every wire carries
#    traffic through per-hypervisor ovs-vswitchd instances (the kernel-matrix
#    guest test "testbed" runs the agents on it); elsewhere "--switch ovs" is
#    refused with its reason and "--switch auto" falls back to the bridge.
if why=$(. "$TB"; _tb_ovs_why) && [[ -z $why ]]; then
	for wire in veth vxlan; do
		if up "ovs $wire" --switch ovs --wire "$wire"; then
			check_traffic "ovs $wire udp" udp
			check_traffic "ovs $wire tcp" tcp
			"$TB" down >/dev/null 2>&1
		fi
	done
else
	out=$("$TB" up --switch ovs 2>&1)
	rc=$?
	if ((rc != 0)) && [[ $(wc -l <<<"$out") == 1 && $out == *"--switch ovs: "* ]]; then
		ok "--switch ovs without OVS: exit $rc, one line: $out"
	else
		not_ok "--switch ovs without OVS: exit $rc: $out"
	fi
	"$TB" down >/dev/null 2>&1
	if up "switch auto" --switch auto && [[ $("$TB" info --json) == *'"switch":"bridge"'* ]]; then
		ok "--switch auto without OVS: Linux bridge"
	else
		not_ok "--switch auto without OVS did not build a Linux bridge test bed"
	fi
	"$TB" down >/dev/null 2>&1
fi

cleanup
echo "selftest took $((SECONDS - start)) s"
echo "$passed passed, $failed failed"
((failed == 0))
