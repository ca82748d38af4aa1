/*
 * Unit tests: the codec's Confluent framing (magic 0, 4-byte big-endian
 * schema id) with a stand-in for the registry's lookup: both framings are
 * read by every codec, an id is looked up once, an id the registry lacks is
 * poison, a registry that does not answer is a retry, never poison.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "event.h"

#define ID_BASE 100 /* schema i of the built-ins has id ID_BASE + i */

struct fake_registry {
	int calls;
	int answer;          /* 0, ERR_NOTFOUND or ERR_RETRY */
	const char *replace; /* a schema text to answer with instead */
};

static int fake_lookup(void *arg, int32_t id, char **text, char *errstr, size_t errstr_size)
{
	struct fake_registry *f = arg;
	size_t i = (size_t)(id - ID_BASE);

	f->calls++;
	if (f->answer < 0) {
		snprintf(errstr, errstr_size, "fake: %s", err_name(f->answer));
		return f->answer;
	}
	if (f->replace) {
		*text = strdup(f->replace);
		return 0;
	}
	if (id < ID_BASE || i >= codec_nbuiltin_schemas)
		return ERR_NOTFOUND;
	*text = strdup(codec_builtin_schemas[i].text);
	return 0;
}

static struct codec *plain(void)
{
	struct codec *c;
	char err[512];

	cr_assert_eq(codec_new(&c, err, sizeof(err)), 0, "%s", err);
	return c;
}

/* A codec that reads the Confluent framing through f and writes none. */
static struct codec *looking_up(struct fake_registry *f)
{
	struct codec *c = plain();

	codec_use_registry(c, fake_lookup, f);
	return c;
}

/* A codec that writes the Confluent framing: every built-in schema bound,
 * released versions first (as registry_attach does; a current schema's id
 * is the one it encodes with). */
static struct codec *confluent(struct fake_registry *f)
{
	struct codec *c = plain();
	char err[512];

	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < codec_nbuiltin_schemas; i++) {
			const struct codec_source *s = &codec_builtin_schemas[i];

			if ((strstr(s->name, "/released/") != NULL) != (pass == 0))
				continue;
			cr_assert_eq(
			        codec_bind_id(c, (int32_t)(ID_BASE + i), s->text, err, sizeof(err)),
			        0, "%s: %s", s->name, err);
		}
	}
	codec_use_registry(c, fake_lookup, f);
	return c;
}

static json_t *sample(void)
{
	json_t *rec = json_pack("{s:s, s:s, s:s}", "order_id", "o-1", "customer_id", "c-1",
	                        "reason", "PAYMENT_DECLINED");

	json_object_set_new(rec, "metadata", event_metadata("unit", NULL, "o-1", NULL));
	return rec;
}

static unsigned char *encode(const struct codec *c, const json_t *rec, size_t *len)
{
	unsigned char *out;
	char err[512];

	cr_assert_eq(codec_encode(c, "OrderCancelled", rec, &out, len, err, sizeof(err)), 0, "%s",
	             err);
	return out;
}

static int decode(const struct codec *c, const unsigned char *buf, size_t len, json_t **out)
{
	const char *type;
	char err[512];

	*out = NULL;
	return codec_decode(c, buf, len, &type, out, err, sizeof(err));
}

/* The index of the current OrderCancelled schema among the built-ins. */
static size_t order_cancelled(void)
{
	for (size_t i = 0; i < codec_nbuiltin_schemas; i++)
		if (strcmp(codec_builtin_schemas[i].name, "schemas/OrderCancelled.avsc") == 0)
			return i;
	cr_assert_fail("no OrderCancelled schema");
	return 0;
}

/* The id the built-in OrderCancelled schema is bound to. */
static int32_t order_cancelled_id(void)
{
	return (int32_t)(ID_BASE + order_cancelled());
}

