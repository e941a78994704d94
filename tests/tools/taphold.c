// SPDX-License-Identifier: MIT
/*
 * taphold - attach to a tap device and never read it: a VM whose
 * virtio-net RX has stalled, as the host sees it. Frames the host sends
 * to the tap pile up in each queue's ring (tx_queue_len entries when the
 * queue was attached) until tun_net_xmit drops them, which is what
 * `stagetrace virt tun` must show.
 *
 *   taphold --tap NAME [--queues N] [--ready FILE]
 *
 * Opens N queues (IFF_MULTI_QUEUE when N > 1), creates FILE once they are
 * attached, then sleeps until SIGTERM/SIGINT.
 */
#include <fcntl.h>
#include <getopt.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_sig(int s)
{
	(void)s;
	stop = 1;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "tap", 1, 0, 't' }, { "queues", 1, 0, 'q' }, { "ready", 1, 0, 'r' },
		{ "help", 0, 0, 'h' }, { 0 },
	};
	const char *tap = NULL, *ready = NULL;
	int o, nq = 1;

	while ((o = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (o) {
		case 't': tap = optarg; break;
		case 'q': nq = atoi(optarg); break;
		case 'r': ready = optarg; break;
		default:
			fprintf(stderr, "usage: taphold --tap NAME [--queues N] [--ready FILE]\n");
			return o == 'h' ? 0 : 2;
		}
	}
	if (!tap || nq < 1 || nq > 16) {
		fprintf(stderr, "taphold: need --tap; 1 <= --queues <= 16\n");
		return 2;
	}
	for (int i = 0; i < nq; i++) {
		struct ifreq ifr;
		int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

		if (fd < 0) {
			perror("taphold: /dev/net/tun");
			return 1;
		}
		memset(&ifr, 0, sizeof(ifr));
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", tap);
		ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (nq > 1 ? IFF_MULTI_QUEUE : 0);
		if (ioctl(fd, TUNSETIFF, &ifr)) {
			perror("taphold: TUNSETIFF");
			return 1;
		}
	}
	signal(SIGTERM, on_sig);
	signal(SIGINT, on_sig);
	if (ready) {
		FILE *f = fopen(ready, "w");

		if (f)
			fclose(f);
	}
	while (!stop)
		pause();
	return 0;
}
