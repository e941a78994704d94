// SPDX-License-Identifier: MIT
/*
 * vmsim - plays a virtual machine behind an existing persistent tap device.
 *
 * The stagetrace test bed needs "VMs" whose packets enter and leave a
 * hypervisor bridge exactly the way a real guest's packets would: through a
 * tap device written and read by a userspace process.  A real guest kernel
 * is far too heavy for a 2-core CI machine, so this program speaks just
 * enough Ethernet/ARP/IPv4/ICMP/UDP/TCP to act as both the server side (it
 * answers whatever is sent to it) and the client side (it generates paced
 * request/response traffic and reports round-trip times).
 *
 * Design notes:
 *  - Single thread, one ppoll() loop, CLOCK_MONOTONIC everywhere.  Nothing in
 *    the loop sleeps; delayed replies wait in a FIFO with their due time so
 *    that thousands of requests can be outstanding at once.
 *  - TCP is deliberately stateless: a data segment is answered by a segment
 *    carrying the same payload, seq = our own running counter and
 *    ack = their seq + payload length.  There is no handshake because nothing
 *    between the two VMs (bridges, veth, vxlan, tap) keeps TCP state, and the
 *    tracer only needs realistic-looking data segments to follow.
 *  - Probes (client requests) carry a 16-byte header in their payload: magic,
 *    originating IPv4 address, run tag and sequence number.  The responder
 *    echoes the payload unchanged, so the originator recognises its own probe
 *    coming back and never answers it.  That rule is what keeps two vmsim
 *    processes from bouncing a UDP or TCP packet back and forth forever.
 *  - Every IPv4 packet we craft gets the next value of a per-process IP ID
 *    counter, full checksums and no DF bit, so a tracer can key packets on
 *    (source address, IP ID) without ambiguity.
 *  - A unix stream socket (--ctl-listen) lets other processes ask the running
 *    VM to start traffic; "vmsim --ctl SOCKET COMMAND" is the matching tiny
 *    client so the test bed needs no socat.
 *
 * This file holds the command line, the set-up and the ppoll() loop; the
 * packet I/O, the client runs and the control socket are in vmsim_net.c,
 * vmsim_run.c and vmsim_ctl.c (vmsim.h says what each offers).
 */
/* The tool_util.h globals every vmsim file shares are defined here. */
#define TOOL_STATE_HERE
#include "vmsim.h"

/* The one VM this process plays (see vmsim.h). */
struct vmsim vm = { .rq = TOOL_FIFO_INIT(struct rq_entry, 256, RQ_MAX) };
const char *proto_name[] = { "udp", "tcp", "icmp" };

/* ---------------------------------------------------------------------- */
/* Setup                                                                  */
/* ---------------------------------------------------------------------- */

static int tap_open(const char *name)
{
	int fd, s;

	/*
	 * TUNSETIFF would silently create a fresh, non-persistent tap if the name
	 * is unknown; that device would not be in any bridge, so insist that the
	 * test bed created it first.
	 */
	if (!if_nametoindex(name))
		die(1, "tap '%s' does not exist in this network namespace "
		       "(create it first: ip tuntap add dev %s mode tap)", name, name);
	fd = tool_tap_attach(name, "");

	/* Bring the link up (harmless if it already is) and learn its MTU. */
	if (tool_link_up(name) < 0)
		tool_log("could not set %s up: %s", name, strerror(errno));
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s >= 0) {
		struct ifreq q = { 0 };

		snprintf(q.ifr_name, IFNAMSIZ, "%s", name);
		if (ioctl(s, SIOCGIFMTU, &q) == 0 && q.ifr_mtu >= 576 && q.ifr_mtu <= 1500)
			vm.mtu = (unsigned)q.ifr_mtu;
		close(s);
	}
	return fd;
}

static int ctl_listen(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		die(2, "--ctl-listen: path too long (max %zu bytes)", sizeof(sa.sun_path) - 1);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die(1, "socket: %s", strerror(errno));
	unlink(path);  /* a stale socket from a killed predecessor would block bind */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die(1, "bind %s: %s", path, strerror(errno));
	if (listen(fd, 16) < 0)
		die(1, "listen %s: %s", path, strerror(errno));
	return fd;
}

/* ---------------------------------------------------------------------- */
/* --ctl client mode                                                      */
/* ---------------------------------------------------------------------- */

