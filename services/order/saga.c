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
	json_t *priced = json_array();
	const char *unknown = NULL;
	long long total = 0;
	size_t i;
	const json_t *item;
	PGresult *res = NULL;
	int rc;

	if (!order_id || !customer || !currency || !address || !json_array_size(items)) {
		json_decref(priced);
		snprintf(errstr, size,
		         "OrderRequested without order_id, customer, currency, "
		         "address or items");
		return ERR_INVALID;
	}
	{
		const char *p[1] = {order_id};

		rc = db_exec(tx, "SELECT 1 FROM orders WHERE order_id = $1", 1, p, &res, errstr,
		             size);
		if (rc < 0 || PQntuples(res) > 0) { /* idempotent on order_id */
			PQclear(res);
			json_decref(priced);
			return rc;
		}
		PQclear(res);
	}
	json_array_foreach(items, i, item)
	{
		const char *pid = event_str(item, "product_id");
		json_int_t qty = event_int(item, "quantity");
		const char *p[1] = {pid};
		long long price;

		rc = db_exec(tx, "SELECT price_cents FROM products WHERE product_id = $1", 1, p,
		             &res, errstr, size);
		if (rc < 0) {
			json_decref(priced);
			return rc;
		}
		if (PQntuples(res) == 0) {
			unknown = pid;
			PQclear(res);
			break;
		}
		price = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
		total += price * qty;
		json_array_append_new(priced,
		                      json_pack("{s:s, s:I, s:I}", "product_id", pid, "quantity",
		                                qty, "unit_price_cents", (json_int_t)price));
	}
	{
		char total_s[32];
		const char *p[7] = {order_id,
		                    customer,
		                    currency,
		                    address,
		                    total_s,
		                    unknown ? "CANCELLED" : "CREATED",
		                    event_meta(r, "correlation_id")};

		snprintf(total_s, sizeof(total_s), "%lld", unknown ? 0 : total);
		rc = db_exec(
		        tx,
		        "INSERT INTO orders (order_id, customer_id, currency, shipping_address,"
		        " total_cents, status, correlation_id) VALUES ($1, $2, $3, $4, $5, $6, $7)",
		        7, p, NULL, errstr, size);
	}
	if (rc < 0)
		goto out;
	if (unknown) {
		struct log_fields f = {order_id, event_meta(r, "event_id"),
		                       event_meta(r, "correlation_id")};

		LOGX(INFO, &f, "order %s names unknown product %s; cancelling", order_id, unknown);
		rc = cancel(c, tx, r, order_id, customer, "UNKNOWN_PRODUCT", errstr, size);
		goto out;
	}
	json_array_foreach(priced, i, item)
	{
		char line[24], qty[24], price[32];
		const char *p[5] = {order_id, line, event_str(item, "product_id"), qty, price};

		snprintf(line, sizeof(line), "%zu", i + 1);
		snprintf(qty, sizeof(qty), "%lld", (long long)event_int(item, "quantity"));
		snprintf(price, sizeof(price), "%lld",
		         (long long)event_int(item, "unit_price_cents"));
		rc = db_exec(tx,
		             "INSERT INTO order_items (order_id, line, product_id, quantity,"
		             " unit_price_cents) VALUES ($1, $2, $3, $4, $5)",
		             5, p, NULL, errstr, size);
		if (rc < 0)
			goto out;
	}
	rc = outbox_emit(c->outbox, tx, "OrderCreated",
	                 json_pack("{s:s, s:s, s:s, s:s, s:I, s:O}", "order_id", order_id,
	                           "customer_id", customer, "currency", currency,
	                           "shipping_address", address, "total_cents", (json_int_t)total,
	                           "items", priced),
	                 r, errstr, size);
out:
	json_decref(priced);
	return rc;
}

