#!/bin/sh
# SPDX-License-Identifier: MIT
# Install the Debian 12 packages stagetrace needs to build, test and run the
# demo. Idempotent: when everything is present it changes nothing and does
# not touch the network; otherwise it runs apt-get update once and installs
# what is missing.
set -eu

PKGS="make gcc clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev \
libnng-dev libprotobuf-c-dev protobuf-c-compiler libuv1-dev libcmocka-dev \
libsqlite3-dev sqlite3 libjson-c-dev pkg-config iproute2 jq xz-utils procps \
coreutils iptables openssl chromium"

# stagetrace iface reads link statistics over rtnetlink with libmnl; the
# offload test switches TSO/GSO with ethtool.
PKGS="$PKGS libmnl-dev ethtool"

# stagetrace cpu: the C library's debug symbols, so user stacks name its
# static functions too (common/usym.c reads /usr/lib/debug/.build-id).
PKGS="$PKGS libc6-dbg"

# tests/e2e/metrics_test.sh: a Prometheus server and promtool; curl for HTTP.
PKGS="$PKGS prometheus curl"

# tests/deploy/ansible_test.sh: the roles in deploy/ansible, linted and
# applied (python3-apt: the apt module on the targets, here this machine).
PKGS="$PKGS ansible ansible-lint python3-apt util-linux"

# tests/vm (make vmtest): qemu boots Debian kernels with a busybox-static
# initramfs; the guests run the host's Open vSwitch userspace.
PKGS="$PKGS qemu-system-x86 busybox-static openvswitch-switch"

# make vmtest-arm64 (tests/vm/run-arm64.sh): qemu-system-aarch64, the cross
# compiler and the arm64 -dev packages the CLI and kvmirq link (multiarch;
# the guest's own runtime packages are fetched with apt-get download).
ARM64_PKGS="libc6-dev:arm64 libbpf-dev:arm64 libelf-dev:arm64 zlib1g-dev:arm64 \
libnng-dev:arm64 libprotobuf-c-dev:arm64 libuv1-dev:arm64 libjson-c-dev:arm64 \
libsqlite3-dev:arm64 libmnl-dev:arm64"
PKGS="$PKGS qemu-system-arm gcc-aarch64-linux-gnu file $ARM64_PKGS"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
if [ -z "$missing" ]; then
	echo "deps: all packages present"
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "deps: error: need root to install:$missing" >&2
	exit 1
fi
echo "deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
# The :arm64 packages need the architecture known to dpkg before the update.
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
	dpkg --add-architecture arm64
fi
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "deps: done"
