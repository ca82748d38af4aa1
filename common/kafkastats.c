#include "kafkastats.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "err.h"

/* The request kinds counted; others (ApiVersion, SaslHandshake, ...) are rare. */
static const char *const apis[] = {"Produce",   "Fetch",       "OffsetCommit",   "Heartbeat",
                                   "Metadata",  "ListOffsets", "OffsetFetch",    "FindCoordinator",
                                   "JoinGroup", "SyncGroup",   "InitProducerId", "LeaveGroup"};
#define NAPIS       (sizeof(apis) / sizeof(apis[0]))
#define MAX_CLIENTS 32

/* Each client's counts at its last report: librdkafka's are totals since
 * the client was made, the counters take the difference. */
struct client {
	const rd_kafka_t *rk;
	long long last[NAPIS];
	unsigned long long seen; /* the report it last sent (stats.reports) */
};

static struct {
	pthread_mutex_t lock;
	struct metric *requests[NAPIS];
	struct client clients[MAX_CLIENTS];
	size_t nclients;
	unsigned long long reports;
	atomic_bool attached;
} stats = {.lock = PTHREAD_MUTEX_INITIALIZER};

void kafka_stats_attach(struct metrics *m)
{
	char labels[64];

	pthread_mutex_lock(&stats.lock);
	for (size_t i = 0; i < NAPIS; i++) {
		snprintf(labels, sizeof(labels), "api=\"%s\"", apis[i]);
		stats.requests[i] = metrics_counter(m, "saga_kafka_requests_total",
		                                    "requests this process's Kafka clients sent, "
		                                    "by kind (librdkafka's statistics)",
		                                    labels);
	}
	pthread_mutex_unlock(&stats.lock);
	atomic_store(&stats.attached, true);
}

static int on_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
	(void)opaque;
	kafka_stats_apply(rk, json, len);
	return 0; /* librdkafka frees json */
}

int kafka_stats_enable(rd_kafka_conf_t *conf, char *errstr, size_t errstr_size)
{
	if (!atomic_load(&stats.attached))
		return 0;
	if (rd_kafka_conf_set(conf, "statistics.interval.ms", KAFKA_STATS_INTERVAL_MS, errstr,
	                      errstr_size) != RD_KAFKA_CONF_OK)
		return ERR_INVALID;
	rd_kafka_conf_set_stats_cb(conf, on_stats);
	return 0;
}

/* The slot of rk; a new client takes a free slot, or the one that has not
 * reported for longest (a client destroyed since). */
static struct client *client_of(const rd_kafka_t *rk)
{
	struct client *c = NULL;

	for (size_t i = 0; i < stats.nclients; i++)
		if (stats.clients[i].rk == rk)
			return &stats.clients[i];
	if (stats.nclients < MAX_CLIENTS) {
		c = &stats.clients[stats.nclients++];
	} else {
		c = &stats.clients[0];
		for (size_t i = 1; i < MAX_CLIENTS; i++)
			if (stats.clients[i].seen < c->seen)
				c = &stats.clients[i];
	}
	*c = (struct client){.rk = rk};
	return c;
}

void kafka_stats_apply(const rd_kafka_t *rk, const char *json, size_t len)
{
	long long now[NAPIS] = {0};
	json_t *doc = json_loadb(json, len, 0, NULL);
	json_t *brokers = json_object_get(doc, "brokers"), *broker;
	const char *name;

	if (!json_is_object(brokers)) { /* not a statistics document: nothing to count */
		json_decref(doc);
		return;
	}
	/* Every broker handle's counts, the bootstrap ones included. */
	json_object_foreach (brokers, name, broker) {
		json_t *req = json_object_get(broker, "req");
		for (size_t i = 0; i < NAPIS; i++)
			now[i] += json_integer_value(json_object_get(req, apis[i]));
	}
	json_decref(doc);
	pthread_mutex_lock(&stats.lock);
	struct client *c = client_of(rk);
	c->seen = ++stats.reports;
	for (size_t i = 0; i < NAPIS; i++) {
		/* Less than last time: a new client in a freed one's place. */
		long long delta = now[i] >= c->last[i] ? now[i] - c->last[i] : now[i];
		metric_add(stats.requests[i], delta);
		c->last[i] = now[i];
	}
	pthread_mutex_unlock(&stats.lock);
}
