/*
 * End to end: Redis killed (SIGKILL) under load and started again. Redis
 * fsyncs its append-only file once a second: a process crash loses nothing
 * the kernel already has, but a machine crash loses what was not fsynced,
 * the last second of writes. The test makes that happen: with Redis
 * killed, the last 512 KiB of its append-only file are cut off (read-model
 * batches and their offsets, accepted orders, idempotency keys), as a power
 * cut would. The gateway's projector must notice and read those events
 * again: afterwards the read model agrees with the services' databases for
 * every finished order (check-invariants' "read model" line), every
 * order the gateway accepted finishes, and the overview counts each order
 * once, though its events were read twice.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "e2e.h"
#include "support.h"

/* The overview's count of a rate ("accepted", "completed") over the
 * seconds from `from` (s) on. */
static long long overview_since(const char *rate, long long from)
{
	struct e2e_reply r;
	json_t *doc, *rates, *series;
	long long until, sum = 0;
	size_t i, n;

	cr_assert_eq(e2e_call("GET", "/v1/overview", NULL, NULL, &r), 200, "%s", r.body);
	doc = json_loads(r.body, 0, NULL);
	cr_assert_not_null(doc, "the overview is not JSON: %.200s", r.body);
	rates = json_object_get(doc, "rates");
	series = json_object_get(rates, rate);
	until = json_integer_value(json_object_get(rates, "until"));
	n = json_array_size(series);
	cr_assert_gt(n, 0, "no %s rate in the overview", rate);
	cr_assert_lt(until - (long long)n, from, "the overview's window starts after the test");
	for (i = 0; i < n; i++)
		if (until - (long long)(n - 1 - i) >= from)
			sum += json_integer_value(json_array_get(series, i));
	json_decref(doc);
	return sum;
}

Test(redis, killed_under_load_and_restarted_the_read_model_still_agrees, .timeout = 420)
{
	char since[24];
	long long accepted, completed, counted_accepted, counted_completed;
	time_t start;
	const char *env[] = {"RATE=200", "DURATION=20", "DRAIN_S=120",
	                     "OUT_DIR=.run/load/redis-crash", NULL};
	json_t *summary;
	pid_t gen;
	int status;

	/* Every earlier order finished, in a second before the test's first. */
	e2e_expect_invariants();
	start = time(NULL) + 1;
	while (time(NULL) < start)
		usleep(50 * 1000);
	gen = support_spawn(support_bin("loadgen"), env, ".run/logs/loadgen-redis-crash.log");
	sleep(8);
	cr_assert_eq(support_sh("kill -KILL \"$(cat .run/redis/redis.pid)\""), 0);
	sleep(1);
	cr_assert_eq(support_sh("f=$(ls -v .run/redis/appendonlydir/*.incr.aof | tail -n 1) &&"
	                        " truncate -s -524288 \"$f\""),
	             0, "could not cut the append-only file");
	cr_assert_eq(support_sh("bash deploy/local/redis.sh start >/dev/null"), 0,
	             "redis did not start again");
	status = support_wait_exit(gen, 300000);
	cr_assert_neq(status, -1, "the load generator did not finish");
	summary = json_load_file(".run/load/redis-crash/summary.json", 0, NULL);
	cr_assert_not_null(summary, "no load summary");
	cr_log_info("load: %lld accepted, %lld finished, %lld errors while redis was away",
	            (long long)json_integer_value(json_object_get(summary, "accepted")),
	            (long long)json_integer_value(json_object_get(summary, "finished")),
	            (long long)json_integer_value(json_object_get(summary, "errors")));
	cr_expect_gt(json_integer_value(json_object_get(summary, "accepted")), 1000);
	cr_expect_eq(json_integer_value(json_object_get(summary, "finished")),
	             json_integer_value(json_object_get(summary, "accepted")),
	             "accepted orders that did not finish");
	json_decref(summary);
	e2e_expect_invariants();
	/* The orders placed since the start, as the order service has them, and
	 * as the overview counted them: the events the projector read again after
	 * Redis lost their effects are not counted twice. */
	snprintf(since, sizeof(since), "%lld", (long long)start);
	accepted = e2e_db(
	        "ORDER", "SELECT count(*) FROM orders WHERE created_at >= to_timestamp($1)", since);
	completed = e2e_db("ORDER",
	                   "SELECT count(*) FROM orders WHERE status = 'COMPLETED'"
	                   " AND created_at >= to_timestamp($1)",
	                   since);
	counted_accepted = overview_since("accepted", start);
	counted_completed = overview_since("completed", start);
	cr_expect_eq(counted_accepted, accepted,
	             "the overview counts %lld orders accepted since the start; the order service "
	             "has %lld",
	             counted_accepted, accepted);
	cr_expect_eq(counted_completed, completed,
	             "the overview counts %lld orders completed since the start; the order service "
	             "has %lld",
	             counted_completed, completed);
}
