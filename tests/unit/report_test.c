// SPDX-License-Identifier: MIT
/*
 * Unit tests for stagetrace report (cli/report*.c).
 *
 * Design: every test starts from a hand-made collector answer (JSON text in
 * this file), builds the report model with report_build() and renders it
 * into memory with open_memstream(), so no collector is needed. The
 * answers are chosen to make the arithmetic checkable by hand: shares,
 * ranks, the overall sums, the weighted mean and the percentile bounds.
 * A hostile answer puts HTML, markdown, CSV and terminal metacharacters in
 * VM and stage names; each format must carry them as data and never as
 * markup. Malformed answers must be refused with the path of the bad
 * field. Finally cmd_report() itself runs on saved answers (--input) to
 * check its exit codes and its atomic -o.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/report.h"
#include "unit_stubs.h"

/* ---- fixtures ----------------------------------------------------------- */

/*
 * Two cross-host pairs and one same-host pair. For a->b the stage times
 * are 10x100, 80x100 and 10x100 us, so wire holds 80 % of the time. For
 * b->a (300 packets): 20x300 and 40x300, wire 2/3. c->a has no wire.
 */
static const char good_answer[] =
	"{\"ok\":true,\"since\":1764078000,\"until\":1764078599,\"cells\":["
	"{\"src\":\"a\",\"dst\":\"b\",\"count\":100,\"lost\":0,\"dropped\":1,\"unmatched\":0,"
	" \"match_rate\":1.0,\"clock_bound_large\":false,"
	" \"latency\":{\"count\":100,\"mean_us\":100,\"p50_us\":90,\"p95_us\":150,\"p99_us\":200,\"max_us\":400},"
	" \"stages\":["
	"  {\"stage\":\"nic_queue\",\"count\":100,\"mean_us\":10,\"p50_us\":9,\"p95_us\":12,\"p99_us\":14,\"max_us\":20,\"share\":0.1},"
	"  {\"stage\":\"wire\",\"count\":100,\"mean_us\":80,\"p50_us\":78,\"p95_us\":90,\"p99_us\":95,\"max_us\":300,\"share\":0.8,\"clock_bound_us\":2.5},"
	"  {\"stage\":\"vm_rx\",\"count\":100,\"mean_us\":10,\"p50_us\":8,\"p95_us\":20,\"p99_us\":30,\"max_us\":80,\"share\":0.1}],"
	" \"turnaround\":{\"count\":100,\"mean_us\":500,\"p50_us\":500,\"p95_us\":520,\"p99_us\":600,\"max_us\":700}},"
	"{\"src\":\"b\",\"dst\":\"a\",\"count\":300,\"lost\":100,\"dropped\":0,\"unmatched\":2,"
	" \"match_rate\":0.75,\"clock_bound_large\":true,"
	" \"latency\":{\"count\":300,\"mean_us\":60,\"p50_us\":50,\"p95_us\":100,\"p99_us\":300,\"max_us\":900,\"clock_bound_us\":3},"
	" \"stages\":["
	"  {\"stage\":\"nic_queue\",\"count\":300,\"mean_us\":20,\"p50_us\":19,\"p95_us\":30,\"p99_us\":40,\"max_us\":50,\"share\":0.333},"
	"  {\"stage\":\"wire\",\"count\":300,\"mean_us\":40,\"p50_us\":38,\"p95_us\":60,\"p99_us\":70,\"max_us\":800,\"share\":0.667,\"clock_bound_us\":3}],"
	" \"turnaround\":null},"
	"{\"src\":\"c\",\"dst\":\"a\",\"count\":100,\"lost\":0,\"dropped\":0,\"unmatched\":0,"
	" \"match_rate\":1.0,\"clock_bound_large\":false,"
	" \"latency\":{\"count\":100,\"mean_us\":20,\"p50_us\":15,\"p95_us\":40,\"p99_us\":60,\"max_us\":70},"
	" \"stages\":["
	"  {\"stage\":\"tap_queue\",\"count\":100,\"mean_us\":5,\"p50_us\":5,\"p95_us\":6,\"p99_us\":7,\"max_us\":9,\"share\":0.25},"
	"  {\"stage\":\"vm_rx\",\"count\":100,\"mean_us\":15,\"p50_us\":10,\"p95_us\":30,\"p99_us\":50,\"max_us\":60,\"share\":0.75}],"
	" \"turnaround\":null}"
	"],\"collector\":{\"batches\":1}}";

