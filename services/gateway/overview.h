/*
 * overview.h - what GET /v1/overview shows of the whole saga: orders per
 * state (the read model), orders accepted, completed and cancelled per
 * second over the last minutes (counted by the projector, by each event's
 * own time), and each consumer group's lag and dead letters (read from the
 * daemons' /metrics, at most every OVERVIEW_SCRAPE_MS).
 */
#ifndef GATEWAY_OVERVIEW_H
#define GATEWAY_OVERVIEW_H

#include <jansson.h>

#include "err.h"

#define OVERVIEW_SECONDS   300 /* the rates' window */
#define OVERVIEW_SCRAPE_MS 2000

struct overview;

/* targets: "name=host:port,..." (the daemons' admin ports), may be "" or
 * NULL. ERR_INVALID with errstr for a malformed list. */
int overview_new(struct overview **out, const char *targets, char *errstr,
                 size_t errstr_size) WARN_UNUSED;
void overview_free(struct overview *o); /* NULL-safe */

/* Counts an event of type that occurred at at_ms (the projector's thread). */
void overview_count(struct overview *o, const char *type, long long at_ms);

/* The rates' part: {"seconds","until","accepted":[...],"completed":[...],
 * "cancelled":[...]}, the oldest second first. */
json_t *overview_rates(struct overview *o, long long now_ms);

/* The groups' part: [{"group","lag","dead_lettered","instances","up"}...],
 * scraped again when the last scrape is older than OVERVIEW_SCRAPE_MS. */
json_t *overview_groups(struct overview *o);

#endif
