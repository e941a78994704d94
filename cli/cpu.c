// SPDX-License-Identifier: MIT
/*
 * stagetrace cpu MODE: dispatch to the CPU and scheduling tools, one file
 * per mode (cli/cpu_<mode>.c). `stagetrace cpu -h` lists the modes; each
 * mode has its own -h.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cpu.h"
#include "opts.h"

static const struct {
	const char *name;
	int (*fn)(int, char **);
	const char *summary;
} modes[] = {
	{ "offcpu", cpu_offcpu, "off-CPU time per thread and kernel+user stack; -v: each blocking episode" },
	{ "futex", cpu_futex, "futex calls and wait time per process, address and operation; histogram" },
	{ "rwlock", cpu_rwlock, "pthread_rwlock_wrlock/rdlock waits via uprobes: counts, histogram, callers" },
	{ "top", cpu_top, "CPU utilisation per CPU and the busiest processes per interval (/proc)" },
	{ "runqlat", cpu_runqlat, "run-queue latency (wakeup to running) histograms, overall, per CPU or process" },
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: stagetrace cpu MODE [OPTIONS]\n\n"
		   "CPU and scheduling tools (local; the BPF modes need root).\n\nModes:\n");
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		fprintf(f, "  %-8s %s\n", modes[i].name, modes[i].summary);
	fprintf(f, "\nRun 'stagetrace cpu MODE -h' for a mode's options.\n"
		   "Exit status: 0 ok, 1 runtime failure, 2 usage error.\n");
}

int cmd_cpu(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "error: stagetrace cpu needs a mode: offcpu, futex, rwlock, top "
			"or runqlat (try stagetrace cpu -h)\n");
		return ST_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		return ST_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (!strcmp(argv[1], modes[i].name))
			return modes[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "error: unknown cpu mode '%s' (offcpu, futex, rwlock, top, runqlat)\n",
		argv[1]);
	return ST_EXIT_USAGE;
}
