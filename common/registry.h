/*
 * registry.h - a client of a Confluent-compatible schema registry (Apicurio
 * Registry's /apis/ccompat/v7, Confluent Schema Registry), for the codec's
 * Confluent framing.
 *
 *   registry_new(&r, "http://127.0.0.1:18081/apis/ccompat/v7", user, pw, ...);
 *   registry_attach(r, codec, ...);   // registers every schema, binds the ids
 *
 * Subjects follow the topic-record-name strategy: "<topic>-<full record
 * name>", e.g. "order-events-saga.order.OrderCreated". Requests authenticate
 * with HTTP basic auth and give up after a few seconds; each opens its own
 * connection, so a registry may be used from several threads at once.
 */
#ifndef COMMON_REGISTRY_H
#define COMMON_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "codec.h"
#include "config.h"
#include "err.h"

/* Where the registry is; url "" for none (single-object encoding). */
struct registry_endpoint {
	char *url;
	char *user;
	char *password;
	bool write; /* false: the registry only for reading */
};

#define REGISTRY_ENDPOINT_VARS(type, field)                                                 \
	CONFIG_STR("SCHEMA_REGISTRY_URL", "", type, field.url,                              \
	           "a Confluent-compatible schema registry's API (e.g. "                    \
	           "http://127.0.0.1:18081/apis/ccompat/v7): events are written in the "    \
	           "Confluent framing; empty: Avro single-object encoding"),                \
	        CONFIG_STR("SCHEMA_REGISTRY_USER", "", type, field.user,                    \
	                   "the registry's user (HTTP basic auth; empty: none)"),           \
	        CONFIG_SECRET("SCHEMA_REGISTRY_PASSWORD", "", type, field.password,         \
	                      "the registry user's password"),                              \
	        CONFIG_BOOL("SCHEMA_REGISTRY_WRITE", "true", type, field.write,             \
	                    "with SCHEMA_REGISTRY_URL: register the schemas and write the " \
	                    "Confluent framing; false: only read it (the first step of a switch)")

struct registry;

/* url: the API's base, e.g. http://host:port/apis/ccompat/v7. user may be
 * "" (no authentication). Nothing is sent yet. */
int registry_new(struct registry **out, const char *url, const char *user, const char *password,
                 char *errstr, size_t errstr_size) WARN_UNUSED;
void registry_free(struct registry *r); /* NULL-safe */

/*
 * Registers schema (JSON text) under subject, or finds it there; *id is its
 * id. ERR_CONFLICT: the subject's compatibility rule refuses it (409);
 * ERR_RETRY: the registry did not answer or failed (5xx); ERR_INVALID:
 * anything else it refused (the reason in errstr).
 */
int registry_register(struct registry *r, const char *subject, const char *schema, int32_t *id,
                      char *errstr, size_t errstr_size) WARN_UNUSED;

/* The text of schema id (*text malloc'd). ERR_NOTFOUND: no such id. */
int registry_schema(struct registry *r, int32_t id, char **text, char *errstr,
                    size_t errstr_size) WARN_UNUSED;

/* Whether schema may become subject's next version under the subject's
 * rule (*ok; a subject not yet there accepts anything). */
int registry_check(struct registry *r, const char *subject, const char *schema, bool *ok,
                   char *errstr, size_t errstr_size) WARN_UNUSED;

/* The subject of an event schema ("<x-topic>-<namespace.name>"), into buf. */
int registry_subject(const char *schema, char *buf, size_t size, char *errstr,
                     size_t errstr_size) WARN_UNUSED;

/*
 * Registers each of the codec's built-in schemas (released versions first,
 * so that a subject's versions come in order), binds the ids so that the
 * codec encodes in the Confluent framing, and lets it look up ids it meets
 * later. r must outlive c's use.
 */
int registry_attach(struct registry *r, struct codec *c, char *errstr,
                    size_t errstr_size) WARN_UNUSED;

/* Lets c look up the ids it meets (reading the Confluent framing) without
 * registering anything: c goes on writing single-object encoding. */
void registry_read_only(struct registry *r, struct codec *c);

/*
 * For tools and tests: with SCHEMA_REGISTRY_URL (and SCHEMA_REGISTRY_USER,
 * SCHEMA_REGISTRY_PASSWORD) in the environment, a registry for c: attached
 * (schemas registered, Confluent framing written) when encode is true, else
 * only used to look up the ids c meets. *out is NULL when the variable is
 * unset or empty; free it after c.
 */
int registry_from_env(struct codec *c, bool encode, struct registry **out, char *errstr,
                      size_t errstr_size) WARN_UNUSED;

#endif
