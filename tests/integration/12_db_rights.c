/*
 * Integration: each service's PostgreSQL role reaches only its own database.
 * Every service role logs in to every other service's database (with its
 * own, correct password) and must be refused; and to its own, where it
 * must get in, so that a refusal means the rule and not a typo.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include <libpq-fe.h>

#include "support.h"

static const char *const services[] = {"ORDER", "PAYMENT", "INVENTORY", "SHIPPING", "NOTIFICATION"};
#define NSERVICES (sizeof(services) / sizeof(services[0]))

/* The database name at the end of a postgresql:// URL. */
static const char *dbname(const char *url)
{
	const char *slash = strrchr(url, '/');

	cr_assert_not_null(slash, "no database in %s", url);
	return slash + 1;
}

/* url with its database replaced by db (the role and password kept). */
static void with_db(char *out, size_t size, const char *url, const char *db)
{
	snprintf(out, size, "%.*s/%s", (int)(dbname(url) - 1 - url), url, db);
}

static bool can_connect(const char *url)
{
	char conninfo[1100];
	PGconn *c;
	bool ok;

	snprintf(conninfo, sizeof(conninfo), "%s?connect_timeout=5", url);
	c = PQconnectdb(conninfo);
	ok = PQstatus(c) == CONNECTION_OK;
	PQfinish(c);
	return ok;
}

Test(db_rights, a_service_role_reaches_only_its_own_database)
{
	int refused = 0;

	for (size_t r = 0; r < NSERVICES; r++) {
		char var[64];
		const char *own;

		snprintf(var, sizeof(var), "%s_DATABASE_URL", services[r]);
		own = support_env(var);
		cr_expect(can_connect(own), "%s cannot log in to its own database", services[r]);
		for (size_t d = 0; d < NSERVICES; d++) {
			char other_var[64], url[1024];

			if (d == r)
				continue;
			snprintf(other_var, sizeof(other_var), "%s_DATABASE_URL", services[d]);
			with_db(url, sizeof(url), own, dbname(support_env(other_var)));
			if (!can_connect(url))
				refused++;
			else
				cr_expect_fail("the %s role can log in to the %s database",
				               services[r], services[d]);
		}
	}
	cr_expect_eq(refused, (int)(NSERVICES * (NSERVICES - 1)), "%d of %d logins refused",
	             refused, (int)(NSERVICES * (NSERVICES - 1)));
}

/* Runs sql as conn; the SQLSTATE it failed with, "" when it succeeded. */
static void run(PGconn *c, const char *sql, char *state, size_t size)
{
	PGresult *res = PQexec(c, sql);
	const char *s = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	ExecStatusType st = PQresultStatus(res);

	snprintf(state, size, "%s",
	         st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? ""
	         : s                                             ? s
	                                                         : "?");
	PQclear(res);
}

/*
 * The checker's saga_reader reads what a service wrote and cannot write,
 * not even after turning its read-only default off.
 */
Test(db_rights, the_checkers_role_reads_every_service_database_and_writes_none)
{
	static const char *const writes[] = {
	        "CREATE TABLE checker_was_here (x int)",
	        "DELETE FROM rights_probe",
	        "UPDATE rights_probe SET x = 2",
	        "INSERT INTO rights_probe VALUES (3)",
	        "TRUNCATE rights_probe",
	};
	const int nwrites = (int)(sizeof(writes) / sizeof(writes[0]));
	int refused = 0;

	for (size_t r = 0; r < NSERVICES; r++) {
		char var[64], conninfo[1100], state[8];
		PGconn *owner, *c;

		/* A table of the service's own, made by its role (the databases may
		 * have no tables yet: the daemons have not run). */
		snprintf(var, sizeof(var), "%s_DATABASE_URL", services[r]);
		snprintf(conninfo, sizeof(conninfo), "%s?connect_timeout=5", support_env(var));
		owner = PQconnectdb(conninfo);
		cr_assert_eq(PQstatus(owner), CONNECTION_OK, "%s", PQerrorMessage(owner));
		run(owner,
		    "CREATE TABLE IF NOT EXISTS rights_probe (x int); INSERT INTO rights_probe "
		    "VALUES (1)",
		    state, sizeof(state));
		cr_assert_str_empty(state, "the %s role could not make a table (%s)", services[r],
		                    state);
		snprintf(var, sizeof(var), "READER_%s_DATABASE_URL", services[r]);
		snprintf(conninfo, sizeof(conninfo), "%s?connect_timeout=5", support_env(var));
		c = PQconnectdb(conninfo);
		cr_assert_eq(PQstatus(c), CONNECTION_OK, "the reader cannot log in to %s: %s",
		             services[r], PQerrorMessage(c));
		run(c, "SELECT count(*) FROM rights_probe", state, sizeof(state));
		cr_expect_str_empty(state, "the reader cannot read %s (%s)", services[r], state);
		/* Refused twice: by its read-only default, and by its privileges
		 * once it turned that default off (its own session's choice). */
		for (int pass = 0; pass < 2; pass++) {
			if (pass == 1)
				run(c, "SET default_transaction_read_only = off", state,
				    sizeof(state));
			for (int w = 0; w < nwrites; w++) {
				run(c, writes[w], state, sizeof(state));
				if (*state)
					refused++;
				else
					cr_expect_fail("the reader could, in %s%s: %s", services[r],
					               pass ? " (read-only off)" : "", writes[w]);
			}
		}
		PQfinish(c);
		run(owner, "DROP TABLE rights_probe", state, sizeof(state));
		PQfinish(owner);
	}
	cr_expect_eq(refused, (int)NSERVICES * 2 * nwrites, "%d writes refused", refused);
}
