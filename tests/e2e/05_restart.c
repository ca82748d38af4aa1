/*
 * End to end: a daemon stopped while orders are in flight and started again:
 * its orders finish and every invariant holds. Runs last: it restarts daemons.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e.h"
#include "support.h"

#define ORDERS 40

static pid_t pid_of(const char *daemon)
{
	char path[128];
	FILE *f;
	long pid = 0;

	snprintf(path, sizeof(path), ".run/pids/%s.pid", daemon);
	f = fopen(path, "r");
	cr_assert_not_null(f, "%s is not running", daemon);
	cr_assert_eq(fscanf(f, "%ld", &pid), 1);
	fclose(f);
	return (pid_t)pid;
}

static void restart_while_ordering(const char *daemon)
{
	char ids[ORDERS][40], cmd[256];
	pid_t pid = pid_of(daemon);

	for (int i = 0; i < ORDERS; i++) {
		char body[512];

		snprintf(body, sizeof(body), "%s",
		         e2e_order_body(i % 4 == 0 ? "declined-restart" : "e2e-restart",
		                        "1 Main St", "p-0010", 1));
		cr_assert_eq(e2e_post_order(body, NULL, NULL, ids[i], NULL, 0), 202);
		if (i == ORDERS / 4) {
			cr_log_info("stopping %s (pid %d) with orders in flight", daemon, (int)pid);
			cr_assert_eq(kill(pid, SIGTERM), 0);
		}
	}
	for (int i = 0; i < 100 && kill(pid, 0) == 0; i++)
		usleep(100 * 1000);
	cr_assert_neq(kill(pid, 0), 0, "%s did not stop within 10 s of SIGTERM", daemon);
	snprintf(cmd, sizeof(cmd), "BUILD_DIR=%s bash deploy/local/daemons.sh start >/dev/null",
	         getenv("BUILD_DIR") ? getenv("BUILD_DIR") : "build/asan");
	cr_assert_eq(support_sh(cmd), 0, "%s did not start again", daemon);
	for (int i = 0; i < ORDERS; i++)
		json_decref(e2e_wait_terminal(ids[i], 60000));
	e2e_expect_invariants();
}

Test(restart, payment_restarted_with_orders_in_flight, .timeout = 300)
{
	restart_while_ordering("payment");
}

Test(restart, order_restarted_with_orders_in_flight, .timeout = 300)
{
	restart_while_ordering("order");
}
