#!/bin/busybox sh
# SPDX-License-Identifier: MIT
# /init of the kernel-matrix initramfs (tests/vm/lib.sh builds it): load the
# virtio and 9p modules packed in /mods (numbered in dependency order),
# mount the host's root read-only over 9p and hand over to the guest init
# script from the repository ($st_init, from the kernel command line).
/bin/busybox mkdir -p /proc /sys /dev
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
/bin/busybox mount -t devtmpfs dev /dev
for m in /mods/*.ko; do
	/bin/busybox insmod "$m" || echo "initramfs: insmod $m failed"
done
# virtio devices probe asynchronously after their driver loads.
i=0
while [ $i -lt 50 ]; do
	/bin/busybox mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose \
		hostroot /newroot 2>/dev/null && break
	/bin/busybox sleep 0.1
	i=$((i + 1))
done
if [ ! -x "/newroot$st_init" ]; then
	echo "initramfs: cannot mount the host root over 9p or no $st_init; powering off"
	/bin/busybox poweroff -f
fi
/bin/busybox mount --move /proc /newroot/proc
/bin/busybox mount --move /sys /newroot/sys
/bin/busybox mount --move /dev /newroot/dev
exec /bin/busybox switch_root /newroot "$st_init"
