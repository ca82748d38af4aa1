/*
 * Integration: the plumbing under faults on the real stack. PostgreSQL is
 * restarted while consumers work, the broker while relays publish, and the
 * active relay is killed so its standby takes over: every event arrives, and
 * none has a second effect. Restarts servers, so it runs after the others.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec.h"
#include "support.h"

#define N_EVENTS 1000
#define PORT_A   19193
#define PORT_B   19194
#define PORT_C   19195

struct pipeline {
	char in[128], out[128], group[128], group2[160], prefix[128], like[160];
	struct service_proc a, b;
};

/* A (saga_test) consumes in and emits to out; B (saga_test2) consumes out. */
static void pipeline_start(struct pipeline *p, const char *name)
{
	char dlq[200];

	support_unique(p->in, sizeof(p->in), "it-fin");
	support_unique(p->out, sizeof(p->out), "it-fout");
	support_unique(p->group, sizeof(p->group), "it-fg");
	snprintf(p->group2, sizeof(p->group2), "%s-b", p->group);
	support_unique(p->prefix, sizeof(p->prefix), name);
	snprintf(p->like, sizeof(p->like), "%s-%%", p->prefix);
	support_create_topic(p->in, 3);
	support_create_topic(p->out, 3);
	snprintf(dlq, sizeof(dlq), "dlq.%s", p->group);
	support_create_topic(dlq, 1);
	snprintf(dlq, sizeof(dlq), "dlq.%s", p->group2);
	support_create_topic(dlq, 1);
	support_template_start(&p->a, support_env("TEST_DATABASE_URL"), PORT_A, p->group, p->in,
	                       p->out, NULL);
	support_template_start(&p->b, support_env("TEST2_DATABASE_URL"), PORT_B, p->group2, p->out,
	                       NULL, NULL);
}

static long long applied(const char *db_env, const struct pipeline *p)
{
	return support_db_value(support_env(db_env),
	                        "SELECT count(*) FROM template_effects WHERE order_id LIKE $1",
	                        (const char *[]){p->like, NULL});
}

/* Waits until both services applied every event, then checks: exactly once. */
static void expect_all_exactly_once(struct pipeline *p)
{
	const char *q = "SELECT count(*) FROM template_effects WHERE order_id LIKE $1";
	const char *distinct = "SELECT count(DISTINCT order_id) FROM template_effects WHERE "
	                       "order_id LIKE $1";
	const char *params[] = {p->like, NULL};

	cr_expect_eq(support_db_wait(support_env("TEST_DATABASE_URL"), q, params, N_EVENTS, 120000),
	             N_EVENTS, "A applied %lld of %d", applied("TEST_DATABASE_URL", p), N_EVENTS);
	cr_expect_eq(
	        support_db_wait(support_env("TEST2_DATABASE_URL"), q, params, N_EVENTS, 120000),
	        N_EVENTS, "B applied %lld of %d", applied("TEST2_DATABASE_URL", p), N_EVENTS);
	sleep(1); /* any late duplicate would land now */
	cr_expect_eq(support_db_value(support_env("TEST_DATABASE_URL"), q, params), N_EVENTS);
	cr_expect_eq(support_db_value(support_env("TEST_DATABASE_URL"), distinct, params),
	             N_EVENTS);
	cr_expect_eq(support_db_value(support_env("TEST2_DATABASE_URL"), q, params), N_EVENTS,
	             "an event had a second effect in B");
	cr_expect_eq(support_db_value(support_env("TEST2_DATABASE_URL"), distinct, params),
	             N_EVENTS);
	cr_expect_eq(support_db_wait(support_env("TEST_DATABASE_URL"),
	                             "SELECT count(*) FROM outbox", NULL, 0, 30000),
	             0, "A's outbox did not drain");
}

/* Waits until A has applied at least n events (so the fault hits work in progress). */
static void wait_for_progress(struct pipeline *p, long long n)
{
	for (int i = 0; i < 600 && applied("TEST_DATABASE_URL", p) < n; i++)
		usleep(50 * 1000);
}

Test(faults, postgres_restarted_while_consumers_work, .timeout = 300)
{
	struct pipeline p;

	pipeline_start(&p, "pgfault");
	support_produce_events(support_codec(), p.in, p.prefix, N_EVENTS);
	wait_for_progress(&p, 50);
	cr_log_info("restarting PostgreSQL with %lld of %d applied by A",
	            applied("TEST_DATABASE_URL", &p), N_EVENTS);
	cr_assert_eq(support_sh("bash deploy/local/postgres.sh stop >/dev/null"), 0);
	sleep(2);
	cr_assert_eq(support_sh("bash deploy/local/postgres.sh start >/dev/null"), 0);
	expect_all_exactly_once(&p);
	support_service_stop(&p.a);
	support_service_stop(&p.b);
}

Test(faults, the_broker_restarted_while_relays_publish, .timeout = 300)
{
	struct pipeline p;

	pipeline_start(&p, "kfault");
	support_produce_events(support_codec(), p.in, p.prefix, N_EVENTS);
	wait_for_progress(&p, 50);
	cr_log_info("restarting Kafka with %lld of %d applied by A",
	            applied("TEST_DATABASE_URL", &p), N_EVENTS);
	cr_assert_eq(support_sh("bash deploy/local/kafka.sh stop >/dev/null"), 0);
	sleep(1);
	cr_assert_eq(support_sh("bash deploy/local/kafka.sh start >/dev/null"), 0);
	expect_all_exactly_once(&p);
	support_service_stop(&p.a);
	support_service_stop(&p.b);
}

/* Whether the daemon on port reports itself as its database's active relay. */
static int relay_active(int port)
{
	char body[65536];
	const char *m;

	if (support_http(port, "GET", "/metrics", NULL, NULL, body, sizeof(body)) != 200)
		return -1;
	m = strstr(body, "saga_outbox_relay_active{service=\"template\"} ");
	return m ? atoi(m + strlen("saga_outbox_relay_active{service=\"template\"} ")) : -1;
}

Test(faults, a_standby_relay_takes_over_when_the_active_one_dies, .timeout = 300)
{
	struct pipeline p;
	struct service_proc standby;
	struct service_proc *active, *other;

	pipeline_start(&p, "standby");
	/* A second process on A's database: same group, its relay a standby. */
	support_template_start(&standby, support_env("TEST_DATABASE_URL"), PORT_C, p.group, p.in,
	                       p.out, NULL);
	sleep(1);
	cr_assert_eq(relay_active(PORT_A) + relay_active(PORT_C), 1,
	             "exactly one relay per database is active (A: %d, standby: %d)",
	             relay_active(PORT_A), relay_active(PORT_C));
	active = relay_active(PORT_A) == 1 ? &p.a : &standby;
	other = active == &p.a ? &standby : &p.a;
	kill(active->pid, SIGKILL);
	support_wait_exit(active->pid, 5000);
	active->pid = 0;
	for (int i = 0; i < 50 && relay_active(other->port) != 1; i++)
		usleep(100 * 1000);
	cr_expect_eq(relay_active(other->port), 1, "the standby relay did not take over");
	support_produce_events(support_codec(), p.in, p.prefix, N_EVENTS);
	expect_all_exactly_once(&p);
	support_service_stop(other);
	support_service_stop(&p.b);
}
