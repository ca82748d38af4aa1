/*
 * saga.h - the order service's domain logic: pricing orders from its copy of
 * the catalogue and the order state machine of the choreography saga.
 */
#ifndef ORDER_SAGA_H
#define ORDER_SAGA_H

#include "dbapply.h"
#include "outbox.h"

struct order_ctx {
	struct outbox *outbox;
};

/* What the order does next, from its state and the two results. Pure. */
enum order_decision {
	ORDER_WAIT,    /* not all results are in */
	ORDER_CONFIRM, /* payment and reservation both succeeded */
	ORDER_CANCEL,  /* one of them failed: cancel with the first reason */
	ORDER_NOTHING, /* the order is past that point (confirmed, cancelled, done) */
};

/* payment: NULL (unknown), "PAID" or "DECLINED"; inventory: NULL, "RESERVED"
 * or "INSUFFICIENT"; status: the order's status. */
enum order_decision order_decide(const char *status, const char *payment, const char *inventory);

/* The consumer handler of the order service (every topic it consumes). */
/* The events the service applies, each with its handler (ctx: struct order_ctx). */
extern const struct dbapply_handler order_handlers[];

#endif
