#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# testbed.sh - the live test topology of stagetrace: two "hypervisors", each a
# network namespace with a switch (a Linux bridge, or an Open vSwitch bridge
# on the OVS kernel datapath where the openvswitch module exists), "VMs" that
# are persistent tap devices played by vmsim processes, and a wire between
# the two switches.
#
#   testbed.sh up [options]      build it (see usage below)
#   testbed.sh down              tear it down; safe to run any number of times
#   testbed.sh status            say what is there and whether it is healthy
#   testbed.sh info [--json]     names, netns inodes, ifindexes, addresses
#   testbed.sh traffic ...       make a VM send request traffic to another
#
# The file can also be sourced (". tests/testbed/testbed.sh"): it then only
# defines tb_* functions and changes no shell options, so test scripts can
# call tb_up, tb_traffic, tb_vm_ip and friends directly.
#
# ST_TB (default "st") prefixes the namespaces and names the state directory
# /run/stagetrace-testbed/$ST_TB, so two test beds can exist side by side.

TB_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TB_STATE_ROOT=/run/stagetrace-testbed
TB_BRIDGE=br0
TB_UNDERLAY1=192.168.200.1
TB_UNDERLAY2=192.168.200.2
TB_VNI=42
TB_VXLAN_PORT=4789

_tb_err() { echo "testbed: error: $*" >&2; }
_tb_log() { [[ -n ${TB_QUIET:-} ]] || echo "testbed: $*" >&2; }

# Recomputes the names derived from ST_TB; every public function calls it so
# that a sourcing script may switch ST_TB between calls.
_tb_init() {
	ST_TB=${ST_TB:-st}
	if [[ ! $ST_TB =~ ^[A-Za-z0-9][A-Za-z0-9_-]{0,23}$ ]]; then
		_tb_err "ST_TB='$ST_TB': use 1-24 letters, digits, '_' or '-'"
		return 1
	fi
	TB_DIR=$TB_STATE_ROOT/$ST_TB
	TB_NS1=$ST_TB-hv1
	TB_NS2=$ST_TB-hv2
}

# Maps "hv1"/"hv2" (or an already full namespace name) to the namespace name.
tb_ns() {
	_tb_init || return 1
	case $1 in
	hv1 | "$TB_NS1") echo "$TB_NS1" ;;
	hv2 | "$TB_NS2") echo "$TB_NS2" ;;
	*) _tb_err "unknown hypervisor '$1' (hv1 or hv2)"; return 1 ;;
	esac
}

tb_state_dir() { _tb_init && echo "$TB_DIR"; }

# The inode of a hypervisor's network namespace: what BPF programs see as
# the netns id (bpf_get_netns_cookie aside) and what /proc/PID/ns/net shows.
tb_netns_inode() {
	local ns
	ns=$(tb_ns "$1") || return 1
	stat -L -c %i "/run/netns/$ns"
}

tb_exec() {
	local ns
	ns=$(tb_ns "$1") || return 1
	shift
	ip netns exec "$ns" "$@"
}

# Finds (or builds) one of the helper programs.  The Makefile builds them as
# well, but the test bed must also work before the rest of the project
# compiles, so it falls back to compiling the single, libc-only source file.
_tb_tool() {
	local name=$1 dir=${ST_TOOLS_DIR:-$TB_REPO/build/tests/tools}
	local src=$TB_REPO/tests/tools/$name.c bin
	bin=$dir/$name
	if [[ -x $bin && (! -e $src || $bin -nt $src) ]]; then
		echo "$bin"
		return 0
	fi
	if [[ ! -e $src ]]; then
		_tb_err "$bin is missing and $src does not exist"
		return 1
	fi
	mkdir -p "$dir" || return 1
	_tb_log "building $bin"
	if ! gcc -std=gnu11 -O2 -g -Wall -Wextra -Werror -Wno-unused-parameter \
		-Wno-missing-field-initializers -D_GNU_SOURCE "$src" -o "$bin.tmp.$$" -lm; then
		rm -f "$bin.tmp.$$"
		_tb_err "building $name failed"
		return 1
	fi
	mv -f "$bin.tmp.$$" "$bin" && echo "$bin"
}

# Runs "$@" detached from our session with output appended to a log, and
# records its pid.  The subshell has no job control, so the background child
# is not a process-group leader and setsid execs instead of forking: $! is
# then the pid of the program itself.
_tb_spawn() {
	local pidf=$1 log=$2
	shift 2
	(
		setsid "$@" </dev/null >>"$log" 2>&1 &
		echo $! >"$pidf"
	)
}

# True if pid belongs to one of our helper programs; guards every kill
# against pids that were recycled after a crash.
_tb_is_ours() {
	local exe
	exe=$(readlink "/proc/$1/exe" 2>/dev/null) || return 1
	case ${exe##*/} in
	vmsim | wirefwd | nfqdelay) return 0 ;;
	esac
	return 1
}

# True while pid runs.  A zombie counts as gone: on some machines pid 1 is
# slow to reap orphans, and kill -0 would keep reporting them alive.
_tb_alive() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[[ ${stat:0:1} != Z ]]
}

_tb_mac_for_ip() {
	local IFS=.
	# shellcheck disable=SC2086
	set -- $1
	printf '02:53:%02x:%02x:%02x:%02x' "$1" "$2" "$3" "$4"
}

