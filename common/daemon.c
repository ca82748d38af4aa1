#include "daemon.h"

#include <stdarg.h>
#include <stdio.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "event.h"
#include "inbox.h"
#include "kafka.h"
#include "kafkastats.h"
#include "log.h"
#include "signals.h"

#define INBOX_PRUNE_CHUNK       5000  /* inbox rows deleted per statement */
#define INBOX_PRUNE_INTERVAL_MS 60000 /* between pruning rounds */
/* The longest a consumer waits for events before it looks at its tick, the
 * inbox's pruning and the stop signal (events end the wait at once). */
#define DAEMON_POLL_MS 500

void daemon_add_check(struct daemon *d, const char *name,
                      int (*fn)(void *arg, char *errstr, size_t errstr_size), void *arg)
{
	if (d->nchecks >= DAEMON_MAX_CHECKS)
		BUG("more than %d readiness checks", DAEMON_MAX_CHECKS);
	d->checks[d->nchecks++] = (struct admin_check){name, fn, arg};
}

static int check_db(void *arg, char *errstr, size_t errstr_size)
{
	return db_ping(arg, errstr, errstr_size);
}

static int check_kafka(void *arg, char *errstr, size_t errstr_size)
{
	return kafka_ping(arg, 1000, errstr, errstr_size);
}

/* Connects to the database, retrying with backoff until it answers. */
static int wait_for_db(struct daemon *d)
{
	char why[512] = "";
	int rc;

	rc = db_open(&d->db, d->settings->database_url, why, sizeof(why));
	if (rc < 0)
		return rc;
	for (int attempt = 0; !signals_stopping(); attempt++) {
		if (db_conn(d->db, &rc, why, sizeof(why)))
			return 0;
		LOG(WARN, "could not connect to the database, retrying: %s", why);
		clock_sleep_ms(clock_backoff_ms(attempt, 200, 5000));
	}
	return ERR_RETRY;
}

/* Registers the schemas with the registry, retrying with backoff until it
 * answers; a refusal (an incompatible schema: 409) stops the start. */
static int wait_for_registry(struct daemon *d)
{
	const struct registry_endpoint *e = &d->settings->registry;
	char why[512] = "";
	int rc;

	rc = registry_new(&d->registry, e->url, e->user, e->password, why, sizeof(why));
	if (rc < 0) {
		LOG(ERROR, "SCHEMA_REGISTRY_URL: %s", why);
		return rc;
	}
	if (!e->write) {
		registry_read_only(d->registry, d->codec);
		LOG(INFO, "reading the Confluent framing with %s; writing single-object encoding",
		    e->url);
		return 0;
	}
	for (int attempt = 0; !signals_stopping(); attempt++) {
		rc = registry_attach(d->registry, d->codec, why, sizeof(why));
		if (rc == 0) {
			LOG(INFO, "schemas registered at %s; writing the Confluent framing",
			    e->url);
			return 0;
		}
		if (!err_is_retriable(rc)) {
			LOG(ERROR, "the schema registry refused a schema: %s", why);
			return rc;
		}
		LOG(WARN, "could not register the schemas, retrying: %s", why);
		clock_sleep_ms(clock_backoff_ms(attempt, 200, 5000));
	}
	return ERR_RETRY;
}

/* Open files up to the hard limit: a server's connections are files, and the
 * soft limit (often 1024) is below what its own connection limits allow. */
static void raise_file_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			LOG(WARN, "could not raise the open files limit to %llu",
			    (unsigned long long)rl.rlim_max);
	}
}

