#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The Ansible roles, applied for real. Static checks first: ansible-lint
# (production profile) and ansible-playbook --syntax-check. Then a fleet of
# three "hosts", each a copy-on-write clone of this Debian installation (an
# overlay over /, with its own /proc, a sysfs of its own network namespace,
# fresh /run, /tmp and /usr/local/bin, the source and build trees hidden) inside
# its own network namespace, all on one bridge. The playbook
# deploy/ansible/site.yml reaches them through the netns_chroot connection
# plugin (tests/deploy/ansible/), so every module runs inside the host:
# apt checks the packages, useradd writes the host's /etc/passwd, the
# daemons' --check-config validates the configuration in place. col1 gets
# the collector and an agent, hv1 and hv2 agents; the PKI is made by the
# stagetrace_pki role on the control node.
#
# There is no systemd as PID 1 here, so the roles run with their
# service manager "none" (detected from the facts) and the test starts the
# daemons the way systemd would: the installed unit's ExecStart= inside the
# host's root and namespace, with its User=/Group=, CapabilityBoundingSet=,
# NoNewPrivileges= and LimitMEMLOCK=. Asserted: files, owners and modes;
# the units equal deploy/systemd; the configuration files name every key
# the daemons accept; the three agents reach the collector over mutual TLS
# (stagetrace hosts --json on the collector host); the collector runs as its
# own user; the metrics endpoints and the HTTPS API (installed tokens)
# answer; a second run changes nothing; an invalid value is refused by the
# daemon's --check-config and the old file kept; a new build and
# certificates near expiry are installed and the daemons come back with
# them; state=absent removes everything but the store and the user.
#
#   tests/deploy/ansible_test.sh [BUILD_DIR]
set -u
O=$(cd "${1:-build}" && pwd)
R=$(cd "$(dirname "$0")/../.." && pwd)
SELF=$R/tests/deploy/$(basename "$0")
cd "$R" || exit 1
HOSTS=(col1 hv1 hv2)
ns_of() { echo "st-ans-$1-$ST_ANS_ID"; }

# --- Outer part: network namespaces, then the rest in a private mount
# namespace, so that every mount made for the hosts vanishes with it.
if [[ -z ${ST_ANS_INNER:-} ]]; then
	for t in ansible-playbook ansible-lint nsenter unshare setpriv prlimit openssl jq; do
		if ! command -v "$t" >/dev/null; then
			echo "FAIL $t is not installed (scripts/deps.sh installs it)"
			echo "0 passed, 1 failed"
			exit 1
		fi
	done
	export ST_ANS_ID=$$
	sw=$(ns_of sw)
	outer_cleanup() {
		local h
		for h in sw "${HOSTS[@]}"; do
			ip netns del "$(ns_of "$h")" 2>/dev/null
		done
	}
	trap outer_cleanup EXIT
	ip netns add "$sw" && ip -n "$sw" link add br0 type bridge && ip -n "$sw" link set br0 up || exit 1
	i=1
	for h in "${HOSTS[@]}"; do
		n=$(ns_of "$h")
		ip netns add "$n" &&
			ip -n "$sw" link add "p-$h" type veth peer name eth0 netns "$n" &&
			ip -n "$sw" link set "p-$h" master br0 up &&
			ip -n "$n" addr add "10.77.0.$i/24" dev eth0 &&
			ip -n "$n" link set eth0 up && ip -n "$n" link set lo up || exit 1
		i=$((i + 1))
	done
	tmp=$(mktemp -d /tmp/st-ansible.XXXXXX)
	ST_ANS_INNER=1 ST_ANS_TMP=$tmp unshare --mount --propagation private "$SELF" "$O"
	rc=$?
	# The host trees were mounted in the private namespace only: seen
	# from here the directory is empty.
	rmdir "$tmp" 2>/dev/null || rm -rf --one-file-system "$tmp"
	exit $rc
fi