/* VM and stage names an attacker who controls a VM name might choose. */
#define EVIL_SRC "<script>alert(1)</script>"
#define EVIL_DST "x\" onmouseover=\"alert(2)\" y='|a,b\"c"
#define EVIL_STAGE "<img src=x onerror=alert(3)>"

static const char evil_answer[] =
	"{\"ok\":true,\"since\":1764078000,\"until\":1764078599,\"cells\":["
	"{\"src\":\"<script>alert(1)</script>\",\"dst\":\"x\\\" onmouseover=\\\"alert(2)\\\" y='|a,b\\\"c\","
	" \"count\":10,\"lost\":0,\"dropped\":0,\"unmatched\":0,\"match_rate\":1.0,"
	" \"latency\":{\"count\":10,\"mean_us\":100,\"p50_us\":90,\"p95_us\":150,\"p99_us\":200,\"max_us\":400},"
	" \"stages\":["
	"  {\"stage\":\"<img src=x onerror=alert(3)>\",\"count\":10,\"mean_us\":100,\"p50_us\":90,\"p95_us\":150,\"p99_us\":200,\"max_us\":400}],"
	" \"turnaround\":null},"
	"{\"src\":\"esc\\u001b[31mred\",\"dst\":\"line\\nbreak\",\"count\":5,\"lost\":5,\"dropped\":0,\"unmatched\":0,"
	" \"match_rate\":0.5,\"latency\":null,\"stages\":[],\"turnaround\":null}"
	"]}";

static json_object *parse(const char *s)
{
	json_object *o = json_tokener_parse(s);

	assert_non_null(o);
	return o;
}

static void build(const char *answer, struct report *r, unsigned top)
{
	json_object *a = parse(answer);
	char err[256] = "";

	memset(r, 0, sizeof(*r));
	r->source = "unit test";
	r->generated = 1764078600;
	r->top = top;
	if (report_build(a, r, err, sizeof(err)))
		fail_msg("report_build: %s", err);
	json_object_put(a);
}

/* Render into a malloc'd string. */
static char *render(const struct report *r, enum report_format fmt)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(report_render(f, r, fmt), 0);
	fclose(f);
	return buf;
}

static const struct report_pair *find_pair(const struct report *r, const char *src,
					   const char *dst)
{
	for (size_t i = 0; i < r->npairs; i++)
		if (!strcmp(r->pairs[i].src, src) && !strcmp(r->pairs[i].dst, dst))
			return &r->pairs[i];
	fail_msg("pair %s -> %s missing", src, dst);
	return NULL;
}

/* ---- the model ---------------------------------------------------------- */

static void test_shares_and_ranks(void **state)
{
	struct report r;
	const struct report_pair *p;

	(void)state;
	build(good_answer, &r, 3);
	assert_int_equal(r.npairs, 3);
	p = find_pair(&r, "a", "b");
	assert_int_equal(p->nstages, 3);
	assert_float_equal(p->stages[1].share, 0.8, 1e-9);
	assert_float_equal(p->stages[0].share, 0.1, 1e-9);
	assert_float_equal(p->stages[1].time_us, 8000, 1e-9);
	assert_string_equal(p->stages[p->by_share[0]].name, "wire");
	assert_int_equal(p->stages[1].rank, 1);
	/* Ties keep path order: nic_queue before vm_rx. */
	assert_string_equal(p->stages[p->by_share[1]].name, "nic_queue");
	assert_float_equal(p->stages[1].d.clock_bound_us, 2.5, 1e-9);
	assert_true(isnan(p->stages[0].d.clock_bound_us));
	p = find_pair(&r, "b", "a");
	assert_float_equal(p->stages[1].share, 2.0 / 3.0, 1e-9);
	assert_true(p->clock_bound_large);
	assert_false(p->turnaround.present);
	report_free(&r);
}

