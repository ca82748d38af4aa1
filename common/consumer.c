#include "consumer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon.h"
#include "db.h"
#include "event.h"
#include "kafka.h"
#include "log.h"
#include "outbox.h"
#include "signals.h"

#define LAG_INTERVAL_MS 1000

struct item {
	rd_kafka_message_t *msg;
	bool skip;  /* a type the service does not handle */
	bool fresh; /* its id was new to the inbox (this transaction) */
	const char *type;
	json_t *record;     /* NULL for poison */
	char error[256];    /* why it is poison */
	char inbox_id[160]; /* event id, or topic/partition/offset for undecodable values */
};

struct consumer {
	char *group;
	char *dlq_topic;
	const struct codec *codec;
	const char *const *types;
	consumer_handler_fn handle;
	void *ctx;
	struct outbox *outbox;
	int batch_max, batch_wait_ms;
	rd_kafka_t *rk;
	struct db *db;
	struct item *items;
	bool rebalanced; /* set by the rebalance callback: the batch in hand is void */
	long long last_lag;
	struct metrics *metrics;
	struct metric *m_consumed, *m_duplicates, *m_skipped, *m_dead, *m_batch, *m_retries,
	        *m_handler;
};

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	struct consumer *c = opaque;

	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		rd_kafka_assign(rk, parts);
		LOG(INFO, "group %s: %d partitions assigned", c->group, parts->cnt);
	} else {
		/* Offsets stored so far belong to committed transactions. */
		rd_kafka_commit(rk, NULL, 0);
		rd_kafka_assign(rk, NULL);
		LOG(INFO, "group %s: partitions revoked", c->group);
	}
	c->rebalanced = true;
}

int consumer_new(struct consumer **out, const struct consumer_cfg *cfg, char *errstr,
                 size_t errstr_size)
{
	struct consumer *c = calloc(1, sizeof(*c));
	struct kafka_consumer_cfg kc = {0};
	char labels[160];
	int rc = ERR_NOMEM;

	*out = NULL;
	if (!c)
		return ERR_NOMEM;
	c->group = strdup(cfg->group);
	c->dlq_topic = malloc(strlen(cfg->group) + 5);
	c->batch_max = cfg->batch_max > 0 ? cfg->batch_max : 500;
	c->batch_wait_ms = cfg->batch_wait_ms >= 0 ? cfg->batch_wait_ms : 5;
	c->items = calloc((size_t)c->batch_max, sizeof(*c->items));
	if (!c->group || !c->dlq_topic || !c->items)
		goto fail;
	snprintf(c->dlq_topic, strlen(cfg->group) + 5, "dlq.%s", cfg->group);
	c->codec = cfg->codec;
	c->types = cfg->types;
	c->handle = cfg->handle;
	c->ctx = cfg->ctx;
	c->outbox = cfg->outbox;
	c->metrics = cfg->metrics;
	snprintf(labels, sizeof(labels), "group=\"%s\"", cfg->group);
	c->m_consumed = metrics_counter(cfg->metrics, "saga_consumer_consumed_total",
	                                "events applied", labels);
	c->m_duplicates =
	        metrics_counter(cfg->metrics, "saga_consumer_duplicates_total",
	                        "events skipped because their id was already applied", labels);
	c->m_skipped = metrics_counter(cfg->metrics, "saga_consumer_skipped_total",
	                               "events of types this service does not handle", labels);
	c->m_dead = metrics_counter(cfg->metrics, "saga_consumer_dead_lettered_total",
	                            "poison messages sent to the dead-letter topic", labels);
	c->m_retries = metrics_counter(cfg->metrics, "saga_consumer_retries_total",
	                               "batches retried after a transient error", labels);
	c->m_batch = metrics_histogram(cfg->metrics, "saga_consumer_batch_seconds",
	                               "time to apply and commit one batch", labels,
	                               metrics_latency_bounds, metrics_latency_nbounds);
	c->m_handler = metrics_histogram(cfg->metrics, "saga_consumer_handler_seconds",
	                                 "time the service's handler takes for one event", labels,
	                                 metrics_latency_bounds, metrics_latency_nbounds);
	rc = db_open(&c->db, cfg->conninfo, errstr, errstr_size);
	if (rc < 0)
		goto fail;
	kc.bootstrap = cfg->bootstrap;
	kc.group = cfg->group;
	kc.client_id = cfg->group;
	kc.on_rebalance = on_rebalance;
	kc.fetch_min_bytes = cfg->fetch_min_bytes;
	kc.fetch_wait_ms = cfg->fetch_wait_ms;
	kc.opaque = c;
	rc = kafka_consumer_new(&c->rk, &kc, errstr, errstr_size);
	if (rc < 0)
		goto fail;
	rc = kafka_subscribe(c->rk, cfg->topics, errstr, errstr_size);
	if (rc < 0)
		goto fail;
	*out = c;
	return 0;
fail:
	consumer_free(c);
	return rc;
}

