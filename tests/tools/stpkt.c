// SPDX-License-Identifier: MIT
/*
 * stpkt: known traffic for the local-tool tests (qdisc, iface, offload).
 *
 *   stpkt udp IP PORT COUNT SIZE [PPS]
 *       Send COUNT UDP datagrams of SIZE payload bytes from one socket, as
 *       fast as the socket takes them or paced at PPS packets per second.
 *       A send the kernel refuses (ENOBUFS from a full qdisc) is counted
 *       as failed and not retried. Prints one JSON line:
 *       {"sent": N, "failed": N, "seconds": S}.
 *   stpkt udp-pairs IP FPORT FSIZE PPORT PSIZE COUNT GAP_MS
 *       COUNT times, GAP_MS apart: a filler datagram of FSIZE payload bytes
 *       to FPORT and right behind it a probe of PSIZE bytes to PPORT, from
 *       one socket. Behind a token bucket (tbf) that the pause refills, the
 *       filler takes the burst and the probe waits a known time for tokens.
 *       Prints {"sent": N, "failed": N, "seconds": S} (pairs).
 *   stpkt udp-sink PORT COUNT SECONDS
 *       Read datagrams on PORT until COUNT arrived or SECONDS passed,
 *       print {"received": N}.
 *   stpkt tcp-sink PORT
 *       Accept one TCP connection on PORT, read it to the end, print
 *       {"received": BYTES}.
 *   stpkt tcp-send IP PORT BYTES
 *       Connect and write BYTES bytes in 64 KiB writes, then close.
 *
 *   stpkt tap-gso TAP
 *       Play a guest that hands the host bad GSO metadata: open the existing
 *       tap device TAP with a virtio-net header (IFF_VNET_HDR) and write two
 *       frames the kernel accepts but that make no sense: a TCP packet that
 *       claims gso_size 2000 on a 1500-byte MTU (over_mtu), and a UDP packet
 *       whose header says TCPV4 segmentation (l4_mismatch). Prints
 *       {"written": 2}.
 *
 * Run it inside a network namespace with ip netns exec. Exit status: 0 ok,
 * 1 runtime failure, 2 usage error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int addr_of(const char *ip, const char *port, struct sockaddr_in *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)atoi(port));
	return inet_pton(AF_INET, ip, &sa->sin_addr) == 1 ? 0 : -1;
}

static int cmd_udp(int argc, char **argv)
{
	struct sockaddr_in sa;
	long count, size, pps = 0, sent = 0, failed = 0;
	double t0, gap;
	char *buf;
	int fd;

	if (argc < 6 || addr_of(argv[2], argv[3], &sa))
		return 2;
	count = atol(argv[4]);
	size = atol(argv[5]);
	if (argc > 6)
		pps = atol(argv[6]);
	if (count < 0 || size < 0 || size > 65000 || pps < 0)
		return 2;
	buf = calloc(1, size ? size : 1);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (!buf || fd < 0) {
		perror("stpkt: socket");
		return 1;
	}
	gap = pps ? 1.0 / pps : 0;
	t0 = now_s();
	for (long i = 0; i < count; i++) {
		if (gap) {
			double due = t0 + i * gap, d;

			while ((d = due - now_s()) > 0) {
				struct timespec ts = { (time_t)d, (long)((d - (time_t)d) * 1e9) };

				nanosleep(&ts, NULL);
			}
		}
		if (sendto(fd, buf, size, 0, (struct sockaddr *)&sa, sizeof(sa)) == size)
			sent++;
		else
			failed++;
	}
	printf("{\"sent\": %ld, \"failed\": %ld, \"seconds\": %.6f}\n", sent, failed, now_s() - t0);
	close(fd);
	free(buf);
	return 0;
}

static int cmd_udp_pairs(int argc, char **argv)
{
	struct sockaddr_in fa, pa;
	long fsize, psize, count, gap_ms, sent = 0, failed = 0;
	double t0;
	char *buf;
	int fd;

	if (argc < 9 || addr_of(argv[2], argv[3], &fa) || addr_of(argv[2], argv[5], &pa))
		return 2;
	fsize = atol(argv[4]);
	psize = atol(argv[6]);
	count = atol(argv[7]);
	gap_ms = atol(argv[8]);
	if (fsize < 0 || fsize > 65000 || psize < 0 || psize > 65000 || count < 0 || gap_ms < 0)
		return 2;
	buf = calloc(1, fsize > psize ? fsize + 1 : psize + 1);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (!buf || fd < 0) {
		perror("stpkt: socket");
		return 1;
	}
	t0 = now_s();
	for (long i = 0; i < count; i++) {
		struct timespec ts = { gap_ms / 1000, (gap_ms % 1000) * 1000000L };

		if (sendto(fd, buf, fsize, 0, (struct sockaddr *)&fa, sizeof(fa)) == fsize &&
		    sendto(fd, buf, psize, 0, (struct sockaddr *)&pa, sizeof(pa)) == psize)
			sent++;
		else
			failed++;
		nanosleep(&ts, NULL);
	}
	printf("{\"sent\": %ld, \"failed\": %ld, \"seconds\": %.6f}\n", sent, failed, now_s() - t0);
	close(fd);
	free(buf);
	return 0;
}

static int cmd_udp_sink(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	long count, got = 0;
	double end;
	char buf[65536];
	int fd;

	if (argc < 5)
		return 2;
	sa.sin_port = htons((uint16_t)atoi(argv[2]));
	count = atol(argv[3]);
	end = now_s() + atof(argv[4]);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		perror("stpkt: bind");
		return 1;
	}
	/* Short receive timeouts so the deadline holds with no traffic. */
	{
		struct timeval tv = { 0, 100000 };

		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	while (got < count && now_s() < end)
		if (recv(fd, buf, sizeof(buf), 0) >= 0)
			got++;
	printf("{\"received\": %ld}\n", got);
	close(fd);
	return 0;
}

