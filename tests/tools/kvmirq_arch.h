// SPDX-License-Identifier: MIT
/*
 * kvmirq_arch.h - the part of tests/tools/kvmirq.c that differs between
 * x86 and arm64: how a VM gets an in-kernel interrupt controller, a vCPU
 * and the one route its irqfd GSI uses.
 *
 * x86: KVM_CREATE_IRQCHIP (PIC, IOAPIC, local APICs), one vCPU, and an MSI
 * route to APIC 0 vector 0x30, what qemu installs for a virtio vector.
 *
 * arm64: there is no KVM_CREATE_IRQCHIP; the interrupt controller is a
 * vGICv3 device (KVM_CREATE_DEVICE), whose distributor and
 * redistributor need guest-physical addresses, and which can only be
 * initialised (KVM_DEV_ARM_VGIC_CTRL_INIT) once the vCPUs exist and have
 * been given their CPU model (KVM_ARM_VCPU_INIT with the host's preferred
 * target). The default route is an irqchip one: GSI g -> pin g of the
 * vGIC, which KVM turns into SPI g + 32 (vgic_irqfd_set_irq). --route msi
 * installs an MSI route instead; this VM has no ITS, so
 * kvm_arch_set_irq_inatomic cannot translate it in the signalling task and
 * every injection is deferred to irqfd_inject in a kworker, where
 * kvm_set_msi refuses it (-ENODEV, no ITS; kvm:kvm_set_irq still sees both
 * levels): the deferred path, taken for real. --no-vcpu is refused: KVM
 * needs an initialised vGIC for KVM_IRQFD (it answers EAGAIN).
 *
 * Header-only like tool_util.h: the Makefile builds every .c in tests/tools
 * as its own program. The addresses are the qemu "virt" machine's; the
 * vCPU never runs, so they only have to be valid and 64 KiB aligned.
 */
#ifndef STAGETRACE_KVMIRQ_ARCH_H
#define STAGETRACE_KVMIRQ_ARCH_H

#include <errno.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

static void die(const char *what);

/* Replaces the VM's GSI routing with the single entry *e. */
static void kvmirq_set_route(int vm, const struct kvm_irq_routing_entry *e)
{
	struct kvm_irq_routing *rt = calloc(1, sizeof(*rt) + sizeof(rt->entries[0]));

	if (!rt)
		die("calloc");
	rt->nr = 1;
	rt->entries[0] = *e;
	if (ioctl(vm, KVM_SET_GSI_ROUTING, rt))
		die("KVM_SET_GSI_ROUTING");
	free(rt);
}

#if defined(__aarch64__)

#define KVMIRQ_ARCH "arm64"
#define KVMIRQ_DEFAULT_ROUTE "spi"
#define KVMIRQ_GIC_DIST 0x08000000ULL
#define KVMIRQ_GIC_REDIST 0x080a0000ULL

static void vgic_attr(int dev, uint32_t group, uint64_t attr, uint64_t *val, const char *what)
{
	struct kvm_device_attr a = {
		.group = group, .attr = attr, .addr = (uint64_t)(uintptr_t)val,
	};

	if (ioctl(dev, KVM_SET_DEVICE_ATTR, &a))
		die(what);
}

/* The vGICv3, its vCPU and the route (msi: 1); returns the vCPU fd. */
static int kvmirq_arch_setup(int vm, int with_vcpu, unsigned gsi, int msi)
{
	struct kvm_create_device cd = { .type = KVM_DEV_TYPE_ARM_VGIC_V3 };
	struct kvm_irq_routing_entry e;
	struct kvm_vcpu_init init;
	uint64_t dist = KVMIRQ_GIC_DIST, redist = KVMIRQ_GIC_REDIST;
	int vcpu;

	if (!with_vcpu) {
		errno = EINVAL;
		die("--no-vcpu: arm64 KVM needs an initialised vGIC, hence a vCPU, for KVM_IRQFD");
	}
	if (ioctl(vm, KVM_CREATE_DEVICE, &cd))
		die("KVM_CREATE_DEVICE vGICv3");
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		die("KVM_CREATE_VCPU");
	memset(&init, 0, sizeof(init));
	if (ioctl(vm, KVM_ARM_PREFERRED_TARGET, &init))
		die("KVM_ARM_PREFERRED_TARGET");
	if (ioctl(vcpu, KVM_ARM_VCPU_INIT, &init))
		die("KVM_ARM_VCPU_INIT");
	vgic_attr((int)cd.fd, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_DIST,
		  &dist, "vGIC distributor address");
	vgic_attr((int)cd.fd, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_REDIST,
		  &redist, "vGIC redistributor address");
	/* Sets up the default GSI -> SPI routes too; ours replace them. */
	vgic_attr((int)cd.fd, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT,
		  NULL, "KVM_DEV_ARM_VGIC_CTRL_INIT");
	memset(&e, 0, sizeof(e));
	e.gsi = gsi;
	if (msi) {
		/* What a GICv3 ITS doorbell would get (GITS_TRANSLATER). */
		e.type = KVM_IRQ_ROUTING_MSI;
		e.u.msi.address_lo = 0x08090040;
		e.u.msi.data = gsi;
	} else {
		e.type = KVM_IRQ_ROUTING_IRQCHIP;
		e.u.irqchip.irqchip = 0;
		e.u.irqchip.pin = gsi;	/* SPI gsi + 32 */
	}
	kvmirq_set_route(vm, &e);
	return vcpu;
}

#else /* x86 */

#define KVMIRQ_ARCH "x86"
#define KVMIRQ_DEFAULT_ROUTE "msi"

/* The in-kernel PIC/IOAPIC/LAPIC, one idle vCPU unless with_vcpu is 0
 * (then no APIC map: every injection is deferred), one MSI route. */
static int kvmirq_arch_setup(int vm, int with_vcpu, unsigned gsi, int msi)
{
	struct kvm_irq_routing_entry e;
	int vcpu = -1;

	if (!msi) {
		errno = EINVAL;
		die("--route spi: x86 has no SPIs (msi only)");
	}

	if (ioctl(vm, KVM_CREATE_IRQCHIP, 0))
		die("KVM_CREATE_IRQCHIP");
	if (with_vcpu) {
		vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
		if (vcpu < 0)
			die("KVM_CREATE_VCPU");
	}
	memset(&e, 0, sizeof(e));
	e.gsi = gsi;
	e.type = KVM_IRQ_ROUTING_MSI;
	e.u.msi.address_lo = 0xfee00000;	/* APIC 0, physical */
	e.u.msi.data = 0x30;			/* fixed, vector 0x30 */
	kvmirq_set_route(vm, &e);
	return vcpu;
}

#endif

#endif /* STAGETRACE_KVMIRQ_ARCH_H */
