#include "outbox.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "event.h"

#define OUTBOX_FLUSH_ROWS 500 /* rows per INSERT at a flush */

/* An encoded event waiting for the flush. */
struct pending {
	char *topic, *key, *headers;
	unsigned char *payload;
	size_t len;
};

struct outbox {
	const struct codec *codec;
	const char *producer;
	PGconn *batch_tx; /* events added on this transaction wait in rows */
	struct pending *rows;
	size_t n, cap;
};

int outbox_new(struct outbox **out, const struct outbox_cfg *cfg)
{
	struct outbox *ob = calloc(1, sizeof(*ob));

	*out = NULL;
	if (!ob)
		return ERR_NOMEM;
	ob->codec = cfg->codec;
	ob->producer = cfg->producer;
	*out = ob;
	return 0;
}

void outbox_free(struct outbox *ob)
{
	if (!ob)
		return;
	outbox_batch_discard(ob);
	free(ob->rows);
	free(ob);
}

void outbox_batch_begin(struct outbox *ob, PGconn *tx)
{
	outbox_batch_discard(ob);
	ob->batch_tx = tx;
}

void outbox_batch_discard(struct outbox *ob)
{
	if (!ob)
		return;
	for (size_t i = 0; i < ob->n; i++) {
		free(ob->rows[i].topic);
		free(ob->rows[i].key);
		free(ob->rows[i].headers);
		free(ob->rows[i].payload);
	}
	ob->n = 0;
	ob->batch_tx = NULL;
}

/* Keeps an encoded event for the flush; takes headers and payload. */
static int keep(struct outbox *ob, const char *topic, const char *key, char *headers,
                unsigned char *payload, size_t len)
{
	struct pending *p;

	if (ob->n == ob->cap) {
		size_t cap = ob->cap ? ob->cap * 2 : 64;
		struct pending *grown = realloc(ob->rows, cap * sizeof(*grown));

		if (!grown)
			return ERR_NOMEM;
		ob->rows = grown;
		ob->cap = cap;
	}
	p = &ob->rows[ob->n];
	*p = (struct pending){strdup(topic), strdup(key), headers, payload, len};
	if (!p->topic || !p->key) {
		free(p->topic);
		free(p->key);
		return ERR_NOMEM;
	}
	ob->n++;
	return 0;
}

static void put_be32(unsigned char *at, uint32_t v)
{
	at[0] = (unsigned char)(v >> 24);
	at[1] = (unsigned char)(v >> 16);
	at[2] = (unsigned char)(v >> 8);
	at[3] = (unsigned char)v;
}

/* The binary form of a one-dimensional bytea[] of the payloads. */
static unsigned char *payload_array(const struct pending *rows, size_t n, int *size)
{
	size_t total = 20;
	unsigned char *a, *at;

	for (size_t i = 0; i < n; i++)
		total += 4 + rows[i].len;
	if (total > INT32_MAX || !(a = malloc(total)))
		return NULL;
	put_be32(a, 1);      /* dimensions */
	put_be32(a + 4, 0);  /* no NULLs */
	put_be32(a + 8, 17); /* element type: bytea */
	put_be32(a + 12, (uint32_t)n);
	put_be32(a + 16, 1); /* lower bound */
	at = a + 20;
	for (size_t i = 0; i < n; i++) {
		put_be32(at, (uint32_t)rows[i].len);
		memcpy(at + 4, rows[i].payload, rows[i].len);
		at += 4 + rows[i].len;
	}
	*size = (int)total;
	return a;
}

/* One INSERT of n kept rows, in order. */
static int write_rows(PGconn *tx, const struct pending *rows, size_t n, char *why, size_t size)
{
	const char **cells = malloc(n * 3 * sizeof(*cells));
	char *lit[3] = {NULL, NULL, NULL};
	unsigned char *payloads = NULL;
	int payloads_len = 0, rc = ERR_NOMEM;

	if (!cells)
		goto out;
	for (size_t i = 0; i < n; i++) {
		cells[i * 3] = rows[i].topic;
		cells[i * 3 + 1] = rows[i].key;
		cells[i * 3 + 2] = rows[i].headers ? rows[i].headers : "";
	}
	if (db_array_literals(cells, n, 3, lit) < 0)
		goto out;
	payloads = payload_array(rows, n, &payloads_len);
	if (!payloads)
		goto out;
	rc = db_query(tx,
	              "INSERT INTO outbox (topic, key, headers, payload)"
	              " SELECT u.topic, u.key, u.headers, u.payload"
	              " FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[])"
	              " WITH ORDINALITY AS u(topic, key, headers, payload, n) ORDER BY u.n",
	              4, (const char *const[]){lit[0], lit[1], lit[2], (const char *)payloads},
	              (const int[]){0, 0, 0, payloads_len}, (const int[]){0, 0, 0, 1}, 0, NULL, why,
	              size);
out:
	if (rc == ERR_NOMEM)
		snprintf(why, size, "out of memory");
	free(payloads);
	for (int k = 0; k < 3; k++)
		free(lit[k]);
	free(cells);
	return rc;
}

