/* SPDX-License-Identifier: MIT */
/*
 * The one logger. Every program (agent, collector, CLI, test tools) logs
 * through st_log; libbpf's print callback and nng/libuv errors are routed
 * here too, so an operator sees one format: "LEVEL prog: message".
 * Lines go to stderr; the level is set once at start-up.
 */
#ifndef ST_LOG_H
#define ST_LOG_H

#include <stdarg.h>

enum st_log_level { ST_LOG_ERROR, ST_LOG_WARN, ST_LOG_INFO, ST_LOG_DEBUG };

void st_log_init(const char *prog, enum st_log_level level);
void st_log_set_level(enum st_log_level level);
enum st_log_level st_log_get_level(void);
void st_log(enum st_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void st_vlog(enum st_log_level level, const char *fmt, va_list ap);
/* Route libbpf's messages into st_log (warnings as warnings, debug only -v). */
void st_log_route_libbpf(void);

#define pr_err(...)   st_log(ST_LOG_ERROR, __VA_ARGS__)
#define pr_warn(...)  st_log(ST_LOG_WARN, __VA_ARGS__)
#define pr_info(...)  st_log(ST_LOG_INFO, __VA_ARGS__)
#define pr_debug(...) st_log(ST_LOG_DEBUG, __VA_ARGS__)

#endif /* ST_LOG_H */
