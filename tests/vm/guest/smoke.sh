#!/bin/bash
# SPDX-License-Identifier: MIT
# Smoke test: the guest boots the Debian kernel, sees the host root and
# runs this repository's binaries.
. "$ST_VM_REPO/tests/vm/guest-lib.sh"
vm_check kernel "$(uname -r)" test "$KREL" = "$(basename "$(ls -d "$ST_VM_TREE"/lib/modules/*)")"
"$ST" -h | head -3; vm_check binaries "stagetrace -h" "$ST" -h
vm_check modprobe "openvswitch tun vhost_net" vm_modprobe openvswitch tun vhost_net
ls /sys/kernel/btf | head
