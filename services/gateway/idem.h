/*
 * idem.h - the Idempotency-Key state machine of POST /v1/orders.
 *
 * A key is bound to its order before anything is published: the first
 * request stores PENDING with the body's hash, the order id and the id of
 * the OrderRequested event. A publication whose outcome is unknown (a
 * timeout: the broker may still have the event) leaves the key PENDING, and
 * a retry with the same key and body publishes the same order id and event
 * id again, which the order service applies once. Only the broker's
 * acknowledgement moves the key to DONE. One key never yields two orders,
 * and a key left PENDING by a crash is resolved by the next retry.
 *
 * Redis value: "pending:<hash>:<order id>:<event id>" or
 * "done:<hash>:<order id>", under "idem:<api key>:<Idempotency-Key>".
 */
#ifndef GATEWAY_IDEM_H
#define GATEWAY_IDEM_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "redis.h"

enum idem_state {
	IDEM_NEW,      /* the key was free: now PENDING with the proposed ids */
	IDEM_PENDING,  /* an earlier request with this body: publish its ids again */
	IDEM_DONE,     /* acknowledged before: answer with its order id */
	IDEM_CONFLICT, /* the key was used with another body */
};

/* The longest Idempotency-Key, in characters (docs/openapi.yaml); in UTF-8
 * at most four bytes each. */
#define IDEM_KEY_MAX 200

struct idem {
	char key[5 + 64 + 1 + 4 * IDEM_KEY_MAX + 1]; /* the Redis key */
	char hash[20];                               /* of the request body */
	char order_id[40]; /* proposed on the way in; the key's own on the way out */
	char event_id[40];
};

/* Whether header is 1 to IDEM_KEY_MAX characters (of at most 4 bytes each). */
bool idem_key_valid(const char *header);

/* The Redis key and body hash of a request (key_id: the API key's id; both
 * borrowed). header is an Idempotency-Key that idem_key_valid accepts. */
void idem_init(struct idem *id, const char *key_id, const char *header, const void *body,
               size_t body_len);

/* Parses a stored value into state, hash and ids; ERR_INVALID when malformed. */
int idem_parse(const char *value, enum idem_state *state, struct idem *id) WARN_UNUSED;

/* Formats the value of state (IDEM_PENDING or IDEM_DONE) into buf. */
void idem_format(const struct idem *id, enum idem_state state, char *buf, size_t size);

/*
 * Claims the key for the request in id (order_id and event_id proposed by
 * the caller): *state says what the key held, and for IDEM_PENDING and
 * IDEM_DONE id's order and event ids become the key's. ERR_RETRY when Redis
 * cannot be asked.
 */
int idem_claim(struct redis_pool *pool, struct idem *id, long ttl_s, enum idem_state *state,
               char *errstr, size_t errstr_size) WARN_UNUSED;

#endif
