# SPDX-License-Identifier: MIT
# Host side of the qemu kernel matrix: find, fetch and cache Debian kernels,
# build a busybox initramfs per kernel, boot a guest under a timeout and read
# its verdicts back.
#
# The guest shares the host's root file system read-only over 9p (virtfs),
# so it runs this repository's freshly built binaries and the host's tools
# (ip, ovs-vsctl, modprobe) with the host's shared libraries; only the kernel
# differs. Kernel packages are never installed on this machine: they are
# fetched with `apt-get download` and unpacked with `dpkg -x` into
# $VM_CACHE/<release>/, which the guest also reads over 9p (its modules come
# from there with `modprobe -d`).
#
# Verdict protocol: the guest writes lines "PASS <name> ..." / "FAIL <name>
# ..." / "SKIP <name> ..." into results.txt in a second, writable 9p share,
# and the line "DONE" as the very last thing before powering off. A run
# without "DONE" (timeout, panic, hung guest) is a failure, never a pass.

VM_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VM_CACHE=${ST_VM_CACHE:-/var/cache/stagetrace-vmtest}
VM_MEM=${ST_VM_MEM:-2048}
VM_SMP=${ST_VM_SMP:-2}
# Round-robin TCG (one host thread for all vCPUs), not multi-threaded TCG:
# with MTTCG the 6.12 guest crashed twice in CI on int3 text patching (an
# Oops in sched_clock_cpu at boot, one in consume_skb while a tracepoint was
# enabled; both while another vCPU ran the instruction being patched).
# ST_VM_TCG_THREAD=multi restores MTTCG for experiments.
VM_TCG_THREAD=${ST_VM_TCG_THREAD:-single}
# ST_VM_NIC=user gives the guest a virtio-net NIC on qemu's user-mode
# network (slirp: gateway 10.0.2.2, no IPv6, so it sends nothing
# unasked). Off by default; run.sh turns it on when the virtio guest test
# runs. The guest only drives it once a test loads virtio_net, so other
# tests see no difference.
VM_NIC=${ST_VM_NIC:-}

vm_log() { echo "vmtest: $*" >&2; }

# The apt-cache name pattern of each kernel series we test.
vm_series_pattern() {
	case $1 in
	6.1) echo '^linux-image-6\.1\.0-[0-9]+-amd64-unsigned$' ;;
	6.12) echo '^linux-image-6\.12\.[0-9]+\+deb12-amd64-unsigned$' ;;
	*) return 1 ;;
	esac
}

# vm_resolve SERIES: the newest package name of the series that apt knows.
vm_resolve() {
	local pat
	pat=$(vm_series_pattern "$1") || { vm_log "unknown kernel series '$1'"; return 1; }
	apt-cache search --names-only "$pat" 2>/dev/null | awk '{print $1}' |
		grep -E "$pat" | sort -V | tail -n 1
}

# vm_apt_download PKG...: download Debian packages into a new temporary
# directory under the cache and print its path (the caller unpacks and
# removes it); non-zero after a one-line log when the download fails.
vm_apt_download() {
	local tmp
	mkdir -p "$VM_CACHE" || return 1
	tmp=$(mktemp -d "$VM_CACHE/.dl.XXXXXX") || return 1
	# apt's _apt user cannot write into a root-only directory; let it.
	chmod 755 "$tmp"
	chown _apt "$tmp" 2>/dev/null
	if ! (cd "$tmp" && timeout 600 apt-get download -q "$@" >&2); then
		vm_log "ERROR: apt-get download $* failed"
		rm -rf "$tmp"
		return 1
	fi
	echo "$tmp"
}

