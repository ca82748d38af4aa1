#include "duetimer.h"

#include <stdio.h>
#include <stdlib.h>

#include "clock.h"
#include "log.h"

void duetimer_within(struct duetimer *t, long long ms)
{
	long long at = clock_mono_ms() + (ms < DUETIMER_BUSY_MS ? DUETIMER_BUSY_MS : ms);

	if (t->next_ms > at)
		t->next_ms = at;
}

/* Milliseconds until the next row falls due (<= 0: now), at most DUETIMER_IDLE_MS. */
static long long until_due(struct duetimer *t)
{
	char errstr[512];
	PGresult *res = NULL;
	long long ms = DUETIMER_IDLE_MS;
	PGconn *conn;
	int rc;

	conn = db_conn(t->db, &rc, errstr, sizeof(errstr));
	if (!conn)
		return ms;
	if (db_exec(conn, t->next_sql, 0, NULL, &res, errstr, sizeof(errstr)) < 0) {
		LOG(WARN, "could not %s: %s", t->what, errstr);
		return ms;
	}
	if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
		ms = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	if (t->looked)
		t->looked(t->ctx, res);
	PQclear(res);
	return ms > DUETIMER_IDLE_MS ? DUETIMER_IDLE_MS : ms;
}

/* Works through up to t->batch due rows in one transaction; how many, or an
 * error (logged; a later look retries). */
static int advance(struct duetimer *t)
{
	char errstr[512], limit[16];
	PGresult *rows = NULL;
	PGconn *tx;
	int rc, n = 0;

	tx = db_conn(t->db, &rc, errstr, sizeof(errstr));
	if (!tx)
		return rc;
	snprintf(limit, sizeof(limit), "%d", t->batch);
	rc = db_exec(tx, "BEGIN", 0, NULL, NULL, errstr, sizeof(errstr));
	if (rc == 0)
		rc = db_exec(tx, t->due_sql, 1, (const char *const[]){limit}, &rows, errstr,
		             sizeof(errstr));
	if (rc == 0)
		n = PQntuples(rows);
	outbox_batch_begin(t->outbox, tx);
	for (int i = 0; rc == 0 && i < n; i++)
		rc = t->each(t->ctx, tx, rows, i, errstr, sizeof(errstr));
	PQclear(rows);
	if (rc == 0 && n > 0)
		rc = outbox_batch_flush(t->outbox, errstr, sizeof(errstr));
	if (rc == 0 && n > 0)
		rc = db_exec(tx, "COMMIT", 0, NULL, NULL, errstr, sizeof(errstr));
	if (rc < 0 || n == 0) {
		outbox_batch_discard(t->outbox);
		PQclear(PQexec(tx, "ROLLBACK"));
	}
	if (rc < 0)
		LOG(WARN, "could not %s, will retry: %s", t->what, errstr);
	return rc < 0 ? rc : n;
}

int duetimer_tick(struct duetimer *t)
{
	long long now = clock_mono_ms();

	if (now < t->next_ms)
		return (int)(t->next_ms - now);
	t->next_ms = now + DUETIMER_BUSY_MS;
	if (t->idle) {
		/* Nothing was due last time: one cheap look decides whether to sleep on. */
		long long wait = until_due(t);

		if (wait > DUETIMER_BUSY_MS) {
			t->next_ms = now + wait;
			return (int)wait;
		}
		t->idle = false;
	}
	/* A backlog is worked off here rather than a batch per consumer poll. */
	for (int round = 0; round < DUETIMER_ROUNDS; round++) {
		int n = advance(t);

		t->idle = n == 0;
		if (n < t->batch)
			return DUETIMER_BUSY_MS;
	}
	t->next_ms = now; /* more are due */
	return 0;
}
