/*
 * bench-plumbing - measures the outbox relay and the idempotent consumer on
 * the real stack with durable settings (fsync on, acks=all, idempotent
 * producer). A report, not a test: `make bench-plumbing`.
 *
 *  1. relay throughput: BENCH_EVENTS outbox rows are committed while no relay
 *     runs, then one relay publishes them; events/s = rows / time to drain.
 *  2. hop latency: events are committed one per transaction at BENCH_RATE/s
 *     for BENCH_SECONDS; each hop is from the outbox COMMIT returning to the
 *     commit of the consumer transaction that applied the event.
 *
 * Writes .run/bench/plumbing.json and prints a summary.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "codec.h"
#include "consumer.h"
#include "clock.h"
#include "config.h"
#include "dbapply.h"
#include "db.h"
#include "event.h"
#include "kafka.h"
#include "log.h"
#include "migrate.h"
#include "outbox.h"
#include "relay.h"
#include "signals.h"

#define MAX_HOPS 1000000

struct bench_cfg {
	struct kafka_endpoint kafka;
	char *database_url;
	long events;
	long rate;
	long seconds;
	long relay_batch;
};

static const struct config_var vars[] = {
        KAFKA_ENDPOINT_VARS(struct bench_cfg, kafka),
        CONFIG_SECRET("DATABASE_URL", NULL, struct bench_cfg, database_url,
                      "a scratch database (the stack's TEST2_DATABASE_URL)"),
        CONFIG_INT("BENCH_EVENTS", "50000", 1000, 10000000, struct bench_cfg, events,
                   "outbox rows for the throughput run"),
        CONFIG_INT("BENCH_RATE", "1000", 1, 100000, struct bench_cfg, rate,
                   "events per second for the latency run"),
        CONFIG_INT("BENCH_SECONDS", "20", 1, 3600, struct bench_cfg, seconds,
                   "length of the latency run"),
        CONFIG_INT("RELAY_BATCH", "1000", 1, 100000, struct bench_cfg, relay_batch,
                   "relay rows per round"),
};
#define NVARS (sizeof(vars) / sizeof(vars[0]))

/* Commit time of each event of the latency run, by sequence number. */
struct hops {
	long long *committed_us; /* when the outbox commit returned */
	long long *applied_us;   /* when the consumer's commit returned */
	int *pending;            /* sequence numbers applied in the open batch */
	atomic_int npending;
	long n;
};

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int handle(void *ctx, PGconn *tx, const struct consumed *ev, char *errstr, size_t size)
{
	struct hops *h = ctx;
	const char *order = event_str(ev->record, "order_id");
	const char *p[1] = {ev->event_id};
	long seq;

	if (db_exec(tx, "INSERT INTO bench_effects (event_id) VALUES ($1)", 1, p, NULL, errstr,
	            size) < 0)
		return ERR_RETRY;
	if (order && sscanf(order, "hop-%ld", &seq) == 1 && seq >= 0 && seq < h->n)
		h->pending[atomic_fetch_add(&h->npending, 1)] = (int)seq;
	return 0;
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}

static int exec_sql(PGconn *c, const char *sql)
{
	char why[512];
	int rc = db_exec(c, sql, 0, NULL, NULL, why, sizeof(why));

	if (rc < 0)
		LOG(ERROR, "%s: %s", sql, why);
	return rc;
}

/* A topic of this run's own, so no earlier run's events are in the way. */
static char bench_topic[64];

static void create_topic(const struct kafka_endpoint *kafka)
{
	struct kafka_new_topic t = {bench_topic, 6, 1, NULL, false};
	char why[512];

	snprintf(bench_topic, sizeof(bench_topic), "bench-plumbing-%ld", (long)time(NULL));
	if (kafka_create_topics(kafka, &t, 1, 30000, why, sizeof(why)) < 0)
		die("could not create topic %s: %s", bench_topic, why);
}

/* Commits n rows in transactions of 1000 events. */
static void fill_outbox(struct outbox *ob, PGconn *c, long n)
{
	char why[512];

	for (long i = 0; i < n; i++) {
		char order[32];

		if (i % 1000 == 0 && exec_sql(c, "BEGIN") < 0)
			die("begin");
		snprintf(order, sizeof(order), "tp-%ld", i);
		if (outbox_add(ob, c, "OrderCancelled",
		               json_pack("{s:s, s:s, s:s}", "order_id", order, "customer_id",
		                         "bench", "reason", "BENCH"),
		               NULL, order, NULL, bench_topic, NULL, why, sizeof(why)) < 0)
			die("outbox_add: %s", why);
		if (i % 1000 == 999 || i == n - 1)
			if (exec_sql(c, "COMMIT") < 0)
				die("commit");
	}
}