# vm_kernel SERIES: prints the cache directory holding the unpacked kernel
# of the series (boot/vmlinuz-*, lib/modules/<release>/ with modules.dep),
# downloading and unpacking it first when it is not cached. Fails loudly
# when the package can neither be resolved nor downloaded and nothing is
# cached.
vm_kernel() {
	local series=$1 pkg rel dir tmp deb
	pkg=$(vm_resolve "$series")
	if [[ -z $pkg ]]; then
		# No apt lists (offline machine): a cached kernel still counts,
		# but say which one is used.
		dir=$(ls -d "$VM_CACHE"/"$series".*/ "$VM_CACHE"/"$series"-*/ 2>/dev/null |
			sort -V | tail -n 1)
		if [[ -n $dir && -e $dir/.ready ]]; then
			vm_log "apt knows no $series kernel package; using cached ${dir%/}"
			echo "${dir%/}"
			return 0
		fi
		vm_log "ERROR: no Debian $series kernel package found with apt-cache" \
			"(pattern $(vm_series_pattern "$series")) and none cached in $VM_CACHE"
		return 1
	fi
	rel=${pkg#linux-image-}
	rel=${rel%-unsigned}
	dir=$VM_CACHE/$rel
	if [[ -e $dir/.ready ]]; then
		echo "$dir"
		return 0
	fi
	vm_log "fetching $pkg into $dir"
	tmp=$(vm_apt_download "$pkg") || return 1
	deb=$(ls "$tmp"/*.deb 2>/dev/null | head -n 1)
	rm -rf "$dir"
	mkdir -p "$dir"
	if ! dpkg -x "$deb" "$dir" || [[ ! -d $dir/lib/modules/$rel ]]; then
		vm_log "ERROR: unpacking $deb failed (or no lib/modules/$rel in it)"
		rm -rf "$tmp" "$dir"
		return 1
	fi
	rm -rf "$tmp"
	# The package's postinst would run depmod; we never install it, so
	# build modules.dep in the cached tree for `modprobe -d`.
	if ! depmod -b "$dir" "$rel"; then
		vm_log "ERROR: depmod for $rel failed"
		return 1
	fi
	touch "$dir/.ready"
	echo "$dir"
}

# The kernel release inside a cached tree ("6.1.0-56-amd64").
vm_release() { ls "$1/lib/modules" | head -n 1; }

# vm_moddeps TREE MODULE...: module files to insmod, dependencies first,
# each once, from the tree's modules.dep (built-in modules print nothing).
vm_moddeps() {
	local tree=$1 rel
	shift
	rel=$(vm_release "$tree")
	awk -v want="$*" '
		BEGIN { n = split(want, w, " "); for (i = 1; i <= n; i++) { gsub("-", "_", w[i]); need[w[i]] = 1 } }
		{
			f = $1; sub(":$", "", f)
			m = f; sub(".*/", "", m); sub("\\.ko(\\.[a-z]+)?$", "", m); gsub("-", "_", m)
			if (!(m in need)) next
			# modules.dep lists dependencies so that loading them
			# from the last to the first works.
			for (i = NF; i >= 2; i--) if (!seen[$i]++) order[++k] = $i
			if (!seen[f]++) order[++k] = f
		}
		END { for (i = 1; i <= k; i++) print order[i] }
	' "$tree/lib/modules/$rel/modules.dep"
}

# vm_initramfs TREE OUT: a cpio with busybox-static, the modules needed to
# mount the host root over 9p (decompressed: busybox insmod takes plain
# .ko files) and tests/vm/initramfs-init.sh as /init.
vm_initramfs() {
	local tree=$1 out=$2 rel root f n=0
	rel=$(vm_release "$tree")
	root=$(mktemp -d /tmp/stagetrace-vminitrd.XXXXXX) || return 1
	mkdir -p "$root"/{bin,dev,proc,sys,newroot,mods}
	cp /bin/busybox "$root/bin/busybox" || { rm -rf "$root"; return 1; }
	cp "$VM_REPO/tests/vm/initramfs-init.sh" "$root/init"
	chmod 755 "$root/init"
	# virtio_pci is built in on 6.12 and a module on 6.1.
	while read -r f; do
		n=$((n + 1))
		case $f in
		*.xz) xz -dc "$tree/lib/modules/$rel/$f" >"$root/mods/$(printf '%02d' $n).ko" ;;
		*.zst) zstd -qdc "$tree/lib/modules/$rel/$f" >"$root/mods/$(printf '%02d' $n).ko" ;;
		*) cp "$tree/lib/modules/$rel/$f" "$root/mods/$(printf '%02d' $n).ko" ;;
		esac || { rm -rf "$root"; return 1; }
	done < <(vm_moddeps "$tree" virtio_pci 9pnet_virtio 9p)
	# busybox's own cpio: no dependency on the cpio package.
	(set -o pipefail; cd "$root" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1) >"$out"
	local rc=$?
	rm -rf "$root"
	return $rc
}

VM_QEMU_PIDS=()

