/* SPDX-License-Identifier: MIT */
/*
 * Fixed-width types for headers shared by BPF programs and user space.
 *
 * BPF objects are compiled against the running kernel's vmlinux.h, which
 * already defines __u8 .. __u64; user-space code gets them from
 * <linux/types.h>. Shared headers include this file and nothing else, so
 * the same struct definitions compile on both sides.
 */
#ifndef ST_TYPES_H
#define ST_TYPES_H

#if defined(__bpf__) || defined(__BPF__)
/* vmlinux.h was included by the BPF program before this header. */
#else
#include <linux/types.h>
#include <stdint.h>
#endif

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

#endif /* ST_TYPES_H */
