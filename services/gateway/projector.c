/*
 * The gateway's read model: every saga event moves its order's record in
 * Redis (status, the payment, inventory and shipment status, total, and the
 * event history); ProductUpdated keeps the catalogue. Applying an event is
 * one Lua script, idempotent by event id, and a status never moves back, so
 * duplicates and events that arrive out of order across topics are harmless.
 *
 * The projector runs the consumer loop (consumer.h) with a Redis applier: a
 * batch is one MULTI/EXEC transaction holding its effects and the offsets
 * after it (READMODEL_OFFSETS), so Redis's own durability (an fsync a
 * second) can lose a suffix of batches but never keep an offset without its
 * effects; on assignment the partitions start from those offsets (from the
 * beginning when Redis has none: the read model is rebuilt). Poison goes to
 * dlq.gateway before the batch's offsets move on.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consumer.h"
#include "clock.h"
#include "event.h"
#include "gateway.h"
#include "kafka.h"
#include "log.h"
#include "readmodel.h"
#include "signals.h"

#define PROJECTOR_BATCH           256
#define PROJECTOR_GROUP           "gateway"
#define DLQ_TIMEOUT_MS            30000
#define STR_(x)                   #x
#define STR(x)                    STR_(x)
#define READMODEL_RECENT_MAX_TEXT STR(READMODEL_RECENT_MAX)

/* KEYS: order hash, history list, counts by status, open orders, the
 * customer's orders, everyone's recent orders. ARGV: "event_id":"<the
 * event's id>" (as it stands in its history entry: an entry also names the
 * id of the event that caused it), history entry, sub-status field, its
 * value, rank (of the status, or of the sub-status), status, total ("" when
 * none), reason ("" when none), the event's time + the TTL and now (both in
 * seconds), the event's time (ms), the customer's entry ("" when the event
 * names no customer), the bound below which customer entries are older than
 * the TTL, the customer set's expiry (s), the order id.
 *
 * The history (a dozen entries, each naming its event id) is also the
 * record of the events applied. Neither the status nor a sub-status ever
 * moves back to a lower rank, so events applied out of order (a rebuild) end
 * in the same state; the counts move with the status (-1 the old one, +1 the
 * new), so they too end the same. A finished record expires at the latest
 * event time + TTL; an event older than the TTL is dropped, whether its
 * record is still there or not (either way would otherwise depend on the
 * order in which a rebuild brings the events). */
static const char apply_script[] =
        "local expire_at = tonumber(ARGV[9])\n"
        "if expire_at <= tonumber(ARGV[10]) then\n"
        "  return 0\n"
        "end\n"
        "for _, e in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do\n"
        "  if string.find(e, ARGV[1], 1, true) then return 0 end\n"
        "end\n"
        "redis.call('RPUSH', KEYS[2], ARGV[2])\n"
        "if ARGV[3] ~= '' then\n"
        "  local r = tonumber(redis.call('HGET', KEYS[1], ARGV[3] .. '_rank') or '-1')\n"
        "  if tonumber(ARGV[5]) >= r then\n"
        "    redis.call('HSET', KEYS[1], ARGV[3], ARGV[4], ARGV[3] .. '_rank', ARGV[5])\n"
        "  end\n"
        "end\n"
        "local had = redis.call('HGET', KEYS[1], 'status_rank')\n"
        "local old = redis.call('HGET', KEYS[1], 'status')\n"
        "local new, new_rank\n"
        "if ARGV[6] ~= '' and tonumber(ARGV[5]) > tonumber(had or '-1') then\n"
        "  new, new_rank = ARGV[6], ARGV[5]\n"
        "elseif not had then\n"
        "  new, new_rank = old or 'PENDING', '0'\n"
        "end\n"
        "if new then\n"
        "  redis.call('HSET', KEYS[1], 'status', new, 'status_rank', new_rank)\n"
        "  if had and old then redis.call('HINCRBY', KEYS[3], old, -1) end\n"
        "  redis.call('HINCRBY', KEYS[3], new, 1)\n"
        "end\n"
        "if ARGV[7] ~= '' then redis.call('HSET', KEYS[1], 'total_cents', ARGV[7]) end\n"
        "if ARGV[8] ~= '' then redis.call('HSET', KEYS[1], 'cancel_reason', ARGV[8]) end\n"
        "if tonumber(redis.call('HGET', KEYS[1], 'status_rank') or '-1') >= 3 then\n"
        "  redis.call('ZREM', KEYS[4], ARGV[15])\n"
        "  local now_at = redis.call('EXPIRETIME', KEYS[1])\n"
        "  if now_at < 0 or now_at < expire_at then\n"
        "    redis.call('EXPIREAT', KEYS[1], expire_at)\n"
        "    redis.call('EXPIREAT', KEYS[2], expire_at)\n"
        "  end\n"
        "else\n"
        "  redis.call('ZADD', KEYS[4], 'LT', ARGV[11], ARGV[15])\n"
        "end\n"
        "if ARGV[12] ~= '' then\n"
        "  redis.call('ZADD', KEYS[5], 0, ARGV[12])\n"
        "  redis.call('ZREMRANGEBYLEX', KEYS[5], ARGV[13], '+')\n"
        "  local at = redis.call('EXPIRETIME', KEYS[5])\n"
        "  if at < 0 or at < tonumber(ARGV[14]) then\n"
        "    redis.call('EXPIREAT', KEYS[5], ARGV[14])\n"
        "  end\n"
        "  redis.call('ZADD', KEYS[6], 0, ARGV[12])\n"
        "  redis.call('ZREMRANGEBYRANK', KEYS[6], " READMODEL_RECENT_MAX_TEXT ", -1)\n"
        "end\n"
        "return 1\n";

