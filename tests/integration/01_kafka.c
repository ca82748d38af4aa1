/* Integration: an idempotent acks=all producer and a consumer group, on the real broker. */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kafka.h"
#include "support.h"

#define N_MESSAGES 200
#define N_KEYS     7

static atomic_int delivered_ok;
static atomic_int delivered_err;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
	(void)rk;
	(void)opaque;
	if (msg->err)
		atomic_fetch_add(&delivered_err, 1);
	else
		atomic_fetch_add(&delivered_ok, 1);
}

static const char *conf_get(rd_kafka_t *rk, const char *name, char *buf, size_t size)
{
	cr_assert_eq(rd_kafka_conf_get(rd_kafka_conf(rk), name, buf, &size), RD_KAFKA_CONF_OK);
	return buf;
}

Test(kafka, keyed_messages_with_headers_round_trip_through_a_group, .timeout = 120)
{
	char topic[128], group[128], errstr[512], buf[64];
	struct kafka_producer_cfg pc = {
	        .kafka = support_kafka(), .client_id = "it-producer", .on_delivery = on_delivery};
	rd_kafka_t *producer, *consumer;
	int next_seq[N_KEYS] = {0};
	int received = 0;

	support_unique(topic, sizeof(topic), "it-kafka");
	support_unique(group, sizeof(group), "it-group");
	support_create_topic(topic, 3);

	cr_assert_eq(kafka_producer_new(&producer, &pc, errstr, sizeof(errstr)), 0, "%s", errstr);
	cr_expect_str_eq(conf_get(producer, "enable.idempotence", buf, sizeof(buf)), "true");
	cr_expect_str_eq(conf_get(producer, "acks", buf, sizeof(buf)), "-1"); /* all */

	for (int i = 0; i < N_MESSAGES; i++) {
		char key[16], value[64], id[32];
		int k = i % N_KEYS;

		snprintf(key, sizeof(key), "order-%d", k);
		snprintf(value, sizeof(value), "payload %d of %s", i / N_KEYS, key);
		snprintf(id, sizeof(id), "ev-%d", i);
		rd_kafka_resp_err_t err = rd_kafka_producev(
		        producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
		        RD_KAFKA_V_VALUE(value, strlen(value)),
		        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
		        RD_KAFKA_V_HEADER("event-type", "TestEvent", -1),
		        RD_KAFKA_V_HEADER("event-id", id, -1), RD_KAFKA_V_END);
		cr_assert_eq(err, 0, "produce: %s", rd_kafka_err2str(err));
		rd_kafka_poll(producer, 0);
	}
	cr_assert_eq(rd_kafka_flush(producer, 30000), 0, "flush timed out");
	cr_expect_eq(atomic_load(&delivered_ok), N_MESSAGES);
	cr_expect_eq(atomic_load(&delivered_err), 0);
	rd_kafka_destroy(producer);

	struct kafka_consumer_cfg cc = {
	        .kafka = support_kafka(), .group = group, .client_id = "it"};
	const char *topics[] = {topic, NULL};

	cr_assert_eq(kafka_consumer_new(&consumer, &cc, errstr, sizeof(errstr)), 0, "%s", errstr);
	cr_assert_eq(kafka_subscribe(consumer, topics, errstr, sizeof(errstr)), 0, "%s", errstr);
	long long deadline = support_now_ms() + 60000;
	while (received < N_MESSAGES && support_now_ms() < deadline) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(consumer, 500);
		char key[32], value[64], hdr[64];
		int k, seq;

		if (!m)
			continue;
		cr_assert_eq(m->err, 0, "consume: %s", rd_kafka_message_errstr(m));
		snprintf(key, sizeof(key), "%.*s", (int)m->key_len, (const char *)m->key);
		snprintf(value, sizeof(value), "%.*s", (int)m->len, (const char *)m->payload);
		cr_assert_eq(sscanf(key, "order-%d", &k), 1, "key %s", key);
		cr_assert_eq(sscanf(value, "payload %d of", &seq), 1, "value %s", value);
		/* Per key, messages arrive in the order they were produced. */
		cr_expect_eq(seq, next_seq[k], "key %s: got %d, expected %d", key, seq,
		             next_seq[k]);
		next_seq[k] = seq + 1;
		cr_expect_str_eq(kafka_header(m, "event-type", hdr, sizeof(hdr)), "TestEvent");
		snprintf(value, sizeof(value), "ev-%d", seq * N_KEYS + k);
		cr_expect_str_eq(kafka_header(m, "event-id", hdr, sizeof(hdr)), value);
		cr_expect_null(kafka_header(m, "missing", hdr, sizeof(hdr)));
		received++;
		{
			rd_kafka_topic_partition_list_t *at = rd_kafka_topic_partition_list_new(1);

			rd_kafka_topic_partition_list_add(at, topic, m->partition)->offset =
			        m->offset + 1;
			cr_assert_eq(rd_kafka_offsets_store(consumer, at), 0);
			rd_kafka_topic_partition_list_destroy(at);
		}
		rd_kafka_message_destroy(m);
	}
	cr_expect_eq(received, N_MESSAGES);
	{
		/* Nothing left to commit (_NO_OFFSET) when the periodic commit was first. */
		rd_kafka_resp_err_t err = rd_kafka_commit(consumer, NULL, 0);

		cr_expect(err == 0 || err == RD_KAFKA_RESP_ERR__NO_OFFSET, "commit: %s",
		          rd_kafka_err2str(err));
	}
	{
		/* The group's committed offsets cover every message read. */
		rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(3);
		long long total = 0;

		for (int p = 0; p < 3; p++)
			rd_kafka_topic_partition_list_add(parts, topic, p);
		cr_assert_eq(rd_kafka_committed(consumer, parts, 10000), 0);
		for (int i = 0; i < parts->cnt; i++)
			total += parts->elems[i].offset > 0 ? parts->elems[i].offset : 0;
		cr_expect_eq(total, N_MESSAGES);
		rd_kafka_topic_partition_list_destroy(parts);
	}
	rd_kafka_consumer_close(consumer);
	rd_kafka_destroy(consumer);
}

