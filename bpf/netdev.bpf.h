/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * netdev_priv() for BPF programs: the private area a driver allocates
 * behind its struct net_device. Kernels with the priv[] flexible member
 * (6.12 on) place it there; older ones at the end of struct net_device
 * rounded up to NETDEV_ALIGN. Both are read from the running kernel's BTF
 * (field existence, field offset, type size), never a compiled-in offset.
 */
#ifndef ST_BPF_NETDEV_BPF_H
#define ST_BPF_NETDEV_BPF_H

/* include/linux/netdevice.h: alignment of the private area. */
#define ST_NETDEV_ALIGN 32

static __always_inline void *st_netdev_priv(struct net_device *dev)
{
	if (bpf_core_field_exists(dev->priv))
		return (void *)dev + bpf_core_field_offset(struct net_device, priv);
	return (void *)dev + ((bpf_core_type_size(struct net_device) + ST_NETDEV_ALIGN - 1) &
			      ~(ST_NETDEV_ALIGN - 1));
}

#endif /* ST_BPF_NETDEV_BPF_H */
