/* Unit tests: log line formatting and JSON escaping. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

#include "log.h"

/* 2021-01-02T03:04:05.678Z */
#define TS 1609556645678LL

static json_t *parse(const char *line)
{
	json_error_t e;
	json_t *doc = json_loads(line, 0, &e);

	cr_assert_not_null(doc, "not JSON (%s): %s", e.text, line);
	return doc;
}

Test(log, formats_one_json_line)
{
	char buf[512];
	size_t n = log_format(buf, sizeof(buf), TS, "order", LOG_LEVEL_WARN, NULL, "hello");

	cr_expect_str_eq(buf, "{\"ts\":\"2021-01-02T03:04:05.678Z\",\"level\":\"warn\","
	                      "\"service\":\"order\",\"msg\":\"hello\"}\n");
	cr_expect_eq(n, strlen(buf));
}

Test(log, includes_context_fields_when_set)
{
	struct log_fields f = {.order_id = "o-1", .correlation_id = "c-9"};
	char buf[512];
	json_t *doc;

	log_format(buf, sizeof(buf), TS, "payment", LOG_LEVEL_INFO, &f, "charged");
	doc = parse(buf);
	cr_expect_str_eq(json_string_value(json_object_get(doc, "order_id")), "o-1");
	cr_expect_str_eq(json_string_value(json_object_get(doc, "correlation_id")), "c-9");
	cr_expect_null(json_object_get(doc, "event_id"));
	json_decref(doc);
}

Test(log, escapes_quotes_backslashes_and_control_characters)
{
	char buf[512];
	json_t *doc;
	const char *msg = "say \"hi\"\\ now\n\ttab\x01 bell\x7f";

	log_format(buf, sizeof(buf), TS, "s", LOG_LEVEL_ERROR, NULL, msg);
	cr_expect(strstr(buf, "say \\\"hi\\\"\\\\ now\\n\\ttab\\u0001 bell\\u007f"), "%s", buf);
	cr_expect_eq(strchr(buf, '\n'), buf + strlen(buf) - 1, "one line only");
	doc = parse(buf);
	cr_expect_str_eq(json_string_value(json_object_get(doc, "msg")), msg);
	json_decref(doc);
}

Test(log, replaces_invalid_utf8_and_keeps_valid_utf8)
{
	char buf[512];
	json_t *doc;

	log_format(buf, sizeof(buf), TS, "s", LOG_LEVEL_INFO, NULL,
	           "caf\xc3\xa9 bad\xff\xc3 over\xc0\xaf end");
	doc = parse(buf);
	cr_expect_str_eq(
	        json_string_value(json_object_get(doc, "msg")),
	        "caf\xc3\xa9 bad\xef\xbf\xbd\xef\xbf\xbd over\xef\xbf\xbd\xef\xbf\xbd end");
	json_decref(doc);
}

Test(log, cuts_long_lines_but_stays_valid_json)
{
	char big[3000];
	char buf[256];
	struct log_fields f = {.order_id = "o-1"};

	/* Quotes double in size when escaped: a cut may fall anywhere. */
	for (size_t cut = 0; cut < 20; cut++) {
		memset(big, '"', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		big[cut] = 'x';
		size_t n = log_format(buf, sizeof(buf), TS, "s", LOG_LEVEL_INFO, &f, big);

		cr_expect_lt(n, sizeof(buf));
		cr_expect_eq(buf[n - 1], '\n');
		json_decref(parse(buf));
	}
}

Test(log, escape_reports_overflow)
{
	char buf[8];
	size_t pos = 0;

	cr_expect_eq(log_json_escape(buf, sizeof(buf), &pos, "abc"), 0);
	cr_expect_str_eq(buf, "abc");
	cr_expect_eq(log_json_escape(buf, sizeof(buf), &pos, "\"\"\""), -1);
	cr_expect_str_eq(buf, "abc\\\"\\\"", "what fitted is kept, escapes whole");
}

Test(log, parses_level_names)
{
	cr_expect_eq(log_level_parse("debug"), LOG_LEVEL_DEBUG);
	cr_expect_eq(log_level_parse("error"), LOG_LEVEL_ERROR);
	cr_expect_eq(log_level_parse("loud"), -1);
	cr_expect_eq(log_level_parse(NULL), -1);
}
