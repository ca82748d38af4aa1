#include "consumer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "event.h"
#include "kafka.h"
#include "log.h"
#include "outbox.h"
#include "signals.h"

#define WATCH_INTERVAL_MS 1000 /* lag and stall are looked at this often */
#define DEFAULT_ATTEMPTS  3
#define DEFAULT_STALL_MS  30000
#define RETRY_BASE_MS     100
#define RETRY_CAP_MS      10000

struct consumer {
	char *group;
	char *dlq_topic;
	const struct codec *codec;
	const char *const *types;
	struct consumer_applier ap;
	int batch_max, batch_wait_ms, max_attempts, stall_ms;
	rd_kafka_t *rk;
	struct consumer_item *items;
	bool rebalanced; /* set by the rebalance callback: the batch in hand is void */
	bool rewound;    /* consumer_rewind moved the positions: so is the batch */
	bool paused;
	/* The group's committed offsets when the partitions came (asked for once
	 * an assignment has a partition not read from yet): where those stand. */
	rd_kafka_topic_partition_list_t *committed;
	int batch_n, unapplied;    /* the batch in hand, and how many of it are not stored */
	rd_kafka_message_t *carry; /* a message polled while waiting: the next batch's first */
	long long next_watch_ms, progress_ms, stall_logged_ms;
	const struct consumer_item *stuck; /* the item a retry is waiting on */
	char stuck_why[256];
	struct metrics *metrics;
	struct metric *m_consumed, *m_duplicates, *m_skipped, *m_dead, *m_batch, *m_retries,
	        *m_isolated, *m_dropped, *m_age;
};

enum consumer_failure consumer_classify(int err, const char *sqlstate)
{
	if (err == ERR_RETRY)
		return CONSUMER_TRANSIENT;
	if (err == ERR_INVALID || err == ERR_CONFLICT)
		return CONSUMER_POISON;
	/* Data exceptions and integrity-constraint violations: the same event
	 * fails the same way every time. */
	if (sqlstate && (strncmp(sqlstate, "22", 2) == 0 || strncmp(sqlstate, "23", 2) == 0))
		return CONSUMER_POISON;
	return CONSUMER_UNKNOWN;
}

/* Asks the applier where the partitions start, until it can say (or a stop). */
static void assign_from_store(struct consumer *c, rd_kafka_topic_partition_list_t *parts)
{
	for (int attempt = 0; !signals_stopping(); attempt++) {
		char why[256] = "";

		if (c->ap.assigned(c->ap.ctx, parts, why, sizeof(why)) == 0)
			return;
		LOG(WARN, "group %s: could not read its stored offsets, retrying: %s", c->group,
		    why);
		clock_sleep_ms(clock_backoff_ms(attempt, 200, 5000));
	}
}

/* A partition's lag gauge: the messages behind its end (NULL without metrics). */
static struct metric *lag_gauge(const struct consumer *c, const rd_kafka_topic_partition_t *p)
{
	char labels[256];

	if (!c->metrics)
		return NULL;
	snprintf(labels, sizeof(labels), "group=\"%s\",topic=\"%s\",partition=\"%d\"", c->group,
	         p->topic, (int)p->partition);
	return metrics_gauge(c->metrics, "saga_consumer_lag", "messages behind the partition's end",
	                     labels);
}

/* The committed offsets asked for belong to an assignment that is over. */
static void forget_committed(struct consumer *c)
{
	if (c->committed)
		rd_kafka_topic_partition_list_destroy(c->committed);
	c->committed = NULL;
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	struct consumer *c = opaque;

	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		if (c->ap.assigned)
			assign_from_store(c, parts);
		rd_kafka_assign(rk, parts);
		/* librdkafka keeps a partition's pause across its revocation: one
		 * paused for a retry would come back paused, and stay so. */
		rd_kafka_resume_partitions(rk, parts);
		LOG(INFO, "group %s: %d partitions assigned", c->group, parts->cnt);
	} else {
		/* Offsets stored so far belong to applied batches. */
		rd_kafka_commit(rk, NULL, 0);
		rd_kafka_resume_partitions(rk, parts);
		rd_kafka_assign(rk, NULL);
		/* Their lag is their next owner's to tell: a gauge left at its
		 * last value would count it twice, and forever. */
		for (int i = 0; i < parts->cnt; i++)
			metric_set(lag_gauge(c, &parts->elems[i]), 0);
		LOG(INFO, "group %s: partitions revoked", c->group);
	}
	c->paused = false; /* a new assignment is not paused */
	c->rebalanced = true;
	forget_committed(c);
}

