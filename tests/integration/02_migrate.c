/* Integration: migrations on the real PostgreSQL, applied twice. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "db.h"
#include "migrate.h"
#include "support.h"

static const struct migration migrations[] = {
        {"001_items.sql", "CREATE TABLE items (id text PRIMARY KEY, n int NOT NULL);"},
        {"002_seed.sql", "INSERT INTO items VALUES ('a', 1);\nINSERT INTO items VALUES ('b', 2);"},
};

static long long count(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	long long n;

	cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQresultErrorMessage(r));
	n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return n;
}

/* A connection whose search_path is a fresh schema of its own. */
static PGconn *connect_isolated(char *schema, size_t size)
{
	PGconn *c = PQconnectdb(support_env("TEST_DATABASE_URL"));
	char sql[256];

	cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
	support_unique(schema, size, "it_migrate");
	for (char *p = schema; *p; p++)
		if (*p == '-')
			*p = '_';
	snprintf(sql, sizeof(sql), "CREATE SCHEMA %s; SET search_path TO %s", schema, schema);
	PQclear(PQexec(c, sql));
	return c;
}

static void drop(PGconn *c, const char *schema)
{
	char sql[256];

	snprintf(sql, sizeof(sql), "DROP SCHEMA %s CASCADE", schema);
	PQclear(PQexec(c, sql));
	PQfinish(c);
}

Test(migrate, applied_twice_leaves_one_copy)
{
	char schema[64], err[512];
	PGconn *c = connect_isolated(schema, sizeof(schema));
	int applied = -1;

	cr_assert_eq(migrate_apply(c, migrations, 2, &applied, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(applied, 2);
	cr_assert_eq(migrate_apply(c, migrations, 2, &applied, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(applied, 0, "the second run applies nothing");
	cr_expect_eq(count(c, "SELECT count(*) FROM items"), 2);
	cr_expect_eq(count(c, "SELECT count(*) FROM schema_migrations"), 2);
	drop(c, schema);
}

Test(migrate, a_new_migration_is_applied_after_the_old_ones)
{
	char schema[64], err[512];
	PGconn *c = connect_isolated(schema, sizeof(schema));
	struct migration more[3] = {migrations[0],
	                            migrations[1],
	                            {"003_more.sql", "INSERT INTO items VALUES ('c', 3);"}};
	int applied;

	cr_assert_eq(migrate_apply(c, migrations, 2, &applied, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(migrate_apply(c, more, 3, &applied, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(applied, 1);
	cr_expect_eq(count(c, "SELECT count(*) FROM items"), 3);
	drop(c, schema);
}

Test(migrate, a_failing_migration_rolls_back_and_names_itself)
{
	char schema[64], err[512];
	PGconn *c = connect_isolated(schema, sizeof(schema));
	struct migration bad[2] = {
	        migrations[0],
	        {"002_broken.sql", "INSERT INTO items VALUES ('x', 1); SELEC oops;"}};
	int applied;

	cr_expect_lt(migrate_apply(c, bad, 2, &applied, err, sizeof(err)), 0);
	cr_expect(strstr(err, "002_broken.sql"), "%s", err);
	cr_expect_eq(applied, 1);
	cr_expect_eq(count(c, "SELECT count(*) FROM items"), 0, "the failed file left nothing");
	cr_expect_eq(count(c, "SELECT count(*) FROM schema_migrations"), 1);
	drop(c, schema);
}

Test(db, classifies_errors_and_reconnects)
{
	char err[512];
	struct db *db;
	PGconn *c;
	int rc;

	cr_assert_eq(db_open(&db, support_env("TEST_DATABASE_URL"), err, sizeof(err)), 0);
	c = db_conn(db, &rc, err, sizeof(err));
	cr_assert_not_null(c, "%s", err);
	cr_expect_eq(db_exec(c, "SELECT nonsense_column", 0, NULL, NULL, err, sizeof(err)),
	             ERR_FATAL);
	cr_expect(strstr(err, "nonsense_column"), "%s", err);
	/* Kill our own backend: the next call sees a lost connection, then reconnects. */
	PQclear(PQexec(c, "SELECT pg_terminate_backend(pg_backend_pid())"));
	cr_expect_eq(db_exec(c, "SELECT 1", 0, NULL, NULL, err, sizeof(err)), ERR_RETRY);
	cr_expect_eq(db_ping(db, err, sizeof(err)), 0, "%s", err);
	db_free(db);
}

Test(migrate, a_migration_edited_after_it_was_applied_is_refused)
{
	char schema[64], err[512];
	PGconn *c = connect_isolated(schema, sizeof(schema));
	struct migration edited[1] = {{"001_items.sql", "CREATE TABLE items (id text);"}};
	int applied;

	cr_assert_eq(migrate_apply(c, migrations, 1, &applied, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(migrate_apply(c, edited, 1, &applied, err, sizeof(err)), ERR_FATAL);
	cr_expect(strstr(err, "001_items.sql was changed after it was applied"), "%s", err);
	drop(c, schema);
}
