/*
 * kafka.h - librdkafka handles configured the project's way.
 *
 * Producers are idempotent with acks=all (no duplicates or reordering from
 * retries, nothing acknowledged before every in-sync replica has it).
 * Consumers commit only offsets the application stored (rd_kafka_offsets_store,
 * after the work is durable): every KAFKA_COMMIT_INTERVAL_MS, on revocation
 * and on close, not a request per batch. After a crash at most that
 * interval's events come again, which the inbox makes harmless. A new group
 * starts from the earliest offset.
 */
#ifndef COMMON_KAFKA_H
#define COMMON_KAFKA_H

#include <stdbool.h>

#include <librdkafka/rdkafka.h>

#include "config.h"
#include "err.h"

/*
 * Where a client finds the cluster and how it proves who it is; producers,
 * consumers and admin clients all take one. SASL_PLAINTEXT with
 * SCRAM-SHA-512 is the default; PLAINTEXT (no authentication) only when a
 * setting asks for it; SASL_SSL adds TLS, verified against ssl_ca_location.
 */
struct kafka_endpoint {
	char *bootstrap;
	char *security_protocol; /* PLAINTEXT, SASL_PLAINTEXT, SSL or SASL_SSL */
	char *sasl_mechanism;    /* SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN */
	char *sasl_username;
	char *sasl_password;
	char *ssl_ca_location; /* PEM file of the CA that signed the broker; "": the system's */
};

#define KAFKA_ENDPOINT_VARS(type, field)                                                           \
	CONFIG_STR("KAFKA_BOOTSTRAP", "127.0.0.1:19092", type, field.bootstrap,                    \
	           "Kafka bootstrap servers"),                                                     \
	        CONFIG_STR("KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT", type,                      \
	                   field.security_protocol, "PLAINTEXT, SASL_PLAINTEXT, SSL or SASL_SSL"), \
	        CONFIG_STR("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512", type, field.sasl_mechanism,    \
	                   "SASL mechanism: SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN"),               \
	        CONFIG_STR("KAFKA_SASL_USERNAME", "", type, field.sasl_username,                   \
	                   "the client's Kafka principal (required with SASL)"),                   \
	        CONFIG_SECRET("KAFKA_SASL_PASSWORD", "", type, field.sasl_password,                \
	                      "the principal's password (required with SASL)"),                    \
	        CONFIG_STR("KAFKA_SSL_CA_LOCATION", "", type, field.ssl_ca_location,               \
	                   "with SSL or SASL_SSL: the CA file that verifies the broker")

/*
 * A librdkafka configuration for ep: bootstrap servers, client id and the
 * security settings, checked (SASL needs a username and a password). The
 * caller adds its own settings and owns the result; NULL with errstr on a bad
 * endpoint.
 */
rd_kafka_conf_t *kafka_conf_new(const struct kafka_endpoint *ep, const char *client_id,
                                char *errstr, size_t errstr_size);

#define KAFKA_COMMIT_INTERVAL_MS "1000"
/* How long the broker may hold a fetch when it has nothing new: data ends
 * the wait at once (fetch.min.bytes 1), so this costs no latency under
 * load; idle, each consumer fetches twice a second. */
#define KAFKA_FETCH_WAIT_MS "500"
/* A consumer reads ahead at most this many payload bytes, and this many
 * messages per partition: librdkafka's defaults (64 MiB, 100,000) let a
 * backlogged daemon grow past 100 MiB resident, counting each small
 * message's bookkeeping. A batch is at most CONSUMER_BATCH (500) messages. */
#define KAFKA_PREFETCH_KBYTES   "4096"
#define KAFKA_PREFETCH_MESSAGES "2000"

struct kafka_producer_cfg {
	const struct kafka_endpoint *kafka;
	const char *client_id;
	int linger_ms;          /* batching delay; 0 sends at once */
	int message_timeout_ms; /* give up on a message after this; 0 = never */
	/* Called on librdkafka's poll thread for each delivery report; may be NULL. */
	void (*on_delivery)(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque);
	void *opaque;
};

struct kafka_consumer_cfg {
	const struct kafka_endpoint *kafka;
	const char *group;
	const char *client_id;
	/* Optional rebalance callback (e.g. to commit on revocation); NULL = default. */
	void (*on_rebalance)(rd_kafka_t *rk, rd_kafka_resp_err_t err,
	                     rd_kafka_topic_partition_list_t *parts, void *opaque);
	void *opaque;
	/* The broker answers a fetch once it has fetch_min_bytes for the
	 * consumer or after fetch_wait_ms: larger values mean fewer requests
	 * under load and more latency when quiet. 0: 1 byte and
	 * KAFKA_FETCH_WAIT_MS. */
	int fetch_min_bytes;
	int fetch_wait_ms;
	/* A group with no committed offsets starts at the end of each partition
	 * instead of the beginning (KAFKA_OFFSET_RESET=latest). */
	bool start_at_end;
};

int kafka_producer_new(rd_kafka_t **out, const struct kafka_producer_cfg *cfg, char *errstr,
                       size_t errstr_size) WARN_UNUSED;
int kafka_consumer_new(rd_kafka_t **out, const struct kafka_consumer_cfg *cfg, char *errstr,
                       size_t errstr_size) WARN_UNUSED;