_tb_valid_ip() {
	local IFS=. o
	[[ $1 =~ ^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ ]] || return 1
	for o in $1; do ((10#$o <= 255)) || return 1; done
}

_tb_wait_file() { # path timeout_ds pid
	local i
	for ((i = 0; i < $2 * 2; i++)); do
		[[ -e $1 ]] && return 0
		[[ -n ${3:-} ]] && ! _tb_alive "$3" && return 1
		sleep 0.05
	done
	[[ -e $1 ]]
}

# ---------------------------------------------------------------------------
# the switch: Linux bridge or Open vSwitch
# ---------------------------------------------------------------------------

# Why OVS cannot be used here (empty when it can).  The kernel datapath
# module must be loaded or loadable: a kernel-matrix guest loads it from its
# own module tree beforehand, a host loads it with modprobe.
_tb_ovs_why() {
	local b
	for b in ovsdb-tool ovsdb-server ovs-vswitchd ovs-vsctl; do
		command -v "$b" >/dev/null || { echo "$b is not installed (Debian: openvswitch-switch)"; return; }
	done
	[[ -f /usr/share/openvswitch/vswitch.ovsschema ]] ||
		{ echo "/usr/share/openvswitch/vswitch.ovsschema is missing"; return; }
	[[ -d /sys/module/openvswitch ]] || modprobe -q openvswitch 2>/dev/null ||
		echo "the openvswitch kernel module is not available (modprobe openvswitch failed)"
}

_tb_ovs_usable() { [[ -z $(_tb_ovs_why) ]]; }

# "ovs" where the OVS kernel datapath can run, else "bridge".
tb_switch_auto() { if _tb_ovs_usable; then echo ovs; else echo bridge; fi; }

# One ovsdb-server and ovs-vswitchd per hypervisor, inside its namespace:
# the kernel creates a datapath in the namespace of the netlink socket that
# asks for it, so each hypervisor gets its own "ovs-system" datapath and
# its ports stay in its namespace.  A bridge has just the NORMAL flow (MAC
# learning), the OVS equivalent of the Linux bridge variant.  tb_down needs
# nothing special: it kills every process in the namespaces, and deleting a
# namespace destroys its datapaths.
_tb_ovs_up() {
	local ns=$1 d=$TB_DIR/ovs-${1##*-}
	mkdir -p "$d" || return 1
	(
		export OVS_RUNDIR=$d OVS_LOGDIR=$d OVS_DBDIR=$d OVS_SYSCONFDIR=$d
		ovsdb-tool create "$d/conf.db" /usr/share/openvswitch/vswitch.ovsschema &&
			ip netns exec "$ns" ovsdb-server "$d/conf.db" --remote=punix:"$d/db.sock" \
				--pidfile="$d/ovsdb.pid" --log-file="$d/ovsdb.log" --detach &&
			ovs-vsctl --db=unix:"$d/db.sock" --timeout=30 --no-wait init &&
			ip netns exec "$ns" ovs-vswitchd unix:"$d/db.sock" --pidfile="$d/vswitchd.pid" \
				--log-file="$d/vswitchd.log" --detach &&
			ovs-vsctl --db=unix:"$d/db.sock" --timeout=30 add-br "$TB_BRIDGE"
	) >>"$d/setup.log" 2>&1 || {
		_tb_err "Open vSwitch in $ns did not start:"
		tail -n 5 "$d/setup.log" "$d/vswitchd.log" >&2 2>/dev/null
		return 1
	}
	ip -n "$ns" link set "$TB_BRIDGE" up
}

# Attaches a device to the hypervisor's switch and brings it up.
_tb_port_add() {
	local ns=$1 dev=$2
	if [[ $switch == ovs ]]; then
		ip -n "$ns" link set "$dev" up &&
			ovs-vsctl --db=unix:"$TB_DIR/ovs-${ns##*-}/db.sock" --timeout=30 \
				add-port "$TB_BRIDGE" "$dev"
	else
		ip -n "$ns" link set "$dev" master "$TB_BRIDGE" up
	fi
}

# Waits until every port of both bridges is forwarding.  Carrier changes go
# through the kernel's linkwatch worker, which may defer them up to a second,
# so a freshly attached tap is not usable the instant vmsim opens it.
_tb_wait_forwarding() {
	local i ns bad
	for ((i = 0; i < 100; i++)); do
		bad=
		for ns in "$TB_NS1" "$TB_NS2"; do
			if bridge -n "$ns" link show | grep -v 'state forwarding' | grep -q .; then
				bad=$ns
			fi
		done
		[[ -z $bad ]] && return 0
		sleep 0.05
	done
	_tb_err "bridge ports in $bad did not reach forwarding state:"
	bridge -n "$bad" link show >&2
	return 1
}

_tb_usage() {
	cat <<'EOF'
usage: testbed.sh up [--switch bridge|ovs|auto] [--wire veth|vxlan|fwd] [--wire-delay-us N] [--vms SPECS]
                     [--reply-delay-us N] [--vm-opt VM:KEY=VALUE]... [--tbf RATE[/BURST[/LATENCY]]]
                     [--nfq-delay HV:US[:to-vm|from-vm]]...
       testbed.sh down
       testbed.sh status
       testbed.sh info [--json]
       testbed.sh traffic --from VM --to VM|IP [--proto udp|tcp|icmp] [--rate PPS]
                          [--duration S | --count N] [--dport P] [--sport P] [--size B] [--wait-ms MS]
       testbed.sh ns hv1|hv2          print the namespace name
       testbed.sh inode hv1|hv2       print the namespace inode
       testbed.sh exec hv1|hv2 CMD... run a command inside a hypervisor namespace
       testbed.sh ctl VM COMMAND...   send a raw control command to a VM (ping, stats, garp,
                                      set reply_delay_us=N, traffic ...)

up options:
  --switch bridge  a Linux bridge "br0" per hypervisor
  --switch ovs     an Open vSwitch bridge "br0" on the OVS kernel datapath per hypervisor
                   (one ovsdb-server + ovs-vswitchd inside each namespace, NORMAL flow);
                   needs the openvswitch module and openvswitch-switch
  --switch auto    ovs where it can run (and no --nfq-delay is asked for), else bridge;
                   the default, or $ST_TB_SWITCH when set
  --wire veth    a veth pair "eth0" between the bridges (default)
  --wire vxlan   veth "eth0" underlay 192.168.200.1/2 carrying "vxlan0" (VNI 42, port 4789)
  --wire fwd     a tap "eth0" in each bridge, joined by wirefwd (the only wire that can delay)
  --wire-delay-us N   one-way delay of the fwd wire
  --vms "hv1:vma:10.10.0.1 hv2:vmb:10.10.0.2/24 ..."   VMs as HV:NAME:IP[/PREFIX]
                 (default the two shown; prefix 24; NAME is 1-11 of [a-z0-9_-])
  --reply-delay-us N   every VM holds its replies N us (default 0)
  --vm-opt VM:reply_delay_us=N | VM:mac=MAC   per-VM override, repeatable
  --tbf RATE[/BURST[/LATENCY]]   tbf qdisc on hv1's eth0 (defaults 32kb / 50ms)
  --nfq-delay HV:US[:DIR]   delay bridged IPv4 in HV's netfilter FORWARD hook by US us
                 (nfqdelay + NFQUEUE via br_netfilter).  Without DIR both directions
                 are delayed, so a VM pair across the wire sees RTT + 2*US; "to-vm"
                 only delays frames arriving from the wire, "from-vm" only those
                 leaving towards it.

Environment: ST_TB names the test bed (default "st"); ST_TB_SWITCH the default --switch;
ST_TOOLS_DIR where vmsim and wirefwd live (default build/tests/tools, built from source if missing or stale).
EOF
}

# ---------------------------------------------------------------------------
# up
# ---------------------------------------------------------------------------

tb_up() {
	_tb_init || return 1
	if [[ -e $TB_DIR || -e /run/netns/$TB_NS1 || -e /run/netns/$TB_NS2 ]]; then
		_tb_err "test bed '$ST_TB' already exists (state $TB_DIR); run 'down' first"
		return 1
	fi
	local wire=veth wire_delay=0 vms="hv1:vma:10.10.0.1 hv2:vmb:10.10.0.2" delay=0 tbf=
	local switch=${ST_TB_SWITCH:-auto}
	local -a vmopts=() nfqs=()
	while (($#)); do
		case $1 in
		--wire) wire=${2:-}; shift ;;
		--switch) switch=${2:-}; shift ;;
		--wire-delay-us) wire_delay=${2:-}; shift ;;
		--vms) vms=${2:-}; shift ;;
		--reply-delay-us) delay=${2:-}; shift ;;
		--vm-opt) vmopts+=("${2:-}"); shift ;;
		--tbf) tbf=${2:-}; shift ;;
		--nfq-delay) nfqs+=("${2:-}"); shift ;;
		-h | --help) _tb_usage; return 0 ;;
		*) _tb_err "up: unknown option '$1' (see --help)"; return 1 ;;
		esac
		shift || { _tb_err "up: option needs a value"; return 1; }
	done
	case $wire in veth | vxlan | fwd) ;; *) _tb_err "--wire must be veth, vxlan or fwd"; return 1 ;; esac
	case $switch in
	bridge | ovs) ;;
	auto)
		# The netfilter delay needs br_netfilter, so it keeps the bridge.
		if ((${#nfqs[@]})); then switch=bridge; else switch=$(tb_switch_auto); fi ;;
	*) _tb_err "--switch must be bridge, ovs or auto"; return 1 ;;
	esac
	if [[ $switch == ovs ]] && ! _tb_ovs_usable; then
		_tb_err "--switch ovs: $(_tb_ovs_why)"
		return 1
	fi
	[[ $wire_delay =~ ^[0-9]+$ ]] || { _tb_err "--wire-delay-us must be a number"; return 1; }
	if ((wire_delay > 0)) && [[ $wire != fwd ]]; then
		_tb_err "--wire-delay-us needs --wire fwd (there is no netem on this kernel)"
		return 1
	fi
	[[ $delay =~ ^[0-9]+$ ]] || { _tb_err "--reply-delay-us must be a number"; return 1; }

	# Parse and check the VM list before touching the system.
	local spec hv name ip prefix rest
	local -a vm_lines=()
	local -A seen_name=() seen_ip=() vm_delay=() vm_mac=()
	for spec in $vms; do
		IFS=: read -r hv name rest <<<"$spec"
		ip=${rest%%/*}
		prefix=24
		[[ $rest == */* ]] && prefix=${rest#*/}
		if [[ $hv != hv1 && $hv != hv2 ]]; then
			_tb_err "--vms '$spec': hypervisor must be hv1 or hv2"; return 1
		fi
		if [[ ! $name =~ ^[a-z0-9][a-z0-9_-]{0,10}$ ]]; then
			_tb_err "--vms '$spec': VM name must be 1-11 of [a-z0-9_-] (tap-NAME fits IFNAMSIZ)"; return 1
		fi
		if ! _tb_valid_ip "$ip" || [[ ! $prefix =~ ^[0-9]+$ ]] || ((prefix < 1 || prefix > 32)); then
			_tb_err "--vms '$spec': expected HV:NAME:A.B.C.D[/PREFIX]"; return 1
		fi
		if [[ -n ${seen_name[$name]:-} || -n ${seen_ip[$ip]:-} ]]; then
			_tb_err "--vms '$spec': duplicate VM name or address"; return 1
		fi
		seen_name[$name]=1
		seen_ip[$ip]=1
		vm_lines+=("$name $hv $ip $prefix")
	done
	((${#vm_lines[@]})) || { _tb_err "--vms: no VMs given"; return 1; }
	local o key val
	for o in "${vmopts[@]}"; do
		name=${o%%:*}
		key=${o#*:}
		val=${key#*=}
		key=${key%%=*}
		if [[ $o != *:*=* || -z ${seen_name[$name]:-} ]]; then
			_tb_err "--vm-opt '$o': expected VM:KEY=VALUE for a VM in --vms"; return 1
		fi
		case $key in
		reply_delay_us)
			[[ $val =~ ^[0-9]+$ ]] || { _tb_err "--vm-opt '$o': not a number"; return 1; }
			vm_delay[$name]=$val ;;
		mac)
			[[ $val =~ ^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$ ]] || { _tb_err "--vm-opt '$o': bad MAC"; return 1; }
			vm_mac[$name]=${val,,} ;;
		*) _tb_err "--vm-opt '$o': unknown key (reply_delay_us, mac)"; return 1 ;;
		esac
	done
	local tbf_rate= tbf_burst=32kb tbf_lat=50ms b= l=
	if [[ -n $tbf ]]; then
		IFS=/ read -r tbf_rate b l <<<"$tbf"
		[[ -n ${b:-} ]] && tbf_burst=$b
		[[ -n ${l:-} ]] && tbf_lat=$l
		[[ -n $tbf_rate ]] || { _tb_err "--tbf needs a rate, e.g. 100mbit"; return 1; }
	fi

	local nfq nfq_hv nfq_us nfq_dir
	local -A nfq_seen=()
	for nfq in "${nfqs[@]}"; do
		IFS=: read -r nfq_hv nfq_us nfq_dir <<<"$nfq"
		if [[ $nfq_hv != hv[12] || ! $nfq_us =~ ^[0-9]+$ || ! ${nfq_dir:-both} =~ ^(both|to-vm|from-vm)$ ]]; then
			_tb_err "--nfq-delay '$nfq': expected hv1|hv2:MICROSECONDS[:to-vm|from-vm]"; return 1
		fi
		[[ -n ${nfq_seen[$nfq_hv]:-} ]] && { _tb_err "--nfq-delay: one per hypervisor"; return 1; }
		nfq_seen[$nfq_hv]=1
	done

	local vmsim wirefwd= nfqdelay=
	vmsim=$(_tb_tool vmsim) || return 1
	if ((${#nfqs[@]})); then
		if [[ $switch == ovs ]]; then
			_tb_err "--nfq-delay needs --switch bridge (it steers bridged frames through br_netfilter)"
			return 1
		fi
		nfqdelay=$(_tb_tool nfqdelay) || return 1
	fi
	if [[ $wire == fwd ]]; then
		wirefwd=$(_tb_tool wirefwd) || return 1
	fi

	# From here on, any failure tears everything down again.
	mkdir -p "$TB_DIR" || return 1
	if ! _tb_up_build; then
		_tb_err "up failed; cleaning up"
		TB_QUIET=1 tb_down
		return 1
	fi
	_tb_log "test bed '$ST_TB' is up (switch $switch, wire $wire$([[ $wire == fwd ]] && echo ", one-way delay $wire_delay us")); state in $TB_DIR"
}

# The body of tb_up, in its own function so that a failure anywhere returns
# to one place that cleans up.  It reads tb_up's locals (bash scoping is
# dynamic).
_tb_up_build() {
	local ns hv line name ip prefix mac d tap pid
	{
		printf 'TB_WIRE=%q\n' "$wire"
		printf 'TB_SWITCH=%q\n' "$switch"
		printf 'TB_WIRE_DELAY_US=%q\n' "$wire_delay"
		printf 'TB_TBF=%q\n' "${tbf_rate:+$tbf_rate/$tbf_burst/$tbf_lat}"
		printf 'TB_VMSIM=%q\n' "$vmsim"
		printf 'TB_WIREFWD=%q\n' "$wirefwd"
		printf 'TB_NFQ=%q\n' "${nfqs[*]}"
	} >"$TB_DIR/config" || return 1
	: >"$TB_DIR/vms" || return 1

	for ns in "$TB_NS1" "$TB_NS2"; do
		ip netns add "$ns" || return 1
		# IPv6 off before any device exists, so no interface ever sends
		# router solicitations, DAD probes or MLD reports into the captures.
		ip netns exec "$ns" sh -c 'echo 1 >/proc/sys/net/ipv6/conf/all/disable_ipv6 &&
			echo 1 >/proc/sys/net/ipv6/conf/default/disable_ipv6' || return 1
		ip -n "$ns" link set lo up || return 1
		if [[ $switch == ovs ]]; then
			_tb_ovs_up "$ns" || return 1
			continue
		fi
		# STP off and forward delay 0: ports forward as soon as they have
		# carrier.  Multicast snooping off: nothing here uses multicast and
		# it only adds querier state.
		ip -n "$ns" link add "$TB_BRIDGE" type bridge stp_state 0 forward_delay 0 \
			mcast_snooping 0 || return 1
		ip -n "$ns" link set "$TB_BRIDGE" up || return 1
	done

	case $wire in
	veth)
		ip -n "$TB_NS1" link add eth0 type veth peer name eth0 netns "$TB_NS2" || return 1
		for ns in "$TB_NS1" "$TB_NS2"; do
			_tb_port_add "$ns" eth0 || return 1
		done
		;;
	vxlan)
		ip -n "$TB_NS1" link add eth0 type veth peer name eth0 netns "$TB_NS2" || return 1
		local i local_ip remote_ip remote_ns remote_mac
		for i in 1 2; do
			if ((i == 1)); then
				ns=$TB_NS1 local_ip=$TB_UNDERLAY1 remote_ip=$TB_UNDERLAY2 remote_ns=$TB_NS2
			else
				ns=$TB_NS2 local_ip=$TB_UNDERLAY2 remote_ip=$TB_UNDERLAY1 remote_ns=$TB_NS1
			fi
			# 50 bytes of headroom so vxlan0 keeps a 1500-byte MTU and the
			# VMs' full-size frames are not dropped at the bridge.
			ip -n "$ns" link set eth0 mtu 1550 up || return 1
			ip -n "$ns" addr add "$local_ip/24" dev eth0 || return 1
			remote_mac=$(ip netns exec "$remote_ns" cat /sys/class/net/eth0/address) || return 1
			# A permanent neighbour entry means the first encapsulated frame
			# does not wait for underlay ARP, and the underlay stays quiet.
			ip -n "$ns" neigh replace "$remote_ip" lladdr "$remote_mac" dev eth0 nud permanent || return 1
			ip -n "$ns" link add vxlan0 mtu 1500 type vxlan id "$TB_VNI" dstport "$TB_VXLAN_PORT" \
				local "$local_ip" remote "$remote_ip" dev eth0 || return 1
			_tb_port_add "$ns" vxlan0 || return 1
		done
		;;
	fwd)
		for ns in "$TB_NS1" "$TB_NS2"; do
			ip -n "$ns" tuntap add dev eth0 mode tap || return 1
			_tb_port_add "$ns" eth0 || return 1
		done
		_tb_spawn "$TB_DIR/wirefwd.pid" "$TB_DIR/wirefwd.log" "$wirefwd" \
			--a "$TB_NS1:eth0" --b "$TB_NS2:eth0" --delay-us "$wire_delay" \
			--pidfile "$TB_DIR/wirefwd.ready" || return 1
		if ! _tb_wait_file "$TB_DIR/wirefwd.ready" 50 "$(<"$TB_DIR/wirefwd.pid")"; then
			_tb_err "wirefwd did not start:"
			tail -n 5 "$TB_DIR/wirefwd.log" >&2
			return 1
		fi
		;;
	esac

	if [[ -n $tbf_rate ]]; then
		tc -n "$TB_NS1" qdisc replace dev eth0 root tbf rate "$tbf_rate" burst "$tbf_burst" \
			latency "$tbf_lat" || return 1
	fi

	for nfq in "${nfqs[@]}"; do
		_tb_up_nfq "$nfq" || return 1
	done

	for line in "${vm_lines[@]}"; do
		read -r name hv ip prefix <<<"$line"
		ns=$(tb_ns "$hv")
		tap=tap-$name
		mac=${vm_mac[$name]:-$(_tb_mac_for_ip "$ip")}
		d=${vm_delay[$name]:-$delay}
		ip -n "$ns" tuntap add dev "$tap" mode tap || return 1
		_tb_port_add "$ns" "$tap" || return 1
		echo "$name $hv $ns $tap $ip $prefix $mac $d" >>"$TB_DIR/vms"
		_tb_spawn "$TB_DIR/$name.pid" "$TB_DIR/$name.log" ip netns exec "$ns" "$vmsim" \
			--tap "$tap" --mac "$mac" --ip "$ip/$prefix" --reply-delay-us "$d" \
			--ctl-listen "$TB_DIR/$name.sock" --pidfile "$TB_DIR/$name.ready" || return 1
	done
	# Started all at once above, waited for here: the VMs come up in parallel.
	while read -r name hv ns tap ip prefix mac d; do
		pid=$(<"$TB_DIR/$name.pid")
		if ! _tb_wait_file "$TB_DIR/$name.ready" 50 "$pid"; then
			_tb_err "VM $name did not start:"
			tail -n 5 "$TB_DIR/$name.log" >&2
			return 1
		fi
	done <"$TB_DIR/vms"

	_tb_wait_forwarding || return 1
	# Every VM announces itself now that all ports forward, so both bridges
	# know every MAC before the first test packet (no flooding, no waiting).
	while read -r name _; do
		"$vmsim" --ctl "$TB_DIR/$name.sock" garp >/dev/null || return 1
	done <"$TB_DIR/vms"
	tb_info_json >"$TB_DIR/info.json" || return 1
}

# Starts nfqdelay in one hypervisor and steers its bridged IPv4 traffic
# through it.  The program is bound to the queue before the rule exists, and
# the rule uses --queue-bypass, so no packet is ever dropped for lack of a
# listener (also not while tearing down).
_tb_up_nfq() {
	local hv ns us dir bport ipt match=() pidf
	IFS=: read -r hv us dir <<<"$1"
	ns=$(tb_ns "$hv")
	pidf=$TB_DIR/nfqdelay-$hv
	bport=eth0
	[[ $wire == vxlan ]] && bport=vxlan0
	case ${dir:-both} in
	to-vm) match=(-m physdev --physdev-in "$bport") ;;
	from-vm) match=(-m physdev --physdev-out "$bport") ;;
	esac
	# br_netfilter hands bridged frames to iptables only with this set.
	ip netns exec "$ns" sh -c 'echo 1 >/proc/sys/net/bridge/bridge-nf-call-iptables' || return 1
	_tb_spawn "$pidf.pid" "$pidf.log" ip netns exec "$ns" "$nfqdelay" --queue 0 \
		--delay-us "$us" --pidfile "$pidf.ready" || return 1
	if ! _tb_wait_file "$pidf.ready" 50 "$(<"$pidf.pid")"; then
		_tb_err "nfqdelay in $hv did not start:"
		tail -n 5 "$pidf.log" >&2
		return 1
	fi
	# Whichever iptables backend works here; the legacy one is the fallback.
	for ipt in iptables iptables-legacy; do
		command -v "$ipt" >/dev/null || continue
		if ip netns exec "$ns" "$ipt" -A FORWARD "${match[@]}" -j NFQUEUE --queue-num 0 \
			--queue-bypass 2>/dev/null; then
			return 0
		fi
	done
	_tb_err "could not add the NFQUEUE rule in $ns (no working iptables?)"
	return 1
}

# ---------------------------------------------------------------------------
# down
# ---------------------------------------------------------------------------

tb_down() {
	_tb_init || return 1
	local f pid ns i left
	local -a pids=()
	if [[ -d $TB_DIR ]]; then
		for f in "$TB_DIR"/*.pid "$TB_DIR"/*.ready; do
			[[ -f $f ]] || continue
			pid=$(<"$f")
			[[ $pid =~ ^[0-9]+$ ]] && _tb_is_ours "$pid" && pids+=("$pid")
		done
	fi
	# Anything still running inside our namespaces would keep them alive
	# (with their devices) after "ip netns del", so it goes too.
	for ns in "$TB_NS1" "$TB_NS2"; do
		[[ -e /run/netns/$ns ]] || continue
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			pids+=("$pid")
		done
	done
	if ((${#pids[@]})); then
		kill -TERM "${pids[@]}" 2>/dev/null
		for ((i = 0; i < 40; i++)); do
			left=
			for pid in "${pids[@]}"; do
				_tb_alive "$pid" && left=1
			done
			[[ -z $left ]] && break
			sleep 0.05
		done
		[[ -n $left ]] && kill -KILL "${pids[@]}" 2>/dev/null
	fi
	if [[ -f $TB_DIR/wirefwd.log ]] && [[ -z ${TB_QUIET:-} ]]; then
		grep '"event":"exit"' "$TB_DIR/wirefwd.log" | tail -n 1 | sed 's/^/testbed: wirefwd counts: /' >&2
	fi
	for ns in "$TB_NS1" "$TB_NS2"; do
		if [[ -e /run/netns/$ns ]]; then
			ip netns del "$ns" || _tb_err "could not delete namespace $ns"
		fi
	done
	rm -rf "$TB_DIR"
	rmdir "$TB_STATE_ROOT" 2>/dev/null
	return 0
}

# ---------------------------------------------------------------------------
# queries
# ---------------------------------------------------------------------------

_tb_need_up() {
	_tb_init || return 1
	if [[ ! -f $TB_DIR/vms || ! -f $TB_DIR/config ]]; then
		_tb_err "test bed '$ST_TB' is not up"
		return 1
	fi
	# shellcheck disable=SC1091
	. "$TB_DIR/config"
}

# Prints one field of a VM's record: name hv ns tap ip prefix mac delay.
_tb_vm_field() {
	local want=$1 vm=$2 name hv ns tap ip prefix mac d
	_tb_need_up || return 1
	while read -r name hv ns tap ip prefix mac d; do
		if [[ $name == "$vm" ]]; then
			case $want in
			hv) echo "$hv" ;; ns) echo "$ns" ;; tap) echo "$tap" ;; ip) echo "$ip" ;;
			prefix) echo "$prefix" ;; mac) echo "$mac" ;; delay) echo "$d" ;;
			esac
			return 0
		fi
	done <"$TB_DIR/vms"
	_tb_err "no VM named '$vm' in test bed '$ST_TB'"
	return 1
}

tb_vm_ip() { _tb_vm_field ip "$1"; }
tb_vm_mac() { _tb_vm_field mac "$1"; }
tb_vm_tap() { _tb_vm_field tap "$1"; }
tb_vm_hv() { _tb_vm_field hv "$1"; }
tb_vm_ns() { _tb_vm_field ns "$1"; }
tb_vm_pid() { _tb_vm_field ip "$1" >/dev/null && cat "$TB_DIR/$1.pid"; }
tb_vms() { _tb_need_up && cut -d' ' -f1 "$TB_DIR/vms"; }

_tb_ifindex() { # ns dev -> ifindex or null
	local out
	out=$(ip -n "$1" -o link show dev "$2" 2>/dev/null) && echo "${out%%:*}" || echo null
}

_tb_json_str() { [[ -n $1 ]] && printf '"%s"' "$1" || printf null; }

tb_info_json() {
	_tb_need_up || return 1
	local hv ns sep=' ' inode uplink bport underlay name vhv vns tap ip prefix mac d pid
	printf '{"testbed":"%s","state_dir":"%s","switch":"%s","wire":"%s","wire_delay_us":%s,"tbf":%s,' \
		"$ST_TB" "$TB_DIR" "${TB_SWITCH:-bridge}" "$TB_WIRE" "$TB_WIRE_DELAY_US" "$(_tb_json_str "$TB_TBF")"
	printf '"hvs":['
	for hv in hv1 hv2; do
		ns=$(tb_ns "$hv")
		inode=$(stat -L -c %i "/run/netns/$ns" 2>/dev/null || echo null)
		uplink=eth0 bport=eth0 underlay=
		if [[ $TB_WIRE == vxlan ]]; then
			bport=vxlan0
			[[ $hv == hv1 ]] && underlay=$TB_UNDERLAY1 || underlay=$TB_UNDERLAY2
		fi
		printf '%s{"name":"%s","netns":"%s","netns_path":"/run/netns/%s","netns_inode":%s,' \
			"$sep" "$hv" "$ns" "$ns" "$inode"
		printf '"bridge":"%s","bridge_ifindex":%s,"uplink":"%s","uplink_ifindex":%s,' \
			"$TB_BRIDGE" "$(_tb_ifindex "$ns" "$TB_BRIDGE")" "$uplink" "$(_tb_ifindex "$ns" "$uplink")"
		printf '"uplink_kind":"%s","bridge_uplink":"%s","bridge_uplink_ifindex":%s,"underlay_ip":%s}' \
			"$([[ $TB_WIRE == fwd ]] && echo tap || echo veth)" "$bport" \
			"$(_tb_ifindex "$ns" "$bport")" "$(_tb_json_str "$underlay")"
		sep=,
	done
	printf '],"vms":['
	sep=
	while read -r name vhv vns tap ip prefix mac d; do
		pid=$(cat "$TB_DIR/$name.pid" 2>/dev/null)
		printf '%s{"name":"%s","hv":"%s","netns":"%s","netns_inode":%s,"tap":"%s","tap_ifindex":%s,' \
			"$sep" "$name" "$vhv" "$vns" "$(stat -L -c %i "/run/netns/$vns" 2>/dev/null || echo null)" \
			"$tap" "$(_tb_ifindex "$vns" "$tap")"
		printf '"ip":"%s","prefix":%s,"mac":"%s","reply_delay_us":%s,"pid":%s,"ctl":"%s"}' \
			"$ip" "$prefix" "$mac" "$d" "${pid:-null}" "$TB_DIR/$name.sock"
		sep=,
	done <"$TB_DIR/vms"
	printf '],"wirefwd":'
	if [[ $TB_WIRE == fwd ]]; then
		printf '{"pid":%s,"delay_us":%s}' "$(cat "$TB_DIR/wirefwd.pid" 2>/dev/null || echo null)" \
			"$TB_WIRE_DELAY_US"
	else
		printf null
	fi
	printf ',"nfq_delays":['
	sep=
	local nfq nhv nus ndir
	for nfq in ${TB_NFQ:-}; do
		IFS=: read -r nhv nus ndir <<<"$nfq"
		printf '%s{"hv":"%s","netns":"%s","delay_us":%s,"direction":"%s","queue":0,"pid":%s}' \
			"$sep" "$nhv" "$(tb_ns "$nhv")" "$nus" "${ndir:-both}" \
			"$(cat "$TB_DIR/nfqdelay-$nhv.pid" 2>/dev/null || echo null)"
		sep=,
	done
	printf ']}\n'
}

tb_info() {
	_tb_need_up || return 1
	local hv ns name vhv vns tap ip prefix mac d
	local extra=
	[[ $TB_WIRE == fwd ]] && extra=" (one-way delay $TB_WIRE_DELAY_US us)"
	echo "test bed $ST_TB: switch ${TB_SWITCH:-bridge}, wire $TB_WIRE$extra${TB_TBF:+, tbf $TB_TBF}${TB_NFQ:+, nfq delay $TB_NFQ}; state $TB_DIR"
	for hv in hv1 hv2; do
		ns=$(tb_ns "$hv")
		printf '  %-4s netns %-12s inode %-11s bridge %s  uplink eth0%s\n' "$hv" "$ns" \
			"$(stat -L -c %i "/run/netns/$ns" 2>/dev/null)" "$TB_BRIDGE" \
			"$([[ $TB_WIRE == vxlan ]] && echo ' (underlay) + vxlan0')"
	done
	while read -r name vhv vns tap ip prefix mac d; do
		printf '  %-11s %s  %-15s %-18s %s  reply delay %s us\n' "$name" "$vhv" "$tap" \
			"$ip/$prefix" "$mac" "$d"
	done <"$TB_DIR/vms"
}

# Exit status: 0 healthy, 1 broken or partial, 3 not up at all.
tb_status() {
	_tb_init || return 1
	local ns rc=0 name hv vns tap ip prefix mac d pid any=
	for ns in "$TB_NS1" "$TB_NS2"; do [[ -e /run/netns/$ns ]] && any=1; done
	[[ -d $TB_DIR ]] && any=1
	if [[ -z $any ]]; then
		echo "test bed $ST_TB: down"
		return 3
	fi
	if [[ -f $TB_DIR/config ]]; then
		# shellcheck disable=SC1091
		. "$TB_DIR/config"
	fi
	echo "test bed $ST_TB: switch ${TB_SWITCH:-bridge}, wire ${TB_WIRE:-?}, state $TB_DIR"
	for ns in "$TB_NS1" "$TB_NS2"; do
		if [[ -e /run/netns/$ns ]]; then
			echo "  netns $ns (inode $(stat -L -c %i "/run/netns/$ns")):"
			if [[ ${TB_SWITCH:-bridge} == ovs ]]; then
				ovs-vsctl --db=unix:"$TB_DIR/ovs-${ns##*-}/db.sock" --timeout=5 list-ports "$TB_BRIDGE" |
					sed 's/^/    ovs port /' || rc=1
			else
				bridge -n "$ns" link show | sed -E 's/^[0-9]+: ([^:]+):.* state ([a-z]+).*/    port \1 \2/'
				if bridge -n "$ns" link show | grep -v 'state forwarding' | grep -q .; then rc=1; fi
			fi
		else
			echo "  netns $ns: MISSING"
			rc=1
		fi
	done
	if [[ -f $TB_DIR/vms ]]; then
		while read -r name hv vns tap ip prefix mac d; do
			pid=$(cat "$TB_DIR/$name.pid" 2>/dev/null)
			if [[ -n $pid ]] && _tb_is_ours "$pid"; then
				echo "  vm $name ($hv $tap $ip) pid $pid running"
			else
				echo "  vm $name ($hv $tap $ip) NOT RUNNING"
				rc=1
			fi
		done <"$TB_DIR/vms"
	else
		rc=1
	fi
	local nfq nhv
	for nfq in ${TB_NFQ:-}; do
		nhv=${nfq%%:*}
		pid=$(cat "$TB_DIR/nfqdelay-$nhv.pid" 2>/dev/null)
		if [[ -n $pid ]] && _tb_is_ours "$pid"; then
			echo "  nfqdelay $nfq pid $pid running"
		else
			echo "  nfqdelay $nfq NOT RUNNING (its traffic now passes undelayed)"
			rc=1
		fi
	done
	if [[ ${TB_WIRE:-} == fwd ]]; then
		pid=$(cat "$TB_DIR/wirefwd.pid" 2>/dev/null)
		if [[ -n $pid ]] && _tb_is_ours "$pid"; then
			kill -USR1 "$pid"
			echo "  wirefwd pid $pid running (counts go to $TB_DIR/wirefwd.log)"
		else
			echo "  wirefwd NOT RUNNING"
			rc=1
		fi
	fi
	((rc == 0)) && echo "  healthy" || echo "  BROKEN (run 'down' and 'up' again)"
	return $rc
}

# ---------------------------------------------------------------------------
# traffic and control
# ---------------------------------------------------------------------------

tb_ctl() {
	local vm=$1
	shift
	_tb_vm_field ip "$vm" >/dev/null || return 1
	"$TB_VMSIM" --ctl "$TB_DIR/$vm.sock" "$@"
}

tb_traffic() {
	_tb_need_up || return 1
	local from= to= peer cmd dur= count=
	local -a kv=()
	while (($#)); do
		case $1 in
		--from) from=${2:-} ;;
		--to) to=${2:-} ;;
		--proto) kv+=("proto=${2:-}") ;;
		--rate) kv+=("rate=${2:-}") ;;
		--duration) dur=${2:-} ;;
		--count) count=${2:-} ;;
		--dport) kv+=("dport=${2:-}") ;;
		--sport) kv+=("sport=${2:-}") ;;
		--size) kv+=("size=${2:-}") ;;
		--wait-ms) kv+=("wait_ms=${2:-}") ;;
		*) _tb_err "traffic: unknown option '$1'"; return 1 ;;
		esac
		shift 2 || { _tb_err "traffic: option '$1' needs a value"; return 1; }
	done
	[[ -n $from && -n $to ]] || { _tb_err "traffic: --from VM and --to VM|IP are required"; return 1; }
	if _tb_valid_ip "$to"; then
		peer=$to
	else
		peer=$(tb_vm_ip "$to") || return 1
	fi
	if [[ -n $count ]]; then
		kv+=("count=$count")
		[[ -n $dur ]] && { _tb_err "traffic: --count and --duration exclude each other"; return 1; }
	else
		kv+=("duration=${dur:-1}")
	fi
	cmd="traffic peer=$peer ${kv[*]}"
	tb_ctl "$from" $cmd
}

# ---------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------

_tb_main() {
	local sub=${1:-}
	shift || true
	case $sub in
	up)
		# Ctrl-C or a kill during "up" must not leave half a test bed behind.
		trap 'trap - INT TERM; _tb_err "interrupted"; TB_QUIET=1 tb_down; exit 130' INT TERM
		tb_up "$@"
		;;
	down) tb_down ;;
	status) tb_status ;;
	info)
		if [[ ${1:-} == --json ]]; then tb_info_json; else tb_info; fi
		;;
	traffic) tb_traffic "$@" ;;
	ns) tb_ns "${1:-}" ;;
	inode) tb_netns_inode "${1:-}" ;;
	exec) tb_exec "$@" ;;
	ctl) tb_ctl "$@" ;;
	-h | --help | help) _tb_usage ;;
	"") _tb_usage >&2; return 2 ;;
	*) _tb_err "unknown command '$sub' (see --help)"; return 2 ;;
	esac
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	if ((EUID != 0)); then
		case ${1:-} in -h | --help | help | "") ;; *) _tb_err "must run as root"; exit 1 ;; esac
	fi
	_tb_main "$@"
	exit $?
fi
