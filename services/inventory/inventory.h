/*
 * inventory.h - the inventory service's domain logic: reserve every line of
 * an order atomically (all or nothing, stock never below zero under any
 * concurrency), release the reservation when the order is cancelled, and
 * publish each product's current state to the compacted product-catalog.
 */
#ifndef INVENTORY_INVENTORY_H
#define INVENTORY_INVENTORY_H

#include "dbapply.h"
#include "outbox.h"

struct inventory_ctx {
	struct outbox *outbox;
};

/* One product's quantity in an order. */
struct inventory_line {
	const char *product_id; /* borrowed from the event */
	long long quantity;
};

/*
 * The order's lines by product id, lines naming the same product merged
 * into one with their quantities summed: *out (malloc'd, caller frees)
 * receives them. Returns how many, or ERR_INVALID (with errstr) for a line
 * without product_id or with a quantity out of 1 .. INT32_MAX.
 */
int inventory_merge_lines(const json_t *items, struct inventory_line **out, char *errstr,
                          size_t errstr_size) WARN_UNUSED;

/* The events the service applies, each with its handler (ctx: struct inventory_ctx). */
extern const struct dbapply_handler inventory_handlers[];

/*
 * Creates products "p-0001" .. "p-<n>" with stock when the table is empty,
 * publishing each to the catalogue (make up, load tests). Runs its own
 * transaction on conn.
 */
int inventory_seed(struct inventory_ctx *c, PGconn *conn, long n, long stock, char *errstr,
                   size_t errstr_size) WARN_UNUSED;

/* Publishes the current state of product_id to product-catalog, in tx. */
int inventory_publish_product(struct inventory_ctx *c, PGconn *tx, const char *product_id,
                              const json_t *cause, char *errstr, size_t errstr_size) WARN_UNUSED;

#endif
