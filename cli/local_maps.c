// SPDX-License-Identifier: MIT
/*
 * BPF-side helpers of the interval commands (declared in local.h): picking
 * the attach method of a tracepoint served by a tp_btf/raw_tp program pair,
 * flipping and draining generation-flipped maps, enum names of anonymous
 * kernel enums, and log-linear histograms as text and JSON. The interval
 * schedule and per-CPU sums are in localrun.c.
 *
 * A method is chosen by really loading a program (attach_probe.c), never by
 * asking a feature probe that can lie; maps are drained only once no
 * program writes to them any more, so no count is lost between intervals.
 */
#include "local.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attach_probe.h"
#include "hist.h"

/* ---- attach method of a program pair ------------------------------------- */

static struct bpf_program *prog_named(struct bpf_object *obj, const char *pfx,
				      const char *tp)
{
	char name[128];

	snprintf(name, sizeof(name), "%s_%s", pfx, tp);
	return bpf_object__find_program_by_name(obj, name);
}

void st_local_tp_off(struct bpf_object *obj, const char *tp)
{
	struct bpf_program *b = prog_named(obj, "btf", tp), *r = prog_named(obj, "raw", tp);

	if (b)
		bpf_program__set_autoload(b, false);
	if (r)
		bpf_program__set_autoload(r, false);
}

const char *st_local_tp_select(struct bpf_object *obj, const char *tp,
			       const char *force, char *why, size_t wlen)
{
	struct bpf_program *b = prog_named(obj, "btf", tp), *r = prog_named(obj, "raw", tp);
	const char *m;

	st_local_tp_off(obj, tp);
	if (!b || !r) {
		snprintf(why, wlen, "no program pair for %s in the BPF object", tp);
		return NULL;
	}
	if (force) {
		int err = st_probe_attach(force, tp, why, wlen);

		if (err)
			return NULL;
		m = force;
	} else {
		m = st_probe_best(tp, why, wlen);
		if (!m)
			return NULL;
	}
	bpf_program__set_autoload(strcmp(m, "tp_btf") ? r : b, true);
	return m;
}

int st_local_gen_flip(volatile uint32_t *bss_gen, uint32_t *gen, struct ring_buffer *rb)
{
	int idle = *gen & 1;

	(*gen)++;
	__atomic_store_n(bss_gen, *gen, __ATOMIC_SEQ_CST);
	usleep(2000);
	if (rb)
		ring_buffer__consume(rb);
	return idle;
}

size_t st_local_map_drain(int fd, size_t ksz, size_t vsz, size_t max, void **keys,
			  void **vals)
{
	char *k = calloc(max ? max : 1, ksz), *v = calloc(max ? max : 1, vsz);
	char *cur = malloc(ksz), *prev = NULL;
	size_t n = 0, m = 0;

	*keys = k;
	*vals = v;
	if (!k || !v || !cur) {
		free(cur);
		return 0;
	}
	while (n < max && !bpf_map_get_next_key(fd, prev, k + n * ksz)) {
		memcpy(cur, k + n * ksz, ksz);
		prev = cur;
		n++;
	}
	for (size_t i = 0; i < n; i++) {
		if (bpf_map_lookup_elem(fd, k + i * ksz, v + m * vsz))
			continue;
		if (m != i)
			memcpy(k + m * ksz, k + i * ksz, ksz);
		bpf_map_delete_elem(fd, k + m * ksz);
		m++;
	}
	free(cur);
	return m;
}

size_t st_local_cum_read(int fd, size_t ksz, size_t vsz, size_t ndiff, size_t max,
			 const void *prev, size_t nprev, void **rows)
{
	size_t rsz = ksz + 2 * vsz, n = 0;
	unsigned char *r = calloc(max ? max : 1, rsz);
	const unsigned char *pv = prev;
	void *last = NULL;

	*rows = r;
	while (r && n < max && !bpf_map_get_next_key(fd, last, r + n * rsz)) {
		unsigned char *row = r + n * rsz;
		const unsigned char *p = NULL;
		uint64_t now, before;

		last = row;
		if (bpf_map_lookup_elem(fd, row, row + ksz))
			continue;	/* deleted meanwhile: the next key follows it */
		for (size_t i = 0; i < nprev && !p; i++)
			if (!memcmp(pv + i * rsz, row, ksz))
				p = pv + i * rsz;
		memcpy(row + ksz + vsz, row + ksz, vsz);
		for (size_t w = 0; p && w < ndiff && (w + 1) * 8 <= vsz; w++) {
			memcpy(&now, row + ksz + w * 8, 8);
			memcpy(&before, p + ksz + w * 8, 8);
			now -= before;
			memcpy(row + ksz + vsz + w * 8, &now, 8);
		}
		n++;
	}
	return n;
}