/* How each event moves the order's record. */
static const struct {
	const char *type;
	const char *field; /* sub-status it sets, or "" */
	const char *value;
	const char *status; /* order status it sets, or "" */
	int rank;           /* the status, or the sub-status, never moves to a lower rank */
} effects[] = {
        {"OrderRequested", "", "", "PENDING", 0},
        {"OrderCreated", "", "", "PENDING", 0},
        {"OrderConfirmed", "", "", "CONFIRMED", 2},
        {"OrderCancelled", "", "", "CANCELLED", 3},
        {"OrderCompleted", "", "", "COMPLETED", 3},
        {"PaymentProcessed", "payment_status", "PAID", "", 1},
        {"PaymentFailed", "payment_status", "DECLINED", "", 1},
        {"PaymentRefunded", "payment_status", "REFUNDED", "", 2},
        {"InventoryReserved", "inventory_status", "RESERVED", "", 1},
        {"InventoryInsufficient", "inventory_status", "INSUFFICIENT", "", 1},
        {"InventoryReleased", "inventory_status", "RELEASED", "", 2},
        {"ShipmentCreated", "shipment_status", "CREATED", "", 1},
        {"ShipmentDispatched", "shipment_status", "DISPATCHED", "", 2},
        {"ShipmentDelivered", "shipment_status", "DELIVERED", "", 3},
        {"ShipmentFailed", "shipment_status", "FAILED", "", 3},
        {"ShipmentCancelled", "shipment_status", "CANCELLED", "", 3},
        {"CancellationRequested", "cancellation", "REQUESTED", "", 1},
        {"OrderCancelling", "cancellation", "REQUESTED", "", 1},
        {"CancellationRefused", "cancellation", "REFUSED", "", 2},
        {"NotificationSent", "", "", "", 0},
};

#define NEFFECTS (sizeof(effects) / sizeof(effects[0]))

/* The index of type's entry in effects[], or NEFFECTS. */
static size_t effect_of(const char *type)
{
	size_t i = 0;

	while (i < NEFFECTS && strcmp(effects[i].type, type) != 0)
		i++;
	return i;
}

static const char *const topics[] = {
        "order-requests",  "order-events",        "payment-events",  "inventory-events",
        "shipping-events", "notification-events", "product-catalog", NULL};

struct projector {
	struct gateway *g;
	struct consumer *consumer;
	rd_kafka_t *dlq; /* producer of dead letters */
	redisContext *redis;
	char script_sha[48]; /* apply_script, loaded on connect */
	long connections;    /* made so far */
	bool rewind;         /* reconnected: Redis may have lost its last batches */
	char *redis_url;
	long ttl_s;           /* READMODEL_TTL_S */
	long long trimmed_at; /* when READMODEL_ACCEPTED was last trimmed (s) */
	/* The read model's orders by state, the open ones and the oldest one's
	 * age, refreshed once a second. */
	struct metric *m_state[4], *m_open, *m_oldest_age;
	struct metric *m_event_age; /* from an event's time to its application */
	/* Events read again (after Redis lost writes, or a reconnection) are
	 * applied again to no effect; they must not be counted again in the
	 * overview's rates nor sent again on the event stream either: the last
	 * offset announced of each partition. */
	rd_kafka_topic_partition_list_t *announced;
	pthread_t thread;
	bool started;
	atomic_bool stop;
};