static void item_clear(struct item *it)
{
	if (it->msg)
		rd_kafka_message_destroy(it->msg);
	json_decref(it->record);
	memset(it, 0, sizeof(*it));
}

/* Gathers up to batch_max messages: waits up to timeout_ms for the first. */
static int gather(struct consumer *c, int timeout_ms)
{
	int n = 0;
	long long deadline = 0;

	while (n < c->batch_max) {
		int wait = n == 0 ? timeout_ms : (int)(deadline - event_now_ms());
		rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, wait > 0 ? wait : 0);

		if (!m) {
			if (n == 0 || event_now_ms() >= deadline)
				break;
			continue;
		}
		if (m->err) {
			if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
				LOG(WARN, "group %s: consumer error: %s", c->group,
				    rd_kafka_message_errstr(m));
			rd_kafka_message_destroy(m);
			if (n == 0)
				break;
			continue;
		}
		if (n == 0)
			deadline = event_now_ms() + c->batch_wait_ms;
		c->items[n++].msg = m;
	}
	return n;
}

static long long monotonic_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Poison is recorded in the inbox by its position, not by an event id. */
static void poison_inbox_id(struct item *it)
{
	snprintf(it->inbox_id, sizeof(it->inbox_id), "dead:%s/%d/%lld",
	         rd_kafka_topic_name(it->msg->rkt), (int)it->msg->partition,
	         (long long)it->msg->offset);
}

static bool handles(const struct consumer *c, const char *type, size_t len)
{
	if (!c->types)
		return true;
	for (const char *const *t = c->types; *t; t++)
		if (strlen(*t) == len && memcmp(*t, type, len) == 0)
			return true;
	return false;
}

/* The event-type header says the service has nothing to do with it. */
static bool skip_by_header(const struct consumer *c, rd_kafka_message_t *msg)
{
	rd_kafka_headers_t *h;
	const void *type;
	size_t len;

	return c->types && rd_kafka_message_headers(msg, &h) == RD_KAFKA_RESP_ERR_NO_ERROR &&
	       rd_kafka_header_get_last(h, "event-type", &type, &len) ==
	               RD_KAFKA_RESP_ERR_NO_ERROR &&
	       type && !handles(c, type, len);
}

