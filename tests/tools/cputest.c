// SPDX-License-Identifier: MIT
/*
 * cputest: a process that creates, on demand, the conditions the
 * `stagetrace cpu` modes detect, and reports what it did with its own
 * clock, so a test can compare a tool's measurement with the truth.
 *
 *   cputest [-w] sleep MS N      block N times for MS ms in a known stack
 *                                (main -> cputest_block_outer ->
 *                                cputest_block_inner -> nanosleep)
 *   cputest [-w] futex MS N      N FUTEX_WAIT_PRIVATE calls on one word that
 *                                nobody wakes, each timing out after MS ms
 *   cputest [-w] rwlock MS N     two threads contend for one rwlock N times:
 *                                the holder keeps the write lock MS ms while
 *                                the other waits in pthread_rwlock_wrlock;
 *                                then N uncontended rdlock calls
 *   cputest [-w] busy SEC [T]    T threads (default 1) spin for SEC seconds
 *   cputest [-w] alt MS N        two processes take turns N times: this one
 *                                spins MS ms with one thread, then a child
 *                                spins MS ms with two threads; so both see
 *                                the same background load, interleaved
 *
 * -w: print "ready pid=PID" and wait for SIGUSR1 before starting, so a
 * tracer filtered to this pid can attach first. At the end a line of
 * key=value facts (pid, addresses, measured times in ns) is printed.
 *
 * Built with frame pointers (the pragma below) because the kernel walks
 * user stacks by frame pointer; the blocking functions are noinline so
 * they exist as frames at all.
 */
#pragma GCC optimize("no-omit-frame-pointer")

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* ---- sleep -------------------------------------------------------------- */

__attribute__((noinline)) void cputest_block_inner(long ms)
{
	sleep_ms(ms);
	__asm__ volatile("" ::: "memory");	/* no tail call */
}

__attribute__((noinline)) void cputest_block_outer(long ms)
{
	cputest_block_inner(ms);
	__asm__ volatile("" ::: "memory");
}

static int do_sleep(long ms, long n)
{
	uint64_t t0 = now_ns();

	for (long i = 0; i < n; i++)
		cputest_block_outer(ms);
	printf("pid=%d blocked_ns=%llu n=%ld\n", getpid(), (unsigned long long)(now_ns() - t0), n);
	return 0;
}

/* ---- futex -------------------------------------------------------------- */

static uint32_t futex_word;

__attribute__((noinline)) long cputest_futex_wait(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	return syscall(SYS_futex, &futex_word, FUTEX_WAIT_PRIVATE, 0, &ts, NULL, 0);
}

static int do_futex(long ms, long n)
{
	uint64_t t0 = now_ns();
	long timeouts = 0;

	for (long i = 0; i < n; i++)
		if (cputest_futex_wait(ms) < 0 && errno == ETIMEDOUT)
			timeouts++;
	printf("pid=%d uaddr=0x%llx waited_ns=%llu n=%ld timeouts=%ld\n", getpid(),
	       (unsigned long long)(uintptr_t)&futex_word,
	       (unsigned long long)(now_ns() - t0), n, timeouts);
	return 0;
}

/* ---- rwlock ------------------------------------------------------------- */

static pthread_rwlock_t rwl = PTHREAD_RWLOCK_INITIALIZER;
static pthread_barrier_t bar;
static long rw_ms, rw_n;
static uint64_t rw_waited;

__attribute__((noinline)) void cputest_rwlock_waiter(void)
{
	uint64_t t0 = now_ns();

	pthread_rwlock_wrlock(&rwl);
	rw_waited += now_ns() - t0;
	__asm__ volatile("" ::: "memory");
}

static void *holder(void *arg)
{
	(void)arg;
	for (long i = 0; i < rw_n; i++) {
		pthread_rwlock_wrlock(&rwl);
		pthread_barrier_wait(&bar);	/* the waiter may try now */
		sleep_ms(rw_ms);
		pthread_rwlock_unlock(&rwl);
		pthread_barrier_wait(&bar);	/* the waiter got it and let go */
	}
	return NULL;
}