/* A customer's entry at time ms (READMODEL_CUSTOMER_ENTRY), into buf. */
static void customer_entry(char *buf, size_t size, long long ms, const char *order_id)
{
	ms = ms < 0 ? 0 : ms > READMODEL_TIME_MAX ? READMODEL_TIME_MAX : ms;
	snprintf(buf, size, READMODEL_CUSTOMER_ENTRY, READMODEL_TIME_MAX - ms, order_id);
}

/* The history's entry of one event (READMODEL_HISTORY), into buf; what
 * came from the event is escaped. */
static void history_entry(char *buf, size_t size, const char *type, const json_t *r,
                          long long at_ms)
{
	const char *cause = event_meta(r, "causation_id");
	json_t *e = json_pack("{s:s, s:s*, s:I, s:s*, s:s*}", "event", type, "event_id",
	                      event_meta(r, "event_id"), "at", (json_int_t)at_ms, "producer",
	                      event_meta(r, "producer"), "causation_id", cause);
	char *text = e ? json_dumps(e, JSON_COMPACT) : NULL;

	snprintf(buf, size, "%s", text && strlen(text) < size ? text : "{}");
	free(text);
	json_decref(e);
}

/* Queues the command(s) that apply one event at now_s; returns how many replies to read. */
static int queue_order_event(struct projector *p, const char *type, const json_t *r,
                             long long now_s)
{
	const char *order_id = event_str(r, "order_id");
	const char *customer = !strcmp(type, "OrderRequested") ? event_str(r, "customer_id") : NULL;
	json_int_t at_ms = event_occurred_at(r);
	char entry[512], id_pattern[128], total[32] = "", rank[8], expire_at[24], now[24], at[24],
	                                  mine[128] = "", bound[128] = "", kept[24] = "";
	size_t i;

	if ((i = effect_of(type)) == NEFFECTS || !order_id)
		return 0;
	history_entry(entry, sizeof(entry), type, r, at_ms);
	snprintf(id_pattern, sizeof(id_pattern), "\"event_id\":\"%s\"", event_meta(r, "event_id"));
	if (json_object_get(r, "total_cents"))
		snprintf(total, sizeof(total), "%lld", (long long)event_int(r, "total_cents"));
	snprintf(rank, sizeof(rank), "%d", effects[i].rank);
	snprintf(expire_at, sizeof(expire_at), "%lld", (long long)(at_ms / 1000 + p->ttl_s));
	snprintf(now, sizeof(now), "%lld", now_s);
	snprintf(at, sizeof(at), "%lld", (long long)at_ms);
	if (customer) {
		customer_entry(mine, sizeof(mine), at_ms, order_id);
		bound[0] = '[';
		customer_entry(bound + 1, sizeof(bound) - 1, (now_s - p->ttl_s) * 1000, "");
		snprintf(kept, sizeof(kept), "%lld", (long long)(at_ms / 1000 + 2 * p->ttl_s));
	}
	redisAppendCommand(
	        p->redis,
	        "EVALSHA %s 6 " READMODEL_ORDER " " READMODEL_HISTORY " " READMODEL_BY_STATUS
	        " " READMODEL_OPEN " " READMODEL_CUSTOMER " " READMODEL_RECENT
	        " %s %s %s %s %s %s %s %s %s %s %s %s %s %s %s",
	        p->script_sha, order_id, order_id, customer ? customer : "", id_pattern, entry,
	        effects[i].field, effects[i].value, rank, effects[i].status, total,
	        !strcmp(type, "OrderCancelled") && event_str(r, "reason") ? event_str(r, "reason")
	                                                                  : "",
	        expire_at, now, at, mine, bound, kept, order_id);
	return 1;
}

static int queue_product(struct projector *p, const json_t *r)
{
	const char *id = event_str(r, "product_id");

	if (!id)
		return 0;
	redisAppendCommand(p->redis,
	                   "HSET " READMODEL_PRODUCT
	                   " name %s price_cents %lld currency %s available %lld",
	                   id, event_str(r, "name"), (long long)event_int(r, "price_cents"),
	                   event_str(r, "currency"), (long long)event_int(r, "available"));
	redisAppendCommand(p->redis, "ZADD " READMODEL_PRODUCTS " 0 %s", id);
	return 2;
}

