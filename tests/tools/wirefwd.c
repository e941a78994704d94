// SPDX-License-Identifier: MIT
/*
 * wirefwd - a "wire" between two tap devices in two network namespaces,
 * with an optional fixed one-way delay.
 *
 * The kernel cannot add delay on this machine (no netem), yet the tracer has
 * to prove that it attributes time spent "on the wire" correctly.  This
 * program reads Ethernet frames from one tap and writes them into the other
 * after exactly --delay-us microseconds, in both directions.
 *
 * A tap file descriptor belongs to the network namespace that was current
 * when /dev/net/tun was opened, so each side is opened after setns() into
 * its namespace and the process then returns to where it started.  The fds
 * stay bound to their namespaces for the rest of their lives.
 *
 * Frames wait in a per-direction FIFO stamped with their arrival time.  The
 * delay is constant, so FIFO order is also departure order and nothing is
 * ever reordered.  One thread and one ppoll() loop do all the work; the
 * poll timeout is the head frame's departure time.
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TOOL_NAME "wirefwd"
#include "tool_util.h"

#define SLOT 2048          /* largest frame we carry; taps here have MTU 1500 */
#define Q_INIT 1024u
#define Q_MAX 65536u       /* bounds memory per direction to 128 MiB */
#define RX_BATCH 64

struct frame {
	uint64_t due;
	uint32_t len;
	uint8_t data[SLOT];
};

struct side {
	const char *spec;  /* NETNS:TAP as given, for messages */
	int fd;
};

struct dir {
	const char *name;
	struct side *from, *to;
	struct tool_fifo q;  /* of struct frame */
	uint64_t frames, bytes, dropped;
};

/*
 * Opens the tap named in "NETNS:TAP".  NETNS is a name under /var/run/netns,
 * an absolute path to a namespace file, or empty for our own namespace.
 */
static int open_side(const char *spec, int home_ns)
{
	char ns[PATH_MAX], path[PATH_MAX], where[PATH_MAX + 8];
	const char *colon = strrchr(spec, ':'), *tap;
	int nsfd = -1, fd;

	if (!colon)
		die(2, "'%s': expected NETNS:TAP", spec);
	tap = colon + 1;
	if (!*tap || strlen(tap) >= IFNAMSIZ)
		die(2, "'%s': tap name must be 1..%d characters", spec, IFNAMSIZ - 1);
	if ((size_t)(colon - spec) >= sizeof(ns))
		die(2, "'%s': namespace name too long", spec);
	memcpy(ns, spec, (size_t)(colon - spec));
	ns[colon - spec] = 0;
	if (ns[0]) {
		int w;

		if (ns[0] == '/')
			w = snprintf(path, sizeof(path), "%s", ns);
		else
			w = snprintf(path, sizeof(path), "/var/run/netns/%.200s", ns);
		if (w < 0 || (size_t)w >= sizeof(path) || (ns[0] != '/' && strlen(ns) > 200))
			die(2, "'%s': namespace name too long", spec);
		nsfd = open(path, O_RDONLY | O_CLOEXEC);
		if (nsfd < 0)
			die(1, "open namespace %s: %s", path, strerror(errno));
		if (setns(nsfd, CLONE_NEWNET) < 0)
			die(1, "setns %s: %s", path, strerror(errno));
		close(nsfd);
	}
	/* Without this check TUNSETIFF would quietly create an unbridged tap. */
	if (!if_nametoindex(tap))
		die(1, "tap '%s' does not exist in namespace '%s'", tap, ns[0] ? ns : "(current)");
	snprintf(where, sizeof(where), " in '%s'", ns[0] ? ns : "(current)");
	fd = tool_tap_attach(tap, where);
	/* Bring the tap up so the bridge port starts forwarding. */
	tool_link_up(tap);
	if (ns[0] && setns(home_ns, CLONE_NEWNET) < 0)
		die(1, "setns back to the original namespace: %s", strerror(errno));
	return fd;
}

static void deliver(struct dir *d, const uint8_t *data, size_t len)
{
	if (write(d->to->fd, data, len) == (ssize_t)len) {
		d->frames++;
		d->bytes += len;
	} else {
		d->dropped++;
	}
}

/* Reads what is waiting on d->from and sends it on now or queues it. */
static void d_read(struct dir *d, uint64_t delay_ns)
{
	static uint8_t buf[65536];

	for (int i = 0; i < RX_BATCH; i++) {
		ssize_t n = read(d->from->fd, buf, sizeof(buf));
		uint64_t t;
		struct frame *f;

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			die(1, "read %s: %s", d->from->spec, strerror(errno));
		}
		if (!delay_ns) {
			deliver(d, buf, (size_t)n);
			continue;
		}
		t = now_ns();
		if (n > SLOT || !(f = tool_fifo_push(&d->q))) {
			d->dropped++;
			continue;
		}
		f->due = t + delay_ns;
		f->len = (uint32_t)n;
		memcpy(f->data, buf, (size_t)n);
	}
}

