/*
 * Integration: the outbox relay and the idempotent consumer on the real
 * stack, through the template service: duplicates, out-of-order commits,
 * a relay killed between the broker's ack and its delete, poison messages.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "codec.h"
#include "db.h"
#include "event.h"
#include "outbox.h"
#include "support.h"

#define PORT_A 19191
#define PORT_B 19192

static long long effects(const char *db, const char *event_id)
{
	const char *p[] = {event_id, NULL};

	return support_db_value(db, "SELECT count(*) FROM template_effects WHERE event_id = $1", p);
}

/* Topic names unique to this test run, created with 3 partitions. */
static void make_topics(char *in, char *out, char *group, size_t size)
{
	char dlq[300];

	support_unique(in, size, "it-in");
	support_unique(group, size, "it-g");
	support_create_topic(in, 3);
	snprintf(dlq, sizeof(dlq), "dlq.%s", group);
	support_create_topic(dlq, 1);
	if (out) {
		support_unique(out, size, "it-out");
		support_create_topic(out, 3);
	}
}

Test(plumbing, the_same_event_delivered_twice_has_one_effect, .timeout = 120)
{
	const char *db = support_env("TEST_DATABASE_URL");
	char in[128], group[128], id[40];
	struct service_proc a;
	unsigned char *v;
	size_t len;

	make_topics(in, NULL, group, sizeof(in));
	v = support_encode_event(support_codec(), "dup-order", id, &len);
	support_produce(in, "dup-order", v, len);
	support_produce(in, "dup-order", v, len);
	support_template_start(&a, db, PORT_A, group, in, NULL, NULL);
	cr_expect_eq(support_db_wait(db, "SELECT count(*) FROM inbox WHERE event_id = $1",
	                             (const char *[]){id, NULL}, 1, 30000),
	             1);
	/* The second copy is counted as a duplicate once it has been consumed. */
	char line[256];
	long long dups = -1;

	snprintf(line, sizeof(line), "saga_consumer_duplicates_total{group=\"%s\"} ", group);
	for (int i = 0; i < 100 && dups < 1; i++, usleep(100 * 1000))
		dups = support_metric(PORT_A, line);
	cr_expect_eq(dups, 1, "duplicates counted: %lld", dups);
	cr_expect_eq(effects(db, id), 1, "the event was applied %lld times", effects(db, id));
	support_service_stop(&a);
	free(v);
}

/* An OrderCompleted (a type the test's consumer does not handle). */
static unsigned char *encode_completed(const char *order_id, size_t *len)
{
	json_t *rec = json_pack("{s:s, s:s, s:o}", "order_id", order_id, "customer_id", "it",
	                        "metadata", event_metadata("it", NULL, order_id, NULL));
	unsigned char *out;
	char err[256];

	cr_assert_eq(
	        codec_encode(support_codec(), "OrderCompleted", rec, &out, len, err, sizeof(err)),
	        0, "%s", err);
	json_decref(rec);
	return out;
}

Test(plumbing, events_of_types_not_handled_are_skipped_without_a_trace, .timeout = 120)
{
	const char *db = support_env("TEST_DATABASE_URL");
	const char *const extra[] = {"CONSUME_TYPES=OrderCancelled", NULL};
	char in[128], group[128], dlq[160], handled[40], line[256];
	struct service_proc a;
	unsigned char *v, *other;
	size_t len, other_len;
	long long skipped = -1;
	json_t *dead;

	make_topics(in, NULL, group, sizeof(in));
	snprintf(dlq, sizeof(dlq), "dlq.%s", group);
	/* Not ours by its header: not even decoded, so not poison either. */
	support_produce_typed(in, "skip-key", "\xc3\x01garbage!", 10, "ShipmentCreated");
	/* No header: decoded, then skipped for its type. */
	other = encode_completed("skip-key", &other_len);
	support_produce(in, "skip-key", other, other_len);
	/* Ours: applied. */
	v = support_encode_event(support_codec(), "skip-key", handled, &len);
	support_produce_typed(in, "skip-key", v, len, "OrderCancelled");
	support_template_start(&a, db, PORT_A, group, in, NULL, extra);

	cr_expect_eq(support_db_wait(db,
	                             "SELECT count(*) FROM template_effects WHERE event_id = $1",
	                             (const char *[]){handled, NULL}, 1, 30000),
	             1, "the handled event was not applied");
	snprintf(line, sizeof(line), "saga_consumer_skipped_total{group=\"%s\"} ", group);
	for (int i = 0; i < 100 && skipped < 2; i++, usleep(100 * 1000))
		skipped = support_metric(PORT_A, line);
	cr_expect_eq(skipped, 2, "skipped: %lld", skipped);
	cr_expect_eq(support_db_value(db, "SELECT count(*) FROM inbox WHERE consumer = $1",
	                              (const char *[]){group, NULL}),
	             1, "only the handled event leaves an inbox row");
	dead = support_read_topic(dlq, -1, 10000);
	cr_expect_eq(json_array_size(dead), 0, "nothing is dead-lettered");
	json_decref(dead);
	support_service_stop(&a);
	free(v);
	free(other);
}

