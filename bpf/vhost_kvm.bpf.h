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
 *
 * The two hooks both users share come as program pairs (fentry, whose
 * arguments bpf_get_func_arg reads, and kprobe, from the registers), so
 * that which argument is which is written once:
 *   vhost_add_used_and_signal_n(dev, vq, heads, count) -> fn(vq, count)
 *   irqfd_wakeup(wait, mode, sync, key)                -> fn(wait, key)
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

/* Programs fentry_name and kprobe_name on vhost_add_used_and_signal_n,
 * each returning fn((struct vhost_virtqueue___st *)vq, (__u32)count). */
#define ST_USED_SIGNAL_PROGS(fentry_name, kprobe_name, fn)			\
SEC("fentry/vhost_add_used_and_signal_n")					\
int fentry_name(__u64 *ctx)							\
{										\
	__u64 vq = 0, n = 0;							\
										\
	bpf_get_func_arg(ctx, 1, &vq);						\
	bpf_get_func_arg(ctx, 3, &n);						\
	return fn((struct vhost_virtqueue___st *)vq, (__u32)n);			\
}										\
SEC("kprobe/vhost_add_used_and_signal_n")					\
int kprobe_name(struct pt_regs *ctx)						\
{										\
	return fn((struct vhost_virtqueue___st *)PT_REGS_PARM2(ctx),		\
		  (__u32)PT_REGS_PARM4(ctx));					\
}

/* Programs fentry_name and kprobe_name on irqfd_wakeup, each returning
 * fn((__u64)wait, (__u64)key). */
#define ST_IRQFD_WAKEUP_PROGS(fentry_name, kprobe_name, fn)			\
SEC("fentry/irqfd_wakeup")							\
int fentry_name(__u64 *ctx)							\
{										\
	__u64 wait = 0, key = 0;						\
										\
	bpf_get_func_arg(ctx, 0, &wait);					\
	bpf_get_func_arg(ctx, 3, &key);						\
	return fn(wait, key);							\
}										\
SEC("kprobe/irqfd_wakeup")							\
int kprobe_name(struct pt_regs *ctx)						\
{										\
	return fn(PT_REGS_PARM1(ctx), PT_REGS_PARM4(ctx));			\
}

#endif /* ST_BPF_VHOST_KVM_BPF_H */
