/*
 * daemon.h - the startup and shutdown every daemon shares.
 *
 *   struct my_cfg { struct daemon_settings d; long batch; };
 *   static const struct config_var vars[] = {
 *       DAEMON_CONFIG_VARS(struct my_cfg, d, "9101"),
 *       DAEMON_DATABASE_VARS(struct my_cfg, d),
 *       CONFIG_INT("BATCH", "100", 1, 10000, struct my_cfg, batch, "events per batch"),
 *   };
 *   #define NVARS (sizeof(vars) / sizeof(vars[0]))
 *   static int setup(struct daemon *d, const void *cfg, void *ctx) { ...; return 0; }
 *   DAEMON_MAIN("my", struct my_cfg, struct my_ctx, setup, my_handlers)
 *
 * which runs config_load_or_exit (exits on bad values), daemon_start,
 * setup, daemon_consume (until SIGTERM) and daemon_stop. A daemon that does
 * not consume (the gateway) calls daemon_start and daemon_stop itself.
 *
 * Startup order: log, signals, metrics, codec, schema registry (when
 * SCHEMA_REGISTRY_URL is set: waits for it, registers the schemas), database (waits for it, then
 * the common and the service's migrations), outbox relay, Kafka probe, admin
 * server. Stop runs in reverse.
 */
#ifndef COMMON_DAEMON_H
#define COMMON_DAEMON_H

#include <stdbool.h>

#include <librdkafka/rdkafka.h>

#include "admin.h"
#include "codec.h"
#include "config.h"
#include "consumer.h"
#include "dbapply.h"
#include "db.h"
#include "metrics.h"
#include "migrate.h"
#include "outbox.h"
#include "registry.h"
#include "relay.h"

struct daemon_settings {
	char *log_level;
	char *admin_addr;
	long admin_port;
	struct kafka_endpoint kafka;
	struct registry_endpoint registry;
	char *database_url; /* NULL for a daemon without a database */
	long relay_batch;
	long relay_linger_ms;
	long relay_gather_ms;
	bool relay_fault_kill_after_ack;
	bool relay_fault_fatal_error;
	char *consumer_fault_kill;
	long consumer_fault_after;
	long consumer_batch;
	long consumer_wait_ms;
	long fetch_min_bytes;
	long fetch_wait_ms;
	long inbox_retention_hours; /* 0: keep every inbox row */
	long consumer_max_attempts;
	long consumer_stall_s;
	char *consumer_group;       /* "" for the service's own */
	bool consumer_start_at_end; /* a new group starts at the end, not the beginning */
};

#define DAEMON_CONFIG_VARS(type, field, port)                                                 \
	CONFIG_STR("LOG_LEVEL", "info", type, field.log_level, "debug, info, warn or error"), \
	        CONFIG_STR("ADMIN_ADDR", "127.0.0.1", type, field.admin_addr,                 \
	                   "address of /healthz, /readyz and /metrics"),                      \
	        CONFIG_INT("ADMIN_PORT", port, 1, 65535, type, field.admin_port,              \
	                   "port of /healthz, /readyz and /metrics"),                         \
	        KAFKA_ENDPOINT_VARS(type, field.kafka),                                       \
	        REGISTRY_ENDPOINT_VARS(type, field.registry)