/* A payment or inventory result: record it and move the state machine. */
static int on_result(struct order_ctx *c, PGconn *tx, const struct consumed *ev, const char *column,
                     const char *value, const char *reason, char *errstr, size_t size)
{
	const char *order_id = event_str(ev->record, "order_id");
	const char *p[1] = {order_id};
	char sql[200];
	PGresult *res = NULL;
	enum order_decision d;
	int rc;

	rc = db_exec(
	        tx,
	        "SELECT status, payment_status, inventory_status, customer_id, shipping_address,"
	        " total_cents FROM orders WHERE order_id = $1 FOR UPDATE",
	        1, p, &res, errstr, size);
	if (rc < 0)
		return rc;
	if (PQntuples(res) == 0) {
		PQclear(res);
		snprintf(errstr, size, "%s for unknown order %s", ev->type, order_id);
		return ERR_INVALID;
	}
	{
		const char *status = PQgetvalue(res, 0, 0);
		const char *pay = PQgetisnull(res, 0, 1) ? NULL : PQgetvalue(res, 0, 1);
		const char *inv = PQgetisnull(res, 0, 2) ? NULL : PQgetvalue(res, 0, 2);

		if (strcmp(column, "payment_status") == 0)
			pay = value;
		else
			inv = value;
		d = order_decide(status, pay, inv);
	}
	/* One statement records the result and, when it completes the pair, confirms. */
	snprintf(sql, sizeof(sql),
	         "UPDATE orders SET %s = $2, updated_at = now()%s WHERE order_id = $1", column,
	         d == ORDER_CONFIRM ? ", status = 'CONFIRMED', confirmed_at = now()" : "");
	{
		const char *u[2] = {order_id, value};

		rc = db_exec(tx, sql, 2, u, NULL, errstr, size);
	}
	if (rc == 0 && d == ORDER_CONFIRM) {
		rc = outbox_emit(c->outbox, tx, "OrderConfirmed",
		                 json_pack("{s:s, s:s, s:s, s:I}", "order_id", order_id,
		                           "customer_id", PQgetvalue(res, 0, 3), "shipping_address",
		                           PQgetvalue(res, 0, 4), "total_cents",
		                           (json_int_t)strtoll(PQgetvalue(res, 0, 5), NULL, 10)),
		                 ev->record, errstr, size);
	} else if (rc == 0 && d == ORDER_CANCEL) {
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

	rc = db_exec(tx, "SELECT status, customer_id FROM orders WHERE order_id = $1 FOR UPDATE", 1,
	             p, &res, errstr, size);
	if (rc < 0)
		return rc;
	if (PQntuples(res) == 0 || strcmp(PQgetvalue(res, 0, 0), "CONFIRMED") != 0) {
		PQclear(res); /* already completed or cancelled: nothing to do */
		return 0;
	}
	if (delivered) {
		rc = db_exec(tx,
		             "UPDATE orders SET status = 'COMPLETED', updated_at = now() WHERE"
		             " order_id = $1",
		             1, p, NULL, errstr, size);
		if (rc == 0)
			rc = outbox_emit(c->outbox, tx, "OrderCompleted",
			                 json_pack("{s:s, s:s}", "order_id", order_id,
			                           "customer_id", PQgetvalue(res, 0, 1)),
			                 ev->record, errstr, size);
	} else {
		rc = cancel(c, tx, ev->record, order_id, PQgetvalue(res, 0, 1), "SHIPPING_FAILED",
		            errstr, size);
	}
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

int order_handle(void *arg, PGconn *tx, const struct consumed *ev, char *errstr, size_t size)
{
	struct order_ctx *c = arg;
	const char *t = ev->type;

	if (!strcmp(t, "OrderRequested"))
		return on_requested(c, tx, ev, errstr, size);
	if (!strcmp(t, "ProductUpdated"))
		return on_product(tx, ev, errstr, size);
	if (!strcmp(t, "PaymentProcessed"))
		return on_result(c, tx, ev, "payment_status", "PAID", NULL, errstr, size);
	if (!strcmp(t, "PaymentFailed"))
		return on_result(c, tx, ev, "payment_status", "DECLINED", "PAYMENT_DECLINED",
		                 errstr, size);
	if (!strcmp(t, "InventoryReserved"))
		return on_result(c, tx, ev, "inventory_status", "RESERVED", NULL, errstr, size);
	if (!strcmp(t, "InventoryInsufficient"))
		return on_result(c, tx, ev, "inventory_status", "INSUFFICIENT",
		                 "INSUFFICIENT_STOCK", errstr, size);
	if (!strcmp(t, "ShipmentDelivered"))
		return on_shipping(c, tx, ev, true, errstr, size);
	if (!strcmp(t, "ShipmentFailed"))
		return on_shipping(c, tx, ev, false, errstr, size);
	return 0; /* other events on these topics are not the order's business */
}