Test(kafka, ping_answers_for_a_live_broker_and_fails_for_a_dead_one, .timeout = 60)
{
	char errstr[512];
	rd_kafka_t *rk;
	char dead_address[] = "127.0.0.1:1";
	struct kafka_endpoint nowhere = *support_kafka();
	struct kafka_producer_cfg live = {.kafka = support_kafka()};
	struct kafka_producer_cfg dead = {.kafka = &nowhere};

	nowhere.bootstrap = dead_address;
	cr_assert_eq(kafka_producer_new(&rk, &live, errstr, sizeof(errstr)), 0, "%s", errstr);
	cr_expect_eq(kafka_ping(rk, 5000, errstr, sizeof(errstr)), 0, "%s", errstr);
	rd_kafka_destroy(rk);
	cr_assert_eq(kafka_producer_new(&rk, &dead, errstr, sizeof(errstr)), 0, "%s", errstr);
	cr_expect_eq(kafka_ping(rk, 1000, errstr, sizeof(errstr)), ERR_RETRY);
	cr_expect(strstr(errstr, "broker did not answer"), "%s", errstr);
	rd_kafka_destroy(rk);
}

/* Stores and commits the offset after the first n messages of partition 0. */
static void commit_through(rd_kafka_t *consumer, const char *topic, int64_t n)
{
	rd_kafka_topic_partition_list_t *at = rd_kafka_topic_partition_list_new(1);

	rd_kafka_topic_partition_list_add(at, topic, 0)->offset = n;
	cr_assert_eq(rd_kafka_offsets_store(consumer, at), 0);
	cr_assert_eq(rd_kafka_commit(consumer, NULL, 0), 0);
	rd_kafka_topic_partition_list_destroy(at);
}

static long long lag_of(rd_kafka_t *admin, const char *group)
{
	char errstr[512];
	long long lag = -1, end = support_now_ms() + 30000;
	int rc;

	/* A fresh broker answers "coordinator loading" for a while: retriable. */
	while ((rc = kafka_group_lag(admin, group, 10000, &lag, errstr, sizeof(errstr))) ==
	               ERR_RETRY &&
	       support_now_ms() < end)
		usleep(200 * 1000);
	cr_assert_eq(rc, 0, "%s", errstr);
	return lag;
}

Test(kafka, a_groups_lag_is_what_it_has_not_committed_members_or_not, .timeout = 120)
{
	char topic[128], group[128], errstr[512];
	struct kafka_consumer_cfg cc = {.kafka = support_kafka(), .client_id = "it-lag"};
	const char *topics[] = {topic, NULL};
	rd_kafka_t *consumer, *admin;
	int received = 0;

	support_unique(topic, sizeof(topic), "it-lag");
	support_unique(group, sizeof(group), "it-lag");
	support_create_topic(topic, 1);
	for (int i = 0; i < 10; i++)
		support_produce(topic, "k", "v", 1);
	cc.group = group;
	admin = kafka_admin_new(support_kafka(), errstr, sizeof(errstr));
	cr_assert_not_null(admin, "%s", errstr);
	cr_expect_eq(lag_of(admin, group), 0, "a group that never committed");
	cr_assert_eq(kafka_consumer_new(&consumer, &cc, errstr, sizeof(errstr)), 0, "%s", errstr);
	cr_assert_eq(kafka_subscribe(consumer, topics, errstr, sizeof(errstr)), 0, "%s", errstr);
	for (long long end = support_now_ms() + 60000; received < 10 && support_now_ms() < end;) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(consumer, 500);

		if (m && !m->err)
			received++;
		if (m)
			rd_kafka_message_destroy(m);
	}
	cr_assert_eq(received, 10);
	commit_through(consumer, topic, 4);
	cr_expect_eq(lag_of(admin, group), 6);
	commit_through(consumer, topic, 10);
	cr_expect_eq(lag_of(admin, group), 0);
	/* Without members (its daemon stopped or rejoining) it is behind all the same. */
	rd_kafka_consumer_close(consumer);
	rd_kafka_destroy(consumer);
	support_produce(topic, "k", "v", 1);
	support_produce(topic, "k", "v", 1);
	cr_expect_eq(lag_of(admin, group), 2);
	rd_kafka_destroy(admin);
}
