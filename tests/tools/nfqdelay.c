// SPDX-License-Identifier: MIT
/*
 * nfqdelay - holds every packet of an NFQUEUE for a fixed time, then accepts it.
 *
 * netem is not available on the test machines, so this is how the test bed
 * injects delay *inside* a hypervisor's network stack: an iptables rule
 * (with br_netfilter, so bridged frames pass through it) sends packets to
 * queue N, and this program gives the NF_ACCEPT verdict --delay-us later.
 * The tracer should then attribute exactly that much extra time to the
 * netfilter stage of that hypervisor.
 *
 * It speaks the nfnetlink_queue protocol directly over a netlink socket
 * instead of using libnetfilter_queue: the protocol needs four message
 * types, and doing without the library keeps the tool libc-only like the
 * other test tools, so the shared Makefile rule and CI need nothing extra.
 *
 * Packets wait in a FIFO stamped with their arrival time.  The delay is
 * constant and the kernel numbers a queue's packets consecutively, so when
 * several packets are due together one batch verdict ("everything up to id
 * X") releases them with a single message.  Only packet metadata is copied
 * to userspace; the payload stays in the kernel.
 *
 * Must run in the network namespace that owns the queue (ip netns exec).
 */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <linux/netlink.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define TOOL_NAME "nfqdelay"
#include "tool_util.h"

#define Q_INIT 4096u
#define Q_MAX (1u << 20)   /* more than the kernel queue can hold */
#define RX_BATCH 64
#define MAX_VERDICTS 64    /* verdict messages packed into one send() */
#define NLA_ALIGN4(n) (((n) + 3u) & ~3u)

struct held {
	uint64_t due;
	uint32_t id;
};

static struct {
	int fd;
	uint16_t queue;
	struct tool_fifo q;  /* of struct held */
	uint64_t delay_ns;
	uint64_t packets, verdicts, errors;
	uint32_t seq;
} st = { .q = TOOL_FIFO_INIT(struct held, Q_INIT, Q_MAX) };

/* ---------------------------------------------------------------------- */
/* Netlink message building                                               */
/* ---------------------------------------------------------------------- */

/* Starts an nfnetlink_queue message of the given type at buf. */
static struct nlmsghdr *msg_start(void *buf, uint16_t type, uint16_t flags)
{
	struct nlmsghdr *nlh = buf;
	struct nfgenmsg *g = (struct nfgenmsg *)(nlh + 1);

	memset(nlh, 0, NLMSG_HDRLEN + sizeof(*g));
	nlh->nlmsg_len = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(*g));
	nlh->nlmsg_type = (uint16_t)(NFNL_SUBSYS_QUEUE << 8 | type);
	nlh->nlmsg_flags = (uint16_t)(NLM_F_REQUEST | flags);
	nlh->nlmsg_seq = ++st.seq;
	g->nfgen_family = AF_UNSPEC;
	g->version = NFNETLINK_V0;
	g->res_id = htons(st.queue);
	return nlh;
}

static void msg_attr(struct nlmsghdr *nlh, uint16_t type, const void *data, size_t len)
{
	struct nlattr *a = (struct nlattr *)((char *)nlh + nlh->nlmsg_len);

	a->nla_type = type;
	a->nla_len = (uint16_t)(NLA_HDRLEN + len);
	memcpy((char *)a + NLA_HDRLEN, data, len);
	memset((char *)a + NLA_HDRLEN + len, 0, NLA_ALIGN4(len) - len);
	nlh->nlmsg_len += NLA_HDRLEN + NLA_ALIGN4((uint32_t)len);
}

static bool nl_send(const void *buf, size_t len)
{
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };

	return sendto(st.fd, buf, len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) ==
	       (ssize_t)len;
}

static void handle(const char *buf, size_t n, uint64_t now);

/*
 * Sends one configuration message and waits for the kernel's
 * acknowledgement.  Packets that arrive meanwhile (if a rule already feeds
 * the queue) are queued as usual, so none is left without a verdict.
 */
static void config(uint16_t attr, const void *data, size_t len, const char *what)
{
	static char buf[1 << 16] __attribute__((aligned(4)));
	struct nlmsghdr *nlh = msg_start(buf, NFQNL_MSG_CONFIG, NLM_F_ACK);
	uint32_t want = nlh->nlmsg_seq;

	msg_attr(nlh, attr, data, len);
	if (!nl_send(buf, nlh->nlmsg_len))
		die(1, "%s: send: %s", what, strerror(errno));
	for (;;) {
		ssize_t n = recv(st.fd, buf, sizeof(buf), 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			die(1, "%s: recv: %s", what, strerror(errno));
		}
		bool acked = false;
		size_t left = (size_t)n;

		for (struct nlmsghdr *r = (struct nlmsghdr *)buf; NLMSG_OK(r, left);
		     r = NLMSG_NEXT(r, left)) {
			if (r->nlmsg_type == NLMSG_ERROR && r->nlmsg_seq == want) {
				struct nlmsgerr *e = NLMSG_DATA(r);

				if (e->error)
					die(1, "%s: %s", what, strerror(-e->error));
				acked = true;
			}
		}
		handle(buf, (size_t)n, now_ns());
		if (acked)
			return;
	}
}