# vm_boot TREE OUTDIR TIMEOUT GUEST_SCRIPT [ARGS...]: boots the kernel in
# TREE, runs GUEST_SCRIPT (a path on the host root, seen at the same path in
# the guest) via tests/vm/guest-init.sh, waits at most TIMEOUT seconds.
# OUTDIR receives console.log and the guest's results.txt. Returns qemu's
# (or timeout's) exit status; the verdict is in results.txt.
vm_boot() {
	local tree=$1 out=$2 tmo=$3 script=$4 rel kernel args
	shift 4
	rel=$(vm_release "$tree")
	kernel=$tree/boot/vmlinuz-$rel
	mkdir -p "$out"
	rm -f "$out/results.txt" "$out/console.log"
	vm_initramfs "$tree" "$out/initramfs.gz" || { vm_log "ERROR: initramfs for $rel"; return 1; }
	# Arguments for the guest script travel on the kernel command line as
	# environment variables of init (the kernel hands unknown name=value
	# parameters without dots to init's environment).
	args="st_init=$VM_REPO/tests/vm/guest-init.sh st_script=$script st_tree=$tree"
	args+=" st_repo=$VM_REPO st_build=${VM_BUILD:-$VM_REPO/build} st_args=$(IFS=,; echo "$*")"
	# The guest's own limit on its test script: a minute less than the
	# boot's, so a slow run ends with "DONE rc=124" (a FAIL on the host)
	# rather than a killed qemu.
	args+=" st_guest_timeout=$((tmo > 120 ? tmo - 60 : tmo))"
	local nic=()
	[[ $VM_NIC == user ]] && nic=(-nic "user,model=virtio-net-pci,ipv6=off")
	timeout --kill-after=10 "$tmo" qemu-system-x86_64 \
		-accel "tcg,thread=${VM_TCG_THREAD}" -cpu max -m "$VM_MEM" -smp "$VM_SMP" \
		-display none -monitor none -serial "file:$out/console.log" -no-reboot \
		-kernel "$kernel" -initrd "$out/initramfs.gz" \
		-append "console=ttyS0 panic=-1 loglevel=4 mitigations=off $args" \
		-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
		-virtfs "local,path=$out,mount_tag=vmout,security_model=none,multidevs=remap" \
		"${nic[@]}" \
		</dev/null >"$out/qemu.log" 2>&1 &
	local pid=$!
	VM_QEMU_PIDS+=("$pid")
	wait "$pid"
	local rc=$?
	VM_QEMU_PIDS=("${VM_QEMU_PIDS[@]/$pid/}")
	return $rc
}

# Kill the qemu processes this shell started (never anybody else's).
vm_cleanup() {
	local p
	for p in "${VM_QEMU_PIDS[@]}"; do
		[[ -n $p ]] && kill -TERM "$p" 2>/dev/null
	done
	VM_QEMU_PIDS=()
}

# vm_tally REL OUT: judge one guest run from OUT/results.txt (the guest's
# verdict lines, then "DONE rc=N") and OUT/console.log: a run that did not
# finish, or whose runner stopped early, is a FAIL; every PASS/FAIL/SKIP
# line is printed and added to the caller's pass, fail and skip counters.
vm_tally() {
	local rel=$1 out=$2 verdict name rest
	if [[ ! -s $out/results.txt ]] || ! grep -q '^DONE' "$out/results.txt"; then
		echo "FAIL $rel guest did not finish (timeout, panic or hang); console tail:"
		tail -n 30 "$out/console.log" 2>/dev/null | tr -d '\r' | sed 's/^/    /'
		fail=$((fail + 1))
	elif ! grep -q '^DONE rc=0$' "$out/results.txt"; then
		# The guest's test runner was stopped by the guest's own limit
		# (rc 124): the tests after the running one never ran.
		echo "FAIL $rel guest test run $(grep '^DONE' "$out/results.txt") (stopped by the guest's limit, ST_VM_TIMEOUT - 60 s): later tests did not run"
		fail=$((fail + 1))
	fi
	while read -r verdict name rest; do
		case $verdict in
		PASS) pass=$((pass + 1)) ;;
		FAIL) fail=$((fail + 1)) ;;
		SKIP) skip=$((skip + 1)) ;;
		*) continue ;;
		esac
		printf '%-4s %-24s %-22s %s\n' "$verdict" "$rel" "$name" "$rest"
	done < <(cat "$out/results.txt" 2>/dev/null)
	# Where the guest's time went: "TIME <test> <seconds>" per guest test.
	if grep -q '^TIME ' "$out/results.txt" 2>/dev/null; then
		echo "$rel test times (s): $(awk '$1 == "TIME" { printf "%s%s %s", sep, $2, $3; sep = ", " }' "$out/results.txt")"
	fi
	if [[ -n ${ST_VM_KEEP:-} ]]; then
		echo "kept: $out (console.log, results.txt)"
	fi
}
