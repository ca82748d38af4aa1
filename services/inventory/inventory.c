#include "inventory.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "event.h"
#include "log.h"

/* The columns a ProductUpdated is made of, as statements return them. */
#define PRODUCT_COLUMNS "product_id, name, price_cents, currency, available"

/* Emits ProductUpdated from row 0 of res (PRODUCT_COLUMNS). */
static int publish_row(struct inventory_ctx *c, PGconn *tx, const PGresult *res,
                       const json_t *cause, char *errstr, size_t size)
{
	const char *product_id = PQgetvalue(res, 0, 0);

	return outbox_add(c->outbox, tx, "ProductUpdated",
	                  json_pack("{s:s, s:s, s:I, s:s, s:I}", "product_id", product_id, "name",
	                            PQgetvalue(res, 0, 1), "price_cents",
	                            (json_int_t)strtoll(PQgetvalue(res, 0, 2), NULL, 10),
	                            "currency", PQgetvalue(res, 0, 3), "available",
	                            (json_int_t)strtoll(PQgetvalue(res, 0, 4), NULL, 10)),
	                  cause, product_id, NULL, NULL, NULL, errstr, size);
}

int inventory_publish_product(struct inventory_ctx *c, PGconn *tx, const char *product_id,
                              const json_t *cause, char *errstr, size_t size)
{
	const char *p[1] = {product_id};
	PGresult *res = NULL;
	int rc;

	rc = db_exec(tx, "SELECT " PRODUCT_COLUMNS " FROM products WHERE product_id = $1", 1, p,
	             &res, errstr, size);
	if (rc == 0 && PQntuples(res) > 0)
		rc = publish_row(c, tx, res, cause, errstr, size);
	PQclear(res);
	return rc;
}

static int by_product(const void *a, const void *b)
{
	return strcmp(((const struct inventory_line *)a)->product_id,
	              ((const struct inventory_line *)b)->product_id);
}

int inventory_merge_lines(const json_t *items, struct inventory_line **out, char *errstr,
                          size_t size)
{
	size_t n = json_array_size(items), m = 0;
	struct inventory_line *lines = calloc(n ? n : 1, sizeof(*lines));

	*out = NULL;
	if (!lines) {
		snprintf(errstr, size, "out of memory");
		return ERR_NOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		const json_t *item = json_array_get(items, i);
		const char *pid = event_str(item, "product_id");
		long long qty = event_int(item, "quantity");

		if (!pid || !*pid || qty <= 0 || qty > INT32_MAX) {
			snprintf(errstr, size,
			         "line %zu has no product_id or a quantity out of range", i + 1);
			free(lines);
			return ERR_INVALID;
		}
		lines[i] = (struct inventory_line){pid, qty};
	}
	qsort(lines, n, sizeof(*lines), by_product);
	for (size_t i = 0; i < n; i++) {
		if (m > 0 && !strcmp(lines[m - 1].product_id, lines[i].product_id)) {
			lines[m - 1].quantity += lines[i].quantity;
			if (lines[m - 1].quantity > INT32_MAX) {
				snprintf(errstr, size, "product %s: quantity out of range",
				         lines[i].product_id);
				free(lines);
				return ERR_INVALID;
			}
		} else {
			lines[m++] = lines[i];
		}
	}
	*out = lines;
	return (int)m;
}

/* How much of product_id is left, for a shortage entry. */
static int shortage(PGconn *tx, const struct inventory_line *line, json_t *shortages, char *errstr,
                    size_t size)
{
	const char *q[1] = {line->product_id};
	PGresult *have = NULL;
	int rc = db_exec(tx, "SELECT available FROM products WHERE product_id = $1", 1, q, &have,
	                 errstr, size);

	if (rc == 0)
		json_array_append_new(
		        shortages,
		        json_pack(
		                "{s:s, s:I, s:I}", "product_id", line->product_id, "requested",
		                (json_int_t)line->quantity, "available",
		                (json_int_t)(PQntuples(have) ? atoll(PQgetvalue(have, 0, 0)) : 0)));
	PQclear(have);
	return rc;
}

/* Takes line's quantity if enough is left: *taken receives the product's row
 * (PRODUCT_COLUMNS), or NULL when it is short (added to shortages). */
