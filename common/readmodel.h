/*
 * readmodel.h - the layout of the gateway's Redis, in one place: the
 * gateway writes and reads it, its projector keeps it, check-invariants
 * compares it with the databases. Each name is a format for the key (with
 * %s for an id), to be pasted into a command: "HGETALL " READMODEL_ORDER.
 */
#ifndef COMMON_READMODEL_H
#define COMMON_READMODEL_H

/* Hash: status (+ status_rank), total_cents, payment_status,
 * inventory_status, shipment_status, cancellation (each + <field>_rank),
 * cancel_reason.
 * A finished order's record (and its history) expires READMODEL_TTL_S after
 * the last event applied to it (occurred_at + TTL, so a rebuild from the
 * topics ends with the same expiry); an event whose own time + TTL has
 * passed is not applied (it would bring an expired order back as PENDING). */
#define READMODEL_ORDER "order:%s"
/* List: one {"event","event_id","at","producer","causation_id"} entry per
 * event applied to the order (the last two since the page at /ui/). */
#define READMODEL_HISTORY "order:%s:history"
/* Sorted set: the ids of the orders the gateway answered 202 for, scored by
 * the time (s) of that answer; members older than the TTL are trimmed. */
#define READMODEL_ACCEPTED "orders:accepted-at"
/* Sorted set, all scores 0, of one customer's orders newest first in
 * lexical order: members READMODEL_CUSTOMER_ENTRY (the request's time in ms
 * counted down from READMODEL_TIME_MAX, 13 digits, then the order id); the
 * cursor of GET /v1/orders?customer_id= is a member. Entries older than the
 * TTL are trimmed when the customer orders again; the set expires after the
 * customer's last order (+ twice the TTL). */
#define READMODEL_CUSTOMER       "orders:customer:%s"
#define READMODEL_CUSTOMER_ENTRY "%013lld:%s"
#define READMODEL_TIME_MAX       9999999999999LL
/* Sorted set like READMODEL_CUSTOMER of everyone's orders, the newest
 * READMODEL_RECENT_MAX only: GET /v1/orders without a customer_id. */
#define READMODEL_RECENT     "orders:recent"
#define READMODEL_RECENT_MAX 1000
/* Hash: state -> how many orders the read model has seen in it (PENDING,
 * CONFIRMED, COMPLETED, CANCELLED; finished ones stay counted after their
 * record expired). */
#define READMODEL_BY_STATUS "orders:by-status"
/* Sorted set: the orders not yet finished, scored by their request's time
 * (ms); the first is the oldest. */
#define READMODEL_OPEN "orders:open"
/* The TTL's default, in seconds (the gateway's READMODEL_TTL_S). */
#define READMODEL_TTL_DEFAULT "86400"
/* Hash: name, price_cents, currency, available of one product. */
#define READMODEL_PRODUCT "product:%s"
/* Sorted set: every product id (the catalogue's order). */
#define READMODEL_PRODUCTS "products"
/* Hash: "topic:partition" -> the next offset the projector applies. */
#define READMODEL_OFFSETS "readmodel:offsets"
/* The most events the projector applies in one MULTI/EXEC. Redis runs a
 * transaction all at once and every other client waits for it, the
 * gateway's writes as it accepts an order among them: at about 60 us an
 * event, a batch of a few hundred in one transaction held an order's 202
 * up for 10 - 20 ms; 32 hold it up for 2 ms at most. */
#define READMODEL_EXEC_EVENTS 32
/* String: an Idempotency-Key's state (services/gateway/idem.h), per API key
 * (its id, a hash: no key name holds an API key), with the whole
 * Idempotency-Key (the gateway refuses one over IDEM_KEY_MAX characters). */
#define READMODEL_IDEMPOTENCY "idem:%.64s:%s"
/* Counter: one API key's (id's) requests in one second (rate limit). */
#define READMODEL_RATE "rl:%s:%lld"

#endif