/* Decodes the batch; returns how many items need the database. */
static int decode_items(struct consumer *c, int n)
{
	int todo = 0;

	for (int i = 0; i < n; i++) {
		struct item *it = &c->items[i];
		const char *id;

		if (skip_by_header(c, it->msg)) {
			it->skip = true;
			continue;
		}
		if (codec_decode(c->codec, it->msg->payload, it->msg->len, &it->type, &it->record,
		                 it->error, sizeof(it->error)) < 0 ||
		    !(id = event_meta(it->record, "event_id")) || !*id) {
			if (it->record)
				snprintf(it->error, sizeof(it->error), "the event has no event_id");
			json_decref(it->record);
			it->record = NULL;
			poison_inbox_id(it);
			todo++;
			continue;
		}
		if (!handles(c, it->type, strlen(it->type))) {
			it->skip = true;
			continue;
		}
		snprintf(it->inbox_id, sizeof(it->inbox_id), "%s", id);
		todo++;
	}
	return todo;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The batch's inbox columns as array literals; 0 or ERR_NOMEM. */
static int inbox_arrays(struct consumer *c, int n, char *lit[4])
{
	const char **cells = calloc((size_t)n * 4, sizeof(*cells));
	char(*num)[2][24] = calloc((size_t)n, sizeof(*num));
	int m = 0, rc = ERR_NOMEM;

	if (!cells || !num)
		goto out;
	for (int i = 0; i < n; i++) {
		const struct item *it = &c->items[i];
		const char **row = cells + (size_t)m * 4;

		if (it->skip)
			continue;
		snprintf(num[m][0], sizeof(num[m][0]), "%d", (int)it->msg->partition);
		snprintf(num[m][1], sizeof(num[m][1]), "%lld", (long long)it->msg->offset);
		row[0] = it->inbox_id;
		row[1] = rd_kafka_topic_name(it->msg->rkt);
		row[2] = num[m][0];
		row[3] = num[m][1];
		m++;
	}
	rc = db_array_literals(cells, (size_t)m, 4, lit);
out:
	free(cells);
	free(num);
	return rc;
}

/*
 * Records the ids of the batch's items in the inbox with one statement and
 * marks each item fresh (a new id) or not (a duplicate: applied before, or
 * earlier in this batch).
 */
static int inbox_record(struct consumer *c, PGconn *tx, int n, char *why, size_t size)
{
	char *lit[4] = {NULL, NULL, NULL, NULL};
	const char **got = NULL;
	bool *claimed = NULL;
	PGresult *res = NULL;
	int rows, rc = inbox_arrays(c, n, lit);

	if (rc < 0) {
		snprintf(why, size, "out of memory");
		goto out;
	}
	rc = db_exec(tx,
	             "INSERT INTO inbox (event_id, consumer, topic, kafka_partition, kafka_offset)"
	             " SELECT u.id, $1, u.topic, u.part, u.off"
	             " FROM unnest($2::text[], $3::text[], $4::int[], $5::bigint[])"
	             " AS u(id, topic, part, off)"
	             " ON CONFLICT DO NOTHING RETURNING event_id",
	             5, (const char *const[]){c->group, lit[0], lit[1], lit[2], lit[3]}, &res, why,
	             size);
	if (rc < 0)
		goto out;
	rows = PQntuples(res);
	got = calloc((size_t)rows + 1, sizeof(*got));
	claimed = calloc((size_t)rows + 1, sizeof(*claimed));
	if (!got || !claimed) {
		rc = ERR_NOMEM;
		snprintf(why, size, "out of memory");
		goto out;
	}
	for (int r = 0; r < rows; r++)
		got[r] = PQgetvalue(res, r, 0);
	qsort(got, (size_t)rows, sizeof(*got), cmp_str);
	for (int i = 0; i < n; i++) {
		struct item *it = &c->items[i];
		const char *key = it->inbox_id;
		const char **hit;

		if (it->skip)
			continue;
		/* An id inserted now is fresh once: a second copy in the batch is not. */
		hit = bsearch(&key, got, (size_t)rows, sizeof(*got), cmp_str);
		it->fresh = hit && !claimed[hit - got];
		if (it->fresh)
			claimed[hit - got] = true;
	}
out:
	for (int k = 0; k < 4; k++)
		free(lit[k]);
	PQclear(res);
	free(claimed);
	free(got);
	return rc;
}

/* Writes a poison message to the dead-letter topic through the outbox. */
static int dead_letter(struct consumer *c, PGconn *tx, const struct item *it, char *why,
                       size_t size)
{
	rd_kafka_headers_t *orig = NULL;
	char *h = NULL, num[24], key[256];
	const char *name;
	const void *val;
	size_t len;
	int rc;

	if (rd_kafka_message_headers(it->msg, &orig) == RD_KAFKA_RESP_ERR_NO_ERROR) {
		for (size_t i = 0; rd_kafka_header_get_all(orig, i, &name, &val, &len) == 0; i++) {
			char v[512];

			snprintf(v, sizeof(v), "%.*s", (int)len, val ? (const char *)val : "");
			h = outbox_header_append(h, name, v);
		}
	}
	h = outbox_header_append(h, "dlq-error", it->error);
	if (h)
		h = outbox_header_append(h, "dlq-topic", rd_kafka_topic_name(it->msg->rkt));
	snprintf(num, sizeof(num), "%d", (int)it->msg->partition);
	if (h)
		h = outbox_header_append(h, "dlq-partition", num);
	snprintf(num, sizeof(num), "%lld", (long long)it->msg->offset);
	if (h)
		h = outbox_header_append(h, "dlq-offset", num);
	if (h)
		h = outbox_header_append(h, "dlq-group", c->group);
	if (!h)
		return ERR_NOMEM;
	snprintf(key, sizeof(key), "%.*s", (int)it->msg->key_len,
	         it->msg->key ? (const char *)it->msg->key : "");
	rc = outbox_add_raw(tx, c->dlq_topic, key, h, it->msg->payload ? it->msg->payload : "",
	                    it->msg->len, why, size);
	free(h);
	return rc;
}

/*
 * Applies the batch in one transaction. Returns 0, ERR_INVALID with *poison
 * set to the index of an event the handler rejected (the batch was rolled
 * back), or a transient/fatal error (rolled back).
 */
static int apply_batch(struct consumer *c, PGconn *tx, int n, int *poison, int *applied, int *dups,
                       int *dead, char *why, size_t size)
{
	int rc;

	*applied = *dups = *dead = 0;
	rc = db_exec(tx, "BEGIN", 0, NULL, NULL, why, size);
	if (rc < 0)
		return rc;
	if (c->outbox)
		outbox_batch_begin(c->outbox, tx);
	rc = inbox_record(c, tx, n, why, size);
	if (rc < 0)
		goto rollback;
	for (int i = 0; i < n; i++) {
		struct item *it = &c->items[i];
		struct consumed ev;
		char key[256];

		if (it->skip)
			continue;
		if (!it->fresh) {
			(*dups)++;
			continue;
		}
		if (!it->record) {
			rc = dead_letter(c, tx, it, why, size);
			if (rc < 0)
				goto rollback;
			(*dead)++;
			continue;
		}
		snprintf(key, sizeof(key), "%.*s", (int)it->msg->key_len,
		         it->msg->key ? (const char *)it->msg->key : "");
		ev = (struct consumed){it->type,
		                       it->record,
		                       it->inbox_id,
		                       key,
		                       rd_kafka_topic_name(it->msg->rkt),
		                       it->msg->partition,
		                       it->msg->offset};
		{
			long long t0 = monotonic_us();

			rc = c->handle(c->ctx, tx, &ev, why, size);
			metric_observe(c->m_handler, (double)(monotonic_us() - t0) / 1e6);
		}
		if (rc == ERR_INVALID) {
			*poison = i;
			goto rollback;
		}
		if (rc < 0)
			goto rollback;
		(*applied)++;
	}
	if (c->outbox && (rc = outbox_batch_flush(c->outbox, why, size)) < 0)
		goto rollback;
	return db_exec(tx, "COMMIT", 0, NULL, NULL, why, size);
rollback:
	outbox_batch_discard(c->outbox);
	PQclear(PQexec(tx, "ROLLBACK"));
	return rc;
}

static void pause_all(struct consumer *c, bool pause)
{
	rd_kafka_topic_partition_list_t *parts = NULL;

	if (rd_kafka_assignment(c->rk, &parts) != 0 || !parts)
		return;
	if (pause)
		rd_kafka_pause_partitions(c->rk, parts);
	else
		rd_kafka_resume_partitions(c->rk, parts);
	rd_kafka_topic_partition_list_destroy(parts);
}

/* Sleeps ms while keeping the group membership alive (paused partitions). */
static void backoff(struct consumer *c, int ms)
{
	long long until = event_now_ms() + ms;

	while (!signals_stopping() && event_now_ms() < until) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, 50);

		/* Paused partitions deliver nothing; anything else is an error event. */
		if (m)
			rd_kafka_message_destroy(m);
	}
}

