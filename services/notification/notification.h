/*
 * notification.h - the notification service's domain logic: tell the
 * customer about confirmed, cancelled, refunded, dispatched and delivered
 * orders, once per (cause event, channel), and record each as
 * NotificationSent. Sends are batched: one consumer batch, one transaction.
 */
#ifndef NOTIFICATION_NOTIFICATION_H
#define NOTIFICATION_NOTIFICATION_H

#include "dbapply.h"
#include "outbox.h"

struct notification_ctx {
	struct outbox *outbox;
	const char *channel; /* e.g. "email" */
};

/* The message for an event type, or NULL when customers are not told about it. */
const char *notification_message(const char *event_type);

/* The events the service applies, each with its handler (ctx: struct notification_ctx). */
extern const struct dbapply_handler notification_handlers[];

#endif
