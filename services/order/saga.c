#include "saga.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "event.h"
#include "log.h"

/* A NULL-able text column of row i. */
static const char *column(const PGresult *res, int i, int col)
{
	return PQgetisnull(res, i, col) ? NULL : PQgetvalue(res, i, col);
}

struct order_state order_state_of(const PGresult *res, int i)
{
	return (struct order_state){.status = column(res, i, 0),
	                            .payment = column(res, i, 1),
	                            .inventory = column(res, i, 2),
	                            .shipment = column(res, i, 3),
	                            .cancellation = column(res, i, 4)};
}

/* Adds an event for the order: caused by cause, or by the order's own timer. */
static int emit(struct order_ctx *c, PGconn *tx, const char *type, json_t *fields,
                const json_t *cause, const char *correlation_id, char *errstr, size_t size)
{
	if (cause)
		return outbox_emit(c->outbox, tx, type, fields, cause, errstr, size);
	return outbox_add(c->outbox, tx, type, fields, NULL, correlation_id, NULL, NULL, NULL,
	                  errstr, size);
}

/* What each action does: the row's change ($1 the order; ORDER_CANCEL's
 * $2 its reason) and the event it emits. */
static const struct {
	const char *sql;
	const char *event;
} actions[] = {
        [ORDER_CONFIRM] = {"UPDATE orders SET status = 'CONFIRMED', confirmed_at = now(),"
                           " updated_at = now() WHERE order_id = $1",
                           "OrderConfirmed"},
        [ORDER_CANCEL] = {"UPDATE orders SET status = 'CANCELLED', cancel_reason = $2,"
                          " updated_at = now() WHERE order_id = $1",
                          "OrderCancelled"},
        [ORDER_ASK_SHIPPING] = {"UPDATE orders SET cancellation = 'REQUESTED',"
                                " updated_at = now() WHERE order_id = $1",
                                "OrderCancelling"},
        [ORDER_REFUSE] = {"UPDATE orders SET cancellation = 'REFUSED', updated_at = now()"
                          " WHERE order_id = $1",
                          "CancellationRefused"},
        [ORDER_COMPLETE] = {"UPDATE orders SET status = 'COMPLETED', updated_at = now()"
                            " WHERE order_id = $1",
                            "OrderCompleted"},
};