/* ---- anonymous enums ------------------------------------------------------ */

int st_btf_enum_load_member(const char *member, const char *strip_prefix,
			    struct st_enum_names *out)
{
	struct btf *btf = btf__load_vmlinux_btf();
	size_t plen = strip_prefix ? strlen(strip_prefix) : 0;
	int n, found = -1;

	memset(out, 0, sizeof(*out));
	if (!btf)
		return -ENOENT;
	n = (int)btf__type_cnt(btf);
	for (int id = 1; id < n && found < 0; id++) {
		const struct btf_type *t = btf__type_by_id(btf, id);

		if (!btf_is_enum(t))
			continue;
		for (int i = 0; i < btf_vlen(t); i++)
			if (!strcmp(btf__name_by_offset(btf, btf_enum(t)[i].name_off), member)) {
				found = id;
				break;
			}
	}
	if (found < 0) {
		btf__free(btf);
		return -ENOENT;
	}
	{
		const struct btf_type *t = btf__type_by_id(btf, found);
		int vlen = btf_vlen(t);

		out->v = calloc(vlen ? vlen : 1, sizeof(*out->v));
		if (!out->v) {
			btf__free(btf);
			return -ENOMEM;
		}
		for (int i = 0; i < vlen; i++) {
			const char *name = btf__name_by_offset(btf, btf_enum(t)[i].name_off);

			if (!name)
				continue;
			if (plen && !strncmp(name, strip_prefix, plen))
				name += plen;
			/* The kernel's enum is int: a flag in bit 31 reads as
			 * negative; keep the bit pattern. */
			out->v[out->n].val = (uint32_t)btf_enum(t)[i].val;
			out->v[out->n].name = strdup(name);
			out->n++;
		}
	}
	btf__free(btf);
	return 0;
}

/* ---- histograms as text and JSON ------------------------------------------ */

#define ROWS_PER_OCTAVE 4
#define BAR_WIDTH 40

/* A bucket bound in the unit's display scale: whole numbers as such,
 * small fractions with three significant digits. */
static void fmt_val(double v, double div, char *buf, size_t len)
{
	double u = v / div;

	if (u >= 100 || u == (double)(uint64_t)u)
		snprintf(buf, len, "%.0f", u);
	else if (u >= 10)
		snprintf(buf, len, "%.1f", u);
	else
		snprintf(buf, len, "%.3g", u);
}

const struct st_hist_unit st_hist_unit_ns = { "usecs", "us", "_us", 1000.0 };
const struct st_hist_unit st_hist_unit_bytes = { "bytes", "B", "_bytes", 1.0 };

/* Row r of the display: [lo, hi) in ns. Octave e >= 2 is cut in four; the
 * values 0..3 get one row each. Whole buckets always fall in one row:
 * above 64 a bucket is 2^(e-6) wide and a row 2^(e-2). */
static void row_range(uint32_t r, uint64_t *lo, uint64_t *hi)
{
	uint32_t e, j;

	if (r < 4) {
		*lo = r;
		*hi = r + 1;
		return;
	}
	e = 2 + (r - 4) / ROWS_PER_OCTAVE;
	j = (r - 4) % ROWS_PER_OCTAVE;
	*lo = (1ull << e) + j * (1ull << (e - 2));
	*hi = *lo + (1ull << (e - 2));
}

static uint32_t row_of(uint64_t v)
{
	uint32_t e = 63 - __builtin_clzll(v | 1);

	if (v < 4)
		return (uint32_t)v;
	return 4 + (e - 2) * ROWS_PER_OCTAVE + (uint32_t)((v - (1ull << e)) >> (e - 2));
}

