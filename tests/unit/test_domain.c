/* Unit tests: the services' pure domain rules. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "gateway.h"
#include "idem.h"
#include "inventory.h"
#include "notification.h"
#include "payment.h"
#include "saga.h"
#include "shipping.h"
#include "validate.h"

Test(payment, declines_by_customer_limit_and_seeded_rate)
{
	struct payment_ctx c = {.limit_cents = 10000, .decline_rate = 0, .seed = 7};
	int declined = 0;

	cr_expect_str_eq(payment_decline_reason(&c, "declined-bob", 100, "o1"), "CARD_DECLINED");
	cr_expect_str_eq(payment_decline_reason(&c, "bob", 10001, "o1"), "LIMIT_EXCEEDED");
	cr_expect_null(payment_decline_reason(&c, "bob", 10000, "o1"));
	c.decline_rate = 0.25;
	for (int i = 0; i < 4000; i++) {
		char id[32];

		snprintf(id, sizeof(id), "order-%d", i);
		declined += payment_decline_reason(&c, "bob", 100, id) != NULL;
		/* The same order always decides the same (redeliveries). */
		cr_assert_eq(payment_decline_reason(&c, "bob", 100, id) != NULL,
		             payment_decline_reason(&c, "bob", 100, id) != NULL);
	}
	cr_expect(declined > 800 && declined < 1200, "%d of 4000 declined at 25%%", declined);
}

Test(notification, tells_about_the_five_customer_facing_events_only)
{
	cr_expect_not_null(notification_message("OrderConfirmed"));
	cr_expect_not_null(notification_message("OrderCancelled"));
	cr_expect_not_null(notification_message("PaymentRefunded"));
	cr_expect_not_null(notification_message("ShipmentDispatched"));
	cr_expect_not_null(notification_message("ShipmentDelivered"));
	cr_expect_null(notification_message("OrderCreated"));
	cr_expect_null(notification_message("PaymentProcessed"));
	cr_expect_null(notification_message("ShipmentCreated"));
}

Test(shipping, the_carrier_refuses_undeliverable_addresses)
{
	struct shipping_ctx c = {.failure_rate = 0};

	cr_expect_not(shipping_carrier_accepts(&c, "12 undeliverable road"));
	cr_expect(shipping_carrier_accepts(&c, "12 Main Street"));
}

static const struct order_limits limits = {"EUR,USD", 3, 100};

static int check(const char *body, char *field, char *detail)
{
	json_t *out = NULL;
	int rc = order_request_validate(body, strlen(body), &limits, &out, field, 64, detail, 256);

	json_decref(out);
	return rc;
}

Test(gateway, validation_accepts_a_good_order_and_keeps_only_known_fields)
{
	const char *body =
	        "{\"customer_id\":\"c\",\"currency\":\"USD\",\"shipping_address\":\"a\","
	        "\"items\":[{\"product_id\":\"p\",\"quantity\":100,\"price\":1}],\"x\":1}";
	char field[64], detail[256];
	json_t *out;

	cr_assert_eq(
	        order_request_validate(body, strlen(body), &limits, &out, field, 64, detail, 256),
	        0, "%s: %s", field, detail);
	cr_expect_null(json_object_get(out, "x"));
	cr_expect_null(json_object_get(json_array_get(json_object_get(out, "items"), 0), "price"),
	               "prices never come from the client");
	json_decref(out);
}

Test(gateway, validation_names_the_field)
{
	char field[64], detail[256];

	cr_expect_eq(check("{\"currency\":\"EUR\",\"shipping_address\":\"a\",\"items\":[]}", field,
	                   detail),
	             400);
	cr_expect_str_eq(field, "customer_id");
	cr_expect_eq(check("{\"customer_id\":\"c\",\"currency\":\"GBP\",\"shipping_address\":\"a\","
	                   "\"items\":[{\"product_id\":\"p\",\"quantity\":1}]}",
	                   field, detail),
	             400);
	cr_expect_str_eq(field, "currency");
	cr_expect(strstr(detail, "unknown currency"), "%s", detail);
	cr_expect_eq(check("{\"customer_id\":\"c\",\"currency\":\"EUR\",\"shipping_address\":\"a\","
	                   "\"items\":[{\"product_id\":\"p\",\"quantity\":1},{\"product_id\":\"p\","
	                   "\"quantity\":101}]}",
	                   field, detail),
	             400);
	cr_expect_str_eq(field, "items[1].quantity");
	cr_expect_eq(check("{\"customer_id\":\"c\",\"currency\":\"EUR\",\"shipping_address\":\"a\","
	                   "\"items\":[1,2,3,4]}",
	                   field, detail),
	             400);
	cr_expect_str_eq(field, "items");
	cr_expect_eq(check("{\"customer_id\":\"c\\u0001\",\"currency\":\"EUR\",\"shipping_"
	                   "address\":\"a\",\"items\":[]}",
	                   field, detail),
	             400);
	cr_expect_str_eq(field, "customer_id");
	cr_expect_eq(check("{\"a\":1,\"a\":2}", field, detail), 400, "duplicate keys are refused");
	cr_expect_eq(check("", field, detail), 400);
}