Test(codec_registry, writes_the_confluent_framing_with_the_bound_id)
{
	struct fake_registry f = {0};
	struct codec *c = confluent(&f);
	json_t *rec = sample(), *back;
	size_t len;
	unsigned char *buf = encode(c, rec, &len);
	int32_t id = order_cancelled_id();

	cr_assert_gt(len, CODEC_CONFLUENT_HEADER_SIZE);
	cr_expect_eq(buf[0], 0x00);
	cr_expect_eq(buf[1], (unsigned char)(id >> 24));
	cr_expect_eq(buf[2], (unsigned char)(id >> 16));
	cr_expect_eq(buf[3], (unsigned char)(id >> 8));
	cr_expect_eq(buf[4], (unsigned char)id);
	cr_assert_eq(decode(c, buf, len, &back), 0);
	cr_expect(json_equal(back, rec), "the record comes back as it went in");
	cr_expect_eq(f.calls, 0, "bound ids need no lookup");
	json_decref(back);
	json_decref(rec);
	free(buf);
	codec_free(c);
}

Test(codec_registry, every_codec_reads_both_framings)
{
	struct fake_registry f = {0}, g = {0};
	struct codec *writer = confluent(&f), *single = plain(), *reader = plain();
	json_t *rec = sample(), *back;
	size_t clen, slen;
	unsigned char *cbuf = encode(writer, rec, &clen), *sbuf = encode(single, rec, &slen);

	cr_assert_eq(sbuf[0], 0xC3, "a codec without ids writes single-object encoding");
	/* The Confluent-writing codec reads single-object records. */
	cr_assert_eq(decode(writer, sbuf, slen, &back), 0);
	cr_expect(json_equal(back, rec));
	json_decref(back);
	/* A codec with only the lookup reads Confluent records, asking once per id. */
	codec_use_registry(reader, fake_lookup, &g);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(decode(reader, cbuf, clen, &back), 0);
		cr_expect(json_equal(back, rec));
		json_decref(back);
	}
	cr_expect_eq(g.calls, 1, "one lookup for the id, then the cache (%d)", g.calls);
	/* A codec with no registry at all: a Confluent record is poison, not a crash. */
	cr_expect_eq(decode(single, cbuf, clen, &back), ERR_INVALID);
	json_decref(rec);
	free(cbuf);
	free(sbuf);
	codec_free(writer);
	codec_free(single);
	codec_free(reader);
}

Test(codec_registry, an_id_the_registry_lacks_is_poison_and_asked_for_once)
{
	struct fake_registry f = {0};
	struct codec *c = looking_up(&f);
	unsigned char buf[] = {0x00, 0x00, 0x00, 0x27, 0x0f, 0x02, 0x61};
	json_t *back;

	cr_expect_eq(decode(c, buf, sizeof(buf), &back), ERR_INVALID);
	cr_expect_eq(decode(c, buf, sizeof(buf), &back), ERR_INVALID);
	cr_expect_eq(f.calls, 1, "the missing id is remembered (%d lookups)", f.calls);
	codec_free(c);
}

Test(codec_registry, a_registry_that_does_not_answer_is_a_retry_not_poison)
{
	struct fake_registry f = {.answer = ERR_RETRY}, w = {0};
	struct codec *writer = confluent(&w), *c = plain();
	json_t *rec = sample(), *back;
	size_t len;
	unsigned char *buf = encode(writer, rec, &len);

	codec_use_registry(c, fake_lookup, &f);
	cr_expect_eq(decode(c, buf, len, &back), ERR_RETRY);
	cr_expect_eq(decode(c, buf, len, &back), ERR_RETRY);
	cr_expect_eq(f.calls, 2, "an unanswered lookup is not remembered");
	f.answer = 0; /* the registry is back */
	cr_assert_eq(decode(c, buf, len, &back), 0);
	cr_expect(json_equal(back, rec));
	json_decref(back);
	json_decref(rec);
	free(buf);
	codec_free(writer);
	codec_free(c);
}

