/* SPDX-License-Identifier: MIT */
/*
 * Table-driven command-line options, shared by every program.
 *
 * A command declares its options once, as an array of struct st_opt that
 * maps each flag straight into a field of its config struct; the same table
 * generates the -h text. Values are validated while parsing (numbers with
 * range checks, IPv4 addresses and CIDRs, ports), so bad input stops with a
 * one-line error and ST_EXIT_USAGE instead of a silent default.
 */
#ifndef ST_OPTS_H
#define ST_OPTS_H

#include <stdint.h>

/* Exit codes shared by all stagetrace programs (docs/cli.md). */
enum st_exit {
	ST_EXIT_OK = 0,
	ST_EXIT_FAIL = 1,	/* runtime failure */
	ST_EXIT_USAGE = 2,	/* bad flags, config or arguments */
	ST_EXIT_UNREACHABLE = 3,/* collector not reachable / no answer */
	ST_EXIT_NODATA = 4,	/* query answered, but nothing matched */
	ST_EXIT_HELP = 100,	/* internal: -h was printed, exit 0 */
};

enum st_opt_type {
	ST_OPT_FLAG,	/* int, set to 1 */
	ST_OPT_STR,	/* const char * */
	ST_OPT_U32,	/* uint32_t, range checked */
	ST_OPT_U64,
	ST_OPT_DOUBLE,
	ST_OPT_LIST,	/* struct st_strlist, repeatable */
	ST_OPT_IPV4,	/* uint32_t network order */
	ST_OPT_CIDR,	/* struct st_cidr */
	ST_OPT_PORT,	/* uint16_t host order, 1..65535 */
	ST_OPT_DURATION,/* double seconds: "10", "1.5s", "500ms", "5m", "2h" */
};

struct st_strlist {
	const char **v;
	int n;
};

struct st_cidr {
	uint32_t addr;	/* network order, masked */
	uint32_t mask;	/* network order */
	int set;
};

struct st_opt {
	const char *lname;	/* long name without "--" */
	char sname;		/* short name or 0 */
	enum st_opt_type type;
	void *dst;
	const char *argname;	/* NULL for flags */
	const char *help;
	double min, max;	/* numeric range when max > min */
};

struct st_cmd_help {
	const char *name;	/* "stagetrace matrix" */
	const char *args;	/* "[OPTIONS]" */
	const char *summary;	/* one line */
	const char *description;/* paragraphs, may be NULL */
	const char *examples;	/* may be NULL */
};

#define ST_OPT_END { 0 }

/*
 * Parse argv[1..] against opts. Non-option arguments are left in argv from
 * *first_arg on. Returns 0, ST_EXIT_USAGE (message printed), or
 * ST_EXIT_HELP (help printed).
 */
int st_opts_parse(int argc, char **argv, const struct st_opt *opts,
		  const struct st_cmd_help *help, int *first_arg);
void st_opts_help(const struct st_opt *opts, const struct st_cmd_help *help);
/*
 * Configuration files use the same table: one "name = value" per line, the
 * name being the long option without "--" (a flag takes no value or
 * true/false; a repeatable option may appear on several lines), '#' starts
 * a comment. Unknown names, bad values and flags with values are rejected
 * with "FILE:LINE: ..." on stderr. Returns 0 or ST_EXIT_USAGE.
 */
int st_opts_load_file(const char *path, const struct st_opt *opts);
/*
 * Daemons: when argv names a --config file, load it first, then parse
 * argv over it, so the command line wins. conf_path is the dst of the
 * table's "config" option. Same returns as st_opts_parse.
 */
int st_opts_parse_with_config(int argc, char **argv, const struct st_opt *opts,
			      const struct st_cmd_help *help, const char **conf_path,
			      int *first_arg);

/*
 * For commands that take no positional arguments (one is a usage error).
 * Returns 1 when the caller should exit now with *exit_code (0 after -h),
 * 0 to go on.
 */
int st_opts_parse_noargs(int argc, char **argv, const struct st_opt *opts,
			 const struct st_cmd_help *help, int *exit_code);
/* The same, with a --config file (st_opts_parse_with_config). */
int st_opts_parse_daemon(int argc, char **argv, const struct st_opt *opts,
			 const struct st_cmd_help *help, const char **conf_path,
			 int *exit_code);

int st_parse_ipv4(const char *s, uint32_t *out);
int st_parse_cidr(const char *s, struct st_cidr *out);
int st_parse_u64(const char *s, uint64_t *out);
int st_parse_duration(const char *s, double *seconds);
void st_strlist_add(struct st_strlist *l, const char *s);

#endif /* ST_OPTS_H */
