#include "inventory.h"

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

/* Lines sorted by product id, so concurrent reservations lock rows in one order. */
static int by_product(const void *a, const void *b)
{
	return strcmp(event_str(*(json_t *const *)a, "product_id"),
	              event_str(*(json_t *const *)b, "product_id"));
}

static int on_created(struct inventory_ctx *c, PGconn *tx, const struct consumed *ev, char *errstr,
                      size_t size)
{
	const char *order_id = event_str(ev->record, "order_id");
	const json_t *items = json_object_get(ev->record, "items");
	size_t n = json_array_size(items);
	json_t **lines = calloc(n ? n : 1, sizeof(*lines));
	PGresult **taken = calloc(n ? n : 1, sizeof(*taken)); /* each line's product row */
	json_t *shortages = json_array();
	PGresult *res = NULL;
	int rc;

	if (!order_id || !lines || !taken || n == 0) {
		snprintf(errstr, size, "OrderCreated without order_id or items");
		rc = ERR_INVALID;
		goto out;
	}
	{
		const char *p[1] = {order_id};

		rc = db_exec(tx, "SELECT 1 FROM reservations WHERE order_id = $1 LIMIT 1", 1, p,
		             &res, errstr, size);
		if (rc < 0 || PQntuples(res) > 0)
			goto out; /* reserved before: a duplicate */
		PQclear(res);
		res = NULL;
	}
	for (size_t i = 0; i < n; i++)
		lines[i] = json_array_get(items, i);
	qsort(lines, n, sizeof(*lines), by_product);
	/* One line needs no savepoint: a short line changed nothing. */
	rc = n > 1 ? db_exec(tx, "SAVEPOINT reserve", 0, NULL, NULL, errstr, size) : 0;
	if (rc < 0)
		goto out;
	/* All or nothing: take each line only if enough is left; on any shortage
	 * roll back to the savepoint and report every short line. */
	for (size_t i = 0; i < n; i++) {
		const char *pid = event_str(lines[i], "product_id");
		char qty[24];
		const char *p[3] = {pid, qty, order_id};

		snprintf(qty, sizeof(qty), "%lld", (long long)event_int(lines[i], "quantity"));
		rc = db_exec(
		        tx,
		        "UPDATE products SET available = available - $2::int, updated_at = now()"
		        " WHERE product_id = $1 AND available >= $2::int "
		        "RETURNING " PRODUCT_COLUMNS,
		        2, p, &res, errstr, size);
		if (rc < 0)
			goto out;
		if (PQntuples(res) == 0) {
			PGresult *have = NULL;
			const char *q[1] = {pid};

			rc = db_exec(tx, "SELECT available FROM products WHERE product_id = $1", 1,
			             q, &have, errstr, size);
			if (rc < 0)
				goto out;
			json_array_append_new(
			        shortages,
			        json_pack("{s:s, s:I, s:I}", "product_id", pid, "requested",
			                  event_int(lines[i], "quantity"), "available",
			                  (json_int_t)(PQntuples(have)
			                                       ? atoll(PQgetvalue(have, 0, 0))
			                                       : 0)));
			PQclear(have);
		} else {
			rc = db_exec(
			        tx,
			        "INSERT INTO reservations (order_id, product_id, quantity, status)"
			        " VALUES ($3, $1, $2::int, 'RESERVED')",
			        3, p, NULL, errstr, size);
			if (rc < 0)
				goto out;
			taken[i] = res; /* published once every line is taken */
			res = NULL;
		}
		PQclear(res);
		res = NULL;
	}
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
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = publish_row(c, tx, taken[i], ev->record, errstr, size);
	if (rc == 0) {
		json_t *reserved = json_array();

		for (size_t i = 0; i < n; i++)
			json_array_append_new(reserved, json_pack("{s:s, s:I}", "product_id",
			                                          event_str(lines[i], "product_id"),
			                                          "quantity",
			                                          event_int(lines[i], "quantity")));
		rc = outbox_emit(c->outbox, tx, "InventoryReserved",
		                 json_pack("{s:s, s:o}", "order_id", order_id, "items", reserved),
		                 ev->record, errstr, size);
	}
out:
	for (size_t i = 0; taken && i < n; i++)
		PQclear(taken[i]);
	PQclear(res);
	json_decref(shortages);
	free(taken);
	free(lines);
	return rc;
}

/* OrderCancelled: release what this service reserved; otherwise nothing. */
static int on_cancelled(struct inventory_ctx *c, PGconn *tx, const struct consumed *ev,
                        char *errstr, size_t size)
{
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

int inventory_handle(void *arg, PGconn *tx, const struct consumed *ev, char *errstr, size_t size)
{
	if (!strcmp(ev->type, "OrderCreated"))
		return on_created(arg, tx, ev, errstr, size);
	if (!strcmp(ev->type, "OrderCancelled"))
		return on_cancelled(arg, tx, ev, errstr, size);
	return 0;
}

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