Test(gateway, a_quantity_is_an_integer_as_json_schema_counts_them)
{
	char field[64], detail[256], body[256];
	const char *whole[] = {"2", "2.0", "1e2", "100.0"}, *not_whole[] = {"2.5", "1e-3", "\"2\""};

	for (size_t i = 0; i < sizeof(whole) / sizeof(whole[0]); i++) {
		snprintf(body, sizeof(body),
		         "{\"customer_id\":\"c\",\"currency\":\"EUR\",\"shipping_address\":\"a\","
		         "\"items\":[{\"product_id\":\"p\",\"quantity\":%s}]}",
		         whole[i]);
		cr_expect_eq(check(body, field, detail), 0, "%s: %s", whole[i], detail);
	}
	for (size_t i = 0; i < sizeof(not_whole) / sizeof(not_whole[0]); i++) {
		snprintf(body, sizeof(body),
		         "{\"customer_id\":\"c\",\"currency\":\"EUR\",\"shipping_address\":\"a\","
		         "\"items\":[{\"product_id\":\"p\",\"quantity\":%s}]}",
		         not_whole[i]);
		cr_expect_eq(check(body, field, detail), 400, "%s", not_whole[i]);
		cr_expect_str_eq(field, "items[0].quantity");
	}
	/* An integer past 64 bits where the gateway ignores it changes nothing;
	 * as a quantity it is out of range. */
	cr_expect_eq(check("{\"customer_id\":\"c\",\"currency\":\"EUR\",\"shipping_address\":"
	                   "\"a\",\"x\":123456789012345678901234567890,\"items\":[{\"product_"
	                   "id\":\"p\",\"quantity\":2}]}",
	                   field, detail),
	             0, "%s", detail);
	cr_expect_eq(check("{\"customer_id\":\"c\",\"currency\":\"EUR\",\"shipping_address\":"
	                   "\"a\",\"items\":[{\"product_id\":\"p\",\"quantity\":"
	                   "123456789012345678901234567890}]}",
	                   field, detail),
	             400);
	cr_expect(strstr(detail, "between 1 and 100"), "%s", detail);
	/* 1e3 is a whole number, and over this test's limit (100). */
	cr_expect_eq(check("{\"customer_id\":\"c\",\"currency\":\"EUR\",\"shipping_address\":"
	                   "\"a\",\"items\":[{\"product_id\":\"p\",\"quantity\":1e3}]}",
	                   field, detail),
	             400);
	cr_expect(strstr(detail, "between 1 and 100"), "%s", detail);
}

/* An order whose fields are n copies of ch (UTF-8) each, into buf. */
static const char *repeated(char *buf, size_t size, const char *ch, int id_n, int address_n,
                            int product_n)
{
	char id[1024] = "", address[4096] = "", product[1024] = "";

	for (int i = 0; i < id_n; i++)
		strcat(id, ch);
	for (int i = 0; i < address_n; i++)
		strcat(address, ch);
	for (int i = 0; i < product_n; i++)
		strcat(product, ch);
	snprintf(buf, size,
	         "{\"customer_id\":\"%s\",\"currency\":\"EUR\",\"shipping_address\":\"%s\","
	         "\"items\":[{\"product_id\":\"%s\",\"quantity\":1}]}",
	         id, address, product);
	return buf;
}

Test(gateway, lengths_are_counted_in_characters_as_the_openapi_document_counts_them)
{
	/* Two, three and four bytes each in UTF-8: "ü", "€", an emoji. */
	const char *chars[] = {"\xC3\xBC", "\xE2\x82\xAC", "\xF0\x9F\x98\x80"};
	char body[8192], field[64], detail[256];

	for (size_t i = 0; i < sizeof(chars) / sizeof(chars[0]); i++) {
		cr_expect_eq(
		        check(repeated(body, sizeof(body), chars[i], 100, 500, 64), field, detail),
		        0, "100, 500 and 64 characters of %zu bytes each: %s: %s", i + 2, field,
		        detail);
		cr_expect_eq(
		        check(repeated(body, sizeof(body), chars[i], 101, 1, 1), field, detail),
		        400);
		cr_expect_str_eq(field, "customer_id");
		cr_expect(strstr(detail, "1 to 100 characters"), "%s", detail);
		cr_expect_eq(
		        check(repeated(body, sizeof(body), chars[i], 1, 501, 1), field, detail),
		        400);
		cr_expect_str_eq(field, "shipping_address");
		cr_expect_eq(check(repeated(body, sizeof(body), chars[i], 1, 1, 65), field, detail),
		             400);
		cr_expect_str_eq(field, "items[0].product_id");
	}
}