/* Queues the commands that apply one decoded event at now_s; returns how many. */
static int queue_event(struct projector *p, const char *type, const json_t *r, long long now_s)
{
	return !strcmp(type, "ProductUpdated") ? queue_product(p, r)
	                                       : queue_order_event(p, type, r, now_s);
}

/* Connects and loads the script; 0 or ERR_RETRY with why. */
static int connect_redis(struct projector *p, char *why, size_t size)
{
	redisReply *r;

	if (p->redis)
		return 0;
	if (redis_connect(&p->redis, p->redis_url, 2000, why, size) < 0)
		return ERR_RETRY;
	r = redisCommand(p->redis, "SCRIPT LOAD %s", apply_script);
	if (r && r->type == REDIS_REPLY_STRING) {
		snprintf(p->script_sha, sizeof(p->script_sha), "%s", r->str);
		freeReplyObject(r);
		/* A Redis that restarted may have lost the last second of batches
		 * (and their offsets): read again from what it kept. */
		if (p->connections++ > 0)
			p->rewind = true;
		return 0;
	}
	snprintf(why, size, "could not load the read model's script: %s",
	         r ? r->str : p->redis->errstr);
	freeReplyObject(r);
	redisFree(p->redis);
	p->redis = NULL;
	return ERR_RETRY;
}

static void drop_redis(struct projector *p)
{
	redisFree(p->redis);
	p->redis = NULL;
}

static void on_dlq_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
	(void)rk;
	(void)opaque;
	if (msg->err && msg->_private)
		*(rd_kafka_resp_err_t *)msg->_private = msg->err;
}

/* Produces the poison items to dlq.gateway and waits for the broker. */
static int dead_letter(struct projector *p, struct consumer_item *items, int n, int *dead,
                       char *why, size_t size)
{
	rd_kafka_resp_err_t failed = RD_KAFKA_RESP_ERR_NO_ERROR;

	for (int i = 0; i < n; i++) {
		struct consumer_item *it = &items[i];
		char *h, key[256];
		rd_kafka_headers_t *headers;
		const void *value;
		size_t len;
		rd_kafka_resp_err_t err;

		if (it->skip || it->record)
			continue;
		if (!(h = consumer_dlq_headers(it, PROJECTOR_GROUP))) {
			snprintf(why, size, "out of memory");
			return ERR_NOMEM;
		}
		consumer_item_key(it, key, sizeof(key));
		value = consumer_dlq_value(it, &len);
		headers = kafka_headers_parse(h);
		free(h);
		err = rd_kafka_producev(
		        p->dlq, RD_KAFKA_V_TOPIC("dlq." PROJECTOR_GROUP),
		        RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE((void *)value, len),
		        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(headers),
		        RD_KAFKA_V_OPAQUE(&failed), RD_KAFKA_V_END);
		if (err) {
			rd_kafka_headers_destroy(headers); /* taken only on success */
			failed = err;
			break;
		}
		(*dead)++;
	}
	/* Most batches have no poison: no wait for the broker then. */
	if (*dead > 0 && rd_kafka_flush(p->dlq, DLQ_TIMEOUT_MS) != RD_KAFKA_RESP_ERR_NO_ERROR)
		failed = RD_KAFKA_RESP_ERR__TIMED_OUT;
	if (failed) {
		*dead = 0;
		snprintf(why, size, "could not dead-letter to dlq.%s: %s", PROJECTOR_GROUP,
		         rd_kafka_err2str(failed));
		return ERR_RETRY; /* the broker is away: the batch comes again */
	}
	return 0;
}

/* Queues HSET of the offsets after the items, per partition; 1 or 0 replies. */
static int queue_offsets(struct projector *p, const struct consumer_item *items, int n)
{
	size_t size = n > 0 ? (size_t)n : 1; /* n is at least 1: said for the compiler */
	rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)size);
	const char **argv = calloc(size * 2 + 2, sizeof(*argv));
	char(*text)[2][200] = calloc(size, sizeof(*text));
	int argc = 2, queued = 0;

	if (!list || !argv || !text)
		goto out;
	for (int i = 0; i < n; i++)
		kafka_position_add(list, items[i].msg, true);
	argv[0] = "HSET";
	argv[1] = READMODEL_OFFSETS;
	for (int i = 0; i < list->cnt; i++) {
		snprintf(text[i][0], sizeof(text[i][0]), "%s:%d", list->elems[i].topic,
		         (int)list->elems[i].partition);
		snprintf(text[i][1], sizeof(text[i][1]), "%lld", (long long)list->elems[i].offset);
		argv[argc++] = text[i][0];
		argv[argc++] = text[i][1];
	}
	if (argc > 2 && redisAppendCommandArgv(p->redis, argc, argv, NULL) == REDIS_OK)
		queued = 1;