/* A daemon with a database has an outbox, a relay and consumers. */
#define DAEMON_DATABASE_VARS(type, field)                                                          \
	CONFIG_SECRET("DATABASE_URL", NULL, type, field.database_url,                              \
	              "PostgreSQL connection string of the service's own database"),               \
	        CONFIG_INT("RELAY_BATCH", "1000", 1, 100000, type, field.relay_batch,              \
	                   "outbox rows the relay publishes per round"),                           \
	        CONFIG_INT("RELAY_LINGER_MS", "5", 0, 1000, type, field.relay_linger_ms,           \
	                   "producer batching delay of the relay"),                                \
	        CONFIG_INT("RELAY_GATHER_MS", "10", 0, 1000, type, field.relay_gather_ms,          \
	                   "how long the relay lets commits gather after a NOTIFY wakes it"),      \
	        CONFIG_BOOL(                                                                       \
	                "RELAY_FAULT_KILL_AFTER_ACK", "false", type,                               \
	                field.relay_fault_kill_after_ack,                                          \
	                "fault tests only: the relay kills its process after the broker's acks"),  \
	        CONFIG_BOOL(                                                                       \
	                "RELAY_FAULT_FATAL_ERROR", "false", type, field.relay_fault_fatal_error,   \
	                "fault tests only: a fatal producer error after the relay's first round"), \
	        CONFIG_STR("CONSUMER_FAULT_KILL", "", type, field.consumer_fault_kill,             \
	                   "fault tests only: before-commit or after-commit, where a consumer "    \
	                   "SIGKILLs its process"),                                                \
	        CONFIG_INT("CONSUMER_FAULT_AFTER_EVENTS", "0", 0, 1000000000, type,                \
	                   field.consumer_fault_after,                                             \
	                   "fault tests only: the CONSUMER_FAULT_KILL point fires past this many " \
	                   "applied events"),                                                      \
	        CONFIG_INT("CONSUMER_BATCH", "500", 1, 100000, type, field.consumer_batch,         \
	                   "messages a consumer applies per transaction"),                         \
	        CONFIG_INT("CONSUMER_WAIT_MS", "5", 0, 10000, type, field.consumer_wait_ms,        \
	                   "how long a consumer gathers a batch after its first message"),         \
	        DAEMON_FETCH_VARS(type, field),                                                    \
	        CONFIG_INT("INBOX_RETENTION_HOURS", "336", 0, 87600, type,                         \
	                   field.inbox_retention_hours,                                            \
	                   "consumed-event ids older than this are deleted (0: never)"),           \
	        DAEMON_CONSUMER_VARS(type, field)

/* How a consumer fetches (kafka.h); every daemon that consumes. */
#define DAEMON_FETCH_VARS(type, field)                                               \
	CONFIG_INT("FETCH_MIN_BYTES", "1", 1, 10000000, type, field.fetch_min_bytes, \
	           "bytes the broker gathers before it answers a consumer's fetch"), \
	        CONFIG_INT("FETCH_WAIT_MS", KAFKA_FETCH_WAIT_MS, 1, 10000, type,     \
	                   field.fetch_wait_ms,                                      \
	                   "longest the broker holds a fetch waiting for FETCH_MIN_BYTES")

/* How a consumer treats failures (consumer.h); every daemon that consumes. */
#define DAEMON_CONSUMER_VARS(type, field)                                                        \
	CONFIG_INT("CONSUMER_MAX_ATTEMPTS", "3", 1, 100, type, field.consumer_max_attempts,      \
	           "tries of an event that fails alone for a reason neither clearly "            \
	           "transient nor clearly poison, before it is dead-lettered"),                  \
	        CONFIG_INT("CONSUMER_STALL_S", "30", 1, 86400, type, field.consumer_stall_s,     \
	                   "a consumer with lag that has not moved on for this long logs "       \
	                   "the event it is stuck on"),                                          \
	        CONFIG_STR("CONSUMER_GROUP", "", type, field.consumer_group,                     \
	                   "consumer group (and dlq.<group>); empty: the service's name"),       \
	        CONFIG_BOOL("CONSUMER_START_AT_END", "false", type, field.consumer_start_at_end, \
	                    "a group without committed offsets starts at the end of the "        \
	                    "topics, not the beginning")

#define DAEMON_MAX_CHECKS 4

struct daemon {
	const char *name;
	const struct daemon_settings *settings;
	struct metrics *metrics;
	struct db *db;       /* the main thread's connection; NULL without a database */
	struct db *ready_db; /* the admin thread's own connection for /readyz */
	rd_kafka_t *probe;   /* a client used only to answer /readyz */
	struct admin *admin;
	struct admin_check checks[DAEMON_MAX_CHECKS];
	size_t nchecks;
	struct codec *codec;       /* every event schema */
	struct registry *registry; /* NULL without a schema registry */
	struct outbox *outbox;     /* with a database: where handlers emit events */
	struct relay *relay;       /* with a database: publishes the outbox */
	struct dbapply *applier;
	struct consumer *consumer;
	int (*tick)(void *ctx); /* called between batches, see daemon_set_tick */
	void *tick_ctx;
	long long next_prune_ms; /* when the inbox is next pruned */
	long pruned;             /* rows deleted in the current pruning round */
};