int outbox_batch_flush(struct outbox *ob, char *errstr, size_t errstr_size)
{
	char why[400];
	int rc = 0;

	for (size_t at = 0; rc == 0 && at < ob->n; at += OUTBOX_FLUSH_ROWS) {
		size_t n = ob->n - at < OUTBOX_FLUSH_ROWS ? ob->n - at : OUTBOX_FLUSH_ROWS;

		rc = write_rows(ob->batch_tx, ob->rows + at, n, why, sizeof(why));
	}
	if (rc < 0)
		snprintf(errstr, errstr_size, "could not insert into the outbox: %s", why);
	outbox_batch_discard(ob);
	return rc;
}

char *outbox_event_headers(const char *type, const json_t *record)
{
	char *h = outbox_header_append(NULL, "event-type", type);

	if (h)
		h = outbox_header_append(h, "event-id", event_meta(record, "event_id"));
	if (h && event_meta(record, "traceparent"))
		h = outbox_header_append(h, "traceparent", event_meta(record, "traceparent"));
	return h;
}

char *outbox_header_append(char *block, const char *name, const char *value)
{
	size_t old = block ? strlen(block) : 0;
	size_t add = strlen(name) + strlen(value) + 3;
	char *grown = realloc(block, old + add + 1);

	if (!grown) {
		free(block);
		return NULL;
	}
	snprintf(grown + old, add + 1, "%s: %s\n", name, value);
	for (char *p = grown + old + strlen(name) + 2; p < grown + old + add - 1; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	return grown;
}

int outbox_add_raw(PGconn *tx, const char *topic, const char *key, const char *headers,
                   const void *payload, size_t len, char *errstr, size_t errstr_size)
{
	const char *values[4] = {topic, key, headers ? headers : "", payload};
	int lengths[4] = {0, 0, 0, (int)len};
	int formats[4] = {0, 0, 0, 1};
	char why[400];
	int rc = db_query(
	        tx, "INSERT INTO outbox (topic, key, headers, payload) VALUES ($1, $2, $3, $4)", 4,
	        values, lengths, formats, 0, NULL, why, sizeof(why));

	if (rc < 0)
		snprintf(errstr, errstr_size, "could not insert into the outbox: %s", why);
	return rc;
}

int outbox_add(struct outbox *ob, PGconn *tx, const char *type, json_t *fields, const json_t *cause,
               const char *correlation_id, const char *traceparent, const char *topic,
               char *event_id, char *errstr, size_t errstr_size)
{
	const char *key_field = codec_key_field(ob->codec, type);
	const char *key;
	json_t *meta;
	unsigned char *payload = NULL;
	size_t len;
	char *headers = NULL;
	int rc = ERR_INVALID;

	if (!topic)
		topic = codec_topic(ob->codec, type);
	key = key_field ? event_str(fields, key_field) : NULL;
	if (!topic || !key) {
		snprintf(errstr, errstr_size, "event %s has no topic or no key", type);
		goto out;
	}
	meta = event_metadata(ob->producer, cause, correlation_id, traceparent);
	if (!meta) {
		rc = ERR_NOMEM;
		goto out;
	}
	json_object_set_new(fields, "metadata", meta);
	rc = codec_encode(ob->codec, type, fields, &payload, &len, errstr, errstr_size);
	if (rc < 0)
		goto out;
	headers = outbox_event_headers(type, fields);
	if (!headers) {
		rc = ERR_NOMEM;
		goto out;
	}
	if (ob->batch_tx && ob->batch_tx == tx) {
		rc = keep(ob, topic, key, headers, payload, len);
		if (rc == 0) {
			headers = NULL; /* kept until the flush */
			payload = NULL;
		} else {
			snprintf(errstr, errstr_size, "out of memory");
		}
	} else {
		rc = outbox_add_raw(tx, topic, key, headers, payload, len, errstr, errstr_size);
	}
	if (rc == 0 && event_id)
		snprintf(event_id, 37, "%s", event_meta(fields, "event_id"));
out:
	free(headers);
	free(payload);
	json_decref(fields);
	return rc;
}

int outbox_emit(struct outbox *ob, PGconn *tx, const char *type, json_t *fields,
                const json_t *cause, char *errstr, size_t errstr_size)
{
	return outbox_add(ob, tx, type, fields, cause, NULL, NULL, NULL, NULL, errstr, errstr_size);
}