static int reserve_line(PGconn *tx, const char *order_id, const struct inventory_line *line,
                        PGresult **taken, json_t *shortages, char *errstr, size_t size)
{
	char qty[24];
	const char *p[3] = {line->product_id, qty, order_id};
	PGresult *res = NULL;
	int rc;

	*taken = NULL;
	snprintf(qty, sizeof(qty), "%lld", line->quantity);
	rc = db_exec(tx,
	             "UPDATE products SET available = available - $2::int, updated_at = now()"
	             " WHERE product_id = $1 AND available >= $2::int "
	             "RETURNING " PRODUCT_COLUMNS,
	             2, p, &res, errstr, size);
	if (rc < 0)
		return rc;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return shortage(tx, line, shortages, errstr, size);
	}
	rc = db_exec(tx,
	             "INSERT INTO reservations (order_id, product_id, quantity, status)"
	             " VALUES ($3, $1, $2::int, 'RESERVED')",
	             3, p, NULL, errstr, size);
	if (rc < 0)
		PQclear(res);
	else
		*taken = res;
	return rc;
}

/* InventoryReserved: every product's new state, then the reservation. */
static int publish_reserved(struct inventory_ctx *c, PGconn *tx, const struct consumed *ev,
                            const char *order_id, const struct inventory_line *lines,
                            PGresult **taken, int n, char *errstr, size_t size)
{
	json_t *reserved;
	int rc = 0;

	for (int i = 0; rc == 0 && i < n; i++)
		rc = publish_row(c, tx, taken[i], ev->record, errstr, size);
	if (rc < 0)
		return rc;
	reserved = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(reserved,
		                      json_pack("{s:s, s:I}", "product_id", lines[i].product_id,
		                                "quantity", (json_int_t)lines[i].quantity));
	return outbox_emit(c->outbox, tx, "InventoryReserved",
	                   json_pack("{s:s, s:o}", "order_id", order_id, "items", reserved),
	                   ev->record, errstr, size);
}

static bool reserved_before(PGconn *tx, const char *order_id, int *rc, char *errstr, size_t size)
{
	const char *p[1] = {order_id};
	PGresult *res = NULL;
	bool found;

	*rc = db_exec(tx, "SELECT 1 FROM reservations WHERE order_id = $1 LIMIT 1", 1, p, &res,
	              errstr, size);
	found = *rc == 0 && PQntuples(res) > 0;
	PQclear(res);
	return found;
}

/*
 * OrderCreated: all or nothing, take each product's quantity (lines naming
 * one product are reserved as their sum) only if enough is left; on any
 * shortage roll back to the savepoint and report every short product.
 * Products are taken in id order, so concurrent reservations lock rows in
 * one order.
 */
static int on_created(void *arg, PGconn *tx, const struct consumed *ev, char *errstr, size_t size)
{
	struct inventory_ctx *c = arg;
	const char *order_id = event_str(ev->record, "order_id");
	struct inventory_line *lines = NULL;
	PGresult **taken = NULL;
	json_t *shortages = json_array();
	int n = 0, rc;

	if (!order_id || !*order_id || !json_array_size(json_object_get(ev->record, "items"))) {
		snprintf(errstr, size, "OrderCreated without order_id or items");
		rc = ERR_INVALID;
		goto out;
	}
	if (reserved_before(tx, order_id, &rc, errstr, size) || rc < 0)
		goto out; /* a duplicate */
	n = inventory_merge_lines(json_object_get(ev->record, "items"), &lines, errstr, size);
	if ((rc = n < 0 ? n : 0) < 0 || !(taken = calloc((size_t)n, sizeof(*taken)))) {
		rc = rc < 0 ? rc : ERR_NOMEM;
		goto out;
	}
	/* One product needs no savepoint: a short line changed nothing. */
	if (n > 1 && (rc = db_exec(tx, "SAVEPOINT reserve", 0, NULL, NULL, errstr, size)) < 0)
		goto out;
	for (int i = 0; rc == 0 && i < n; i++)
		rc = reserve_line(tx, order_id, &lines[i], &taken[i], shortages, errstr, size);
	if (rc < 0)
		goto out;
	if (json_array_size(shortages) > 0) {
		rc = n > 1 ? db_exec(tx, "ROLLBACK TO SAVEPOINT reserve", 0, NULL, NULL, errstr,
		                     size)
		           : 0;
		if (rc == 0)
			rc = outbox_emit(c->outbox, tx, "InventoryInsufficient",
			                 json_pack("{s:s, s:O}", "order_id", order_id, "shortages",
			                           shortages),
			                 ev->record, errstr, size);
		goto out;
	}
	rc = n > 1 ? db_exec(tx, "RELEASE SAVEPOINT reserve", 0, NULL, NULL, errstr, size) : 0;
	if (rc == 0)
		rc = publish_reserved(c, tx, ev, order_id, lines, taken, n, errstr, size);
out:
	for (int i = 0; taken && i < n; i++)
		PQclear(taken[i]);
	json_decref(shortages);
	free(taken);
	free(lines);
	return rc;
}