static void make_metrics(struct consumer *c, struct metrics *m)
{
	char labels[160];

	snprintf(labels, sizeof(labels), "group=\"%s\"", c->group);
	c->m_consumed =
	        metrics_counter(m, "saga_consumer_consumed_total", "events applied", labels);
	c->m_duplicates =
	        metrics_counter(m, "saga_consumer_duplicates_total",
	                        "events skipped because their id was already applied", labels);
	c->m_skipped = metrics_counter(m, "saga_consumer_skipped_total",
	                               "events of types this service does not handle", labels);
	c->m_dead = metrics_counter(m, "saga_consumer_dead_lettered_total",
	                            "poison messages sent to the dead-letter topic", labels);
	c->m_retries = metrics_counter(m, "saga_consumer_retries_total",
	                               "applications retried after a failure", labels);
	c->m_isolated = metrics_counter(m, "saga_consumer_isolated_batches_total",
	                                "batches re-applied one event at a time", labels);
	c->m_dropped = metrics_counter(m, "saga_consumer_dropped_total",
	                               "poison messages that could not be dead-lettered", labels);
	c->m_age = metrics_gauge(m, "saga_consumer_last_progress_age_seconds",
	                         "seconds since the group last moved on while it had lag", labels);
	c->m_batch = metrics_histogram(m, "saga_consumer_batch_seconds",
	                               "time to apply and commit one batch", labels,
	                               metrics_latency_bounds, metrics_latency_nbounds);
}

int consumer_new(struct consumer **out, const struct consumer_cfg *cfg, char *errstr,
                 size_t errstr_size)
{
	struct consumer *c = calloc(1, sizeof(*c));
	struct kafka_consumer_cfg kc = {0};
	int rc = ERR_NOMEM;

	*out = NULL;
	if (!c)
		return ERR_NOMEM;
	c->group = strdup(cfg->group);
	c->dlq_topic = consumer_dlq_topic(cfg->group);
	c->batch_max = cfg->batch_max > 0 ? cfg->batch_max : 500;
	c->batch_wait_ms = cfg->batch_wait_ms >= 0 ? cfg->batch_wait_ms : 5;
	c->max_attempts = cfg->max_attempts > 0 ? cfg->max_attempts : DEFAULT_ATTEMPTS;
	c->stall_ms = cfg->stall_ms > 0 ? cfg->stall_ms : DEFAULT_STALL_MS;
	c->items = calloc((size_t)c->batch_max, sizeof(*c->items));
	if (!c->group || !c->dlq_topic || !c->items)
		goto fail;
	c->codec = cfg->codec;
	c->types = cfg->types;
	c->ap = cfg->applier;
	c->metrics = cfg->metrics;
	c->progress_ms = clock_mono_ms();
	make_metrics(c, cfg->metrics);
	kc.kafka = cfg->kafka;
	kc.group = cfg->group;
	kc.client_id = cfg->client_id ? cfg->client_id : cfg->group;
	kc.on_rebalance = on_rebalance;
	kc.fetch_min_bytes = cfg->fetch_min_bytes;
	kc.fetch_wait_ms = cfg->fetch_wait_ms;
	kc.start_at_end = cfg->start_at_end;
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

char *consumer_dlq_topic(const char *group)
{
	size_t len = strlen(group) + 5;
	char *topic = malloc(len);

	if (topic)
		snprintf(topic, len, "dlq.%s", group);
	return topic;
}

static void item_clear(struct consumer_item *it)
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
		int wait = n == 0 ? timeout_ms : (int)(deadline - clock_mono_ms());
		rd_kafka_message_t *m = c->carry;

		if (m) /* polled during a retry's wait, after the batch it was in */
			c->carry = NULL;
		else
			m = rd_kafka_consumer_poll(c->rk, wait > 0 ? wait : 0);

		if (c->rebalanced) {
			/* The assignment changed during this poll: what was gathered
			 * before belongs to the old one and comes again from the
			 * committed offsets. The batch starts over in the new one. */
			for (int i = 0; i < n; i++)
				item_clear(&c->items[i]);
			n = 0;
			c->rebalanced = false;
		}
		if (!m) {
			if (n == 0 || clock_mono_ms() >= deadline)
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
			deadline = clock_mono_ms() + c->batch_wait_ms;
		c->items[n++].msg = m;
	}
	return n;
}

