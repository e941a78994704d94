// SPDX-License-Identifier: MIT
/*
 * Run-loop helpers and optional hooks of the local commands; see
 * localrun.h. Choosing an alternative is done by common/attach_probe.c with
 * a trivial program, so the decision is made before the command's own
 * object is loaded; attaching the real program can still fail (a verifier
 * that dislikes it on that kernel), and then the hook is reported
 * unavailable with that reason instead of failing the command.
 */
#include "localrun.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "local.h"
#include "opts.h"
#include "timeutil.h"

void st_local_wait(uint64_t deadline_ns, struct ring_buffer *rb, int tick_ms)
{
	if (tick_ms <= 0)
		tick_ms = 100;
	for (;;) {
		uint64_t now = st_mono_ns();
		int ms;

		if (now >= deadline_ns || st_local_stop)
			return;
		ms = (int)((deadline_ns - now + 999999) / 1000000);
		if (ms > tick_ms)
			ms = tick_ms;
		if (rb) {
			ring_buffer__poll(rb, ms);
		} else {
			struct timespec ts = { 0, (long)ms * 1000000L };

			nanosleep(&ts, NULL);
		}
		if (ms == tick_ms)
			return;
	}
}

void st_local_ticker_init(struct st_local_ticker *t, double interval, double duration)
{
	memset(t, 0, sizeof(*t));
	t->start = t->last = t->sched = st_mono_ns();
	t->step = (uint64_t)(interval * 1e9);
	if (duration > 0)
		t->end = t->start + (uint64_t)(duration * 1e9);
}

uint64_t st_local_ticker_next(struct st_local_ticker *t)
{
	t->sched += t->step;
	if (t->sched < st_mono_ns())
		t->sched = st_mono_ns() + t->step;
	return t->end && t->sched > t->end ? t->end : t->sched;
}

int st_local_ticker_end(struct st_local_ticker *t, uint64_t now, uint32_t count, double *secs)
{
	*secs = (now - t->last) / 1e9;
	t->last = now;
	t->done++;
	return st_local_stop || (count && t->done >= count) || (t->end && now >= t->end);
}

int st_local_ticker_wait(struct st_local_ticker *t, struct ring_buffer *rb, uint32_t count,
			 double *secs)
{
	uint64_t next = st_local_ticker_next(t);

	while (st_mono_ns() < next && !st_local_stop)
		st_local_wait(next, rb, 100);
	return st_local_ticker_end(t, st_mono_ns(), count, secs);
}

int st_local_method_check(const char *method)
{
	if (!method || !strcmp(method, "tp_btf") || !strcmp(method, "raw_tp"))
		return 0;
	fprintf(stderr, "error: --method: invalid value '%s' (expected tp_btf or raw_tp)\n", method);
	return ST_EXIT_USAGE;
}

uint64_t st_local_percpu_sum(int fd, uint32_t key, int ncpus)
{
	uint64_t *per = calloc(ncpus > 0 ? ncpus : 1, sizeof(*per)), sum = 0;

	if (per && !bpf_map_lookup_elem(fd, &key, per))
		for (int c = 0; c < ncpus; c++)
			sum += per[c];
	free(per);
	return sum;
}

static int is_kprobe(const char *m)
{
	return !strcmp(m, "kprobe") || !strcmp(m, "kretprobe");
}

void st_local_hooks_plan(struct st_local_hook *h, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int c = st_attach_plan_try(h[i].alts, h[i].n, &h[i].choice);

		for (size_t a = 0; a < h[i].n; a++) {
			if (h[i].prog[a])
				bpf_program__set_autoload(h[i].prog[a], (int)a == c);
			if (h[i].prog2[a])
				bpf_program__set_autoload(h[i].prog2[a], (int)a == c);
		}
		if (c < 0 || is_kprobe(h[i].alts[c].method))
			continue;
		/* fentry/fexit: the target must be known at load time. */
		if (h[i].prog[c])
			bpf_program__set_attach_target(h[i].prog[c], 0, h[i].choice.symbol);
		if (h[i].prog2[c])
			bpf_program__set_attach_target(h[i].prog2[c], 0, h[i].choice.symbol);
	}
}

static struct bpf_link *attach_one(struct bpf_program *p, const char *method,
				   int ret, const char *sym)
{
	if (is_kprobe(method))
		return bpf_program__attach_kprobe(p, ret, sym);
	return bpf_program__attach(p);
}

size_t st_local_hooks_attach(struct st_local_hook *h, size_t n)
{
	size_t ok = 0;

	for (size_t i = 0; i < n; i++) {
		int c = h[i].choice.index;
		const char *m;
		int err = 0;

		if (c < 0 || !h[i].prog[c])
			continue;
		m = h[i].alts[c].method;
		h[i].link = attach_one(h[i].prog[c], m,
				       !strcmp(m, "kretprobe") && !h[i].ret2[c],
				       h[i].choice.symbol);
		if (!h[i].link)
			err = -errno;
		if (!err && h[i].prog2[c]) {
			h[i].link2 = attach_one(h[i].prog2[c], m, h[i].ret2[c],
						h[i].choice.symbol);
			if (!h[i].link2)
				err = -errno;
		}
		if (err) {
			snprintf(h[i].choice.why, sizeof(h[i].choice.why),
				 "%s %s: attaching the real program failed: %s", m,
				 h[i].choice.symbol, strerror(-err));
			h[i].choice.index = -1;
			bpf_link__destroy(h[i].link);
			bpf_link__destroy(h[i].link2);
			h[i].link = h[i].link2 = NULL;
			continue;
		}
		h[i].attached = 1;
		ok++;
	}
	return ok;
}

