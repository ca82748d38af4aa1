/*
 * dlq-replay - re-publishes dead-lettered messages to the topic they came
 * from, once the cause is fixed (docs/operations.md).
 *
 *   DLQ_GROUP=payment dlq-replay            replay dlq.payment to the origin topics
 *   DLQ_GROUP=payment REPLAY_DRY_RUN=1 ...  list what would be replayed
 *
 * Each message keeps its key, value and headers, less the dlq-* headers; it
 * goes to the topic named by its dlq-topic header (or REPLAY_TO). Progress is
 * kept as the offsets of consumer group "dlq-replay.<group>", so a second run
 * replays only what was dead-lettered since. The run ends when the topic has
 * been idle for REPLAY_IDLE_MS.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "config.h"
#include "clock.h"
#include "event.h"
#include "kafka.h"
#include "log.h"

struct replay_cfg {
	struct kafka_endpoint kafka;
	char *group;
	char *to;
	bool dry_run;
	long idle_ms;
	long limit;
};

static const struct config_var vars[] = {
        KAFKA_ENDPOINT_VARS(struct replay_cfg, kafka),
        CONFIG_STR("DLQ_GROUP", NULL, struct replay_cfg, group,
                   "the consumer group whose dead letters (dlq.<group>) to replay"),
        CONFIG_STR("REPLAY_TO", "", struct replay_cfg, to,
                   "publish to this topic instead of each message's origin"),
        CONFIG_BOOL("REPLAY_DRY_RUN", "false", struct replay_cfg, dry_run,
                    "list the messages, publish nothing, commit nothing"),
        CONFIG_INT("REPLAY_IDLE_MS", "3000", 100, 600000, struct replay_cfg, idle_ms,
                   "stop after the topic has been idle this long"),
        CONFIG_INT("REPLAY_LIMIT", "0", 0, 100000000, struct replay_cfg, limit,
                   "replay at most this many messages (0: all)"),
};
#define NVARS (sizeof(vars) / sizeof(vars[0]))

/* Copies msg's headers except the dlq-* ones; *origin receives dlq-topic. */
static rd_kafka_headers_t *origin_headers(const rd_kafka_message_t *msg, char *origin, size_t size)
{
	rd_kafka_headers_t *in = NULL, *out = rd_kafka_headers_new(8);
	const char *name;
	const void *val;
	size_t len;

	origin[0] = '\0';
	if (rd_kafka_message_headers(msg, &in) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return out;
	for (size_t i = 0; rd_kafka_header_get_all(in, i, &name, &val, &len) == 0; i++) {
		if (strcmp(name, "dlq-topic") == 0)
			snprintf(origin, size, "%.*s", (int)len, val ? (const char *)val : "");
		if (strncmp(name, "dlq-", 4) == 0)
			continue;
		rd_kafka_header_add(out, name, -1, val, (ssize_t)len);
	}
	return out;
}

static int replay(const struct replay_cfg *cfg)
{
	char errstr[512], dlq[300], group[300];
	const char *topics[2] = {dlq, NULL};
	struct kafka_consumer_cfg cc = {
	        .kafka = &cfg->kafka, .group = group, .client_id = "dlq-replay"};
	struct kafka_producer_cfg pc = {.kafka = &cfg->kafka, .client_id = "dlq-replay"};
	rd_kafka_t *consumer = NULL, *producer = NULL;
	long long idle_since = clock_mono_ms();
	long replayed = 0, skipped = 0;
	int rc = 1;

	snprintf(dlq, sizeof(dlq), "dlq.%s", cfg->group);
	snprintf(group, sizeof(group), "dlq-replay.%s", cfg->group);
	if (kafka_consumer_new(&consumer, &cc, errstr, sizeof(errstr)) < 0 ||
	    kafka_subscribe(consumer, topics, errstr, sizeof(errstr)) < 0 ||
	    kafka_producer_new(&producer, &pc, errstr, sizeof(errstr)) < 0) {
		LOG(ERROR, "%s", errstr);
		goto out;
	}
	while (clock_mono_ms() - idle_since < cfg->idle_ms &&
	       (cfg->limit == 0 || replayed < cfg->limit)) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(consumer, 200);
		char origin[256];
		const char *target;
		rd_kafka_headers_t *h;
		rd_kafka_resp_err_t err;

		if (!m)
			continue;
		if (m->err) {
			LOG(WARN, "%s", rd_kafka_message_errstr(m));
			rd_kafka_message_destroy(m);
			continue;
		}
		idle_since = clock_mono_ms();
		h = origin_headers(m, origin, sizeof(origin));
		target = cfg->to[0] ? cfg->to : origin;
		if (!target[0]) {
			LOG(WARN, "%s offset %lld has no dlq-topic header; skipped", dlq,
			    (long long)m->offset);
			rd_kafka_headers_destroy(h);
			skipped++;
		} else if (cfg->dry_run) {
			printf("would replay %s[%d]@%lld to %s (%zu bytes)\n", dlq,
			       (int)m->partition, (long long)m->offset, target, m->len);
			rd_kafka_headers_destroy(h);
		} else {
			err = rd_kafka_producev(producer, RD_KAFKA_V_TOPIC(target),
			                        RD_KAFKA_V_KEY(m->key, m->key_len),
			                        RD_KAFKA_V_VALUE(m->payload, m->len),
			                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
			                        RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
			if (err || rd_kafka_flush(producer, 30000) != 0) {
				LOG(ERROR, "could not replay %s offset %lld to %s: %s", dlq,
				    (long long)m->offset, target, rd_kafka_err2str(err));
				if (err)
					rd_kafka_headers_destroy(h);
				rd_kafka_message_destroy(m);
				goto out;
			}
			/* Only after the broker has it: the replay's own progress. */
			rd_kafka_commit_message(consumer, m, 0);
			printf("replayed %s[%d]@%lld to %s\n", dlq, (int)m->partition,
			       (long long)m->offset, target);
		}
		replayed++;
		rd_kafka_message_destroy(m);
	}
	printf("dlq-replay: %ld %s, %ld skipped\n", replayed,
	       cfg->dry_run ? "would be replayed" : "replayed", skipped);
	rc = 0;
out:
	if (consumer) {
		rd_kafka_consumer_close(consumer);
		rd_kafka_destroy(consumer);
	}
	if (producer)
		rd_kafka_destroy(producer);
	return rc;
}

int main(int argc, char **argv)
{
	struct replay_cfg cfg = {0};
	int rc;

	log_init("dlq-replay", LOG_LEVEL_INFO);
	config_load_or_exit(&cfg, vars, NVARS, argc, argv);
	rc = replay(&cfg);
	config_release(&cfg, vars, NVARS);
	return rc;
}
