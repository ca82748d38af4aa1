/*
 * Integration: the db module on the real PostgreSQL: array literals read
 * back as the same values, and prepared statements that outlive neither
 * their connection nor a server-side reset.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "support.h"

Test(db, an_array_literal_reads_back_as_the_same_strings)
{
	static const char *const values[] = {
	        "plain",    "",     "with \"quotes\"", "back\\slash", "a,b",
	        "{braces}", "NULL", " spaced ",        "ünïcode",     "new\nline"};
	const size_t n = sizeof(values) / sizeof(values[0]);
	char err[512], *lit = db_array_literal(values, n);
	struct db *db = NULL;
	PGconn *c;
	PGresult *res = NULL;
	int rc;

	cr_assert_not_null(lit);
	cr_assert_eq(db_open(&db, support_env("TEST_DATABASE_URL"), err, sizeof(err)), 0, "%s",
	             err);
	c = db_conn(db, &rc, err, sizeof(err));
	cr_assert_not_null(c, "%s", err);
	cr_assert_eq(
	        db_exec(c, "SELECT u FROM unnest($1::text[]) WITH ORDINALITY AS t(u, i) ORDER BY i",
	                1, (const char *const[]){lit}, &res, err, sizeof(err)),
	        0, "%s", err);
	cr_assert_eq(PQntuples(res), (int)n);
	for (size_t i = 0; i < n; i++) {
		cr_expect_eq(PQgetisnull(res, (int)i, 0), 0, "element %zu became NULL", i);
		cr_expect_str_eq(PQgetvalue(res, (int)i, 0), values[i]);
	}
	PQclear(res);
	free(lit);
	db_free(db);
}

static const char *one_row(PGconn *c, const char *v, char *out, size_t size)
{
	PGresult *res = NULL;
	char err[512];

	cr_assert_eq(db_exec(c, "SELECT $1::text || '!'", 1, (const char *const[]){v}, &res, err,
	                     sizeof(err)),
	             0, "%s", err);
	snprintf(out, size, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return out;
}

Test(db, prepared_statements_are_reprepared_on_a_new_connection)
{
	char err[512], got[64];
	struct db *db = NULL;
	PGconn *c;
	PGresult *res = NULL;
	int rc;

	cr_assert_eq(db_open(&db, support_env("TEST_DATABASE_URL"), err, sizeof(err)), 0, "%s",
	             err);
	c = db_conn(db, &rc, err, sizeof(err));
	cr_assert_not_null(c, "%s", err);
	cr_expect_str_eq(one_row(c, "a", got, sizeof(got)), "a!");
	cr_expect_str_eq(one_row(c, "b", got, sizeof(got)), "b!");
	/* The statement is prepared on the server, once. */
	cr_assert_eq(db_exec(c, "SELECT count(*) FROM pg_prepared_statements WHERE statement = $1",
	                     1, (const char *const[]){"SELECT $1::text || '!'"}, &res, err,
	                     sizeof(err)),
	             0, "%s", err);
	cr_expect_str_eq(PQgetvalue(res, 0, 0), "1");
	PQclear(res);
	/* The server ends the session: the next connection prepares it again. */
	PQclear(PQexec(c, "SELECT pg_terminate_backend(pg_backend_pid())"));
	cr_expect_eq(db_exec(c, "SELECT 1", 0, NULL, NULL, err, sizeof(err)), ERR_RETRY,
	             "a lost connection is retriable");
	c = db_conn(db, &rc, err, sizeof(err));
	cr_assert_not_null(c, "%s", err);
	cr_expect_str_eq(one_row(c, "c", got, sizeof(got)), "c!");
	/* DEALLOCATE ALL behind its back: prepared again, transparently. */
	PQclear(PQexec(c, "DEALLOCATE ALL"));
	cr_expect_str_eq(one_row(c, "d", got, sizeof(got)), "d!");
	/* Inside a transaction it cannot be: the transaction is retriable. */
	PQclear(PQexec(c, "DEALLOCATE ALL"));
	cr_assert_eq(db_exec(c, "BEGIN", 0, NULL, NULL, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(db_exec(c, "SELECT $1::text || '!'", 1, (const char *const[]){"e"}, NULL, err,
	                     sizeof(err)),
	             ERR_RETRY, "%s", err);
	PQclear(PQexec(c, "ROLLBACK"));
	cr_expect_str_eq(one_row(c, "f", got, sizeof(got)), "f!");
	db_free(db);
}

/* What the relay relies on to know its advisory lock is gone: a terminated
 * backend is a new session once db_conn() has connected again, and an
 * advisory lock taken on the old one is not held by the new one. */
Test(db, a_terminated_session_comes_back_as_a_new_session_without_its_locks)
{
	char err[512], pid[16];
	struct db *db = NULL;
	PGconn *c;
	unsigned long before;
	int rc;

	cr_assert_eq(db_open(&db, support_env("TEST_DATABASE_URL"), err, sizeof(err)), 0, "%s",
	             err);
	c = db_conn(db, &rc, err, sizeof(err));
	cr_assert_not_null(c, "%s", err);
	before = db_session(db);
	cr_assert_eq(
	        db_exec(c, "SELECT pg_advisory_lock(4242424242)", 0, NULL, NULL, err, sizeof(err)),
	        0, "%s", err);
	snprintf(pid, sizeof(pid), "%d", PQbackendPID(c));
	cr_assert_eq(support_db_value(support_env("TEST_DATABASE_URL"),
	                              "SELECT count(pg_terminate_backend($1::int))",
	                              (const char *[]){pid, NULL}),
	             1);
	cr_expect_neq(db_exec(c, "SELECT 1", 0, NULL, NULL, err, sizeof(err)), 0,
	              "a query on the terminated session worked");
	c = db_conn(db, &rc, err, sizeof(err));
	cr_assert_not_null(c, "%s", err);
	cr_expect_neq(db_session(db), before, "the new session has the old one's number");
	cr_expect_eq(support_db_value(support_env("TEST_DATABASE_URL"),
	                              "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
	                              " AND objid = (4242424242::bigint & 4294967295)::oid",
	                              (const char *[]){NULL}),
	             0, "the lock outlived its session");
	db_free(db);
}
