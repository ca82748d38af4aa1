/* Unit tests: schema compatibility rules (what `make schemas-check` enforces). */
#include <criterion/criterion.h>
#include <string.h>

#include "schema.h"

static json_t *norm(const char *text)
{
	json_error_t e;
	json_t *raw = json_loads(text, 0, &e);
	json_t *n;
	char err[256];

	cr_assert_not_null(raw, "%s", e.text);
	n = schema_normalize(raw, err, sizeof(err));
	cr_assert_not_null(n, "%s", err);
	json_decref(raw);
	return n;
}

#define REC(fields) \
	"{\"type\":\"record\",\"name\":\"E\",\"namespace\":\"s\",\"fields\":[" fields "]}"
#define F_ID "{\"name\":\"id\",\"type\":\"string\"}"

/* Both directions, as schemas-check demands: new reads old, old reads new. */
static int both_ways(const char *old_text, const char *new_text, char *why, size_t size)
{
	json_t *o = norm(old_text), *n = norm(new_text);
	int rc = schema_compatible(n, o, why, size);

	if (rc == 0)
		rc = schema_compatible(o, n, why, size);
	json_decref(o);
	json_decref(n);
	return rc;
}

Test(schema, adding_a_field_with_a_default_is_compatible)
{
	char why[256];

	cr_expect_eq(both_ways(REC(F_ID),
	                       REC(F_ID ",{\"name\":\"x\",\"type\":\"long\",\"default\":0}"), why,
	                       sizeof(why)),
	             0, "%s", why);
	cr_expect_eq(
	        both_ways(REC(F_ID),
	                  REC(F_ID
	                      ",{\"name\":\"t\",\"type\":[\"null\",\"string\"],\"default\":null}"),
	                  why, sizeof(why)),
	        0, "%s", why);
}

Test(schema, adding_a_field_without_a_default_is_rejected)
{
	char why[256];

	cr_expect_eq(both_ways(REC(F_ID), REC(F_ID ",{\"name\":\"x\",\"type\":\"long\"}"), why,
	                       sizeof(why)),
	             ERR_INVALID);
	cr_expect(strstr(why, "E.x: the reader's field has no default"), "%s", why);
}

Test(schema, removing_a_field_without_a_default_is_rejected)
{
	char why[256];

	cr_expect_eq(both_ways(REC(F_ID ",{\"name\":\"x\",\"type\":\"long\"}"), REC(F_ID), why,
	                       sizeof(why)),
	             ERR_INVALID);
	cr_expect(strstr(why, "E.x"), "%s", why);
	/* With a default in the old schema, old readers fill it in: compatible. */
	cr_expect_eq(both_ways(REC(F_ID ",{\"name\":\"x\",\"type\":\"long\",\"default\":1}"),
	                       REC(F_ID), why, sizeof(why)),
	             0, "%s", why);
}

Test(schema, changing_a_type_is_rejected)
{
	char why[256];

	cr_expect_eq(
	        both_ways(REC(F_ID), REC("{\"name\":\"id\",\"type\":\"long\"}"), why, sizeof(why)),
	        ERR_INVALID);
	cr_expect(strstr(why, "E.id: type changed"), "%s", why);
	/* int -> long is a promotion one way only: long data cannot be read as int. */
	cr_expect_eq(both_ways(REC("{\"name\":\"n\",\"type\":\"int\"}"),
	                       REC("{\"name\":\"n\",\"type\":\"long\"}"), why, sizeof(why)),
	             ERR_INVALID);
}

Test(schema, nested_records_arrays_and_unions_are_checked)
{
	char why[256];
	const char *old_s = REC("{\"name\":\"items\",\"type\":{\"type\":\"array\",\"items\":"
	                        "{\"type\":\"record\",\"name\":\"I\",\"fields\":[" F_ID "]}}}");
	const char *new_s = REC("{\"name\":\"items\",\"type\":{\"type\":\"array\",\"items\":"
	                        "{\"type\":\"record\",\"name\":\"I\",\"fields\":[" F_ID
	                        ",{\"name\":\"q\",\"type\":\"int\"}]}}}");

	cr_expect_eq(both_ways(old_s, new_s, why, sizeof(why)), ERR_INVALID);
	cr_expect(strstr(why, "E.items.q"), "%s", why);
	cr_expect_eq(both_ways(REC("{\"name\":\"u\",\"type\":[\"null\",\"string\"]}"),
	                       REC("{\"name\":\"u\",\"type\":[\"null\",\"long\"]}"), why,
	                       sizeof(why)),
	             ERR_INVALID);
}

Test(schema, canonical_form_strips_docs_and_logical_types)
{
	json_error_t e;
	json_t *raw = json_loads(
	        "{\"type\":\"record\",\"name\":\"R\",\"namespace\":\"n\",\"doc\":\"d\",\"x-topic\":"
	        "\"t\","
	        "\"fields\":[{\"name\":\"a\",\"type\":{\"type\":\"string\",\"logicalType\":"
	        "\"uuid\"},"
	        "\"default\":\"z\"},{\"name\":\"b\",\"type\":{\"type\":\"record\",\"name\":\"S\","
	        "\"fields\":[]}},{\"name\":\"c\",\"type\":\"S\"}]}",
	        0, &e);
	char err[128];
	char *pcf = schema_canonical(raw, err, sizeof(err));

	cr_assert_not_null(pcf, "%s", err);
	cr_expect_str_eq(
	        pcf,
	        "{\"name\":\"n.R\",\"type\":\"record\",\"fields\":["
	        "{\"name\":\"a\",\"type\":\"string\"},"
	        "{\"name\":\"b\",\"type\":{\"name\":\"n.S\",\"type\":\"record\",\"fields\":[]}},"
	        "{\"name\":\"c\",\"type\":\"n.S\"}]}");
	/* The spec's example fingerprint of "int". */
	cr_expect_eq(schema_crc64("\"int\"", 5), 0x7275d51a3f395c8fULL);
	free(pcf);
	json_decref(raw);
}
