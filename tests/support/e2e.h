/*
 * e2e.h - helpers for end-to-end tests through the gateway's HTTP API, with
 * the whole stack and every daemon running (tests/run.sh starts them).
 */
#ifndef TESTS_E2E_H
#define TESTS_E2E_H

#include <jansson.h>

/* POST /v1/orders with body; idem (may be NULL) as Idempotency-Key. Returns
 * the status; order_id (37 bytes, may be NULL) receives the id on 202 and
 * reply (may be NULL) the body. */
int e2e_post_order(const char *body, const char *idem, const char *api_key, char *order_id,
                   char *reply, size_t reply_size);

/* A gateway's answer, headers kept. */
struct e2e_reply {
	int status; /* -1: no answer */
	char head[4096];
	char body[16384];
};

/* One request to the gateway (extra_headers: NULL or "Name: value\r\n"...;
 * the development key is added unless they hold an Authorization). */
int e2e_call(const char *method, const char *path, const char *extra_headers, const char *body,
             struct e2e_reply *r);

/* A header of the answer (case-insensitive), in a static buffer; "" when absent. */
const char *e2e_header(const struct e2e_reply *r, const char *name);

/* POST /v1/orders/{id}/cancel; returns the status. */
int e2e_cancel(const char *order_id, struct e2e_reply *r);

/* A JSON body for one order: customer, address and one line. Static buffer. */
const char *e2e_order_body(const char *customer, const char *address, const char *product,
                           int quantity);

/* GET /v1/orders/{id} as JSON (new reference), or NULL. */
json_t *e2e_get_order(const char *order_id);

/* Polls the order until COMPLETED or CANCELLED; returns its JSON (new reference). */
json_t *e2e_wait_terminal(const char *order_id, int timeout_ms);

/* One number from a service's database (prefix: "ORDER", "PAYMENT", ...). */
long long e2e_db(const char *prefix, const char *sql, const char *param);

/* One text value (static buffer; "" when no row). */
const char *e2e_db_text(const char *prefix, const char *sql, const char *param);

/* Creates a product with stock in the inventory service (its table and its
 * catalogue event, in one transaction) and waits until the gateway and the
 * order service know it. */
void e2e_make_product(const char *product_id, long long price_cents, int stock);

/* Runs check-invariants; fails the test (with its report) on a violation. */
void e2e_expect_invariants(void);

/* History event names of an order, e.g. "OrderRequested,OrderCreated,..." (static). */
const char *e2e_history(const json_t *order);

#endif
