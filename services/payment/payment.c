#include "payment.h"

#include <stdio.h>
#include <string.h>

#include "db.h"
#include "event.h"

/* A hash of the seed and the order id (FNV-1a, then mixed), mapped to [0, 1). */
static double chance(unsigned long long seed, const char *order_id)
{
	unsigned long long h = 1469598103934665603ULL ^ seed;

	for (const unsigned char *p = (const unsigned char *)order_id; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	/* Mix, so that ids differing in their last characters spread evenly. */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return (double)(h >> 11) / 9007199254740992.0;
}

const char *payment_decline_reason(const struct payment_ctx *c, const char *customer_id,
                                   long long total_cents, const char *order_id)
{
	if (strncmp(customer_id, "declined-", 9) == 0)
		return "CARD_DECLINED";
	if (total_cents > c->limit_cents)
		return "LIMIT_EXCEEDED";
	if (c->decline_rate > 0 && chance(c->seed, order_id) < c->decline_rate)
		return "RANDOM_DECLINE";
	return NULL;
}

static int on_created(void *arg, PGconn *tx, const struct consumed *ev, char *errstr, size_t size)
{
	struct payment_ctx *c = arg;
	const json_t *r = ev->record;
	const char *order_id = event_str(r, "order_id");
	const char *customer = event_str(r, "customer_id");
	const char *currency = event_str(r, "currency");
	long long total = event_int(r, "total_cents");
	const char *reason;
	char payment_id[40], amount[32];
	PGresult *res = NULL;
	int rc;

	if (!order_id || !customer || !currency) {
		snprintf(errstr, size, "OrderCreated without order_id, customer_id or currency");
		return ERR_INVALID;
	}
	reason = payment_decline_reason(c, customer, total, order_id);
	event_uuid(payment_id);
	snprintf(amount, sizeof(amount), "%lld", total);
	{
		const char *p[7] = {payment_id, order_id, customer,
		                    amount,     currency, reason ? "DECLINED" : "CHARGED",
		                    reason};

		rc = db_exec(
		        tx,
		        "INSERT INTO payments (payment_id, order_id, customer_id, amount_cents,"
		        " currency, status, decline_reason) VALUES ($1, $2, $3, $4, $5, $6, $7)"
		        " ON CONFLICT (order_id) DO NOTHING",
		        7, p, &res, errstr, size);
	}
	if (rc < 0)
		return rc;
	if (strcmp(PQcmdTuples(res), "1") != 0) {
		PQclear(res); /* this order was handled already */
		return 0;
	}
	PQclear(res);
	if (reason)
		return outbox_emit(c->outbox, tx, "PaymentFailed",
		                   json_pack("{s:s, s:s}", "order_id", order_id, "reason", reason),
		                   r, errstr, size);
	return outbox_emit(c->outbox, tx, "PaymentProcessed",
	                   json_pack("{s:s, s:s, s:I, s:s}", "order_id", order_id, "payment_id",
	                             payment_id, "amount_cents", (json_int_t)total, "currency",
	                             currency),
	                   r, errstr, size);
}

/* OrderCancelled: refund a charge this service made; otherwise nothing. */
static int on_cancelled(void *arg, PGconn *tx, const struct consumed *ev, char *errstr, size_t size)
{
	struct payment_ctx *c = arg;
	const char *order_id = event_str(ev->record, "order_id");
	const char *p[1] = {order_id};
	PGresult *res = NULL;
	char refund_id[40];
	int rc;

	rc = db_exec(tx,
	             "UPDATE payments SET status = 'REFUNDED', updated_at = now()"
	             " WHERE order_id = $1 AND status = 'CHARGED'"
	             " RETURNING payment_id, amount_cents, currency",
	             1, p, &res, errstr, size);
	if (rc < 0 || PQntuples(res) == 0) {
		PQclear(res);
		return rc;
	}
	event_uuid(refund_id);
	{
		const char *q[3] = {refund_id, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1)};

		rc = db_exec(tx,
		             "INSERT INTO refunds (refund_id, payment_id, amount_cents) VALUES "
		             "($1, $2, $3)",
		             3, q, NULL, errstr, size);
	}
	if (rc == 0)
		rc = outbox_emit(c->outbox, tx, "PaymentRefunded",
		                 json_pack("{s:s, s:s, s:I, s:s}", "order_id", order_id,
		                           "payment_id", PQgetvalue(res, 0, 0), "amount_cents",
		                           (json_int_t)strtoll(PQgetvalue(res, 0, 1), NULL, 10),
		                           "currency", PQgetvalue(res, 0, 2)),
		                 ev->record, errstr, size);
	PQclear(res);
	return rc;
}

const struct dbapply_handler payment_handlers[] = {
        {"OrderCreated", on_created},
        {"OrderCancelled", on_cancelled},
        {NULL, NULL},
};
