// SPDX-License-Identifier: MIT
/*
 * stagetrace report: a summary of where the time went, per VM pair and
 * overall, in text, markdown, CSV, JSON or a self-contained HTML page.
 *
 * Design: the command is a thin shell around the report model
 * (report.h): it parses options with the shared option table, gets the
 * matrix answer from the collector with cli_query() (or reads a saved
 * 'stagetrace matrix --json' answer with --input), builds the model and
 * hands it to one renderer. It follows the other commands' conventions: a
 * one-line error and exit 2 for bad usage, 3 when the collector cannot be
 * reached, 4 when the range holds no traffic, 1 for anything else. With
 * -o the report is written to a temporary file next to the target and
 * renamed into place, so a failed run never leaves half a report behind
 * and never replaces a good one.
 */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "opts.h"
#include "report.h"

static const struct {
	const char *name;
	enum report_format fmt;
} formats[] = {
	{ "text", REPORT_TEXT },
	{ "markdown", REPORT_MARKDOWN },
	{ "md", REPORT_MARKDOWN },
	{ "csv", REPORT_CSV },
	{ "json", REPORT_JSON },
	{ "html", REPORT_HTML },
};

static int format_by_name(const char *s, enum report_format *out)
{
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (!strcmp(s, formats[i].name)) {
			*out = formats[i].fmt;
			return 0;
		}
	return -1;
}

/* Without --format, the output file's extension picks one; else text. */
static enum report_format format_by_path(const char *path)
{
	static const struct {
		const char *ext;
		enum report_format fmt;
	} exts[] = {
		{ ".html", REPORT_HTML }, { ".htm", REPORT_HTML }, { ".md", REPORT_MARKDOWN },
		{ ".markdown", REPORT_MARKDOWN }, { ".csv", REPORT_CSV }, { ".json", REPORT_JSON },
	};
	const char *dot = path ? strrchr(path, '.') : NULL;

	for (size_t i = 0; dot && i < sizeof(exts) / sizeof(exts[0]); i++)
		if (!strcasecmp(dot, exts[i].ext))
			return exts[i].fmt;
	return REPORT_TEXT;
}

