/*
 * payment.h - the payment service's domain logic: charge an order's total
 * when it is created, refund the charge when the order is cancelled.
 */
#ifndef PAYMENT_PAYMENT_H
#define PAYMENT_PAYMENT_H

#include <stdint.h>

#include "dbapply.h"
#include "outbox.h"

struct payment_ctx {
	struct outbox *outbox;
	long long limit_cents;   /* totals above this are declined */
	double decline_rate;     /* load tests: share of other charges declined at random */
	unsigned long long seed; /* makes the random declines repeatable */
};

/* Why a charge is declined, or NULL when it goes through. Pure: the random
 * share is decided from the seed and the order id, so a redelivery decides
 * the same. */
const char *payment_decline_reason(const struct payment_ctx *c, const char *customer_id,
                                   long long total_cents, const char *order_id);

/* The events the service applies, each with its handler (ctx: struct payment_ctx). */
extern const struct dbapply_handler payment_handlers[];

#endif
