/*
 * End to end, through HTTP, with every daemon running: one test per path of
 * the saga, each checked in the read model (built from the topics), in every
 * service's database, in the notifications, and by the invariant checker.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "e2e.h"
#include "support.h"

#define TIMEOUT 30000

/* Places an order, waits for its end, then for the saga to come to rest
 * (checked by check-invariants): the compensations and their notifications
 * (a refund, a restock) follow the cancellation, so they are looked at only
 * once every outbox is drained and every consumer group has caught up. */
static json_t *run_order(const char *body, char *id)
{
	char reply[1024];
	json_t *o;

	cr_assert_eq(e2e_post_order(body, NULL, NULL, id, reply, sizeof(reply)), 202, "%s", reply);
	o = e2e_wait_terminal(id, TIMEOUT);
	e2e_expect_invariants();
	return o;
}

static const char *field(const json_t *o, const char *name)
{
	const char *v = json_string_value(json_object_get(o, name));

	return v ? v : "(none)";
}

static long long notifications(const char *id, const char *cause)
{
	char sql[256];

	snprintf(sql, sizeof(sql),
	         "SELECT count(*) FROM notifications WHERE order_id = $1 AND cause_event_type = "
	         "'%s'",
	         cause);
	return e2e_db("NOTIFICATION", sql, id);
}

Test(paths, completed)
{
	char id[40];
	json_t *o = run_order(e2e_order_body("e2e-happy", "1 Main St", "p-0005", 2), id);
	long long price = e2e_db(
	        "INVENTORY", "SELECT price_cents FROM products WHERE product_id = $1", "p-0005");

	cr_expect_str_eq(field(o, "status"), "COMPLETED");
	cr_expect_str_eq(field(o, "payment_status"), "PAID");
	cr_expect_str_eq(field(o, "inventory_status"), "RESERVED");
	cr_expect_str_eq(field(o, "shipment_status"), "DELIVERED");
	cr_expect_eq(json_integer_value(json_object_get(o, "total_cents")), 2 * price);
	cr_expect(strstr(e2e_history(o), "OrderRequested") &&
	                  strstr(e2e_history(o), "OrderCreated") &&
	                  strstr(e2e_history(o), "PaymentProcessed") &&
	                  strstr(e2e_history(o), "InventoryReserved") &&
	                  strstr(e2e_history(o), "OrderConfirmed") &&
	                  strstr(e2e_history(o), "ShipmentDispatched") &&
	                  strstr(e2e_history(o), "ShipmentDelivered") &&
	                  strstr(e2e_history(o), "OrderCompleted"),
	          "history: %s", e2e_history(o));
	cr_expect_str_eq(e2e_db_text("ORDER", "SELECT status FROM orders WHERE order_id = $1", id),
	                 "COMPLETED");
	cr_expect_eq(e2e_db("ORDER", "SELECT total_cents FROM orders WHERE order_id = $1", id),
	             2 * price);
	cr_expect_str_eq(
	        e2e_db_text("PAYMENT", "SELECT status FROM payments WHERE order_id = $1", id),
	        "CHARGED");
	cr_expect_eq(e2e_db("PAYMENT", "SELECT amount_cents FROM payments WHERE order_id = $1", id),
	             2 * price);
	cr_expect_eq(
	        e2e_db("INVENTORY",
	               "SELECT sum(quantity) FROM reservations WHERE order_id = $1 AND status = "
	               "'RESERVED'",
	               id),
	        2);
	cr_expect_str_eq(
	        e2e_db_text("SHIPPING", "SELECT status FROM shipments WHERE order_id = $1", id),
	        "DELIVERED");
	cr_expect_eq(notifications(id, "OrderConfirmed"), 1);
	cr_expect_eq(notifications(id, "ShipmentDispatched"), 1);
	cr_expect_eq(notifications(id, "ShipmentDelivered"), 1);
	cr_expect_eq(notifications(id, "OrderCancelled"), 0);
	json_decref(o);
}

