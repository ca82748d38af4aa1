/*
 * End to end: no order and no message stalls the saga. An order listing one
 * product on two lines (it once stopped every later order), then poison
 * produced raw to every topic the daemons consume: undecodable bytes, a
 * 1 MiB value, well-formed events that fail a database constraint, events
 * for an order that does not exist. Each lands in the DLQ of every group
 * that reads it, and the orders placed afterwards all complete.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "e2e.h"
#include "support.h"

#define TIMEOUT 60000

static const char *field(const json_t *o, const char *name)
{
	const char *v = json_string_value(json_object_get(o, name));

	return v ? v : "(none)";
}

static void place(const char *body, char *id)
{
	char reply[1024];

	cr_assert_eq(e2e_post_order(body, NULL, NULL, id, reply, sizeof(reply)), 202, "%s", reply);
}

static void expect_ordinary_orders_complete(int n)
{
	char(*ids)[40] = calloc((size_t)n, sizeof(*ids));

	cr_assert_not_null(ids);
	for (int i = 0; i < n; i++)
		place(e2e_order_body("e2e-after-poison", "1 Main St", "p-0010", 1), ids[i]);
	for (int i = 0; i < n; i++) {
		json_t *o = e2e_wait_terminal(ids[i], TIMEOUT);

		cr_expect_str_eq(field(o, "status"), "COMPLETED", "order %d of %d (%s)", i + 1, n,
		                 ids[i]);
		json_decref(o);
	}
	free(ids);
}

Test(poison, one_product_on_several_lines_reserves_their_sum, .timeout = 240)
{
	char product[64], small[64], body[1024], dup[40], mixed[40], over[40];
	json_t *o;

	support_unique(product, sizeof(product), "e2e-dup");
	support_unique(small, sizeof(small), "e2e-dup-small");
	e2e_make_product(product, 250, 100);
	e2e_make_product(small, 100, 2);
	/* The order from the report: one product, quantities 1 and 2. */
	snprintf(body, sizeof(body),
	         "{\"customer_id\":\"c-dup\",\"currency\":\"EUR\",\"shipping_address\":\"1 Main "
	         "St\",\"items\":[{\"product_id\":\"%s\",\"quantity\":1},{\"product_id\":\"%s\","
	         "\"quantity\":2}]}",
	         product, product);
	place(body, dup);
	/* Mixed with ordinary lines. */
	snprintf(
	        body, sizeof(body),
	        "{\"customer_id\":\"c-dup\",\"currency\":\"EUR\",\"shipping_address\":\"1 Main "
	        "St\",\"items\":[{\"product_id\":\"p-0004\",\"quantity\":1},{\"product_id\":\"%s\","
	        "\"quantity\":4},{\"product_id\":\"p-0002\",\"quantity\":1},{\"product_id\":\"%s\","
	        "\"quantity\":5}]}",
	        product, product);
	place(body, mixed);
	/* Each line fits the stock of 2, their sum does not. */
	snprintf(body, sizeof(body),
	         "{\"customer_id\":\"c-dup\",\"currency\":\"EUR\",\"shipping_address\":\"1 Main "
	         "St\",\"items\":[{\"product_id\":\"%s\",\"quantity\":2},{\"product_id\":\"%s\","
	         "\"quantity\":1}]}",
	         small, small);
	place(body, over);

	o = e2e_wait_terminal(dup, TIMEOUT);
	cr_expect_str_eq(field(o, "status"), "COMPLETED");
	cr_expect_eq(json_integer_value(json_object_get(o, "total_cents")), 3 * 250);
	json_decref(o);
	cr_expect_eq(
	        e2e_db("INVENTORY", "SELECT quantity FROM reservations WHERE order_id = $1", dup),
	        3, "one reservation of the sum");
	o = e2e_wait_terminal(mixed, TIMEOUT);
	cr_expect_str_eq(field(o, "status"), "COMPLETED");
	json_decref(o);
	cr_expect_eq(
	        e2e_db("INVENTORY", "SELECT count(*) FROM reservations WHERE order_id = $1", mixed),
	        3, "three products reserved");
	o = e2e_wait_terminal(over, TIMEOUT);
	cr_expect_str_eq(field(o, "status"), "CANCELLED");
	cr_expect_str_eq(field(o, "inventory_status"), "INSUFFICIENT");
	json_decref(o);
	cr_expect_eq(e2e_db("INVENTORY", "SELECT available FROM products WHERE product_id = $1",
	                    product),
	             100 - 3 - 9);
	cr_expect_eq(
	        e2e_db("INVENTORY", "SELECT available FROM products WHERE product_id = $1", small),
	        2, "nothing of the short order is held");
	expect_ordinary_orders_complete(50);
	e2e_expect_invariants();
}

/* A test vector's record (tests/vectors) with a fresh event id, fields
 * replaced by those of set (a JSON object text), encoded. */
