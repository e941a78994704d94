#!/bin/bash
# SPDX-License-Identifier: MIT
# stagetrace virt virtio --rcvbuf inside a guest with a real virtio-net NIC
# (qemu -nic user,model=virtio-net-pci from tests/vm/run.sh; slirp behind
# it, gateway 10.0.2.2, IPv6 off, so nothing arrives unasked).
#
# The driver is reloaded first, so the device starts with an empty RX ring
# and its first open fills the whole ring. The tracer runs across that
# open and N ICMP echo requests of P bytes to 10.0.2.2, which slirp
# answers itself: N replies of exactly 14 + 20 + 8 + P bytes. Asserted:
#  - every hook attaches (the method and the reasons for passing over an
#    earlier one are printed), and every alternative (fentry/fexit and
#    kprobe/kretprobe) passes the verifier (--check-hooks);
#  - the open: fills outside NAPI posted exactly RING slots (RING: the
#    driver's ring size, ethtool -g), mode mergeable (qemu's default);
#  - frames = the driver's rx_packets delta; the length histogram has
#    exactly N frames of 14+20+8+P bytes and none longer; every frame
#    fitted one buffer (MULTI 0), each buffer's true size is at least the
#    driver's floor for a 1500-byte MTU (1518 + the header: what
#    get_mergeable_buf_len gives for small averages) and at most a page;
#  - NAPI refills: the driver tops the ring up inside NAPI once more than
#    half a run's budget (64 / 2) of slots are free, so with N > 32 frames
#    at least one fill ran in NAPI and posted at least 33 slots, and the
#    NAPI fills posted no more than the frames consumed;
#  - no fill ran out of memory and the deferred refill work never ran
#    (Debian's kernels have no fault injection to force one; those paths
#    are counted, and their hooks attached, but not exercised).
# vm-test-timeout: 600
. "$ST_VM_REPO/tests/vm/guest-lib.sh"
N=40
P=1000
FRAME=$((14 + 20 + 8 + P))
RT=/tmp/rcvbuf-guest
mkdir -p "$RT"
TJ=
TT=
trap '[[ -n $TJ ]] && kill -TERM $TJ 2>/dev/null; [[ -n $TT ]] && kill -TERM $TT 2>/dev/null; rm -rf "$RT"' EXIT
dev=$(vm_virtio_nic) || { vm_fail rcvbuf-nic "no virtio-net device (qemu -nic user,model=virtio-net-pci missing?)"; exit 1; }
# A fresh device: the ring's buffers are freed only when the device goes.
ip link set "$dev" down
rmmod virtio_net || { vm_fail rcvbuf-reload "rmmod virtio_net"; exit 1; }
dev=$(vm_virtio_nic) || { vm_fail rcvbuf-nic "no virtio-net device after reloading virtio_net"; exit 1; }
ring=$(ethtool -g "$dev" | awk '/^Current/ { c = 1 } c && /^RX:/ { print $2; exit }')
echo "guest: $dev, RX ring $ring (ethtool -g)"

"$ST" virt virtio --rcvbuf --check-hooks >"$RT/check.out" 2>&1
sed 's/^/guest: check| /' "$RT/check.out"
nload=$(grep -c 'loaded (verifier accepted)' "$RT/check.out")
vm_check rcvbuf-check-hooks "$nload of 8 alternatives (fentry/fexit and kprobe/kretprobe of 4 hooks) loaded" \
	test "$nload" -eq 8

