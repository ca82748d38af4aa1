/*
 * relay.h - publishes the outbox.
 *
 * A thread with its own database connection and idempotent producer. It is
 * active in one process per database at a time (a session advisory lock);
 * the others wait as standbys and one takes over within two seconds when the
 * active one dies. The active relay reads unpublished rows in id order,
 * produces them (acks=all), and deletes exactly the rows whose delivery the
 * broker acknowledged. It wakes on the outbox's NOTIFY, so a committed event
 * leaves within milliseconds. Rows are never skipped: whatever is in the
 * table when the relay looks is published, whenever its transaction
 * committed.
 *
 * A relay stops publishing as soon as the session that held the lock is
 * gone (a lost connection, a terminated backend), even though its next
 * connection comes back by itself, and takes the lock again on the new
 * session before it publishes again. A fatal error of the idempotent
 * producer makes it start a new producer; the unacknowledged rows go out
 * again.
 */
#ifndef COMMON_RELAY_H
#define COMMON_RELAY_H

#include <stdbool.h>

#include "err.h"
#include "kafka.h"
#include "metrics.h"

struct relay;

struct relay_cfg {
	const char *conninfo;               /* the service's database */
	const struct kafka_endpoint *kafka; /* borrowed; outlives the relay */
	const char *name;                   /* client id and log name, e.g. "order" */
	int batch;                          /* rows per round, e.g. 1000 */
	int linger_ms;                      /* producer batching delay */
	int gather_ms;             /* after a NOTIFY, commits gather this long before the read */
	struct metrics *metrics;   /* may be NULL */
	bool fault_kill_after_ack; /* fault tests: SIGKILL itself after acks, before deleting */
	bool fault_fatal_error;    /* fault tests: a fatal producer error after the first round */
};

/* Starts the relay thread; cfg's strings are copied. */
int relay_start(struct relay **out, const struct relay_cfg *cfg, char *errstr,
                size_t errstr_size) WARN_UNUSED;

/* Stops taking rows, waits (up to a few seconds) for outstanding acks, deletes
 * what was acknowledged, and frees. NULL-safe. */
void relay_stop(struct relay *r);

/* True while this relay holds the lock (for tests and /metrics). */
bool relay_is_active(const struct relay *r);

#endif
