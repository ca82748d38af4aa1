/*
 * Unit tests: the Avro codec against golden vectors made by fastavro
 * (tests/vectors/, see make_vectors.py), malformed input, and reading data
 * across schema versions.
 */
#include <criterion/criterion.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "schema.h"

static json_t *load_json(const char *path)
{
	json_error_t e;
	json_t *j = json_load_file(path, 0, &e);

	cr_assert_not_null(j, "%s: %s", path, e.text);
	return j;
}

static unsigned char *unhex(const char *hex, size_t *len)
{
	size_t n = strlen(hex) / 2;
	unsigned char *out = malloc(n);

	for (size_t i = 0; i < n; i++) {
		unsigned int b;

		cr_assert_eq(sscanf(hex + 2 * i, "%2x", &b), 1);
		out[i] = (unsigned char)b;
	}
	*len = n;
	return out;
}

static struct codec *builtin(void)
{
	struct codec *c;
	char err[512];

	cr_assert_eq(codec_new(&c, err, sizeof(err)), 0, "%s", err);
	return c;
}

Test(codec, matches_golden_vectors_from_fastavro)
{
	struct codec *c = builtin();
	glob_t g;
	int checked = 0;

	cr_assert_eq(glob("tests/vectors/*.json", 0, NULL, &g), 0,
	             "no vectors (run from the repo root)");
	for (size_t i = 0; i < g.gl_pathc; i++) {
		json_t *vec = load_json(g.gl_pathv[i]);
		const char *name = json_string_value(json_object_get(vec, "schema"));
		char path[256], err[512], fp_hex[17];
		json_t *raw, *decoded;
		char *pcf;
		unsigned char *want, *got;
		size_t want_len, got_len;
		const char *type;
		uint64_t fp;

		snprintf(path, sizeof(path), "schemas/%s.avsc", name);
		raw = load_json(path);
		pcf = schema_canonical(raw, err, sizeof(err));
		cr_assert_not_null(pcf, "%s: %s", name, err);
		cr_expect_str_eq(pcf, json_string_value(json_object_get(vec, "canonical")),
		                 "%s: canonical form differs", name);
		fp = schema_crc64(pcf, strlen(pcf));
		for (int b = 0; b < 8; b++)
			snprintf(fp_hex + 2 * b, 3, "%02x", (unsigned)(fp >> (8 * b)) & 0xff);
		cr_expect_str_eq(fp_hex, json_string_value(json_object_get(vec, "fingerprint")),
		                 "%s: fingerprint differs", name);

		want = unhex(json_string_value(json_object_get(vec, "encoded_hex")), &want_len);
		cr_assert_eq(codec_encode(c, name, json_object_get(vec, "value"), &got, &got_len,
		                          err, sizeof(err)),
		             0, "%s: %s", name, err);
		cr_expect_eq(got_len, want_len, "%s: %zu bytes, fastavro wrote %zu", name, got_len,
		             want_len);
		cr_expect_arr_eq(got, want, want_len < got_len ? want_len : got_len,
		                 "%s: our bytes differ from fastavro's", name);

		cr_assert_eq(codec_decode(c, want, want_len, &type, &decoded, err, sizeof(err)), 0,
		             "%s: %s", name, err);
		cr_expect_str_eq(type, name);
		cr_expect(json_equal(decoded, json_object_get(vec, "value")),
		          "%s: decoding fastavro's bytes gave another value", name);
		json_decref(decoded);
		free(got);
		free(want);
		free(pcf);
		json_decref(raw);
		json_decref(vec);
		checked++;
	}
	globfree(&g);
	cr_expect_geq(checked, 17, "one vector per event schema");
	codec_free(c);
}

/* A valid encoding of OrderCancelled, from its vector. */
static unsigned char *sample(size_t *len)
{
	json_t *vec = load_json("tests/vectors/OrderCancelled.json");
	unsigned char *buf = unhex(json_string_value(json_object_get(vec, "encoded_hex")), len);

	json_decref(vec);
	return buf;
}