int daemon_start(struct daemon *d, const char *name, const struct daemon_settings *settings,
                 const struct migration *migrations, size_t nmigrations)
{
	char why[512] = "";
	int level = log_level_parse(settings->log_level);
	int rc;

	d->name = name;
	d->settings = settings;
	log_init(name, level < 0 ? LOG_LEVEL_INFO : (enum log_level)level);
	if (level < 0)
		LOG(WARN, "unknown LOG_LEVEL \"%s\"; using info", settings->log_level);
	srand((unsigned int)time(NULL) ^ (unsigned int)getpid());
	raise_file_limit();
	if ((rc = signals_install()) < 0) {
		LOG(ERROR, "could not install signal handlers");
		return rc;
	}
	if ((rc = metrics_new(&d->metrics)) < 0)
		return rc;
	kafka_stats_attach(d->metrics); /* every Kafka client made from now on reports */
	if ((rc = codec_new(&d->codec, why, sizeof(why))) < 0) {
		LOG(ERROR, "could not load the event schemas: %s", why);
		return rc;
	}
	if (settings->registry.url[0] && (rc = wait_for_registry(d)) < 0)
		return rc;
	if (settings->database_url) {
		struct outbox_cfg oc = {.codec = d->codec, .producer = name};
		struct relay_cfg relay = {.conninfo = settings->database_url,
		                          .kafka = &settings->kafka,
		                          .name = name,
		                          .batch = (int)settings->relay_batch,
		                          .linger_ms = (int)settings->relay_linger_ms,
		                          .gather_ms = (int)settings->relay_gather_ms,
		                          .metrics = d->metrics,
		                          .fault_kill_after_ack =
		                                  settings->relay_fault_kill_after_ack,
		                          .fault_fatal_error = settings->relay_fault_fatal_error};
		PGconn *conn;

		if ((rc = wait_for_db(d)) < 0)
			return rc;
		conn = db_conn(d->db, NULL, NULL, 0);
		rc = migrate_apply(conn, common_migrations, common_nmigrations, NULL, why,
		                   sizeof(why));
		if (rc == 0)
			rc = migrate_apply(conn, migrations, nmigrations, NULL, why, sizeof(why));
		if (rc < 0) {
			LOG(ERROR, "could not apply migrations: %s", why);
			return rc;
		}
		if ((rc = outbox_new(&d->outbox, &oc)) < 0)
			return rc;
		if ((rc = relay_start(&d->relay, &relay, why, sizeof(why))) < 0) {
			LOG(ERROR, "could not start the outbox relay: %s", why);
			return rc;
		}
		if ((rc = db_open(&d->ready_db, settings->database_url, why, sizeof(why))) < 0)
			return rc;
		daemon_add_check(d, "database", check_db, d->ready_db);
	}
	{
		struct kafka_producer_cfg pc = {.kafka = &settings->kafka, .client_id = name};

		if ((rc = kafka_producer_new(&d->probe, &pc, why, sizeof(why))) < 0) {
			LOG(ERROR, "could not create the kafka client: %s", why);
			return rc;
		}
		daemon_add_check(d, "kafka", check_kafka, d->probe);
	}
	rc = admin_start(&d->admin, settings->admin_addr, (int)settings->admin_port, d->metrics,
	                 d->checks, d->nchecks, why, sizeof(why));
	if (rc < 0) {
		LOG(ERROR, "could not start the admin server: %s", why);
		return rc;
	}
	LOG(INFO, "started; admin on http://%s:%ld", settings->admin_addr, settings->admin_port);
	return 0;
}

/*
 * Between batches: deletes the group's inbox rows past the retention, one
 * chunk per call so that consuming goes on, chunk after chunk while full
 * ones come back, then again a minute later.
 */
static void prune_inbox(struct daemon *d, const char *group)
{
	char why[512];
	PGconn *conn;
	int rc;

	if (!d->db || d->settings->inbox_retention_hours <= 0 || clock_mono_ms() < d->next_prune_ms)
		return;
	d->next_prune_ms = clock_mono_ms() + INBOX_PRUNE_INTERVAL_MS;
	conn = db_conn(d->db, &rc, why, sizeof(why));
	if (conn)
		rc = inbox_prune(conn, group, d->settings->inbox_retention_hours, INBOX_PRUNE_CHUNK,
		                 why, sizeof(why));
	if (rc < 0) {
		LOG(WARN, "could not prune the inbox, will retry: %s", why);
		return;
	}
	d->pruned += rc;
	if (rc == INBOX_PRUNE_CHUNK) {
		d->next_prune_ms = 0; /* more to delete: again after the next batch */
	} else if (d->pruned > 0) {
		LOG(INFO, "inbox: deleted %ld ids of group %s consumed over %ld h ago", d->pruned,
		    group, d->settings->inbox_retention_hours);
		d->pruned = 0;
	}
}

#define DAEMON_MAX_TYPES 64

/* The handlers' types (NULL when one is DBAPPLY_ANY_TYPE); 0, or -1 when too many. */
static int handler_types(const struct dbapply_handler *handlers, const char **types,
                         const char ***out)
{
	int n = 0;

	*out = types;
	for (const struct dbapply_handler *h = handlers; h->type; h++) {
		if (!strcmp(h->type, DBAPPLY_ANY_TYPE))
			*out = NULL;
		if (n == DAEMON_MAX_TYPES)
			return -1;
		types[n++] = h->type;
	}
	types[n] = NULL;
	return 0;
}

/* The group: CONSUMER_GROUP when set, else the service's own. */
static const char *consumer_group(const struct daemon *d, const char *own)
{
	return d->settings->consumer_group && d->settings->consumer_group[0]
	               ? d->settings->consumer_group
	               : own;
}

int daemon_consume(struct daemon *d, const char *group, const struct dbapply_handler *handlers,
                   void *ctx)
{
	const char *topics[DAEMON_MAX_TYPES + 1];
	int n = 0;

	for (const struct dbapply_handler *h = handlers; h->type; h++) {
		const char *topic = codec_topic(d->codec, h->type);
		bool seen = false;

		if (!topic) {
			LOG(ERROR, "group %s: event type %s has no schema with an x-topic", group,
			    h->type);
			return ERR_INVALID;
		}
		for (int i = 0; i < n; i++)
			seen = seen || !strcmp(topics[i], topic);
		if (!seen && n < DAEMON_MAX_TYPES)
			topics[n++] = topic;
	}
	topics[n] = NULL;
	return daemon_consume_topics(d, group, topics, handlers, ctx);
}

