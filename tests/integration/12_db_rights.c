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