# --- Inner part.
T=$ST_ANS_TMP
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }
check() { # description command...
	local d=$1
	shift
	if "$@"; then ok "$d"; else bad "$d"; return 1; fi
}
PIDS=()
cleanup() {
	local p i
	# ST_ANS_LOGS=DIR keeps the playbook and daemon logs.
	[[ -n ${ST_ANS_LOGS:-} ]] && mkdir -p "$ST_ANS_LOGS" && cp "$T"/*.log "$ST_ANS_LOGS"/ 2>/dev/null
	# Newest first: the agents drain into a collector that still runs.
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		p=${PIDS[i]}
		kill -TERM "$p" 2>/dev/null
		timeout 10 tail --pid="$p" -f /dev/null 2>/dev/null || kill -KILL "$p" 2>/dev/null
	done
	PIDS=()
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mount -t tmpfs -o size=2g,mode=0700 st-ansible "$T" || exit 1
root_of() { echo "$T/$1/root"; }
in_host() { # host command... : run inside the host's root and namespace
	local h=$1
	shift
	nsenter --net="/run/netns/$(ns_of "$h")" -- chroot "$(root_of "$h")" "$@"
}
for h in "${HOSTS[@]}"; do
	r=$(root_of "$h")
	mkdir -p "$T/$h/upper" "$T/$h/work" "$r"
	mount -t overlay "st-$h" -o "lowerdir=/,upperdir=$T/$h/upper,workdir=$T/$h/work" "$r" &&
		mount -t proc proc "$r/proc" &&
		nsenter --net="/run/netns/$(ns_of "$h")" -- mount -t sysfs sysfs "$r/sys" &&
		mount --rbind /dev "$r/dev" &&
		mount -t tmpfs tmpfs "$r/run" &&
		mount -t tmpfs tmpfs "$r/tmp" &&
		mount -t tmpfs tmpfs "$r/usr/local/bin" || { bad "cannot build the root of $h"; exit 1; }
	# Hide the source tree and the build directory: the hosts get the
	# binaries only through the roles.
	for d in "$R" "$O"; do
		if [[ -d $r$d ]]; then mount -t tmpfs tmpfs "$r$d" || { bad "cannot hide $d in $h"; exit 1; }; fi
	done
done

# --- Static checks.
lint=$(cd deploy/ansible && ansible-lint --offline --nocolor -p --profile production 2>&1)
check "ansible-lint --profile production: no violation" test $? -eq 0 ||
	echo "$lint" | head -20
out=$(cd deploy/ansible && ansible-playbook --syntax-check -i inventory.example.ini site.yml 2>&1)
check "ansible-playbook --syntax-check site.yml" test $? -eq 0 || echo "$out" | tail -5

# --- Inventory for the fleet.
inv=$T/inventory.yml
TOKEN=$(openssl rand -hex 12)
{
	echo "all:"
	echo "  vars:"
	echo "    stagetrace_build_dir: $O"
	echo "    stagetrace_pki_dir: $T/pki"
	echo "  children:"
	echo "    stagetrace_collectors:"
	echo "      hosts:"
	echo "        col1:"
	echo "      vars:"
	echo "        stagetrace_collector_slos: ['web:hv1>hv2:p99<=300us:99.9']"
	echo "        stagetrace_collector_metrics: http://127.0.0.1:9731"
	echo "        stagetrace_collector_tenants: {blue: [web, 10.77.0.0/24]}"
	echo "        stagetrace_collector_tenant_tokens: {blue: blue-token-$TOKEN}"
	echo "        stagetrace_collector_api_admin_token: admin-token-$TOKEN"
	echo "        stagetrace_collector_pair_ids: {checkout: hv1>hv2}"
	echo "        stagetrace_collector_api: https://0.0.0.0:7732"
	echo "    stagetrace_agents:"
	echo "      hosts: {col1: null, hv1: null, hv2: null}"
	echo "      vars:"
	echo "        stagetrace_agent_uplinks: [eth0]"
	echo "        stagetrace_agent_vms: {tap-web: web}"
	echo "        stagetrace_agent_metrics: http://127.0.0.1:9732"
	echo "    st_test_fleet:"
	echo "      vars:"
	echo "        ansible_connection: netns_chroot"
	echo "        ansible_python_interpreter: /usr/bin/python3"
	echo "      hosts:"
	i=1
	for h in "${HOSTS[@]}"; do
		echo "        $h:"
		echo "          ansible_host: 10.77.0.$i"
		echo "          ansible_netns_chroot_root: $(root_of "$h")"
		echo "          ansible_netns_chroot_netns: $(ns_of "$h")"
		i=$((i + 1))
	done
} >"$inv"
export ANSIBLE_CONNECTION_PLUGINS=$R/tests/deploy/ansible/connection_plugins
export ANSIBLE_PIPELINING=True ANSIBLE_NOCOLOR=1 ANSIBLE_RETRY_FILES_ENABLED=False
export ANSIBLE_LOCAL_TEMP=$T/ansible-local ANSIBLE_HOME=$T/ansible-home
# Task timings in the logs (ST_ANS_LOGS=DIR keeps them).
export ANSIBLE_CALLBACKS_ENABLED=ansible.posix.profile_tasks

# play LOG [ansible-playbook args...]: run site.yml, keep the output.
play() {
	local log=$1
	shift
	ansible-playbook -i "$inv" deploy/ansible/site.yml "$@" >"$log" 2>&1
}
# recap LOG: the PLAY RECAP lines.
recap() { awk '/^PLAY RECAP/ { f = 1; next } f && / : ok=/' "$1"; }
recap_clean() { # LOG: every host reached, nothing failed
	local r
	r=$(recap "$1")
	[[ -n $r ]] && ! grep -qE 'unreachable=[1-9]|failed=[1-9]' <<<"$r"
}
changed_total() { recap "$1" | grep -o 'changed=[0-9]*' | awk -F= '{ n += $2 } END { print n }'; }

# --- First run: install.
t0=$SECONDS
play "$T/run1.log"
rc=$?
if ! check "first run: exit 0, no host unreachable or failed ($((SECONDS - t0)) s)" \
	eval 'test $rc -eq 0 && recap_clean "$T/run1.log"'; then
	# Nothing after this can pass: show why and stop.
	grep -A3 -E '^(fatal|failed):' "$T/run1.log" | head -30
	recap "$T/run1.log"
	echo "$pass passed, $fail failed"
	exit 1
fi
recap "$T/run1.log" | sed 's/^/     /'
check "service manager detected as none (no systemd as PID 1), and the play says nothing was started" \
	eval 'grep -A6 "Enable and start the agent" "$T/run1.log" | grep -q "skipping: \[hv1\]" &&
		grep -q "stagetrace-agent is installed but not started" "$T/run1.log"'

# Files, owners and modes.
st() { in_host "$1" stat -c '%a %U %G' "$2" 2>/dev/null; }
for h in "${HOSTS[@]}"; do
	r=$(root_of "$h")
	check "$h: agent binary installed from the build directory" cmp -s "$O/stagetrace-agent" "$r/usr/local/bin/stagetrace-agent"
	check "$h: agent key 600 root (got $(st "$h" /etc/stagetrace/agent.key))" test "$(st "$h" /etc/stagetrace/agent.key)" = "600 root root"
	check "$h: agent config 640 root" test "$(st "$h" /etc/stagetrace/agent.conf)" = "640 root root"
	check "$h: agent certificate verifies against the installed CA" \
		in_host "$h" openssl verify -CAfile /etc/stagetrace/ca.pem /etc/stagetrace/agent.pem >/dev/null
	check "$h: unit equals deploy/systemd/stagetrace-agent.service" \
		cmp -s deploy/systemd/stagetrace-agent.service "$r/etc/systemd/system/stagetrace-agent.service"
done
rc1=$(root_of col1)
check "col1: collector key 640 root:stagetrace (got $(st col1 /etc/stagetrace/collector.key))" \
	test "$(st col1 /etc/stagetrace/collector.key)" = "640 root stagetrace"
check "col1: collector config 640 root:stagetrace" test "$(st col1 /etc/stagetrace/collector.conf)" = "640 root stagetrace"
check "col1: state directory 750 stagetrace:stagetrace" test "$(st col1 /var/lib/stagetrace)" = "750 stagetrace stagetrace"
pw=$(grep '^stagetrace:' "$rc1/etc/passwd")
check "col1: system user stagetrace with no login shell ($pw)" \
	eval '[[ $(cut -d: -f3 <<<"$pw") -lt 1000 && $pw == *:/usr/sbin/nologin ]]'
check "hv1: no collector user there" eval '! grep -q "^stagetrace:" "$(root_of hv1)/etc/passwd"'
check "col1: unit equals deploy/systemd/stagetrace-collector.service" \
	cmp -s deploy/systemd/stagetrace-collector.service "$rc1/etc/systemd/system/stagetrace-collector.service"
check "col1: collector certificate names the address agents use" \
	eval 'in_host col1 openssl x509 -noout -ext subjectAltName -in /etc/stagetrace/collector.pem | grep -q "IP Address:10.77.0.1"'

# Every key the daemons accept appears in the rendered files, set or
# commented out; run-mode flags (one-shot checks and listings) excepted.
daemon_keys() {
	"$O/stagetrace-$1" -h | awk '/^Options:/ { f = 1; next } f && /^$/ { exit }
		f { if (match($0, /--[a-z0-9-]+/)) print substr($0, RSTART + 2, RLENGTH - 2) }' |
		grep -vxE 'help|config|check-config|probes|json' | sort
}
conf_keys() { sed -nE 's/^(# )?([a-z0-9-]+) =.*/\2/p' "$1" | sort -u; }
for d in agent collector; do
	diffk=$(diff <(daemon_keys "$d") <(conf_keys "$rc1/etc/stagetrace/$d.conf"))
	check "$d.conf names every key of stagetrace-$d -h ($(daemon_keys "$d" | wc -l) keys)" test -z "$diffk" ||
		echo "$diffk" | sed 's/^/     /'
done
check "agent.conf: repeatable keys rendered (uplink, vm)" \
	eval 'grep -qx "uplink = eth0" "$rc1/etc/stagetrace/agent.conf" && grep -qx "vm = tap-web=web" "$rc1/etc/stagetrace/agent.conf"'

# --- Start the daemons as their installed units say, inside the hosts.
# unit_start HOST UNIT LOG: ExecStart= under User=/Group=,
# CapabilityBoundingSet=, NoNewPrivileges=, LimitMEMLOCK=.
unit_get() { sed -n "s/^$2=//p" "$1" | tail -1; }
unit_start() {
	local h=$1 u
	u="$(root_of "$h")/etc/systemd/system/$2"
	local exec user group bset nnp memlock
	exec=$(unit_get "$u" ExecStart)
	user=$(unit_get "$u" User)
	group=$(unit_get "$u" Group)
	bset=$(unit_get "$u" CapabilityBoundingSet)
	nnp=$(unit_get "$u" NoNewPrivileges)
	memlock=$(unit_get "$u" LimitMEMLOCK)
	local -a sp=() pl=()
	[[ -n $user ]] && sp+=(--reuid="$user" --regid="${group:-$user}" --init-groups)
	if grep -q '^CapabilityBoundingSet=' "$u"; then
		local caps=-all c
		for c in $bset; do
			c=${c#CAP_}
			caps+=",+${c,,}"
		done
		sp+=(--bounding-set="$caps")
	fi
	[[ $nnp == yes ]] && sp+=(--no-new-privs)
	# Raising the hard limit needs CAP_SYS_RESOURCE, which a container may
	# lack (systemd would fail there too); BPF memory is charged to the
	# cgroup since Linux 5.11 anyway, so go on without it, and say so.
	if [[ $memlock == infinity ]]; then
		if prlimit --memlock=unlimited true 2>/dev/null; then
			pl=(prlimit --memlock=unlimited)
		else
			echo "note LimitMEMLOCK=infinity not applied: no CAP_SYS_RESOURCE here (memlock $(ulimit -Hl))"
		fi
	fi
	# Not through in_host: $! must be the daemon itself (nsenter, chroot,
	# prlimit and setpriv each exec the next).
	# shellcheck disable=SC2086 # ExecStart= is split into words, as systemd does
	nsenter --net="/run/netns/$(ns_of "$h")" -- chroot "$(root_of "$h")" \
		"${pl[@]}" setpriv "${sp[@]}" -- $exec >"$3" 2>&1 &
	PIDS+=($!)
}
# wait_hosts: the agents the collector on col1 knows, once all three are
# there or after 30 s, with the CLI the playbook installed there.
wait_hosts() {
	local hosts
	for _ in $(seq 60); do
		hosts=$(in_host col1 /usr/local/bin/stagetrace hosts --json 2>/dev/null |
			jq -r '[.hosts[].host] | sort | join(",")' 2>/dev/null)
		[[ $hosts == col1,hv1,hv2 ]] && break
		sleep 0.5
	done
	echo "$hosts"
}
unit_start col1 stagetrace-collector.service "$T/collector.log"
col_pid=${PIDS[-1]}
sleep 0.5
for h in "${HOSTS[@]}"; do
	unit_start "$h" stagetrace-agent.service "$T/agent-$h.log"
done
hosts=$(wait_hosts)
check "the three agents report to the collector over mutual TLS (hosts: ${hosts:-none})" test "$hosts" = col1,hv1,hv2 ||
	tail -n 3 "$T/collector.log" "$T"/agent-*.log
check "metrics endpoints configured by the roles answer (collector on col1, agent on hv2)" \
	eval 'in_host col1 curl -sf http://127.0.0.1:9731/metrics | grep -q "^stagetrace_" &&
		in_host hv2 curl -sf http://127.0.0.1:9732/metrics | grep -q "^stagetrace_"'
# The API tokens the role installed: the operator's sees the tenant and
# the named pair, a tenant's is refused the operator-only hosts list, a
# wrong one is refused outright.
api() { # token path -> HTTP status; the body in $T/api.json
	rm -f "$(root_of col1)/tmp/api.json" "$T/api.json"
	in_host col1 curl -s -o /tmp/api.json -w '%{http_code}' --cacert /etc/stagetrace/ca.pem \
		-H "Authorization: Bearer $1" "https://10.77.0.1:7732$2" 2>/dev/null
	cp "$(root_of col1)/tmp/api.json" "$T/api.json" 2>/dev/null
}
code=$(api "admin-token-$TOKEN" /v1/tenants)
check "API over HTTPS with the installed admin token: 200, tenant blue and pair checkout (got $code)" \
	eval '[[ $code == 200 ]] && grep -q blue "$T/api.json" && grep -q checkout "$T/api.json"'
code=$(api "blue-token-$TOKEN" /v1/hosts)
check "tenant token refused the operator-only hosts list (403, got $code)" test "$code" = 403
code=$(api "wrong-token-$TOKEN" /v1/tenants)
check "unknown token refused (401, got $code)" test "$code" = 401
check "col1: token files 640 root:stagetrace" \
	eval '[[ $(st col1 /etc/stagetrace/tokens/admin) == "640 root stagetrace" && $(st col1 /etc/stagetrace/tokens/tenant-blue) == "640 root stagetrace" ]]'
uid=$(awk '/^Uid:/ { print $2 }' "/proc/$col_pid/status" 2>/dev/null)
check "collector runs as user stagetrace (uid ${uid:-gone})" test "${uid:-x}" = "$(cut -d: -f3 <<<"$pw")"
check "collector listens for agents on tls+tcp://0.0.0.0:7730 (its log)" grep -q 'listening for agents on tls+tcp://0.0.0.0:7730' "$T/collector.log"

# --- Second run: nothing changes.
t0=$SECONDS
play "$T/run2.log"
rc=$?
n=$(changed_total "$T/run2.log")
check "second run: exit 0 and changed=0 on every host (total changed ${n:-?}, $((SECONDS - t0)) s)" \
	eval 'test $rc -eq 0 && recap_clean "$T/run2.log" && test "${n:-1}" -eq 0' ||
	grep -B2 '^changed:' "$T/run2.log" | head -20

# --- A bad value never reaches the host: the daemon's --check-config
# refuses the new file, the play fails on that host, the old file stays.
before=$(md5sum <"$(root_of hv1)/etc/stagetrace/agent.conf")
play "$T/run-bad.log" --limit hv1 -e stagetrace_agent_sample=0/4
rc=$?
after=$(md5sum <"$(root_of hv1)/etc/stagetrace/agent.conf")
check "invalid sample 0/4: play fails on the configuration task with the agent's own error, old file kept" \
	eval 'test $rc -ne 0 && grep -q "failed to validate" "$T/run-bad.log" &&
		grep -q "error: --sample: invalid value .0/4." "$T/run-bad.log" && test "$before" = "$after"' ||
	grep -A2 '^fatal' "$T/run-bad.log" | head -5

# --- Upgrade and rotation in one run. Upgrade: a new build (here the same
# binaries with bytes appended, which ELF ignores) is copied over the old.
# Rotation: with a renewal margin longer than the certificates' life every
# host certificate counts as expiring: the PKI role issues new ones, the
# roles install them. Both notify the restart handlers; under systemd they
# restart the daemons, here the test does, and checks that the agents come
# back with the new binaries and certificates.
mkdir -p "$T/build2"
for b in stagetrace-agent stagetrace-collector stagetrace; do
	cp "$O/$b" "$T/build2/$b" && printf '\nupgrade %s\n' "$TOKEN" >>"$T/build2/$b"
done
serial() { openssl x509 -noout -serial -in "$1" 2>/dev/null; }
old_serial=$(serial "$(root_of hv1)/etc/stagetrace/agent.pem")
# (Packages were checked twice already: skipped here to save a minute.)
play "$T/run-rotate.log" -e stagetrace_pki_renew_days=1000 -e stagetrace_manage_packages=false \
	-e "stagetrace_build_dir=$T/build2"
rc=$?
new_serial=$(serial "$(root_of hv1)/etc/stagetrace/agent.pem")
check "rotation run: exit 0, hv1's installed certificate replaced ($old_serial -> $new_serial)" \
	eval 'test $rc -eq 0 && recap_clean "$T/run-rotate.log" && test -n "$new_serial" -a "$new_serial" != "$old_serial"'
check "upgrade: the new agent and collector binaries installed" \
	eval 'cmp -s "$T/build2/stagetrace-agent" "$(root_of hv2)/usr/local/bin/stagetrace-agent" &&
		cmp -s "$T/build2/stagetrace-collector" "$rc1/usr/local/bin/stagetrace-collector"'
check "rotation run: restart handlers notified for agents and collector" \
	eval 'grep -q "RUNNING HANDLER \[stagetrace_agent : Restart stagetrace-agent\]" "$T/run-rotate.log" &&
		grep -q "RUNNING HANDLER \[stagetrace_collector : Restart stagetrace-collector\]" "$T/run-rotate.log"'
cleanup
# A fresh store, so that only agents that connect now are listed.
in_host col1 sh -c 'rm -f /var/lib/stagetrace/stagetrace.db*'
unit_start col1 stagetrace-collector.service "$T/collector2.log"
sleep 0.5
for h in "${HOSTS[@]}"; do
	unit_start "$h" stagetrace-agent.service "$T/agent2-$h.log"
done
hosts=$(wait_hosts)
check "after upgrade, rotation and restart, the three agents report again (hosts: ${hosts:-none})" test "$hosts" = col1,hv1,hv2
cleanup

# --- Removal (what systemd would do -- stop the service -- is done above).
play "$T/run3.log" -e stagetrace_agent_state=absent -e stagetrace_collector_state=absent -e stagetrace_pki_create=false
rc=$?
check "removal run: exit 0" eval 'test $rc -eq 0 && recap_clean "$T/run3.log"' || tail -20 "$T/run3.log"
left=
for h in "${HOSTS[@]}"; do
	r=$(root_of "$h")
	for f in /usr/local/bin/stagetrace-agent /usr/local/bin/stagetrace-collector /usr/local/bin/stagetrace \
		/etc/stagetrace /etc/systemd/system/stagetrace-agent.service /etc/systemd/system/stagetrace-collector.service; do
		[[ -e $r$f ]] && left+=" $h:$f"
	done
done
check "state=absent removed binaries, units, configuration and certificates${left:+ (left:$left)}" test -z "$left"
check "state=absent keeps the store and the user (no purge)" \
	eval 'test -d "$rc1/var/lib/stagetrace" && grep -q "^stagetrace:" "$rc1/etc/passwd"'
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
