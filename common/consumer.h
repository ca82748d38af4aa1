/*
 * consumer.h - the batch consumer loop that every consumer of the project
 * runs, whatever it applies events to.
 *
 * The loop polls a batch, skips the types the service does not handle,
 * decodes the rest and hands the batch to an applier (a store: PostgreSQL
 * with inbox and outbox, see dbapply.h; Redis for the gateway's read model).
 * The applier applies the batch as one unit, dead-letters the items the loop
 * marked as poison in the same unit, and says which item failed when one did.
 * Offsets are stored for commit only after the applier succeeded.
 *
 * Failures (docs/plumbing.md has the table):
 *  - transient (a server away, a serialization failure or deadlock, out of
 *    resources): the partitions are paused and the same batch is retried
 *    with exponential backoff and jitter, without limit; nothing is skipped
 *    and nothing is dead-lettered;
 *  - poison (undecodable, rejected by the handler as invalid, a data or
 *    integrity-constraint error): the event is dead-lettered to dlq.<group>
 *    with the error, SQLSTATE, origin and attempts in headers, and the rest
 *    of the batch is applied;
 *  - anything else (a handler bug, an unexpected database error): the batch
 *    is isolated, its events re-applied one at a time, and an event that
 *    still fails alone is tried max_attempts times in all, then
 *    dead-lettered. Nothing but real unavailability is retried forever.
 *
 * A consumer that has lag and has not advanced for stall_ms logs the event
 * it is stuck on once per stall_ms and exports its last-progress age.
 */
#ifndef COMMON_CONSUMER_H
#define COMMON_CONSUMER_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "codec.h"
#include "err.h"
#include "kafka.h"
#include "metrics.h"

/* A dead letter's value is cut to this many bytes (dlq-value-bytes keeps the
 * original length), so that it fits a topic's default 1 MiB message limit. */
#define CONSUMER_DLQ_MAX_VALUE (512 * 1024)

/* One message of a batch. The loop owns it; an applier reads it. */
struct consumer_item {
	rd_kafka_message_t *msg;
	bool skip;        /* a type the service does not handle: nothing to apply */
	const char *type; /* the decoded type (NULL when undecodable) */
	json_t *record;   /* the decoded record, or NULL: poison, to dead-letter */
	char id[160];     /* event id; for poison "dead:topic/partition/offset" */
	char error[256];  /* poison: why */
	char sqlstate[6]; /* poison: the database's error code, "" for none */
	int attempts;     /* poison: how often it was tried alone */
};

/* What an applier reports about one call. */
struct consumer_result {
	int applied;      /* events whose effects were applied */
	int duplicates;   /* events found applied before */
	int dead;         /* poison items dead-lettered */
	int failed;       /* on error: the item whose effect failed, or -1 */
	char sqlstate[6]; /* on error: the database's code, "" for none */
};

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

struct consumer_applier {
	/*
	 * Applies items[0..n) as one unit, all or nothing: the effects of each
	 * item with a record (skip ones excluded) and a dead letter for each
	 * with none (consumer_dlq_* build it). Returns 0; or an error
	 * (ERR_RETRY for unavailability, ERR_INVALID for an event rejected as
	 * poison, ...) with why, res->failed and res->sqlstate, nothing applied.
	 */
	int (*apply)(void *ctx, struct consumer_item *items, int n, struct consumer_result *res,
	             char *why, size_t size);
	/*
	 * Optional, from the rebalance callback: sets where each newly assigned
	 * partition starts (parts->elems[i].offset), for a store that keeps its
	 * offsets with its effects. Left alone: the group's committed offsets.
	 * Returns 0, or ERR_RETRY to be asked again after a backoff.
	 */
	int (*assigned)(void *ctx, rd_kafka_topic_partition_list_t *parts, char *why, size_t size);
	void *ctx;
};

struct consumer_cfg {
	const char *group;         /* consumer group; the DLQ is dlq.<group> */
	const char *client_id;     /* NULL: the group */
	const char *const *topics; /* NULL-terminated */
	/* The event types the applier applies, NULL-terminated; a message of
	 * another type (by its event-type header, else by its decoded type) is
	 * skipped without reaching the applier. NULL: every type. */
	const char *const *types;
	const struct kafka_endpoint *kafka; /* borrowed */
	const struct codec *codec;          /* borrowed */
	struct consumer_applier applier;
	int batch_max;       /* messages per batch, e.g. 500 */
	int batch_wait_ms;   /* how long to gather a batch, e.g. 5 */
	int fetch_min_bytes; /* see kafka_consumer_cfg; 0 for the default */
	int fetch_wait_ms;
	bool start_at_end;       /* a new group starts at the end, not the beginning */
	int max_attempts;        /* tries of an event that fails alone; 0: 3 */
	int stall_ms;            /* "stuck" after this long with lag; 0: 30 s */
	struct metrics *metrics; /* may be NULL */
};

struct consumer;

int consumer_new(struct consumer **out, const struct consumer_cfg *cfg, char *errstr,
                 size_t errstr_size) WARN_UNUSED;

/* Processes at most one batch (waiting up to timeout_ms for it); for loops
 * that do other work between batches. Returns the number of messages
 * handled, or an error that has already been logged. */
int consumer_poll_once(struct consumer *c, int timeout_ms);

/*
 * For an applier whose store may have lost its last batches (it came back
 * after a crash): asks the applier where the assigned partitions start, as
 * on assignment, and assigns them again from there; the batch in hand is
 * dropped and read again from there. Call from the applier (within consumer_poll_once) or
 * between polls. 0, or ERR_RETRY.
 */
int consumer_rewind(struct consumer *c, char *errstr, size_t errstr_size) WARN_UNUSED;

/* Commits, leaves the group, frees. NULL-safe. */
void consumer_free(struct consumer *c);

/* A group's dead-letter topic, "dlq.<group>": malloc'd, NULL when out of memory. */
char *consumer_dlq_topic(const char *group);

/*
 * The headers of poison item it's dead letter, as "name: value" lines (see
 * outbox_add_raw): the original headers, then dlq-error, dlq-sqlstate,
 * dlq-topic, dlq-partition, dlq-offset, dlq-group, dlq-attempts and, for a
 * value that was cut, dlq-value-bytes. malloc'd; NULL when out of memory.
 */
char *consumer_dlq_headers(const struct consumer_item *it, const char *group);

/* The value of the dead letter: the message's, cut to CONSUMER_DLQ_MAX_VALUE. */
const void *consumer_dlq_value(const struct consumer_item *it, size_t *len);

/* The message's key as a string (cut to size). */
void consumer_item_key(const struct consumer_item *it, char *buf, size_t size);

/* How the loop treats an applier's error: see the table above. */
enum consumer_failure {
	CONSUMER_TRANSIENT, /* retried with backoff, without limit */
	CONSUMER_POISON,    /* dead-lettered at once */
	CONSUMER_UNKNOWN,   /* retried alone up to max_attempts, then dead-lettered */
};

enum consumer_failure consumer_classify(int err, const char *sqlstate);

#endif
