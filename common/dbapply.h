/*
 * dbapply.h - the consumer loop's PostgreSQL applier: a batch is applied in
 * one transaction in which every event's id is recorded in the inbox table
 * (one statement for the batch), so that a duplicate finds its id there and
 * has no effect; the events handlers emit and the dead letters of poison
 * go through the outbox in the same transaction.
 */
#ifndef COMMON_DBAPPLY_H
#define COMMON_DBAPPLY_H

#include <libpq-fe.h>

#include "consumer.h"
#include "err.h"
#include "metrics.h"
#include "outbox.h"

/*
 * Applies one event inside the open transaction tx (the batch's). Returns 0,
 * ERR_INVALID (poison: the event is dead-lettered, with errstr as the
 * reason), ERR_RETRY (unavailable: retried later), or another error (see
 * consumer.h for how a failure is treated; SQL errors are classified by
 * their SQLSTATE).
 */
typedef int (*dbapply_handler_fn)(void *ctx, PGconn *tx, const struct consumed *ev, char *errstr,
                                  size_t errstr_size);

struct dbapply_cfg {
	const char *group;    /* the inbox's consumer column; borrowed */
	const char *conninfo; /* the service's database */
	dbapply_handler_fn handle;
	void *ctx;
	struct outbox *outbox;   /* may be NULL */
	struct metrics *metrics; /* may be NULL */
};

struct dbapply;

int dbapply_new(struct dbapply **out, const struct dbapply_cfg *cfg, char *errstr,
                size_t errstr_size) WARN_UNUSED;
void dbapply_free(struct dbapply *a); /* NULL-safe */

/* The applier for consumer_cfg.applier (borrows a). */
struct consumer_applier dbapply_applier(struct dbapply *a);

#endif
