/*
 * migrate.h - ordered SQL migrations, each applied once.
 *
 * A service's migrations/NNN_what.sql files are compiled into the daemon
 * (see tools/embed-sql.sh), so a binary carries the schema it needs. Each
 * migration runs in its own transaction together with its row in
 * schema_migrations; an advisory lock keeps two starting replicas from
 * applying the same file twice.
 */
#ifndef COMMON_MIGRATE_H
#define COMMON_MIGRATE_H

#include <libpq-fe.h>

#include "err.h"

struct migration {
	const char *
	        name; /* the file's path, e.g. "services/order/migrations/001_orders.sql": the version */
	const char *sql;
};

/* Every service binary links the table generated from its migrations/ ... */
extern const struct migration service_migrations[];
extern const size_t service_nmigrations;
/* ... and every daemon gets the shared tables (outbox, inbox) first. */
extern const struct migration common_migrations[];
extern const size_t common_nmigrations;

/* Applies the migrations not yet recorded, in array order. *applied (may be
 * NULL) receives how many ran now. */
int migrate_apply(PGconn *conn, const struct migration *list, size_t n, int *applied, char *errstr,
                  size_t errstr_size) WARN_UNUSED;

#endif