static void store_offsets(struct consumer *c, int n)
{
	rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(n);

	for (int i = 0; i < n; i++)
		kafka_position_add(list, c->items[i].msg, true);
	rd_kafka_offsets_store(c->rk, list);
	rd_kafka_topic_partition_list_destroy(list);
}

static void update_lag(struct consumer *c)
{
	rd_kafka_topic_partition_list_t *parts = NULL;

	if (!c->metrics || event_now_ms() - c->last_lag < LAG_INTERVAL_MS)
		return;
	c->last_lag = event_now_ms();
	if (rd_kafka_assignment(c->rk, &parts) != 0 || !parts)
		return;
	rd_kafka_position(c->rk, parts);
	for (int i = 0; i < parts->cnt; i++) {
		rd_kafka_topic_partition_t *p = &parts->elems[i];
		int64_t lo, hi;
		char labels[256];

		if (rd_kafka_get_watermark_offsets(c->rk, p->topic, p->partition, &lo, &hi) != 0 ||
		    hi < 0)
			continue;
		snprintf(labels, sizeof(labels), "group=\"%s\",topic=\"%s\",partition=\"%d\"",
		         c->group, p->topic, (int)p->partition);
		metric_set(metrics_gauge(c->metrics, "saga_consumer_lag",
		                         "messages behind the partition's end", labels),
		           p->offset >= 0 ? hi - p->offset : hi - lo);
	}
	rd_kafka_topic_partition_list_destroy(parts);
}