static int cmd_tcp_sink(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	long long total = 0;
	char buf[65536];
	int one = 1, ls, c;
	ssize_t n;

	if (argc < 3)
		return 2;
	sa.sin_port = htons((uint16_t)atoi(argv[2]));
	ls = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof(sa)) || listen(ls, 1)) {
		perror("stpkt: listen");
		return 1;
	}
	c = accept(ls, NULL, NULL);
	if (c < 0) {
		perror("stpkt: accept");
		return 1;
	}
	while ((n = read(c, buf, sizeof(buf))) > 0)
		total += n;
	printf("{\"received\": %lld}\n", total);
	close(c);
	close(ls);
	return 0;
}

static int cmd_tcp_send(int argc, char **argv)
{
	struct sockaddr_in sa;
	static char buf[65536];
	long long left;
	int fd, tries = 0;

	if (argc < 5 || addr_of(argv[2], argv[3], &sa))
		return 2;
	left = atoll(argv[4]);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	/* The sink may still be starting: retry the connect for a while. */
	while (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		if (errno != ECONNREFUSED || ++tries > 50) {
			perror("stpkt: connect");
			return 1;
		}
		close(fd);
		fd = socket(AF_INET, SOCK_STREAM, 0);
		usleep(100000);
	}
	while (left > 0) {
		ssize_t n = write(fd, buf, left < (long long)sizeof(buf) ? (size_t)left : sizeof(buf));

		if (n <= 0) {
			perror("stpkt: write");
			return 1;
		}
		left -= n;
	}
	close(fd);
	return 0;
}

/* Ethernet + IPv4 (+ L4 header, zero payload) of ip_len bytes after the
 * Ethernet header, into f; returns the frame length. */
