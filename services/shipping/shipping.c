#include "shipping.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "event.h"
#include "log.h"

#define SHIPPING_TICK_BATCH  500  /* due shipments advanced per transaction */
#define SHIPPING_TICK_ROUNDS 8    /* transactions per tick while full ones come back */
#define SHIPPING_TICK_MS     10   /* how often the tick looks while shipments are due */
#define SHIPPING_IDLE_MS     5000 /* the longest it sleeps: shipments of other instances */

bool shipping_carrier_accepts(const struct shipping_ctx *c, const char *address)
{
	if (strstr(address, "undeliverable"))
		return false;
	return !(c->failure_rate > 0 && (double)rand() / RAND_MAX < c->failure_rate);
}

/* OrderConfirmed: one shipment per order, handed to the carrier by the tick. */
static int on_confirmed(void *arg, PGconn *tx, const struct consumed *ev, char *errstr, size_t size)
{
	struct shipping_ctx *c = arg;
	const json_t *r = ev->record;
	const char *order_id = event_str(r, "order_id");
	char shipment_id[40], *cause;
	PGresult *res = NULL;
	int rc;

	if (!order_id || !event_str(r, "shipping_address") || !event_str(r, "customer_id")) {
		snprintf(errstr, size, "OrderConfirmed without order_id, customer or address");
		return ERR_INVALID;
	}
	event_uuid(shipment_id);
	cause = json_dumps(json_object_get(r, "metadata"), JSON_COMPACT);
	{
		const char *p[6] = {shipment_id,
		                    order_id,
		                    event_str(r, "customer_id"),
		                    event_str(r, "shipping_address"),
		                    event_meta(r, "correlation_id"),
		                    cause};

		rc = db_exec(tx,
		             "INSERT INTO shipments (shipment_id, order_id, customer_id,"
		             " shipping_address, status, correlation_id, cause_event)"
		             " VALUES ($1, $2, $3, $4, 'CREATED', $5, $6::jsonb)"
		             " ON CONFLICT (order_id) DO NOTHING",
		             6, p, &res, errstr, size);
	}
	free(cause);
	if (rc < 0 || strcmp(PQcmdTuples(res), "1") != 0) {
		PQclear(res);
		return rc; /* at most one shipment per order */
	}
	PQclear(res);
	/* Due at once: the tick looks again within SHIPPING_TICK_MS of its last look. */
	if (c->next_tick_ms > c->last_tick_ms + SHIPPING_TICK_MS)
		c->next_tick_ms = c->last_tick_ms + SHIPPING_TICK_MS;
	return outbox_emit(
	        c->outbox, tx, "ShipmentCreated",
	        json_pack("{s:s, s:s}", "order_id", order_id, "shipment_id", shipment_id), r,
	        errstr, size);
}

const struct dbapply_handler shipping_handlers[] = {
        {"OrderConfirmed", on_confirmed},
        {NULL, NULL},
};

/* Emits a shipping event caused by the stored OrderConfirmed metadata. */
static int emit(struct shipping_ctx *c, PGconn *tx, const char *type, json_t *fields,
                const char *cause_meta, char *errstr, size_t size)
{
	json_t *cause = json_pack("{s:o}", "metadata", json_loads(cause_meta, 0, NULL));
	int rc = outbox_emit(c->outbox, tx, type, fields, cause, errstr, size);

	json_decref(cause);
	return rc;
}

/* Advances due shipment i of rows (locked by the caller's transaction). */
static int advance(struct shipping_ctx *c, PGconn *tx, PGresult *rows, int i, char *errstr,
                   size_t size)
{
	const char *shipment_id = PQgetvalue(rows, i, 0);
	const char *order_id = PQgetvalue(rows, i, 1);
	const char *address = PQgetvalue(rows, i, 2);
	const char *status = PQgetvalue(rows, i, 3);
	int attempts = (int)strtol(PQgetvalue(rows, i, 4), NULL, 10);
	const char *cause = PQgetvalue(rows, i, 5);
	char n[24], delay[24];
	bool ok;
	int rc;

	if (!strcmp(status, "DISPATCHED")) {
		const char *p[1] = {shipment_id};

		rc = db_exec(tx,
		             "UPDATE shipments SET status = 'DELIVERED', updated_at = now() WHERE"
		             " shipment_id = $1",
		             1, p, NULL, errstr, size);
		return rc < 0 ? rc
		              : emit(c, tx, "ShipmentDelivered",
		                     json_pack("{s:s, s:s}", "order_id", order_id, "shipment_id",
		                               shipment_id),
		                     cause, errstr, size);
	}
	ok = shipping_carrier_accepts(c, address);
	attempts++;
	snprintf(n, sizeof(n), "%d", attempts);
	{
		const char *p[4] = {shipment_id, n, ok ? "true" : "false",
		                    ok ? "accepted" : "carrier refused the parcel"};

		rc = db_exec(tx,
		             "INSERT INTO carrier_attempts (shipment_id, attempt, ok, detail)"
		             " VALUES ($1, $2, $3, $4)",
		             4, p, NULL, errstr, size);
		if (rc < 0)
			return rc;
	}
	if (ok) {
		const char *p[3] = {shipment_id, n, delay};

		snprintf(delay, sizeof(delay), "%ld", c->delivery_delay_ms);
		rc = db_exec(tx,
		             "UPDATE shipments SET status = 'DISPATCHED', attempts = $2,"
		             " next_attempt_at = now() + $3::int * interval '1 millisecond',"
		             " updated_at = now() WHERE shipment_id = $1",
		             3, p, NULL, errstr, size);
		return rc < 0 ? rc
		              : emit(c, tx, "ShipmentDispatched",
		                     json_pack("{s:s, s:s, s:s, s:i}", "order_id", order_id,
		                               "shipment_id", shipment_id, "carrier", "simulated",
		                               "attempts", attempts),
		                     cause, errstr, size);
	}
	if (attempts >= c->max_attempts) {
		const char *p[2] = {shipment_id, n};

		struct log_fields f = {.order_id = order_id};

		LOGX(WARN, &f, "shipment %s for order %s failed for good after %d attempts",
		     shipment_id, order_id, attempts);
		rc = db_exec(
		        tx,
		        "UPDATE shipments SET status = 'FAILED', attempts = $2, updated_at = now()"
		        " WHERE shipment_id = $1",
		        2, p, NULL, errstr, size);
		return rc < 0 ? rc
		              : emit(c, tx, "ShipmentFailed",
		                     json_pack("{s:s, s:s, s:s, s:i}", "order_id", order_id,
		                               "shipment_id", shipment_id, "reason",
		                               "CARRIER_REFUSED", "attempts", attempts),
		                     cause, errstr, size);
	}
	{
		const char *p[3] = {shipment_id, n, delay};

		snprintf(delay, sizeof(delay), "%d",
		         clock_backoff_ms(attempts, (int)c->backoff_ms, (int)c->backoff_ms * 64));
		return db_exec(tx,
		               "UPDATE shipments SET attempts = $2,"
		               " next_attempt_at = now() + $3::int * interval '1 millisecond',"
		               " updated_at = now() WHERE shipment_id = $1",
		               3, p, NULL, errstr, size);
	}
}

