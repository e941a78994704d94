// SPDX-License-Identifier: MIT
#include "opts.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int st_parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	/* Digits only: strtoull would skip spaces and accept a sign. */
	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

int st_parse_ipv4(const char *s, uint32_t *out)
{
	struct in_addr a;

	if (!s || inet_pton(AF_INET, s, &a) != 1)
		return -EINVAL;
	*out = a.s_addr;
	return 0;
}

int st_parse_cidr(const char *s, struct st_cidr *out)
{
	char buf[32];
	const char *slash = strchr(s, '/');
	uint64_t plen = 32;
	uint32_t addr;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	if (slash) {
		buf[slash - s] = '\0';
		if (st_parse_u64(slash + 1, &plen) || plen > 32)
			return -EINVAL;
	}
	if (st_parse_ipv4(buf, &addr))
		return -EINVAL;
	out->mask = plen ? htonl(~0U << (32 - plen)) : 0;
	out->addr = addr & out->mask;
	out->set = 1;
	return 0;
}

int st_parse_duration(const char *s, double *seconds)
{
	char *end;
	double v, mul = 1;

	if (!s || !*s)
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || v < 0 || !isfinite(v))
		return -EINVAL;
	if (!strcmp(end, "") || !strcmp(end, "s"))
		mul = 1;
	else if (!strcmp(end, "ms"))
		mul = 1e-3;
	else if (!strcmp(end, "us"))
		mul = 1e-6;
	else if (!strcmp(end, "m"))
		mul = 60;
	else if (!strcmp(end, "h"))
		mul = 3600;
	else if (!strcmp(end, "d"))
		mul = 86400;
	else
		return -EINVAL;
	*seconds = v * mul;
	return 0;
}

void st_strlist_add(struct st_strlist *l, const char *s)
{
	const char **nv = realloc(l->v, (l->n + 1) * sizeof(*nv));

	if (!nv) {
		fprintf(stderr, "error: out of memory\n");
		exit(ST_EXIT_FAIL);
	}
	l->v = nv;
	l->v[l->n++] = s;
}

/* Where a value came from, for messages: "--name", or "FILE:LINE: name". */
static char opt_ctx[320];

static const char *optname(const struct st_opt *o)
{
	static char buf[96];

	if (opt_ctx[0])
		return opt_ctx;
	snprintf(buf, sizeof(buf), "--%s", o->lname);
	return buf;
}

static int opt_bad(const struct st_opt *o, const char *arg, const char *what)
{
	fprintf(stderr, "error: %s: invalid value '%s' (%s)\n", optname(o), arg, what);
	return ST_EXIT_USAGE;
}

static int opt_store(const struct st_opt *o, const char *arg)
{
	uint64_t u;
	double d;

	switch (o->type) {
	case ST_OPT_FLAG:
		*(int *)o->dst = 1;
		return 0;
	case ST_OPT_STR:
		if (!*arg)
			return opt_bad(o, arg, "empty");
		*(const char **)o->dst = arg;
		return 0;
	case ST_OPT_LIST:
		st_strlist_add(o->dst, arg);
		return 0;
	case ST_OPT_U32:
	case ST_OPT_U64:
		if (st_parse_u64(arg, &u))
			return opt_bad(o, arg, "expected a non-negative integer");
		if (o->max > o->min && (u < o->min || u > o->max)) {
			fprintf(stderr, "error: %s: %s is out of range [%.0f, %.0f]\n",
				optname(o), arg, o->min, o->max);
			return ST_EXIT_USAGE;
		}
		if (o->type == ST_OPT_U32) {
			if (u > UINT32_MAX)
				return opt_bad(o, arg, "too large");
			*(uint32_t *)o->dst = (uint32_t)u;
		} else {
			*(uint64_t *)o->dst = u;
		}
		return 0;
	case ST_OPT_DOUBLE:
	case ST_OPT_DURATION:
		if (st_parse_duration(arg, &d))
			return opt_bad(o, arg, o->type == ST_OPT_DURATION ?
				       "expected a duration like 10, 1.5s, 500ms, 5m" :
				       "expected a non-negative number");
		if (o->max > o->min && (d < o->min || d > o->max)) {
			fprintf(stderr, "error: %s: %s is out of range [%g, %g]\n",
				optname(o), arg, o->min, o->max);
			return ST_EXIT_USAGE;
		}
		*(double *)o->dst = d;
		return 0;
	case ST_OPT_IPV4:
		if (st_parse_ipv4(arg, o->dst))
			return opt_bad(o, arg, "expected an IPv4 address");
		return 0;
	case ST_OPT_CIDR:
		if (st_parse_cidr(arg, o->dst))
			return opt_bad(o, arg, "expected an IPv4 address or CIDR");
		return 0;
	case ST_OPT_PORT:
		if (st_parse_u64(arg, &u) || u < 1 || u > 65535)
			return opt_bad(o, arg, "expected a port 1-65535");
		*(uint16_t *)o->dst = (uint16_t)u;
		return 0;
	}
	return ST_EXIT_USAGE;
}