out:
	if (list)
		rd_kafka_topic_partition_list_destroy(list);
	free(argv);
	free(text);
	return queued;
}

/* Reads the replies of a MULTI of queued commands: 0, or an error with the
 * index (in the EXEC's array) of the command that failed. */
static int read_exec(struct projector *p, int queued, int *failed_cmd, char *why, size_t size)
{
	redisReply *r = NULL;
	int rc = 0;

	for (int i = 0; i < queued + 1; i++) { /* MULTI's OK, then each QUEUED */
		if (redisGetReply(p->redis, (void **)&r) != REDIS_OK)
			goto lost;
		if (r->type == REDIS_REPLY_ERROR) {
			snprintf(why, size, "redis: %s", r->str);
			rc = strstr(r->str, "NOSCRIPT") ? ERR_RETRY : ERR_FATAL;
		}
		freeReplyObject(r);
	}
	if (redisGetReply(p->redis, (void **)&r) != REDIS_OK)
		goto lost;
	if (r->type != REDIS_REPLY_ARRAY) {
		/* EXECABORT: nothing was applied. */
		if (rc == 0)
			snprintf(why, size, "redis: %s",
			         r->type == REDIS_REPLY_ERROR ? r->str : "?");
		freeReplyObject(r);
		return rc ? rc : ERR_RETRY;
	}
	for (size_t i = 0; i < r->elements && rc == 0; i++) {
		if (r->element[i]->type != REDIS_REPLY_ERROR)
			continue;
		snprintf(why, size, "redis: %s", r->element[i]->str);
		rc = strstr(r->element[i]->str, "NOSCRIPT") ? ERR_RETRY : ERR_FATAL;
		*failed_cmd = (int)i;
	}
	freeReplyObject(r);
	return rc;
lost:
	snprintf(why, size, "redis: %s", p->redis->errstr);
	drop_redis(p);
	return ERR_RETRY;
}

/* A frame's JSON written as text (cheaper than a json_t for every event
 * while someone reads the stream); `ok` false once something did not fit. */
struct frame_text {
	char buf[2048];
	size_t len;
	bool ok;
};

static void put_raw(struct frame_text *t, const char *text)
{
	size_t n = strlen(text);

	if (t->ok && t->len + n < sizeof(t->buf)) {
		memcpy(t->buf + t->len, text, n + 1);
		t->len += n;
	} else {
		t->ok = false;
	}
}

/* A member's head: ,"key": (the first member's without the comma). */
static void put_key(struct frame_text *t, const char *key)
{
	put_raw(t, t->len > 1 ? ",\"" : "\"");
	put_raw(t, key);
	put_raw(t, "\":");
}

/* ,"key":"value"; nothing for NULL. */
static void put_str(struct frame_text *t, const char *key, const char *value)
{
	if (!value)
		return;
	put_key(t, key);
	put_raw(t, "\"");
	if (t->ok && log_json_escape(t->buf, sizeof(t->buf), &t->len, value) < 0)
		t->ok = false;
	put_raw(t, "\"");
}

static void put_int(struct frame_text *t, const char *key, long long value)
{
	char n[32];

	snprintf(n, sizeof(n), "%lld", value);
	put_key(t, key);
	put_raw(t, n);
}

/* How the event moves its order: its status or sub-status, its total and
 * the reason it was cancelled, where the event has them. */
static void put_effect(struct frame_text *t, size_t effect, const char *type, const json_t *r)
{
	if (effects[effect].status[0])
		put_str(t, "status", effects[effect].status);
	if (effects[effect].field[0])
		put_str(t, effects[effect].field, effects[effect].value);
	if (json_object_get(r, "total_cents"))
		put_int(t, "total_cents", event_int(r, "total_cents"));
	if (!strcmp(type, "OrderCancelled"))
		put_str(t, "reason", event_str(r, "reason"));
}

