/*
 * admin.h - every daemon's admin endpoints:
 *   GET /healthz  200 while the process runs
 *   GET /readyz   200 when every check passes, else 503 naming the failures
 *   GET /metrics  the metrics registry in Prometheus text format
 */
#ifndef COMMON_ADMIN_H
#define COMMON_ADMIN_H

#include "err.h"
#include "metrics.h"

struct admin;

/* A readiness check; runs on the admin thread, so it must use its own
 * connections. Returns 0 when ready, or an error with the reason in errstr. */
struct admin_check {
	const char *name;
	int (*fn)(void *arg, char *errstr, size_t errstr_size);
	void *arg;
};

/* metrics and checks are borrowed and must outlive the admin server. */
int admin_start(struct admin **out, const char *addr, int port, struct metrics *metrics,
                const struct admin_check *checks, size_t nchecks, char *errstr,
                size_t errstr_size) WARN_UNUSED;
void admin_free(struct admin *a); /* NULL-safe */

#endif