int consumer_poll_once(struct consumer *c, int timeout_ms)
{
	int n, attempt = 0;
	long long t0;

	update_lag(c);
	c->rebalanced = false;
	n = gather(c, timeout_ms);
	if (n == 0)
		return 0;
	t0 = event_now_ms();
	if (decode_items(c, n) == 0) {
		/* Nothing here for this service: only the offsets move on. */
		store_offsets(c, n);
		metric_add(c->m_skipped, n);
		goto out;
	}
	for (;;) {
		char why[512] = "";
		int rc, poison = -1, applied = 0, dups = 0, dead = 0;
		PGconn *tx = db_conn(c->db, &rc, why, sizeof(why));

		if (tx)
			rc = apply_batch(c, tx, n, &poison, &applied, &dups, &dead, why,
			                 sizeof(why));
		if (rc == 0) {
			store_offsets(c, n);
			metric_add(c->m_consumed, applied);
			metric_add(c->m_skipped, n - applied - dups - dead);
			metric_add(c->m_duplicates, dups);
			metric_add(c->m_dead, dead);
			metric_observe(c->m_batch, (double)(event_now_ms() - t0) / 1000.0);
			if (attempt > 0)
				pause_all(c, false);
			if (dead)
				LOG(WARN, "group %s: %d poison messages sent to %s", c->group, dead,
				    c->dlq_topic);
			break;
		}
		if (rc == ERR_INVALID && poison >= 0) {
			struct item *it = &c->items[poison];
			struct log_fields f = {event_str(it->record, "order_id"), it->inbox_id,
			                       event_meta(it->record, "correlation_id")};

			LOGX(WARN, &f, "group %s: %s rejected, dead-lettering it: %s", c->group,
			     it->type, why);
			snprintf(it->error, sizeof(it->error), "%.255s", why);
			json_decref(it->record);
			it->record = NULL;
			/* Recorded by position, so a replay of the fixed event is applied. */
			poison_inbox_id(it);
			continue; /* again, at once, with that event as poison */
		}
		/* Transient (or unexpected): keep the batch, pause, back off, retry. */
		if (attempt == 0)
			pause_all(c, true);
		metric_add(c->m_retries, 1);
		LOG(WARN, "group %s: batch of %d failed (%s), retrying: %s", c->group, n,
		    err_name(rc), why);
		backoff(c, daemon_backoff_ms(attempt++, 100, 10000));
		if (c->rebalanced || signals_stopping()) {
			/* Not ours any more, or shutting down: uncommitted, so redelivered. */
			LOG(INFO, "group %s: dropping an unapplied batch of %d (%s)", c->group, n,
			    c->rebalanced ? "rebalance" : "shutdown");
			pause_all(c, false);
			break;
		}
	}
out:
	for (int i = 0; i < n; i++)
		item_clear(&c->items[i]);
	return n;
}

void consumer_free(struct consumer *c)
{
	if (!c)
		return;
	if (c->rk) {
		rd_kafka_commit(c->rk, NULL, 0);
		rd_kafka_consumer_close(c->rk);
		rd_kafka_destroy(c->rk);
	}
	db_free(c->db);
	free(c->items);
	free(c->dlq_topic);
	free(c->group);
	free(c);
}