/* Sends every queued frame whose time has come; returns the next due time. */
static uint64_t d_flush(struct dir *d, uint64_t now)
{
	uint32_t n = tool_fifo_due(&d->q, now);

	for (uint32_t i = 0; i < n; i++) {
		const struct frame *f = tool_fifo_at(&d->q, i);

		deliver(d, f->data, f->len);
	}
	tool_fifo_pop(&d->q, n);
	return tool_fifo_next_due(&d->q);
}

static void print_counts(struct dir *ab, struct dir *ba, const char *event)
{
	printf("{\"event\":\"%s\",\"a_to_b\":%" PRIu64 ",\"b_to_a\":%" PRIu64
	       ",\"a_to_b_bytes\":%" PRIu64 ",\"b_to_a_bytes\":%" PRIu64 ",\"dropped\":%" PRIu64
	       ",\"queued\":%u}\n",
	       event, ab->frames, ba->frames, ab->bytes, ba->bytes, ab->dropped + ba->dropped,
	       ab->q.len + ba->q.len);
	fflush(stdout);
}

static void usage(FILE *out)
{
	fprintf(out,
"usage: wirefwd --a NETNS:TAP --b NETNS:TAP [--delay-us N] [--pidfile PATH] [--quiet]\n"
"\n"
"Forwards Ethernet frames between two existing tap devices, each in its own\n"
"network namespace (a name under /var/run/netns, an absolute path, or empty\n"
"for the current one), holding every frame exactly N microseconds (default 0)\n"
"without reordering.  Prints frame counts as JSON on SIGUSR1 and on exit\n"
"(SIGTERM/SIGINT).\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "a", required_argument, 0, 'a' },
		{ "b", required_argument, 0, 'b' },
		{ "delay-us", required_argument, 0, 'd' },
		TOOL_COMMON_OPTIONS,
		{ 0 },
	};
	struct side a = { 0 }, b = { 0 };
	struct dir ab = { .name = "a->b", .from = &a, .to = &b,
			  .q = TOOL_FIFO_INIT(struct frame, Q_INIT, Q_MAX) };
	struct dir ba = { .name = "b->a", .from = &b, .to = &a,
			  .q = TOOL_FIFO_INIT(struct frame, Q_INIT, Q_MAX) };
	uint64_t delay_ns = 0;
	sigset_t empty;
	int c, home;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			a.spec = optarg;
			break;
		case 'b':
			b.spec = optarg;
			break;
		case 'd': {
			char *end;
			unsigned long long v;

			errno = 0;
			v = strtoull(optarg, &end, 10);
			if (!*optarg || *optarg == '-' || *end || errno || v > 60000000ull)
				die(2, "--delay-us: must be 0..60000000");
			delay_ns = v * 1000;
			break;
		}
		default:
			tool_option(c, argv, usage);
		}
	}
	if (optind < argc)
		die(2, "unexpected argument '%s' (see -h)", argv[optind]);
	if (!a.spec || !b.spec)
		die(2, "--a and --b are required (see -h)");

	home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (home < 0)
		die(1, "open /proc/self/ns/net: %s", strerror(errno));
	a.fd = open_side(a.spec, home);
	b.fd = open_side(b.spec, home);
	close(home);

	tool_loop_setup(&empty, true);
	/* Written only now, so its existence tells the caller both taps are attached. */
	tool_write_pidfile();
	tool_log("%s <-> %s, delay %" PRIu64 " us", a.spec, b.spec, delay_ns / 1000);

	while (!stop_signal) {
		struct pollfd pfd[2] = {
			{ .fd = a.fd, .events = POLLIN },
			{ .fd = b.fd, .events = POLLIN },
		};
		uint64_t now = now_ns(), n1, n2;

		n1 = d_flush(&ab, now);
		n2 = d_flush(&ba, now);
		if (dump_request) {
			dump_request = 0;
			print_counts(&ab, &ba, "stats");
		}
		if (!tool_ppoll(pfd, 2, now, n1 < n2 ? n1 : n2, &empty))
			continue;
		if ((pfd[0].revents | pfd[1].revents) & (POLLERR | POLLHUP | POLLNVAL))
			die(1, "a tap went away");
		if (pfd[0].revents & POLLIN)
			d_read(&ab, delay_ns);
		if (pfd[1].revents & POLLIN)
			d_read(&ba, delay_ns);
	}
	print_counts(&ab, &ba, "exit");
	tool_remove_pidfile();
	/* Frames still queued are dropped: the wire is being cut. */
	tool_fifo_free(&ab.q);
	tool_fifo_free(&ba.q);
	return 0;
}
