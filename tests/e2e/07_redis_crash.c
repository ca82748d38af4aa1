/*
 * End to end: Redis killed (SIGKILL) under load and started again. Redis
 * fsyncs its append-only file once a second: a process crash loses nothing
 * the kernel already has, but a machine crash loses what was not fsynced,
 * the last second of writes. The test makes that happen: with Redis
 * killed, the last 512 KiB of its append-only file are cut off (read-model
 * batches and their offsets, accepted orders, idempotency keys), as a power
 * cut would. The gateway's projector must notice and read those events
 * again: afterwards the read model agrees with the services' databases for
 * every finished order (check-invariants' "read model" line), and every
 * order the gateway accepted finishes.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e.h"
#include "support.h"

Test(redis, killed_under_load_and_restarted_the_read_model_still_agrees, .timeout = 420)
{
	const char *env[] = {"RATE=200", "DURATION=20", "DRAIN_S=120",
	                     "OUT_DIR=.run/load/redis-crash", NULL};
	json_t *summary;
	pid_t gen;
	int status;

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
}
