#include "db.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-events.h>

#include "log.h"

/* Statements a connection keeps prepared; the rest run unnamed. */
#define DB_MAX_PREPARED 256

/*
 * The statements prepared on one connection, attached to its PGconn (libpq
 * instance data), so db_exec() finds them from the PGconn alone and they go
 * when the connection goes.
 */
struct prepared {
	size_t n;
	uint64_t hash[DB_MAX_PREPARED];
	char sqlstate[6]; /* of the last statement that failed, "" when none */
};

struct db {
	char *conninfo;
	PGconn *conn;
	unsigned long session; /* counts the connections made */
	bool was_down;         /* logs "reconnected" once the server is back */
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

static int on_conn_event(PGEventId id, void *info, void *pass)
{
	(void)pass;
	if (id == PGEVT_CONNDESTROY) {
		free(PQinstanceData(((PGEventConnDestroy *)info)->conn, on_conn_event));
	} else if (id == PGEVT_CONNRESET) {
		struct prepared *p =
		        PQinstanceData(((PGEventConnReset *)info)->conn, on_conn_event);

		if (p)
			p->n = 0;
	}
	return 1;
}

/* Attaches an empty statement cache; without one, statements run unnamed. */
static void attach_prepared(PGconn *conn)
{
	struct prepared *p = calloc(1, sizeof(*p));

	if (!p || !PQregisterEventProc(conn, on_conn_event, "db", NULL) ||
	    !PQsetInstanceData(conn, on_conn_event, p))
		free(p);
}

/*
 * What every connection gets unless its connection string says otherwise
 * (the string comes last and overrides): a bounded connect, TCP keepalives
 * and a send timeout, so a server that vanished is noticed in about a
 * minute; and server-side limits, so no statement runs away, a lock wait
 * ends as a retriable 55P03 before the statement limit, and a session
 * frozen in a transaction (a stopped daemon) gives its locks back.
 */
static const char *const guard_keys[] = {"connect_timeout",
                                         "keepalives",
                                         "keepalives_idle",
                                         "keepalives_interval",
                                         "keepalives_count",
                                         "tcp_user_timeout",
                                         "options",
                                         "dbname",
                                         NULL};

static int connect_now(struct db *db, char *errstr, size_t errstr_size)
{
	const char *const values[] = {
	        "5",
	        "1",
	        "30",
	        "10",
	        "3",
	        "60000",
	        "-c statement_timeout=" DB_STATEMENT_TIMEOUT " -c lock_timeout=" DB_LOCK_TIMEOUT
	        " -c idle_in_transaction_session_timeout=" DB_IDLE_IN_TX_TIMEOUT,
	        db->conninfo,
	        NULL};

	PQfinish(db->conn);
	db->conn = PQconnectdbParams(guard_keys, values, 1);
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
	attach_prepared(db->conn);
	db->session++;
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

unsigned long db_session(const struct db *db)
{
	return db->session;
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
	    strncmp(state, "53", 2) == 0 ||  /* insufficient resources: disk, memory, connections */
	    strncmp(state, "58", 2) == 0 ||  /* system error: I/O */
	    strncmp(state, "57P", 3) == 0 || /* operator intervention: shutdown */
	    strcmp(state, "55P03") == 0)     /* lock not available */
		return ERR_RETRY;
	if (strcmp(state, "23505") == 0) /* unique violation */
		return ERR_CONFLICT;
	return ERR_FATAL;
}

const char *db_last_sqlstate(PGconn *conn)
{
	struct prepared *p = conn ? PQinstanceData(conn, on_conn_event) : NULL;

	return p ? p->sqlstate : "";
}

void db_clear_sqlstate(PGconn *conn)
{
	struct prepared *p = conn ? PQinstanceData(conn, on_conn_event) : NULL;

	if (p)
		p->sqlstate[0] = '\0';
}

/* FNV-1a: names a statement by its text. */
static uint64_t sql_hash(const char *sql)
{
	uint64_t h = 14695981039346656037ULL;

	for (; *sql; sql++)
		h = (h ^ (unsigned char)*sql) * 1099511628211ULL;
	return h;
}

/*
 * Runs sql as a named prepared statement, preparing it on first use on this
 * connection: the server parses and plans it once, not on every call.
 */
static PGresult *exec_prepared(PGconn *conn, struct prepared *p, const char *sql, int nparams,
                               const char *const *values, const int *lengths, const int *formats,
                               int result_format)
{
	uint64_t h = sql_hash(sql);
	char name[24];
	size_t i;

	snprintf(name, sizeof(name), "q%016llx", (unsigned long long)h);
	for (i = 0; i < p->n && p->hash[i] != h; i++)
		;
	if (i == DB_MAX_PREPARED)
		return PQexecParams(conn, sql, nparams, NULL, values, lengths, formats,
		                    result_format);
	if (i == p->n) {
		PGresult *r = PQprepare(conn, name, sql, nparams, NULL);

		if (!r || PQresultStatus(r) != PGRES_COMMAND_OK)
			return r;
		PQclear(r);
		p->hash[p->n++] = h;
	}
	return PQexecPrepared(conn, name, nparams, values, lengths, formats, result_format);
}

/* The server forgot the connection's statements (DEALLOCATE, DISCARD ALL). */
static bool forgotten(const PGresult *r)
{
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;

	return state && strcmp(state, "26000") == 0; /* invalid_sql_statement_name */
}

int db_query(PGconn *conn, const char *sql, int nparams, const char *const *values,
             const int *lengths, const int *formats, int result_format, PGresult **res,
             char *errstr, size_t errstr_size)
{
	struct prepared *p = PQinstanceData(conn, on_conn_event);
	PGresult *r;
	ExecStatusType st;
	const char *state;
	int rc;

	if (res)
		*res = NULL;
	if (p && nparams > 0) {
		r = exec_prepared(conn, p, sql, nparams, values, lengths, formats, result_format);
		if (forgotten(r)) {
			p->n = 0;
			/* Outside a transaction, prepare again now; inside, it is aborted:
			 * the caller's retry prepares again. */
			if (PQtransactionStatus(conn) == PQTRANS_IDLE) {
				PQclear(r);
				r = exec_prepared(conn, p, sql, nparams, values, lengths, formats,
				                  result_format);
			}
		}
	} else
		r = PQexecParams(conn, sql, nparams, NULL, values, lengths, formats, result_format);
	st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
		if (res)
			*res = r;
		else
			PQclear(r);
		return 0;
	}
	copy_error(errstr, errstr_size, r ? PQresultErrorMessage(r) : PQerrorMessage(conn));
	state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	if (p)
		snprintf(p->sqlstate, sizeof(p->sqlstate), "%s", state ? state : "");
	rc = forgotten(r) ? ERR_RETRY : db_classify(conn, r);
	PQclear(r);
	return rc;
}

