/*
 * saga.h - the order service's domain logic: pricing orders from its copy of
 * the catalogue and the order state machine of the choreography saga.
 */
#ifndef ORDER_SAGA_H
#define ORDER_SAGA_H

#include "consumer.h"
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
int order_handle(void *ctx, PGconn *tx, const struct consumed *ev, char *errstr,
                 size_t errstr_size);

#endif
