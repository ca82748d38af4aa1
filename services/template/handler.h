/*
 * handler.h - the template service's domain logic: what it does with each
 * event it consumes. Everything else (batches, idempotency, retries,
 * dead letters, the outbox) is common/.
 */
#ifndef TEMPLATE_HANDLER_H
#define TEMPLATE_HANDLER_H

#include "consumer.h"
#include "outbox.h"

struct template_ctx {
	struct outbox *outbox;
	const char *emit_type;  /* event emitted for each one applied, or "" for none */
	const char *emit_topic; /* "" for the schema's topic */
};

/* Records the event in template_effects and, when configured, emits a
 * NotificationSent caused by it. An event without an order_id is invalid. */
int template_handle(void *ctx, PGconn *tx, const struct consumed *ev, char *errstr,
		    size_t errstr_size);

#endif
