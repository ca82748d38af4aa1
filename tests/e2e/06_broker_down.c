/*
 * End to end: the broker goes away and comes back. While it is away the
 * gateway answers 503 with Retry-After (never 202 for an order that could be
 * lost); once it is back, orders flow again and every invariant holds.
 * Runs last: it stops and starts Kafka.
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
