// SPDX-License-Identifier: MIT
/*
 * stagetrace virt MODE: dispatch to the virtualization tools. tun, vhost
 * and queues share one loader (cli/virt_net.c); virtio (guest side) is
 * cli/virt_virtio.c; kvm lives in cli/virt_kvm.c, built separately, so it
 * is reached through a weak reference: a build without it says so in one
 * line instead of failing to link. `stagetrace virt -h` lists the modes; each has its own -h.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "opts.h"
#include "virt_net.h"

int st_cmd_virt_kvm(int argc, char **argv) __attribute__((weak));

static int virt_kvm(int argc, char **argv)
{
	if (!st_cmd_virt_kvm) {
		fprintf(stderr, "error: stagetrace virt kvm is not built into this binary\n");
		return ST_EXIT_FAIL;
	}
	return st_cmd_virt_kvm(argc, argv);
}

static const struct {
	const char *name;
	int (*fn)(int, char **);
	const char *summary;
} modes[] = {
	{ "tun", virt_tun, "tun/tap queues: frames, ring fill level, drops on a full ring" },
	{ "vhost", virt_vhost, "vhost-net virtqueues: worker, tun queue, packets, guest signals" },
	{ "queues", virt_queues, "tun queue <-> vhost virtqueue <-> worker table with rates" },
	{ "virtio", virt_virtio, "guest virtio-net: RX interrupts, NAPI polls, RX path, TX (run in the VM)" },
	{ "kvm", virt_kvm, "KVM exits and interrupt injection (cli/virt_kvm.c)" },
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: stagetrace virt MODE [OPTIONS]\n\n"
		   "Virtualization data path tools (local, need root).\n\nModes:\n");
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		fprintf(f, "  %-8s %s\n", modes[i].name, modes[i].summary);
	fprintf(f, "\nRun 'stagetrace virt MODE -h' for a mode's options.\n"
		   "Exit status: 0 ok, 1 runtime failure (also: the mode's main hook is\n"
		   "unavailable on this kernel), 2 usage error.\n");
}

int cmd_virt(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "error: stagetrace virt needs a mode: tun, vhost, queues, virtio "
			"or kvm (try stagetrace virt -h)\n");
		return ST_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		return ST_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (!strcmp(argv[1], modes[i].name))
			return modes[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "error: unknown virt mode '%s' (tun, vhost, queues, virtio, kvm)\n",
		argv[1]);
	return ST_EXIT_USAGE;
}