static int do_rwlock(long ms, long n)
{
	pthread_t th;

	rw_ms = ms;
	rw_n = n;
	pthread_barrier_init(&bar, NULL, 2);
	pthread_create(&th, NULL, holder, NULL);
	for (long i = 0; i < n; i++) {
		pthread_barrier_wait(&bar);
		cputest_rwlock_waiter();
		pthread_rwlock_unlock(&rwl);
		pthread_barrier_wait(&bar);
	}
	pthread_join(th, NULL);
	for (long i = 0; i < n; i++) {
		pthread_rwlock_rdlock(&rwl);
		pthread_rwlock_unlock(&rwl);
	}
	printf("pid=%d lock=0x%llx waited_ns=%llu n=%ld\n", getpid(),
	       (unsigned long long)(uintptr_t)&rwl, (unsigned long long)rw_waited, n);
	return 0;
}

/* ---- busy --------------------------------------------------------------- */

static volatile int spin_stop;

__attribute__((noinline)) static void *cputest_spin(void *arg)
{
	volatile uint64_t x = 0;

	(void)arg;
	while (!spin_stop)
		x++;
	return NULL;
}

static int do_busy(double sec, long threads)
{
	pthread_t th[64];
	long i;

	if (threads < 1 || threads > 64)
		threads = 1;
	for (i = 1; i < threads; i++)
		pthread_create(&th[i], NULL, cputest_spin, NULL);
	/* The main thread spins too; an alarm-free stop via a timer thread
	 * would add a thread, so spin with a deadline check instead. */
	{
		uint64_t end = now_ns() + (uint64_t)(sec * 1e9);
		volatile uint64_t x = 0;

		while (now_ns() < end)
			x++;
	}
	spin_stop = 1;
	for (i = 1; i < threads; i++)
		pthread_join(th[i], NULL);
	printf("pid=%d busy_s=%g threads=%ld\n", getpid(), sec, threads);
	return 0;
}

/* ---- alt: one spinner, then two, in turns --------------------------------- */

static uint64_t alt_t0, alt_ns;
static long alt_n;

static void sleep_until_ns(uint64_t t)
{
	struct timespec ts = { (time_t)(t / 1000000000ull), (long)(t % 1000000000ull) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/* Spin in the first (half 0) or second (half 1) half of every period. */
static void *alt_loop(void *arg)
{
	uint64_t half = (uint64_t)(uintptr_t)arg;
	volatile uint64_t x = 0;

	for (long k = 0; k < alt_n; k++) {
		uint64_t start = alt_t0 + (uint64_t)k * 2 * alt_ns + half * alt_ns;

		sleep_until_ns(start);
		while (now_ns() < start + alt_ns)
			x++;
	}
	return NULL;
}

static int do_alt(long ms, long n)
{
	pid_t c;
	int st;

	alt_ns = (uint64_t)ms * 1000000ull;
	alt_n = n;
	alt_t0 = now_ns() + 100000000ull;	/* both processes start in 100 ms */
	c = fork();
	if (c < 0)
		return 1;
	if (c == 0) {
		pthread_t th;

		pthread_create(&th, NULL, alt_loop, (void *)(uintptr_t)1);
		alt_loop((void *)(uintptr_t)1);
		pthread_join(th, NULL);
		_exit(0);
	}
	alt_loop((void *)(uintptr_t)0);
	waitpid(c, &st, 0);
	printf("pid=%d one=%d two=%d ms=%ld n=%ld\n", getpid(), getpid(), (int)c, ms, n);
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: cputest [-w] sleep MS N | futex MS N | rwlock MS N | "
		"busy SEC [THREADS] | alt MS N\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int a = 1;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1 && !strcmp(argv[1], "-w")) {
		sigset_t set;
		int sig;

		sigemptyset(&set);
		sigaddset(&set, SIGUSR1);
		sigprocmask(SIG_BLOCK, &set, NULL);
		printf("ready pid=%d\n", getpid());
		sigwait(&set, &sig);
		a = 2;
	}
	if (argc < a + 2)
		usage();
	if (!strcmp(argv[a], "sleep") && argc == a + 3)
		return do_sleep(atol(argv[a + 1]), atol(argv[a + 2]));
	if (!strcmp(argv[a], "futex") && argc == a + 3)
		return do_futex(atol(argv[a + 1]), atol(argv[a + 2]));
	if (!strcmp(argv[a], "rwlock") && argc == a + 3)
		return do_rwlock(atol(argv[a + 1]), atol(argv[a + 2]));
	if (!strcmp(argv[a], "alt") && argc == a + 3)
		return do_alt(atol(argv[a + 1]), atol(argv[a + 2]));
	if (!strcmp(argv[a], "busy") && (argc == a + 2 || argc == a + 3))
		return do_busy(atof(argv[a + 1]), argc == a + 3 ? atol(argv[a + 2]) : 1);
	usage();
	return 2;
}
