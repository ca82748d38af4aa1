/*
 * daemon.h - the startup and shutdown every daemon shares.
 *
 *   struct my_cfg { struct daemon_settings d; long batch; };
 *   static const struct config_var vars[] = {
 *       DAEMON_CONFIG_VARS(struct my_cfg, d, "9101"),
 *       DAEMON_DATABASE_VAR(struct my_cfg, d),
 *       CONFIG_INT("BATCH", "100", 1, 10000, struct my_cfg, batch, "events per batch"),
 *   };
 *   daemon_load_config(&cfg, vars, n, argc, argv);     (exits on bad values)
 *   daemon_start(&d, "my", &cfg.d, migrations, nmigrations);
 *   while (!signals_stopping()) ...work...;
 *   daemon_stop(&d);
 *
 * Startup order: log, signals, metrics, database (waits for it, then
 * migrations), Kafka probe, admin server. Stop runs in reverse.
 */
#ifndef COMMON_DAEMON_H
#define COMMON_DAEMON_H

#include <stdbool.h>

#include <librdkafka/rdkafka.h>

#include "admin.h"
#include "config.h"
#include "db.h"
#include "metrics.h"
#include "migrate.h"

struct daemon_settings {
	char *log_level;
	char *admin_addr;
	long admin_port;
	char *kafka_bootstrap;
	char *database_url; /* NULL for a daemon without a database */
};

#define DAEMON_CONFIG_VARS(type, field, port)                                                 \
	CONFIG_STR("LOG_LEVEL", "info", type, field.log_level, "debug, info, warn or error"), \
	        CONFIG_STR("ADMIN_ADDR", "127.0.0.1", type, field.admin_addr,                 \
	                   "address of /healthz, /readyz and /metrics"),                      \
	        CONFIG_INT("ADMIN_PORT", port, 1, 65535, type, field.admin_port,              \
	                   "port of /healthz, /readyz and /metrics"),                         \
	        CONFIG_STR("KAFKA_BOOTSTRAP", "127.0.0.1:19092", type, field.kafka_bootstrap, \
	                   "Kafka bootstrap servers")

#define DAEMON_DATABASE_VAR(type, field)                              \
	CONFIG_SECRET("DATABASE_URL", NULL, type, field.database_url, \
	              "PostgreSQL connection string of the service's own database")

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
};

/* Logs a startup failure and exits 1. Only for startup. */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Loads the configuration; --help prints the table. Every bad value is logged
 * by name and the process exits 2. */
void daemon_load_config(void *target, const struct config_var *vars, size_t n, int argc,
                        char **argv);

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

/* Releases everything daemon_start made, in reverse order. Safe to call
 * after a failed start. */
void daemon_stop(struct daemon *d);

/* Sleeps up to ms milliseconds, waking early when a stop is asked for. */
void daemon_sleep(int ms);

/* Exponential backoff with full jitter: a delay in [base, min(cap, base*2^attempt)]. */
int daemon_backoff_ms(int attempt, int base_ms, int cap_ms);

#endif