/* Makes it poison: dead-lettered (and recorded by its position, so that a
 * replay of the fixed event is applied) the next time it is applied. */
static void mark_poison(struct consumer_item *it, const char *why, const char *sqlstate)
{
	snprintf(it->error, sizeof(it->error), "%s", why);
	snprintf(it->sqlstate, sizeof(it->sqlstate), "%s", sqlstate ? sqlstate : "");
	json_decref(it->record);
	it->record = NULL;
	snprintf(it->id, sizeof(it->id), "dead:%s/%d/%lld", rd_kafka_topic_name(it->msg->rkt),
	         (int)it->msg->partition, (long long)it->msg->offset);
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

static void pause_all(struct consumer *c, bool pause)
{
	rd_kafka_topic_partition_list_t *parts = NULL;

	if (c->paused == pause || rd_kafka_assignment(c->rk, &parts) != 0 || !parts)
		return;
	if (pause)
		rd_kafka_pause_partitions(c->rk, parts);
	else
		rd_kafka_resume_partitions(c->rk, parts);
	rd_kafka_topic_partition_list_destroy(parts);
	c->paused = pause;
}

/* Stores the offsets after items[from..to) for the next commit. */
static void store_offsets(struct consumer *c, int from, int to)
{
	rd_kafka_topic_partition_list_t *list;

	if (to <= from)
		return;
	list = rd_kafka_topic_partition_list_new(to - from);
	for (int i = from; i < to; i++)
		kafka_position_add(list, c->items[i].msg, true);
	rd_kafka_offsets_store(c->rk, list);
	rd_kafka_topic_partition_list_destroy(list);
	c->progress_ms = clock_mono_ms();
	c->unapplied = c->batch_n - to;
}

/* Where a partition not read from since it came stands: the group's
 * committed offset (asked for once per assignment), or -1. */
static int64_t committed_offset(struct consumer *c, const rd_kafka_topic_partition_list_t *parts,
                                const rd_kafka_topic_partition_t *p)
{
	const rd_kafka_topic_partition_t *e;

	if (!c->committed) {
		c->committed = rd_kafka_topic_partition_list_copy(parts);
		/* Unanswered: no partition's offset is known (kept, not asked again). */
		if (rd_kafka_committed(c->rk, c->committed, 1000) != 0)
			for (int i = 0; i < c->committed->cnt; i++)
				c->committed->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
	}
	e = rd_kafka_topic_partition_list_find(c->committed, p->topic, p->partition);
	return e && !e->err && e->offset >= 0 ? e->offset : -1;
}

/* Sums the lag of the partitions whose position is known and sets every
 * partition's gauge. */
static long long measure_lag(struct consumer *c)
{
	rd_kafka_topic_partition_list_t *parts = NULL;
	long long total = 0;

	if (rd_kafka_assignment(c->rk, &parts) != 0 || !parts)
		return 0;
	rd_kafka_position(c->rk, parts);
	for (int i = 0; i < parts->cnt; i++) {
		rd_kafka_topic_partition_t *p = &parts->elems[i];
		int64_t lo, hi, lag, from;

		if (rd_kafka_get_watermark_offsets(c->rk, p->topic, p->partition, &lo, &hi) != 0 ||
		    hi < 0)
			continue;
		from = p->offset >= 0 ? p->offset : committed_offset(c, parts, p);
		lag = from >= 0 ? hi - from : hi - lo;
		/* Nothing consumed since the assignment: the gauge says where the
		 * group's commits stand (the whole partition without one); a stall is
		 * judged only on positions read, or an idle consumer just restarted
		 * looks stuck. */
		if (p->offset >= 0 && lag > 0)
			total += lag;
		metric_set(lag_gauge(c, p), lag);
	}
	rd_kafka_topic_partition_list_destroy(parts);
	return total;
}

/* Once a second: the lag, the last-progress age and, when stuck, a log line
 * naming the event the group is stuck on (once per stall interval). */
static void watch(struct consumer *c)
{
	long long now = clock_mono_ms(), lag, age;

	if (now < c->next_watch_ms)
		return;
	c->next_watch_ms = now + WATCH_INTERVAL_MS;
	lag = measure_lag(c) + c->unapplied; /* the fetch position is past the batch in hand */
	if (lag == 0 && !c->stuck)
		c->progress_ms = now; /* nothing to do is not being stuck */
	age = now - c->progress_ms;
	metric_set(c->m_age, age / 1000);
	if (age < c->stall_ms || now - c->stall_logged_ms < c->stall_ms)
		return;
	c->stall_logged_ms = now;
	if (c->stuck) {
		const struct consumer_item *it = c->stuck;

		LOG(WARN,
		    "group %s: no progress for %lld s (%lld messages behind), stuck on %s [%d] at "
		    "offset %lld (%s %s): %s",
		    c->group, age / 1000, lag, rd_kafka_topic_name(it->msg->rkt),
		    (int)it->msg->partition, (long long)it->msg->offset,
		    it->type ? it->type : "undecodable", it->id, c->stuck_why);
	} else {
		LOG(WARN,
		    "group %s: no progress for %lld s (%lld messages behind), no batch in hand",
		    c->group, age / 1000, lag);
	}
}

/* Moves m's partition back to m, so that m comes again (a message that
 * cannot be kept for the next batch must not be skipped). */
static void unread(struct consumer *c, const rd_kafka_message_t *m)
{
	rd_kafka_topic_partition_list_t *at = rd_kafka_topic_partition_list_new(1);
	rd_kafka_error_t *error;

	kafka_position_add(at, m, false);
	if ((error = rd_kafka_seek_partitions(c->rk, at, 5000))) {
		LOG(WARN, "group %s: could not move %s [%d] back to %lld: %s", c->group,
		    rd_kafka_topic_name(m->rkt), (int)m->partition, (long long)m->offset,
		    rd_kafka_error_string(error));
		rd_kafka_error_destroy(error);
	}
	rd_kafka_topic_partition_list_destroy(at);
}

/* Sleeps ms while keeping the group membership alive (paused partitions). */
static void backoff(struct consumer *c, int ms)
{
	long long until = clock_mono_ms() + ms;

	while (!signals_stopping() && !c->rebalanced && !c->rewound && clock_mono_ms() < until) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, 50);

		/* Paused partitions deliver nothing, but partitions assigned during
		 * this poll do: such a message is kept for the next batch, never
		 * dropped (its position has moved past it). The wait ends with it. */
		if (m && !m->err && !c->carry) {
			c->carry = m;
			break;
		}
		if (m && !m->err)
			unread(c, m);
		if (m)
			rd_kafka_message_destroy(m);
		watch(c);
	}
}

