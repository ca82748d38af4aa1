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
 * The publisher (BENCH_PUBLISHER) is the project's relay, run in a process
 * of its own so that its CPU can be told apart, or the relay's peer:
 * Debezium's PostgreSQL connector with its outbox EventRouter in Kafka
 * Connect (make bench-peer starts it, reading this outbox from the WAL and
 * routing each row to the topic its `topic` column names). For Debezium, (1)
 * pauses the connector while the rows are committed and times from its
 * resume until the topic holds them all. The CPU of the processes named in
 * BENCH_CPU_PIDS (with their children: PostgreSQL's backends) and of the
 * relay's process is reported per 1,000 events of the latency run.
 *
 * Writes BENCH_OUT (.run/bench/plumbing.json) and prints a summary.
 */
#include <ctype.h>
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "codec.h"
#include "consumer.h"
#include "clock.h"
#include "config.h"
#include "dbapply.h"
#include "db.h"
#include "event.h"
#include "httpc.h"
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
	long fetch_wait_ms;
	char *publisher, *connect_url, *connector, *cpu_pids, *out;
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
        CONFIG_INT("FETCH_WAIT_MS", KAFKA_FETCH_WAIT_MS, 1, 10000, struct bench_cfg, fetch_wait_ms,
                   "the consumer's longest fetch wait"),
        CONFIG_STR("BENCH_PUBLISHER", "relay", struct bench_cfg, publisher,
                   "relay (the project's, in a process of its own) or debezium (Kafka "
                   "Connect at BENCH_CONNECT_URL, reading this database's outbox)"),
        CONFIG_STR("BENCH_CONNECT_URL", "http://127.0.0.1:18083", struct bench_cfg, connect_url,
                   "Kafka Connect's REST API (debezium)"),
        CONFIG_STR("BENCH_CONNECTOR", "bench-peer", struct bench_cfg, connector,
                   "the Debezium connector's name (debezium)"),
        CONFIG_STR("BENCH_CPU_PIDS", "", struct bench_cfg, cpu_pids,
                   "name=pid,...: processes whose CPU during the latency run is reported"),
        CONFIG_STR("BENCH_OUT", ".run/bench/plumbing.json", struct bench_cfg, out,
                   "where the results go (JSON)"),
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

/* User + system ticks of pid with its reaped children, plus those of its
 * live children (PostgreSQL's backends count themselves until reaped). */
static long long tree_ticks(int pid)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	long long sum = 0;

	while (d && (e = readdir(d))) {
		char path[300], buf[1024], *s, *save = NULL;
		long long f[16];
		int ppid, n = 0;
		FILE *fp;

		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		if (!(fp = fopen(path, "r")))
			continue;
		s = fgets(buf, sizeof(buf), fp) ? strrchr(buf, ')') : NULL;
		fclose(fp);
		if (!s)
			continue;
		/* After "(comm) ": state ppid pgrp session tty tpgid flags minflt
		 * cminflt majflt cmajflt utime stime cutime cstime. */
		if (sscanf(s + 2, "%*c %d", &ppid) != 1)
			continue;
		for (char *t = strtok_r(s + 2, " ", &save); t && n < 16;
		     t = strtok_r(NULL, " ", &save))
			f[n++] = strtoll(t, NULL, 10);
		if (n < 15)
			continue;
		if (atoi(e->d_name) == pid)
			sum += f[11] + f[12] + f[13] + f[14];
		else if (ppid == pid)
			sum += f[11] + f[12];
	}
	if (d)
		closedir(d);
	return sum;
}

#define MAX_CPU 8
struct cpu_watch {
	char name[MAX_CPU][32];
	int pid[MAX_CPU];
	long long start[MAX_CPU], ticks[MAX_CPU];
	int n;
};

/* Adds "name=pid,name=pid" (and more with cpu_add). */
static void cpu_add(struct cpu_watch *w, const char *name, int pid)
{
	if (w->n == MAX_CPU || pid <= 0)
		return;
	snprintf(w->name[w->n], sizeof(w->name[w->n]), "%s", name);
	w->pid[w->n++] = pid;
}

static void cpu_parse(struct cpu_watch *w, const char *spec)
{
	char *copy = strdup(spec), *save = NULL;

	for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; t;
	     t = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(t, '=');

		if (eq) {
			*eq = '\0';
			cpu_add(w, t, atoi(eq + 1));
		}
	}
	free(copy);
}

static void cpu_mark(struct cpu_watch *w, bool end)
{
	for (int i = 0; i < w->n; i++) {
		long long t = tree_ticks(w->pid[i]);

		if (end)
			w->ticks[i] = t - w->start[i];
		else
			w->start[i] = t;
	}
}

/* One request to Kafka Connect's REST API; the status, or -1. */
static int connect_call(const struct bench_cfg *cfg, const char *method, const char *what,
                        char *resp, size_t size)
{
	struct httpc_target t;
	char path[512], why[256];
	int fd, status;

	if (httpc_parse_url(&t, cfg->connect_url, why, sizeof(why)) < 0)
		die("BENCH_CONNECT_URL: %s", why);
	snprintf(path, sizeof(path), "/connectors/%s/%s", cfg->connector, what);
	if ((fd = httpc_connect(&t, 10000)) < 0)
		return -1;
	status = httpc_request(fd, &t, method, path, "", NULL, resp, size);
	close(fd);
	return status;
}

