// SPDX-License-Identifier: MIT
/*
 * vhostnet - plays a VM's virtio-net device through the kernel's vhost-net,
 * the way qemu hands a guest's queues to /dev/vhost-net, so packets flow
 * tap <-> vhost worker <-> virtqueue without any guest.
 *
 * The kernel matrix (tests/vm) needs the vhost-net data path for real: the
 * vhost worker thread taking frames from a TX virtqueue into the tap
 * (handle_tx -> tun_sendmsg -> tun_get_user) and copying the tap's frames
 * into RX virtqueue buffers (handle_rx -> tun_recvmsg), signalling the call
 * eventfd. This program is that device's "guest side": it owns one memory
 * region (identity-mapped: guest physical address == our virtual address),
 * two split virtqueues (0 = RX, 1 = TX) in it, and their kick/call
 * eventfds; vhost does the copying. No features are negotiated, so every
 * buffer starts with the 10-byte legacy virtio_net_hdr that the tap
 * (IFF_VNET_HDR) exchanges with vhost.
 *
 * It sends COUNT UDP datagrams from --ip/--mac to --peer/--peer-mac (one at
 * a time, each kicked separately, IPv4 id = sequence number), waits for the
 * answers an echo server sends back, and prints one JSON line:
 *   {"sent":N,"tx_used":N,"received":M,"rx_calls":K,"rx_signals":S,"echo_ok":M}
 * rx_calls counts reads of the RX call eventfd; rx_signals sums the values
 * read, i.e. how many times the kernel signalled it (reads coalesce).
 * Exit 0 when every datagram was taken by vhost and answered.
 *
 * --call-fd FD makes an inherited eventfd (non-blocking) the RX queue's
 * call eventfd instead of a new one: tests/tools/kvmirq binds it to a KVM
 * GSI with KVM_IRQFD first, so vhost's signal injects an interrupt the way
 * it does for a real guest.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/if_tun.h>
#include <linux/vhost.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>
#include <net/if.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define QN 64			/* descriptors per virtqueue */
#define BUF 2048		/* bytes per buffer */
#define HDR 10			/* legacy struct virtio_net_hdr */
#define MEM (4u << 20)

struct vq {
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint8_t *bufs;
	uint16_t last_used;
	int kick, call;
};

static uint8_t *mem;

static void die(const char *what)
{
	fprintf(stderr, "vhostnet: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int parse_mac(const char *s, uint8_t m[6])
{
	return sscanf(s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &m[0], &m[1], &m[2], &m[3],
		      &m[4], &m[5]) == 6 ? 0 : -1;
}

/* Lay out one split virtqueue in our memory region at *off. */
static void vq_layout(struct vq *q, size_t *off)
{
	*off = (*off + 4095) & ~(size_t)4095;
	q->desc = (void *)(mem + *off);
	*off += sizeof(struct vring_desc) * QN;
	q->avail = (void *)(mem + *off);
	*off += sizeof(struct vring_avail) + sizeof(uint16_t) * (QN + 1);
	*off = (*off + 4095) & ~(size_t)4095;
	q->used = (void *)(mem + *off);
	*off += sizeof(struct vring_used) + sizeof(struct vring_used_elem) * QN + 2;
	*off = (*off + 4095) & ~(size_t)4095;
	q->bufs = mem + *off;
	*off += (size_t)BUF * QN;
}

static void vq_setup(int vfd, unsigned idx, struct vq *q, int tapfd, int callfd)
{
	struct vhost_vring_state num = { idx, QN }, base = { idx, 0 };
	struct vhost_vring_addr addr = {
		.index = idx,
		.desc_user_addr = (uintptr_t)q->desc,
		.avail_user_addr = (uintptr_t)q->avail,
		.used_user_addr = (uintptr_t)q->used,
	};
	struct vhost_vring_file kick, call, be;

	q->kick = eventfd(0, EFD_CLOEXEC);
	q->call = callfd >= 0 ? callfd : eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->kick < 0 || q->call < 0)
		die("eventfd");
	kick = (struct vhost_vring_file){ idx, q->kick };
	call = (struct vhost_vring_file){ idx, q->call };
	be = (struct vhost_vring_file){ idx, tapfd };
	if (ioctl(vfd, VHOST_SET_VRING_NUM, &num) || ioctl(vfd, VHOST_SET_VRING_BASE, &base) ||
	    ioctl(vfd, VHOST_SET_VRING_ADDR, &addr) || ioctl(vfd, VHOST_SET_VRING_KICK, &kick) ||
	    ioctl(vfd, VHOST_SET_VRING_CALL, &call))
		die("vring setup");
	if (ioctl(vfd, VHOST_NET_SET_BACKEND, &be))
		die("VHOST_NET_SET_BACKEND");
}

static void kick(struct vq *q)
{
	uint64_t one = 1;

	if (write(q->kick, &one, sizeof(one)) != sizeof(one))
		die("kick");
}

/* Offer descriptor d (buffer d) to vhost; write: device-writable (RX). */
static void vq_offer(struct vq *q, uint16_t d, uint32_t len, int write)
{
	q->desc[d].addr = (uintptr_t)(q->bufs + (size_t)d * BUF);
	q->desc[d].len = len;
	q->desc[d].flags = write ? VRING_DESC_F_WRITE : 0;
	q->desc[d].next = 0;
	q->avail->ring[q->avail->idx % QN] = d;
	__atomic_store_n(&q->avail->idx, (uint16_t)(q->avail->idx + 1), __ATOMIC_RELEASE);
}

static uint16_t used_idx(struct vq *q)
{
	return __atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE);
}