/*
 * Pauses, waits before the next try of items from stuck and says whether to
 * try again: false once the partitions were revoked or a stop was asked for
 * (what is not applied is then redelivered).
 */
static bool wait_retry(struct consumer *c, int attempt, const struct consumer_item *stuck, int n,
                       int rc, const char *why)
{
	c->stuck = stuck;
	snprintf(c->stuck_why, sizeof(c->stuck_why), "%s", why);
	pause_all(c, true);
	metric_add(c->m_retries, 1);
	LOG(WARN, "group %s: %d events failed (%s), retrying: %s", c->group, n, err_name(rc), why);
	if (!c->rewound)
		backoff(c, clock_backoff_ms(attempt, RETRY_BASE_MS, RETRY_CAP_MS));
	if (c->rebalanced || c->rewound || signals_stopping()) {
		LOG(INFO, "group %s: leaving %d unapplied events for redelivery (%s)", c->group, n,
		    c->rebalanced ? "rebalance"
		    : c->rewound  ? "rewound"
		                  : "shutdown");
		return false;
	}
	return true;
}

/*
 * Decodes one item. A record naming a schema id the codec has not met while
 * the registry does not answer is not poison: it is waited for, like a
 * database that is down. ERR_RETRY: the wait was given up (rebalance,
 * rewind or stop); the batch is then left for redelivery.
 */
