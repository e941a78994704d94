/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * CO-RE views of the vhost-net and KVM irqfd objects, shared by the
 * programs that follow a received packet from vhost's RX virtqueue to the
 * guest interrupt: `latency --path tap-to-irq` / `virt kvm`
 * (bpf/virt_kvm.bpf.c) and the agent's vhost_rx / irq_inject stages
 * (bpf/stages_vhostrx.bpf.h). Only the fields read are declared; libbpf
 * matches each flavour by name (the ___st suffix stripped) against the
 * running kernel's or the module's (vhost.ko, vhost_net.ko, kvm.ko, tun.ko)
 * BTF, so no offset is compiled in. Kept in one place so that the two
 * users cannot disagree about how a queue leads to its eventfd and GSI.
 */
#ifndef ST_BPF_VHOST_KVM_BPF_H
#define ST_BPF_VHOST_KVM_BPF_H

/* include/uapi/linux/eventpoll.h: the poll flags irqfd_wakeup gets as key. */
#define ST_EPOLLIN  0x1
#define ST_EPOLLHUP 0x10

struct kvm___st {
	int userspace_pid;
} __attribute__((preserve_access_index));

struct kvm_kernel_irqfd___st {
	struct kvm___st *kvm;
	wait_queue_entry_t wait;
	int gsi;
	struct work_struct inject;
	struct eventfd_ctx *eventfd;
} __attribute__((preserve_access_index));

struct vhost_vring_call___st {
	struct eventfd_ctx *ctx;
} __attribute__((preserve_access_index));

struct vhost_virtqueue___st {
	struct vhost_vring_call___st call_ctx;
	void *private_data;
} __attribute__((preserve_access_index));

struct vhost_net_virtqueue___st {
	struct vhost_virtqueue___st vq;
} __attribute__((preserve_access_index));

struct vhost_net___st {
	struct vhost_net_virtqueue___st vqs[2];
} __attribute__((preserve_access_index));

/* irqfd_wakeup(wait, mode, sync, key) gets the wait queue entry KVM embeds
 * in its irqfd: container_of with the running kernel's offset. */
static __always_inline struct kvm_kernel_irqfd___st *st_irqfd_of_wait(__u64 wait)
{
	return (void *)(wait - bpf_core_field_offset(struct kvm_kernel_irqfd___st, wait));
}

/* The eventfd a vhost virtqueue signals when it hands buffers to the guest
 * (VHOST_SET_VRING_CALL; qemu binds it to an MSI with KVM_IRQFD). */
static __always_inline __u64 st_vq_call_eventfd(struct vhost_virtqueue___st *vq)
{
	return (__u64)BPF_CORE_READ(vq, call_ctx.ctx);
}

#endif /* ST_BPF_VHOST_KVM_BPF_H */