Test(paths, payment_declined_releases_the_reservation)
{
	char id[40];
	json_t *o = run_order(e2e_order_body("declined-e2e", "1 Main St", "p-0006", 1), id);

	cr_expect_str_eq(field(o, "status"), "CANCELLED");
	cr_expect_str_eq(field(o, "cancel_reason"), "PAYMENT_DECLINED");
	cr_expect_str_eq(
	        e2e_db_text("PAYMENT", "SELECT status FROM payments WHERE order_id = $1", id),
	        "DECLINED");
	cr_expect_eq(e2e_db("PAYMENT",
	                    "SELECT count(*) FROM refunds r JOIN payments p USING"
	                    " (payment_id) WHERE p.order_id = $1",
	                    id),
	             0, "no refund without a charge");
	cr_expect_eq(e2e_db("INVENTORY",
	                    "SELECT count(*) FROM reservations WHERE order_id = $1 AND status = "
	                    "'RESERVED'",
	                    id),
	             0, "the reservation was released");
	cr_expect_eq(e2e_db("SHIPPING", "SELECT count(*) FROM shipments WHERE order_id = $1", id),
	             0);
	cr_expect_eq(notifications(id, "OrderCancelled"), 1);
	cr_expect_eq(notifications(id, "OrderConfirmed"), 0);
	json_decref(o);
}

Test(paths, out_of_stock_refunds_the_charge)
{
	char id[40], product[64];
	json_t *o;

	support_unique(product, sizeof(product), "low");
	e2e_make_product(product, 500, 1);
	o = run_order(e2e_order_body("e2e-short", "1 Main St", product, 2), id);
	cr_expect_str_eq(field(o, "status"), "CANCELLED");
	cr_expect_str_eq(field(o, "cancel_reason"), "INSUFFICIENT_STOCK");
	cr_expect_str_eq(field(o, "inventory_status"), "INSUFFICIENT");
	cr_expect_str_eq(
	        e2e_db_text("PAYMENT", "SELECT status FROM payments WHERE order_id = $1", id),
	        "REFUNDED");
	cr_expect_eq(e2e_db("PAYMENT",
	                    "SELECT count(*) FROM refunds r JOIN payments p USING"
	                    " (payment_id) WHERE p.order_id = $1",
	                    id),
	             1);
	cr_expect_eq(e2e_db("INVENTORY", "SELECT available FROM products WHERE product_id = $1",
	                    product),
	             1, "nothing was taken");
	cr_expect_eq(notifications(id, "PaymentRefunded"), 1);
	cr_expect_eq(notifications(id, "OrderCancelled"), 1);
	json_decref(o);
}

Test(paths, both_failing_cancels_once_with_the_first_reason)
{
	char id[40], product[64];
	json_t *o;
	const char *reason;

	support_unique(product, sizeof(product), "low");
	e2e_make_product(product, 500, 1);
	o = run_order(e2e_order_body("declined-both", "1 Main St", product, 5), id);
	reason = field(o, "cancel_reason");
	cr_expect_str_eq(field(o, "status"), "CANCELLED");
	cr_expect(!strcmp(reason, "PAYMENT_DECLINED") || !strcmp(reason, "INSUFFICIENT_STOCK"),
	          "reason %s", reason);
	cr_expect_str_eq(
	        e2e_db_text("PAYMENT", "SELECT status FROM payments WHERE order_id = $1", id),
	        "DECLINED");
	cr_expect_eq(
	        e2e_db("INVENTORY", "SELECT count(*) FROM reservations WHERE order_id = $1", id),
	        0);
	cr_expect_eq(notifications(id, "OrderCancelled"), 1);
	cr_expect_eq(notifications(id, "PaymentRefunded"), 0);
	json_decref(o);
}

