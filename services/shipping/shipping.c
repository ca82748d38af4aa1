#include "shipping.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "event.h"
#include "log.h"

#define SHIPPING_TICK_BATCH 500 /* due shipments advanced per transaction */

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
	duetimer_within(&c->timer, 0); /* due at once */
	return outbox_emit(
	        c->outbox, tx, "ShipmentCreated",
	        json_pack("{s:s, s:s}", "order_id", order_id, "shipment_id", shipment_id), r,
	        errstr, size);
}

/*
 * OrderCancelling: the customer cancels a confirmed order. A shipment that
 * has not left is stopped (ShipmentCancelled); one that has left goes on,
 * and the order, which sees its ShipmentDispatched, refuses the
 * cancellation. The row lock orders this against the tick's dispatch, so
 * exactly one of the two happens.
 */
static int on_cancelling(void *arg, PGconn *tx, const struct consumed *ev, char *errstr,
                         size_t size)
{
	struct shipping_ctx *c = arg;
	const char *order_id = event_str(ev->record, "order_id");
	PGresult *res = NULL;
	json_t *shipment_id;
	int rc;

	if (!order_id) {
		snprintf(errstr, size, "OrderCancelling without order_id");
		return ERR_INVALID;
	}
	rc = db_exec(tx, "SELECT shipment_id, status FROM shipments WHERE order_id = $1 FOR UPDATE",
	             1, (const char *const[]){order_id}, &res, errstr, size);
	if (rc < 0)
		return rc;
	if (PQntuples(res) > 0 && strcmp(PQgetvalue(res, 0, 1), "CREATED") != 0) {
		PQclear(res); /* it left, failed or was stopped already: its own event says so */
		return 0;
	}
	if (PQntuples(res) > 0)
		rc = db_exec(tx,
		             "UPDATE shipments SET status = 'CANCELLED', updated_at = now()"
		             " WHERE shipment_id = $1",
		             1, (const char *const[]){PQgetvalue(res, 0, 0)}, NULL, errstr, size);
	if (rc < 0) {
		PQclear(res);
		return rc;
	}
	/* No shipment yet (its OrderConfirmed went to the dead letters) or one stopped now. */
	shipment_id = PQntuples(res) > 0 ? json_string(PQgetvalue(res, 0, 0)) : json_null();
	PQclear(res);
	return outbox_emit(
	        c->outbox, tx, "ShipmentCancelled",
	        json_pack("{s:s, s:o}", "order_id", order_id, "shipment_id", shipment_id),
	        ev->record, errstr, size);
}

const struct dbapply_handler shipping_handlers[] = {
        {"OrderConfirmed", on_confirmed},
        {"OrderCancelling", on_cancelling},
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
static int advance(void *arg, PGconn *tx, const PGresult *rows, int i, char *errstr, size_t size)
{
	struct shipping_ctx *c = arg;
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

void shipping_init(struct shipping_ctx *c)
{
	c->timer = (struct duetimer){
	        .db = c->db,
	        .outbox = c->outbox,
	        .due_sql = "SELECT shipment_id, order_id, shipping_address, status, attempts,"
	                   " cause_event::text FROM shipments"
	                   " WHERE status IN ('CREATED', 'DISPATCHED') AND next_attempt_at <= now()"
	                   " ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED",
	        .next_sql = "SELECT ceil(extract(epoch FROM min(next_attempt_at) - now()) * 1000)"
	                    " FROM shipments WHERE status IN ('CREATED', 'DISPATCHED')",
	        .each = advance,
	        .ctx = c,
	        .batch = SHIPPING_TICK_BATCH,
	        .what = "advance shipments"};
}

int shipping_tick(void *arg)
{
	return duetimer_tick(&((struct shipping_ctx *)arg)->timer);
}