start() {	# name, args...
	local n=$1
	shift
	"$ST" virt virtio --rcvbuf -i 600 "$@" >"$RT/$n.out" 2>"$RT/$n.err" &
	eval "$n=\$!"
	for _ in $(seq 1200); do
		grep -q '^Tracing' "$RT/$n.err" && break
		kill -0 $! 2>/dev/null || break
		sleep 0.1
	done
	sed "s/^/guest: $n| /" "$RT/$n.err"
	grep -q '^Tracing' "$RT/$n.err" || { vm_fail rcvbuf-start "virt virtio --rcvbuf $* did not start"; exit 1; }
}
start TJ --json
start TT
rx0=$(cat "/sys/class/net/$dev/statistics/rx_packets")
ip link set "$dev" up
ip addr replace 10.0.2.15/24 dev "$dev"
sleep 0.5
"$O/tests/tools/icmpping" 10.0.2.2 "$N" 50 4242 3000 "$P" >"$RT/ping.out"
tail -n 1 "$RT/ping.out" | sed 's/^/guest: icmpping: /'
sleep 1
kill -INT $TJ $TT
timeout 30 tail --pid=$TJ -f /dev/null
timeout 30 tail --pid=$TT -f /dev/null
TJ= TT=
rx=$(($(cat "/sys/class/net/$dev/statistics/rx_packets") - rx0))
sed 's/^/guest: text| /' "$RT/TT.out"
J=$(grep '"type":"interval"' "$RT/TJ.out" | tail -n 1)
echo "guest: rcvbuf: $(jq -c '{queues, frame_len: (.frame_len | del(.buckets)), buf_truesize: (.buf_truesize | del(.buckets)), lost_map_full, lost_hist_full, no_dev, fill_unpaired}' <<<"$J")"
echo "guest: rcvbuf: hooks $(jq -c '[.hooks[] | "\(.hook)=\(.method // "-") \(.status)"]' <<<"$J")"
got=$(grep -c '^reply' "$RT/ping.out")
vm_check rcvbuf-replies "$got of $N echo replies came back ($FRAME-byte frames)" test "$got" -eq "$N"

# Each hook attached (the counts below prove they see the driver); the
# method each took and why an earlier one was passed over are printed.
first=$(jq -r '[.hooks[] | .method // "-"] | join(",")' <<<"$J")
navail=$(jq '[.hooks[] | select(.status == "available")] | length' <<<"$J")
echo "guest: rcvbuf: plan reasons $(jq -c '[.hooks[] | select(.reason != "") | "\(.hook): \(.reason)"]' <<<"$J")"
vm_check rcvbuf-hooks "$navail of 4 hooks attached; methods virtnet_poll,try_fill_recv,refill_work,receive_buf: $first" \
	test "$navail" -eq 4
q() { jq -r "[.queues[] | select(.dev == \"$dev\" and .queue == 0)][0].$1 // 0" <<<"$J"; }
vm_check rcvbuf-open "fills outside NAPI $(q fills_other) posted $(q posted_other) slots; ring $ring (tool: $(q ring)); mode $(q rx_mode)" \
	test "$(q posted_other)" = "$ring" -a "$(q ring)" = "$ring" -a "$(q rx_mode)" = mergeable -a "$ring" -gt 0
vm_check rcvbuf-frames "receive_buf frames $(q frames); driver rx_packets +$rx" \
	test "$(q frames)" = "$rx" -a "$rx" -ge "$N"
# Frames of exactly FRAME bytes, from the buckets that hold FRAME.
inb=$(jq "[.frame_len.buckets[] | select(.[0] <= $FRAME and $FRAME < .[1]) | .[2]] | add // 0" <<<"$J")
vm_check rcvbuf-len "frames in the bucket of $FRAME bytes: $inb (want $N); longest $(jq .frame_len.max_bytes <<<"$J") (want $FRAME); histogram count $(jq .frame_len.count <<<"$J") = frames $(q frames)" \
	test "$inb" = "$N" -a "$(jq .frame_len.max_bytes <<<"$J")" = "$FRAME" -a "$(jq .frame_len.count <<<"$J")" = "$(q frames)"
tmin=$(jq .buf_truesize.min_bytes <<<"$J") tmax=$(jq .buf_truesize.max_bytes <<<"$J")
vm_check rcvbuf-truesize "buffer true sizes $tmin..$tmax bytes for $(jq .buf_truesize.count <<<"$J") buffers; frames over several buffers: $(q multi_buf)" \
	test "$(jq .buf_truesize.count <<<"$J")" = "$(q frames)" -a "$(q multi_buf)" = 0 \
	-a "${tmin%.*}" -ge $((1518 + $(q hdr_len))) -a "${tmax%.*}" -le 4096
vm_check rcvbuf-napi "fills in NAPI $(q fills_napi), posted $(q posted_napi) slots (want >= 33 and <= frames $(q frames))" \
	test "$(q fills_napi)" -ge 1 -a "$(q posted_napi)" -ge 33 -a "$(q posted_napi)" -le "$(q frames)"
vm_check rcvbuf-oom "fills out of memory $(q fill_oom), deferred refills $(q refill_work), unpaired fill exits $(jq .fill_unpaired <<<"$J"), lost $(jq '.lost_map_full + .lost_hist_full' <<<"$J")" \
	test "$(q fill_oom)" = 0 -a "$(q refill_work)" = 0 -a "$(jq .fill_unpaired <<<"$J")" = 0 \
	-a "$(jq '.lost_map_full + .lost_hist_full' <<<"$J")" = 0
exit 0
