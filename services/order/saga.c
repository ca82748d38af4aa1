#include "saga.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "event.h"
#include "log.h"

enum order_decision order_decide(const char *status, const char *payment, const char *inventory)
{
	if (strcmp(status, "CREATED") != 0)
		return ORDER_NOTHING;
	if ((payment && strcmp(payment, "DECLINED") == 0) ||
	    (inventory && strcmp(inventory, "INSUFFICIENT") == 0))
		return ORDER_CANCEL;
	if (payment && inventory)
		return ORDER_CONFIRM;
	return ORDER_WAIT;
}

/* Emits OrderCancelled and records the cancellation. */
static int cancel(struct order_ctx *c, PGconn *tx, const json_t *cause, const char *order_id,
                  const char *customer_id, const char *reason, char *errstr, size_t size)
{
	const char *p[2] = {order_id, reason};
	int rc = db_exec(
	        tx,
	        "UPDATE orders SET status = 'CANCELLED', cancel_reason = $2, updated_at = now()"
	        " WHERE order_id = $1",
	        2, p, NULL, errstr, size);

	if (rc < 0)
		return rc;
	return outbox_emit(c->outbox, tx, "OrderCancelled",
	                   json_pack("{s:s, s:s, s:s}", "order_id", order_id, "customer_id",
	                             customer_id, "reason", reason),
	                   cause, errstr, size);
}

/* The catalogue price of each product named, in one query; unknown ones are absent. */
static int price_lines(PGconn *tx, const json_t *items, json_t **prices, char *errstr, size_t size)
{
	size_t n = json_array_size(items), i;
	const char **ids = calloc(n ? n : 1, sizeof(*ids));
	const json_t *item;
	PGresult *res = NULL;
	char *lit = NULL;
	int rc = ERR_NOMEM;

	*prices = json_object();
	if (!ids || !*prices)
		goto out;
	json_array_foreach (items, i, item) {
		ids[i] = event_str(item, "product_id");
		if (!ids[i]) {
			snprintf(errstr, size, "OrderRequested line %zu has no product_id", i + 1);
			rc = ERR_INVALID;
			goto out;
		}
	}
	if (!(lit = db_array_literal(ids, n)))
		goto out;
	rc = db_exec(
	        tx,
	        "SELECT product_id, price_cents FROM products WHERE product_id = ANY($1::text[])",
	        1, (const char *const[]){lit}, &res, errstr, size);
	for (int r = 0; rc == 0 && r < PQntuples(res); r++)
		json_object_set_new(*prices, PQgetvalue(res, r, 0),
		                    json_integer(strtoll(PQgetvalue(res, r, 1), NULL, 10)));
out:
	if (rc == ERR_NOMEM)
		snprintf(errstr, size, "out of memory");
	PQclear(res);
	free(lit);
	free(ids);
	return rc;
}

/* Stores the order and its priced lines (none when cancelled) in one statement. */
static int store_order(PGconn *tx, const json_t *r, const json_t *priced, long long total,
                       bool cancelled, char *errstr, size_t size)
{
	size_t n = json_array_size(priced), i;
	const char **cells = calloc(n ? n * 3 : 1, sizeof(*cells));
	char(*num)[2][24] = calloc(n ? n : 1, sizeof(*num));
	char *lit[3] = {NULL, NULL, NULL}, total_s[32];
	const json_t *item;
	int rc = ERR_NOMEM;

	if (!cells || !num)
		goto out;
	json_array_foreach (priced, i, item) {
		snprintf(num[i][0], sizeof(num[i][0]), "%lld",
		         (long long)event_int(item, "quantity"));
		snprintf(num[i][1], sizeof(num[i][1]), "%lld",
		         (long long)event_int(item, "unit_price_cents"));
		cells[i * 3] = event_str(item, "product_id");
		cells[i * 3 + 1] = num[i][0];
		cells[i * 3 + 2] = num[i][1];
	}
	if (db_array_literals(cells, n, 3, lit) < 0)
		goto out;
	snprintf(total_s, sizeof(total_s), "%lld", total);
	rc = db_exec(
	        tx,
	        "WITH o AS (INSERT INTO orders (order_id, customer_id, currency, shipping_address,"
	        " total_cents, status, correlation_id) VALUES ($1, $2, $3, $4, $5, $6, $7))"
	        " INSERT INTO order_items (order_id, line, product_id, quantity, unit_price_cents)"
	        " SELECT $1, u.line, u.product_id, u.quantity, u.price"
	        " FROM unnest($8::text[], $9::int[], $10::bigint[])"
	        " WITH ORDINALITY AS u(product_id, quantity, price, line)",
	        10,
	        (const char *const[]){event_str(r, "order_id"), event_str(r, "customer_id"),
	                              event_str(r, "currency"), event_str(r, "shipping_address"),
	                              total_s, cancelled ? "CANCELLED" : "CREATED",
	                              event_meta(r, "correlation_id"), lit[0], lit[1], lit[2]},
	        NULL, errstr, size);
out:
	if (rc == ERR_NOMEM)
		snprintf(errstr, size, "out of memory");
	for (int k = 0; k < 3; k++)
		free(lit[k]);
	free(cells);
	free(num);
	return rc;
}

