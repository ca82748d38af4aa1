/*
 * consumer.h - the idempotent batch consumer.
 *
 * Polls a batch, decodes it, and applies it in one PostgreSQL transaction in
 * which every event's id is recorded in the inbox table (one statement for
 * the batch); a duplicate finds its id there and has no effect. Events of
 * types the service does not handle are skipped before any of that. Offsets are committed only after that
 * transaction commits (and on partition revocation).
 *
 * Errors:
 *  - transient (the database or the broker away, a serialization failure):
 *    the partitions are paused and the same batch is retried with
 *    exponential backoff and jitter; nothing is skipped;
 *  - poison (a value that cannot be decoded, or that the handler rejects as
 *    invalid): the message goes to dlq.<group> (through the outbox, in the
 *    same transaction) with the error and its origin in headers, and the
 *    partition moves on.
 */
#ifndef COMMON_CONSUMER_H
#define COMMON_CONSUMER_H

#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "codec.h"
#include "err.h"
#include "metrics.h"
#include "outbox.h"

/* An event handed to a handler. Everything is borrowed for the call. */
struct consumed {
	const char *type;     /* e.g. "OrderCreated" */
	const json_t *record; /* the decoded record, metadata included */
	const char *event_id;
	const char *key;
	const char *topic;
	int32_t partition;
	int64_t offset;
};

/*
 * Applies one event inside the open transaction tx (the batch's). Returns 0,
 * ERR_INVALID (poison: the event is dead-lettered, with errstr as the
 * reason), or ERR_RETRY / ERR_FATAL (the whole batch is retried later).
 */
typedef int (*consumer_handler_fn)(void *ctx, PGconn *tx, const struct consumed *ev, char *errstr,
                                   size_t errstr_size);

struct consumer_cfg {
	const char *group;         /* consumer group; the DLQ is dlq.<group> */
	const char *const *topics; /* NULL-terminated */
	/* The event types handle applies, NULL-terminated; a message of another
	 * type (by its event-type header, else by its decoded type) is skipped
	 * without a transaction or an inbox row. NULL: every type. */
	const char *const *types;
	const char *bootstrap;
	const char *conninfo;      /* the service's database */
	const struct codec *codec; /* borrowed */
	consumer_handler_fn handle;
	void *ctx;
	/* May be NULL. The events handlers add to it during a batch are written
	 * with one statement before the batch commits (outbox_batch_begin). */
	struct outbox *outbox;
	int batch_max;       /* messages per batch, e.g. 500 */
	int batch_wait_ms;   /* how long to gather a batch, e.g. 5 */
	int fetch_min_bytes; /* see kafka_consumer_cfg; 0 for the default */
	int fetch_wait_ms;
	struct metrics *metrics; /* may be NULL */
};

struct consumer;

int consumer_new(struct consumer **out, const struct consumer_cfg *cfg, char *errstr,
                 size_t errstr_size) WARN_UNUSED;

/* Processes at most one batch (waiting up to timeout_ms for it); for loops
 * that do other work between batches. Returns the number of messages
 * handled, or an error that has already been logged. */
int consumer_poll_once(struct consumer *c, int timeout_ms);

/* Commits, leaves the group, frees. NULL-safe. */
void consumer_free(struct consumer *c);

#endif