static void test_overall(void **state)
{
	struct report r;
	const struct report_overall *o;

	(void)state;
	build(good_answer, &r, 0);
	o = &r.overall;
	assert_int_equal(o->pairs, 3);
	assert_int_equal(o->packets, 500);
	assert_int_equal(o->lost, 100);
	assert_int_equal(o->dropped, 1);
	assert_int_equal(o->unmatched, 2);
	assert_float_equal(o->match_rate, 500.0 / 600.0, 1e-12);
	/* Weighted: (100x100 + 300x60 + 100x20) / 500 = 60. */
	assert_float_equal(o->latency.mean_us, 60, 1e-9);
	assert_float_equal(o->latency.max_us, 900, 1e-9);
	assert_float_equal(o->latency.p50.lower, 15, 1e-9);
	assert_float_equal(o->latency.p50.upper, 90, 1e-9);
	assert_float_equal(o->latency.p99.lower, 60, 1e-9);
	assert_float_equal(o->latency.p99.upper, 300, 1e-9);
	assert_int_equal(o->turnaround.pairs, 1);
	assert_int_equal(o->turnaround.count, 100);

	/* Union of stages in path order: tap_queue opens c->a's path. */
	assert_int_equal(o->nstages, 4);
	assert_string_equal(o->stages[0].name, "tap_queue");
	assert_string_equal(o->stages[1].name, "nic_queue");
	assert_string_equal(o->stages[2].name, "wire");
	assert_string_equal(o->stages[3].name, "vm_rx");
	/* wire: 8000 + 12000 of 8000+1000+1000 + 6000+12000 + 500+1500 = 30000. */
	assert_float_equal(o->stages[2].time_us, 20000, 1e-9);
	assert_float_equal(o->stages[2].share, 20000.0 / 30000.0, 1e-12);
	assert_float_equal(o->stages[2].d.mean_us, 50, 1e-9);
	assert_int_equal(o->stages[2].d.count, 400);
	assert_string_equal(o->stages[o->by_share[0]].name, "wire");
	assert_string_equal(o->stages[o->by_share[1]].name, "nic_queue");
	assert_true(isnan(o->stages[2].d.p50_us));
	report_free(&r);
}

