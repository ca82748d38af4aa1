/*
 * The gateway's read model: every saga event moves its order's record in
 * Redis (status, the payment, inventory and shipment status, total, and the
 * event history); ProductUpdated keeps the catalogue. Applying an event is
 * one Lua script, idempotent by event id, and a status never moves back, so
 * duplicates and events that arrive out of order across topics are harmless.
 * A polled batch goes to Redis in one pipelined round trip; its offsets are
 * stored (and committed by the consumer's periodic commit) after Redis
 * answered every command. When Redis is away the batch is read again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "event.h"
#include "gateway.h"
#include "kafka.h"
#include "log.h"

#define PROJECTOR_BATCH 256

/* KEYS: order hash, history list. ARGV: event id, history entry, sub-status
 * field, its value, status rank, status, total ("" when none), reason (""
 * when none). The history (a dozen entries, each naming its event id) is
 * also the record of the events applied. */
static const char apply_script[] =
        "for _, e in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do\n"
        "  if string.find(e, ARGV[1], 1, true) then return 0 end\n"
        "end\n"
        "redis.call('RPUSH', KEYS[2], ARGV[2])\n"
        "if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], ARGV[3], ARGV[4]) end\n"
        "local rank = tonumber(redis.call('HGET', KEYS[1], 'status_rank') or '-1')\n"
        "if ARGV[6] ~= '' and tonumber(ARGV[5]) > rank then\n"
        "  redis.call('HSET', KEYS[1], 'status', ARGV[6], 'status_rank', ARGV[5])\n"
        "elseif not redis.call('HGET', KEYS[1], 'status') then\n"
        "  redis.call('HSET', KEYS[1], 'status', 'PENDING', 'status_rank', '0')\n"
        "end\n"
        "if ARGV[7] ~= '' then redis.call('HSET', KEYS[1], 'total_cents', ARGV[7]) end\n"
        "if ARGV[8] ~= '' then redis.call('HSET', KEYS[1], 'cancel_reason', ARGV[8]) end\n"
        "return 1\n";

/* How each event moves the order's record. */
static const struct {
	const char *type;
	const char *field; /* sub-status it sets, or "" */
	const char *value;
	const char *status; /* order status it sets, or "" */
	int rank;           /* statuses only move to a higher rank */
} effects[] = {
        {"OrderRequested", "", "", "PENDING", 0},
        {"OrderCreated", "", "", "PENDING", 0},
        {"OrderConfirmed", "", "", "CONFIRMED", 2},
        {"OrderCancelled", "", "", "CANCELLED", 3},
        {"OrderCompleted", "", "", "COMPLETED", 3},
        {"PaymentProcessed", "payment_status", "PAID", "", 0},
        {"PaymentFailed", "payment_status", "DECLINED", "", 0},
        {"PaymentRefunded", "payment_status", "REFUNDED", "", 0},
        {"InventoryReserved", "inventory_status", "RESERVED", "", 0},
        {"InventoryInsufficient", "inventory_status", "INSUFFICIENT", "", 0},
        {"InventoryReleased", "inventory_status", "RELEASED", "", 0},
        {"ShipmentCreated", "shipment_status", "CREATED", "", 0},
        {"ShipmentDispatched", "shipment_status", "DISPATCHED", "", 0},
        {"ShipmentDelivered", "shipment_status", "DELIVERED", "", 0},
        {"ShipmentFailed", "shipment_status", "FAILED", "", 0},
        {"NotificationSent", "", "", "", 0},
};

static const char *const topics[] = {
        "order-requests",  "order-events",        "payment-events",  "inventory-events",
        "shipping-events", "notification-events", "product-catalog", NULL};

struct projector {
	struct gateway *g;
	rd_kafka_t *consumer;
	redisContext *redis;
	char script_sha[48]; /* apply_script, loaded on connect */
	rd_kafka_message_t *batch[PROJECTOR_BATCH];
	char *redis_url;
	pthread_t thread;
	bool started;
	atomic_bool stop;
};

/* Queues the command(s) that apply one event; returns how many replies to read. */
static int queue_order_event(struct projector *p, const char *type, const json_t *r)
{
	const char *order_id = event_str(r, "order_id");
	char entry[512], total[32] = "", rank[8];
	size_t i;

	for (i = 0; i < sizeof(effects) / sizeof(effects[0]); i++)
		if (!strcmp(effects[i].type, type))
			break;
	if (i == sizeof(effects) / sizeof(effects[0]) || !order_id)
		return 0;
	snprintf(entry, sizeof(entry), "{\"event\":\"%s\",\"event_id\":\"%s\",\"at\":%lld}", type,
	         event_meta(r, "event_id"),
	         (long long)json_integer_value(
	                 json_object_get(json_object_get(r, "metadata"), "occurred_at")));
	if (json_object_get(r, "total_cents"))
		snprintf(total, sizeof(total), "%lld", (long long)event_int(r, "total_cents"));
	snprintf(rank, sizeof(rank), "%d", effects[i].rank);
	redisAppendCommand(
	        p->redis, "EVALSHA %s 2 order:%s order:%s:history %s %s %s %s %s %s %s %s",
	        p->script_sha, order_id, order_id, event_meta(r, "event_id"), entry,
	        effects[i].field, effects[i].value, rank, effects[i].status, total,
	        !strcmp(type, "OrderCancelled") && event_str(r, "reason") ? event_str(r, "reason")
	                                                                  : "");
	return 1;
}

