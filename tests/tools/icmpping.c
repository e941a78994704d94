// SPDX-License-Identifier: MIT
/*
 * icmpping: send ICMP echo requests from a raw socket, for the rtt tests
 * (ping is not installed on the test machines, and a test needs to know
 * exactly which echo ids and sequence numbers went out).
 *
 *   icmpping DST COUNT INTERVAL_MS ID [WAIT_MS [PAYLOAD]]
 *
 * Sends COUNT requests to DST with echo id ID and sequence numbers
 * 1..COUNT, INTERVAL_MS apart, PAYLOAD bytes of payload each (default 56,
 * at most 1472: one unfragmented frame on a 1500-byte MTU); reads replies
 * (type 0 with our id) while sending and for WAIT_MS (default 1500) after
 * the last request. Prints one line per reply ("reply seq=S rtt_us=U") and
 * a last line "sent N received M". Exit 0 when everything was sent (replies
 * may be missing: the tests drop some on purpose), 1 on a send error, 2 on
 * bad arguments.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXSEQ 65535

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint16_t csum(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint32_t s = 0;

	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(b[i] << 8 | b[i + 1]);
	if (n & 1)
		s += (uint32_t)b[n - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return htons((uint16_t)~s);
}

static unsigned long arg(const char *s, const char *what, unsigned long max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || end == s || v > max) {
		fprintf(stderr, "icmpping: error: bad %s '%s'\n", what, s);
		exit(2);
	}
	return v;
}

static uint64_t sent_at[MAXSEQ + 1];
static uint8_t seen[MAXSEQ + 1];

/* Read replies until deadline; returns the number of new ones. */
static unsigned drain(int fd, uint16_t id, uint64_t deadline)
{
	unsigned got = 0;

	for (;;) {
		uint64_t t = now_ns();
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		uint8_t buf[1500];
		struct icmphdr *ic;
		struct iphdr *ip;
		ssize_t n;
		uint16_t seq;

		if (t >= deadline)
			return got;
		if (poll(&pfd, 1, (int)((deadline - t) / 1000000 + 1)) <= 0)
			continue;
		n = recv(fd, buf, sizeof(buf), 0);
		if (n < (ssize_t)sizeof(*ip))
			continue;
		ip = (struct iphdr *)buf;
		if (n < ip->ihl * 4 + (ssize_t)sizeof(*ic))
			continue;
		ic = (struct icmphdr *)(buf + ip->ihl * 4);
		if (ic->type != ICMP_ECHOREPLY || ntohs(ic->un.echo.id) != id)
			continue;
		seq = ntohs(ic->un.echo.sequence);
		if (seen[seq] || !sent_at[seq])
			continue;
		seen[seq] = 1;
		got++;
		printf("reply seq=%u rtt_us=%.1f\n", seq, (now_ns() - sent_at[seq]) / 1000.0);
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_in dst = { .sin_family = AF_INET };
	unsigned long count, interval_ms, wait_ms = 1500, payload = 56;
	unsigned received = 0;
	uint16_t id;
	int fd;

	if (argc < 5 || argc > 7) {
		fprintf(stderr, "usage: icmpping DST COUNT INTERVAL_MS ID [WAIT_MS [PAYLOAD]]\n");
		return 2;
	}
	if (inet_pton(AF_INET, argv[1], &dst.sin_addr) != 1) {
		fprintf(stderr, "icmpping: error: bad address '%s'\n", argv[1]);
		return 2;
	}
	count = arg(argv[2], "count", MAXSEQ);
	interval_ms = arg(argv[3], "interval", 60000);
	id = (uint16_t)arg(argv[4], "id", 65535);
	if (argc >= 6)
		wait_ms = arg(argv[5], "wait", 600000);
	if (argc == 7)
		payload = arg(argv[6], "payload", 1472);
	fd = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
	if (fd < 0) {
		perror("icmpping: socket");
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (unsigned long s = 1; s <= count; s++) {
		uint8_t pkt[sizeof(struct icmphdr) + 1472];
		size_t len = sizeof(struct icmphdr) + payload;
		struct icmphdr *ic = (struct icmphdr *)pkt;

		memset(pkt, 0, sizeof(pkt));
		for (size_t i = sizeof(*ic); i < len; i++)
			pkt[i] = (uint8_t)i;
		ic->type = ICMP_ECHO;
		ic->un.echo.id = htons(id);
		ic->un.echo.sequence = htons((uint16_t)s);
		ic->checksum = csum(pkt, len);
		sent_at[s] = now_ns();
		if (sendto(fd, pkt, len, 0, (struct sockaddr *)&dst, sizeof(dst)) < 0) {
			perror("icmpping: sendto");
			return 1;
		}
		received += drain(fd, id, now_ns() + interval_ms * 1000000ull);
	}
	received += drain(fd, id, now_ns() + wait_ms * 1000000ull);
	printf("sent %lu received %u\n", count, received);
	close(fd);
	return 0;
}