bool projector_frame(const char *type, const json_t *r, char **full, char **brief)
{
	static const char *const meta[] = {"event_id", "producer", "causation_id"};
	const char *order_id = event_str(r, "order_id");
	struct frame_text t = {.buf = "{", .len = 1, .ok = true};
	size_t i;

	*full = *brief = NULL;
	if ((i = effect_of(type)) == NEFFECTS || !order_id)
		return false;
	/* brief: what a list of orders shows */
	put_str(&t, "order_id", order_id);
	put_effect(&t, i, type, r);
	put_raw(&t, "}");
	if (!t.ok)
		return false;
	*brief = strdup(t.buf);
	/* full: the brief one's members, then what the event is, when it
	 * happened, whose order it is and what caused it */
	t.buf[--t.len] = '\0';
	put_str(&t, "event", type);
	put_int(&t, "at", event_occurred_at(r));
	put_str(&t, "customer_id", event_str(r, "customer_id"));
	for (size_t k = 0; k < sizeof(meta) / sizeof(meta[0]); k++)
		put_str(&t, meta[k], event_meta(r, meta[k]));
	put_raw(&t, "}");
	*full = t.ok ? strdup(t.buf) : NULL;
	if (*full && *brief)
		return true;
	free(*full);
	free(*brief);
	*full = *brief = NULL;
	return false;
}

/* Whether m comes after every event of its partition announced so far
 * (it becomes the last one). */
static bool first_announcement(struct projector *p, const rd_kafka_message_t *m)
{
	const char *topic = rd_kafka_topic_name(m->rkt);
	rd_kafka_topic_partition_t *last =
	        rd_kafka_topic_partition_list_find(p->announced, topic, m->partition);

	if (!last)
		last = rd_kafka_topic_partition_list_add(p->announced, topic, m->partition);
	else if (m->offset <= last->offset)
		return false;
	last->offset = m->offset;
	return true;
}

/* After a batch is applied: how old its events were, the overview's rates,
 * and the event stream (only while someone reads it), in one go; each
 * event once, however often it was read. */
static void announce(struct projector *p, const struct consumer_item *items, int n)
{
	struct sse_item *frames =
	        sse_hub_readers(p->g->events) > 0 ? calloc((size_t)n, sizeof(*frames)) : NULL;
	long long now_ms = clock_wall_ms();
	size_t nframes = 0;

	for (int i = 0; i < n; i++) {
		const json_t *r = items[i].record;
		char *full, *brief;
		long long at_ms;

		if (items[i].skip || !r || !first_announcement(p, items[i].msg))
			continue;
		at_ms = event_occurred_at(r);
		metric_observe(p->m_event_age, (double)(now_ms - at_ms) / 1000.0);
		overview_count(p->g->overview, items[i].type, at_ms);
		if (frames && projector_frame(items[i].type, r, &full, &brief)) {
			frames[nframes].data = full;
			frames[nframes].brief = brief;
			frames[nframes].event = "saga";
			frames[nframes].kind = items[i].type;
			frames[nframes].key = event_str(r, "order_id");
			nframes++;
		}
	}
	if (nframes)
		sse_hub_publish(p->g->events, frames, nframes);
	for (size_t i = 0; i < nframes; i++) {
		free((char *)frames[i].data);
		free((char *)frames[i].brief);
	}
	free(frames);
}

/* One MULTI/EXEC of items[0..n) and their offsets, queued (not sent); owner
 * maps each command queued to its item. Returns the commands queued. */
static int queue_transaction(struct projector *p, const struct consumer_item *items, int n,
                             int *owner, int *applied, long long now_s)
{
	int queued = 0;

	redisAppendCommand(p->redis, "MULTI");
	for (int i = 0; i < n; i++) {
		int k = items[i].skip || !items[i].record
		                ? 0
		                : queue_event(p, items[i].type, items[i].record, now_s);

		for (int j = 0; j < k; j++)
			owner[queued++] = i;
		*applied += !items[i].skip && items[i].record;
	}
	if (queue_offsets(p, items, n))
		owner[queued++] = n - 1;
	redisAppendCommand(p->redis, "EXEC");
	return queued;
}

/* The applier: dead letters first, then the effects in transactions of at
 * most READMODEL_EXEC_EVENTS events, each with the offsets after its own
 * items, all sent at once. A transaction's error fails the batch (at its
 * first item in error); the transactions after it have applied, as events
 * after a failed one in the same transaction would: applying an event
 * again has no effect (its history entry), so the batch is retried whole. */