static int queue_product(struct projector *p, const json_t *r)
{
	const char *id = event_str(r, "product_id");

	if (!id)
		return 0;
	redisAppendCommand(p->redis,
	                   "HSET product:%s name %s price_cents %lld currency %s available %lld",
	                   id, event_str(r, "name"), (long long)event_int(r, "price_cents"),
	                   event_str(r, "currency"), (long long)event_int(r, "available"));
	redisAppendCommand(p->redis, "ZADD products 0 %s", id);
	return 2;
}

static int queue_message(struct projector *p, const rd_kafka_message_t *m)
{
	const char *type;
	json_t *record = NULL;
	char why[256];
	int n = 0;

	if (codec_decode(p->g->codec, m->payload, m->len, &type, &record, why, sizeof(why)) == 0)
		n = !strcmp(type, "ProductUpdated") ? queue_product(p, record)
		                                    : queue_order_event(p, type, record);
	else
		LOG(WARN, "read model skips an undecodable message on %s: %s",
		    rd_kafka_topic_name(m->rkt), why);
	json_decref(record);
	return n;
}

/* Connects and loads the script; 0 or an error (logged). */
static int connect_redis(struct projector *p)
{
	redisReply *r;
	char why[256];

	if (redis_connect(&p->redis, p->redis_url, 2000, why, sizeof(why)) < 0) {
		LOG(WARN, "read model: %s", why);
		return ERR_RETRY;
	}
	r = redisCommand(p->redis, "SCRIPT LOAD %s", apply_script);
	if (r && r->type == REDIS_REPLY_STRING) {
		snprintf(p->script_sha, sizeof(p->script_sha), "%s", r->str);
		freeReplyObject(r);
		return 0;
	}
	LOG(WARN, "read model: could not load its script: %s", r ? r->str : p->redis->errstr);
	freeReplyObject(r);
	redisFree(p->redis);
	p->redis = NULL;
	return ERR_RETRY;
}

/* Polls up to PROJECTOR_BATCH messages, waiting up to 100 ms for the first. */
static int gather(struct projector *p)
{
	int n = 0;

	while (n < PROJECTOR_BATCH) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(p->consumer, n == 0 ? 100 : 0);

		if (!m)
			break;
		if (m->err) {
			rd_kafka_message_destroy(m);
			continue;
		}
		p->batch[n++] = m;
	}
	return n;
}

/* Applies the batch in one round trip; 0, or -1 when Redis failed. */
static int apply_batch(struct projector *p, int n)
{
	int replies = 0, rc = 0;

	for (int i = 0; i < n; i++)
		replies += queue_message(p, p->batch[i]);
	while (replies-- > 0) {
		redisReply *r = NULL;

		if (redisGetReply(p->redis, (void **)&r) != REDIS_OK)
			return -1;
		if (r->type == REDIS_REPLY_ERROR) {
			LOG(WARN, "read model script failed: %s", r->str);
			rc = -1; /* e.g. the script was flushed: reconnect, reload, retry */
		}
		freeReplyObject(r);
	}
	return rc;
}

/* Marks the batch consumed (stored offsets) or rewinds to its start. */
static void finish_batch(struct projector *p, int n, bool applied)
{
	rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(n);

	for (int i = 0; i < n; i++) {
		kafka_position_add(list, p->batch[i], applied);
		rd_kafka_message_destroy(p->batch[i]);
	}
	if (applied) {
		rd_kafka_offsets_store(p->consumer, list);
	} else {
		rd_kafka_error_t *err = rd_kafka_seek_partitions(p->consumer, list, 1000);

		if (err) {
			LOG(WARN, "read model could not rewind: %s", rd_kafka_error_string(err));
			rd_kafka_error_destroy(err);
		}
	}
	rd_kafka_topic_partition_list_destroy(list);
}

static void *projector_main(void *arg)
{
	struct projector *p = arg;
	int failures = 0;

	while (!atomic_load(&p->stop)) {
		int n;

		if (!p->redis && connect_redis(p) < 0) {
			daemon_sleep(daemon_backoff_ms(failures++, 200, 5000));
			continue;
		}
		n = gather(p);
		if (n == 0)
			continue;
		if (apply_batch(p, n) < 0) {
			/* Redis is away: read the batch again once it is back. */
			finish_batch(p, n, false);
			redisFree(p->redis);
			p->redis = NULL;
			continue;
		}
		failures = 0;
		finish_batch(p, n, true);
	}
	return NULL;
}

int projector_start(struct projector **out, struct gateway *g, const char *bootstrap,
                    const char *redis_url, char *errstr, size_t errstr_size)
{
	struct projector *p = calloc(1, sizeof(*p));
	struct kafka_consumer_cfg cc = {
	        .bootstrap = bootstrap, .group = "gateway", .client_id = "gateway-read-model"};
	int rc;

	*out = NULL;
	if (!p)
		return ERR_NOMEM;
	p->g = g;
	p->redis_url = strdup(redis_url);
	rc = kafka_consumer_new(&p->consumer, &cc, errstr, errstr_size);
	if (rc == 0)
		rc = kafka_subscribe(p->consumer, topics, errstr, errstr_size);
	if (rc == 0 && pthread_create(&p->thread, NULL, projector_main, p) != 0)
		rc = ERR_FATAL;
	if (rc < 0) {
		projector_stop(p);
		return rc;
	}
	p->started = true;
	*out = p;
	return 0;
}

void projector_stop(struct projector *p)
{
	if (!p)
		return;
	atomic_store(&p->stop, true);
	if (p->started)
		pthread_join(p->thread, NULL);
	if (p->consumer) {
		rd_kafka_commit(p->consumer, NULL, 0);
		rd_kafka_consumer_close(p->consumer);
		rd_kafka_destroy(p->consumer);
	}
	if (p->redis)
		redisFree(p->redis);
	free(p->redis_url);
	free(p);
}
