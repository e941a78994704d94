// SPDX-License-Identifier: MIT
#include "log.h"

#include <bpf/libbpf.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *log_prog = "stagetrace";
static enum st_log_level log_level = ST_LOG_INFO;

void st_log_init(const char *prog, enum st_log_level level)
{
	const char *slash = strrchr(prog, '/');

	log_prog = slash ? slash + 1 : prog;
	log_level = level;
}

void st_log_set_level(enum st_log_level level) { log_level = level; }
enum st_log_level st_log_get_level(void) { return log_level; }

void st_vlog(enum st_log_level level, const char *fmt, va_list ap)
{
	static const char *names[] = { "error", "warn", "info", "debug" };
	char buf[1024];
	size_t n;

	if (level > log_level)
		return;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	/* One line per message: trailing newlines from libbpf are trimmed. */
	n = strlen(buf);
	while (n && buf[n - 1] == '\n')
		buf[--n] = '\0';
	fprintf(stderr, "%s %s: %s\n", names[level], log_prog, buf);
}

void st_log(enum st_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	st_vlog(level, fmt, ap);
	va_end(ap);
}

static int log_libbpf(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	enum st_log_level l = level == LIBBPF_WARN ? ST_LOG_WARN :
			      level == LIBBPF_INFO ? ST_LOG_DEBUG : ST_LOG_DEBUG;

	/* libbpf prints multi-line verifier logs at debug level. */
	if (level == LIBBPF_DEBUG && log_level < ST_LOG_DEBUG)
		return 0;
	st_vlog(l, fmt, ap);
	return 0;
}

void st_log_route_libbpf(void)
{
	libbpf_set_print(log_libbpf);
}
