// SPDX-License-Identifier: MIT
#include "attach_probe.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const struct bpf_insn ret0[] = {
	{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
	{ .code = BPF_JMP | BPF_EXIT },
};

int st_probe_attach(const char *method, const char *tp, char *why, size_t wlen)
{
	LIBBPF_OPTS(bpf_prog_load_opts, o);
	int btf = !strcmp(method, "tp_btf");
	int fd, lfd, err;

	if (btf) {
		int id = libbpf_find_vmlinux_btf_id(tp, BPF_TRACE_RAW_TP);

		if (id < 0) {
			snprintf(why, wlen, "tp_btf: no btf_trace_%s in kernel BTF", tp);
			return id;
		}
		o.expected_attach_type = BPF_TRACE_RAW_TP;
		o.attach_btf_id = id;
		fd = bpf_prog_load(BPF_PROG_TYPE_TRACING, "st_probe", "GPL", ret0, 2, &o);
	} else {
		fd = bpf_prog_load(BPF_PROG_TYPE_RAW_TRACEPOINT, "st_probe", "GPL",
				   ret0, 2, &o);
	}
	if (fd < 0) {
		snprintf(why, wlen, "%s: load refused: %s", method, strerror(-fd));
		return fd;
	}
	lfd = bpf_raw_tracepoint_open(btf ? NULL : tp, fd);
	if (lfd < 0) {
		err = -errno;
		snprintf(why, wlen, "%s: attach to %s failed: %s", method, tp, strerror(errno));
		close(fd);
		return err;
	}
	close(lfd);
	close(fd);
	return 0;
}

const char *st_probe_best(const char *tp, char *why, size_t wlen)
{
	char w1[160] = "", w2[160] = "";

	if (!st_probe_attach("tp_btf", tp, w1, sizeof(w1)))
		return "tp_btf";
	if (!st_probe_attach("raw_tp", tp, w2, sizeof(w2)))
		return "raw_tp";
	snprintf(why, wlen, "%s; %s", w1, w2);
	return NULL;
}