/* ---------------------------------------------------------------------- */
/* Holding and releasing packets                                          */
/* ---------------------------------------------------------------------- */

static void verdict_msg(char *buf, size_t *off, uint16_t type, uint32_t id)
{
	struct nfqnl_msg_verdict_hdr vh = { .verdict = htonl(NF_ACCEPT), .id = htonl(id) };
	struct nlmsghdr *nlh = msg_start(buf + *off, type, 0);

	msg_attr(nlh, NFQA_VERDICT_HDR, &vh, sizeof(vh));
	*off += NLMSG_ALIGN(nlh->nlmsg_len);
}

/* The packet id of the i-th held packet, counted from the oldest. */
static uint32_t held_id(uint32_t i)
{
	return ((const struct held *)tool_fifo_at(&st.q, i))->id;
}

/* Accepts the first n held packets with as few messages as possible. */
static void release(uint32_t n)
{
	static char buf[MAX_VERDICTS * 64] __attribute__((aligned(4)));
	uint32_t first = held_id(0), last = held_id(n - 1);
	size_t off = 0;

	/*
	 * A batch verdict covers every queued id <= last, which is exactly our
	 * n packets only if their ids are consecutive; otherwise (the kernel
	 * dropped one in between, or the counter wrapped) accept one by one,
	 * still packing many messages into each send.
	 */
	if (n > 1 && last - first == n - 1) {
		verdict_msg(buf, &off, NFQNL_MSG_VERDICT_BATCH, last);
		if (nl_send(buf, off))
			st.verdicts += n;
		else
			st.errors++;
	} else {
		uint32_t k = 0;

		for (uint32_t i = 0; i < n; i++) {
			verdict_msg(buf, &off, NFQNL_MSG_VERDICT, held_id(i));
			k++;
			if (k == MAX_VERDICTS || i == n - 1) {
				if (nl_send(buf, off))
					st.verdicts += k;
				else
					st.errors += k;
				off = 0;
				k = 0;
			}
		}
	}
	tool_fifo_pop(&st.q, n);
}

static uint64_t flush_due(uint64_t now)
{
	uint32_t n = tool_fifo_due(&st.q, now);

	if (n)
		release(n);
	return tool_fifo_next_due(&st.q);
}

static void accept_now(uint32_t id)
{
	char buf[64] __attribute__((aligned(4)));
	size_t off = 0;

	verdict_msg(buf, &off, NFQNL_MSG_VERDICT, id);
	if (nl_send(buf, off))
		st.verdicts++;
	else
		st.errors++;
}

static void on_packet(uint32_t id, uint64_t now)
{
	struct held *h;

	st.packets++;
	if (!st.delay_ns || !(h = tool_fifo_push(&st.q))) {
		/* Never hold a packet we cannot track: it would be stuck until exit. */
		accept_now(id);
		return;
	}
	*h = (struct held){ .due = now + st.delay_ns, .id = id };
}

/* Walks one datagram of netlink messages and queues every packet in it. */
static void handle(const char *buf, size_t n, uint64_t now)
{
	for (const struct nlmsghdr *nlh = (const void *)buf; NLMSG_OK(nlh, n);
	     nlh = NLMSG_NEXT(nlh, n)) {
		const char *p, *end;

		if (nlh->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *e = NLMSG_DATA(nlh);

			/* Verdicts are sent without NLM_F_ACK, so only failures come back. */
			if (e->error)
				st.errors++;
			continue;
		}
		if (nlh->nlmsg_type != (NFNL_SUBSYS_QUEUE << 8 | NFQNL_MSG_PACKET))
			continue;
		p = (const char *)NLMSG_DATA(nlh) + NLMSG_ALIGN(sizeof(struct nfgenmsg));
		end = (const char *)nlh + nlh->nlmsg_len;
		while (p + NLA_HDRLEN <= end) {
			const struct nlattr *a = (const void *)p;

			if (a->nla_len < NLA_HDRLEN || p + a->nla_len > end)
				break;
			if ((a->nla_type & NLA_TYPE_MASK) == NFQA_PACKET_HDR &&
			    a->nla_len >= NLA_HDRLEN + sizeof(struct nfqnl_msg_packet_hdr)) {
				struct nfqnl_msg_packet_hdr ph;

				memcpy(&ph, p + NLA_HDRLEN, sizeof(ph));
				on_packet(ntohl(ph.packet_id), now);
				break;
			}
			p += NLA_ALIGN4(a->nla_len);
		}
	}
}