Test(codec_registry, a_schema_written_differently_but_equal_is_read)
{
	/* Another client registered the same schema with other whitespace and
	 * docs: a new id, the same fingerprint. */
	struct fake_registry w = {0};
	struct codec *writer = confluent(&w), *c = plain();
	json_t *rec = sample(), *back, *schema = NULL;
	size_t len;
	unsigned char *buf = encode(writer, rec, &len);
	char *text;

	schema = json_loads(codec_builtin_schemas[order_cancelled()].text, 0, NULL);
	cr_assert_not_null(schema);
	json_object_set_new(schema, "doc", json_string("registered by someone else"));
	text = json_dumps(schema, JSON_COMPACT);
	{
		struct fake_registry f = {.replace = text};

		codec_use_registry(c, fake_lookup, &f);
		buf[4] ^= 0x7f; /* an id the writer never had */
		cr_assert_eq(decode(c, buf, len, &back), 0);
		cr_expect(json_equal(back, rec));
		json_decref(back);
		cr_expect_eq(f.calls, 1);
	}
	free(text);
	json_decref(schema);
	json_decref(rec);
	free(buf);
	codec_free(writer);
	codec_free(c);
}

Test(codec_registry, a_schema_the_reader_cannot_read_is_poison)
{
	struct fake_registry f = {
	        .replace =
	                "{\"type\":\"record\",\"name\":\"OrderCancelled\",\"namespace\":"
	                "\"saga.order\",\"fields\":[{\"name\":\"order_id\",\"type\":\"long\"}]}"};
	struct codec *c = looking_up(&f);
	unsigned char buf[] = {0x00, 0x00, 0x00, 0x00, 0x07, 0x02};
	json_t *back;

	cr_expect_eq(decode(c, buf, sizeof(buf), &back), ERR_INVALID);
	cr_expect_eq(decode(c, buf, sizeof(buf), &back), ERR_INVALID);
	cr_expect_eq(f.calls, 1, "an unreadable schema is remembered as poison");
	codec_free(c);
}

Test(codec_registry, every_truncation_of_a_confluent_record_is_an_error)
{
	struct fake_registry f = {0};
	struct codec *c = confluent(&f);
	json_t *rec = sample(), *back;
	size_t len;
	unsigned char *buf = encode(c, rec, &len);

	for (size_t n = 0; n < len; n++) {
		cr_expect_eq(decode(c, buf, n, &back), ERR_INVALID, "%zu of %zu bytes", n, len);
		json_decref(back);
	}
	json_decref(rec);
	free(buf);
	codec_free(c);
}

Test(codec_registry, made_up_ids_do_not_grow_the_table_without_end)
{
	/* Poison naming a different id each time: the first 4096 are remembered,
	 * the rest asked for again (bounded memory, not a cache that grows). */
	struct fake_registry f = {0};
	struct codec *c = looking_up(&f);
	unsigned char buf[] = {0x00, 0x40, 0x00, 0x00, 0x00, 0x02, 0x61};
	json_t *back;

	for (int i = 0; i < 5000; i++) {
		buf[3] = (unsigned char)(i >> 8);
		buf[4] = (unsigned char)i;
		cr_assert_eq(decode(c, buf, sizeof(buf), &back), ERR_INVALID);
	}
	cr_expect_eq(f.calls, 5000);
	buf[3] = 0;
	buf[4] = 7; /* among the first: remembered */
	cr_expect_eq(decode(c, buf, sizeof(buf), &back), ERR_INVALID);
	cr_expect_eq(f.calls, 5000, "an early made-up id is remembered");
	buf[3] = 0x13;
	buf[4] = 0x80; /* id 4992: past the bound, asked again */
	cr_expect_eq(decode(c, buf, sizeof(buf), &back), ERR_INVALID);
	cr_expect_eq(f.calls, 5001, "a late one is asked for again");
	codec_free(c);
}
