/* Unit: problem documents (common/http.c, http_reply_problem) quote what a
 * client sent, of any bytes, and stay JSON: RFC 9457's members, in UTF-8. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

/* The problem document in res (a new reference); fails unless it is one. */
static json_t *problem(struct http_response *res, int status)
{
	json_t *doc;

	cr_assert_eq(res->status, status);
	cr_assert_str_eq(res->content_type, "application/problem+json");
	doc = json_loadb(res->body, res->body_len, 0, NULL);
	cr_assert_not_null(doc, "not JSON: %.*s", (int)res->body_len, res->body);
	cr_expect_eq(json_integer_value(json_object_get(doc, "status")), status);
	cr_expect_str_eq(json_string_value(json_object_get(doc, "type")), "about:blank");
	return doc;
}

Test(http, a_problem_quoting_bytes_that_are_not_utf8_is_still_a_problem_document)
{
	struct http_response res = {0};
	json_t *doc;

	/* A lone continuation byte, a lead byte without its continuation, an
	 * overlong '/', a surrogate, then "é" whole. */
	http_reply_problem(&res, 404, "f\xff",
	                   "no order a\x80"
	                   "b\xe2\x82"
	                   "c\xc0\xaf"
	                   "d\xed\xa0\x80"
	                   "e\xc3\xa9");
	doc = problem(&res, 404);
	cr_expect_str_eq(json_string_value(json_object_get(doc, "detail")),
	                 "no order a?b??c??d???e\xc3\xa9");
	cr_expect_str_eq(json_string_value(json_object_get(doc, "field")), "f?");
	json_decref(doc);
	free(res.body);
}

Test(http, a_detail_cut_inside_a_character_is_still_a_problem_document)
{
	struct http_response res = {0};
	char quoted[1024] = "";
	json_t *doc;
	const char *detail;

	for (int i = 0; i < 300; i++)
		strcat(quoted, "\xe2\x82\xac"); /* "€": 900 bytes, past the detail's 511 */
	http_reply_problem(&res, 409, NULL, "key \"%s\" was used", quoted);
	doc = problem(&res, 409);
	detail = json_string_value(json_object_get(doc, "detail"));
	cr_assert_not_null(detail);
	cr_expect(strncmp(detail, "key \"\xe2\x82\xac", 8) == 0, "%s", detail);
	json_decref(doc);
	free(res.body);
}
