/*
 * outbox.h - the writing side of the transactional outbox.
 *
 * A handler changes its tables and calls outbox_add() on the same open
 * transaction; the event is published by the relay (relay.h) only if that
 * transaction commits. The outbox table comes from common/migrations.
 *
 * Between outbox_batch_begin(ob, tx) and outbox_batch_flush() the events
 * added on tx wait in memory and are written with one statement at the
 * flush, before the caller commits; outbox_batch_discard() drops them when
 * the transaction rolls back. The batch consumer does this around each
 * batch, so handlers only call outbox_add()/outbox_emit().
 */
#ifndef COMMON_OUTBOX_H
#define COMMON_OUTBOX_H

#include <libpq-fe.h>
#include <jansson.h>

#include "codec.h"
#include "err.h"

struct outbox;

struct outbox_cfg {
	const struct codec *codec; /* borrowed */
	const char *producer;      /* the daemon's name, for metadata (borrowed) */
};

int outbox_new(struct outbox **out, const struct outbox_cfg *cfg) WARN_UNUSED;
void outbox_free(struct outbox *ob); /* NULL-safe */

/*
 * Adds an event of type to the open transaction tx. fields: the event's own
 * fields (ownership is taken, also on error); the metadata is made here from
 * cause (the record of the event being handled) or, for an event that
 * starts a saga, from correlation_id and traceparent. topic NULL means the
 * schema's topic. *event_id (may be NULL) receives the new event's id
 * (at least 37 bytes).
 */
int outbox_add(struct outbox *ob, PGconn *tx, const char *type, json_t *fields, const json_t *cause,
               const char *correlation_id, const char *traceparent, const char *topic,
               char *event_id, char *errstr, size_t errstr_size) WARN_UNUSED;

/* outbox_add for a handler: the event is caused by cause (the record being
 * handled) and goes to its schema's topic. Takes ownership of fields. */
int outbox_emit(struct outbox *ob, PGconn *tx, const char *type, json_t *fields,
                const json_t *cause, char *errstr, size_t errstr_size) WARN_UNUSED;

/* Adds an already encoded message (dead letters, replays): headers are
 * "name: value" lines. */
int outbox_add_raw(PGconn *tx, const char *topic, const char *key, const char *headers,
                   const void *payload, size_t len, char *errstr, size_t errstr_size) WARN_UNUSED;

/* Starts keeping the events added on tx in memory (see above). */
void outbox_batch_begin(struct outbox *ob, PGconn *tx);

/* Writes the kept events in the order they were added and ends the batch
 * (also on error: the caller rolls back). 0, or db_classify()'s code. */
int outbox_batch_flush(struct outbox *ob, char *errstr, size_t errstr_size) WARN_UNUSED;

/* Drops the kept events and ends the batch. NULL-safe. */
void outbox_batch_discard(struct outbox *ob);

/* The headers every event carries, as "name: value" lines: event-type,
 * event-id and (when the metadata has one) traceparent. malloc'd; NULL when
 * out of memory. */
char *outbox_event_headers(const char *type, const json_t *record);

/* Appends a "name: value\n" line to a malloc'd header block; newlines in
 * value become spaces. Returns the new block or NULL when out of memory
 * (the old block is freed then). */
char *outbox_header_append(char *block, const char *name, const char *value);

#endif