Test(codec, every_truncation_is_a_decode_error)
{
	struct codec *c = builtin();
	size_t len;
	unsigned char *buf = sample(&len);

	for (size_t cut = 0; cut < len; cut++) {
		const char *type;
		json_t *v = NULL;
		char err[256];

		cr_expect_eq(codec_decode(c, buf, cut, &type, &v, err, sizeof(err)), ERR_INVALID,
		             "a value cut at %zu bytes decoded", cut);
		cr_expect_null(v);
	}
	free(buf);
	codec_free(c);
}

Test(codec, corrupt_bytes_never_crash_and_trailing_bytes_are_rejected)
{
	struct codec *c = builtin();
	size_t len;
	unsigned char *buf = sample(&len);
	unsigned char *longer = malloc(len + 1);
	const char *type;
	json_t *v;
	char err[256];

	/* Flip every byte after the header, one at a time: an error or a value, never a crash. */
	for (size_t i = CODEC_HEADER_SIZE; i < len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			buf[i] ^= (unsigned char)(1 << bit);
			if (codec_decode(c, buf, len, &type, &v, err, sizeof(err)) == 0)
				json_decref(v);
			buf[i] ^= (unsigned char)(1 << bit);
		}
	}
	memcpy(longer, buf, len);
	longer[len] = 0;
	cr_expect_eq(codec_decode(c, longer, len + 1, &type, &v, err, sizeof(err)), ERR_INVALID);
	cr_expect(strstr(err, "malformed"), "%s", err);
	/* An unknown fingerprint. */
	buf[5] ^= 0xFF;
	cr_expect_eq(codec_decode(c, buf, len, &type, &v, err, sizeof(err)), ERR_INVALID);
	cr_expect(strstr(err, "unknown schema fingerprint"), "%s", err);
	/* Not single-object encoding at all. */
	cr_expect_eq(codec_decode(c, "{\"json\":1}", 10, &type, &v, err, sizeof(err)), ERR_INVALID);
	free(longer);
	free(buf);
	codec_free(c);
}

Test(codec, a_huge_length_is_rejected_before_allocation)
{
	struct codec *c = builtin();
	size_t len;
	unsigned char *buf = sample(&len);
	const char *type;
	json_t *v;
	char err[256];

	/* The first string's length becomes 2^62. */
	unsigned char evil[CODEC_HEADER_SIZE + 10];
	memcpy(evil, buf, CODEC_HEADER_SIZE);
	memcpy(evil + CODEC_HEADER_SIZE, "\xfe\xff\xff\xff\xff\xff\xff\xff\x7f\x00", 10);
	cr_expect_eq(codec_decode(c, evil, sizeof(evil), &type, &v, err, sizeof(err)), ERR_INVALID);
	free(buf);
	codec_free(c);
}

Test(codec, encode_names_the_field_that_does_not_fit)
{
	struct codec *c = builtin();
	unsigned char *out;
	size_t len;
	char err[256];
	json_t *v = json_pack("{s:{s:s, s:s, s:n, s:I, s:s}, s:s, s:s}", "metadata", "event_id",
	                      "e", "correlation_id", "c", "causation_id", "occurred_at",
	                      (json_int_t)1, "producer", "p", "order_id", "o", "customer_id", "c");

	/* reason missing */
	cr_expect_eq(codec_encode(c, "OrderCancelled", v, &out, &len, err, sizeof(err)),
	             ERR_INVALID);
	cr_expect_str_eq(err, "OrderCancelled.reason: missing");
	json_object_set_new(v, "reason", json_integer(5));
	cr_expect_eq(codec_encode(c, "OrderCancelled", v, &out, &len, err, sizeof(err)),
	             ERR_INVALID);
	cr_expect(strstr(err, "OrderCancelled.reason"), "%s", err);
	json_object_set_new(v, "reason", json_string("PAYMENT_DECLINED"));
	/* traceparent (nullable) may be left out */
	cr_expect_eq(codec_encode(c, "OrderCancelled", v, &out, &len, err, sizeof(err)), 0, "%s",
	             err);
	free(out);
	cr_expect_eq(codec_encode(c, "NoSuchEvent", v, &out, &len, err, sizeof(err)), ERR_INVALID);
	json_decref(v);
	codec_free(c);
}