/* OrderCancelled: release what this service reserved; otherwise nothing. */
static int on_cancelled(void *arg, PGconn *tx, const struct consumed *ev, char *errstr, size_t size)
{
	struct inventory_ctx *c = arg;
	const char *order_id = event_str(ev->record, "order_id");
	const char *p[1] = {order_id};
	PGresult *res = NULL;
	json_t *released;
	int rc;

	rc = db_exec(tx,
	             "UPDATE reservations SET status = 'RELEASED', updated_at = now()"
	             " WHERE order_id = $1 AND status = 'RESERVED'"
	             " RETURNING product_id, quantity",
	             1, p, &res, errstr, size);
	if (rc < 0 || PQntuples(res) == 0) {
		PQclear(res);
		return rc;
	}
	released = json_array();
	for (int i = 0; i < PQntuples(res) && rc == 0; i++) {
		const char *q[2] = {PQgetvalue(res, i, 0), PQgetvalue(res, i, 1)};

		PGresult *row = NULL;

		rc = db_exec(
		        tx,
		        "UPDATE products SET available = available + $2::int, updated_at = now()"
		        " WHERE product_id = $1 RETURNING " PRODUCT_COLUMNS,
		        2, q, &row, errstr, size);
		if (rc == 0 && PQntuples(row) > 0)
			rc = publish_row(c, tx, row, ev->record, errstr, size);
		PQclear(row);
		json_array_append_new(released, json_pack("{s:s, s:i}", "product_id", q[0],
		                                          "quantity", (int)strtol(q[1], NULL, 10)));
	}
	if (rc == 0)
		rc = outbox_emit(c->outbox, tx, "InventoryReleased",
		                 json_pack("{s:s, s:O}", "order_id", order_id, "items", released),
		                 ev->record, errstr, size);
	json_decref(released);
	PQclear(res);
	return rc;
}

const struct dbapply_handler inventory_handlers[] = {
        {"OrderCreated", on_created},
        {"OrderCancelled", on_cancelled},
        {NULL, NULL},
};

int inventory_seed(struct inventory_ctx *c, PGconn *conn, long n, long stock, char *errstr,
                   size_t size)
{
	PGresult *res = NULL;
	int rc;

	rc = db_exec(conn, "BEGIN", 0, NULL, NULL, errstr, size);
	if (rc < 0)
		return rc;
	rc = db_exec(conn, "LOCK TABLE products IN EXCLUSIVE MODE", 0, NULL, NULL, errstr, size);
	if (rc == 0)
		rc = db_exec(conn, "SELECT count(*) FROM products", 0, NULL, &res, errstr, size);
	if (rc < 0 || atoll(PQgetvalue(res, 0, 0)) > 0) {
		PQclear(res);
		PQclear(PQexec(conn, "ROLLBACK"));
		return rc;
	}
	PQclear(res);
	for (long i = 1; i <= n && rc == 0; i++) {
		char id[32], name[64], price[32], qty[32];
		const char *p[4] = {id, name, price, qty};

		snprintf(id, sizeof(id), "p-%04ld", i);
		snprintf(name, sizeof(name), "Product %ld", i);
		snprintf(price, sizeof(price), "%ld", 100 + (i * 37) % 9900); /* 1.00 to 99.99 */
		snprintf(qty, sizeof(qty), "%ld", stock);
		rc = db_exec(conn,
		             "INSERT INTO products (product_id, name, price_cents, currency,"
		             " initial_stock, available) VALUES ($1, $2, $3, 'EUR', $4, $4)",
		             4, p, NULL, errstr, size);
		if (rc == 0)
			rc = inventory_publish_product(c, conn, id, NULL, errstr, size);
	}
	if (rc == 0) {
		/* One product with no stock, for out-of-stock orders in load tests. */
		rc = db_exec(conn,
		             "INSERT INTO products (product_id, name, price_cents, currency,"
		             " initial_stock, available) VALUES ('p-sold-out', 'Sold out', 999, "
		             "'EUR', 0, 0)",
		             0, NULL, NULL, errstr, size);
		if (rc == 0)
			rc = inventory_publish_product(c, conn, "p-sold-out", NULL, errstr, size);
	}
	if (rc == 0) {
		rc = db_exec(conn, "COMMIT", 0, NULL, NULL, errstr, size);
		if (rc == 0)
			LOG(INFO, "seeded %ld products with %ld each in stock, and p-sold-out", n,
			    stock);
	} else {
		PQclear(PQexec(conn, "ROLLBACK"));
	}
	return rc;
}
