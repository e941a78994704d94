#!/bin/bash
# SPDX-License-Identifier: MIT
# PID 1 of a kernel-matrix guest, after the initramfs switched to the host's
# root (read-only over 9p). Gives the guest writable scratch space (tmpfs on
# /tmp, /run, /var/tmp, /var/log, /root), mounts the results share, bpffs and
# tracefs, then runs the guest script named on the kernel command line
# ($st_script, arguments in $st_args separated by commas) and powers off.
#
# Guest scripts write verdict lines with vm_pass/vm_fail (tests/vm/guest-lib.sh)
# into /run/vmout/results.txt; this init appends "DONE" last, so a host that
# finds no DONE knows the guest died half-way.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root
# The checkout and build directory may live below one of the directories
# the scratch tmpfs covers (a CI clone in /tmp or /root): keep them visible
# by binding them aside first and back onto the same paths afterwards.
scratch="/tmp /run /var/tmp /var/log /root"
keep=()
for p in "$st_repo" "$st_build"; do
	for d in $scratch; do
		[[ $p == "$d" || $p == "$d"/* ]] && keep+=("$p")
	done
done
if ((${#keep[@]})); then
	mount -t tmpfs tmpfs /mnt
	for i in "${!keep[@]}"; do
		mkdir -p "/mnt/k$i" && mount --bind "${keep[$i]}" "/mnt/k$i"
	done
fi
for d in $scratch; do
	mount -t tmpfs -o mode=1777 tmpfs "$d"
done
for i in "${!keep[@]}"; do
	mkdir -p "${keep[$i]}" && mount --bind "/mnt/k$i" "${keep[$i]}"
done
mkdir -p /run/vmout /run/netns
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 vmout /run/vmout
mount -t bpf bpf /sys/fs/bpf
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
# The guest has no network besides loopback and what the tests build.
# No IPv6: a tap or bridge with only an IPv6 link-local address makes
# glibc's getaddrinfo (AI_ADDRCONFIG) refuse 127.0.0.1 (EAI_ADDRFAMILY),
# which cuts the agent off its collector; and no router solicitations
# crossing the datapath under test.
sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
ip link set lo up
echo "guest: $(uname -r) up $(cut -d' ' -f1 /proc/uptime)s, running $st_script" >/dev/console

IFS=, read -r -a args <<<"${st_args:-}"
export ST_VM_TREE=$st_tree ST_VM_REPO=$st_repo ST_VM_OUT=/run/vmout O=$st_build
timeout "${st_guest_timeout:-900}" bash "$st_script" "${args[@]}" >/dev/console 2>&1
rc=$?
echo "guest: script exited $rc" >/dev/console
echo "DONE rc=$rc" >>/run/vmout/results.txt
sync
umount /run/vmout
echo o >/proc/sysrq-trigger
sleep 5
busybox poweroff -f