#define V1                                                                         \
	"{\"type\":\"record\",\"name\":\"Thing\",\"namespace\":\"t\",\"fields\":[" \
	"{\"name\":\"id\",\"type\":\"string\"},{\"name\":\"n\",\"type\":\"int\"}]}"
#define V2                                                                          \
	"{\"type\":\"record\",\"name\":\"Thing\",\"namespace\":\"t\",\"fields\":["  \
	"{\"name\":\"id\",\"type\":\"string\"},{\"name\":\"n\",\"type\":\"long\"}," \
	"{\"name\":\"note\",\"type\":\"string\",\"default\":\"none\"}]}"

static struct codec *codec_with(const char *reader, const char *writer)
{
	struct codec *c;
	char err[256];

	cr_assert_eq(codec_new_empty(&c), 0);
	cr_assert_eq(codec_add_schema(c, reader, true, err, sizeof(err)), 0, "%s", err);
	if (writer)
		cr_assert_eq(codec_add_schema(c, writer, false, err, sizeof(err)), 0, "%s", err);
	return c;
}

Test(codec, a_new_reader_reads_old_data_with_defaults)
{
	struct codec *old = codec_with(V1, NULL);
	struct codec *cur = codec_with(V2, V1);
	json_t *v = json_pack("{s:s, s:i}", "id", "a", "n", 7), *got;
	unsigned char *buf;
	size_t len;
	const char *type;
	char err[256];

	cr_assert_eq(codec_encode(old, "Thing", v, &buf, &len, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(codec_decode(cur, buf, len, &type, &got, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(json_integer_value(json_object_get(got, "n")), 7, "int promoted to long");
	cr_expect_str_eq(json_string_value(json_object_get(got, "note")), "none");
	json_decref(got);
	free(buf);
	json_decref(v);
	codec_free(old);
	codec_free(cur);
}

Test(codec, an_old_reader_reads_new_data_ignoring_new_fields)
{
	/* The old reader knows the new writer schema (deployed before the new producers). */
	const char *v2_int =
	        "{\"type\":\"record\",\"name\":\"Thing\",\"namespace\":\"t\",\"fields\":["
	        "{\"name\":\"id\",\"type\":\"string\"},{\"name\":\"n\",\"type\":\"int\"},"
	        "{\"name\":\"note\",\"type\":\"string\",\"default\":\"none\"}]}";
	struct codec *cur = codec_with(v2_int, NULL);
	struct codec *old = codec_with(V1, v2_int);
	json_t *v = json_pack("{s:s, s:i, s:s}", "id", "b", "n", 3, "note", "hi"), *got;
	unsigned char *buf;
	size_t len;
	const char *type;
	char err[256];

	cr_assert_eq(codec_encode(cur, "Thing", v, &buf, &len, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(codec_decode(old, buf, len, &type, &got, err, sizeof(err)), 0, "%s", err);
	cr_expect_str_eq(json_string_value(json_object_get(got, "id")), "b");
	cr_expect_null(json_object_get(got, "note"));
	json_decref(got);
	free(buf);
	json_decref(v);
	codec_free(old);
	codec_free(cur);
}

Test(codec, an_incompatible_writer_is_refused_when_added)
{
	const char *changed =
	        "{\"type\":\"record\",\"name\":\"Thing\",\"namespace\":\"t\",\"fields\":["
	        "{\"name\":\"id\",\"type\":\"int\"},{\"name\":\"n\",\"type\":\"int\"}]}";
	struct codec *c = codec_with(V1, NULL);
	char err[256];

	cr_expect_eq(codec_add_schema(c, changed, false, err, sizeof(err)), ERR_INVALID);
	cr_expect(strstr(err, "Thing.id: type changed from int to string"), "%s", err);
	codec_free(c);
}
