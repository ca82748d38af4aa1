/*
 * db.h - a PostgreSQL connection that comes back after the server did.
 *
 * One struct db is used by one thread. db_conn() hands out a working
 * connection, reconnecting when the previous one was lost; errors are
 * classified so callers know whether to retry (server away, serialization
 * failure, deadlock) or give up.
 */
#ifndef COMMON_DB_H
#define COMMON_DB_H

#include <libpq-fe.h>

#include "err.h"

struct db;

/* Server-side limits of every connection (db.c), unless its connection
 * string sets "options" itself. */
#define DB_STATEMENT_TIMEOUT  "60s"
#define DB_LOCK_TIMEOUT       "20s"
#define DB_IDLE_IN_TX_TIMEOUT "60s"

/* Remembers conninfo (copied) and tries to connect once; a server that is
 * down is not an error here: the next db_conn() tries again. */
int db_open(struct db **out, const char *conninfo, char *errstr, size_t errstr_size) WARN_UNUSED;
void db_free(struct db *db); /* NULL-safe */

/*
 * A connected PGconn (borrowed; valid until the next db_conn or db_free), or
 * NULL with ERR_RETRY in *err and the reason in errstr when the server
 * cannot be reached now.
 */
PGconn *db_conn(struct db *db, int *err, char *errstr, size_t errstr_size);

/*
 * Which server session db_conn() hands out: a number that changes whenever
 * it had to connect again. State that lives in a session (an advisory lock,
 * LISTEN, a temporary table) is gone when this number changed.
 */
unsigned long db_session(const struct db *db);

/* Runs SELECT 1; 0 when the database answers. */
int db_ping(struct db *db, char *errstr, size_t errstr_size) WARN_UNUSED;

/*
 * Runs one parameterised statement (text parameters, NULL for SQL NULL);
 * see db_query for how it is prepared.
 * On success returns 0 and, when res is not NULL, the result (caller clears).
 * On failure returns db_classify()'s code with the message in errstr.
 */
int db_exec(PGconn *conn, const char *sql, int nparams, const char *const *params, PGresult **res,
            char *errstr, size_t errstr_size) WARN_UNUSED;

/*
 * db_exec with lengths, formats (1 = binary) of the parameters and the
 * result's format, as in PQexecParams. Statements with parameters run
 * prepared on connections from db_conn(): parsed and planned once per
 * connection (the first DB_MAX_PREPARED distinct texts), then only executed.
 */
int db_query(PGconn *conn, const char *sql, int nparams, const char *const *values,
             const int *lengths, const int *formats, int result_format, PGresult **res,
             char *errstr, size_t errstr_size) WARN_UNUSED;

/*
 * The text form of a PostgreSQL array of the n strings (e.g. for
 * "... = ANY($1::text[])"), every element quoted and escaped; malloc'd
 * (caller frees), NULL when out of memory.
 */
char *db_array_literal(const char *const *values, size_t n);

/*
 * One array literal per column of a row-major table of nrows x ncols cells,
 * for "INSERT ... SELECT FROM unnest($1::text[], $2::int[], ...)": lit[k]
 * (malloc'd, caller frees) is column k. 0, or ERR_NOMEM with none left.
 */
int db_array_literals(const char *const *cells, size_t nrows, int ncols, char **lit) WARN_UNUSED;

/*
 * The SQLSTATE of the last statement that failed through db_exec/db_query on
 * conn (e.g. "23505"), or "" when none failed since db_clear_sqlstate.
 * Borrowed; valid until the next statement on conn.
 */
const char *db_last_sqlstate(PGconn *conn);
void db_clear_sqlstate(PGconn *conn);

/* ERR_RETRY for a lost connection or a serialization failure, deadlock,
 * shutdown, lock timeout, insufficient resources or I/O error; ERR_CONFLICT
 * for a unique violation; ERR_FATAL otherwise. */
int db_classify(PGconn *conn, const PGresult *res);

#endif
