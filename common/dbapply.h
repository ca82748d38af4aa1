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

/*
 * A service's events: one {type, handler} per event type it applies, the
 * table ending with {NULL, NULL}. It is the single list of what a service
 * consumes: the consumer reads only these types, from their schemas'
 * topics (daemon_consume). The type DBAPPLY_ANY_TYPE matches every event.
 */
struct dbapply_handler {
	const char *type;
	dbapply_handler_fn apply;
};

#define DBAPPLY_ANY_TYPE "*"

/* The handler of type in table, or NULL when the table has none. */
dbapply_handler_fn dbapply_find(const struct dbapply_handler *table, const char *type);

enum dbapply_fault {
	DBAPPLY_FAULT_NONE,
	DBAPPLY_FAULT_BEFORE_COMMIT, /* effects and inbox rows written, not committed */
	DBAPPLY_FAULT_AFTER_COMMIT,  /* committed, offsets not yet stored */
};

/* Parses "", "before-commit" or "after-commit"; -1 for anything else. */
int dbapply_fault_parse(const char *text);

struct dbapply_cfg {
	const char *group;                      /* the inbox's consumer column; borrowed */
	const char *conninfo;                   /* the service's database */
	const struct dbapply_handler *handlers; /* borrowed; see above */
	void *ctx;
	struct outbox *outbox;   /* may be NULL */
	struct metrics *metrics; /* may be NULL */
	/* Fault tests only: the process SIGKILLs itself at this point of the
	 * batch that takes it past fault_after applied events. */
	enum dbapply_fault fault;
	long fault_after;
};

struct dbapply;

int dbapply_new(struct dbapply **out, const struct dbapply_cfg *cfg, char *errstr,
                size_t errstr_size) WARN_UNUSED;
void dbapply_free(struct dbapply *a); /* NULL-safe */

/* The applier for consumer_cfg.applier (borrows a). */
struct consumer_applier dbapply_applier(struct dbapply *a);

#endif