void st_opts_help(const struct st_opt *opts, const struct st_cmd_help *h)
{
	const struct st_opt *o;

	printf("Usage: %s %s\n\n%s\n", h->name, h->args ? h->args : "[OPTIONS]",
	       h->summary);
	if (h->description)
		printf("\n%s\n", h->description);
	printf("\nOptions:\n");
	for (o = opts; o->lname; o++) {
		char left[64];

		snprintf(left, sizeof(left), "%s%c%s--%s%s%s",
			 o->sname ? "-" : "", o->sname ? o->sname : ' ',
			 o->sname ? ", " : "  ", o->lname,
			 o->argname ? " " : "", o->argname ? o->argname : "");
		printf("  %-30s %s\n", left, o->help);
	}
	printf("  %-30s %s\n", "-h,  --help", "show this help and exit");
	if (h->examples)
		printf("\nExamples:\n%s\n", h->examples);
	printf("\nExit status: 0 ok, 1 runtime failure, 2 usage error, "
	       "3 collector unreachable, 4 no data.\n");
}

int st_opts_parse(int argc, char **argv, const struct st_opt *opts,
		  const struct st_cmd_help *help, int *first_arg)
{
	struct option lopts[128];
	char sopts[256];
	size_t ns = 0, nl = 0;
	const struct st_opt *o;
	int c, rc;

	sopts[ns++] = '+';	/* stop at the first non-option */
	sopts[ns++] = ':';	/* report missing arguments as ':' */
	sopts[ns++] = 'h';
	for (o = opts; o->lname && nl < 126; o++) {
		lopts[nl].name = o->lname;
		lopts[nl].has_arg = o->type == ST_OPT_FLAG ? no_argument : required_argument;
		lopts[nl].flag = NULL;
		lopts[nl].val = 256 + (int)(o - opts);
		nl++;
		if (o->sname && ns < sizeof(sopts) - 3) {
			sopts[ns++] = o->sname;
			if (o->type != ST_OPT_FLAG)
				sopts[ns++] = ':';
		}
	}
	lopts[nl++] = (struct option){ "help", no_argument, NULL, 'h' };
	lopts[nl] = (struct option){ 0 };
	sopts[ns] = '\0';

	/* 0, not 1: glibc only fully resets getopt's state (the '+' mode,
	 * half-parsed option clusters) for 0, and a process may parse twice. */
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, sopts, lopts, NULL)) != -1) {
		if (c == 'h') {
			st_opts_help(opts, help);
			return ST_EXIT_HELP;
		}
		if (c == '?') {
			if (optopt && optopt < 256)
				fprintf(stderr, "error: unknown option '-%c' (try %s -h)\n",
					optopt, help->name);
			else
				fprintf(stderr, "error: unknown option '%s' (try %s -h)\n",
					argv[optind - 1], help->name);
			return ST_EXIT_USAGE;
		}
		if (c == ':') {
			fprintf(stderr, "error: option '%s' needs a value\n",
				argv[optind - 1]);
			return ST_EXIT_USAGE;
		}
		if (c >= 256)
			o = &opts[c - 256];
		else
			for (o = opts; o->lname && o->sname != c; o++)
				;
		if (!o->lname)
			return ST_EXIT_USAGE;
		if ((rc = opt_store(o, optarg)) != 0)
			return rc;
	}
	*first_arg = optind;
	return 0;
}

