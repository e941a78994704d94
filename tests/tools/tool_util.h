// SPDX-License-Identifier: MIT
/*
 * tool_util.h - what the packet test tools (vmsim, wirefwd, nfqdelay) share.
 *
 * The three tools have the same skeleton: parse options, attach to a tap or
 * a netlink socket, block the stop signals, write a pidfile once ready, then
 * run one ppoll() loop that holds frames or packets in a FIFO until their due
 * time.  This header holds that skeleton once.  It is header-only on
 * purpose: the Makefile turns every .c file in tests/tools into its own
 * program (vmsim, the one tool built from several files, is the single
 * exception), so a shared .c file would have nowhere to go.  For the same
 * reason it needs nothing but libc.  A single-file tool is one translation
 * unit, so the few globals here (the signal flags and the settings of the
 * shared options) are file statics and exist once per program.  A tool made
 * of several files defines TOOL_MULTI_FILE in all of them and
 * TOOL_STATE_HERE in the one that holds main(): the globals are then one
 * set shared by all its files, so --quiet set in main() also silences a
 * message written by another file.  A tool defines TOOL_NAME, the prefix
 * of its messages, before including this file.  Times are CLOCK_MONOTONIC nanoseconds throughout,
 * and UINT64_MAX means "never".
 */
#ifndef STAGETRACE_TOOL_UTIL_H
#define STAGETRACE_TOOL_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef TOOL_NAME
#error "define TOOL_NAME (the program name that prefixes messages) before including tool_util.h"
#endif

/* ---------------------------------------------------------------------- */
/* Messages, time and numbers                                             */
/* ---------------------------------------------------------------------- */

/*
 * Storage of the globals below: file statics for a single-file tool, and
 * for a multi-file tool one definition (in the file with TOOL_STATE_HERE)
 * that the other files declare extern.
 */
#if !defined(TOOL_MULTI_FILE)
#define TOOL_STATE static
#elif defined(TOOL_STATE_HERE)
#define TOOL_STATE
#else
#define TOOL_STATE extern
#endif

/* Set by --quiet: tool_log() then prints nothing. */
TOOL_STATE bool tool_quiet;
/* Set by --pidfile: where tool_write_pidfile() writes, or NULL. */
TOOL_STATE const char *tool_pidfile;