static unsigned char *record(const char *type, const char *set, size_t *len)
{
	char path[256], why[256], id[64];
	json_t *vec, *value, *fields;
	unsigned char *out = NULL;

	snprintf(path, sizeof(path), "tests/vectors/%s.json", type);
	vec = json_load_file(path, 0, NULL);
	cr_assert_not_null(vec, "%s", path);
	value = json_object_get(vec, "value");
	support_unique(id, sizeof(id), "e2e-poison-event");
	json_object_set_new(json_object_get(value, "metadata"), "event_id", json_string(id));
	fields = json_loads(set, 0, NULL);
	cr_assert_not_null(fields, "%s", set);
	json_object_update(value, fields);
	json_decref(fields);
	cr_assert_eq(codec_encode(support_codec(), type, value, &out, len, why, sizeof(why)), 0,
	             "%s", why);
	json_decref(vec);
	return out;
}

/* Groups that read each topic (docs/events.md). */
static const struct {
	const char *topic;
	const char *groups[6];
} readers[] = {
        {"order-requests", {"order", "gateway"}},
        {"order-events", {"payment", "inventory", "shipping", "notification", "gateway"}},
        {"payment-events", {"order", "notification", "gateway"}},
        {"inventory-events", {"order", "gateway"}},
        {"shipping-events", {"order", "notification", "gateway"}},
        {"notification-events", {"gateway"}},
        {"product-catalog", {"order", "gateway"}},
};

/* Dead letters in dlq.<group> for key from topic (at least want), waiting for them. */
static int dead_letters(const char *group, const char *topic, const char *key, int want)
{
	char dlq[64];
	long long until = support_now_ms() + TIMEOUT;
	int n = 0;

	snprintf(dlq, sizeof(dlq), "dlq.%s", group);
	while (n < want && support_now_ms() < until) {
		json_t *all = support_read_topic(dlq, -1, 10000);
		size_t i;
		json_t *m;

		n = 0;
		json_array_foreach (all, i, m) {
			const char *k = json_string_value(json_object_get(m, "key"));
			const char *t = json_string_value(
			        json_object_get(json_object_get(m, "headers"), "dlq-topic"));

			n += k && t && !strcmp(k, key) && !strcmp(t, topic);
		}
		json_decref(all);
	}
	return n;
}

Test(poison, poison_on_every_consumed_topic_is_dead_lettered_and_orders_go_on, .timeout = 600)
{
	const size_t big = 1024 * 1024 - 512;
	char *huge = malloc(big), garbage[80], large[80], constraint[80], unknown[80];
	char set[256], missing[64];
	unsigned char *v;
	size_t len;

	cr_assert_not_null(huge);
	memset(huge, 'x', big);
	support_unique(garbage, sizeof(garbage), "e2e-poison-garbage");
	support_unique(large, sizeof(large), "e2e-poison-large");
	support_unique(constraint, sizeof(constraint), "e2e-poison-constraint");
	support_unique(unknown, sizeof(unknown), "e2e-poison-unknown");
	support_unique(missing, sizeof(missing), "e2e-no-such-order");
	for (size_t t = 0; t < sizeof(readers) / sizeof(readers[0]); t++) {
		support_produce(readers[t].topic, garbage, "\xc3\x01not avro", 10);
		support_produce(readers[t].topic, large, huge, big);
	}
	/* order_items' CHECK (quantity > 0) and products' CHECK (price_cents >= 0). */
	snprintf(set, sizeof(set),
	         "{\"order_id\":\"%s\",\"currency\":\"EUR\",\"items\":[{\"product_id\":\"p-0001\","
	         "\"quantity\":0}]}",
	         constraint);
	v = record("OrderRequested", set, &len);
	support_produce("order-requests", constraint, v, len);
	free(v);
	snprintf(set, sizeof(set), "{\"product_id\":\"%s\",\"price_cents\":-5,\"available\":1}",
	         constraint);
	v = record("ProductUpdated", set, &len);
	support_produce("product-catalog", constraint, v, len);
	free(v);
	/* Results for an order nobody placed. */
	snprintf(set, sizeof(set), "{\"order_id\":\"%s\"}", missing);
	v = record("PaymentProcessed", set, &len);
	support_produce("payment-events", unknown, v, len);
	free(v);
	v = record("InventoryReserved", set, &len);
	support_produce("inventory-events", unknown, v, len);
	free(v);
	v = record("ShipmentDelivered", set, &len);
	support_produce("shipping-events", unknown, v, len);
	free(v);

	for (size_t t = 0; t < sizeof(readers) / sizeof(readers[0]); t++) {
		for (const char *const *g = readers[t].groups; *g; g++) {
			cr_expect_eq(dead_letters(*g, readers[t].topic, garbage, 1), 1,
			             "undecodable bytes on %s: not in dlq.%s", readers[t].topic,
			             *g);
			cr_expect_eq(dead_letters(*g, readers[t].topic, large, 1), 1,
			             "1 MiB value on %s: not in dlq.%s", readers[t].topic, *g);
		}
	}
	cr_expect_eq(dead_letters("order", "order-requests", constraint, 1), 1);
	cr_expect_eq(dead_letters("order", "product-catalog", constraint, 1), 1);
	cr_expect_eq(dead_letters("order", "payment-events", unknown, 1), 1);
	cr_expect_eq(dead_letters("order", "inventory-events", unknown, 1), 1);
	expect_ordinary_orders_complete(100);
	e2e_expect_invariants();
	free(huge);
}