/*
 * A fatal error of an idempotent producer (librdkafka can no longer
 * guarantee order or no duplicates) leaves it refusing every message. When
 * *rk has one, this purges it and puts a new producer made from cfg in its
 * place, with a new producer id; who names it in the log. 0 when nothing had
 * to change or the new producer is in place; ERR_RETRY when none could be
 * made (*rk is then the old one still).
 */
int kafka_producer_renew_if_fatal(rd_kafka_t **rk, const struct kafka_producer_cfg *cfg,
                                  const char *who) WARN_UNUSED;

/*
 * A producer for callers that need the broker's acknowledgement of each of
 * their messages (acks=all, idempotent), from any thread; a thread of its
 * own serves the delivery reports. cfg->message_timeout_ms bounds how long a
 * report can take (0: 5 s); cfg->on_delivery and cfg->opaque are its own.
 * After a fatal error of librdkafka it puts a new producer in place.
 */
struct kafka_publisher;

int kafka_publisher_new(struct kafka_publisher **out, const struct kafka_producer_cfg *cfg,
                        char *errstr, size_t errstr_size) WARN_UNUSED;

/* A message's outcome: rc 0 when the broker acknowledged it, else ERR_RETRY
 * and why. A timeout is not a failure: the broker may have the message,
 * only its acknowledgement is missing. */
typedef void (*kafka_ack_fn)(void *arg, int rc, const char *why);

/*
 * Sends value (len bytes, copied) with key to topic. headers (may be NULL)
 * are taken, also on error. 0 when the message is on its way: on_ack(arg,
 * ...) is then called once, on the report thread (it must not block); an
 * error with errstr when it could not be sent (on_ack is not called).
 */
int kafka_publisher_send(struct kafka_publisher *p, const char *topic, const char *key,
                         const void *value, size_t len, rd_kafka_headers_t *headers,
                         kafka_ack_fn on_ack, void *arg, char *errstr,
                         size_t errstr_size) WARN_UNUSED;

/* Waits up to flush_ms for what is in flight, fails what is left (each
 * on_ack is called), stops the thread, frees. NULL-safe. */
void kafka_publisher_free(struct kafka_publisher *p, int flush_ms);

/* Subscribes to a NULL-terminated list of topics. */
int kafka_subscribe(rd_kafka_t *rk, const char *const *topics, char *errstr,
                    size_t errstr_size) WARN_UNUSED;

/* Asks the cluster for metadata: 0 when a broker answered within timeout_ms. */
int kafka_ping(rd_kafka_t *rk, int timeout_ms, char *errstr, size_t errstr_size) WARN_UNUSED;

/* A topic to create (kafka_create_topics). */
struct kafka_new_topic {
	const char *name;
	int partitions;
	int replication;
	const char *const *config; /* NULL, or "name", "value", ..., NULL */
	bool created;              /* out: created now; false when it existed already */
};

/* Creates the topics that do not exist yet through the admin API; existing
 * ones are left alone. errstr names the first topic that failed. */
int kafka_create_topics(const struct kafka_endpoint *ep, struct kafka_new_topic *topics, size_t n,
                        int timeout_ms, char *errstr, size_t errstr_size) WARN_UNUSED;

/* Deletes a topic (benchmarks' scratch topics). */
int kafka_delete_topic(const struct kafka_endpoint *ep, const char *name, int timeout_ms,
                       char *errstr, size_t errstr_size) WARN_UNUSED;

/* Waits up to timeout_ms on q for an admin request's result: the event (the
 * caller destroys it), or NULL with "could not <what>: ..." in errstr. */
rd_kafka_event_t *kafka_admin_wait(rd_kafka_queue_t *q, int timeout_ms, const char *what,
                                   char *errstr, size_t errstr_size);

/* A client for admin requests (kafka_group_lag); rd_kafka_destroy it. */
rd_kafka_t *kafka_admin_new(const struct kafka_endpoint *ep, char *errstr, size_t errstr_size);

/*
 * How far consumer group is behind, members or not: the messages between
 * each partition's committed offset and its end, summed over the partitions
 * it has committed on. ERR_RETRY when the cluster did not answer within
 * timeout_ms.
 */
int kafka_group_lag(rd_kafka_t *rk, const char *group, int timeout_ms, long long *lag, char *errstr,
                    size_t errstr_size) WARN_UNUSED;

/*
 * Moves every committed offset of group to the start of its partition, so
 * that its members consume everything again (a replay). The group must have
 * no members (the broker refuses otherwise). *moved receives how many
 * partitions moved.
 */
int kafka_group_rewind(rd_kafka_t *rk, const char *group, int timeout_ms, int *moved, char *errstr,
                       size_t errstr_size) WARN_UNUSED;

/* ERR_RETRY for errors librdkafka calls retriable or transient, else ERR_FATAL. */
int kafka_classify(rd_kafka_resp_err_t err);

/* Finds header name on msg; returns its value copied into buf (NUL-terminated)
 * or NULL when absent. */
/*
 * Adds message m to a list of per-partition positions. after=true: the
 * offset after m, keeping the furthest per partition (what to store once a
 * batch is applied); after=false: m's own offset, keeping the earliest (where
 * to seek to read a batch again).
 */
void kafka_position_add(rd_kafka_topic_partition_list_t *list, const rd_kafka_message_t *m,
                        bool after);

/* Kafka headers (new; the caller or producev owns them) from a block of
 * "name: value" lines, as outbox_add_raw stores them. */
rd_kafka_headers_t *kafka_headers_parse(const char *block);

const char *kafka_header(const rd_kafka_message_t *msg, const char *name, char *buf, size_t size);

#endif
