/*
 * log.h - JSON-lines logging.
 *
 * One line per message on stderr:
 *   {"ts":"2026-01-02T03:04:05.678Z","level":"info","service":"order",
 *    "msg":"...","order_id":"...","event_id":"...","correlation_id":"...",
 *    "request_id":"..."}
 * Messages are lowercase and say what failed and with what.
 *
 *   LOG(INFO, "listening on port %d", port);
 *   LOGX(WARN, &fields, "could not reserve stock: %s", why);
 */
#ifndef COMMON_LOG_H
#define COMMON_LOG_H

#include <stddef.h>
#include <stdint.h>

enum log_level {
	LOG_LEVEL_DEBUG,
	LOG_LEVEL_INFO,
	LOG_LEVEL_WARN,
	LOG_LEVEL_ERROR,
};

/* Optional context of a log line; every member may be NULL. Borrowed. */
struct log_fields {
	const char *order_id;
	const char *event_id;
	const char *correlation_id;
	const char *request_id; /* NULL: the calling thread's, see log_set_request_id */
};

/* The HTTP request the calling thread serves (borrowed; NULL when done): it
 * goes into each of the thread's lines until cleared. */
void log_set_request_id(const char *request_id);

/* Sets the service name (borrowed; must outlive logging) and the lowest level written. */
void log_init(const char *service, enum log_level min_level);

/* Parses "debug", "info", "warn" or "error"; returns -1 for anything else. */
int log_level_parse(const char *text);

/* Writes one line to stderr with a single write(2). */
void log_emit(enum log_level level, const struct log_fields *fields, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/*
 * Formats one log line (with trailing newline) into buf. Pure, for tests.
 * Returns the line's length; a line longer than size is cut short but stays
 * valid JSON.
 */
size_t log_format(char *buf, size_t size, int64_t ts_ms, const char *service, enum log_level level,
                  const struct log_fields *fields, const char *msg);

/*
 * Appends src as the contents of a JSON string (without quotes) to buf at
 * *pos, escaping quotes, backslashes and control characters and replacing
 * invalid UTF-8 with U+FFFD. Never writes past size-1; NUL-terminates.
 * Returns 0, or -1 when the text did not fit (what fitted is kept).
 */
int log_json_escape(char *buf, size_t size, size_t *pos, const char *src);

/* Logs a broken invariant with its place in the source, then aborts. */
void log_bug(const char *file, int line, const char *fmt, ...)
        __attribute__((format(printf, 3, 4), noreturn));

#define BUG(...)               log_bug(__FILE__, __LINE__, __VA_ARGS__)
#define LOG(lvl, ...)          log_emit(LOG_LEVEL_##lvl, NULL, __VA_ARGS__)
#define LOGX(lvl, fields, ...) log_emit(LOG_LEVEL_##lvl, (fields), __VA_ARGS__)

/* Logs a startup failure at ERROR and exits 1. Only for startup: later,
 * errors are returned. */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