int order_apply(struct order_ctx *c, PGconn *tx, const PGresult *res, int i, struct order_step st,
                const json_t *cause, char *errstr, size_t size)
{
	const char *order_id = PQgetvalue(res, i, 9), *correlation = PQgetvalue(res, i, 8);
	const char *p[2] = {order_id, st.reason};
	json_t *fields;
	int rc;

	if (st.action == ORDER_NOTHING)
		return 0;
	rc = db_exec(tx, actions[st.action].sql, st.action == ORDER_CANCEL ? 2 : 1, p, NULL, errstr,
	             size);
	if (rc < 0)
		return rc;
	/* Every event names the order and its customer; the rest as the schema says. */
	fields =
	        json_pack("{s:s, s:s}", "order_id", order_id, "customer_id", PQgetvalue(res, i, 5));
	if (st.reason)
		json_object_set_new(fields, "reason", json_string(st.reason));
	if (st.action == ORDER_CONFIRM) {
		json_object_set_new(fields, "shipping_address", json_string(PQgetvalue(res, i, 6)));
		json_object_set_new(fields, "total_cents",
		                    json_integer(strtoll(PQgetvalue(res, i, 7), NULL, 10)));
	}
	return emit(c, tx, actions[st.action].event, fields, cause, correlation, errstr, size);
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

/* Stores the order and its priced lines in one statement; a cancelled one
 * (an unknown product) without lines, with its reason. */
static int store_order(PGconn *tx, const json_t *r, const json_t *priced, long long total,
                       bool cancelled, long deadline_ms, char *errstr, size_t size)
{
	size_t n = json_array_size(priced), i;
	const char **cells = calloc(n ? n * 3 : 1, sizeof(*cells));
	char(*num)[2][24] = calloc(n ? n : 1, sizeof(*num));
	char *lit[3] = {NULL, NULL, NULL}, total_s[32], deadline_s[24];
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
	snprintf(deadline_s, sizeof(deadline_s), "%ld", deadline_ms);
	rc = db_exec(
	        tx,
	        "WITH o AS (INSERT INTO orders (order_id, customer_id, currency, shipping_address,"
	        " total_cents, status, correlation_id, deadline_at, cancel_reason) VALUES ($1, $2,"
	        " $3, $4, $5, $6, $7, now() + $11::bigint * interval '1 millisecond', $12))"
	        " INSERT INTO order_items (order_id, line, product_id, quantity, unit_price_cents)"
	        " SELECT $1, u.line, u.product_id, u.quantity, u.price"
	        " FROM unnest($8::text[], $9::int[], $10::bigint[])"
	        " WITH ORDINALITY AS u(product_id, quantity, price, line)",
	        12,
	        (const char *const[]){event_str(r, "order_id"), event_str(r, "customer_id"),
	                              event_str(r, "currency"), event_str(r, "shipping_address"),
	                              total_s, cancelled ? "CANCELLED" : "CREATED",
	                              event_meta(r, "correlation_id"), lit[0], lit[1], lit[2],
	                              deadline_s, cancelled ? "UNKNOWN_PRODUCT" : NULL},
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
	rc = store_order(tx, r, priced, unknown ? 0 : total, unknown != NULL, c->deadline_ms,
	                 errstr, size);
	if (rc < 0)
		goto out;
	if (unknown) {
		struct log_fields f = {.order_id = order_id,
		                       .event_id = event_meta(r, "event_id"),
		                       .correlation_id = event_meta(r, "correlation_id")};

		LOGX(INFO, &f, "order %s names unknown product %s; cancelling", order_id, unknown);
		rc = outbox_emit(c->outbox, tx, "OrderCancelled",
		                 json_pack("{s:s, s:s, s:s}", "order_id", order_id, "customer_id",
		                           customer, "reason", "UNKNOWN_PRODUCT"),
		                 r, errstr, size);
		goto out;
	}
	duetimer_within(&c->timer, c->deadline_ms); /* this instance's timer looks by then */
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

/*
 * An input of the state machine: the order's row, locked (with the input's
 * own fact recorded first when column is not NULL), decides the step, which
 * is carried out in the same transaction.
 */
static int on_input(struct order_ctx *c, PGconn *tx, const struct consumed *ev, enum order_input in,
                    const char *column, const char *value, char *errstr, size_t size)
{
	const char *order_id = event_str(ev->record, "order_id");
	char sql[256];
	PGresult *res = NULL;
	int rc;

	if (!order_id) {
		snprintf(errstr, size, "%s without order_id", ev->type);
		return ERR_INVALID;
	}
	if (column)
		snprintf(sql, sizeof(sql),
		         "UPDATE orders SET %s = $2, updated_at = now() WHERE order_id = $1"
		         " RETURNING " ORDER_ROW,
		         column);
	else
		snprintf(sql, sizeof(sql),
		         "SELECT " ORDER_ROW " FROM orders WHERE order_id = $1 FOR UPDATE");
	rc = db_exec(tx, sql, column ? 2 : 1, (const char *const[]){order_id, value}, &res, errstr,
	             size);
	if (rc == 0 && PQntuples(res) == 0) {
		snprintf(errstr, size, "%s for unknown order %s", ev->type, order_id);
		rc = ERR_INVALID;
	}
	if (rc == 0) {
		struct order_state state = order_state_of(res, 0);

		rc = order_apply(c, tx, res, 0, order_next(&state, in), ev->record, errstr, size);
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

/* One handler per input: the input, and the column it records (or NULL). */
#define ORDER_INPUTS(X)                                                           \
	X(paid, ORDER_PAID, "payment_status", "PAID")                             \
	X(declined, ORDER_DECLINED, "payment_status", "DECLINED")                 \
	X(reserved, ORDER_RESERVED, "inventory_status", "RESERVED")               \
	X(insufficient, ORDER_INSUFFICIENT, "inventory_status", "INSUFFICIENT")   \
	X(cancel_requested, ORDER_CANCEL_REQUESTED, NULL, NULL)                   \
	X(dispatched, ORDER_SHIPMENT_DISPATCHED, "shipment_status", "DISPATCHED") \
	X(shipment_cancelled, ORDER_SHIPMENT_CANCELLED, NULL, NULL)               \
	X(delivered, ORDER_DELIVERED, "shipment_status", "DELIVERED")             \
	X(shipping_failed, ORDER_SHIPPING_FAILED, NULL, NULL)

#define INPUT_HANDLER(name, in, col, value)                                                \
	static int name(void *c, PGconn *tx, const struct consumed *ev, char *e, size_t n) \
	{                                                                                  \
		return on_input(c, tx, ev, in, col, value, e, n);                          \
	}
ORDER_INPUTS(INPUT_HANDLER)

const struct dbapply_handler order_handlers[] = {
        {"OrderRequested", requested},
        {"ProductUpdated", product},
        {"CancellationRequested", cancel_requested},
        {"PaymentProcessed", paid},
        {"PaymentFailed", declined},
        {"InventoryReserved", reserved},
        {"InventoryInsufficient", insufficient},
        {"ShipmentDispatched", dispatched},
        {"ShipmentCancelled", shipment_cancelled},
        {"ShipmentDelivered", delivered},
        {"ShipmentFailed", shipping_failed},
        {NULL, NULL},
};