/* Adds a readiness check before daemon_start (at most DAEMON_MAX_CHECKS in all). */
void daemon_add_check(struct daemon *d, const char *name,
                      int (*fn)(void *arg, char *errstr, size_t errstr_size), void *arg);

/*
 * Starts the shared parts. Waits (with backoff, until a stop is asked for)
 * for the database, then applies the migrations. Returns 0, or an error when
 * startup failed or a stop came first.
 */
int daemon_start(struct daemon *d, const char *name, const struct daemon_settings *settings,
                 const struct migration *migrations, size_t nmigrations) WARN_UNUSED;

/*
 * Joins group on the topics of the handlers' event types (their schemas'
 * x-topic) and applies each event of those types with its handler (ctx is
 * theirs), in batches, until a stop is asked for; then commits and returns
 * 0. Events of other types on those topics are skipped unread.
 */
int daemon_consume(struct daemon *d, const char *group, const struct dbapply_handler *handlers,
                   void *ctx) WARN_UNUSED;

/* daemon_consume on the given topics (NULL-terminated), e.g. for a table of
 * DBAPPLY_ANY_TYPE. */
int daemon_consume_topics(struct daemon *d, const char *group, const char *const *topics,
                          const struct dbapply_handler *handlers, void *ctx) WARN_UNUSED;

/*
 * A consuming service, as its main() describes it. cfg receives the loaded
 * configuration (settings: its struct daemon_settings); once the daemon has
 * started, setup fills ctx, the handlers' context, from the daemon and cfg
 * (and may seed data or set a tick): 0, or an error it has logged.
 */
struct daemon_service {
	const char *name; /* also its consumer group */
	const struct config_var *vars;
	size_t nvars;
	void *cfg;
	struct daemon_settings *settings; /* inside cfg */
	const struct migration *migrations;
	size_t nmigrations;
	const struct dbapply_handler *handlers;
	int (*setup)(struct daemon *d, const void *cfg, void *ctx);
	void *ctx;
};

/* A service's whole life: configuration (exits on bad values), start,
 * setup, consuming until SIGTERM, stop. Returns main()'s exit status. */
int daemon_main(const struct daemon_service *svc, int argc, char **argv);

/*
 * The main() of a consuming service, in its main.c after its configuration
 * table `vars` (NVARS entries) of cfg_type (whose member d is its struct
 * daemon_settings) and its setup function:
 *
 *   DAEMON_MAIN("payment", struct payment_cfg, struct payment_ctx, setup, payment_handlers)
 */
#define DAEMON_MAIN(svc_name, cfg_type, ctx_type, setup_fn, handler_table)                 \
	int main(int argc, char **argv)                                                    \
	{                                                                                  \
		cfg_type cfg = {0};                                                        \
		ctx_type ctx;                                                              \
		const struct daemon_service service = {.name = (svc_name),                 \
		                                       .vars = vars,                       \
		                                       .nvars = NVARS,                     \
		                                       .cfg = &cfg,                        \
		                                       .settings = &cfg.d,                 \
		                                       .migrations = service_migrations,   \
		                                       .nmigrations = service_nmigrations, \
		                                       .handlers = (handler_table),        \
		                                       .setup = (setup_fn),                \
		                                       .ctx = &ctx};                       \
                                                                                           \
		return daemon_main(&service, argc, argv);                                  \
	}

/* Has daemon_consume call tick(ctx) between batches, for work driven by
 * time rather than by events (retries, timers). tick returns how many ms
 * from now it wants to be called again: the consumer waits for events at
 * most that long (and at most DAEMON_POLL_MS). */
void daemon_set_tick(struct daemon *d, int (*tick)(void *ctx), void *ctx);

/* Releases everything daemon_start made, in reverse order. Safe to call
 * after a failed start. */
void daemon_stop(struct daemon *d);

#endif