static unsigned char *unhex(const char *hex, size_t *len)
{
	size_t n = strlen(hex) / 2;
	unsigned char *out = malloc(n ? n : 1);

	for (size_t i = 0; i < n; i++) {
		unsigned int b;

		cr_assert_eq(sscanf(hex + 2 * i, "%2x", &b), 1);
		out[i] = (unsigned char)b;
	}
	*len = n;
	return out;
}

#define ORDERED_EVENTS 100

Test(plumbing, events_emitted_in_a_batch_are_published_in_the_order_they_were_caused,
     .timeout = 120)
{
	const char *db = support_env("TEST_DATABASE_URL");
	char in[128], out[128], group[128], ids[ORDERED_EVENTS][40];
	struct service_proc a;
	json_t *emitted;

	make_topics(in, out, group, sizeof(in));
	/* Queued before the consumer starts, so they arrive in a few large batches. */
	for (int i = 0; i < ORDERED_EVENTS; i++) {
		size_t len;
		unsigned char *v = support_encode_event(support_codec(), "one-key", ids[i], &len);

		support_produce(in, "one-key", v, len);
		free(v);
	}
	support_template_start(&a, db, PORT_A, group, in, out, NULL);
	emitted = support_read_topic(out, ORDERED_EVENTS, 60000);
	cr_assert_eq(json_array_size(emitted), ORDERED_EVENTS, "%zu of %d emitted",
	             json_array_size(emitted), ORDERED_EVENTS);
	for (int i = 0; i < ORDERED_EVENTS; i++) {
		size_t len;
		unsigned char *v = unhex(json_string_value(json_object_get(
		                                 json_array_get(emitted, (size_t)i), "value_hex")),
		                         &len);
		const char *type;
		json_t *rec = NULL;
		char err[256];

		cr_assert_eq(codec_decode(support_codec(), v, len, &type, &rec, err, sizeof(err)),
		             0, "%s", err);
		cr_expect_str_eq(event_str(rec, "cause_event_id"), ids[i], "event %d out of order",
		                 i);
		json_decref(rec);
		free(v);
	}
	json_decref(emitted);
	support_service_stop(&a);
}

Test(plumbing, a_poison_message_goes_to_the_dlq_and_the_partition_moves_on, .timeout = 120)
{
	const char *db = support_env("TEST_DATABASE_URL");
	char in[128], group[128], dlq[160], good1[40], good2[40], empty_id[40];
	struct service_proc a;
	unsigned char *v1, *v2, *bad;
	size_t l1, l2, lbad;
	json_t *dead;

	make_topics(in, NULL, group, sizeof(in));
	snprintf(dlq, sizeof(dlq), "dlq.%s", group);
	/* Same key: one partition, in this order. */
	v1 = support_encode_event(support_codec(), "p-1", good1, &l1);
	bad = support_encode_event(support_codec(), "", empty_id, &lbad); /* fails validation */
	v2 = support_encode_event(support_codec(), "p-2", good2, &l2);
	support_produce(in, "same-key", v1, l1);
	support_produce(in, "same-key", "\xc3\x01garbage!", 10); /* cannot decode */
	support_produce(in, "same-key", bad, lbad);
	support_produce(in, "same-key", v2, l2);
	support_template_start(&a, db, PORT_A, group, in, NULL, NULL);

	cr_expect_eq(support_db_wait(db,
	                             "SELECT count(*) FROM template_effects WHERE event_id = $1",
	                             (const char *[]){good2, NULL}, 1, 30000),
	             1, "the event behind the poison was not processed");
	cr_expect_eq(effects(db, good1), 1);
	cr_expect_eq(effects(db, empty_id), 0);
	dead = support_read_topic(dlq, 2, 30000);
	cr_assert_eq(json_array_size(dead), 2, "expected 2 dead letters, got %zu",
	             json_array_size(dead));
	for (size_t i = 0; i < 2; i++) {
		json_t *h = json_object_get(json_array_get(dead, i), "headers");

		cr_expect_str_eq(json_string_value(json_object_get(h, "dlq-topic")), in);
		cr_expect_str_eq(json_string_value(json_object_get(h, "dlq-group")), group);
		cr_expect_str_eq(json_string_value(json_object_get(h, "dlq-partition")),
		                 json_string_value(json_object_get(h, "dlq-partition")));
		cr_expect_not_null(json_object_get(h, "dlq-offset"));
		cr_expect_not_null(json_object_get(h, "dlq-error"));
		cr_expect_str_eq(json_string_value(json_object_get(json_array_get(dead, i), "key")),
		                 "same-key");
	}
	cr_expect(strstr(json_string_value(json_object_get(
	                         json_object_get(json_array_get(dead, 0), "headers"), "dlq-error")),
	                 "unknown schema fingerprint"),
	          "first dead letter: the undecodable value");
	cr_expect(strstr(json_string_value(json_object_get(
	                         json_object_get(json_array_get(dead, 1), "headers"), "dlq-error")),
	                 "has no order_id"),
	          "second dead letter: the invalid event");
	json_decref(dead);
	support_service_stop(&a);
	free(v1);
	free(v2);
	free(bad);
}

