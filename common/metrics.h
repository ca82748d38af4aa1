/*
 * metrics.h - counters, gauges and histograms in Prometheus text format.
 *
 * A registry owns its metrics. Metrics are created at startup (the registry
 * takes a lock) and then updated lock-free from any thread:
 *
 *   struct metric *consumed = metrics_counter(m, "saga_consumed_total",
 *                                             "events consumed", "topic=\"order-events\"");
 *   metric_add(consumed, 1);
 *
 * Creating a metric with a name and labels that already exist returns the
 * existing one. Creation returns NULL only when out of memory; every update
 * function accepts NULL and does nothing, so a missing metric never crashes.
 */
#ifndef COMMON_METRICS_H
#define COMMON_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct metrics;
struct metric;

int metrics_new(struct metrics **out) WARN_UNUSED;
void metrics_free(struct metrics *m); /* NULL-safe; frees every metric */

/* labels: Prometheus label pairs without braces, e.g. "topic=\"x\"", or NULL. */
struct metric *metrics_counter(struct metrics *m, const char *name, const char *help,
                               const char *labels);
struct metric *metrics_gauge(struct metrics *m, const char *name, const char *help,
                             const char *labels);
/* bounds: ascending upper bounds in seconds (copied); +Inf is implied. */
struct metric *metrics_histogram(struct metrics *m, const char *name, const char *help,
                                 const char *labels, const double *bounds, size_t nbounds);

/* Default latency buckets, 0.5 ms to 10 s. */
extern const double metrics_latency_bounds[];
extern const size_t metrics_latency_nbounds;

void metric_add(struct metric *c, int64_t delta);      /* counters and gauges */
void metric_set(struct metric *g, int64_t value);      /* gauges */
int64_t metric_value(const struct metric *c);          /* counters and gauges; 0 for NULL */
void metric_observe(struct metric *h, double seconds); /* histograms */

/* Renders the registry; *out is malloc'd (caller frees). */
int metrics_render(struct metrics *m, char **out, size_t *len) WARN_UNUSED;

#endif