static void test_malformed_refused(void **state)
{
	static const struct {
		const char *json, *where;
	} bad[] = {
		{ "[1,2]", "not a JSON object" },
		{ "{\"ok\":true}", "cells" },
		{ "{\"cells\":[{\"src\":1,\"dst\":\"b\",\"count\":1}]}", "cells[0].src" },
		{ "{\"cells\":[{\"src\":\"a\",\"dst\":\"b\",\"count\":-3}]}", "cells[0].count" },
		{ "{\"cells\":[{\"src\":\"a\",\"dst\":\"b\",\"count\":1,\"latency\":{\"count\":1}}]}",
		  "cells[0].latency.mean_us" },
		{ "{\"cells\":[{\"src\":\"a\",\"dst\":\"b\",\"count\":1,\"stages\":[{\"stage\":\"w\","
		  "\"count\":1,\"mean_us\":\"9\",\"p50_us\":1,\"p95_us\":1,\"p99_us\":1,\"max_us\":1}]}]}",
		  "cells[0].stages[0].mean_us" },
		{ "{\"cells\":[{\"src\":\"a\",\"dst\":\"b\",\"count\":1,\"stages\":{}}]}",
		  "cells[0].stages" },
		{ "{\"cells\":[\"x\"]}", "cells[0]" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_object *a = parse(bad[i].json);
		struct report r = { 0 };
		char err[256] = "";

		assert_int_equal(report_build(a, &r, err, sizeof(err)), -1);
		if (!strstr(err, bad[i].where))
			fail_msg("case %zu: error '%s' does not name '%s'", i, err, bad[i].where);
		report_free(&r);
		json_object_put(a);
	}
}

/* ---- the formats on good data ------------------------------------------- */

static void test_text(void **state)
{
	struct report r;
	char *s;

	(void)state;
	build(good_answer, &r, 2);
	s = render(&r, REPORT_TEXT);
	assert_non_null(strstr(s, "top contributors: wire 80.0%, nic_queue 10.0% (+1 more)"));
	assert_non_null(strstr(s, "b turnaround: p50 500.0 us"));
	assert_non_null(strstr(s, "<=90.0"));
	assert_non_null(strstr(s, "p50 >= 15.0"));
	assert_non_null(strstr(s, "(10m00s)"));
	free(s);
	report_free(&r);
}

static void test_json_schema(void **state)
{
	struct report r;
	json_object *doc, *p0, *v;
	char *s;

	(void)state;
	build(good_answer, &r, 1);
	s = render(&r, REPORT_JSON);
	doc = parse(s);
	assert_true(json_object_object_get_ex(doc, "schema", &v));
	assert_string_equal(json_object_get_string(v), "stagetrace-report/1");
	p0 = json_object_array_get_idx(json_object_object_get(doc, "pairs"), 0);
	v = json_object_array_get_idx(json_object_object_get(p0, "top_contributors"), 0);
	assert_string_equal(json_object_get_string(json_object_object_get(v, "stage")), "wire");
	assert_int_equal(json_object_array_length(json_object_object_get(p0, "top_contributors")), 1);
	assert_int_equal(json_object_array_length(json_object_object_get(p0, "stages")), 3);
	v = json_object_object_get(json_object_object_get(doc, "overall"), "latency");
	v = json_object_object_get(v, "p99_us");
	assert_float_equal(json_object_get_double(json_object_object_get(v, "upper_bound")), 300, 1e-9);
	assert_float_equal(json_object_get_double(json_object_object_get(v, "lower_bound")), 60, 1e-9);
	assert_int_equal(json_object_get_int(json_object_object_get(
		json_object_object_get(doc, "range"), "duration_s")), 600);
	json_object_put(doc);
	free(s);
	report_free(&r);
}

/*
 * A minimal RFC 4180 reader: splits one record starting at *p into fields
 * and returns how many, advancing *p past the record's CRLF.
 */
static int csv_record(const char **p, char fields[][128], int max)
{
	const char *s = *p;
	int n = 0;

	for (;;) {
		size_t k = 0;
		char *out = n < max ? fields[n] : NULL;

		if (*s == '"') {
			for (s++; *s && !(*s == '"' && s[1] != '"'); s++) {
				if (*s == '"')
					s++;
				if (out && k < 127)
					out[k++] = *s;
			}
			if (*s == '"')
				s++;
		} else {
			for (; *s && *s != ',' && *s != '\r' && *s != '\n'; s++)
				if (out && k < 127)
					out[k++] = *s;
		}
		if (out)
			out[k] = '\0';
		n++;
		if (*s == ',') {
			s++;
			continue;
		}
		if (*s == '\r')
			s++;
		if (*s == '\n')
			s++;
		break;
	}
	*p = s;
	return n;
}

static void test_csv_shape(void **state)
{
	static char f[64][128];
	struct report r;
	const char *p;
	char *s;
	int cols, rows = 0, pairs = 0, overall = 0;

	(void)state;
	build(good_answer, &r, 3);
	s = render(&r, REPORT_CSV);
	p = s;
	cols = csv_record(&p, f, 64);
	assert_int_equal(cols, 31);
	assert_string_equal(f[0], "scope");
	while (*p) {
		assert_int_equal(csv_record(&p, f, 64), cols);
		rows++;
		pairs += !strcmp(f[0], "pair");
		overall += !strcmp(f[0], "overall");
		if (!strcmp(f[0], "overall"))
			assert_string_equal(f[13], "");	/* latency_p50_us: a bound, left empty */
	}
	assert_int_equal(pairs, 3 + 2 + 2);	/* one row per pair x stage */
	assert_int_equal(overall, 4);
	assert_int_equal(rows, pairs + overall);
	free(s);
	report_free(&r);
}

/* ---- hostile names ------------------------------------------------------ */

static void test_html_escapes_names(void **state)
{
	struct report r;
	char *s;

	(void)state;
	build(evil_answer, &r, 3);
	s = render(&r, REPORT_HTML);
	/* The only markup is ours: no script element, no injected attribute. */
	assert_null(strcasestr(s, "<script"));
	assert_null(strstr(s, "<img"));
	assert_null(strstr(s, "onmouseover=\""));
	assert_null(strstr(s, "\x1b"));
	assert_non_null(strstr(s, "&lt;script&gt;alert(1)&lt;/script&gt;"));
	assert_non_null(strstr(s, "x&quot; onmouseover=&quot;alert(2)&quot; y=&#39;|a,b&quot;c"));
	assert_non_null(strstr(s, "&lt;img src=x onerror=alert(3)&gt;"));
	/* Self-contained and script-free by policy. */
	assert_non_null(strstr(s, "Content-Security-Policy"));
	assert_null(strstr(s, "https://"));
	for (const char *c = strstr(s, "http://"); c; c = strstr(c + 1, "http://"))
		assert_memory_equal(c, "http://www.w3.org/2000/svg\"", 27);
	free(s);
	report_free(&r);
}

static void test_markdown_escapes_names(void **state)
{
	struct report r;
	char *s, *line;

	(void)state;
	build(evil_answer, &r, 3);
	s = render(&r, REPORT_MARKDOWN);
	/* Every '<' is escaped, so no markdown renderer sees a tag. */
	for (const char *c = strchr(s, '<'); c; c = strchr(c + 1, '<'))
		assert_true(c > s && c[-1] == '\\');
	assert_non_null(strstr(s, "\\<script\\>alert(1)\\</script\\>"));
	assert_non_null(strstr(s, "y='\\|a,b"));
	/* Every table row keeps its cell count: no raw '|' or newline got in. */
	for (line = strtok(s, "\n"); line; line = strtok(NULL, "\n")) {
		int bars = 0;

		if (strncmp(line, "| ", 2) || (!strstr(line, "alert(1)") && !strstr(line, "31mred")))
			continue;
		for (const char *c = line; *c; c++)
			bars += *c == '|' && (c == line || c[-1] != '\\');
		assert_int_equal(bars, 13);
	}
	free(s);
	report_free(&r);
}

static void test_csv_quotes_names(void **state)
{
	static char f[64][128];
	struct report r;
	const char *p;
	char *s;

	(void)state;
	build(evil_answer, &r, 3);
	s = render(&r, REPORT_CSV);
	p = s;
	assert_int_equal(csv_record(&p, f, 64), 31);
	assert_int_equal(csv_record(&p, f, 64), 31);
	assert_string_equal(f[1], EVIL_SRC);
	assert_string_equal(f[2], EVIL_DST);
	assert_string_equal(f[17], EVIL_STAGE);
	/* The all-lost pair: a row without stage or latency, newline kept quoted. */
	assert_int_equal(csv_record(&p, f, 64), 31);
	assert_string_equal(f[2], "line\nbreak");
	assert_string_equal(f[12], "");
	assert_string_equal(f[17], "");
	free(s);
	report_free(&r);
}

static void test_text_and_json_names(void **state)
{
	struct report r;
	json_object *doc, *p0;
	char *s;

	(void)state;
	build(evil_answer, &r, 3);
	s = render(&r, REPORT_TEXT);
	assert_null(strchr(s, '\x1b'));
	assert_non_null(strstr(s, "esc?[31mred -> line?break"));
	free(s);
	s = render(&r, REPORT_JSON);
	doc = parse(s);
	p0 = json_object_array_get_idx(json_object_object_get(doc, "pairs"), 0);
	assert_string_equal(json_object_get_string(json_object_object_get(p0, "src")), EVIL_SRC);
	assert_string_equal(json_object_get_string(json_object_object_get(p0, "dst")), EVIL_DST);
	/* The all-lost pair has no latency: null, not zeros. */
	p0 = json_object_array_get_idx(json_object_object_get(doc, "pairs"), 1);
	assert_true(json_object_object_get_ex(p0, "latency", NULL));
	assert_null(json_object_object_get(p0, "latency"));
	json_object_put(doc);
	free(s);
	report_free(&r);
}

/* ---- the command -------------------------------------------------------- */

static char tmpdir[] = "/tmp/st-report-test.XXXXXX";

static char *write_tmp(const char *name, const char *content)
{
	char *path;
	FILE *f;

	assert_true(asprintf(&path, "%s/%s", tmpdir, name) > 0);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
	return path;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t cap = 0;

	if (!f)
		return NULL;
	if (getdelim(&buf, &cap, '\0', f) < 0) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

/* cmd_report with stdout and stderr sent to /dev/null. */
static int run(int argc, char **argv)
{
	int o = dup(1), e = dup(2), rc;
	FILE *n = fopen("/dev/null", "w");

	fflush(stdout);
	fflush(stderr);
	dup2(fileno(n), 1);
	dup2(fileno(n), 2);
	rc = cmd_report(argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(o, 1);
	dup2(e, 2);
	close(o);
	close(e);
	fclose(n);
	return rc;
}

static void test_command(void **state)
{
	char *good = write_tmp("good.json", good_answer);
	char *empty = write_tmp("empty.json", "{\"ok\":true,\"since\":0,\"until\":59,\"cells\":[]}");
	char *junk = write_tmp("junk.json", "{\"cells\": 7}");
	char *out, *s;

	(void)state;
	assert_true(asprintf(&out, "%s/out.html", tmpdir) > 0);
	{
		char *argv[] = { "report", "--input", good, "-o", out, NULL };

		/* The extension picks the format. */
		assert_int_equal(run(5, argv), 0);
		s = slurp(out);
		assert_non_null(s);
		assert_non_null(strstr(s, "<!DOCTYPE html>"));
		assert_non_null(strstr(s, "</html>"));
		free(s);
	}
	{
		char *argv[] = { "report", "--input", empty, "-o", out, NULL };

		/* No data: exit 4, and the previous report is left alone. */
		assert_int_equal(run(5, argv), 4);
		s = slurp(out);
		assert_non_null(s);
		assert_non_null(strstr(s, "</html>"));
		free(s);
	}
	{
		char *argv[] = { "report", "--input", junk, NULL };

		assert_int_equal(run(3, argv), 1);
	}
	{
		char *argv[] = { "report", "--input", good, "--format", "pdf", NULL };

		assert_int_equal(run(5, argv), 2);
	}
	{
		char *argv[] = { "report", "--input", good, "--last", "5m", NULL };

		assert_int_equal(run(5, argv), 2);
	}
	{
		char *argv[] = { "report", "--since", "10", "--last", "5m", NULL };

		assert_int_equal(run(5, argv), 2);
	}
	{
		char *argv[] = { "report", "-h", NULL };

		assert_int_equal(run(2, argv), 0);
	}
	{
		char *argv[] = { "report", "-C", "tcp://127.0.0.1:1", "-t", "0.2", NULL };

		assert_int_equal(run(5, argv), 3);
	}
	unlink(good);
	unlink(empty);
	unlink(junk);
	unlink(out);
	free(good);
	free(empty);
	free(junk);
	free(out);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return rmdir(tmpdir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shares_and_ranks),
		cmocka_unit_test(test_overall),
		cmocka_unit_test(test_malformed_refused),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_json_schema),
		cmocka_unit_test(test_csv_shape),
		cmocka_unit_test(test_html_escapes_names),
		cmocka_unit_test(test_markdown_escapes_names),
		cmocka_unit_test(test_csv_quotes_names),
		cmocka_unit_test(test_text_and_json_names),
		cmocka_unit_test(test_command),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
