/*
 * Integration: one active relay per database, really. Two template daemons
 * share one database (like order and order#2): the session of the relay
 * that holds the lock is terminated with pg_terminate_backend again and
 * again under load. The relay that lost its session must stop claiming to
 * be active at once (its connection comes back by itself, its lock does
 * not), every event is published and none has two effects. And a fatal
 * error of the idempotent producer makes the relay start a new one.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support.h"

#define PORT_A          19194
#define PORT_B          19195
#define KILLS           20
#define EVENTS_PER_KILL 100

/* Produces EVENTS_PER_KILL events KILLS times, 100 ms apart: the load. */
struct load {
	const char *topic, *prefix;
};

static void *produce_load(void *arg)
{
	const struct load *l = arg;

	for (int k = 0; k < KILLS; k++) {
		char batch[160];

		snprintf(batch, sizeof(batch), "%s-%d", l->prefix, k);
		support_produce_events(support_codec(), l->topic, batch, EVENTS_PER_KILL);
		usleep(100 * 1000);
	}
	return NULL;
}

static const char active_line[] = "saga_outbox_relay_active{service=\"template\"} ";

/* Samples both relays' active gauges until stopped: the longest time both said 1. */
struct sampler {
	atomic_bool stop;
	long long longest_both_ms, samples;
};

static void *sample(void *arg)
{
	struct sampler *s = arg;
	long long since = -1;

	while (!atomic_load(&s->stop)) {
		long long now = support_now_ms();
		bool both = support_metric(PORT_A, active_line) == 1 &&
		            support_metric(PORT_B, active_line) == 1;

		s->samples++;
		if (both && since < 0)
			since = now;
		if (!both)
			since = -1;
		if (since >= 0 && now - since > s->longest_both_ms)
			s->longest_both_ms = now - since;
		usleep(20 * 1000);
	}
	return NULL;
}

/* Terminates the backend holding the relay lock in the test database; 1 when one was. */
static long long terminate_lock_holder(const char *db)
{
	return support_db_value(db,
	                        "SELECT count(pg_terminate_backend(l.pid)) FROM pg_locks l"
	                        " JOIN pg_database d ON d.oid = l.database"
	                        " WHERE l.locktype = 'advisory' AND l.granted"
	                        " AND d.datname = current_database()",
	                        (const char *[]){NULL});
}

/* Distinct keys starting with prefix on topic, waiting up to a minute for want. */
static long long distinct_keys(const char *topic, const char *prefix, long long want)
{
	long long n = 0, until = support_now_ms() + 60000;

	while (n < want && support_now_ms() < until) {
		json_t *all = support_read_topic(topic, -1, 10000);
		json_t *seen = json_object();
		size_t i;
		json_t *m;

		json_array_foreach (all, i, m) {
			const char *k = json_string_value(json_object_get(m, "key"));

			if (k && !strncmp(k, prefix, strlen(prefix)))
				json_object_set_new(seen, k, json_true());
		}
		n = (long long)json_object_size(seen);
		json_decref(seen);
		json_decref(all);
	}
	return n;
}

static void make_topics(char *in, char *out, char *group, size_t size)
{
	char dlq[300];

	support_unique(in, size, "it-relay-in");
	support_unique(out, size, "it-relay-out");
	support_unique(group, size, "it-rg");
	support_create_topic(in, 3);
	support_create_topic(out, 3);
	snprintf(dlq, sizeof(dlq), "dlq.%s", group);
	support_create_topic(dlq, 1);
}

Test(relay, a_relay_whose_session_is_terminated_stops_publishing_and_nothing_is_lost,
     .timeout = 300)
{
	const char *db = support_env("TEST_DATABASE_URL");
	char in[128], out[128], group[128], prefix[128], like[160];
	struct service_proc a, b;
	struct sampler s = {0};
	pthread_t thread, producer;
	struct load load;
	int terminated = 0;

	make_topics(in, out, group, sizeof(in));
	support_unique(prefix, sizeof(prefix), "rk");
	support_template_start(&a, db, PORT_A, group, in, out, NULL);
	support_template_start(&b, db, PORT_B, group, in, out, NULL);
	load = (struct load){in, prefix};
	pthread_create(&thread, NULL, sample, &s);
	pthread_create(&producer, NULL, produce_load, &load);
	/* At moments that fall anywhere in the relays' rounds, waits and idle polls. */
	srand((unsigned)support_now_ms());
	for (int k = 0; k < KILLS; k++) {
		usleep((useconds_t)(200 + rand() % 1300) * 1000);
		terminated += (int)terminate_lock_holder(db);
	}
	pthread_join(producer, NULL);
	sleep(2);
	atomic_store(&s.stop, true);
	pthread_join(thread, NULL);
	cr_expect_geq(terminated, KILLS - 2, "only %d of %d lock holders were terminated",
	              terminated, KILLS);
	cr_expect_lt(s.longest_both_ms, 1000,
	             "both relays said they were active for %lld ms (%lld samples)",
	             s.longest_both_ms, s.samples);
	cr_log_info("longest time both relays said active: %lld ms in %lld samples",
	            s.longest_both_ms, s.samples);
	snprintf(like, sizeof(like), "%s-%%", prefix);
	cr_expect_eq(support_db_wait(db,
	                             "SELECT count(*) FROM template_effects WHERE order_id LIKE $1",
	                             (const char *[]){like, NULL}, KILLS * EVENTS_PER_KILL, 60000),
	             KILLS * EVENTS_PER_KILL);
	cr_expect_eq(support_db_value(db,
	                              "SELECT count(DISTINCT event_id) FROM template_effects"
	                              " WHERE order_id LIKE $1",
	                              (const char *[]){like, NULL}),
	             KILLS * EVENTS_PER_KILL, "an event had two effects");
	cr_expect_eq(support_db_wait(db, "SELECT count(*) FROM outbox", (const char *[]){NULL}, 0,
	                             60000),
	             0, "outbox rows left unpublished");
	cr_expect_eq(distinct_keys(out, prefix, KILLS * EVENTS_PER_KILL), KILLS * EVENTS_PER_KILL,
	             "not every event was published");
	cr_expect_eq(support_metric(PORT_A, active_line) + support_metric(PORT_B, active_line), 1,
	             "one relay is active at the end");
	support_service_stop(&a);
	support_service_stop(&b);
}

Test(relay, a_fatal_producer_error_gets_a_new_producer, .timeout = 120)
{
	const char *db = support_env("TEST_DATABASE_URL");
	const char *extra[] = {"RELAY_FAULT_FATAL_ERROR=true", NULL};
	char in[128], out[128], group[128], prefix[128], cmd[512];
	struct service_proc a;

	make_topics(in, out, group, sizeof(in));
	support_unique(prefix, sizeof(prefix), "rf");
	support_template_start(&a, db, PORT_A, group, in, out, extra);
	support_produce_events(support_codec(), in, prefix, 50);
	cr_expect_eq(distinct_keys(out, prefix, 50), 50, "not every event was published");
	snprintf(cmd, sizeof(cmd), "grep -q 'starting a new producer' %s", a.log);
	cr_expect_eq(support_sh(cmd), 0, "no new producer in %s", a.log);
	support_service_stop(&a);
}
