// SPDX-License-Identifier: MIT
/*
 * Least privilege after start-up. Loading and attaching BPF needs CAP_BPF,
 * CAP_PERFMON (and, on some kernels, CAP_SYS_ADMIN/CAP_SYS_RESOURCE); once
 * the programs are attached and the maps are open, reading and updating
 * them through their file descriptors needs nothing. What remains is the
 * periodic device rescan, which enters the traced network namespaces with
 * setns(): that needs CAP_SYS_ADMIN, so it is kept only when --netns names
 * namespaces to enter. Everything else is dropped from the effective,
 * permitted and inheritable sets, for good, and the result is logged.
 */
#include "agent.h"

#include <errno.h>
#include <linux/capability.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"

static int capget_v3(struct __user_cap_data_struct d[2])
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };

	return (int)syscall(SYS_capget, &h, d);
}

static int capset_v3(struct __user_cap_data_struct d[2])
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };

	return (int)syscall(SYS_capset, &h, d);
}

int st_agent_drop_caps(struct st_agent *a)
{
	struct __user_cap_data_struct d[2];
	int keep_admin = a->cfg.netns.n > 0;
	uint32_t bit = CAP_SYS_ADMIN;

	if (capget_v3(d)) {
		pr_warn("capget: %s", strerror(errno));
		return -errno;
	}
	memset(d, 0, sizeof(d));
	if (keep_admin) {
		d[bit / 32].effective = 1u << (bit % 32);
		d[bit / 32].permitted = 1u << (bit % 32);
	}
	if (capset_v3(d)) {
		pr_warn("cannot drop capabilities: %s", strerror(errno));
		return -errno;
	}
	/* No way back through exec or set-uid helpers either. */
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	pr_info("capabilities dropped: %s", keep_admin ?
		"kept CAP_SYS_ADMIN only (setns into the traced namespaces)" : "none kept");
	return 0;
}