void st_local_hooks_destroy(struct st_local_hook *h, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		bpf_link__destroy(h[i].link);
		bpf_link__destroy(h[i].link2);
		h[i].link = h[i].link2 = NULL;
	}
}

const char *st_local_hook_status(const struct st_local_hook *h, char *buf, size_t len)
{
	if (h->attached)
		snprintf(buf, len, "%s %s", h->alts[h->choice.index].method, h->choice.symbol);
	else
		snprintf(buf, len, "unavailable: %s", h->choice.why[0] ? h->choice.why : "not tried");
	return buf;
}

json_object *st_local_hooks_json(const struct st_local_hook *h, size_t n)
{
	json_object *arr = json_object_new_array();

	for (size_t i = 0; i < n; i++) {
		json_object *o = json_object_new_object();
		int ok = h[i].attached;

		json_object_object_add(o, "hook", json_object_new_string(h[i].name));
		json_object_object_add(o, "status", json_object_new_string(ok ? "available" : "unavailable"));
		json_object_object_add(o, "method", ok ? json_object_new_string(
			h[i].alts[h[i].choice.index].method) : NULL);
		json_object_object_add(o, "symbol", ok ? json_object_new_string(h[i].choice.symbol) : NULL);
		json_object_object_add(o, "reason", json_object_new_string(h[i].choice.why));
		json_object_array_add(arr, o);
	}
	return arr;
}

void st_local_hook_only(struct bpf_object *obj, const struct st_local_hook *h, size_t alt)
{
	struct bpf_program *p;

	bpf_object__for_each_program(p, obj)
		bpf_program__set_autoload(p, false);
	if (alt >= h->n)
		return;
	if (h->prog[alt])
		bpf_program__set_autoload(h->prog[alt], true);
	if (h->prog2[alt])
		bpf_program__set_autoload(h->prog2[alt], true);
	if (is_kprobe(h->alts[alt].method))
		return;
	if (h->prog[alt])
		bpf_program__set_attach_target(h->prog[alt], 0, h->alts[alt].target);
	if (h->prog2[alt])
		bpf_program__set_attach_target(h->prog2[alt], 0, h->alts[alt].target);
}

void st_local_hook_check_print(const struct st_local_hook *h, size_t alt, int err, int json)
{
	const char *m = h->alts[alt].method;

	if (json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "type", json_object_new_string("hook_check"));
		json_object_object_add(o, "hook", json_object_new_string(h->name));
		json_object_object_add(o, "method", json_object_new_string(m));
		json_object_object_add(o, "target", json_object_new_string(h->alts[alt].target));
		json_object_object_add(o, "program", json_object_new_string(
			h->prog[alt] ? bpf_program__name(h->prog[alt]) : "-"));
		json_object_object_add(o, "loaded", json_object_new_boolean(!err));
		json_object_object_add(o, "error", err ? json_object_new_string(strerror(-err)) : NULL);
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
		return;
	}
	printf("%-20s %-10s %-24s %-28s %s\n", h->name, m, h->alts[alt].target,
	       h->prog[alt] ? bpf_program__name(h->prog[alt]) : "-",
	       err ? strerror(-err) : "loaded (verifier accepted)");
}

int st_local_hooks_check(const struct st_hook_object_ops *ops, size_t nhooks, int json)
{
	struct st_local_hook h[16];	/* virt kvm --path has 9 */
	int missing = 0;

	if (nhooks > sizeof(h) / sizeof(h[0]))
		return ST_EXIT_FAIL;
	if (!json)
		printf("%-20s %-10s %-24s %-28s %s\n", "HOOK", "METHOD", "TARGET", "PROGRAM", "LOAD");
	for (size_t i = 0; i < nhooks; i++) {
		int any = 0;

		for (size_t a = 0; a < ST_HOOK_MAX_ALTS; a++) {
			void *skel = ops->open();
			int err;

			if (!skel)
				return ST_EXIT_FAIL;
			memset(h, 0, sizeof(h));
			ops->init(skel, h);
			if (a >= h[i].n) {
				ops->destroy(skel);
				break;
			}
			st_local_hook_only(ops->obj(skel), &h[i], a);
			err = ops->load(skel);
			st_local_hook_check_print(&h[i], a, err, json);
			any |= !err;
			ops->destroy(skel);
		}
		missing += !any;
	}
	return missing ? ST_EXIT_FAIL : ST_EXIT_OK;
}

int st_local_kconfig_readable(void)
{
	struct utsname u;
	char path[300];

	if (!access("/proc/config.gz", R_OK))
		return 1;
	if (uname(&u))
		return 0;
	snprintf(path, sizeof(path), "/boot/config-%s", u.release);
	return !access(path, R_OK);
}