static int apply(void *arg, struct consumer_item *items, int n, struct consumer_result *res,
                 char *why, size_t size)
{
	/* Room for each event's commands (two at most) and its transaction's offsets. */
	enum { PER_TX = READMODEL_EXEC_EVENTS, CMDS = 3 };
	struct projector *p = arg;
	int ntx = (n + PER_TX - 1) / PER_TX;
	int *owner = calloc((size_t)n * CMDS + 1, sizeof(*owner)); /* command -> item */
	int *queued = calloc((size_t)ntx + 1, sizeof(*queued));    /* commands per transaction */
	long long now_s = clock_wall_ms() / 1000;
	int rc;

	if (!owner || !queued) {
		snprintf(why, size, "out of memory");
		rc = ERR_NOMEM;
		goto out;
	}
	if ((rc = connect_redis(p, why, size)) < 0)
		goto out;
	if (p->rewind) {
		if ((rc = consumer_rewind(p->consumer, why, size)) == 0) {
			p->rewind = false;
			snprintf(why, size, "redis reconnected: reading again from its offsets");
		}
		rc = ERR_RETRY; /* the batch in hand is dropped either way */
		goto out;
	}
	if ((rc = dead_letter(p, items, n, &res->dead, why, size)) < 0)
		goto out;
	for (int t = 0, from = 0; from < n; t++, from += PER_TX) {
		int count = n - from > PER_TX ? PER_TX : n - from;

		queued[t] = queue_transaction(p, items + from, count, owner + from * CMDS,
		                              &res->applied, now_s);
	}
	for (int t = 0; t < ntx && p->redis; t++) { /* a lost connection ends it */
		char later[256];
		int cmd = -1, trc = read_exec(p, queued[t], &cmd, rc ? later : why,
		                              rc ? sizeof(later) : size);

		if (trc < 0 && rc == 0) {
			rc = trc;
			if (cmd >= 0 && cmd < queued[t])
				res->failed = t * PER_TX + owner[t * PER_TX * CMDS + cmd];
		}
	}
	if (rc == 0)
		announce(p, items, n);
out:
	free(owner);
	free(queued);
	return rc;
}

/* Where each assigned partition starts: after what Redis has applied. */
static int assigned(void *arg, rd_kafka_topic_partition_list_t *parts, char *why, size_t size)
{
	struct projector *p = arg;
	int rc = connect_redis(p, why, size);

	if (rc == 0)
		p->rewind = false; /* the assignment starts from Redis's offsets anyway */
	for (int i = 0; rc == 0 && i < parts->cnt; i++) {
		rd_kafka_topic_partition_t *t = &parts->elems[i];
		redisReply *r = redisCommand(p->redis, "HGET " READMODEL_OFFSETS " %s:%d", t->topic,
		                             (int)t->partition);

		if (!r) {
			snprintf(why, size, "redis: %s", p->redis->errstr);
			drop_redis(p);
			return ERR_RETRY;
		}
		if (r->type == REDIS_REPLY_STRING)
			t->offset = strtoll(r->str, NULL, 10);
		else if (r->type == REDIS_REPLY_NIL)
			t->offset = RD_KAFKA_OFFSET_BEGINNING; /* nothing applied: rebuild */
		else
			rc = ERR_RETRY;
		if (rc < 0)
			snprintf(why, size, "redis: %s",
			         r->type == REDIS_REPLY_ERROR ? r->str : "?");
		freeReplyObject(r);
	}
	return rc;
}

static const char *const states[4] = {"PENDING", "CONFIRMED", "COMPLETED", "CANCELLED"};

/* The gauges from one round trip: counts by state, the open orders and the oldest one. */
static void refresh_gauges(struct projector *p, long long now_ms)
{
	redisReply *r[3] = {NULL, NULL, NULL};
	bool ok = true;

	redisAppendCommand(p->redis, "HMGET " READMODEL_BY_STATUS " %s %s %s %s", states[0],
	                   states[1], states[2], states[3]);
	redisAppendCommand(p->redis, "ZCARD " READMODEL_OPEN);
	redisAppendCommand(p->redis, "ZRANGE " READMODEL_OPEN " 0 0 WITHSCORES");
	for (int i = 0; i < 3; i++)
		if (redisGetReply(p->redis, (void **)&r[i]) != REDIS_OK)
			ok = false;
	if (!ok) {
		drop_redis(p); /* the next batch reconnects */
	} else {
		for (size_t i = 0; r[0]->type == REDIS_REPLY_ARRAY && i < r[0]->elements && i < 4;
		     i++)
			metric_set(p->m_state[i], r[0]->element[i]->type == REDIS_REPLY_STRING
			                                  ? strtoll(r[0]->element[i]->str, NULL, 10)
			                                  : 0);
		metric_set(p->m_open, r[1]->type == REDIS_REPLY_INTEGER ? r[1]->integer : 0);
		metric_set(p->m_oldest_age,
		           r[2]->type == REDIS_REPLY_ARRAY && r[2]->elements == 2
		                   ? (now_ms - strtoll(r[2]->element[1]->str, NULL, 10)) / 1000
		                   : 0);
	}
	for (int i = 0; i < 3; i++)
		freeReplyObject(r[i]);
}