/* Prints "TOOL_NAME: error: ..." to stderr and exits with code. */
__attribute__((noreturn, format(printf, 2, 3)))
static inline void die(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs(TOOL_NAME ": error: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(code);
}

/* Prints an informational "TOOL_NAME: ..." line to stderr unless --quiet. */
__attribute__((format(printf, 1, 2)))
static inline void tool_log(const char *fmt, ...)
{
	va_list ap;

	if (tool_quiet)
		return;
	va_start(ap, fmt);
	fputs(TOOL_NAME ": ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* The CLOCK_MONOTONIC time in nanoseconds, the one clock every tool uses. */
static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Strict unsigned parse: rejects empty strings, signs, junk and overflow. */
static inline bool parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-' || *s == '+')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return false;
	*out = v;
	return true;
}

/* ---------------------------------------------------------------------- */
/* Process set-up: options, signals, timer slack, pidfile                 */
/* ---------------------------------------------------------------------- */

/*
 * The long options every tool accepts, for the end of its option table.
 * Their codes are the ones tool_option() knows.
 */
#define TOOL_COMMON_OPTIONS                         \
	{ "pidfile", required_argument, 0, 'p' },   \
	{ "quiet", no_argument, 0, 'q' },           \
	{ "help", no_argument, 0, 'h' }

/*
 * Handles a getopt_long() result that every tool treats alike, for the
 * default branch of its switch.  It returns only after 'p' (--pidfile),
 * which sets tool_pidfile, and 'q' (--quiet), which sets tool_quiet.  'h'
 * (--help) prints usage to stdout and exits with 0.  ':' (an option without
 * its argument) and anything else (an unknown option) are usage errors:
 * the message names the word as it was given, and the exit code is 2.
 */
static inline void tool_option(int c, char **argv, void (*usage)(FILE *out))
{
	switch (c) {
	case 'p':
		tool_pidfile = optarg;
		return;
	case 'q':
		tool_quiet = true;
		return;
	case 'h':
		usage(stdout);
		exit(0);
	case ':':
		die(2, "option '%s' needs an argument (see -h)", argv[optind - 1]);
	default:
		die(2, "unknown option '%s' (see -h)", argv[optind - 1]);
	}
}

/* The number of the signal (SIGINT or SIGTERM) that asked us to stop, or 0. */
TOOL_STATE volatile sig_atomic_t stop_signal;
/* Set by SIGUSR1 when the tool asked for it: print the counters soon. */
TOOL_STATE volatile sig_atomic_t dump_request;

static inline void tool_on_signal(int sig)
{
	if (sig == SIGUSR1)
		dump_request = 1;
	else
		stop_signal = sig;
}

/*
 * Prepares the process for its ppoll() loop.  SIGINT and SIGTERM (and
 * SIGUSR1 when with_usr1 is true) set the flags above, and they are blocked
 * except inside ppoll(), so a signal can never slip in between checking a
 * flag and going to sleep; *ppoll_mask receives the mask to hand to
 * tool_ppoll().  The timer slack is cut to 1 ns because the default 50 us
 * would blur every delay and pacing interval the tools produce.
 */
static inline void tool_loop_setup(sigset_t *ppoll_mask, bool with_usr1)
{
	struct sigaction sa = { .sa_handler = tool_on_signal };
	sigset_t block;

	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	if (with_usr1)
		sigaddset(&block, SIGUSR1);
	sigprocmask(SIG_BLOCK, &block, NULL);
	sigemptyset(ppoll_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (with_usr1)
		sigaction(SIGUSR1, &sa, NULL);
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
}

/*
 * Writes our pid to tool_pidfile, if --pidfile was given.  Tools call this
 * only once they are ready, so the file's existence tells the caller that
 * start-up is complete.  The pid is written to a .tmp file first and renamed
 * into place, so a reader never sees a half-written file.  Dies on failure.
 */
static inline void tool_write_pidfile(void)
{
	const char *path = tool_pidfile;
	char tmp[PATH_MAX];
	FILE *f;

	if (!path)
		return;
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		die(2, "--pidfile: path too long");
	f = fopen(tmp, "w");
	if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f) != 0 || rename(tmp, path) < 0)
		die(1, "write pidfile %s: %s", path, strerror(errno));
}

/* Removes the pidfile on the way out, if there is one. */
static inline void tool_remove_pidfile(void)
{
	if (tool_pidfile)
		unlink(tool_pidfile);
}

/* ---------------------------------------------------------------------- */
/* Tap devices                                                            */
/* ---------------------------------------------------------------------- */

/*
 * Attaches to the existing tap device name in the current network namespace
 * and returns a non-blocking descriptor for it; the descriptor stays bound
 * to that namespace for its whole life.  The caller must first check that
 * the device exists, because TUNSETIFF would otherwise quietly create a new
 * tap that no bridge knows about.  where is printed after the tap's name if
 * attaching fails (for example " in 'ns1'", or "").  Dies on failure.
 */
static inline int tool_tap_attach(const char *name, const char *where)
{
	struct ifreq ifr = { 0 };
	int fd;

	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		die(1, "open /dev/net/tun: %s", strerror(errno));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		die(1, "attach to tap '%s'%s: %s", name, where, strerror(errno));
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
		die(1, "fcntl: %s", strerror(errno));
	return fd;
}

/*
 * Sets the link name up unless it already is, so that its bridge port
 * starts forwarding.  Returns -1 with errno set only when the link was down
 * and could not be set up; if its state cannot even be read, it returns 0
 * and leaves the problem to show up later.
 */
static inline int tool_link_up(const char *name)
{
	struct ifreq q = { 0 };
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc = 0, err = 0;

	if (s < 0)
		return 0;
	snprintf(q.ifr_name, IFNAMSIZ, "%s", name);
	if (ioctl(s, SIOCGIFFLAGS, &q) == 0 && !(q.ifr_flags & IFF_UP)) {
		q.ifr_flags |= IFF_UP;
		if (ioctl(s, SIOCSIFFLAGS, &q) < 0) {
			rc = -1;
			err = errno;
		}
	}
	close(s);
	errno = err;
	return rc;
}

/* ---------------------------------------------------------------------- */
/* The main loop's wait                                                   */
/* ---------------------------------------------------------------------- */

/*
 * Waits in ppoll() on pfd until a descriptor is ready, a signal arrives or
 * the time next comes (never, if next is UINT64_MAX).  now is the time the
 * caller read when it computed next.  Returns false if a signal interrupted
 * the wait, so the caller can re-check its flags; dies on any other error.
 */
static inline bool tool_ppoll(struct pollfd *pfd, nfds_t n, uint64_t now, uint64_t next,
			      const sigset_t *ppoll_mask)
{
	struct timespec ts, *tsp = NULL;

	if (next != UINT64_MAX) {
		uint64_t d = next > now ? next - now : 0;

		ts.tv_sec = (time_t)(d / 1000000000ull);
		ts.tv_nsec = (long)(d % 1000000000ull);
		tsp = &ts;
	}
	if (ppoll(pfd, n, tsp, ppoll_mask) < 0) {
		if (errno == EINTR)
			return false;
		die(1, "ppoll: %s", strerror(errno));
	}
	return true;
}

/* ---------------------------------------------------------------------- */
/* A FIFO of entries held until their due time                            */
/* ---------------------------------------------------------------------- */

/*
 * A growable ring of fixed-size entries.  Every entry type begins with
 * "uint64_t due", the time it may leave.  The tools hold entries for a
 * constant delay, so arrival order is also departure order and a FIFO is
 * all the scheduling they need.  The ring starts with first_cap slots on
 * the first push and doubles whenever it is full, up to max_cap slots; that
 * bound is what keeps a flood from eating all memory.
 */
struct tool_fifo {
	unsigned char *slot;   /* cap entries of size bytes each */
	size_t size;
	uint32_t cap, head, len;
	uint32_t first_cap, max_cap;
};

/*
 * Initialiser for a FIFO of type entries.  It refuses to compile unless
 * type begins with a uint64_t named due.
 */
#define TOOL_FIFO_INIT(type, first, max)                                          \
	{                                                                         \
		.size = sizeof(type) +                                            \
			0 * sizeof(char[offsetof(type, due) == 0 &&               \
					sizeof(((type *)0)->due) == 8 ? 1 : -1]), \
		.first_cap = (first), .max_cap = (max),                           \
	}

/* The i-th entry counted from the oldest; i must be below len. */
static inline void *tool_fifo_at(const struct tool_fifo *q, uint32_t i)
{
	return q->slot + (size_t)((q->head + i) % q->cap) * q->size;
}

/* Doubles the capacity, keeping the order; false at max_cap or without memory. */
static inline bool tool_fifo_grow(struct tool_fifo *q)
{
	uint32_t ncap = q->cap ? q->cap * 2 : q->first_cap;
	unsigned char *n;

	if (ncap > q->max_cap)
		return false;
	n = malloc((size_t)ncap * q->size);
	if (!n)
		return false;
	if (q->len) {
		/* The entries wrap at most once: copy the two runs in order. */
		uint32_t run = q->cap - q->head < q->len ? q->cap - q->head : q->len;

		memcpy(n, tool_fifo_at(q, 0), (size_t)run * q->size);
		memcpy(n + (size_t)run * q->size, q->slot, (size_t)(q->len - run) * q->size);
	}
	free(q->slot);
	q->slot = n;
	q->cap = ncap;
	q->head = 0;
	return true;
}

/*
 * Appends an entry and returns it for the caller to fill in, due time
 * first.  Returns NULL when the FIFO is full at max_cap or memory ran out.
 */
static inline void *tool_fifo_push(struct tool_fifo *q)
{
	if (q->len == q->cap && !tool_fifo_grow(q))
		return NULL;
	q->len++;
	return tool_fifo_at(q, q->len - 1);
}

/* Removes the n oldest entries. */
static inline void tool_fifo_pop(struct tool_fifo *q, uint32_t n)
{
	if (!n)
		return;
	q->head = (q->head + n) % q->cap;
	q->len -= n;
}

/* The due time of the oldest entry, or UINT64_MAX when the FIFO is empty. */
static inline uint64_t tool_fifo_next_due(const struct tool_fifo *q)
{
	return q->len ? *(const uint64_t *)tool_fifo_at(q, 0) : UINT64_MAX;
}

/*
 * How many entries, counted from the oldest, are due at now.  It stops at
 * the first entry that is not due yet, so an entry never overtakes an older
 * one, even when a later delay is shorter.
 */
static inline uint32_t tool_fifo_due(const struct tool_fifo *q, uint64_t now)
{
	uint32_t n = 0;

	while (n < q->len && *(const uint64_t *)tool_fifo_at(q, n) <= now)
		n++;
	return n;
}

static inline void tool_fifo_free(struct tool_fifo *q)
{
	free(q->slot);
	q->slot = NULL;
	q->cap = q->head = q->len = 0;
}

#endif /* STAGETRACE_TOOL_UTIL_H */
