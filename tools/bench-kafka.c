/*
 * bench-kafka - the broker's produce and consume rate for messages of
 * BENCH_SIZE bytes through librdkafka, with the saga's durable producer
 * settings (acks=all, idempotence). Part of `make bench`; prints one JSON line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "config.h"
#include "clock.h"
#include "kafka.h"
#include "log.h"

struct bench_cfg {
	struct kafka_endpoint kafka;
	long messages;
	long size;
};

static const struct config_var vars[] = {
        KAFKA_ENDPOINT_VARS(struct bench_cfg, kafka),
        CONFIG_INT("BENCH_MESSAGES", "500000", 1000, 100000000, struct bench_cfg, messages,
                   "messages to produce and consume"),
        CONFIG_INT("BENCH_SIZE", "300", 1, 1000000, struct bench_cfg, size, "bytes per message"),
};
#define NVARS (sizeof(vars) / sizeof(vars[0]))

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct bench_cfg cfg = {0};
	char errstr[512], topic[64], group[96];
	rd_kafka_t *p, *c;
	char *payload;
	double t0, produce_s, consume_s;
	long got = 0;

	log_init("bench-kafka", LOG_LEVEL_WARN);
	config_load_or_exit(&cfg, vars, NVARS, argc, argv);
	snprintf(topic, sizeof(topic), "bench-kafka-%ld", (long)time(NULL));
	{
		struct kafka_new_topic t = {topic, 6, 1, NULL, false};

		if (kafka_create_topics(&cfg.kafka, &t, 1, 30000, errstr, sizeof(errstr)) < 0)
			die("could not create %s: %s", topic, errstr);
	}
	payload = malloc((size_t)cfg.size);
	memset(payload, 'x', (size_t)cfg.size);
	{
		struct kafka_producer_cfg pc = {
		        .kafka = &cfg.kafka, .client_id = "bench", .linger_ms = 5};

		if (kafka_producer_new(&p, &pc, errstr, sizeof(errstr)) < 0)
			die("%s", errstr);
	}
	t0 = now_s();
	for (long i = 0; i < cfg.messages; i++) {
		char key[24];

		snprintf(key, sizeof(key), "k%ld", i % 1000);
		while (rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic),
		                         RD_KAFKA_V_KEY(key, strlen(key)),
		                         RD_KAFKA_V_VALUE(payload, (size_t)cfg.size),
		                         RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
		                         RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
			rd_kafka_poll(p, 5);
		rd_kafka_poll(p, 0);
	}
	rd_kafka_flush(p, 120000);
	produce_s = now_s() - t0;
	rd_kafka_destroy(p);
	{
		const char *topics[] = {topic, NULL};
		struct kafka_consumer_cfg cc = {
		        .kafka = &cfg.kafka, .group = group, .client_id = "bench"};

		snprintf(group, sizeof(group), "%s-reader", topic);
		if (kafka_consumer_new(&c, &cc, errstr, sizeof(errstr)) < 0 ||
		    kafka_subscribe(c, topics, errstr, sizeof(errstr)) < 0)
			die("%s", errstr);
	}
	t0 = 0;
	while (got < cfg.messages) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 1000);

		if (!m)
			continue;
		if (!m->err) {
			if (got++ == 0)
				t0 = now_s(); /* from the first message: the group join is not throughput */
		}
		rd_kafka_message_destroy(m);
	}
	consume_s = now_s() - t0;
	rd_kafka_consumer_close(c);
	rd_kafka_destroy(c);
	if (kafka_delete_topic(&cfg.kafka, topic, 10000, errstr, sizeof(errstr)) < 0)
		LOG(WARN, "%s", errstr);
	printf("{\"messages\": %ld, \"size\": %ld, \"produce_per_s\": %.0f, \"consume_per_s\": "
	       "%.0f}\n",
	       cfg.messages, cfg.size, (double)cfg.messages / produce_s,
	       (double)cfg.messages / consume_s);
	free(payload);
	config_release(&cfg, vars, NVARS);
	return 0;
}
