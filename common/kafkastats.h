/*
 * kafkastats.h - how many requests of each kind (Produce, Fetch,
 * OffsetCommit, ...) this process's Kafka clients send, from librdkafka's
 * own statistics, as the counters saga_kafka_requests_total{api="..."}.
 *
 * At low load a saga's cost is mostly requests, not data: these counters
 * show which kind (make loadtest reports them per second).
 *
 *   kafka_stats_attach(metrics);   once, before any client is made
 *   ...                            every client made by kafka.c then reports
 *
 * A client reports every KAFKA_STATS_INTERVAL_MS, from its poll calls.
 */
#ifndef COMMON_KAFKASTATS_H
#define COMMON_KAFKASTATS_H

#include <stddef.h>

#include <librdkafka/rdkafka.h>

#include "metrics.h"

#define KAFKA_STATS_INTERVAL_MS "5000"

/* Creates the counters in m; until then (tools, tests) nothing reports. */
void kafka_stats_attach(struct metrics *m);

/* Turns the statistics on for conf when attached; 0, or ERR_INVALID with errstr. */
int kafka_stats_enable(rd_kafka_conf_t *conf, char *errstr, size_t errstr_size) WARN_UNUSED;

/* Adds what one statistics document (librdkafka's JSON) shows rk sent since
 * its last one. Exposed for the unit tests; the callback calls it. */
void kafka_stats_apply(const rd_kafka_t *rk, const char *json, size_t len);

#endif
