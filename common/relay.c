#include "relay.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "event.h"
#include "db.h"
#include "kafka.h"
#include "log.h"

/* The advisory lock that elects the active relay of a database. */
#define RELAY_LOCK_KEY        "7215360413"
#define RELAY_STANDBY_POLL_MS 2000 /* a standby tries the lock this often */
/* Without a NOTIFY (every commit with outbox rows sends one), a round at
 * least this often anyway. */
#define RELAY_IDLE_WAIT_MS  5000
#define RELAY_STOP_CHECK_MS 250 /* the longest a wait goes without looking at stop */
#define RELAY_STOP_DRAIN_MS 5000

enum row_state { ROW_PENDING, ROW_ACKED, ROW_FAILED };

struct row {
	atomic_int state;
	char id[24];
};

struct relay {
	char *conninfo, *name;
	const struct kafka_endpoint *kafka;
	int batch, linger_ms, gather_ms;
	bool fault_kill_after_ack;
	struct kafka_producer_cfg pc;
	pthread_t thread;
	bool started;
	atomic_bool stop;
	atomic_bool active;
	unsigned long lock_session; /* the db_session() that holds the lock */
	bool fault_fatal;           /* fault tests: raise a fatal producer error once */
	struct db *db;
	rd_kafka_t *producer;
	struct row *rows; /* one round's rows, reused */
	struct metric *m_published, *m_failed, *m_backlog, *m_oldest_ms, *m_latency, *m_active;
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
	struct row *row = msg->_private;

	(void)rk;
	(void)opaque;
	if (!row)
		return;
	if (msg->err)
		LOG(WARN, "outbox row %s was not delivered: %s", row->id,
		    rd_kafka_err2str(msg->err));
	atomic_store(&row->state, msg->err ? ROW_FAILED : ROW_ACKED);
}

bool relay_is_active(const struct relay *r)
{
	return r && atomic_load(&((struct relay *)r)->active);
}

static void sleep_unless_stopped(struct relay *r, int ms)
{
	while (ms > 0 && !atomic_load(&r->stop)) {
		int step = ms < RELAY_STOP_CHECK_MS ? ms : RELAY_STOP_CHECK_MS;
		struct timespec ts = {0, (long)step * 1000000L};

		nanosleep(&ts, NULL);
		ms -= step;
	}
}

/* Waits for a NOTIFY on the outbox channel (or the timeout); true when one came. */
static bool wait_for_notify(struct relay *r, PGconn *conn, int timeout_ms)
{
	struct pollfd pfd = {.fd = PQsocket(conn), .events = POLLIN};
	bool woken = false;
	PGnotify *n;

	/* A NOTIFY that arrived during the last query is already queued in libpq. */
	PQconsumeInput(conn);
	while ((n = PQnotifies(conn))) {
		PQfreemem(n);
		woken = true;
	}
	while (!woken && timeout_ms > 0 && !atomic_load(&r->stop)) {
		int step = timeout_ms < RELAY_STOP_CHECK_MS ? timeout_ms : RELAY_STOP_CHECK_MS;

		if (poll(&pfd, 1, step) > 0)
			break;
		timeout_ms -= step;
	}
	PQconsumeInput(conn);
	while ((n = PQnotifies(conn))) {
		PQfreemem(n);
		woken = true;
	}
	return woken;
}

/* Tries to become the active relay; true when this process holds the lock. */
static bool try_activate(struct relay *r, PGconn *conn)
{
	char why[256];
	PGresult *res = NULL;
	bool got;

	if (db_exec(conn, "SELECT pg_try_advisory_lock(" RELAY_LOCK_KEY ")", 0, NULL, &res, why,
	            sizeof(why)) < 0)
		return false;
	got = PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	if (got && db_exec(conn, "LISTEN outbox", 0, NULL, NULL, why, sizeof(why)) < 0)
		return false;
	/* The relay's only writes are the deletes of rows the broker has
	 * acknowledged. A delete lost in a crash (its commit not yet flushed)
	 * brings the rows back, to be published again and dropped by every
	 * consumer's inbox: so this session need not wait for the WAL flush.
	 * Every other transaction of the service stays synchronous. */
	if (got &&
	    db_exec(conn, "SET synchronous_commit = off", 0, NULL, NULL, why, sizeof(why)) < 0)
		return false;
	if (got) {
		r->lock_session = db_session(r->db);
		LOG(INFO, "outbox relay of %s active", r->name);
	}
	return got;
}

