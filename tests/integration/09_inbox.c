/*
 * Integration: the inbox's retention on the real PostgreSQL. inbox_prune
 * deletes only the named group's rows past the age, oldest first, a chunk at
 * a time; a daemon started with INBOX_RETENTION_HOURS prunes its group's rows
 * on its own and keeps the recent ones.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "inbox.h"
#include "migrate.h"
#include "support.h"

#define PORT 19197

/* A connection to the test database with the shared tables in place. */
static PGconn *migrated(void)
{
	PGconn *c = PQconnectdb(support_env("TEST_DATABASE_URL"));
	char err[512];

	cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
	cr_assert_eq(
	        migrate_apply(c, common_migrations, common_nmigrations, NULL, err, sizeof(err)), 0,
	        "%s", err);
	return c;
}

/* n rows of group named prefix1..prefixn, consumed hours_ago (row g g seconds earlier). */
static void add_rows(PGconn *c, const char *group, const char *prefix, int n, int hours_ago)
{
	char num[16], ago[16];
	const char *p[4] = {group, prefix, num, ago};
	PGresult *r;

	snprintf(num, sizeof(num), "%d", n);
	snprintf(ago, sizeof(ago), "%d", hours_ago);
	r = PQexecParams(c,
	                 "INSERT INTO inbox (event_id, consumer, topic, kafka_partition,"
	                 " kafka_offset, consumed_at)"
	                 " SELECT $2 || g, $1, 'it-inbox', 0, g,"
	                 " now() - $4::int * interval '1 hour' - g * interval '1 second'"
	                 " FROM generate_series(1, $3::int) g",
	                 4, NULL, p, NULL, NULL, 0);
	cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s", PQresultErrorMessage(r));
	PQclear(r);
}

static const char *const COUNT_SQL =
        "SELECT count(*) FROM inbox WHERE consumer = $1 AND event_id LIKE $2 || '%'";

static long long rows(const char *group, const char *prefix)
{
	return support_db_value(support_env("TEST_DATABASE_URL"), COUNT_SQL,
	                        (const char *[]){group, prefix, NULL});
}

Test(inbox, pruning_deletes_a_groups_rows_past_the_age_oldest_first_a_chunk_at_a_time)
{
	char a[64], b[64], err[512];
	PGconn *c = migrated();

	support_unique(a, sizeof(a), "it-inbox-a");
	support_unique(b, sizeof(b), "it-inbox-b");
	add_rows(c, a, "old-", 5, 200);
	add_rows(c, a, "new-", 3, 1);
	add_rows(c, b, "old-", 4, 200);

	cr_expect_eq(inbox_prune(c, a, 100, 3, err, sizeof(err)), 3, "%s", err);
	/* The oldest went first: old-5, old-4 and old-3 were consumed earliest. */
	cr_expect_eq(rows(a, "old-1"), 1);
	cr_expect_eq(rows(a, "old-2"), 1);
	cr_expect_eq(rows(a, "old-"), 2);
	cr_expect_eq(inbox_prune(c, a, 100, 3, err, sizeof(err)), 2, "%s", err);
	cr_expect_eq(inbox_prune(c, a, 100, 3, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(rows(a, "old-"), 0);
	cr_expect_eq(rows(a, "new-"), 3, "rows younger than the retention stay");
	cr_expect_eq(rows(b, "old-"), 4, "another group's rows stay");
	PQfinish(c);
}

Test(inbox, a_daemon_prunes_its_groups_rows_past_the_retention, .timeout = 120)
{
	const char *db = support_env("TEST_DATABASE_URL");
	const char *extra[] = {"INBOX_RETENTION_HOURS=100", NULL};
	char group[64], topic[128];
	struct service_proc t;
	PGconn *c = migrated();

	support_unique(group, sizeof(group), "it-inbox-d");
	support_unique(topic, sizeof(topic), "it-inbox");
	support_create_topic(topic, 1);
	add_rows(c, group, "old-", 7, 200);
	add_rows(c, group, "new-", 2, 99);
	PQfinish(c);
	support_template_start(&t, db, PORT, group, topic, NULL, extra);
	cr_expect_eq(
	        support_db_wait(db, COUNT_SQL, (const char *[]){group, "old-", NULL}, 0, 30000), 0,
	        "the rows past the retention were not deleted");
	cr_expect_eq(rows(group, "new-"), 2, "rows within the retention stay");
	support_service_stop(&t);
}