/* Once a second, idle or not: accepted orders older than the TTL leave
 * READMODEL_ACCEPTED (a failure is tried again the next second), and the
 * gauges are refreshed. */
static void every_second(struct projector *p)
{
	long long now_ms = clock_wall_ms(), now = now_ms / 1000;
	redisReply *r;

	if (now == p->trimmed_at || !p->redis)
		return;
	p->trimmed_at = now;
	r = redisCommand(p->redis, "ZREMRANGEBYSCORE " READMODEL_ACCEPTED " -inf (%lld",
	                 now - p->ttl_s);
	if (!r) {
		drop_redis(p); /* the next batch reconnects */
		return;
	}
	if (r->type == REDIS_REPLY_ERROR)
		LOG(WARN, "could not trim %s: %s", READMODEL_ACCEPTED, r->str);
	freeReplyObject(r);
	refresh_gauges(p, now_ms);
}

static void *projector_main(void *arg)
{
	struct projector *p = arg;

	while (!atomic_load(&p->stop) && !signals_stopping()) {
		consumer_poll_once(p->consumer, 500); /* events end the wait at once */
		every_second(p);
	}
	return NULL;
}

int projector_start(struct projector **out, struct gateway *g, const struct kafka_endpoint *kafka,
                    const char *redis_url, long ttl_s, char *errstr, size_t errstr_size)
{
	struct projector *p = calloc(1, sizeof(*p));
	struct kafka_producer_cfg pc = {
	        .kafka = kafka, .client_id = "gateway-dlq", .on_delivery = on_dlq_delivery};
	struct consumer_cfg cc = {.group = PROJECTOR_GROUP,
	                          .client_id = "gateway-read-model",
	                          .topics = topics,
	                          .kafka = kafka,
	                          .codec = g->codec,
	                          .batch_max = PROJECTOR_BATCH,
	                          .batch_wait_ms = 5,
	                          .fetch_min_bytes = g->fetch_min_bytes,
	                          .fetch_wait_ms = g->fetch_wait_ms,
	                          .metrics = g->metrics};
	int rc;

	*out = NULL;
	if (!p)
		return ERR_NOMEM;
	p->g = g;
	p->ttl_s = ttl_s;
	p->announced = rd_kafka_topic_partition_list_new(64);
	for (int i = 0; i < 4; i++) {
		char label[32];

		snprintf(label, sizeof(label), "state=\"%s\"", states[i]);
		p->m_state[i] =
		        metrics_gauge(g->metrics, "saga_readmodel_orders",
		                      "orders the read model has seen in each state", label);
	}
	p->m_open = metrics_gauge(g->metrics, "saga_readmodel_open_orders",
	                          "orders in the read model not yet finished", NULL);
	p->m_oldest_age = metrics_gauge(g->metrics, "saga_readmodel_oldest_open_age_seconds",
	                                "age of the oldest order not yet finished", NULL);
	p->m_event_age =
	        metrics_histogram(g->metrics, "saga_readmodel_event_age_seconds",
	                          "from an event's occurred_at to the read model applying it", NULL,
	                          metrics_latency_bounds, metrics_latency_nbounds);
	p->redis_url = strdup(redis_url);
	cc.applier = (struct consumer_applier){.apply = apply, .assigned = assigned, .ctx = p};
	rc = p->redis_url ? kafka_producer_new(&p->dlq, &pc, errstr, errstr_size) : ERR_NOMEM;
	if (rc == 0)
		rc = consumer_new(&p->consumer, &cc, errstr, errstr_size);
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
	consumer_free(p->consumer);
	if (p->dlq) {
		rd_kafka_flush(p->dlq, 5000);
		rd_kafka_destroy(p->dlq);
	}
	if (p->redis)
		redisFree(p->redis);
	if (p->announced)
		rd_kafka_topic_partition_list_destroy(p->announced);
	free(p->redis_url);
	free(p);
}