int db_exec(PGconn *conn, const char *sql, int nparams, const char *const *params, PGresult **res,
            char *errstr, size_t errstr_size)
{
	return db_query(conn, sql, nparams, params, NULL, NULL, 0, res, errstr, errstr_size);
}

/* The literal of every stride-th value, n of them. */
static char *column_literal(const char *const *values, size_t n, size_t stride)
{
	size_t cap = 3, len = 0;
	char *s;

	for (size_t i = 0; i < n; i++)
		cap += 2 * strlen(values[i * stride]) + 3; /* every byte escaped, quotes, comma */
	s = malloc(cap);
	if (!s)
		return NULL;
	s[len++] = '{';
	for (size_t i = 0; i < n; i++) {
		if (i)
			s[len++] = ',';
		s[len++] = '"';
		for (const char *v = values[i * stride]; *v; v++) {
			if (*v == '"' || *v == '\\')
				s[len++] = '\\';
			s[len++] = *v;
		}
		s[len++] = '"';
	}
	s[len++] = '}';
	s[len] = '\0';
	return s;
}

char *db_array_literal(const char *const *values, size_t n)
{
	return column_literal(values, n, 1);
}

int db_array_literals(const char *const *cells, size_t nrows, int ncols, char **lit)
{
	for (int k = 0; k < ncols; k++) {
		lit[k] = column_literal(cells + k, nrows, (size_t)ncols);
		if (!lit[k]) {
			while (k-- > 0) {
				free(lit[k]);
				lit[k] = NULL;
			}
			return ERR_NOMEM;
		}
	}
	return 0;
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