/* Read a saved matrix answer from a file, or stdin for "-". */
static int read_answer(const char *path, json_object **out)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
	struct json_tokener *tok;
	json_object *ans = NULL, *ok;
	char *buf = NULL;
	size_t len = 0, cap = 0, n;

	*out = NULL;
	if (!f) {
		fprintf(stderr, "error: --input: cannot open '%s': %s\n", path, strerror(errno));
		return ST_EXIT_FAIL;
	}
	do {
		if (len + 65536 > cap) {
			char *nb = realloc(buf, cap = cap ? 2 * cap : 65536 * 2);

			if (!nb || cap > 1u << 30) {
				fprintf(stderr, "error: --input: '%s' is too large\n", path);
				free(nb ? nb : buf);
				if (f != stdin)
					fclose(f);
				return ST_EXIT_FAIL;
			}
			buf = nb;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	if (ferror(f)) {
		fprintf(stderr, "error: --input: cannot read '%s': %s\n", path, strerror(errno));
		free(buf);
		if (f != stdin)
			fclose(f);
		return ST_EXIT_FAIL;
	}
	if (f != stdin)
		fclose(f);
	tok = json_tokener_new();
	if (tok && len <= (size_t)INT32_MAX)
		ans = json_tokener_parse_ex(tok, buf, (int)len);
	if (tok && json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(ans);
		ans = NULL;
	}
	json_tokener_free(tok);
	free(buf);
	if (!ans) {
		fprintf(stderr, "error: --input: '%s' is not JSON\n", path);
		return ST_EXIT_FAIL;
	}
	/* A saved error answer says so, as the collector would have. */
	if (json_object_object_get_ex(ans, "ok", &ok) && !json_object_get_boolean(ok)) {
		fprintf(stderr, "error: --input: '%s' holds a failed query: %s\n", path,
			json_object_object_get_ex(ans, "error", &ok) ?
			json_object_get_string(ok) : "no reason given");
		json_object_put(ans);
		return ST_EXIT_FAIL;
	}
	*out = ans;
	return 0;
}

/* Write the report to path ("-" = stdout) atomically. */
static int write_report(const char *path, const struct report *r, enum report_format fmt)
{
	char *tmp = NULL, *dir;
	mode_t um;
	FILE *f;
	int fd, rc;

	if (!strcmp(path, "-")) {
		rc = report_render(stdout, r, fmt);
		if (fflush(stdout) || rc) {
			fprintf(stderr, "error: writing the report: %s\n", strerror(errno));
			return ST_EXIT_FAIL;
		}
		return 0;
	}
	if (!(dir = strdup(path)) || asprintf(&tmp, "%s/.%s.XXXXXX", dirname(dir),
					      strrchr(path, '/') ? strrchr(path, '/') + 1 : path) < 0) {
		free(dir);
		fprintf(stderr, "error: out of memory\n");
		return ST_EXIT_FAIL;
	}
	free(dir);
	if ((fd = mkstemp(tmp)) < 0) {
		fprintf(stderr, "error: -o: cannot create a file next to '%s': %s\n", path,
			strerror(errno));
		free(tmp);
		return ST_EXIT_FAIL;
	}
	/* mkstemp makes 0600; a report is an ordinary file. */
	um = umask(0);
	umask(um);
	if (fchmod(fd, 0666 & ~um) || !(f = fdopen(fd, "w"))) {
		fprintf(stderr, "error: -o: %s: %s\n", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		free(tmp);
		return ST_EXIT_FAIL;
	}
	rc = report_render(f, r, fmt);
	if (fflush(f) || rc || fsync(fileno(f))) {
		fprintf(stderr, "error: -o: writing '%s': %s\n", path, strerror(errno));
		fclose(f);
		unlink(tmp);
		free(tmp);
		return ST_EXIT_FAIL;
	}
	if (fclose(f) || rename(tmp, path)) {
		fprintf(stderr, "error: -o: cannot write '%s': %s\n", path, strerror(errno));
		unlink(tmp);
		free(tmp);
		return ST_EXIT_FAIL;
	}
	free(tmp);
	return 0;
}

int cmd_report(int argc, char **argv)
{
	const char *url = NULL, *format = NULL, *out = "-", *input = NULL;
	double last = -1, timeout = 5;
	uint64_t since = 0, until = 0;
	uint32_t top = 3;
	enum report_format fmt;
	struct report r = { 0 };
	json_object *ans = NULL;
	char err[256], source[600];
	int rc;
	struct st_opt opts[] = {
		{ "collector", 'C', ST_OPT_STR, &url, "URL", "collector query address (default $STAGETRACE_COLLECTOR or " CLI_DEFAULT_COLLECTOR ")" },
		{ "last", 'l', ST_OPT_DURATION, &last, "DUR", "time range ending now (or at --until), e.g. 5m, 1h (default 1h)" },
		{ "since", 0, ST_OPT_U64, &since, "UNIX_S", "range start, seconds since the epoch (excludes --last)" },
		{ "until", 0, ST_OPT_U64, &until, "UNIX_S", "range end, seconds since the epoch (default now)" },
		{ "format", 'f', ST_OPT_STR, &format, "FMT", "text, markdown, csv, json or html (default: from -o's extension, else text)" },
		{ "output", 'o', ST_OPT_STR, &out, "FILE", "write the report to FILE, replaced atomically (default -, stdout)" },
		{ "top", 'n', ST_OPT_U32, &top, "N", "list the N largest contributors per pair, 0 = every stage (default 3)", 0, 1000 },
		{ "input", 'i', ST_OPT_STR, &input, "FILE", "render a saved 'stagetrace matrix --json' answer instead of asking the collector (- = stdin)" },
		{ "timeout", 't', ST_OPT_DURATION, &timeout, "DUR", "give up on the collector after this (default 5s)", 0.01, 3600 },
		ST_OPT_END,
	};
	static const struct st_cmd_help help = {
		.name = "stagetrace report",
		.summary = "Summarise where the time went between VMs: per pair, overall, top contributors.",
		.description =
"For every VM pair (source -> destination) that sent traffic in the range,\n"
"and for all pairs together, the report gives: the range and its length;\n"
"packets matched end to end across hosts, lost (left a host, never arrived),\n"
"dropped and unmatched, and the match rate, matched / (matched + lost);\n"
"end-to-end latency avg, p50, p95, p99 and max; the TOP LATENCY\n"
"CONTRIBUTORS, the stages ranked by their share of the pair's time, where a\n"
"stage's time is its mean x its count and the share is that over the sum for\n"
"all stages ('top contributors: wire 81.4%, vm_rx 17.6%, nic_queue 0.4%');\n"
"and the destination VM's turnaround (how long it took to answer), which is\n"
"not part of the one-way latency. The stages are those of 'stagetrace matrix\n"
"-h' (tap_queue, nic_tx, wire, vm_rx, ...).\n"
"\n"
"Overall figures are computed from the per-pair summaries. Packets, losses,\n"
"match rate, avg (weighted by packets), max and the shares are EXACT.\n"
"Percentiles cannot be merged from summaries: the overall p50/p95/p99 are\n"
"shown as an UPPER BOUND, the largest per-pair value ('<=' in text, '≤'\n"
"elsewhere), and the smallest per-pair value is given as a lower bound; the\n"
"true value always lies between the two.\n"
"\n"
"Formats:\n"
"  text      for terminals: one line per pair, its top contributors and\n"
"            turnaround, then the overall line (default)\n"
"  markdown  a pairs table and one stage table per pair (md is accepted)\n"
"  csv       one row per pair x stage plus overall rows, with a header,\n"
"            RFC 4180 quoting and CRLF line ends; unknown values are empty\n"
"  json      a stable documented document, schema \"stagetrace-report/1\"\n"
"  html      one self-contained page, no script or external resource: a\n"
"            heatmap of the VM-pair matrix (colour = p50 on a log scale),\n"
"            a heatmap of pairs x stages (colour = share), stacked bars of\n"
"            the stage means per pair, and the tables\n"
"VM and stage names are escaped for the format (HTML, markdown, CSV,\n"
"terminal control characters): the collector's data is not trusted.\n"
"The collector keeps per-minute data, so the range it reports on is the\n"
"requested one widened to whole minutes. See docs/report.md.",
		.examples =
"  stagetrace report --last 15m\n"
"  stagetrace report --last 1h -o /var/www/stagetrace.html\n"
"  stagetrace report --since 1764078000 --until 1764081599 --format csv -o day.csv\n"
"  stagetrace report --format json | jq '.pairs[] | {src, dst, top: .top_contributors[0].stage}'\n"
"  stagetrace matrix --json > m.json; stagetrace report --input m.json --format markdown",
	};

	if (st_opts_parse_noargs(argc, argv, opts, &help, &rc))
		return rc;
	if (format && format_by_name(format, &fmt)) {
		fprintf(stderr, "error: --format: invalid value '%s' (expected text, markdown, "
			"csv, json or html)\n", format);
		return ST_EXIT_USAGE;
	}
	if (!format)
		fmt = format_by_path(strcmp(out, "-") ? out : NULL);
	if (since && last >= 0) {
		fprintf(stderr, "error: --last and --since exclude each other\n");
		return ST_EXIT_USAGE;
	}
	if (input && (url || since || until || last >= 0)) {
		fprintf(stderr, "error: --input renders a saved answer: it takes no --collector, "
			"--last, --since or --until\n");
		return ST_EXIT_USAGE;
	}
	if (!input) {
		if (!url)
			url = cli_collector_default();
		if (last < 0)
			last = 3600;
		if ((rc = cli_range(last, &since, &until)) != 0)
			return rc;
		rc = cli_query_matrix(url, timeout, since, until, &ans);
		if (rc)
			return rc;
		snprintf(source, sizeof(source), "collector %s", url);
	} else {
		if ((rc = read_answer(input, &ans)))
			return rc;
		snprintf(source, sizeof(source), "file %s", strcmp(input, "-") ? input : "(stdin)");
	}

	r.source = source;
	r.generated = (int64_t)time(NULL);
	r.top = top;
	if (report_build(ans, &r, err, sizeof(err))) {
		fprintf(stderr, "error: %s sent a malformed matrix answer: %s\n",
			input ? "--input" : "the collector", err);
		report_free(&r);
		json_object_put(ans);
		return ST_EXIT_FAIL;
	}
	json_object_put(ans);
	if (!r.npairs) {
		char a[32], b[32];

		report_fmt_time(r.since, a, sizeof(a));
		report_fmt_time(r.until, b, sizeof(b));
		fprintf(stderr, "error: no traffic recorded between %s and %s UTC\n", a, b);
		report_free(&r);
		return ST_EXIT_NODATA;
	}
	rc = write_report(out, &r, fmt);
	report_free(&r);
	return rc;
}
