/*
 * schema.h - Avro schemas as JSON: normal form, Parsing Canonical Form,
 * CRC-64-AVRO fingerprints and the compatibility rules of schema resolution.
 *
 * Pure functions on jansson trees; the codec (codec.h) builds on them.
 * A "normal" schema has every named type's full name, primitives in their
 * simple form, and only the attributes resolution needs (name, type,
 * fields, symbols, items, values, size, default). Named types are expanded
 * where they are defined and referred to by full name after that.
 */
#ifndef COMMON_SCHEMA_H
#define COMMON_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"

/* The normal form of schema (new reference), or NULL with the reason. */
json_t *schema_normalize(const json_t *schema, char *errstr, size_t errstr_size);

/* The Parsing Canonical Form as a malloc'd string, or NULL with the reason. */
char *schema_canonical(const json_t *schema, char *errstr, size_t errstr_size);

/* CRC-64-AVRO (Rabin) fingerprint of bytes. */
uint64_t schema_crc64(const void *data, size_t len);

/*
 * Whether data written with writer can be read with reader (both normal).
 * Returns 0, or ERR_INVALID with the first incompatibility and its path in why.
 */
int schema_compatible(const json_t *reader, const json_t *writer, char *why,
                      size_t why_size) WARN_UNUSED;

/* Looks a type up in a normal schema: a full name defined inside it, or the
 * node itself when it is not a name. Borrowed. */
const json_t *schema_deref(const json_t *root, const json_t *node);

/* The type name of a normal schema node: "record", "string", "union", ... */
const char *schema_type(const json_t *node);

#endif
