/*
 * codec.h - events as Avro, in one of two framings.
 *
 * Single-object encoding (the default): C3 01, the 8-byte little-endian
 * CRC-64-AVRO fingerprint of the writer schema's Parsing Canonical Form,
 * then the Avro binary datum, so a client written elsewhere can decode it
 * from the .avsc files in schemas/ alone.
 *
 * The Confluent framing, once ids are bound from a schema registry
 * (registry.h): 00, the schema's 4-byte big-endian registry id, then the
 * datum, as Confluent's serializers write it. Decoding reads both framings,
 * whatever the codec encodes with, so a running system can switch.
 *
 * In the program an event is a jansson object shaped like its schema (a
 * union with null is the plain value or JSON null; money is an integer).
 * The codec knows every schema in schemas/ (the reader schemas) and the
 * released versions in schemas/released/ (more writer schemas); decoding
 * finds the writer schema by fingerprint and resolves the datum to the
 * reader schema of the same name, filling in defaults, so a reader reads
 * data from older and newer writers alike.
 *
 * Share a codec between threads once it is set up (schemas added, registry
 * ids bound): encoding only reads it, and decoding changes nothing but the
 * table of registry ids, behind a lock.
 */
#ifndef COMMON_CODEC_H
#define COMMON_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"

/* An embedded schema file (see tools/embed.sh). */
struct codec_source {
	const char *name; /* path, e.g. "schemas/OrderCreated.avsc" */
	const char *text;
};

extern const struct codec_source codec_builtin_schemas[];
extern const size_t codec_nbuiltin_schemas;

#define CODEC_HEADER_SIZE           10 /* single-object encoding */
#define CODEC_CONFLUENT_HEADER_SIZE 5  /* Confluent framing */

struct codec;

/* A codec with the built-in schemas. */
int codec_new(struct codec **out, char *errstr, size_t errstr_size) WARN_UNUSED;
/* A codec with no schemas (tests, tools). */
int codec_new_empty(struct codec **out) WARN_UNUSED;
void codec_free(struct codec *c); /* NULL-safe */

/*
 * Adds a schema. A reader schema becomes the one events of its name are
 * encoded with and decoded into; any schema can be a writer found by
 * fingerprint. Adding a writer whose reader exists checks that the reader
 * can read it.
 */
int codec_add_schema(struct codec *c, const char *json_text, bool is_reader, char *errstr,
                     size_t errstr_size) WARN_UNUSED;

/* Encodes value as event type (short name, e.g. "OrderCreated"); *out is
 * malloc'd. ERR_INVALID names the field that does not fit the schema. */
int codec_encode(const struct codec *c, const char *type, const json_t *value, unsigned char **out,
                 size_t *len, char *errstr, size_t errstr_size) WARN_UNUSED;

/*
 * Decodes a value in either framing. *type is the event's short name
 * (borrowed from the codec), *value a new reference. Anything malformed
 * (short, corrupt, unknown fingerprint or registry id, trailing bytes,
 * invalid UTF-8) is ERR_INVALID: poison, never a crash. ERR_RETRY: the
 * record names a registry id the codec has not met and the registry did
 * not answer; the record may be fine, so try it again later.
 */
int codec_decode(const struct codec *c, const void *buf, size_t len, const char **type,
                 json_t **value, char *errstr, size_t errstr_size) WARN_UNUSED;

/*
 * A record of event type built from another record: each field of type's
 * schema (but metadata) is copied from `from` when it has one of that name,
 * else takes the schema's default, else an empty value of its type (""
 * for strings, 0 for numbers, [] for arrays, null for unions). New
 * reference, or NULL for an unknown type. For skeletons and tools; a
 * service's handlers usually build their events field by field.
 */
json_t *codec_record_from(const struct codec *c, const char *type, const json_t *from);

/* The topic (x-topic) and key field (x-key) of an event type, or NULL. */
const char *codec_topic(const struct codec *c, const char *type);
const char *codec_key_field(const struct codec *c, const char *type);

/*
 * The schema registry. lookup gives the text of a schema by id: 0 with *text
 * malloc'd, ERR_NOTFOUND when the registry has no such id, ERR_RETRY when it
 * did not answer. Called from whichever thread decodes, without the codec's
 * lock held. Set before the codec is shared.
 */
typedef int (*codec_lookup_fn)(void *arg, int32_t id, char **text, char *errstr,
                               size_t errstr_size);
void codec_use_registry(struct codec *c, codec_lookup_fn lookup, void *arg);

/*
 * Binds registry id to the codec's schema equal to json_text (same
 * fingerprint); ERR_INVALID when the codec has none. A reader schema with
 * an id is from then on encoded in the Confluent framing. Bind before the
 * codec is shared; decoding learns further ids by itself (lookup, once per
 * id, remembered: an id the registry lacks or whose schema the codec
 * cannot read is poison from then on without asking again).
 */
int codec_bind_id(struct codec *c, int32_t id, const char *json_text, char *errstr,
                  size_t errstr_size) WARN_UNUSED;

/* The fingerprint of the reader schema of type; 0 when unknown. */
uint64_t codec_fingerprint(const struct codec *c, const char *type);

#endif
