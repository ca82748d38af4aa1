/*
 * End to end: the saga's deadline. With payment stopped, an order cannot be
 * confirmed: at its deadline (the order daemons restarted here with
 * ORDER_DEADLINE_MS=3000) it is cancelled with reason TIMEOUT and its
 * reservation released; one whose deadline passes while the order daemons
 * are down is cancelled when they come back (the timer lives in the
 * database). Payment restarted charges both late and refunds them: a late
 * success is compensated, never applied. The order daemon's gauges show
 * the open orders. The daemons get their usual settings back at the end.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e.h"
#include "support.h"

#define TIMEOUT 60000

static void daemons(const char *settings, const char *verb, const char *names)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "%s BUILD_DIR=%s bash deploy/local/daemons.sh %s %s >/dev/null",
	         settings, getenv("BUILD_DIR") ? getenv("BUILD_DIR") : "build/asan", verb, names);
	cr_assert_eq(support_sh(cmd), 0, "%s failed", cmd);
}

static void restore(void)
{
	daemons("", "stop", "order order#2");
	daemons("", "start", "order order#2 payment");
}

static long long order_count(const char *id, const char *status)
{
	const char *params[] = {id, status, NULL};

	return support_db_value(support_env("ORDER_DATABASE_URL"),
	                        "SELECT count(*) FROM orders WHERE order_id = $1 AND status = $2",
	                        params);
}

static void expect_timed_out(const char *id)
{
	json_t *o = e2e_wait_terminal(id, TIMEOUT);

	cr_expect_str_eq(json_string_value(json_object_get(o, "status")), "CANCELLED");
	cr_expect_str_eq(json_string_value(json_object_get(o, "cancel_reason")), "TIMEOUT");
	json_decref(o);
}

static void wait_refunded(const char *id)
{
	const char *params[] = {id, NULL};

	cr_expect_eq(support_db_wait(support_env("PAYMENT_DATABASE_URL"),
	                             "SELECT count(*) FROM payments WHERE order_id = $1"
	                             " AND status = 'REFUNDED'",
	                             params, 1, TIMEOUT),
	             1, "order %s: its late charge was not refunded", id);
}

Test(deadline, an_order_not_confirmed_in_time_is_cancelled_and_compensated, .timeout = 300,
     .fini = restore)
{
	char first[40], second[40];
	const char *body = e2e_order_body("e2e-deadline", "1 Deadline St", "p-0077", 1);

	daemons("", "stop", "payment order order#2");
	daemons("ORDER_DEADLINE_MS=3000", "start", "order order#2");
	cr_assert_eq(e2e_post_order(body, NULL, NULL, first, NULL, 0), 202);
	cr_expect_eq(support_db_wait(support_env("ORDER_DATABASE_URL"),
	                             "SELECT count(*) FROM orders WHERE order_id = $1",
	                             (const char *[]){first, NULL}, 1, TIMEOUT),
	             1);
	cr_expect_geq(support_metric(9101, "saga_orders_oldest_open_age_seconds "), 0);
	expect_timed_out(first);

	/* Its deadline passes while the order daemons are down. */
	cr_assert_eq(e2e_post_order(body, NULL, NULL, second, NULL, 0), 202);
	cr_expect_eq(support_db_wait(support_env("ORDER_DATABASE_URL"),
	                             "SELECT count(*) FROM orders WHERE order_id = $1",
	                             (const char *[]){second, NULL}, 1, TIMEOUT),
	             1);
	daemons("", "stop", "order order#2");
	cr_expect_eq(order_count(second, "CREATED"), 1);
	sleep(4);
	daemons("ORDER_DEADLINE_MS=3000", "start", "order order#2");
	expect_timed_out(second);

	/* Payment comes back: it charges both late, and refunds both. */
	daemons("", "start", "payment");
	wait_refunded(first);
	wait_refunded(second);
	e2e_expect_invariants();
}
