/* SPDX-License-Identifier: MIT */
/*
 * stagetrace virt tun|vhost|queues: one loader (cli/virt_net.c) for the
 * BPF object bpf/virt_net.bpf.c and one renderer (cli/virt_show.c) with a
 * view per mode. The loader plans only the hooks the mode uses, reads the
 * cumulative BPF tables once per interval and hands the renderer the
 * differences; the renderer never touches BPF.
 */
#ifndef ST_CLI_VIRT_NET_H
#define ST_CLI_VIRT_NET_H

#include <stddef.h>
#include <stdint.h>

#include "bpf/virt_net.h"
#include "local.h"
#include "localrun.h"

enum vn_mode { VN_TUN, VN_VHOST, VN_QUEUES };

enum vn_hook {
	VN_H_XMIT = 0,
	VN_H_HANDLE_TX,
	VN_H_HANDLE_RX,
	VN_H_SENDMSG,
	VN_H_RECVMSG,
	VN_H_USED,
	VN_H_SIGNAL,
	VN_H_PEEK,
	VN_NHOOKS,
};

/* One tun queue's interval: the change of its counters, the interval's
 * highest fill level and the cumulative row. */
struct vn_tunq {
	struct st_vn_tunq_key k;
	struct st_vn_tunq_val d;	/* difference over the interval */
	struct st_vn_tunq_val cur;	/* cumulative */
	uint32_t fill_max;		/* highest fill level this interval */
};

struct vn_vq {
	uint64_t addr;			/* kernel address of the virtqueue */
	struct st_vn_vq_val d;
	struct st_vn_vq_val cur;
};

struct vn_snap {
	struct vn_tunq *tq;
	size_t ntq;
	struct vn_vq *vq;
	size_t nvq;
	uint64_t counters[ST_VNC_MAX];	/* differences */
	double secs;
};

struct vn_view {
	enum vn_mode mode;
	int json, verbose;
	int signals, queues, peek;	/* vhost: which column groups */
	const struct st_local_hook *hooks;	/* VN_NHOOKS, used[] says which */
	const int *used;
};

extern const char *const vn_counter_names[ST_VNC_MAX];

/* cli/virt_show.c: one interval of the mode's view, table or JSON line. */
void vn_show(const struct vn_view *v, const struct vn_snap *s);

int virt_tun(int argc, char **argv);
int virt_vhost(int argc, char **argv);
int virt_queues(int argc, char **argv);
/* cli/virt_virtio.c */
int virt_virtio(int argc, char **argv);

#endif /* ST_CLI_VIRT_NET_H */