/* Pauses or resumes the connector and waits until its task says so. */
static void connector_set(const struct bench_cfg *cfg, bool run)
{
	char resp[4096];
	const char *want = run ? "\"state\":\"RUNNING\"" : "\"state\":\"PAUSED\"";

	if (connect_call(cfg, "PUT", run ? "resume" : "pause", resp, sizeof(resp)) != 202)
		die("Kafka Connect did not %s %s: %s", run ? "resume" : "pause", cfg->connector,
		    resp);
	for (int i = 0; i < 600; i++) {
		const char *tasks;

		if (connect_call(cfg, "GET", "status", resp, sizeof(resp)) == 200 &&
		    (tasks = strstr(resp, "\"tasks\"")) && strstr(tasks, want))
			return;
		clock_sleep_ms(50);
	}
	die("the connector's task did not reach %s: %s", want, resp);
}

/* Messages in the topic (the sum of its partitions' high watermarks). */
static long long topic_messages(rd_kafka_t *rk)
{
	long long sum = 0;

	for (int p = 0; p < 6; p++) {
		int64_t lo, hi;

		if (rd_kafka_query_watermark_offsets(rk, bench_topic, p, &lo, &hi, 5000) != 0)
			return -1;
		sum += hi;
	}
	return sum;
}

/* The relay in a process of its own (so its CPU is its own) until SIGTERM. */
static pid_t relay_process(const struct bench_cfg *cfg, struct metrics *metrics)
{
	pid_t pid = fork();

	if (pid == 0) {
		struct relay_cfg rc = {.conninfo = cfg->database_url,
		                       .kafka = &cfg->kafka,
		                       .name = "bench",
		                       .batch = (int)cfg->relay_batch,
		                       .linger_ms = 1,
		                       .metrics = metrics};
		struct relay *relay;
		char why[512];

		if (relay_start(&relay, &rc, why, sizeof(why)) < 0) {
			LOG(ERROR, "relay: %s", why);
			_exit(1);
		}
		while (!signals_stopping())
			clock_sleep_ms(100);
		relay_stop(relay);
		_exit(0);
	}
	if (pid < 0)
		die("fork: the relay's process");
	return pid;
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
	struct metrics *metrics;
	struct cpu_watch cw = {0};
	pid_t relay_pid = 0;
	bool debezium;
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
	debezium = !strcmp(cfg.publisher, "debezium");
	if (!debezium && strcmp(cfg.publisher, "relay") != 0)
		die("BENCH_PUBLISHER must be relay or debezium, not %s", cfg.publisher);
	cpu_parse(&cw, cfg.cpu_pids);
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
	/* A TRUNCATE, not a DELETE: Debezium skips truncates, a delete is a change. */
	exec_sql(c, "TRUNCATE outbox");
	/* Earlier runs' inbox rows (groups bench-*) would make each run slower than the last. */
	exec_sql(c, "DELETE FROM inbox WHERE consumer LIKE 'bench-%'");
	{
		struct outbox_cfg oc = {codec, "bench"};

		if (outbox_new(&ob, &oc) < 0)
			die("outbox");
	}

	/* 1. Throughput of one publisher. */
	printf("%s throughput: committing %ld outbox rows...\n", cfg.publisher, cfg.events);
	if (debezium) {
		rd_kafka_t *rk = kafka_admin_new(&cfg.kafka, why, sizeof(why));

		if (!rk)
			die("kafka: %s", why);
		connector_set(&cfg, false);
		fill_outbox(ob, c, cfg.events);
		t0 = now_us();
		connector_set(&cfg, true);
		while (topic_messages(rk) < cfg.events && !signals_stopping())
			clock_sleep_ms(20);
		rd_kafka_destroy(rk);
	} else {
		fill_outbox(ob, c, cfg.events);
		t0 = now_us();
		relay_pid = relay_process(&cfg, metrics);
		cpu_add(&cw, "relay", relay_pid);
		while (outbox_rows(c) > 0 && !signals_stopping())
			clock_sleep_ms(20);
	}
	t1 = now_us();
	tput = (double)cfg.events / ((double)(t1 - t0) / 1e6);
	printf("%s throughput: %ld events in %.2f s = %.0f events/s\n", cfg.publisher, cfg.events,
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
		                          .fetch_wait_ms = (int)cfg.fetch_wait_ms,
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
	cpu_mark(&cw, false);
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
	cpu_mark(&cw, true);
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

		double per = (double)hops.n / 1000.0 * (double)sysconf(_SC_CLK_TCK);

		printf("hop latency at %ld/s: p50 %.2f ms, p99 %.2f ms, max %.2f ms (%ld hops, %ld "
		       "not seen)\n",
		       cfg.rate, p50, p99, max, n_lat, lost);
		for (int i = 0; i < cw.n; i++)
			printf("cpu of %s: %.3f s per 1,000 events\n", cw.name[i],
			       (double)cw.ticks[i] / per);
		out = fopen(cfg.out, "w");
		if (out) {
			fprintf(out,
			        "{\"publisher\": \"%s\", \"relay_events\": %ld, "
			        "\"relay_events_per_s\": %.0f, "
			        "\"hop_rate\": %ld, \"hops\": %ld, \"hops_not_seen\": %ld, "
			        "\"hop_p50_ms\": %.2f, \"hop_p99_ms\": %.2f, \"hop_max_ms\": "
			        "%.2f, \"cpu_s_per_1000\": {",
			        cfg.publisher, cfg.events, tput, cfg.rate, n_lat, lost, p50, p99,
			        max);
			for (int i = 0; i < cw.n; i++)
				fprintf(out, "%s\"%s\": %.3f", i ? ", " : "", cw.name[i],
				        (double)cw.ticks[i] / per);
			fprintf(out, "}}\n");
			fclose(out);
		}
	}
	consumer_free(ct.consumer);
	dbapply_free(ct.applier);
	if (relay_pid > 0) {
		kill(relay_pid, SIGTERM);
		waitpid(relay_pid, NULL, 0);
	}
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