/* OrderRequested: price every line from the catalogue copy and store the order. */
static int on_requested(struct order_ctx *c, PGconn *tx, const struct consumed *ev, char *errstr,
                        size_t size)
{
	const json_t *r = ev->record;
	const char *order_id = event_str(r, "order_id");
	const char *customer = event_str(r, "customer_id");
	const char *currency = event_str(r, "currency");
	const char *address = event_str(r, "shipping_address");
	const json_t *items = json_object_get(r, "items");
	json_t *priced = NULL, *prices = NULL;
	const char *unknown = NULL;
	long long total = 0;
	size_t i;
	const json_t *item;
	PGresult *res = NULL;
	int rc;

	if (!order_id || !customer || !currency || !address || !json_array_size(items)) {
		snprintf(errstr, size,
		         "OrderRequested without order_id, customer, currency, "
		         "address or items");
		return ERR_INVALID;
	}
	rc = db_exec(tx, "SELECT 1 FROM orders WHERE order_id = $1", 1,
	             (const char *const[]){order_id}, &res, errstr, size);
	if (rc < 0 || PQntuples(res) > 0) { /* idempotent on order_id */
		PQclear(res);
		return rc;
	}
	PQclear(res);
	rc = price_lines(tx, items, &prices, errstr, size);
	priced = json_array();
	if (rc < 0 || !priced)
		goto out;
	json_array_foreach (items, i, item) {
		const char *pid = event_str(item, "product_id");
		json_int_t qty = event_int(item, "quantity");
		const json_t *price = json_object_get(prices, pid);

		if (!price) {
			unknown = pid;
			break;
		}
		total += json_integer_value(price) * qty;
		json_array_append_new(priced, json_pack("{s:s, s:I, s:I}", "product_id", pid,
		                                        "quantity", qty, "unit_price_cents",
		                                        json_integer_value(price)));
	}
	if (unknown)
		json_array_clear(priced); /* a cancelled order has no lines */
	rc = store_order(tx, r, priced, unknown ? 0 : total, unknown != NULL, errstr, size);
	if (rc < 0)
		goto out;
	if (unknown) {
		struct log_fields f = {.order_id = order_id,
		                       .event_id = event_meta(r, "event_id"),
		                       .correlation_id = event_meta(r, "correlation_id")};

		LOGX(INFO, &f, "order %s names unknown product %s; cancelling", order_id, unknown);
		rc = cancel(c, tx, r, order_id, customer, "UNKNOWN_PRODUCT", errstr, size);
		goto out;
	}
	rc = outbox_emit(c->outbox, tx, "OrderCreated",
	                 json_pack("{s:s, s:s, s:s, s:s, s:I, s:O}", "order_id", order_id,
	                           "customer_id", customer, "currency", currency,
	                           "shipping_address", address, "total_cents", (json_int_t)total,
	                           "items", priced),
	                 r, errstr, size);
out:
	json_decref(prices);
	json_decref(priced);
	return rc;
}

/* A payment or inventory result: record it and move the state machine. */
static int on_result(struct order_ctx *c, PGconn *tx, const struct consumed *ev, const char *column,
                     const char *value, const char *reason, char *errstr, size_t size)
{
	const char *order_id = event_str(ev->record, "order_id");
	char sql[256];
	PGresult *res = NULL;
	enum order_decision d;
	int rc;

	/* Records the result; the row as it is now decides what follows. */
	snprintf(sql, sizeof(sql),
	         "UPDATE orders SET %s = $2, updated_at = now() WHERE order_id = $1"
	         " RETURNING status, payment_status, inventory_status, customer_id,"
	         " shipping_address, total_cents",
	         column);
	rc = db_exec(tx, sql, 2, (const char *const[]){order_id, value}, &res, errstr, size);
	if (rc < 0)
		return rc;
	if (PQntuples(res) == 0) {
		PQclear(res);
		snprintf(errstr, size, "%s for unknown order %s", ev->type, order_id);
		return ERR_INVALID;
	}
	d = order_decide(PQgetvalue(res, 0, 0),
	                 PQgetisnull(res, 0, 1) ? NULL : PQgetvalue(res, 0, 1),
	                 PQgetisnull(res, 0, 2) ? NULL : PQgetvalue(res, 0, 2));
	if (d == ORDER_CONFIRM) {
		rc = db_exec(tx,
		             "UPDATE orders SET status = 'CONFIRMED', confirmed_at = now() WHERE"
		             " order_id = $1",
		             1, (const char *const[]){order_id}, NULL, errstr, size);
		if (rc == 0)
			rc = outbox_emit(
			        c->outbox, tx, "OrderConfirmed",
			        json_pack("{s:s, s:s, s:s, s:I}", "order_id", order_id,
			                  "customer_id", PQgetvalue(res, 0, 3), "shipping_address",
			                  PQgetvalue(res, 0, 4), "total_cents",
			                  (json_int_t)strtoll(PQgetvalue(res, 0, 5), NULL, 10)),
			        ev->record, errstr, size);
	} else if (d == ORDER_CANCEL) {
		rc = cancel(c, tx, ev->record, order_id, PQgetvalue(res, 0, 3), reason, errstr,
		            size);
	}
	PQclear(res);
	return rc;
}

