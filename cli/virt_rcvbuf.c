// SPDX-License-Identifier: MIT
/*
 * stagetrace virt virtio --rcvbuf: the guest's virtio-net receive buffers,
 * run inside the VM. Per device and queue pair, per interval: how often
 * and by whom the RX ring was refilled (inside NAPI runs, or outside them:
 * the device opening, the deferred refill work), the ring slots posted,
 * fills that ran out of memory and the refill work that follows them,
 * the time spent filling, how empty the ring got, the frames received and
 * those spanning several buffers; over all queues, histograms of the
 * received frame lengths and of the mergeable buffers' true sizes.
 * Replaces virtio-net/trace_virtio_net_rcvbuf.bt.
 *
 * The BPF side is bpf/virt_rcvbuf.bpf.c; the interval loop, histogram
 * drain and counters are the cpu commands' (cli/cpu.h), the hook plans
 * cli/localrun.h's. The ring size comes from the driver (ethtool's ring
 * parameters), for devices in this network namespace.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stddef.h>
#include <json-c/json.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bpf/virt_rcvbuf.h"
#include "cli.h"
#include "cpu.h"
#include "local.h"
#include "localrun.h"
#include "log.h"
#include "opts.h"
#include "timeutil.h"
#include "virt_virtio.h"
#include "virt_rcvbuf.skel.h"

enum { VR_H_POLL, VR_H_FILL, VR_H_REFILL, VR_H_RX, VR_NHOOKS };

static const char *const counter_names[ST_VRC_MAX] = {
	[ST_VRC_MAP_FULL] = "lost_map_full", [ST_VRC_HIST_FULL] = "lost_hist_full",
	[ST_VRC_NO_DEV] = "no_dev", [ST_VRC_UNPAIRED] = "fill_unpaired",
};

static const char *const mode_names[] = { "-", "small", "big", "mergeable" };

struct vr_row {
	struct st_vr_key k;
	struct st_vr_val c, d;	/* cumulative, difference (st_local_cum_read's layout) */
};
_Static_assert(sizeof(struct vr_row) == sizeof(struct st_vr_key) + 2 * sizeof(struct st_vr_val),
	       "vr_row is st_local_cum_read's row");

struct vr {
	struct st_local_opts *lo;
	struct virt_rcvbuf_bpf *skel;
	struct st_local_hook hooks[VR_NHOOKS];
	struct vr_row *prev;
	size_t nprev;
	int ncpus;
	uint64_t counters[ST_VRC_MAX];
};

static void hooks_init(struct virt_rcvbuf_bpf *s, struct st_local_hook *h)
{
	h[VR_H_POLL] = (struct st_local_hook){
		.name = "virtnet_poll", .n = 2,
		.alts = { { "fexit", "virtnet_poll" }, { "kprobe", "virtnet_poll" } },
		.prog = { s->progs.fexit_vr_poll, s->progs.kprobe_vr_poll },
		.prog2 = { s->progs.fentry_vr_poll, s->progs.kretprobe_vr_poll },
		.ret2 = { 0, 1 },
	};
	h[VR_H_FILL] = (struct st_local_hook){
		.name = "try_fill_recv", .n = 2,
		.alts = { { "fexit", "try_fill_recv" }, { "kprobe", "try_fill_recv" } },
		.prog = { s->progs.fexit_try_fill_recv, s->progs.kprobe_try_fill_recv },
		.prog2 = { s->progs.fentry_try_fill_recv, s->progs.kretprobe_try_fill_recv },
		.ret2 = { 0, 1 },
	};
	h[VR_H_REFILL] = (struct st_local_hook){
		.name = "refill_work", .n = 2,
		.alts = { { "fentry", "refill_work" }, { "kprobe", "refill_work" } },
		.prog = { s->progs.fentry_refill_work, s->progs.kprobe_refill_work },
	};
	h[VR_H_RX] = (struct st_local_hook){
		.name = "receive_buf", .n = 2,
		.alts = { { "fentry", "receive_buf" }, { "kprobe", "receive_buf" } },
		.prog = { s->progs.fentry_vr_receive_buf, s->progs.kprobe_vr_receive_buf },
	};
}

static void *ops_open(void) { return virt_rcvbuf_bpf__open(); }
static struct bpf_object *ops_obj(void *s) { return ((struct virt_rcvbuf_bpf *)s)->obj; }
static int ops_load(void *s) { return virt_rcvbuf_bpf__load(s); }
static void ops_destroy(void *s) { virt_rcvbuf_bpf__destroy(s); }
static void ops_init(void *s, struct st_local_hook *h) { hooks_init(s, h); }

static const struct st_hook_object_ops hook_ops = {
	ops_open, ops_obj, ops_load, ops_destroy, ops_init,
};

