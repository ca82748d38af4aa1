/*
 * duetimer.h - work that falls due at times kept in a table (a shipment's
 * next carrier attempt, an order's deadline), done from a daemon's tick
 * (daemon_set_tick) without polling per row. While rows are due it looks
 * every DUETIMER_BUSY_MS and works through them, a batch per transaction
 * (the rows locked with FOR UPDATE SKIP LOCKED, so instances share them);
 * once a look finds none, one cheap query says when the next one is due and
 * the timer sleeps until then, at most DUETIMER_IDLE_MS (rows another
 * instance added).
 *
 *   c->timer = (struct duetimer){.db = d->db, .outbox = d->outbox,
 *           .due_sql = "SELECT ... WHERE due_at <= now() ... LIMIT $1 FOR UPDATE SKIP LOCKED",
 *           .next_sql = "SELECT ceil(extract(epoch FROM min(due_at) - now()) * 1000) ...",
 *           .each = advance_one, .ctx = c, .batch = 500, .what = "advance shipments"};
 *   daemon_set_tick(d, tick, c);             // tick calls duetimer_tick(&c->timer)
 *   duetimer_within(&c->timer, ms);          // a row this instance added
 */
#ifndef COMMON_DUETIMER_H
#define COMMON_DUETIMER_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "db.h"
#include "outbox.h"

#define DUETIMER_BUSY_MS 10   /* how often it looks while rows are due */
#define DUETIMER_IDLE_MS 5000 /* the longest it sleeps */
#define DUETIMER_ROUNDS  8    /* batches per tick while full ones come back */

struct duetimer {
	struct db *db;         /* borrowed */
	struct outbox *outbox; /* borrowed: each() emits through it */
	const char *due_sql;   /* the due rows, locked; $1 is the batch size */
	/* One row: the ms until the next row falls due (NULL: none) first; more
	 * columns for looked(). */
	const char *next_sql;
	/* Works on due row i of rows in tx: 0 or a negative error (the batch rolls back). */
	int (*each)(void *ctx, PGconn *tx, const PGresult *rows, int i, char *errstr, size_t size);
	void (*looked)(void *ctx, const PGresult *next); /* may be NULL: next_sql's answer */
	void *ctx;
	int batch;
	const char *what;  /* for logs, e.g. "advance shipments" */
	long long next_ms; /* when it looks next (monotonic) */
	bool idle;         /* the last look found nothing due */
};

/* Looks when it is time; returns the ms until it wants to be called again. */
int duetimer_tick(struct duetimer *t);

/* A row falls due within ms from now: the timer looks by then at the latest. */
void duetimer_within(struct duetimer *t, long long ms);

#endif
