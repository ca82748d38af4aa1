#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 4096

static const char *log_service = "unknown";
static enum log_level log_min = LOG_LEVEL_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_init(const char *service, enum log_level min_level)
{
	if (service)
		log_service = service;
	log_min = min_level;
}

int log_level_parse(const char *text)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (text && strcmp(text, level_names[i]) == 0)
			return (int)i;
	return -1;
}

/* Length of the valid UTF-8 sequence at s, or 0 when it is invalid. */
static size_t utf8_seq_len(const unsigned char *s)
{
	size_t n;
	unsigned int min;
	unsigned int cp;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xE0) == 0xC0) {
		n = 2, cp = s[0] & 0x1F, min = 0x80;
	} else if ((s[0] & 0xF0) == 0xE0) {
		n = 3, cp = s[0] & 0x0F, min = 0x800;
	} else if ((s[0] & 0xF8) == 0xF0) {
		n = 4, cp = s[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return n;
}

static int put(char *buf, size_t size, size_t *pos, const char *s, size_t n)
{
	if (*pos + n >= size)
		return -1;
	memcpy(buf + *pos, s, n);
	*pos += n;
	buf[*pos] = '\0';
	return 0;
}

int log_json_escape(char *buf, size_t size, size_t *pos, const char *src)
{
	const unsigned char *s = (const unsigned char *)src;
	char esc[8];

	if (size == 0 || *pos >= size)
		return -1;
	buf[*pos] = '\0';
	while (*s) {
		const char *out = esc;
		size_t n;

		switch (*s) {
		case '"':
			out = "\\\"";
			n = 2;
			break;
		case '\\':
			out = "\\\\";
			n = 2;
			break;
		case '\n':
			out = "\\n";
			n = 2;
			break;
		case '\r':
			out = "\\r";
			n = 2;
			break;
		case '\t':
			out = "\\t";
			n = 2;
			break;
		default:
			if (*s < 0x20 || *s == 0x7F) {
				snprintf(esc, sizeof(esc), "\\u%04x", *s);
				n = 6;
			} else if ((n = utf8_seq_len(s)) == 0) {
				out = "\\ufffd";
				n = 6;
				if (put(buf, size, pos, out, n) < 0)
					return -1;
				s++;
				continue;
			} else {
				if (put(buf, size, pos, (const char *)s, n) < 0)
					return -1;
				s += n;
				continue;
			}
		}
		if (put(buf, size, pos, out, n) < 0)
			return -1;
		s++;
	}
	return 0;
}

/*
 * Appends ,"name":"value" when value is set. Returns 0 when the whole field
 * fitted, 1 when it was cut inside the string (left open), -1 when nothing of
 * it fitted.
 */
static int put_field(char *buf, size_t size, size_t *pos, const char *name, const char *value)
{
	char key[40];

	if (!value)
		return 0;
	snprintf(key, sizeof(key), ",\"%s\":\"", name);
	if (put(buf, size, pos, key, strlen(key)) < 0)
		return -1;
	if (log_json_escape(buf, size, pos, value) < 0 || put(buf, size, pos, "\"", 1) < 0)
		return 1;
	return 0;
}

size_t log_format(char *buf, size_t size, int64_t ts_ms, const char *service, enum log_level level,
                  const struct log_fields *fields, const char *msg)
{
	/* Room kept back for closing a cut string and the object: "}\n and NUL. */
	const size_t reserve = 4;
	size_t cap;
	size_t pos = 0;
	char ts[32];
	time_t secs = (time_t)(ts_ms / 1000);
	struct tm tm;
	int open;

	if (size < 128)
		return 0;
	cap = size - reserve;
	gmtime_r(&secs, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	pos = (size_t)snprintf(buf, cap, "{\"ts\":\"%s.%03dZ\",\"level\":\"%s\",\"service\":\"", ts,
	                       (int)(ts_ms % 1000), level_names[level]);
	/* The service name is short and was given at startup: it always fits. */
	(void)log_json_escape(buf, cap, &pos, service ? service : "");
	(void)put(buf, cap, &pos, "\",\"msg\":\"", 9);
	open = log_json_escape(buf, cap, &pos, msg ? msg : "") < 0 ||
	       put(buf, cap, &pos, "\"", 1) < 0;
	if (!open && fields) {
		int rc = put_field(buf, cap, &pos, "order_id", fields->order_id);

		if (rc == 0)
			rc = put_field(buf, cap, &pos, "event_id", fields->event_id);
		if (rc == 0)
			rc = put_field(buf, cap, &pos, "correlation_id", fields->correlation_id);
		if (rc == 0)
			rc = put_field(buf, cap, &pos, "request_id", fields->request_id);
		open = rc == 1;
	}
	if (open)
		buf[pos++] = '"';
	buf[pos++] = '}';
	buf[pos++] = '\n';
	buf[pos] = '\0';
	return pos;
}

static _Thread_local const char *thread_request_id;

void log_set_request_id(const char *request_id)
{
	thread_request_id = request_id;
}

void log_emit(enum log_level level, const struct log_fields *fields, const char *fmt, ...)
{
	struct log_fields with_request;
	char msg[LOG_LINE_MAX];
	char line[LOG_LINE_MAX + 512];
	struct timespec now;
	va_list ap;
	size_t n;

	if (level < log_min)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	clock_gettime(CLOCK_REALTIME, &now);
	if (thread_request_id && !(fields && fields->request_id)) {
		with_request = fields ? *fields : (struct log_fields){0};
		with_request.request_id = thread_request_id;
		fields = &with_request;
	}
	n = log_format(line, sizeof(line), (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000,
	               log_service, level, fields, msg);
	if (write(STDERR_FILENO, line, n) < 0)
		return; /* nowhere left to report it */
}

void log_bug(const char *file, int line, const char *fmt, ...)
{
	char msg[LOG_LINE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_emit(LOG_LEVEL_ERROR, NULL, "BUG at %s:%d: %s", file, line, msg);
	abort();
}

void die(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	LOG(ERROR, "%s", msg);
	exit(1);
}