/* Stops publishing at once: the lock went with the session that held it. */
static void deactivate(struct relay *r, const char *why)
{
	if (atomic_exchange(&r->active, false))
		LOG(WARN, "outbox relay of %s is no longer active (%s); re-electing", r->name, why);
	metric_set(r->m_active, 0);
}

static void update_backlog(struct relay *r, PGconn *conn)
{
	PGresult *res = NULL;
	char why[256];

	if (db_exec(conn,
	            "SELECT count(*), coalesce((extract(epoch FROM clock_timestamp() - "
	            "min(created_at))"
	            " * 1000)::bigint, 0) FROM outbox",
	            0, NULL, &res, why, sizeof(why)) == 0) {
		metric_set(r->m_backlog, strtoll(PQgetvalue(res, 0, 0), NULL, 10));
		metric_set(r->m_oldest_ms, strtoll(PQgetvalue(res, 0, 1), NULL, 10));
	}
	PQclear(res);
}

/* The array literal of the acknowledged rows' ids; *count says how many. */
static char *acked_ids(struct row *rows, int n, int *count)
{
	const char **ids = malloc((size_t)(n > 0 ? n : 1) * sizeof(*ids));
	char *literal;

	*count = 0;
	if (!ids)
		return NULL;
	for (int i = 0; i < n; i++)
		if (atomic_load(&rows[i].state) == ROW_ACKED)
			ids[(*count)++] = rows[i].id;
	literal = db_array_literal(ids, (size_t)*count);
	free(ids);
	return literal;
}

/* Big-endian integers of binary result columns. */
static uint64_t be64(const char *p)
{
	uint64_t v = 0;

	for (int b = 0; b < 8; b++)
		v = (v << 8) | (unsigned char)p[b];
	return v;
}

/* Produces the n rows of res (id, topic, key, headers, payload, created) in
 * order; a row that cannot be queued is marked failed at once. */
static void produce_rows(struct relay *r, const PGresult *res, struct row *rows, int n)
{
	for (int i = 0; i < n; i++) {
		rd_kafka_headers_t *headers = kafka_headers_parse(PQgetvalue(res, i, 3));
		rd_kafka_resp_err_t err;

		snprintf(rows[i].id, sizeof(rows[i].id), "%llu",
		         (unsigned long long)be64(PQgetvalue(res, i, 0)));
		atomic_store(&rows[i].state, ROW_PENDING);
		for (;;) {
			/* producev takes the headers only when it succeeds. */
			err = rd_kafka_producev(r->producer,
			                        RD_KAFKA_V_TOPIC(PQgetvalue(res, i, 1)),
			                        RD_KAFKA_V_KEY(PQgetvalue(res, i, 2),
			                                       (size_t)PQgetlength(res, i, 2)),
			                        RD_KAFKA_V_VALUE(PQgetvalue(res, i, 4),
			                                         (size_t)PQgetlength(res, i, 4)),
			                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
			                        RD_KAFKA_V_HEADERS(headers),
			                        RD_KAFKA_V_OPAQUE(&rows[i]), RD_KAFKA_V_END);
			if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
				break;
			rd_kafka_poll(r->producer, 10);
		}
		if (err) {
			rd_kafka_headers_destroy(headers);
			LOG(WARN, "could not produce outbox row %s: %s", rows[i].id,
			    rd_kafka_err2str(err));
			atomic_store(&rows[i].state, ROW_FAILED);
		}
	}
}

/*
 * Waits for every row's delivery report: messages never time out
 * (message.timeout.ms=0), so a broker that is away only delays this. When
 * stopping, waits RELAY_STOP_DRAIN_MS at most, then purges the rest (they
 * stay in the outbox and go out again).
 */
