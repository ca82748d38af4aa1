/*
 * End to end: events delivered again, and in another order, straight onto
 * the topics, have no extra effect anywhere.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e.h"
#include "support.h"

static unsigned char *unhex(const char *hex, size_t *len)
{
	size_t n = strlen(hex) / 2;
	unsigned char *out = malloc(n ? n : 1);

	for (size_t i = 0; i < n; i++) {
		unsigned int b;

		sscanf(hex + 2 * i, "%2x", &b);
		out[i] = (unsigned char)b;
	}
	*len = n;
	return out;
}

/* What the order's history looks like in every database. */
static void snapshot(const char *id, long long *out)
{
	out[0] = e2e_db("PAYMENT",
	                "SELECT count(*) FROM payments WHERE order_id = $1 AND status = 'CHARGED'",
	                id);
	out[1] = e2e_db("PAYMENT",
	                "SELECT count(*) FROM refunds r JOIN payments p USING (payment_id) WHERE "
	                "p.order_id = $1",
	                id);
	out[2] = e2e_db("INVENTORY",
	                "SELECT coalesce(sum(quantity), 0) FROM reservations WHERE order_id = $1 "
	                "AND status = 'RESERVED'",
	                id);
	out[3] = e2e_db("SHIPPING", "SELECT count(*) FROM shipments WHERE order_id = $1", id);
	out[4] = e2e_db("NOTIFICATION", "SELECT count(*) FROM notifications WHERE order_id = $1",
	                id);
	out[5] = e2e_db("ORDER",
	                "SELECT count(*) FROM orders WHERE order_id = $1 AND status = 'COMPLETED'",
	                id);
}

Test(duplicates, replayed_and_reordered_events_have_no_extra_effect, .timeout = 180)
{
	static const char *const topics[] = {"order-requests", "order-events", "payment-events",
	                                     "inventory-events", "shipping-events"};
	char id[40], reply[1024];
	long long before[6], after[6];
	long long stock_before;
	int injected = 0;
	json_t *o;

	cr_assert_eq(e2e_post_order(e2e_order_body("e2e-dup", "1 Main St", "p-0009", 2), NULL, NULL,
	                            id, reply, sizeof(reply)),
	             202);
	o = e2e_wait_terminal(id, 30000);
	cr_assert_str_eq(json_string_value(json_object_get(o, "status")), "COMPLETED");
	json_decref(o);
	sleep(1); /* the last notifications */
	snapshot(id, before);
	stock_before = e2e_db("INVENTORY", "SELECT available FROM products WHERE product_id = $1",
	                      "p-0009");
	/* Every event of this order, produced again in reverse order. */
	for (int t = (int)(sizeof(topics) / sizeof(topics[0])) - 1; t >= 0; t--) {
		json_t *all = support_read_topic(topics[t], -1, 60000);
		size_t n = json_array_size(all);

		for (size_t i = n; i-- > 0;) {
			json_t *m = json_array_get(all, i);
			size_t len;
			unsigned char *v;

			if (strcmp(json_string_value(json_object_get(m, "key")), id) != 0)
				continue;
			v = unhex(json_string_value(json_object_get(m, "value_hex")), &len);
			support_produce(topics[t], id, v, len);
			free(v);
			injected++;
		}
		json_decref(all);
	}
	cr_log_info("injected %d events again", injected);
	cr_expect_geq(injected, 8, "found the order's events on the topics");
	sleep(3);
	snapshot(id, after);
	for (int i = 0; i < 6; i++)
		cr_expect_eq(after[i], before[i], "measure %d changed from %lld to %lld", i,
		             before[i], after[i]);
	cr_expect_eq(e2e_db("INVENTORY", "SELECT available FROM products WHERE product_id = $1",
	                    "p-0009"),
	             stock_before, "stock changed");
	e2e_expect_invariants();
}
