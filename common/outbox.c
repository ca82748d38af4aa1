#include "outbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "event.h"

struct outbox {
	const struct codec *codec;
	const char *producer;
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
	free(ob);
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
	PGresult *r;
	int rc = 0;

	r = PQexecParams(
	        tx, "INSERT INTO outbox (topic, key, headers, payload) VALUES ($1, $2, $3, $4)", 4,
	        NULL, values, lengths, formats, 0);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		snprintf(errstr, errstr_size, "could not insert into the outbox: %s",
		         PQresultErrorMessage(r));
		rc = db_classify(tx, r);
	}
	PQclear(r);
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
	headers = outbox_header_append(NULL, "event-type", type);
	if (headers)
		headers = outbox_header_append(headers, "event-id", event_meta(fields, "event_id"));
	if (headers && event_meta(fields, "traceparent"))
		headers = outbox_header_append(headers, "traceparent",
		                               event_meta(fields, "traceparent"));
	if (!headers) {
		rc = ERR_NOMEM;
		goto out;
	}
	rc = outbox_add_raw(tx, topic, key, headers, payload, len, errstr, errstr_size);
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