static size_t frame(uint8_t *f, uint8_t proto, size_t payload)
{
	static const uint8_t dst[6] = { 0x02, 0, 0, 0, 0, 0x99 }, src[6] = { 0x02, 0, 0, 0, 0, 0x10 };
	size_t l4 = proto == 6 ? 20 : 8, ip_len = 20 + l4 + payload;
	uint32_t sum = 0;

	memset(f, 0, 14 + ip_len);
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	f[12] = 0x08;
	f[14] = 0x45;
	f[16] = (uint8_t)(ip_len >> 8);
	f[17] = (uint8_t)ip_len;
	f[22] = 64;
	f[23] = proto;
	f[26] = 10; f[27] = 84; f[28] = 0; f[29] = 1;	/* 10.84.0.1 */
	f[30] = 10; f[31] = 84; f[32] = 0; f[33] = 2;	/* 10.84.0.2 */
	for (int i = 14; i < 34; i += 2)
		sum += (uint32_t)(f[i] << 8 | f[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	f[24] = (uint8_t)(~sum >> 8);
	f[25] = (uint8_t)~sum;
	f[34] = 0x9c; f[35] = 0x40;	/* ports 40000 -> 40001 */
	f[36] = 0x9c; f[37] = 0x41;
	if (proto == 6) {
		f[46] = 5 << 4;		/* data offset */
		f[47] = 0x18;		/* PSH, ACK */
	} else {
		f[38] = (uint8_t)((8 + payload) >> 8);
		f[39] = (uint8_t)(8 + payload);
	}
	return 14 + ip_len;
}

static int cmd_tap_gso(int argc, char **argv)
{
	static uint8_t buf[sizeof(struct virtio_net_hdr) + 9000];
	struct virtio_net_hdr *h = (struct virtio_net_hdr *)buf;
	struct ifreq ifr = { 0 };
	int fd, written = 0;

	if (argc < 3)
		return 2;
	fd = open("/dev/net/tun", O_RDWR);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", argv[2]);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr)) {
		perror("stpkt: tap");
		return 1;
	}
	/* Let the tap's carrier come up and the bridge port forward. */
	usleep(500000);
	for (int k = 0; k < 2; k++) {
		uint8_t proto = k == 0 ? 6 : 17;
		size_t len = frame(buf + sizeof(*h), proto, 4100);

		memset(h, 0, sizeof(*h));
		h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
		h->gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
		h->hdr_len = 14 + 20 + 20;
		h->gso_size = k == 0 ? 2000 : 1000;
		h->csum_start = 14 + 20;
		h->csum_offset = 16;	/* TCP's checksum field, also for the UDP one */
		if (write(fd, buf, sizeof(*h) + len) == (ssize_t)(sizeof(*h) + len))
			written++;
		else
			perror("stpkt: tap write");
	}
	usleep(200000);
	printf("{\"written\": %d}\n", written);
	close(fd);
	return written == 2 ? 0 : 1;
}

int main(int argc, char **argv)
{
	int rc = 2;

	if (argc > 1 && !strcmp(argv[1], "udp"))
		rc = cmd_udp(argc, argv);
	else if (argc > 1 && !strcmp(argv[1], "udp-pairs"))
		rc = cmd_udp_pairs(argc, argv);
	else if (argc > 1 && !strcmp(argv[1], "udp-sink"))
		rc = cmd_udp_sink(argc, argv);
	else if (argc > 1 && !strcmp(argv[1], "tcp-sink"))
		rc = cmd_tcp_sink(argc, argv);
	else if (argc > 1 && !strcmp(argv[1], "tcp-send"))
		rc = cmd_tcp_send(argc, argv);
	else if (argc > 1 && !strcmp(argv[1], "tap-gso"))
		rc = cmd_tap_gso(argc, argv);
	if (rc == 2)
		fprintf(stderr, "usage: stpkt udp IP PORT COUNT SIZE [PPS] | "
			"udp-pairs IP FPORT FSIZE PPORT PSIZE COUNT GAP_MS | udp-sink PORT COUNT SECONDS | "
			"tcp-sink PORT | "
			"tcp-send IP PORT BYTES | tap-gso TAP\n");
	return rc;
}