int daemon_consume_topics(struct daemon *d, const char *own_group, const char *const *topics,
                          const struct dbapply_handler *handlers, void *ctx)
{
	const char *group = consumer_group(d, own_group);
	char why[512];
	const char *typebuf[DAEMON_MAX_TYPES + 1], **types;
	struct dbapply_cfg ac = {.group = group,
	                         .conninfo = d->settings->database_url,
	                         .handlers = handlers,
	                         .ctx = ctx,
	                         .outbox = d->outbox,
	                         .metrics = d->metrics};
	struct consumer_cfg cc = {.group = group,
	                          .topics = topics,
	                          .kafka = &d->settings->kafka,
	                          .codec = d->codec,
	                          .batch_max = (int)d->settings->consumer_batch,
	                          .batch_wait_ms = (int)d->settings->consumer_wait_ms,
	                          .fetch_min_bytes = (int)d->settings->fetch_min_bytes,
	                          .fetch_wait_ms = (int)d->settings->fetch_wait_ms,
	                          .max_attempts = (int)d->settings->consumer_max_attempts,
	                          .stall_ms = (int)(d->settings->consumer_stall_s * 1000),
	                          .start_at_end = d->settings->consumer_start_at_end,
	                          .metrics = d->metrics};
	int fault = dbapply_fault_parse(d->settings->consumer_fault_kill);
	int rc = 0, wait_ms = DAEMON_POLL_MS;

	if (handler_types(handlers, typebuf, &types) < 0) {
		snprintf(why, sizeof(why), "more than %d event types", DAEMON_MAX_TYPES);
		rc = ERR_INVALID;
	}
	if (fault < 0) {
		snprintf(why, sizeof(why),
		         "CONSUMER_FAULT_KILL must be before-commit or after-commit");
		rc = ERR_INVALID;
	}
	ac.fault = fault < 0 ? DBAPPLY_FAULT_NONE : (enum dbapply_fault)fault;
	ac.fault_after = d->settings->consumer_fault_after;
	if (rc == 0)
		rc = dbapply_new(&d->applier, &ac, why, sizeof(why));
	if (rc == 0) {
		cc.types = types;
		cc.applier = dbapply_applier(d->applier);
		rc = consumer_new(&d->consumer, &cc, why, sizeof(why));
	}
	if (rc < 0) {
		LOG(ERROR, "could not start consumer group %s: %s", group, why);
		return rc;
	}
	LOG(INFO, "consuming as group %s", group);
	while (!signals_stopping()) {
		consumer_poll_once(d->consumer, wait_ms);
		wait_ms = d->tick ? d->tick(d->tick_ctx) : DAEMON_POLL_MS;
		wait_ms = wait_ms < 0 ? 0 : wait_ms > DAEMON_POLL_MS ? DAEMON_POLL_MS : wait_ms;
		prune_inbox(d, group);
	}
	return 0;
}

void daemon_set_tick(struct daemon *d, int (*tick)(void *ctx), void *ctx)
{
	d->tick = tick;
	d->tick_ctx = ctx;
}

void daemon_stop(struct daemon *d)
{
	/* Stop taking work first: the consumer commits and leaves its group. */
	consumer_free(d->consumer);
	d->consumer = NULL;
	dbapply_free(d->applier);
	d->applier = NULL;
	admin_free(d->admin);
	d->admin = NULL;
	if (d->probe)
		rd_kafka_destroy(d->probe);
	d->probe = NULL;
	relay_stop(d->relay);
	d->relay = NULL;
	outbox_free(d->outbox);
	d->outbox = NULL;
	db_free(d->ready_db);
	d->ready_db = NULL;
	db_free(d->db);
	d->db = NULL;
	codec_free(d->codec);
	registry_free(d->registry);
	d->codec = NULL;
	metrics_free(d->metrics);
	d->metrics = NULL;
	LOG(INFO, "stopped");
}

int daemon_main(const struct daemon_service *svc, int argc, char **argv)
{
	struct daemon d = {0};
	int rc;

	log_init(svc->name, LOG_LEVEL_INFO);
	config_load_or_exit(svc->cfg, svc->vars, svc->nvars, argc, argv);
	rc = daemon_start(&d, svc->name, svc->settings, svc->migrations, svc->nmigrations);
	if (rc == 0)
		rc = svc->setup(&d, svc->cfg, svc->ctx);
	if (rc == 0)
		rc = daemon_consume(&d, svc->name, svc->handlers, svc->ctx);
	daemon_stop(&d);
	config_release(svc->cfg, svc->vars, svc->nvars);
	return rc < 0 && !signals_stopping() ? 1 : 0;
}
