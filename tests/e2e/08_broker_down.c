/*
 * End to end: the broker goes away and comes back. While it is away the
 * gateway answers 503 with Retry-After (never 202 for an order that could be
 * lost); once it is back, orders flow again and every invariant holds.
 * Runs last: it stops, freezes and starts Kafka.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "e2e.h"
#include "support.h"

Test(broker, down_gives_503_and_back_gives_202, .timeout = 420)
{
	char id[40], reply[1024];
	int status = 0;

	cr_assert_eq(support_sh("bash deploy/local/kafka.sh stop >/dev/null"), 0);
	status = e2e_post_order(e2e_order_body("e2e-broker", "1 Main St", "p-0011", 1), NULL, NULL,
	                        id, reply, sizeof(reply));
	cr_expect_eq(status, 503, "with the broker down: %d %s", status, reply);
	cr_expect(strstr(reply, "\"status\":503"), "%s", reply);
	cr_assert_eq(support_sh("bash deploy/local/kafka.sh start >/dev/null"), 0);
	/* The gateway takes orders again once its producer has reconnected. */
	for (int i = 0; i < 60 && status != 202; i++) {
		status = e2e_post_order(e2e_order_body("e2e-broker", "1 Main St", "p-0011", 1),
		                        NULL, NULL, id, reply, sizeof(reply));
		if (status != 202)
			sleep(1);
	}
	cr_assert_eq(status, 202, "no 202 within a minute of the broker's return: %s", reply);
	/* A consumer can need a minute to rejoin its group (docs/operations.md). */
	json_decref(e2e_wait_terminal(id, 120000));
	e2e_expect_invariants();
}

/*
 * The broker frozen (SIGSTOP) for longer than the gateway waits for its
 * acknowledgement: the order's outcome is unknown, not failed (the broker
 * may append it once it runs again). A client that retries with the same
 * Idempotency-Key gets one order id, and exactly one order exists.
 */
Test(broker, frozen_past_the_ack_timeout_a_retry_with_the_same_key_makes_one_order, .timeout = 420)
{
	char customer[64], key[64], body[1024], id[40] = "", again[40] = "", reply[1024];
	int first, status = 0;

	support_unique(customer, sizeof(customer), "e2e-frozen");
	support_unique(key, sizeof(key), "idem-frozen");
	snprintf(body, sizeof(body), "%s", e2e_order_body(customer, "1 Main St", "p-0012", 1));
	/* A connected producer writes the request before the broker freezes, so
	 * the broker usually appends it once it runs again: the ack is lost, the
	 * order is not. */
	cr_assert_eq(e2e_post_order(e2e_order_body("e2e-frozen-warmup", "1 Main St", "p-0012", 1),
	                            NULL, NULL, NULL, reply, sizeof(reply)),
	             202, "%s", reply);
	cr_assert_eq(support_sh("kill -STOP \"$(cat .run/kafka/kafka.pid)\""), 0);
	first = e2e_post_order(body, key, NULL, NULL, reply, sizeof(reply));
	sleep(1);
	cr_assert_eq(support_sh("kill -CONT \"$(cat .run/kafka/kafka.pid)\""), 0);
	cr_expect_eq(first, 503, "with the broker frozen: %d %s", first, reply);
	for (int i = 0; i < 60 && status != 202; i++) {
		status = e2e_post_order(body, key, NULL, id, reply, sizeof(reply));
		if (status != 202)
			sleep(1);
	}
	cr_assert_eq(status, 202, "no 202 within a minute of the broker's return: %s", reply);
	cr_expect_eq(e2e_post_order(body, key, NULL, again, reply, sizeof(reply)), 202);
	cr_expect_str_eq(again, id, "the same key gave another order");
	json_decref(e2e_wait_terminal(id, 120000));
	cr_expect_eq(
	        e2e_db("ORDER", "SELECT count(*) FROM orders WHERE customer_id = $1", customer), 1,
	        "one Idempotency-Key, one order");
	cr_expect_eq(e2e_db("ORDER", "SELECT count(*) FROM orders WHERE order_id = $1", id), 1);
	e2e_expect_invariants();
}