/* Runs dlq-replay with the given settings; returns its exit code and output. */
static int run_replay(const char *group, const char *to, char *out, size_t size)
{
	char cmd[1024];
	FILE *p;
	size_t n;

	snprintf(cmd, sizeof(cmd),
	         "KAFKA_BOOTSTRAP=%s DLQ_GROUP=%s REPLAY_TO=%s REPLAY_IDLE_MS=2000 %s 2>&1",
	         support_env("KAFKA_BOOTSTRAP"), group, to, support_bin("dlq-replay"));
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	n = fread(out, 1, size - 1, p);
	out[n] = '\0';
	return WEXITSTATUS(pclose(p));
}

Test(plumbing, dlq_replay_republishes_dead_letters_once, .timeout = 120)
{
	const char *db = support_env("TEST_DATABASE_URL");
	char in[128], group[128], dlq[160], again[128], out[4096];
	struct service_proc a;
	json_t *replayed;

	make_topics(in, NULL, group, sizeof(in));
	snprintf(dlq, sizeof(dlq), "dlq.%s", group);
	support_unique(again, sizeof(again), "it-replayed");
	support_create_topic(again, 1);
	support_produce(in, "k1", "\xc3\x01not-avro", 10);
	support_produce(in, "k2", "\xc3\x01garbage2", 10);
	support_template_start(&a, db, PORT_A, group, in, NULL, NULL);
	json_decref(support_read_topic(dlq, 2, 30000));
	support_service_stop(&a);

	cr_assert_eq(run_replay(group, again, out, sizeof(out)), 0, "%s", out);
	cr_expect(strstr(out, "dlq-replay: 2 replayed"), "%s", out);
	replayed = support_read_topic(again, 2, 20000);
	cr_assert_eq(json_array_size(replayed), 2);
	for (size_t i = 0; i < 2; i++) {
		json_t *m = json_array_get(replayed, i);
		const char *key = json_string_value(json_object_get(m, "key"));

		cr_expect(!strcmp(key, "k1") || !strcmp(key, "k2"), "key %s", key);
		cr_expect_null(json_object_get(json_object_get(m, "headers"), "dlq-error"),
		               "dlq-* headers are removed");
	}
	json_decref(replayed);
	/* Progress is kept: a second run finds nothing new. */
	cr_assert_eq(run_replay(group, again, out, sizeof(out)), 0, "%s", out);
	cr_expect(strstr(out, "dlq-replay: 0 replayed"), "%s", out);
}

