#include "notification.h"

#include <stdio.h>
#include <string.h>

#include "db.h"
#include "event.h"

/* The one list of what customers are told: each event type and its message. */
#define NOTIFICATIONS(X)                                     \
	X("OrderConfirmed", "Your order is confirmed.")      \
	X("OrderCancelled", "Your order was cancelled.")     \
	X("PaymentRefunded", "Your payment was refunded.")   \
	X("ShipmentDispatched", "Your order is on its way.") \
	X("ShipmentDelivered", "Your order was delivered.")  \
	X("CancellationRefused", "Your order had left already: it cannot be cancelled.")

#define MESSAGE_ENTRY(type, text) {type, text},
static const struct {
	const char *type;
	const char *message;
} messages[] = {NOTIFICATIONS(MESSAGE_ENTRY)};

const char *notification_message(const char *event_type)
{
	for (size_t i = 0; i < sizeof(messages) / sizeof(messages[0]); i++)
		if (strcmp(messages[i].type, event_type) == 0)
			return messages[i].message;
	return NULL;
}

static int notify(void *arg, PGconn *tx, const struct consumed *ev, char *errstr, size_t size)
{
	struct notification_ctx *c = arg;
	const char *message = notification_message(ev->type);
	const char *order_id = event_str(ev->record, "order_id");
	const char *customer = event_str(ev->record, "customer_id");
	char id[40];
	PGresult *res = NULL;
	int rc;

	if (!message)
		return 0;
	if (!order_id) {
		snprintf(errstr, size, "%s without order_id", ev->type);
		return ERR_INVALID;
	}
	event_uuid(id);
	{
		const char *p[7] = {id,         ev->event_id, ev->type,
		                    c->channel, order_id,     customer ? customer : "",
		                    message};

		rc = db_exec(tx,
		             "INSERT INTO notifications (notification_id, cause_event_id,"
		             " cause_event_type, channel, order_id, customer_id, message)"
		             " VALUES ($1, $2, $3, $4, $5, $6, $7)"
		             " ON CONFLICT (cause_event_id, channel) DO NOTHING",
		             7, p, &res, errstr, size);
	}
	if (rc < 0 || strcmp(PQcmdTuples(res), "1") != 0) {
		PQclear(res);
		return rc; /* told already */
	}
	PQclear(res);
	return outbox_emit(c->outbox, tx, "NotificationSent",
	                   json_pack("{s:s, s:s, s:s, s:s, s:s}", "order_id", order_id,
	                             "customer_id", customer ? customer : "", "channel", c->channel,
	                             "cause_event_id", ev->event_id, "cause_event_type", ev->type),
	                   ev->record, errstr, size);
}

#define HANDLER_ENTRY(type, text) {type, notify},
const struct dbapply_handler notification_handlers[] = {NOTIFICATIONS(HANDLER_ENTRY){NULL, NULL}};
