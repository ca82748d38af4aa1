#include "migrate.h"

#include <stdio.h>
#include <string.h>

#include "db.h"
#include "log.h"

/* Any constant that other advisory-lock users of these databases avoid. */
#define MIGRATE_LOCK_KEY "7215360412"

static int apply_one(PGconn *conn, const struct migration *m, int *ran, char *errstr,
                     size_t errstr_size)
{
	/* The version is the file's path, so services sharing a database never collide. */
	const char *params[2] = {m->name, m->sql};
	PGresult *res = NULL;
	int rc;

	*ran = 0;
	rc = db_exec(conn, "BEGIN", 0, NULL, NULL, errstr, errstr_size);
	if (rc < 0)
		return rc;
	rc = db_exec(conn, "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK_KEY ")", 0, NULL, NULL,
	             errstr, errstr_size);
	if (rc < 0)
		goto out;
	rc = db_exec(conn,
	             "CREATE TABLE IF NOT EXISTS schema_migrations ("
	             " version text PRIMARY KEY,"
	             " checksum text NOT NULL,"
	             " applied_at timestamptz NOT NULL DEFAULT now())",
	             0, NULL, NULL, errstr, errstr_size);
	if (rc < 0)
		goto out;
	rc = db_exec(conn, "SELECT checksum = md5($2) FROM schema_migrations WHERE version = $1", 2,
	             params, &res, errstr, errstr_size);
	if (rc < 0)
		goto out;
	if (PQntuples(res) > 0) {
		/* Applied already; a file edited since would leave databases diverging. */
		if (PQgetvalue(res, 0, 0)[0] != 't') {
			snprintf(errstr, errstr_size,
			         "migration %s was changed after it was applied; add a new "
			         "migration "
			         "instead",
			         params[0]);
			rc = ERR_FATAL;
		}
		goto out;
	}
	{
		PGresult *r = PQexec(conn, m->sql);

		if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
			snprintf(errstr, errstr_size, "migration %s failed: %s", params[0],
			         PQresultErrorMessage(r));
			rc = db_classify(conn, r);
			PQclear(r);
			goto out;
		}
		PQclear(r);
	}
	rc = db_exec(conn, "INSERT INTO schema_migrations (version, checksum) VALUES ($1, md5($2))",
	             2, params, NULL, errstr, errstr_size);
	if (rc == 0)
		*ran = 1;
out:
	PQclear(res);
	if (rc == 0)
		rc = db_exec(conn, "COMMIT", 0, NULL, NULL, errstr, errstr_size);
	else
		PQclear(PQexec(conn, "ROLLBACK"));
	if (rc < 0)
		*ran = 0;
	return rc;
}

int migrate_apply(PGconn *conn, const struct migration *list, size_t n, int *applied, char *errstr,
                  size_t errstr_size)
{
	int count = 0;
	int rc = 0;

	for (size_t i = 0; i < n; i++) {
		int ran;

		rc = apply_one(conn, &list[i], &ran, errstr, errstr_size);
		if (rc < 0)
			break;
		if (ran)
			LOG(INFO, "applied migration %s", list[i].name);
		count += ran;
	}
	if (applied)
		*applied = count;
	return rc;
}