static int setup_bpf(struct vr *v)
{
	char hb[900];
	int err;

	v->skel = virt_rcvbuf_bpf__open();
	if (!v->skel) {
		fprintf(stderr, "error: cannot open the virtio receive-buffer BPF object: %s\n",
			strerror(errno));
		return ST_EXIT_FAIL;
	}
	hooks_init(v->skel, v->hooks);
	st_local_hooks_plan(v->hooks, VR_NHOOKS);
	err = virt_rcvbuf_bpf__load(v->skel);
	if (err) {
		fprintf(stderr, "error: loading the virtio receive-buffer BPF programs failed: %s\n",
			strerror(-err));
		return ST_EXIT_FAIL;
	}
	st_local_hooks_attach(v->hooks, VR_NHOOKS);
	fprintf(stderr, "stagetrace virt virtio --rcvbuf: hooks on this kernel:\n");
	for (int i = 0; i < VR_NHOOKS; i++)
		fprintf(stderr, "  %-14s %s\n", v->hooks[i].name,
			st_local_hook_status(&v->hooks[i], hb, sizeof(hb)));
	if (!v->hooks[VR_H_FILL].attached && !v->hooks[VR_H_RX].attached) {
		fprintf(stderr, "error: stagetrace virt virtio --rcvbuf cannot see anything on this "
			"kernel: try_fill_recv and receive_buf are unavailable (reasons above)\n");
		return ST_EXIT_FAIL;
	}
	if (v->hooks[VR_H_FILL].attached && !v->hooks[VR_H_POLL].attached)
		fprintf(stderr, "warning: virtnet_poll is unavailable: every fill is counted as "
			"outside NAPI (FILLS_NAPI stays 0)\n");
	return 0;
}

/* The RX ring size of a device in this network namespace; 0 if unknown. */
static uint32_t ring_size(uint32_t netns, uint32_t ifindex)
{
	struct ethtool_ringparam rp = { .cmd = ETHTOOL_GRINGPARAM };
	struct ifreq ifr = { 0 };
	int fd;

	if (netns != st_local_self_netns() || !if_indextoname(ifindex, ifr.ifr_name))
		return 0;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	ifr.ifr_data = (void *)&rp;
	if (ioctl(fd, SIOCETHTOOL, &ifr))
		rp.rx_pending = 0;
	close(fd);
	return rp.rx_pending;
}

/* The per-queue rows and what they gained since the last read: every
 * counter before max_free is a running sum. */
static size_t read_rows(struct vr *v, struct vr_row **out)
{
	return st_local_cum_read(bpf_map__fd(v->skel->maps.vr_q), sizeof(struct st_vr_key),
				 sizeof(struct st_vr_val),
				 offsetof(struct st_vr_val, max_free) / sizeof(__u64), ST_VR_MAX_Q,
				 v->prev, v->nprev, (void **)out);
}

static int active(const struct st_vr_val *d)
{
	return d->fills_napi || d->fills_other || d->refill_work || d->frames;
}

static double fill_avg_us(const struct st_vr_val *d)
{
	uint64_t n = d->fills_napi + d->fills_other;

	return n ? (double)d->fill_ns / (double)n / 1e3 : 0;
}

static const char *mode_name(uint32_t m)
{
	return m < sizeof(mode_names) / sizeof(mode_names[0]) ? mode_names[m] : "?";
}

static json_object *row_json(const struct vr_row *r)
{
	const struct st_vr_val *d = &r->d;
	json_object *e = json_object_new_object();

#define J_INT(name, val) json_object_object_add(e, name, json_object_new_int64((int64_t)(val)))
	json_object_object_add(e, "dev", json_object_new_string(
		st_local_dev_name(r->k.netns, r->k.ifindex)));
	J_INT("ifindex", r->k.ifindex);
	J_INT("queue", r->k.queue);
	json_object_object_add(e, "rx_mode", json_object_new_string(mode_name(r->c.mode)));
	J_INT("ring", ring_size(r->k.netns, r->k.ifindex));
	J_INT("hdr_len", r->c.hdr_len);
	J_INT("fills_napi", d->fills_napi);
	J_INT("fills_other", d->fills_other);
	J_INT("posted_napi", d->posted_napi);
	J_INT("posted_other", d->posted_other);
	J_INT("fill_oom", d->fill_oom);
	J_INT("refill_work", d->refill_work);
	json_object_object_add(e, "fill_avg_us", json_object_new_double(fill_avg_us(d)));
	J_INT("max_free_since_start", r->c.max_free);
	J_INT("free_after_last_fill", r->c.last_free);
	J_INT("frames", d->frames);
	J_INT("frame_bytes", d->frame_bytes);
	J_INT("multi_buf", d->multi_buf);
#undef J_INT
	return e;
}