static int decode_item(struct consumer *c, struct consumer_item *it, int n, char *why, size_t size)
{
	for (int attempt = 0;; attempt++) {
		int rc = codec_decode(c->codec, it->msg->payload, it->msg->len, &it->type,
		                      &it->record, why, size);

		if (rc != ERR_RETRY || !wait_retry(c, attempt, it, n, rc, why))
			return rc;
	}
}

/* Decodes the batch; returns how many items need the applier, or -1 when
 * the batch is given up (see decode_item). */
static int decode_items(struct consumer *c, int n)
{
	int todo = 0, rc;

	for (int i = 0; i < n; i++) {
		struct consumer_item *it = &c->items[i];
		char why[256] = "";
		const char *id;

		if (skip_by_header(c, it->msg)) {
			it->skip = true;
			continue;
		}
		rc = decode_item(c, it, n, why, sizeof(why));
		if (rc == ERR_RETRY) {
			return -1;
		} else if (rc < 0) {
			mark_poison(it, why, NULL);
		} else if (!(id = event_meta(it->record, "event_id")) || !*id) {
			mark_poison(it, "the event has no event_id", NULL);
		} else if (!handles(c, it->type, strlen(it->type))) {
			it->skip = true;
			continue;
		} else {
			snprintf(it->id, sizeof(it->id), "%s", id);
		}
		todo++;
	}
	return todo;
}

/* One call of the applier on items[from..from+n); counts what it did. */
static int apply(struct consumer *c, int from, int n, struct consumer_result *res, char *why,
                 size_t size)
{
	int rc;

	*res = (struct consumer_result){.failed = -1};
	rc = c->ap.apply(c->ap.ctx, c->items + from, n, res, why, size);
	if (rc == 0) {
		metric_add(c->m_consumed, res->applied);
		metric_add(c->m_duplicates, res->duplicates);
		metric_add(c->m_dead, res->dead);
		if (res->dead)
			LOG(WARN, "group %s: %d poison messages sent to %s", c->group, res->dead,
			    c->dlq_topic);
	} else if (res->failed >= 0) {
		res->failed += from;
	}
	return rc;
}

static void log_poison(const struct consumer *c, const struct consumer_item *it, const char *why)
{
	struct log_fields f = {.order_id = event_str(it->record, "order_id"),
	                       .event_id = it->id,
	                       .correlation_id = event_meta(it->record, "correlation_id")};

	LOGX(WARN, &f, "group %s: %s at %s [%d] offset %lld is poison, dead-lettering it: %s",
	     c->group, it->type, rd_kafka_topic_name(it->msg->rkt), (int)it->msg->partition,
	     (long long)it->msg->offset, why);
}

/*
 * Applies the batch's events one at a time: each that fails as poison, or
 * fails alone max_attempts times, is dead-lettered; the rest are applied.
 * Returns false when it had to stop early (rebalance or shutdown).
 */