static uint16_t csum(const void *p, size_t n)
{
	const uint16_t *w = p;
	uint32_t s = 0;

	for (; n > 1; n -= 2)
		s += *w++;
	if (n)
		s += *(const uint8_t *)w;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* vnet header + Ethernet + IPv4 + UDP + payload into buf; returns length. */
static uint32_t build(uint8_t *buf, const uint8_t smac[6], const uint8_t dmac[6],
		      uint32_t sip, uint32_t dip, uint16_t dport, uint16_t seq)
{
	uint8_t *e = buf + HDR, *ip = e + 14, *udp = ip + 20, *pl = udp + 8;
	int plen = snprintf((char *)pl, 64, "vhostnet %u", seq);
	uint16_t tot = (uint16_t)(20 + 8 + plen);

	memset(buf, 0, HDR);
	memcpy(e, dmac, 6);
	memcpy(e + 6, smac, 6);
	e[12] = 0x08;
	e[13] = 0x00;
	memset(ip, 0, 20);
	ip[0] = 0x45;
	*(uint16_t *)(ip + 2) = htons(tot);
	*(uint16_t *)(ip + 4) = htons(seq);
	ip[8] = 64;
	ip[9] = 17;
	memcpy(ip + 12, &sip, 4);
	memcpy(ip + 16, &dip, 4);
	*(uint16_t *)(ip + 10) = csum(ip, 20);
	*(uint16_t *)(udp + 0) = htons(40000);
	*(uint16_t *)(udp + 2) = htons(dport);
	*(uint16_t *)(udp + 4) = htons((uint16_t)(8 + plen));
	*(uint16_t *)(udp + 6) = 0;	/* no UDP checksum: allowed in IPv4 */
	return (uint32_t)(HDR + 14 + tot);
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	const char *tap = NULL;
	uint8_t mac[6], pmac[6];
	uint32_t ip = 0, pip = 0;
	unsigned count = 10, dport = 7000, got = 0, echo_ok = 0, rx_calls = 0, tx_used;
	unsigned long long rx_signals = 0;
	int have_mac = 0, have_pmac = 0;
	static const struct option lo[] = {
		{ "tap", 1, 0, 't' }, { "mac", 1, 0, 'm' }, { "ip", 1, 0, 'i' },
		{ "peer", 1, 0, 'p' }, { "peer-mac", 1, 0, 'M' }, { "dport", 1, 0, 'd' },
		{ "count", 1, 0, 'c' }, { "call-fd", 1, 0, 'f' }, { "help", 0, 0, 'h' }, { 0 },
	};
	struct ifreq ifr;
	struct vhost_memory *vm;
	struct vq rx, tx;
	uint64_t feat = 0;
	size_t off = 0;
	int o, tfd, vfd, callfd = -1;

	while ((o = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (o) {
		case 't': tap = optarg; break;
		case 'm': have_mac = !parse_mac(optarg, mac); break;
		case 'M': have_pmac = !parse_mac(optarg, pmac); break;
		case 'i': if (inet_pton(AF_INET, optarg, &ip) != 1) ip = 0; break;
		case 'p': if (inet_pton(AF_INET, optarg, &pip) != 1) pip = 0; break;
		case 'd': dport = (unsigned)atoi(optarg); break;
		case 'c': count = (unsigned)atoi(optarg); break;
		case 'f': callfd = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: vhostnet --tap NAME --mac MAC --ip A.B.C.D --peer A.B.C.D "
				"--peer-mac MAC [--dport P] [--count N] [--call-fd FD]\n");
			return o == 'h' ? 0 : 2;
		}
	}
	if (!tap || !have_mac || !have_pmac || !ip || !pip || !count || count > 1000 ||
	    !dport || dport > 65535) {
		fprintf(stderr, "vhostnet: need --tap, --mac, --ip, --peer, --peer-mac; 1 <= --count <= 1000\n");
		return 2;
	}

	/* The tap, as qemu opens it for vhost: vnet header, no packet info. */
	tfd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (tfd < 0)
		die("/dev/net/tun");
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", tap);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (ioctl(tfd, TUNSETIFF, &ifr))
		die("TUNSETIFF");

	/* One identity-mapped memory region holds both virtqueues and buffers. */
	mem = mmap(NULL, MEM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (mem == MAP_FAILED)
		die("mmap");
	memset(mem, 0, MEM);
	vq_layout(&rx, &off);
	vq_layout(&tx, &off);
	vfd = open("/dev/vhost-net", O_RDWR | O_CLOEXEC);
	if (vfd < 0)
		die("/dev/vhost-net");
	if (ioctl(vfd, VHOST_SET_OWNER) || ioctl(vfd, VHOST_SET_FEATURES, &feat))
		die("VHOST_SET_OWNER/FEATURES");
	vm = calloc(1, sizeof(*vm) + sizeof(vm->regions[0]));
	vm->nregions = 1;
	vm->regions[0].guest_phys_addr = (uintptr_t)mem;
	vm->regions[0].memory_size = MEM;
	vm->regions[0].userspace_addr = (uintptr_t)mem;
	if (ioctl(vfd, VHOST_SET_MEM_TABLE, vm))
		die("VHOST_SET_MEM_TABLE");
	vq_setup(vfd, 0, &rx, tfd, callfd);
	vq_setup(vfd, 1, &tx, tfd, -1);

	/* Receive buffers first, so no answer finds the ring empty. */
	for (uint16_t d = 0; d < QN; d++)
		vq_offer(&rx, d, BUF, 1);
	kick(&rx);

	for (unsigned i = 0; i < count; i++) {
		uint16_t d = (uint16_t)(i % QN);
		uint32_t len = build(tx.bufs + (size_t)d * BUF, mac, pmac, ip, pip, (uint16_t)dport,
				     (uint16_t)(i + 1));
		double t0 = now_s();
		unsigned before = got;

		vq_offer(&tx, d, len, 0);
		kick(&tx);
		/* Wait for vhost to take it and for the answer (1 s each). */
		while (now_s() - t0 < 1.0 && (used_idx(&tx) != (uint16_t)(i + 1) || got == before)) {
			struct pollfd pf = { rx.call, POLLIN, 0 };
			uint64_t v;

			poll(&pf, 1, 10);
			if (read(rx.call, &v, sizeof(v)) == sizeof(v)) {
				rx_calls++;
				rx_signals += v;
			}
			while (rx.last_used != used_idx(&rx)) {
				struct vring_used_elem *u = &rx.used->ring[rx.last_used % QN];
				uint8_t *b = rx.bufs + (size_t)u->id * BUF;
				char want[32];

				snprintf(want, sizeof(want), "vhostnet %u", i + 1);
				got++;
				/* vnet hdr + eth + IPv4 (20) + UDP (8): the echoed payload. */
				if (u->len > HDR + 42 && !memcmp(b + HDR + 42, want, strlen(want)))
					echo_ok++;
				rx.last_used++;
				vq_offer(&rx, (uint16_t)u->id, BUF, 1);
				kick(&rx);
			}
		}
	}
	tx_used = used_idx(&tx);
	/* A signal may follow the last used-ring update by a moment. */
	usleep(100000);
	{
		uint64_t v;

		if (read(rx.call, &v, sizeof(v)) == sizeof(v)) {
			rx_calls++;
			rx_signals += v;
		}
	}
	printf("{\"sent\":%u,\"tx_used\":%u,\"received\":%u,\"rx_calls\":%u,\"rx_signals\":%llu,"
	       "\"echo_ok\":%u}\n", count, tx_used, got, rx_calls, rx_signals, echo_ok);
	return tx_used == count && echo_ok == count ? 0 : 1;
}