void st_local_hist_print(const struct st_hist *h, const char *indent)
{
	st_local_hist_print_unit(h, indent, &st_hist_unit_ns);
}

void st_local_hist_print_unit(const struct st_hist *h, const char *indent,
			      const struct st_hist_unit *u)
{
	uint32_t first = UINT32_MAX, last = 0, nrows;
	uint64_t *rows, maxc = 0;
	char a[32], b[32], range[80];

	if (!h->count) {
		printf("%s(no samples)\n", indent);
		return;
	}
	nrows = row_of(1ull << ST_HIST_MAX_EXP) + 1;
	rows = calloc(nrows, sizeof(*rows));
	if (!rows)
		return;
	for (uint32_t i = 0; i < ST_HIST_NBUCKETS; i++) {
		uint32_t r;

		if (!h->buckets[i])
			continue;
		r = row_of(st_hist_bucket_low(i));
		rows[r] += h->buckets[i];
		if (r < first)
			first = r;
		if (r > last)
			last = r;
	}
	for (uint32_t r = first; r <= last; r++)
		if (rows[r] > maxc)
			maxc = rows[r];
	printf("%s%-22s : %-8s %s\n", indent, u->head, "count", "distribution");
	for (uint32_t r = first; r <= last; r++) {
		uint64_t lo, hi;
		int w = maxc ? (int)(rows[r] * BAR_WIDTH / maxc) : 0;
		uint32_t e = r;

		/* A run of more than two empty rows becomes one "..." line. */
		while (e <= last && !rows[e])
			e++;
		if (e - r > 2) {
			printf("%s%-22s\n", indent, "...");
			r = e - 1;
			continue;
		}

		row_range(r, &lo, &hi);
		fmt_val((double)lo, u->div, a, sizeof(a));
		fmt_val((double)hi, u->div, b, sizeof(b));
		snprintf(range, sizeof(range), "[%s, %s)", a, b);
		printf("%s%-22s : %-8llu |%-*.*s|\n", indent, range, (unsigned long long)rows[r],
		       BAR_WIDTH, w, "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@");
	}
	printf("%scount %llu, avg %.1f %s, p50 %.1f %s, p90 %.1f %s, p99 %.1f %s, max %.1f %s\n",
	       indent, (unsigned long long)h->count, st_hist_mean(h) / u->div, u->suffix,
	       st_hist_quantile(h, 0.5) / u->div, u->suffix, st_hist_quantile(h, 0.9) / u->div,
	       u->suffix, st_hist_quantile(h, 0.99) / u->div, u->suffix, h->max / u->div,
	       u->suffix);
	free(rows);
}

struct json_object *st_local_hist_json(const struct st_hist *h)
{
	return st_local_hist_json_unit(h, &st_hist_unit_ns);
}

struct json_object *st_local_hist_json_unit(const struct st_hist *h, const struct st_hist_unit *u)
{
	static const char *const names[] = { "avg", "min", "p50", "p90", "p99", "max" };
	json_object *o = json_object_new_object(), *arr = json_object_new_array();
	double vals[6] = {
		st_hist_mean(h), h->count ? (double)h->min : 0, st_hist_quantile(h, 0.5),
		st_hist_quantile(h, 0.9), st_hist_quantile(h, 0.99), (double)h->max,
	};
	char key[32];

	json_object_object_add(o, "count", json_object_new_int64((int64_t)h->count));
	for (size_t i = 0; i < 6; i++) {
		snprintf(key, sizeof(key), "%s%s", names[i], u->json_suffix);
		json_object_object_add(o, key, json_object_new_double(vals[i] / u->div));
	}
	for (uint32_t i = 0; i < ST_HIST_NBUCKETS; i++) {
		json_object *b;

		if (!h->buckets[i])
			continue;
		b = json_object_new_array();
		json_object_array_add(b, json_object_new_int64((int64_t)st_hist_bucket_low(i)));
		json_object_array_add(b, json_object_new_int64((int64_t)st_hist_bucket_high(i)));
		json_object_array_add(b, json_object_new_int64((int64_t)h->buckets[i]));
		json_object_array_add(arr, b);
	}
	json_object_object_add(o, "buckets", arr);
	return o;
}
