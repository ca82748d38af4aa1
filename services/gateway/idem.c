#include "idem.h"

#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "readmodel.h"
#include "schema.h"
#include "utf8.h"

bool idem_key_valid(const char *header)
{
	return utf8_within(header, IDEM_KEY_MAX);
}

void idem_init(struct idem *id, const char *key_id, const char *header, const void *body,
               size_t body_len)
{
	memset(id, 0, sizeof(*id));
	snprintf(id->key, sizeof(id->key), READMODEL_IDEMPOTENCY, key_id, header);
	snprintf(id->hash, sizeof(id->hash), "%016llx",
	         (unsigned long long)schema_crc64(body, body_len));
}

/* Copies the text up to the next ':' (or the end) into out; the rest, or NULL. */
static const char *field(const char *s, char *out, size_t size)
{
	size_t n = strcspn(s, ":");

	if (n == 0 || n >= size)
		return NULL;
	memcpy(out, s, n);
	out[n] = '\0';
	return s[n] == ':' ? s + n + 1 : s + n;
}

int idem_parse(const char *value, enum idem_state *state, struct idem *id)
{
	char word[16];
	const char *s = field(value, word, sizeof(word));

	if (!s)
		return ERR_INVALID;
	if (!strcmp(word, "pending"))
		*state = IDEM_PENDING;
	else if (!strcmp(word, "done"))
		*state = IDEM_DONE;
	else
		return ERR_INVALID;
	if (!(s = field(s, id->hash, sizeof(id->hash))) ||
	    !(s = field(s, id->order_id, sizeof(id->order_id))))
		return ERR_INVALID;
	id->event_id[0] = '\0';
	if (*state == IDEM_PENDING && !field(s, id->event_id, sizeof(id->event_id)))
		return ERR_INVALID;
	return 0;
}

void idem_format(const struct idem *id, enum idem_state state, char *buf, size_t size)
{
	if (state == IDEM_DONE)
		snprintf(buf, size, "done:%s:%s", id->hash, id->order_id);
	else
		snprintf(buf, size, "pending:%s:%s:%s", id->hash, id->order_id, id->event_id);
}

int idem_claim(struct redis_pool *pool, struct idem *id, long ttl_s, enum idem_state *state,
               char *errstr, size_t errstr_size)
{
	char value[160];

	idem_format(id, IDEM_PENDING, value, sizeof(value));
	/* A key that expires between the two commands is claimed on the next round. */
	for (int round = 0; round < 3; round++) {
		redisReply *r = redis_pool_command(pool, errstr, errstr_size, "SET %s %s NX EX %ld",
		                                   id->key, value, ttl_s);
		struct idem held;
		bool fresh;
		int rc;

		if (!r)
			return ERR_RETRY;
		fresh = r->type == REDIS_REPLY_STATUS;
		freeReplyObject(r);
		if (fresh) {
			*state = IDEM_NEW;
			return 0;
		}
		r = redis_pool_command(pool, errstr, errstr_size, "GET %s", id->key);
		if (!r)
			return ERR_RETRY;
		if (r->type == REDIS_REPLY_NIL) {
			freeReplyObject(r);
			continue;
		}
		rc = r->type == REDIS_REPLY_STRING ? idem_parse(r->str, state, &held) : ERR_INVALID;
		freeReplyObject(r);
		if (rc < 0) {
			snprintf(errstr, errstr_size, "unreadable idempotency state under %s",
			         id->key);
			return ERR_FATAL;
		}
		if (strcmp(held.hash, id->hash) != 0) {
			*state = IDEM_CONFLICT;
			return 0;
		}
		snprintf(id->order_id, sizeof(id->order_id), "%s", held.order_id);
		snprintf(id->event_id, sizeof(id->event_id), "%s", held.event_id);
		return 0;
	}
	snprintf(errstr, errstr_size, "the idempotency key kept changing");
	return ERR_RETRY;
}