static void show_text(struct vr *v, const struct vr_row *r, size_t n, const char *t,
		      const struct cpu_hist *hs, size_t nh)
{
	int any = 0;

	printf("%-8s %-10s %5s %-9s %5s %7s %7s %7s %7s %5s %6s %8s %8s %7s %6s\n", "TIME", "DEV",
	       "QUEUE", "MODE", "RING", "FILLS_N", "FILLS_O", "POST_N", "POST_O", "OOM", "REFILL",
	       "FILL_us", "MAX_FREE", "FRAMES", "MULTI");
	for (size_t i = 0; i < n; i++) {
		const struct st_vr_val *d = &r[i].d;
		uint32_t ring = ring_size(r[i].k.netns, r[i].k.ifindex);
		char rs[16];

		if (!v->lo->verbose && !active(d))
			continue;
		any = 1;
		snprintf(rs, sizeof(rs), ring ? "%u" : "-", ring);
		printf("%-8s %-10s %5u %-9s %5s %7llu %7llu %7llu %7llu %5llu %6llu %8.1f %8u %7llu %6llu\n",
		       t, st_local_dev_name(r[i].k.netns, r[i].k.ifindex), r[i].k.queue,
		       mode_name(r[i].c.mode), rs, (unsigned long long)d->fills_napi,
		       (unsigned long long)d->fills_other, (unsigned long long)d->posted_napi,
		       (unsigned long long)d->posted_other, (unsigned long long)d->fill_oom,
		       (unsigned long long)d->refill_work, fill_avg_us(d), r[i].c.max_free,
		       (unsigned long long)d->frames, (unsigned long long)d->multi_buf);
	}
	if (!any)
		printf("%-8s (no virtio-net receive-buffer activity)\n", t);
	for (size_t i = 0; i < nh; i++) {
		printf("%s %s:\n", t, hs[i].id == ST_VR_H_LEN ? "received frame length (header excluded)"
							      : "mergeable buffer true size");
		st_local_hist_print_unit(&hs[i].h, "  ", &st_hist_unit_bytes);
	}
}

static int report(void *ctx, uint32_t old_gen, double secs)
{
	struct vr *v = ctx;
	struct virt_rcvbuf_bpf *s = v->skel;
	struct cpu_hist *hs = NULL;
	size_t nh = cpu_hist_drain(bpf_map__fd(old_gen & 1 ? s->maps.hist1 : s->maps.hist0), &hs);
	uint64_t delta[ST_VRC_MAX];
	struct vr_row *r = NULL;
	size_t n = read_rows(v, &r);
	char t[16];

	cpu_counters_read(bpf_map__fd(s->maps.vr_counters), v->ncpus, ST_VRC_MAX, v->counters,
			  delta);
	st_local_hms(t, sizeof(t));
	if (v->lo->json) {
		json_object *o = json_object_new_object(), *a = json_object_new_array();

		json_object_object_add(o, "type", json_object_new_string("interval"));
		json_object_object_add(o, "mode", json_object_new_string("rcvbuf"));
		json_object_object_add(o, "time", json_object_new_string(t));
		json_object_object_add(o, "unix_s", json_object_new_double(st_real_ns() / 1e9));
		json_object_object_add(o, "interval_s", json_object_new_double(secs));
		for (size_t i = 0; i < n; i++)
			if (v->lo->verbose || active(&r[i].d))
				json_object_array_add(a, row_json(&r[i]));
		json_object_object_add(o, "queues", a);
		for (size_t i = 0; i < nh; i++)
			json_object_object_add(o, hs[i].id == ST_VR_H_LEN ? "frame_len" : "buf_truesize",
					       st_local_hist_json_unit(&hs[i].h, &st_hist_unit_bytes));
		for (uint32_t i = 0; i < ST_VRC_MAX; i++)
			json_object_object_add(o, counter_names[i], json_object_new_int64((int64_t)delta[i]));
		json_object_object_add(o, "hooks", st_local_hooks_json(v->hooks, VR_NHOOKS));
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
	} else {
		show_text(v, r, n, t, hs, nh);
		for (uint32_t i = 0; i < ST_VRC_MAX; i++)
			if (delta[i])
				printf("%-8s %s: %llu\n", t, counter_names[i], (unsigned long long)delta[i]);
		printf("\n");
	}
	free(hs);
	free(v->prev);
	v->prev = r;
	v->nprev = n;
	return 0;
}

int virt_rcvbuf(struct st_local_opts *lo, int check)
{
	struct vr v = { .lo = lo };
	int rc;

	if (check)
		return st_local_hooks_check(&hook_ops, VR_NHOOKS, lo->json);
	v.ncpus = libbpf_num_possible_cpus();
	if (v.ncpus <= 0) {
		fprintf(stderr, "error: cannot count CPUs: %s\n", strerror(-v.ncpus));
		return ST_EXIT_FAIL;
	}
	rc = setup_bpf(&v);
	if (!rc) {
		struct cpu_loop l = { .lo = lo, .gen = &v.skel->bss->vr_gen, .report = report,
				      .ctx = &v };

		st_local_signals();
		fprintf(stderr, "Tracing virtio-net receive buffers, one table per interval... "
			"Ctrl-C to end.\n");
		rc = cpu_loop_run(&l);
	}
	st_local_hooks_destroy(v.hooks, VR_NHOOKS);
	virt_rcvbuf_bpf__destroy(v.skel);
	free(v.prev);
	st_local_dev_names_free();
	return rc;
}