Test(paths, unknown_product_cancels_at_once)
{
	char id[40];
	json_t *o = run_order(e2e_order_body("e2e-unknown", "1 Main St", "no-such-product", 1), id);

	cr_expect_str_eq(field(o, "status"), "CANCELLED");
	cr_expect_str_eq(field(o, "cancel_reason"), "UNKNOWN_PRODUCT");
	cr_expect_null(strstr(e2e_history(o), "OrderCreated"), "history: %s", e2e_history(o));
	cr_expect_eq(e2e_db("PAYMENT", "SELECT count(*) FROM payments WHERE order_id = $1", id), 0,
	             "no charge");
	cr_expect_eq(
	        e2e_db("INVENTORY", "SELECT count(*) FROM reservations WHERE order_id = $1", id), 0,
	        "no reservation");
	cr_expect_eq(notifications(id, "OrderCancelled"), 1);
	json_decref(o);
}

Test(paths, shipping_failing_for_good_refunds_and_restocks)
{
	char id[40], product[64];
	json_t *o;

	support_unique(product, sizeof(product), "ship");
	e2e_make_product(product, 700, 10);
	o = run_order(e2e_order_body("e2e-ship", "7 undeliverable lane", product, 3), id);
	cr_expect_str_eq(field(o, "status"), "CANCELLED");
	cr_expect_str_eq(field(o, "cancel_reason"), "SHIPPING_FAILED");
	cr_expect_str_eq(field(o, "shipment_status"), "FAILED");
	cr_expect(strstr(e2e_history(o), "OrderConfirmed"), "confirmed first: %s", e2e_history(o));
	cr_expect_str_eq(
	        e2e_db_text("SHIPPING", "SELECT status FROM shipments WHERE order_id = $1", id),
	        "FAILED");
	cr_expect_gt(e2e_db("SHIPPING",
	                    "SELECT count(*) FROM carrier_attempts a JOIN shipments s USING"
	                    " (shipment_id) WHERE s.order_id = $1 AND NOT a.ok",
	                    id),
	             1, "the carrier was retried");
	cr_expect_str_eq(
	        e2e_db_text("PAYMENT", "SELECT status FROM payments WHERE order_id = $1", id),
	        "REFUNDED");
	cr_expect_eq(e2e_db("INVENTORY", "SELECT available FROM products WHERE product_id = $1",
	                    product),
	             10, "restocked");
	cr_expect_eq(notifications(id, "OrderConfirmed"), 1);
	cr_expect_eq(notifications(id, "OrderCancelled"), 1);
	cr_expect_eq(notifications(id, "PaymentRefunded"), 1);
	json_decref(o);
}

/* Transactions the shipping database has counted so far (flushed about once a second). */
static long long shipping_transactions(void)
{
	return e2e_db("SHIPPING",
	              "SELECT xact_commit + xact_rollback FROM pg_stat_database"
	              " WHERE datname = current_database()",
	              NULL);
}

Test(paths, an_idle_shipping_service_sleeps_until_a_shipment_is_due, .timeout = 90)
{
	char id[40], product[32];
	json_t *o;
	long long before, idle = 0;
	int window;

	/* Finish an order, so nothing is due any more. */
	support_unique(product, sizeof(product), "p-idle");
	e2e_make_product(product, 700, 10);
	o = run_order(e2e_order_body("e2e-idle", "1 Main St", product, 1), id);
	cr_assert_str_eq(field(o, "status"), "COMPLETED", "%s", e2e_history(o));
	json_decref(o);
	/* Up to three windows of 6 s, the first quiet one ends the test: work
	 * that is not the service's (autovacuum, a daemon that has just started
	 * and joins its group) may fill one window, a service that looks at
	 * every consumer poll fills them all. Looking at every poll measured
	 * 118; sleeping until one is due, 28: at most one look a second, the
	 * relay's, and this test's own queries. */
	for (window = 1; window <= 3; window++) {
		sleep(2); /* the statistics of the previous transactions */
		before = shipping_transactions();
		sleep(6);
		idle = shipping_transactions() - before;
		cr_log_info("%lld transactions in the shipping database in 6 idle seconds", idle);
		if (idle < 60)
			break;
	}
	cr_expect_lt(idle, 60, "%lld transactions in 6 idle seconds, three times", idle);
}