/* ---------------------------------------------------------------------- */
/* main                                                                   */
/* ---------------------------------------------------------------------- */

static void usage(FILE *out)
{
	fprintf(out,
"usage: nfqdelay [--queue N] --delay-us N [--pidfile PATH] [--quiet]\n"
"\n"
"Binds NFQUEUE queue N (default 0) in the current network namespace and\n"
"accepts every packet exactly --delay-us microseconds after it arrived,\n"
"in arrival order.  Example (inside a hypervisor namespace):\n"
"  iptables -A FORWARD -j NFQUEUE --queue-num 0 --queue-bypass\n"
"Prints packet counts as JSON on exit (SIGTERM/SIGINT).\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "queue", required_argument, 0, 'n' },
		{ "delay-us", required_argument, 0, 'd' },
		TOOL_COMMON_OPTIONS,
		{ 0 },
	};
	bool have_delay = false;
	uint64_t v;
	struct sockaddr_nl local = { .nl_family = AF_NETLINK };
	sigset_t empty;
	static char buf[1 << 16] __attribute__((aligned(4)));
	int c, one = 1, rcvbuf = 16 << 20;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (!parse_u64(optarg, 65535, &v))
				die(2, "--queue: must be 0..65535");
			st.queue = (uint16_t)v;
			break;
		case 'd':
			if (!parse_u64(optarg, 10000000, &v))
				die(2, "--delay-us: must be 0..10000000");
			st.delay_ns = v * 1000;
			have_delay = true;
			break;
		default:
			tool_option(c, argv, usage);
		}
	}
	if (optind < argc)
		die(2, "unexpected argument '%s' (see -h)", argv[optind]);
	if (!have_delay)
		die(2, "--delay-us is required (see -h)");
	if (!tool_fifo_grow(&st.q))
		die(1, "out of memory");

	st.fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
	if (st.fd < 0)
		die(1, "netlink socket: %s (root and NFQUEUE support needed)", strerror(errno));
	if (bind(st.fd, (struct sockaddr *)&local, sizeof(local)) < 0)
		die(1, "bind netlink: %s", strerror(errno));
	/* A large buffer absorbs bursts; a full one drops packets, counted by the kernel. */
	if (setsockopt(st.fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
		setsockopt(st.fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	setsockopt(st.fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof(one));

	{
		struct nfqnl_msg_config_cmd bind_cmd = { .command = NFQNL_CFG_CMD_BIND };
		struct nfqnl_msg_config_params params = { .copy_range = htonl(0),
							  .copy_mode = NFQNL_COPY_META };
		/* The kernel default of 1024 queued packets is too few at 20k pps x 100 ms. */
		uint32_t maxlen = htonl(65536);

		config(NFQA_CFG_CMD, &bind_cmd, sizeof(bind_cmd), "bind queue (is another program bound to it?)");
		config(NFQA_CFG_PARAMS, &params, sizeof(params), "set copy mode");
		config(NFQA_CFG_QUEUE_MAXLEN, &maxlen, sizeof(maxlen), "set queue length");
	}
	fcntl(st.fd, F_SETFL, fcntl(st.fd, F_GETFL) | O_NONBLOCK);

	tool_loop_setup(&empty, false);
	/* Written once the queue is bound: its existence means "ready". */
	tool_write_pidfile();
	tool_log("queue %u, delay %" PRIu64 " us", st.queue, st.delay_ns / 1000);

	while (!stop_signal) {
		uint64_t now = now_ns(), next = flush_due(now);
		struct pollfd pfd = { .fd = st.fd, .events = POLLIN };

		if (!tool_ppoll(&pfd, 1, now, next, &empty))
			continue;
		if (!(pfd.revents & POLLIN))
			continue;
		for (int i = 0; i < RX_BATCH; i++) {
			ssize_t n = recv(st.fd, buf, sizeof(buf), 0);

			if (n < 0) {
				if (errno == ENOBUFS) {
					st.errors++;
					continue;
				}
				break;  /* EAGAIN: drained */
			}
			handle(buf, (size_t)n, now_ns());
		}
	}
	/* Let everything still held go at once rather than have unbinding drop it. */
	if (st.q.len)
		release(st.q.len);
	printf("{\"event\":\"exit\",\"packets\":%" PRIu64 ",\"accepted\":%" PRIu64
	       ",\"errors\":%" PRIu64 "}\n",
	       st.packets, st.verdicts, st.errors);
	fflush(stdout);
	close(st.fd);  /* closing the socket unbinds the queue */
	tool_remove_pidfile();
	tool_fifo_free(&st.q);
	return 0;
}
