/*
 * Integration: a consumer that dies at the worst moments loses nothing and
 * applies nothing twice. A template daemon SIGKILLs itself (the
 * CONSUMER_FAULT_KILL crash points) in the batch that takes it past 300 of
 * 1,000 events: before its transaction commits (the effects are rolled
 * back, the events come again), and after it committed but before the
 * offsets were stored (the events come again, the inbox knows them). Started
 * again without the fault, it ends with exactly 1,000 effects, one per event.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support.h"

#define PORT   19198
#define EVENTS 1000

static void crash_and_recover(const char *point)
{
	const char *db = support_env("TEST_DATABASE_URL");
	char in[128], group[128], dlq[160], prefix[128], like[160], kill_at[64];
	const char *faulty[] = {kill_at, "CONSUMER_FAULT_AFTER_EVENTS=300", "CONSUMER_BATCH=100",
	                        NULL};
	struct service_proc t;
	long long before, after;
	int status;

	support_unique(in, sizeof(in), "it-crash-in");
	support_unique(group, sizeof(group), "it-crash");
	support_unique(prefix, sizeof(prefix), "crash");
	snprintf(dlq, sizeof(dlq), "dlq.%s", group);
	snprintf(like, sizeof(like), "%s-%%", prefix);
	snprintf(kill_at, sizeof(kill_at), "CONSUMER_FAULT_KILL=%s", point);
	support_create_topic(in, 3);
	support_create_topic(dlq, 1);

	support_template_start(&t, db, PORT, group, in, NULL, faulty);
	support_produce_events(support_codec(), in, prefix, EVENTS);
	status = support_wait_exit(t.pid, 60000);
	cr_assert(status != -1 && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
	          "the daemon did not kill itself %s (status %d, see %s)", point, status, t.log);
	t.pid = 0;
	before =
	        support_db_value(db, "SELECT count(*) FROM template_effects WHERE order_id LIKE $1",
	                         (const char *[]){like, NULL});
	cr_expect(before < EVENTS, "all %lld effects were there before the crash", before);
	cr_log_info("%s: %lld effects committed when it died", point, before);

	support_template_start(&t, db, PORT, group, in, NULL, NULL);
	after = support_db_wait(db, "SELECT count(*) FROM template_effects WHERE order_id LIKE $1",
	                        (const char *[]){like, NULL}, EVENTS, 60000);
	sleep(2); /* a duplicate would show up now */
	after = support_db_value(db, "SELECT count(*) FROM template_effects WHERE order_id LIKE $1",
	                         (const char *[]){like, NULL});
	cr_expect_eq(after, EVENTS, "%lld effects for %d events (%s)", after, EVENTS, point);
	cr_expect_eq(support_db_value(db,
	                              "SELECT count(DISTINCT event_id) FROM template_effects"
	                              " WHERE order_id LIKE $1",
	                              (const char *[]){like, NULL}),
	             EVENTS, "not one effect per event (%s)", point);
	support_service_stop(&t);
}

Test(crash_points, killed_before_the_commit, .timeout = 180)
{
	crash_and_recover("before-commit");
}

Test(crash_points, killed_after_the_commit_before_the_offsets, .timeout = 180)
{
	crash_and_recover("after-commit");
}
