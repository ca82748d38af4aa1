/*
 * shipping.h - the shipping service's domain logic: a shipment for each
 * confirmed order, handed to a simulated carrier with retries (exponential
 * backoff with jitter), then dispatched and later delivered; or failed for
 * good after the last attempt.
 */
#ifndef SHIPPING_SHIPPING_H
#define SHIPPING_SHIPPING_H

#include "dbapply.h"
#include "db.h"
#include "duetimer.h"
#include "outbox.h"

struct shipping_ctx {
	struct outbox *outbox;
	struct db *db; /* for the carrier work between batches */
	long max_attempts;
	long backoff_ms;        /* first retry delay; doubles, with jitter */
	long delivery_delay_ms; /* dispatched -> delivered */
	double failure_rate;    /* load tests: share of attempts failing at random */
	struct duetimer timer;  /* the shipments due (shipping_init sets it up) */
};

/* The events the service applies, each with its handler (ctx: struct shipping_ctx). */
extern const struct dbapply_handler shipping_handlers[];

/* Sets up c's timer of due shipments (carrier attempts, deliveries). */
void shipping_init(struct shipping_ctx *c);

/* Works through the shipments that are due, a batch per transaction
 * (duetimer.h). Returns the ms until it wants to look again. */
int shipping_tick(void *ctx);

/* Whether the carrier accepts a parcel for this address on this attempt. */
bool shipping_carrier_accepts(const struct shipping_ctx *c, const char *address);

#endif
