/*
 * saga.h - the order service's domain logic: pricing orders from its copy of
 * the catalogue, and the saga's state machine (machine.h) applied to what
 * the other services report, to the customer's cancellations and to the
 * saga's deadline (deadline.c).
 */
#ifndef ORDER_SAGA_H
#define ORDER_SAGA_H

#include "dbapply.h"
#include "db.h"
#include "duetimer.h"
#include "machine.h"
#include "metrics.h"
#include "outbox.h"

struct order_ctx {
	struct outbox *outbox;
	struct db *db;    /* for the deadline timer, between batches */
	long deadline_ms; /* ORDER_DEADLINE_MS: confirmed by then, or cancelled (TIMEOUT) */
	struct duetimer timer;
	/* Refreshed at each look of the timer: open orders and the oldest one's age. */
	struct metric *m_created, *m_confirmed, *m_cancelling, *m_oldest_age;
};

/* The events the service applies, each with its handler (ctx: struct order_ctx). */
extern const struct dbapply_handler order_handlers[];

/* The columns order_state_of() reads, in its order, for a SELECT or RETURNING. */
#define ORDER_ROW                                                                               \
	"status, payment_status, inventory_status, shipment_status, cancellation, customer_id," \
	" shipping_address, total_cents, correlation_id, order_id"

/* The state of row i of res (ORDER_ROW's columns); borrowed from res. */
struct order_state order_state_of(const PGresult *res, int i);

/*
 * Carries out st for the order in row i of res (ORDER_ROW, locked by tx):
 * the row's change and the event it emits, caused by cause (the record
 * handled), or, for a step of the order's own timer (cause NULL), in the
 * order's correlation.
 */
int order_apply(struct order_ctx *c, PGconn *tx, const PGresult *res, int i, struct order_step st,
                const json_t *cause, char *errstr, size_t size) WARN_UNUSED;

/* Sets up c's deadline timer and its gauges (deadline.c). */
void order_deadline_init(struct order_ctx *c, struct metrics *m);

/* The daemon's tick: cancels the orders past their deadline (deadline.c). */
int order_deadline_tick(void *ctx);

#endif
