// SPDX-License-Identifier: MIT
/*
 * kvmirq - the smallest KVM user that makes the kernel inject interrupts
 * through an irqfd, the way qemu wires a virtio device's "call" eventfd to
 * a guest MSI vector, so that the kernel matrix (tests/vm) can watch
 * eventfd -> irqfd_wakeup -> kvm_arch_set_irq_inatomic / irqfd_inject ->
 * kvm:kvm_msi_set_irq / kvm:kvm_set_irq happen for real.
 *
 * It creates a VM with the in-kernel irqchip and one vCPU (never run: the
 * vCPU only gives the interrupt a target, so KVM can inject in the
 * signalling task; --no-vcpu leaves it out, so the fast path cannot
 * deliver and every injection is deferred to irqfd_inject), replaces the
 * GSI routing with one route for GSI --gsi (x86: an MSI to APIC 0, vector
 * 0x30; arm64: a vGICv3 SPI, gsi + 32, or with --route msi an MSI that
 * no ITS translates -- kvmirq_arch.h has the details)
 * and binds an eventfd to that GSI with KVM_IRQFD. Then either:
 *   --writes N   write the eventfd N times, --gap-us apart (the kernel path
 *                starts at eventfd_write, not eventfd_signal), or
 *   -- CMD ARGS  run CMD with the eventfd inherited as descriptor 3 and
 *                wait for it (tests/tools/vhostnet --call-fd 3 makes it its
 *                RX call eventfd, so vhost's eventfd_signal injects).
 * Prints one JSON line {"pid":P,"gsi":G,"writes":N,"eventfd_count":C,
 * "arch":"x86"|"arm64","route":"msi"|"spi"} (C: the eventfd's counter at
 * the end, which irqfd never consumes: the sum of every signal) and exits
 * 0, or with the child's status.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kvmirq_arch.h"

static void die(const char *what)
{
	fprintf(stderr, "kvmirq: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void sleep_us(unsigned us)
{
	struct timespec ts = { us / 1000000, (long)(us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "gsi", 1, 0, 'g' }, { "writes", 1, 0, 'w' }, { "gap-us", 1, 0, 'u' },
		{ "no-vcpu", 0, 0, 'n' }, { "route", 1, 0, 'r' }, { "help", 0, 0, 'h' }, { 0 },
	};
	unsigned gsi = 24, writes = 0, gap = 2000;
	struct kvm_irqfd irqfd;
	uint64_t cnt = 0;
	const char *route = KVMIRQ_DEFAULT_ROUTE;
	int o, kvm, vm, vcpu = -1, efd, rc = 0, no_vcpu = 0;

	while ((o = getopt_long(argc, argv, "+", lo, NULL)) != -1) {
		switch (o) {
		case 'g': gsi = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'w': writes = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'u': gap = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'n': no_vcpu = 1; break;
		case 'r': route = optarg; break;
		default:
			fprintf(stderr, "usage: kvmirq [--gsi G] [--gap-us U] [--no-vcpu] [--route msi|spi] (--writes N | -- CMD ARGS...)\n");
			return o == 'h' ? 0 : 2;
		}
	}
	if ((!writes) == (optind >= argc) || gsi > 1023 || writes > 1000000 ||
	    (strcmp(route, "msi") && strcmp(route, "spi"))) {
		fprintf(stderr, "kvmirq: need exactly one of --writes N (1..1000000) or -- CMD; GSI <= 1023; --route msi|spi\n");
		return 2;
	}

	/* A VM with its in-kernel interrupt controller, one (idle) vCPU and
	 * one route for the GSI (kvmirq_arch.h: MSI on x86, SPI on arm64). */
	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		die("/dev/kvm");
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		die("KVM_CREATE_VM");
	vcpu = kvmirq_arch_setup(vm, !no_vcpu, gsi, !strcmp(route, "msi"));

	efd = eventfd(0, EFD_NONBLOCK);
	if (efd < 0)
		die("eventfd");
	memset(&irqfd, 0, sizeof(irqfd));
	irqfd.fd = (uint32_t)efd;
	irqfd.gsi = gsi;
	if (ioctl(vm, KVM_IRQFD, &irqfd))
		die("KVM_IRQFD");

	if (writes) {
		for (unsigned i = 0; i < writes; i++) {
			uint64_t one = 1;

			if (write(efd, &one, sizeof(one)) != sizeof(one))
				die("eventfd write");
			if (gap)
				sleep_us(gap);
		}
	} else {
		pid_t pid = fork();
		int st = 0;

		if (pid < 0)
			die("fork");
		if (pid == 0) {
			if (dup2(efd, 3) < 0)
				die("dup2");
			execvp(argv[optind], argv + optind);
			die(argv[optind]);
		}
		if (waitpid(pid, &st, 0) < 0)
			die("waitpid");
		rc = WIFEXITED(st) ? WEXITSTATUS(st) : 1;
	}
	/* What the eventfd counted (read resets it; irqfd never does). */
	if (read(efd, &cnt, sizeof(cnt)) != sizeof(cnt))
		cnt = 0;
	printf("{\"pid\":%d,\"gsi\":%u,\"writes\":%u,\"eventfd_count\":%llu,\"arch\":\"%s\",\"route\":\"%s\"}\n",
	       (int)getpid(), gsi, writes, (unsigned long long)cnt, KVMIRQ_ARCH, route);
	fflush(stdout);
	close(efd);
	if (vcpu >= 0)
		close(vcpu);
	close(vm);
	close(kvm);
	return rc;
}