Test(plumbing, a_row_committed_after_a_higher_id_is_still_published, .timeout = 120)
{
	const char *db = support_env("TEST_DATABASE_URL");
	char in[128], out[128], group[128], err[256], first[40], second[40];
	struct service_proc a;
	struct outbox *ob;
	struct outbox_cfg oc = {support_codec(), "it"};
	PGconn *c1 = PQconnectdb(db), *c2 = PQconnectdb(db);
	json_t *seen;
	PGresult *ids;

	make_topics(in, out, group, sizeof(in));
	support_template_start(&a, db, PORT_A, group, in, NULL, NULL); /* runs the relay */
	cr_assert_eq(outbox_new(&ob, &oc), 0);
	PQclear(PQexec(c1, "BEGIN"));
	PQclear(PQexec(c2, "BEGIN"));
	cr_assert_eq(outbox_add(ob, c1, "OrderCancelled",
	                        json_pack("{s:s, s:s, s:s}", "order_id", "late", "customer_id", "c",
	                                  "reason", "r"),
	                        NULL, "late", NULL, out, first, err, sizeof(err)),
	             0, "%s", err);
	cr_assert_eq(outbox_add(ob, c2, "OrderCancelled",
	                        json_pack("{s:s, s:s, s:s}", "order_id", "early", "customer_id",
	                                  "c", "reason", "r"),
	                        NULL, "early", NULL, out, second, err, sizeof(err)),
	             0, "%s", err);
	ids = PQexec(c2, "SELECT max(id) FROM outbox");
	cr_log_info("the second transaction holds outbox id %s", PQgetvalue(ids, 0, 0));
	PQclear(ids);
	PQclear(PQexec(c2, "COMMIT")); /* the higher id commits first ... */
	seen = support_read_topic(out, 1, 20000);
	cr_expect_eq(json_array_size(seen), 1, "the committed row was not published alone");
	json_decref(seen);
	PQclear(PQexec(c1, "COMMIT")); /* ... and the lower id after it was published */
	seen = support_read_topic(out, 2, 20000);
	cr_expect_eq(json_array_size(seen), 2, "the late-committing row was skipped");
	for (size_t i = 0; i < json_array_size(seen); i++) {
		const char *h = json_string_value(json_object_get(
		        json_object_get(json_array_get(seen, i), "headers"), "event-id"));

		cr_expect(h && (!strcmp(h, first) || !strcmp(h, second)));
	}
	json_decref(seen);
	cr_expect_eq(support_db_wait(db, "SELECT count(*) FROM outbox", NULL, 0, 10000), 0);
	outbox_free(ob);
	PQfinish(c1);
	PQfinish(c2);
	support_service_stop(&a);
}

Test(plumbing, a_relay_killed_after_the_ack_loses_nothing_and_duplicates_have_no_effect,
     .timeout = 180)
{
	const char *db = support_env("TEST_DATABASE_URL");
	const char *db2 = support_env("TEST2_DATABASE_URL");
	const char *kill_after_ack[] = {"RELAY_FAULT_KILL_AFTER_ACK=true", NULL};
	char in[128], out[128], group[128], group2[160], id[40], order[64];
	const char *by_order[] = {order, NULL};
	struct service_proc a, b;
	unsigned char *v;
	size_t len;
	json_t *published;
	int status;

	make_topics(in, out, group, sizeof(in));
	snprintf(group2, sizeof(group2), "%s-down", group);
	{
		char dlq2[200];

		snprintf(dlq2, sizeof(dlq2), "dlq.%s", group2);
		support_create_topic(dlq2, 1);
	}
	/* A consumes in, emits to out; B (its own database) consumes out. */
	support_template_start(&a, db, PORT_A, group, in, out, kill_after_ack);
	support_template_start(&b, db2, PORT_B, group2, out, NULL, NULL);
	support_unique(order, sizeof(order), "kill");
	v = support_encode_event(support_codec(), order, id, &len);
	support_produce(in, order, v, len);
	status = support_wait_exit(a.pid, 30000);
	cr_assert_neq(status, -1, "the relay did not kill itself");
	cr_expect(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "status %d", status);
	a.pid = 0;
	cr_expect_eq(effects(db, id), 1, "A applied the input once before dying");
	cr_expect_eq(support_db_value(db, "SELECT count(*) FROM outbox WHERE topic = $1",
	                              (const char *[]){out, NULL}),
	             1, "the acknowledged row is still in the outbox");

	/* Restart A normally: its relay publishes the row again. */
	support_template_start(&a, db, PORT_A, group, in, out, NULL);
	cr_expect_eq(support_db_wait(db, "SELECT count(*) FROM outbox WHERE topic = $1",
	                             (const char *[]){out, NULL}, 0, 30000),
	             0, "the outbox row was not published after the restart");
	published = support_read_topic(out, 2, 20000);
	cr_expect_eq(json_array_size(published), 2, "the event should be on the topic twice");
	/* B applied the emitted event exactly once, although it arrived twice. */
	cr_expect_eq(support_db_wait(db2,
	                             "SELECT count(*) FROM template_effects WHERE order_id = $1",
	                             by_order, 1, 20000),
	             1, "B never applied the emitted event");
	cr_expect_eq(support_db_wait(db2, "SELECT count(*) FROM inbox WHERE topic = $1",
	                             (const char *[]){out, NULL}, 1, 5000),
	             1);
	usleep(1000 * 1000); /* time for a second copy to have its (lack of) effect */
	cr_expect_eq(support_db_value(db2,
	                              "SELECT count(*) FROM template_effects WHERE order_id = $1",
	                              by_order),
	             1, "B applied the duplicated event more than once");
	cr_expect_eq(effects(db, id), 1, "A's restart re-read the input without a second effect");
	json_decref(published);
	support_service_stop(&a);
	support_service_stop(&b);
	free(v);
}
