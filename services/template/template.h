/*
 * template.h - the template service's domain logic: what it does with each
 * event it consumes. Everything else (batches, idempotency, retries,
 * dead letters, the outbox) is common/.
 */
#ifndef TEMPLATE_TEMPLATE_H
#define TEMPLATE_TEMPLATE_H

#include "codec.h"
#include "dbapply.h"
#include "outbox.h"

struct template_ctx {
	struct outbox *outbox;
	const struct codec *codec;
	const char *emit_type;  /* event emitted for each one applied, or "" for none */
	const char *emit_topic; /* "" for the schema's topic */
};

/* The events the service applies, each with its handler (ctx: struct
 * template_ctx), and the event it emits for each ("" for none). */
extern const struct dbapply_handler template_handlers[];
extern const char template_emits[];

/* Whether an event can be applied: it names an order. Pure; errstr says why not. */
bool template_accepts(const json_t *record, char *errstr, size_t errstr_size);

/* Records the event in template_effects and, when configured, emits an event
 * of emit_type caused by it. An event it does not accept is poison (DLQ). */
int template_handle(void *ctx, PGconn *tx, const struct consumed *ev, char *errstr,
                    size_t errstr_size);

#endif