static int ctl_client_main(const char *path, int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char cmd[CTL_LINE], buf[4096];
	size_t len = 0, got = 0;
	int fd;

	if (argc < 1)
		die(2, "--ctl needs a command, e.g.: vmsim --ctl SOCKET 'traffic peer=10.10.0.2 count=10'");
	cmd[0] = 0;
	for (int i = 0; i < argc; i++) {
		size_t l = strlen(argv[i]);

		if (len + l + 2 > sizeof(cmd))
			die(2, "--ctl: command too long");
		if (i)
			cmd[len++] = ' ';
		memcpy(cmd + len, argv[i], l);
		len += l;
	}
	cmd[len++] = '\n';
	if (strlen(path) >= sizeof(sa.sun_path))
		die(2, "--ctl: path too long");
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die(1, "connect to %s: %s (is the VM running?)", path, strerror(errno));
	if (write(fd, cmd, len) != (ssize_t)len)
		die(1, "send to %s: %s", path, strerror(errno));
	for (;;) {
		ssize_t n = read(fd, buf + got, sizeof(buf) - 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		if (memchr(buf, '\n', got) || got == sizeof(buf) - 1)
			break;
	}
	close(fd);
	buf[got] = 0;
	if (!got)
		die(1, "%s closed the connection without an answer", path);
	fputs(buf, stdout);
	if (buf[got - 1] != '\n')
		fputc('\n', stdout);
	return strncmp(buf, "{\"error\"", 8) == 0 ? 1 : 0;
}

/* ---------------------------------------------------------------------- */
/* main                                                                   */
/* ---------------------------------------------------------------------- */

static void usage(FILE *out)
{
	fprintf(out,
"usage: vmsim --tap NAME --mac MAC --ip A.B.C.D[/PREFIX] [options]\n"
"       vmsim --ctl SOCKET COMMAND...\n"
"\n"
"Plays a VM behind an existing persistent tap device: answers ARP, ICMP echo,\n"
"UDP (any port, payload echoed) and TCP data segments (stateless, see below),\n"
"and optionally generates paced request traffic and reports RTTs as JSON.\n"
"\n"
"VM options:\n"
"  --tap NAME             tap device to attach to (must already exist)\n"
"  --mac MAC              the VM's MAC address\n"
"  --ip A.B.C.D[/P]       the VM's IPv4 address (prefix default 24)\n"
"  --reply-delay-us N     hold every reply N microseconds before sending (default 0)\n"
"  --ctl-listen PATH      accept control commands on this unix socket\n"
"  --pidfile PATH         write our pid here once ready (removed on exit)\n"
"  --no-garp              do not announce the address with a gratuitous ARP\n"
"  --quiet                no informational messages on stderr\n"
"\n"
"Client options (run one traffic test, print a JSON line, exit):\n"
"  --peer IP              address to send requests to (same subnet)\n"
"  --proto udp|tcp|icmp   request type (default udp)\n"
"  --rate PPS             requests per second (default 1000)\n"
"  --count N | --duration S   how many requests, or for how long\n"
"  --dport P --sport P    UDP/TCP ports (default 7000 / 40000)\n"
"  --size BYTES           L4 payload size, >= 16 (default 64)\n"
"  --wait-ms MS           wait for late replies after the last send (default 1000)\n"
"  --arp-timeout-ms MS    give up resolving the peer after MS (default 3000)\n"
"\n"
"Control commands (one line, answered with one JSON line):\n"
"  ping | stats | garp | set reply_delay_us=N |\n"
"  traffic peer=IP [proto= rate= count=|duration= dport= sport= size= wait_ms= arp_timeout_ms=]\n"
"\n"
"Output of a run: {\"sent\":N,\"received\":N,\"lost\":N,\"rtt_us\":{\"min\":..,\"p50\":..,\n"
"\"p90\":..,\"p99\":..,\"max\":..},...}.  TCP is stateless: a data segment is answered\n"
"with the same payload, seq = our counter, ack = their seq + length; no handshake.\n");
}

enum {
	O_TAP = 256, O_MAC, O_IP, O_DELAY, O_CTL_LISTEN, O_PIDFILE, O_NOGARP, O_QUIET,
	O_PEER, O_PROTO, O_RATE, O_COUNT, O_DURATION, O_DPORT, O_SPORT, O_SIZE, O_WAIT,
	O_ARPTO, O_CTL,
};

int main(int argc, char **argv)
{
	/*
	 * --pidfile and --quiet keep codes of 256 and up rather than those of
	 * TOOL_COMMON_OPTIONS: with a code below 256, "--quiet=1" would set
	 * optopt and be reported as the short option "-q".
	 */
	static const struct option opts[] = {
		{ "tap", required_argument, 0, O_TAP },
		{ "mac", required_argument, 0, O_MAC },
		{ "ip", required_argument, 0, O_IP },
		{ "reply-delay-us", required_argument, 0, O_DELAY },
		{ "ctl-listen", required_argument, 0, O_CTL_LISTEN },
		{ "pidfile", required_argument, 0, O_PIDFILE },
		{ "no-garp", no_argument, 0, O_NOGARP },
		{ "quiet", no_argument, 0, O_QUIET },
		{ "peer", required_argument, 0, O_PEER },
		{ "proto", required_argument, 0, O_PROTO },
		{ "rate", required_argument, 0, O_RATE },
		{ "count", required_argument, 0, O_COUNT },
		{ "duration", required_argument, 0, O_DURATION },
		{ "dport", required_argument, 0, O_DPORT },
		{ "sport", required_argument, 0, O_SPORT },
		{ "size", required_argument, 0, O_SIZE },
		{ "wait-ms", required_argument, 0, O_WAIT },
		{ "arp-timeout-ms", required_argument, 0, O_ARPTO },
		{ "ctl", required_argument, 0, O_CTL },
		{ "help", no_argument, 0, 'h' },
		{ 0 },
	};
	static const char *spec_key[] = {
		[O_PEER - O_PEER] = "peer", [O_PROTO - O_PEER] = "proto",
		[O_RATE - O_PEER] = "rate", [O_COUNT - O_PEER] = "count",
		[O_DURATION - O_PEER] = "duration", [O_DPORT - O_PEER] = "dport",
		[O_SPORT - O_PEER] = "sport", [O_SIZE - O_PEER] = "size",
		[O_WAIT - O_PEER] = "wait_ms", [O_ARPTO - O_PEER] = "arp_timeout_ms",
	};
	const char *tap = NULL, *ctl_path = NULL, *ctl_client = NULL;
	bool have_mac = false, have_ip = false, garp = true, client = false, client_opt = false;
	struct run_spec spec;
	struct pollfd pfd[2 + MAX_CTL];
	uint8_t *rxbuf;
	sigset_t empty;
	uint64_t v;
	int c;

	spec_defaults(&spec);
	vm.mtu = 1500;
	vm.listen_fd = -1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		switch (c) {
		case O_TAP:
			if (strlen(optarg) >= IFNAMSIZ || !*optarg)
				die(2, "--tap: interface name must be 1..%d characters", IFNAMSIZ - 1);
			tap = optarg;
			break;
		case O_MAC:
			if (!parse_mac(optarg, vm.mac) || (vm.mac[0] & 1))
				die(2, "--mac: '%s' is not a unicast MAC address", optarg);
			have_mac = true;
			break;
		case O_IP: {
			char buf[32], *slash;

			snprintf(buf, sizeof(buf), "%s", optarg);
			slash = strchr(buf, '/');
			vm.prefix = 24;
			if (slash) {
				*slash = 0;
				if (!parse_u64(slash + 1, 32, &v) || v < 1)
					die(2, "--ip: prefix must be 1..32 in '%s'", optarg);
				vm.prefix = (int)v;
			}
			if (!parse_ip(buf, &vm.ip) || !vm.ip)
				die(2, "--ip: '%s' is not an IPv4 address", optarg);
			have_ip = true;
			break;
		}
		case O_DELAY:
			if (!parse_u64(optarg, 10000000, &v))
				die(2, "--reply-delay-us: must be 0..10000000");
			vm.reply_delay_ns = v * 1000;
			break;
		case O_CTL_LISTEN:
			ctl_path = optarg;
			break;
		case O_PIDFILE:
			tool_pidfile = optarg;
			break;
		case O_NOGARP:
			garp = false;
			break;
		case O_QUIET:
			tool_quiet = true;
			break;
		case O_CTL:
			ctl_client = optarg;
			break;
		default:
			if (c >= O_PEER && c <= O_ARPTO) {
				const char *err = spec_set(&spec, spec_key[c - O_PEER], optarg);

				if (err)
					die(2, "--%s", err);
				if (c == O_PEER)
					client = true;
				else
					client_opt = true;
				break;
			}
			/*
			 * An unknown short option is named by optopt, because argv
			 * may hold it inside a group such as -xh.  An unknown long
			 * option leaves optopt at 0, and tool_option() names it
			 * from argv.
			 */
			if (c == '?' && optopt > 0 && optopt < 256)
				die(2, "unknown option '-%c' (see -h)", optopt);
			tool_option(c, argv, usage);
		}
	}
	if (ctl_client)
		return ctl_client_main(ctl_client, argc - optind, argv + optind);
	if (optind < argc)
		die(2, "unexpected argument '%s' (see -h)", argv[optind]);
	if (!tap || !have_mac || !have_ip)
		die(2, "--tap, --mac and --ip are required (see -h)");
	if (client_opt && !client)
		die(2, "client options (--proto, --rate, ...) need --peer");
	if (client) {
		/* Checked against a 1500-byte MTU now and the tap's real MTU below. */
		const char *err = spec_check(&spec);

		if (err)
			die(2, "%s", err);
	}

	vm.tap = tap_open(tap);
	snprintf(vm.tap_name, sizeof(vm.tap_name), "%s", tap);
	if (client) {
		const char *err = spec_check(&spec);

		if (err)
			die(2, "%s", err);
	}
	if (getrandom(&vm.ip_id, sizeof(vm.ip_id), 0) < 0 ||
	    getrandom(&vm.tcp_seq, sizeof(vm.tcp_seq), 0) < 0) {
		vm.ip_id = (uint16_t)getpid();
		vm.tcp_seq = (uint32_t)now_ns();
	}
	vm.next_tag = (uint32_t)now_ns();
	for (int i = 0; i < MAX_CTL; i++) {
		vm.ctl[i].fd = -1;
		vm.ctl[i].run = -1;
	}
	for (int i = 0; i < MAX_RUNS; i++)
		vm.runs[i].ctl = -1;
	if (ctl_path) {
		vm.listen_fd = ctl_listen(ctl_path);
		vm.ctl_path = (char *)ctl_path;
	}
	rxbuf = malloc(RX_BUF);
	if (!rxbuf)
		die(1, "out of memory");

	tool_loop_setup(&empty, false);
	signal(SIGPIPE, SIG_IGN);

	/* Announce ourselves so the bridges learn our port before any request. */
	if (garp)
		arp_send(1, bcast_mac, bcast_mac, vm.ip);
	/* Written after the announcement: its existence means "ready". */
	tool_write_pidfile();
	{
		char ipb[16];

		tool_log("%s up: %s/%d %02x:%02x:%02x:%02x:%02x:%02x reply delay %" PRIu64 " us",
			 tap, ip_str(vm.ip, ipb), vm.prefix, vm.mac[0], vm.mac[1], vm.mac[2],
			 vm.mac[3], vm.mac[4], vm.mac[5], vm.reply_delay_ns / 1000);
	}
	if (client) {
		const char *err = run_start(&spec, -1, now_ns());

		if (err)
			die(2, "%s", err);
	}

	while (!stop_signal && !vm.cli_run_done) {
		uint64_t now = now_ns(), next = runs_tick(now);
		int n = 0, nctl = 0, ctl_idx[MAX_CTL];

		if (vm.cli_run_done)
			break;
		rq_flush(now);
		if (tool_fifo_next_due(&vm.rq) < next)
			next = tool_fifo_next_due(&vm.rq);
		pfd[n++] = (struct pollfd){ .fd = vm.tap, .events = POLLIN };
		if (vm.listen_fd >= 0)
			pfd[n++] = (struct pollfd){ .fd = vm.listen_fd, .events = POLLIN };
		for (int i = 0; i < MAX_CTL; i++)
			if (vm.ctl[i].fd >= 0) {
				ctl_idx[nctl++] = i;
				pfd[n++] = (struct pollfd){ .fd = vm.ctl[i].fd, .events = POLLIN };
			}
		if (!tool_ppoll(pfd, (nfds_t)n, now, next, &empty))
			continue;
		if (pfd[0].revents & (POLLERR | POLLHUP | POLLNVAL))
			die(1, "tap %s went away", tap);
		if (pfd[0].revents & POLLIN) {
			for (int i = 0; i < RX_BATCH; i++) {
				ssize_t r = read(vm.tap, rxbuf, RX_BUF);

				if (r < 0) {
					if (errno == EAGAIN || errno == EINTR)
						break;
					die(1, "read %s: %s", tap, strerror(errno));
				}
				handle_frame(rxbuf, (size_t)r, now_ns());
			}
		}
		now = now_ns();
		if (vm.listen_fd >= 0 && (pfd[1].revents & POLLIN))
			ctl_accept();
		for (int i = 0; i < nctl; i++) {
			struct pollfd *p = &pfd[(vm.listen_fd >= 0 ? 2 : 1) + i];

			if (p->revents && vm.ctl[ctl_idx[i]].fd == p->fd)
				ctl_read(ctl_idx[i], now);
		}
	}

	if (stop_signal)
		tool_log("signal %d, exiting", (int)stop_signal);
	tool_log("rx %" PRIu64 " tx %" PRIu64 " replies arp %" PRIu64 " icmp %" PRIu64
		 " udp %" PRIu64 " tcp %" PRIu64 " probe-replies %" PRIu64 " drops %" PRIu64,
		 vm.st.rx_frames, vm.st.tx_frames, vm.st.arp_replies, vm.st.icmp_replies,
		 vm.st.udp_replies, vm.st.tcp_replies, vm.st.probe_replies, vm.st.reply_drops);
	for (int i = 0; i < MAX_CTL; i++)
		if (vm.ctl[i].fd >= 0)
			ctl_close(i);
	if (vm.ctl_path)
		unlink(vm.ctl_path);
	tool_remove_pidfile();
	free(rxbuf);
	tool_fifo_free(&vm.rq);
	if (stop_signal && vm.exit_code == 0 && vm.cli_run_done == false && client)
		return 130;  /* interrupted before the run could report */
	return vm.exit_code;
}