static bool isolate(struct consumer *c, int n)
{
	metric_add(c->m_isolated, 1);
	for (int i = 0; i < n; i++) {
		struct consumer_item *it = &c->items[i];
		int waits = 0, dl_tries = 0;

		while (!it->skip) {
			struct consumer_result res;
			char why[512] = "";
			int rc = apply(c, i, 1, &res, why, sizeof(why));
			enum consumer_failure kind;

			if (rc == 0)
				break;
			kind = consumer_classify(rc, res.sqlstate);
			if (kind != CONSUMER_TRANSIENT && !it->record) {
				/* The dead letter itself failed: not unavailability, so bounded. */
				if (++dl_tries >= c->max_attempts) {
					LOG(ERROR,
					    "group %s: dropping %s [%d] offset %lld: it could not "
					    "be "
					    "dead-lettered either: %s",
					    c->group, rd_kafka_topic_name(it->msg->rkt),
					    (int)it->msg->partition, (long long)it->msg->offset,
					    why);
					metric_add(c->m_dropped, 1);
					it->skip = true;
					break;
				}
			} else if (kind != CONSUMER_TRANSIENT) {
				it->attempts++;
				if (kind == CONSUMER_POISON || it->attempts >= c->max_attempts) {
					log_poison(c, it, why);
					mark_poison(it, why, res.sqlstate);
					continue; /* at once, as a dead letter */
				}
			}
			if (!wait_retry(c, waits++, it, 1, rc, why)) {
				store_offsets(c, 0, i);
				return false;
			}
		}
	}
	store_offsets(c, 0, n);
	return true;
}

/* Applies a decoded batch: whole when it can, else event by event. */
static void apply_batch(struct consumer *c, int n)
{
	long long t0 = clock_mono_ms();

	for (int waits = 0;;) {
		struct consumer_result res;
		char why[512] = "";
		int rc = apply(c, 0, n, &res, why, sizeof(why));
		struct consumer_item *culprit = res.failed >= 0 ? &c->items[res.failed] : NULL;

		if (rc == 0) {
			store_offsets(c, 0, n);
			metric_observe(c->m_batch, (double)(clock_mono_ms() - t0) / 1000.0);
			return;
		}
		switch (consumer_classify(rc, res.sqlstate)) {
		case CONSUMER_TRANSIENT:
			if (!wait_retry(c, waits++, culprit ? culprit : &c->items[0], n, rc, why))
				return;
			continue;
		case CONSUMER_POISON:
			if (culprit && culprit->record) {
				culprit->attempts = 1;
				log_poison(c, culprit, why);
				mark_poison(culprit, why, res.sqlstate);
				continue; /* the batch again, at once, with it as poison */
			}
			break;
		case CONSUMER_UNKNOWN: break;
		}
		LOG(WARN,
		    "group %s: a batch of %d failed (%s), applying its events one at a time: %s",
		    c->group, n, err_name(rc), why);
		isolate(c, n);
		return;
	}
}

int consumer_poll_once(struct consumer *c, int timeout_ms)
{
	int n, todo;

	watch(c);
	c->rebalanced = c->rewound = false;
	n = gather(c, timeout_ms);
	if (n == 0)
		return 0;
	c->batch_n = c->unapplied = n;
	todo = decode_items(c, n);
	if (todo >= 0) { /* < 0: given up, redelivered after the rebalance, rewind or restart */
		metric_add(c->m_skipped, n - todo);
		if (todo == 0)
			store_offsets(c, 0,
			              n); /* nothing here for this service: only the offsets move */
		else
			apply_batch(c, n);
	}
	pause_all(c, false);
	c->stuck = NULL;
	c->batch_n = c->unapplied = 0;
	for (int i = 0; i < n; i++)
		item_clear(&c->items[i]);
	return n;
}

int consumer_rewind(struct consumer *c, char *errstr, size_t errstr_size)
{
	rd_kafka_topic_partition_list_t *parts = NULL;
	rd_kafka_resp_err_t err;
	int rc;

	if (!c->ap.assigned)
		return 0;
	if (rd_kafka_assignment(c->rk, &parts) != 0 || !parts) {
		snprintf(errstr, errstr_size, "no assignment to rewind");
		return ERR_RETRY;
	}
	rc = parts->cnt > 0 ? c->ap.assigned(c->ap.ctx, parts, errstr, errstr_size) : 0;
	/* The same partitions assigned again, at the store's offsets: their
	 * fetchers start over there, unpaused (a seek of paused partitions was
	 * seen to leave them fetching nothing). */
	if (rc == 0 && parts->cnt > 0 && (err = rd_kafka_assign(c->rk, parts)) != 0) {
		snprintf(errstr, errstr_size, "could not assign again: %s", rd_kafka_err2str(err));
		rc = ERR_RETRY;
	}
	if (rc == 0 && parts->cnt > 0)
		rd_kafka_resume_partitions(c->rk, parts);
	rd_kafka_topic_partition_list_destroy(parts);
	if (rc == 0) {
		c->paused = false;
		c->rewound = true;
		LOG(INFO, "group %s: rewound to the offsets its store keeps", c->group);
	}
	return rc;
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
	if (c->carry)
		rd_kafka_message_destroy(c->carry);
	forget_committed(c);
	free(c->items);
	free(c->dlq_topic);
	free(c->group);
	free(c);
}

