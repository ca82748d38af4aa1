#include "db.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

struct db {
	char *conninfo;
	PGconn *conn;
	bool was_down; /* logs "reconnected" once the server is back */
};

static void copy_error(char *errstr, size_t size, const char *msg)
{
	size_t n;

	if (!errstr || !size)
		return;
	snprintf(errstr, size, "%s", msg ? msg : "unknown error");
	n = strlen(errstr);
	while (n > 0 && (errstr[n - 1] == '\n' || errstr[n - 1] == ' '))
		errstr[--n] = '\0';
}

/* Server notices ("relation already exists, skipping") go to the debug log. */
static void on_notice(void *arg, const char *message)
{
	(void)arg;
	LOG(DEBUG, "postgres: %.*s", (int)strcspn(message, "\n"), message);
}

static int connect_now(struct db *db, char *errstr, size_t errstr_size)
{
	PQfinish(db->conn);
	db->conn = PQconnectdb(db->conninfo);
	if (!db->conn)
		return ERR_NOMEM;
	if (PQstatus(db->conn) != CONNECTION_OK) {
		copy_error(errstr, errstr_size, PQerrorMessage(db->conn));
		PQfinish(db->conn);
		db->conn = NULL;
		db->was_down = true;
		return ERR_RETRY;
	}
	PQsetNoticeProcessor(db->conn, on_notice, NULL);
	if (db->was_down) {
		LOG(INFO, "reconnected to the database");
		db->was_down = false;
	}
	return 0;
}

int db_open(struct db **out, const char *conninfo, char *errstr, size_t errstr_size)
{
	struct db *db = calloc(1, sizeof(*db));

	*out = NULL;
	if (!db)
		return ERR_NOMEM;
	db->conninfo = strdup(conninfo);
	if (!db->conninfo) {
		free(db);
		return ERR_NOMEM;
	}
	if (connect_now(db, errstr, errstr_size) == ERR_NOMEM) {
		db_free(db);
		return ERR_NOMEM;
	}
	*out = db;
	return 0;
}

void db_free(struct db *db)
{
	if (!db)
		return;
	PQfinish(db->conn);
	free(db->conninfo);
	free(db);
}

PGconn *db_conn(struct db *db, int *err, char *errstr, size_t errstr_size)
{
	int rc = 0;

	if (!db->conn || PQstatus(db->conn) != CONNECTION_OK)
		rc = connect_now(db, errstr, errstr_size);
	if (err)
		*err = rc;
	return rc == 0 ? db->conn : NULL;
}

int db_classify(PGconn *conn, const PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	if (!conn || PQstatus(conn) != CONNECTION_OK)
		return ERR_RETRY;
	if (!state)
		return res ? ERR_FATAL : ERR_RETRY;
	if (strncmp(state, "08", 2) == 0 ||  /* connection exception */
	    strcmp(state, "40001") == 0 ||   /* serialization failure */
	    strcmp(state, "40P01") == 0 ||   /* deadlock detected */
	    strcmp(state, "53300") == 0 ||   /* too many connections */
	    strncmp(state, "57P", 3) == 0 || /* operator intervention: shutdown */
	    strcmp(state, "55P03") == 0)     /* lock not available */
		return ERR_RETRY;
	if (strcmp(state, "23505") == 0) /* unique violation */
		return ERR_CONFLICT;
	return ERR_FATAL;
}

int db_exec(PGconn *conn, const char *sql, int nparams, const char *const *params, PGresult **res,
            char *errstr, size_t errstr_size)
{
	PGresult *r = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
	ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	int rc;

	if (res)
		*res = NULL;
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
		if (res)
			*res = r;
		else
			PQclear(r);
		return 0;
	}
	copy_error(errstr, errstr_size, r ? PQresultErrorMessage(r) : PQerrorMessage(conn));
	rc = db_classify(conn, r);
	PQclear(r);
	return rc;
}

int db_ping(struct db *db, char *errstr, size_t errstr_size)
{
	int rc;
	PGconn *conn = db_conn(db, &rc, errstr, errstr_size);

	if (!conn)
		return rc;
	rc = db_exec(conn, "SELECT 1", 0, NULL, NULL, errstr, errstr_size);
	if (rc == ERR_RETRY) {
		/* The server may have restarted since: one fresh try. */
		conn = db_conn(db, &rc, errstr, errstr_size);
		if (conn)
			rc = db_exec(conn, "SELECT 1", 0, NULL, NULL, errstr, errstr_size);
	}
	return rc;
}
