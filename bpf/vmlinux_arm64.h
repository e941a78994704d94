/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Appended to a cross-built vmlinux.h (Makefile, ARCH=arm64 on an x86
 * host): the BTF of the build host describes x86 registers only, but
 * libbpf's PT_REGS_* macros for __TARGET_ARCH_arm64 cast a kprobe's
 * context to struct user_pt_regs. This is arm64's UAPI layout
 * (arch/arm64/include/uapi/asm/ptrace.h), fixed by the kernel ABI, and it
 * is the first member of the kernel's struct pt_regs, so a kprobe reads
 * x0..x7 and the return value from it without any kernel offset. A native
 * arm64 build takes the type from its own BTF and never sees this file.
 */
#ifndef ST_VMLINUX_ARM64_H
#define ST_VMLINUX_ARM64_H

struct user_pt_regs {
	__u64 regs[31];
	__u64 sp;
	__u64 pc;
	__u64 pstate;
};

#endif /* ST_VMLINUX_ARM64_H */