/* Advances up to SHIPPING_TICK_BATCH due shipments in one transaction;
 * returns how many, or an error (logged, retried at a later tick). */
static int advance_due(struct shipping_ctx *c)
{
	char errstr[512], limit[16];
	PGresult *rows = NULL;
	PGconn *tx;
	int rc, n = 0;

	tx = db_conn(c->db, &rc, errstr, sizeof(errstr));
	if (!tx)
		return rc;
	snprintf(limit, sizeof(limit), "%d", SHIPPING_TICK_BATCH);
	rc = db_exec(tx, "BEGIN", 0, NULL, NULL, errstr, sizeof(errstr));
	if (rc == 0)
		rc = db_exec(
		        tx,
		        "SELECT shipment_id, order_id, shipping_address, status, attempts,"
		        " cause_event::text FROM shipments"
		        " WHERE status IN ('CREATED', 'DISPATCHED') AND next_attempt_at <= now()"
		        " ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED",
		        1, (const char *const[]){limit}, &rows, errstr, sizeof(errstr));
	if (rc == 0)
		n = PQntuples(rows);
	outbox_batch_begin(c->outbox, tx);
	for (int i = 0; rc == 0 && i < n; i++)
		rc = advance(c, tx, rows, i, errstr, sizeof(errstr));
	PQclear(rows);
	if (rc == 0 && n > 0)
		rc = outbox_batch_flush(c->outbox, errstr, sizeof(errstr));
	if (rc == 0 && n > 0)
		rc = db_exec(tx, "COMMIT", 0, NULL, NULL, errstr, sizeof(errstr));
	if (rc < 0 || n == 0) {
		outbox_batch_discard(c->outbox);
		PQclear(PQexec(tx, "ROLLBACK"));
	}
	if (rc < 0)
		LOG(WARN, "could not advance shipments, will retry: %s", errstr);
	return rc < 0 ? rc : n;
}

/* Milliseconds until the next shipment falls due (0: one is due now), or
 * SHIPPING_IDLE_MS when none waits or the database cannot say. */
static long long until_next_due(struct shipping_ctx *c)
{
	char errstr[512];
	PGresult *res = NULL;
	PGconn *conn;
	long long ms = SHIPPING_IDLE_MS;
	int rc;

	conn = db_conn(c->db, &rc, errstr, sizeof(errstr));
	if (conn && db_exec(conn,
	                    "SELECT ceil(extract(epoch FROM min(next_attempt_at) - now()) * 1000)"
	                    " FROM shipments WHERE status IN ('CREATED', 'DISPATCHED')",
	                    0, NULL, &res, errstr, sizeof(errstr)) == 0) {
		if (!PQgetisnull(res, 0, 0))
			ms = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
	}
	return ms < 0 ? 0 : ms > SHIPPING_IDLE_MS ? SHIPPING_IDLE_MS : ms;
}

int shipping_tick(void *arg)
{
	struct shipping_ctx *c = arg;
	long long now = clock_mono_ms();

	if (now < c->next_tick_ms)
		return (int)(c->next_tick_ms - now);
	c->last_tick_ms = now;
	c->next_tick_ms = now + SHIPPING_TICK_MS;
	if (c->idle) {
		/* Nothing was due last time: one cheap look decides whether to sleep on. */
		long long wait = until_next_due(c);

		if (wait > SHIPPING_TICK_MS) {
			c->next_tick_ms = now + wait;
			return (int)wait;
		}
		c->idle = false;
	}
	/* A backlog is worked off here rather than a batch per consumer poll. */
	for (int round = 0; round < SHIPPING_TICK_ROUNDS; round++) {
		int n = advance_due(c);

		c->idle = n == 0;
		if (n < SHIPPING_TICK_BATCH)
			return SHIPPING_TICK_MS;
	}
	c->next_tick_ms = now; /* more are due */
	return 0;
}
