/*
 * event.h - the metadata every event carries, and reading fields of a
 * decoded event.
 *
 * An event record is a jansson object shaped like its schema, with a
 * "metadata" object: event_id, correlation_id, causation_id, occurred_at,
 * producer, traceparent.
 */
#ifndef COMMON_EVENT_H
#define COMMON_EVENT_H

#include <stdint.h>

#include <jansson.h>

#include "err.h"

/*
 * New metadata for an event emitted by producer. With a cause (the record
 * of the event being handled), correlation_id and traceparent are copied
 * from it and causation_id is its event_id; without one, correlation_id is
 * the given one (the saga's first request) and traceparent may be NULL.
 */
json_t *event_metadata(const char *producer, const json_t *cause, const char *correlation_id,
                       const char *traceparent);

/*
 * A new time-ordered UUID (version 7: the Unix time in milliseconds, then
 * random bits), lowercase, into buf (at least 37 bytes). Ids made later sort
 * later, so the B-tree indexes they key (inbox, orders) grow at one edge
 * instead of touching a random page for every insert.
 */
void event_uuid(char *buf);

/* A new random UUID (version 4), for ids that must not carry time (trace ids). */
void event_uuid_random(char *buf);

/* Milliseconds since the epoch (the wall clock): for events' timestamps only;
 * spans use clock_mono_ms(). */
int64_t event_now_ms(void);

/* Field access on a record; NULL or 0 when absent or of another type. Borrowed. */
const char *event_str(const json_t *record, const char *field);
json_int_t event_int(const json_t *record, const char *field);
const char *event_meta(const json_t *record, const char *field);
/* The record's metadata.occurred_at (ms since the epoch), or 0. */
long long event_occurred_at(const json_t *record);

#endif