/* Copies len bytes of src as text that any store takes: valid UTF-8 is kept,
 * NUL, control characters and invalid bytes become '?'. */
static void text_copy(char *dst, size_t size, const char *src, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < len && o + 5 < size;) {
		unsigned char b = (unsigned char)src[i];
		size_t need = b < 0x80             ? 1
		              : (b & 0xe0) == 0xc0 ? 2
		              : (b & 0xf0) == 0xe0 ? 3
		              : (b & 0xf8) == 0xf0 ? 4
		                                   : 0;
		bool ok = need > 0 && i + need <= len && !(need == 1 && (b < 0x20 || b == 0x7f));

		for (size_t k = 1; ok && k < need; k++)
			ok = ((unsigned char)src[i + k] & 0xc0) == 0x80;
		if (ok && need == 2 && b < 0xc2)
			ok = false; /* overlong */
		if (!ok) {
			dst[o++] = '?';
			i++;
			continue;
		}
		memcpy(dst + o, src + i, need);
		o += need;
		i += need;
	}
	dst[o] = '\0';
}

void consumer_item_key(const struct consumer_item *it, char *buf, size_t size)
{
	text_copy(buf, size, it->msg->key ? (const char *)it->msg->key : "",
	          it->msg->key ? it->msg->key_len : 0);
}

char *consumer_dlq_headers(const struct consumer_item *it, const char *group)
{
	rd_kafka_headers_t *orig = NULL;
	char *h = NULL, num[32], text[512], name_text[128];
	const char *name;
	const void *val;
	size_t len;

	if (rd_kafka_message_headers(it->msg, &orig) == RD_KAFKA_RESP_ERR_NO_ERROR) {
		for (size_t i = 0; rd_kafka_header_get_all(orig, i, &name, &val, &len) == 0; i++) {
			text_copy(name_text, sizeof(name_text), name, strlen(name));
			text_copy(text, sizeof(text), val ? val : "", val ? len : 0);
			if (!(h = outbox_header_append(h, name_text, text)))
				return NULL;
		}
	}
	text_copy(text, sizeof(text), it->error, strlen(it->error));
	h = outbox_header_append(h, "dlq-error", text);
	if (h && it->sqlstate[0])
		h = outbox_header_append(h, "dlq-sqlstate", it->sqlstate);
	if (h)
		h = outbox_header_append(h, "dlq-topic", rd_kafka_topic_name(it->msg->rkt));
	snprintf(num, sizeof(num), "%d", (int)it->msg->partition);
	if (h)
		h = outbox_header_append(h, "dlq-partition", num);
	snprintf(num, sizeof(num), "%lld", (long long)it->msg->offset);
	if (h)
		h = outbox_header_append(h, "dlq-offset", num);
	if (h)
		h = outbox_header_append(h, "dlq-group", group);
	snprintf(num, sizeof(num), "%d", it->attempts > 0 ? it->attempts : 1);
	if (h)
		h = outbox_header_append(h, "dlq-attempts", num);
	snprintf(num, sizeof(num), "%zu", it->msg->len);
	if (h && it->msg->len > CONSUMER_DLQ_MAX_VALUE)
		h = outbox_header_append(h, "dlq-value-bytes", num);
	return h;
}

const void *consumer_dlq_value(const struct consumer_item *it, size_t *len)
{
	*len = it->msg->len > CONSUMER_DLQ_MAX_VALUE ? CONSUMER_DLQ_MAX_VALUE : it->msg->len;
	return it->msg->payload ? it->msg->payload : "";
}