Test(gateway, api_keys_come_with_limits)
{
	struct gateway g = {0};
	char spec[] = "first-key-123:50,second-key-45";
	char bad[] = "short:5";

	cr_assert_eq(gateway_parse_keys(&g, spec), 2);
	cr_expect_str_eq(g.keys[0].key, "first-key-123");
	cr_expect_eq(g.keys[0].limit, 50);
	cr_expect_eq(g.keys[1].limit, 100, "default limit");
	cr_expect_eq(gateway_parse_keys(&g, bad), -1, "keys shorter than 8 characters are refused");
}

Test(inventory, lines_naming_one_product_are_reserved_as_their_sum)
{
	json_t *items = json_loads("[{\"product_id\":\"p-3\",\"quantity\":1},"
	                           "{\"product_id\":\"p-1\",\"quantity\":4},"
	                           "{\"product_id\":\"p-3\",\"quantity\":2}]",
	                           0, NULL);
	struct inventory_line *lines = NULL;
	char why[128];
	int n = inventory_merge_lines(items, &lines, why, sizeof(why));

	cr_assert_eq(n, 2, "%s", why);
	cr_expect_str_eq(lines[0].product_id, "p-1");
	cr_expect_eq(lines[0].quantity, 4);
	cr_expect_str_eq(lines[1].product_id, "p-3");
	cr_expect_eq(lines[1].quantity, 3);
	free(lines);
	json_decref(items);
}

Test(inventory, a_line_without_a_positive_quantity_is_poison)
{
	json_t *items = json_loads("[{\"product_id\":\"p-1\",\"quantity\":0}]", 0, NULL);
	struct inventory_line *lines = NULL;
	char why[128];

	cr_expect_eq(inventory_merge_lines(items, &lines, why, sizeof(why)), ERR_INVALID);
	cr_expect_null(lines);
	cr_expect(strstr(why, "line 1"), "%s", why);
	json_decref(items);
}

Test(idempotency, a_stored_state_reads_back_as_it_was_written)
{
	struct idem a = {0}, b = {0};
	enum idem_state st;
	char v[160];

	idem_init(&a, "key-1", "client-key", "{}", 2);
	snprintf(a.order_id, sizeof(a.order_id), "0190-order");
	snprintf(a.event_id, sizeof(a.event_id), "0190-event");
	idem_format(&a, IDEM_PENDING, v, sizeof(v));
	cr_assert_eq(idem_parse(v, &st, &b), 0, "%s", v);
	cr_expect_eq(st, IDEM_PENDING);
	cr_expect_str_eq(b.hash, a.hash);
	cr_expect_str_eq(b.order_id, "0190-order");
	cr_expect_str_eq(b.event_id, "0190-event");
	idem_format(&a, IDEM_DONE, v, sizeof(v));
	cr_assert_eq(idem_parse(v, &st, &b), 0, "%s", v);
	cr_expect_eq(st, IDEM_DONE);
	cr_expect_str_eq(b.order_id, "0190-order");
	cr_expect_eq(idem_parse("pending:abc:order-without-event", &st, &b), ERR_INVALID);
	cr_expect_eq(idem_parse("later:abc:o", &st, &b), ERR_INVALID);
	cr_expect_eq(idem_parse("", &st, &b), ERR_INVALID);
}

Test(idempotency, the_key_is_per_api_key_and_the_hash_per_body)
{
	struct idem a, b, c;

	idem_init(&a, "key-1", "k", "{\"a\":1}", 7);
	idem_init(&b, "key-2", "k", "{\"a\":1}", 7);
	idem_init(&c, "key-1", "k", "{\"a\":2}", 7);
	cr_expect_str_neq(a.key, b.key);
	cr_expect_str_eq(a.hash, b.hash);
	cr_expect_str_neq(a.hash, c.hash);
}

/* A service's handler table is the single list of what it consumes: every
 * type in it must have a schema that names its topic, or the daemon would
 * refuse to start. */
Test(handlers, every_handled_type_has_a_schema_with_a_topic)
{
	const struct dbapply_handler *tables[] = {order_handlers, payment_handlers,
	                                          inventory_handlers, shipping_handlers,
	                                          notification_handlers};
	struct codec *codec = NULL;
	char why[256];

	cr_assert_eq(codec_new(&codec, why, sizeof(why)), 0, "%s", why);
	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
		int n = 0;

		for (const struct dbapply_handler *h = tables[t]; h->type; h++, n++) {
			cr_expect_not_null(codec_topic(codec, h->type), "%s has no topic", h->type);
			cr_expect_not_null(h->apply, "%s has no handler", h->type);
			cr_expect_null(dbapply_find(tables[t], "NoSuchEvent"));
			cr_expect_eq(dbapply_find(tables[t], h->type), h->apply);
		}
		cr_expect_gt(n, 0, "table %zu is empty", t);
	}
	codec_free(codec);
}