static long long outbox_rows(PGconn *c)
{
	PGresult *r = PQexec(c, "SELECT count(*) FROM outbox");
	long long n =
	        PQresultStatus(r) == PGRES_TUPLES_OK ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : -1;

	PQclear(r);
	return n;
}

struct consumer_thread {
	struct dbapply *applier;
	struct consumer *consumer;
	struct hops *hops;
	atomic_bool stop;
};

static void *consume(void *arg)
{
	struct consumer_thread *t = arg;

	while (!atomic_load(&t->stop)) {
		int n;

		atomic_store(&t->hops->npending, 0);
		n = consumer_poll_once(t->consumer, 50);
		if (n > 0) {
			long long at = now_us();

			for (int i = 0; i < atomic_load(&t->hops->npending); i++)
				t->hops->applied_us[t->hops->pending[i]] = at;
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct bench_cfg cfg = {0};
	struct codec *codec;
	struct outbox *ob;
	struct relay *relay;
	struct metrics *metrics;
	struct db *db;
	struct hops hops = {0};
	struct consumer_thread ct = {0};
	pthread_t thread;
	char why[512], group[64];
	PGconn *c;
	long long t0, t1, *lat;
	long n_lat = 0, lost = 0;
	double tput;
	FILE *out;

	log_init("bench-plumbing", LOG_LEVEL_WARN);
	config_load_or_exit(&cfg, vars, NVARS, argc, argv);
	if (signals_install() < 0 || metrics_new(&metrics) < 0)
		die("startup");
	mkdir(".run/bench", 0755);
	create_topic(&cfg.kafka);
	if (codec_new(&codec, why, sizeof(why)) < 0)
		die("codec: %s", why);
	if (db_open(&db, cfg.database_url, why, sizeof(why)) < 0 ||
	    !(c = db_conn(db, NULL, why, sizeof(why))))
		die("database: %s", why);
	if (migrate_apply(c, common_migrations, common_nmigrations, NULL, why, sizeof(why)) < 0)
		die("migrations: %s", why);
	exec_sql(c, "CREATE TABLE IF NOT EXISTS bench_effects (event_id text NOT NULL)");
	exec_sql(c, "TRUNCATE bench_effects");
	exec_sql(c, "DELETE FROM outbox");
	/* Earlier runs' inbox rows (groups bench-*) would make each run slower than the last. */
	exec_sql(c, "DELETE FROM inbox WHERE consumer LIKE 'bench-%'");
	{
		struct outbox_cfg oc = {codec, "bench"};

		if (outbox_new(&ob, &oc) < 0)
			die("outbox");
	}

	/* 1. Throughput of one relay. */
	printf("relay throughput: committing %ld outbox rows...\n", cfg.events);
	fill_outbox(ob, c, cfg.events);
	{
		struct relay_cfg rc = {
		        cfg.database_url, &cfg.kafka, "bench", (int)cfg.relay_batch, 1,
		        metrics,          false,      false};

		t0 = now_us();
		if (relay_start(&relay, &rc, why, sizeof(why)) < 0)
			die("relay: %s", why);
	}
	while (outbox_rows(c) > 0 && !signals_stopping())
		clock_sleep_ms(20);
	t1 = now_us();
	tput = (double)cfg.events / ((double)(t1 - t0) / 1e6);
	printf("relay throughput: %ld events in %.2f s = %.0f events/s\n", cfg.events,
	       (double)(t1 - t0) / 1e6, tput);

	/* 2. Hop latency at a fixed rate, relay still running. */
	hops.n = cfg.rate * cfg.seconds;
	if (hops.n > MAX_HOPS)
		hops.n = MAX_HOPS;
	hops.committed_us = calloc((size_t)hops.n, sizeof(long long));
	hops.applied_us = calloc((size_t)hops.n, sizeof(long long));
	hops.pending = calloc(100000, sizeof(int));
	ct.hops = &hops;
	snprintf(group, sizeof(group), "bench-%ld", (long)time(NULL));
	{
		const char *topics[] = {bench_topic, NULL};
		static const struct dbapply_handler handlers[] = {{DBAPPLY_ANY_TYPE, handle},
		                                                  {NULL, NULL}};
		struct dbapply_cfg ac = {.group = group,
		                         .conninfo = cfg.database_url,
		                         .handlers = handlers,
		                         .ctx = &hops,
		                         .metrics = metrics};
		struct consumer_cfg cc = {.group = group,
		                          .topics = topics,
		                          .kafka = &cfg.kafka,
		                          .codec = codec,
		                          .batch_max = 500,
		                          .batch_wait_ms = 1,
		                          .metrics = metrics};

		if (dbapply_new(&ct.applier, &ac, why, sizeof(why)) < 0)
			die("consumer: %s", why);
		cc.applier = dbapply_applier(ct.applier);
		if (consumer_new(&ct.consumer, &cc, why, sizeof(why)) < 0)
			die("consumer: %s", why);
	}
	pthread_create(&thread, NULL, consume, &ct);
	/* Join the group and apply the throughput run's events before timing hops. */
	for (int i = 0; i < 1200; i++) {
		PGresult *r = PQexec(c, "SELECT count(*) FROM bench_effects");
		long long applied = strtoll(PQgetvalue(r, 0, 0), NULL, 10);

		PQclear(r);
		if (applied >= cfg.events)
			break;
		clock_sleep_ms(50);
	}
	printf("hop latency: %ld events at %ld/s...\n", hops.n, cfg.rate);
	t0 = now_us();
	for (long i = 0; i < hops.n && !signals_stopping(); i++) {
		long long due = t0 + i * 1000000LL / cfg.rate;
		char order[32];

		long long wait = due - now_us();

		if (wait > 0) {
			struct timespec ts = {wait / 1000000, (wait % 1000000) * 1000};

			nanosleep(&ts, NULL);
		}
		snprintf(order, sizeof(order), "hop-%ld", i);
		if (exec_sql(c, "BEGIN") < 0 ||
		    outbox_add(ob, c, "OrderCancelled",
		               json_pack("{s:s, s:s, s:s}", "order_id", order, "customer_id",
		                         "bench", "reason", "BENCH"),
		               NULL, order, NULL, bench_topic, NULL, why, sizeof(why)) < 0 ||
		    exec_sql(c, "COMMIT") < 0)
			die("latency run: %s", why);
		hops.committed_us[i] = now_us();
	}
	clock_sleep_ms(3000);
	atomic_store(&ct.stop, true);
	pthread_join(thread, NULL);
	lat = calloc((size_t)hops.n, sizeof(long long));
	for (long i = 0; i < hops.n; i++) {
		if (hops.applied_us[i] && hops.committed_us[i])
			lat[n_lat++] = hops.applied_us[i] - hops.committed_us[i];
		else
			lost++;
	}
	qsort(lat, (size_t)n_lat, sizeof(long long), cmp_ll);
	if (n_lat > 0) {
		double p50 = lat[n_lat / 2] / 1000.0, p99 = lat[n_lat * 99 / 100] / 1000.0,
		       max = lat[n_lat - 1] / 1000.0;

		printf("hop latency at %ld/s: p50 %.2f ms, p99 %.2f ms, max %.2f ms (%ld hops, %ld "
		       "not seen)\n",
		       cfg.rate, p50, p99, max, n_lat, lost);
		out = fopen(".run/bench/plumbing.json", "w");
		if (out) {
			fprintf(out,
			        "{\"relay_events\": %ld, \"relay_events_per_s\": %.0f, "
			        "\"hop_rate\": %ld, \"hops\": %ld, \"hops_not_seen\": %ld, "
			        "\"hop_p50_ms\": %.2f, \"hop_p99_ms\": %.2f, \"hop_max_ms\": "
			        "%.2f}\n",
			        cfg.events, tput, cfg.rate, n_lat, lost, p50, p99, max);
			fclose(out);
		}
	}
	consumer_free(ct.consumer);
	dbapply_free(ct.applier);
	relay_stop(relay);
	if (kafka_delete_topic(&cfg.kafka, bench_topic, 10000, why, sizeof(why)) < 0)
		LOG(WARN, "%s", why);
	outbox_free(ob);
	db_free(db);
	codec_free(codec);
	metrics_free(metrics);
	free(lat);
	free(hops.committed_us);
	free(hops.applied_us);
	free(hops.pending);
	config_release(&cfg, vars, NVARS);
	return lost == 0 ? 0 : 1;
}