/* Shipping results: delivery completes the order, a final failure cancels it. */
static int on_shipping(struct order_ctx *c, PGconn *tx, const struct consumed *ev, bool delivered,
                       char *errstr, size_t size)
{
	const char *order_id = event_str(ev->record, "order_id");
	const char *p[1] = {order_id};
	PGresult *res = NULL;
	int rc;

	/* Only a confirmed order moves on; one already completed or cancelled does not. */
	rc = delivered ? db_exec(tx,
	                         "UPDATE orders SET status = 'COMPLETED', updated_at = now()"
	                         " WHERE order_id = $1 AND status = 'CONFIRMED' RETURNING "
	                         "customer_id",
	                         1, p, &res, errstr, size)
	               : db_exec(tx,
	                         "SELECT customer_id FROM orders WHERE order_id = $1"
	                         " AND status = 'CONFIRMED' FOR UPDATE",
	                         1, p, &res, errstr, size);
	if (rc < 0)
		return rc;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return 0;
	}
	if (delivered)
		rc = outbox_emit(c->outbox, tx, "OrderCompleted",
		                 json_pack("{s:s, s:s}", "order_id", order_id, "customer_id",
		                           PQgetvalue(res, 0, 0)),
		                 ev->record, errstr, size);
	else
		rc = cancel(c, tx, ev->record, order_id, PQgetvalue(res, 0, 0), "SHIPPING_FAILED",
		            errstr, size);
	PQclear(res);
	return rc;
}

/* ProductUpdated: the catalogue copy that prices new orders. */
static int on_product(PGconn *tx, const struct consumed *ev, char *errstr, size_t size)
{
	const json_t *r = ev->record;
	char price[32], avail[16];
	const char *p[5] = {event_str(r, "product_id"), event_str(r, "name"), price,
	                    event_str(r, "currency"), avail};

	snprintf(price, sizeof(price), "%lld", (long long)event_int(r, "price_cents"));
	snprintf(avail, sizeof(avail), "%lld", (long long)event_int(r, "available"));
	return db_exec(
	        tx,
	        "INSERT INTO products (product_id, name, price_cents, currency, available)"
	        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (product_id) DO UPDATE SET"
	        " name = $2, price_cents = $3, currency = $4, available = $5, updated_at = now()",
	        5, p, NULL, errstr, size);
}

/* The handlers, one per event type the order service applies. */
static int requested(void *c, PGconn *tx, const struct consumed *ev, char *e, size_t n)
{
	return on_requested(c, tx, ev, e, n);
}

static int product(void *c, PGconn *tx, const struct consumed *ev, char *e, size_t n)
{
	(void)c;
	return on_product(tx, ev, e, n);
}

static int paid(void *c, PGconn *tx, const struct consumed *ev, char *e, size_t n)
{
	return on_result(c, tx, ev, "payment_status", "PAID", NULL, e, n);
}

static int declined(void *c, PGconn *tx, const struct consumed *ev, char *e, size_t n)
{
	return on_result(c, tx, ev, "payment_status", "DECLINED", "PAYMENT_DECLINED", e, n);
}

static int reserved(void *c, PGconn *tx, const struct consumed *ev, char *e, size_t n)
{
	return on_result(c, tx, ev, "inventory_status", "RESERVED", NULL, e, n);
}

static int short_of_stock(void *c, PGconn *tx, const struct consumed *ev, char *e, size_t n)
{
	return on_result(c, tx, ev, "inventory_status", "INSUFFICIENT", "INSUFFICIENT_STOCK", e, n);
}

static int delivered(void *c, PGconn *tx, const struct consumed *ev, char *e, size_t n)
{
	return on_shipping(c, tx, ev, true, e, n);
}

static int shipping_failed(void *c, PGconn *tx, const struct consumed *ev, char *e, size_t n)
{
	return on_shipping(c, tx, ev, false, e, n);
}

const struct dbapply_handler order_handlers[] = {
        {"OrderRequested", requested},
        {"ProductUpdated", product},
        {"PaymentProcessed", paid},
        {"PaymentFailed", declined},
        {"InventoryReserved", reserved},
        {"InventoryInsufficient", short_of_stock},
        {"ShipmentDelivered", delivered},
        {"ShipmentFailed", shipping_failed},
        {NULL, NULL},
};