static void await_reports(struct relay *r, struct row *rows, int n, long long t0)
{
	for (;;) {
		int pending = 0;

		for (int i = 0; i < n; i++)
			pending += atomic_load(&rows[i].state) == ROW_PENDING;
		if (!pending)
			return;
		rd_kafka_poll(r->producer, 5);
		if (atomic_load(&r->stop) && clock_mono_ms() - t0 > RELAY_STOP_DRAIN_MS) {
			LOG(WARN,
			    "stopping with %d outbox rows unacknowledged; they will be sent again",
			    pending);
			/* Purged messages report back now, while rows still exists. */
			rd_kafka_purge(r->producer,
			               RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
			for (int tries = 0; tries < 100 && rd_kafka_outq_len(r->producer) > 0;
			     tries++)
				rd_kafka_poll(r->producer, 10);
			return;
		}
	}
}

/* Deletes the acknowledged rows and observes their latency; 0 or an error. */
static int delete_acked(struct relay *r, PGconn *conn, const PGresult *res, struct row *rows, int n,
                        int *acked)
{
	char why[512], *ids = acked_ids(rows, n, acked);
	const char *del[1] = {ids};
	long long now;
	int rc;

	if (*acked == 0) {
		free(ids);
		return 0;
	}
	if (!ids)
		return ERR_NOMEM;
	rc = db_exec(conn, "DELETE FROM outbox WHERE id = ANY($1::bigint[])", 1, del, NULL, why,
	             sizeof(why));
	free(ids);
	if (rc < 0) {
		LOG(WARN, "could not delete published outbox rows (they will be sent again): %s",
		    why);
		return rc;
	}
	metric_add(r->m_published, *acked);
	now = clock_wall_ms(); /* created_at is a wall time */
	for (int i = 0; i < n; i++)
		if (atomic_load(&rows[i].state) == ROW_ACKED)
			metric_observe(r->m_latency,
			               (double)(now - (int64_t)be64(PQgetvalue(res, i, 5))) /
			                       1000.0);
	return 0;
}

/*
 * One round: read up to batch rows, produce them, wait for every delivery
 * report, delete the acknowledged rows. Returns the number of rows read, or
 * a negative error.
 */
static int publish_round(struct relay *r, PGconn *conn)
{
	char why[512], limit[16];
	const char *params[1] = {limit};
	PGresult *res = NULL;
	int n, acked = 0, rc;

	snprintf(limit, sizeof(limit), "%d", r->batch);
	rc = db_query(conn,
	              "SELECT id, topic, key, headers, payload,"
	              " (extract(epoch FROM created_at) * 1000)::bigint"
	              " FROM outbox ORDER BY id LIMIT $1",
	              1, params, NULL, NULL, 1, &res, why, sizeof(why));
	if (rc < 0) {
		LOG(WARN, "could not read the outbox: %s", why);
		return rc;
	}
	n = PQntuples(res);
	if (n > 0) {
		/* Rows live as long as the producer, so a late report never writes freed memory. */
		long long t0 = clock_mono_ms();

		produce_rows(r, res, r->rows, n);
		await_reports(r, r->rows, n, t0);
		if (r->fault_kill_after_ack) {
			LOG(WARN,
			    "fault injection: killing the relay after the acks, before the delete");
			raise(SIGKILL);
		}
		rc = delete_acked(r, conn, res, r->rows, n, &acked);
		if (acked < n)
			metric_add(r->m_failed, n - acked);
		if (rc == 0)
			rc = acked < n ? ERR_RETRY : n;
	}
	PQclear(res);
	return rc;
}

static void *relay_main(void *arg)
{
	struct relay *r = arg;
	long long last_backlog = 0;
	int failures = 0;

	while (!atomic_load(&r->stop)) {
		int rc;
		char why[512];
		PGconn *conn = db_conn(r->db, &rc, why, sizeof(why));

		if (!conn) {
			deactivate(r, why);
			sleep_unless_stopped(r, clock_backoff_ms(failures++, 200, 5000));
			continue;
		}
		/* A session made since the lock was taken does not hold it. */
		if (atomic_load(&r->active) && db_session(r->db) != r->lock_session)
			deactivate(r, "its database session was lost");
		if (!atomic_load(&r->active)) {
			if (!try_activate(r, conn)) {
				sleep_unless_stopped(r, RELAY_STANDBY_POLL_MS);
				continue;
			}
			atomic_store(&r->active, true);
			metric_set(r->m_active, 1);
		}
		rc = publish_round(r, conn);
		if (rc == 0) {
			/* The round found the outbox empty: nothing to count. */
			metric_set(r->m_backlog, 0);
			metric_set(r->m_oldest_ms, 0);
		} else if (clock_mono_ms() - last_backlog > 1000) {
			update_backlog(r, conn);
			last_backlog = clock_mono_ms();
		}
		if (r->fault_fatal) {
			LOG(WARN, "fault injection: a fatal error of the relay's producer");
			rd_kafka_test_fatal_error(r->producer,
			                          RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
			                          "fault injection");
			r->fault_fatal = false;
		}
		/* Unacknowledged rows stay in the outbox and go out again. */
		if (kafka_producer_renew_if_fatal(&r->producer, &r->pc, r->name) < 0)
			rc = ERR_RETRY;
		if (rc < 0) {
			if (PQstatus(conn) != CONNECTION_OK)
				deactivate(r, "its database connection failed");
			sleep_unless_stopped(r, clock_backoff_ms(failures++, 50, 5000));
			continue;
		}
		failures = 0;
		/* A full round means more rows are waiting; otherwise sleep until a
		 * commit notifies (rows committed since this round's read do). */
		if (rc < r->batch && wait_for_notify(r, conn, RELAY_IDLE_WAIT_MS) &&
		    r->gather_ms > 0)
			sleep_unless_stopped(r, r->gather_ms); /* more commits, one round */
	}
	return NULL;
}

int relay_start(struct relay **out, const struct relay_cfg *cfg, char *errstr, size_t errstr_size)
{
	struct relay *r = calloc(1, sizeof(*r));
	char labels[128];
	int rc;

	*out = NULL;
	if (!r)
		return ERR_NOMEM;
	r->conninfo = strdup(cfg->conninfo);
	r->kafka = cfg->kafka;
	r->name = strdup(cfg->name);
	r->batch = cfg->batch > 0 ? cfg->batch : 1000;
	r->linger_ms = cfg->linger_ms;
	r->gather_ms = cfg->gather_ms;
	r->fault_kill_after_ack = cfg->fault_kill_after_ack;
	r->fault_fatal = cfg->fault_fatal_error;
	r->rows = calloc((size_t)r->batch, sizeof(*r->rows));
	if (!r->conninfo || !r->name || !r->rows) {
		rc = ERR_NOMEM;
		goto fail;
	}
	snprintf(labels, sizeof(labels), "service=\"%s\"", cfg->name);
	r->m_published = metrics_counter(cfg->metrics, "saga_outbox_published_total",
	                                 "outbox rows published and acknowledged", labels);
	r->m_failed = metrics_counter(cfg->metrics, "saga_outbox_publish_failures_total",
	                              "outbox rows whose publication must be retried", labels);
	r->m_backlog = metrics_gauge(cfg->metrics, "saga_outbox_backlog",
	                             "outbox rows not yet published", labels);
	r->m_oldest_ms = metrics_gauge(cfg->metrics, "saga_outbox_oldest_age_ms",
	                               "age of the oldest unpublished outbox row", labels);
	r->m_active = metrics_gauge(cfg->metrics, "saga_outbox_relay_active",
	                            "1 when this process is the database's active relay", labels);
	r->m_latency = metrics_histogram(cfg->metrics, "saga_outbox_publish_seconds",
	                                 "from outbox insert to broker acknowledgement", labels,
	                                 metrics_latency_bounds, metrics_latency_nbounds);
	rc = db_open(&r->db, r->conninfo, errstr, errstr_size);
	if (rc < 0)
		goto fail;
	r->pc = (struct kafka_producer_cfg){.kafka = r->kafka,
	                                    .client_id = r->name,
	                                    .linger_ms = r->linger_ms,
	                                    .on_delivery = on_delivery};
	rc = kafka_producer_new(&r->producer, &r->pc, errstr, errstr_size);
	if (rc < 0)
		goto fail;
	if (pthread_create(&r->thread, NULL, relay_main, r) != 0) {
		rc = ERR_FATAL;
		goto fail;
	}
	r->started = true;
	*out = r;
	return 0;
fail:
	relay_stop(r);
	return rc;
}

void relay_stop(struct relay *r)
{
	if (!r)
		return;
	atomic_store(&r->stop, true);
	if (r->started)
		pthread_join(r->thread, NULL);
	if (r->producer) {
		rd_kafka_flush(r->producer, 2000);
		rd_kafka_destroy(r->producer);
	}
	db_free(r->db);
	free(r->rows);
	free(r->conninfo);
	free(r->name);
	free(r);
}