/* The tail shared by the no-positional-argument parsers. */
static int noargs_finish(int rc, int first, int argc, char **argv,
			 const struct st_cmd_help *help, int *exit_code)
{
	if (rc) {
		*exit_code = rc == ST_EXIT_HELP ? ST_EXIT_OK : rc;
		return 1;
	}
	if (first < argc) {
		fprintf(stderr, "error: unexpected argument '%s' (try %s -h)\n",
			argv[first], help->name);
		*exit_code = ST_EXIT_USAGE;
		return 1;
	}
	return 0;
}

int st_opts_parse_noargs(int argc, char **argv, const struct st_opt *opts,
			 const struct st_cmd_help *help, int *exit_code)
{
	int first = argc, rc = st_opts_parse(argc, argv, opts, help, &first);

	return noargs_finish(rc, first, argc, argv, help, exit_code);
}

int st_opts_parse_daemon(int argc, char **argv, const struct st_opt *opts,
			 const struct st_cmd_help *help, const char **conf_path,
			 int *exit_code)
{
	int first = argc, rc = st_opts_parse_with_config(argc, argv, opts, help,
							 conf_path, &first);

	return noargs_finish(rc, first, argc, argv, help, exit_code);
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

int st_opts_load_file(const char *path, const struct st_opt *opts)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	int lineno = 0, rc = 0;

	if (!f) {
		fprintf(stderr, "error: config %s: %s\n", path, strerror(errno));
		return ST_EXIT_USAGE;
	}
	while (!rc && fgets(line, sizeof(line), f)) {
		char *hash, *eq, *name, *val = NULL;
		const struct st_opt *o;

		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			fprintf(stderr, "error: %s:%d: line too long\n", path, lineno);
			rc = ST_EXIT_USAGE;
			break;
		}
		if ((hash = strchr(line, '#')) != NULL)
			*hash = '\0';
		name = trim(line);
		if (!*name)
			continue;
		if ((eq = strchr(name, '=')) != NULL) {
			*eq = '\0';
			val = trim(eq + 1);
			name = trim(name);
		}
		for (o = opts; o->lname && strcmp(o->lname, name); o++)
			;
		/* A file cannot name another file nor turn the daemon into a
		 * one-shot check: both belong to the command line. */
		if (!o->lname || !strcmp(name, "config") || !strcmp(name, "check-config")) {
			fprintf(stderr, "error: %s:%d: unknown key '%s'\n", path, lineno, name);
			rc = ST_EXIT_USAGE;
		} else if (o->type == ST_OPT_FLAG) {
			if (val && strcmp(val, "true") && strcmp(val, "false")) {
				fprintf(stderr, "error: %s:%d: %s: expected true or false, not '%s'\n",
					path, lineno, name, val);
				rc = ST_EXIT_USAGE;
			} else {
				*(int *)o->dst = !val || !strcmp(val, "true");
			}
		} else if (!val || !*val) {
			fprintf(stderr, "error: %s:%d: %s needs a value\n", path, lineno, name);
			rc = ST_EXIT_USAGE;
		} else {
			/* Values outlive the file: the tables keep pointers. */
			char *copy = strdup(val);

			snprintf(opt_ctx, sizeof(opt_ctx), "%s:%d: %s", path, lineno, name);
			if (!copy)
				rc = ST_EXIT_FAIL;
			else if (opt_store(o, copy))
				rc = ST_EXIT_USAGE;
			opt_ctx[0] = '\0';
		}
	}
	fclose(f);
	return rc;
}

int st_opts_parse_with_config(int argc, char **argv, const struct st_opt *opts,
			      const struct st_cmd_help *help, const char **conf_path,
			      int *first_arg)
{
	int rc;

	/* Find --config before anything is stored, so that the file is read
	 * first and every command-line value (lists included) applies once,
	 * over it. */
	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++) {
		if (!strcmp(argv[i], "--config") && i + 1 < argc)
			*conf_path = argv[i + 1];
		else if (!strncmp(argv[i], "--config=", 9))
			*conf_path = argv[i] + 9;
	}
	if (*conf_path && (rc = st_opts_load_file(*conf_path, opts)) != 0)
		return rc;
	return st_opts_parse(argc, argv, opts, help, first_arg);
}
