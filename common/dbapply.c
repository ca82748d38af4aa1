#include "dbapply.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "db.h"
#include "log.h"
#include "outbox.h"

struct dbapply {
	char *group;
	char *dlq_topic;
	const struct dbapply_handler *handlers;
	void *ctx;
	struct outbox *outbox;
	struct db *db;
	struct metric *m_handler;
	enum dbapply_fault fault;
	long fault_after, applied; /* events applied (committed or about to be) so far */
};

int dbapply_fault_parse(const char *text)
{
	if (!text || !*text)
		return DBAPPLY_FAULT_NONE;
	if (!strcmp(text, "before-commit"))
		return DBAPPLY_FAULT_BEFORE_COMMIT;
	if (!strcmp(text, "after-commit"))
		return DBAPPLY_FAULT_AFTER_COMMIT;
	return -1;
}

/* Fault tests: dies here, as a crash would, once past fault_after events. */
static void crash_point(const struct dbapply *a, enum dbapply_fault at)
{
	if (a->fault == at && a->applied >= a->fault_after) {
		LOG(WARN, "fault test: killing the process %s commit after %ld events",
		    at == DBAPPLY_FAULT_BEFORE_COMMIT ? "before" : "after", a->applied);
		raise(SIGKILL);
	}
}

dbapply_handler_fn dbapply_find(const struct dbapply_handler *table, const char *type)
{
	for (const struct dbapply_handler *h = table; h && h->type; h++)
		if (!strcmp(h->type, type) || !strcmp(h->type, DBAPPLY_ANY_TYPE))
			return h->apply;
	return NULL;
}

int dbapply_new(struct dbapply **out, const struct dbapply_cfg *cfg, char *errstr,
                size_t errstr_size)
{
	struct dbapply *a = calloc(1, sizeof(*a));
	char labels[160];
	int rc = ERR_NOMEM;

	*out = NULL;
	if (!a)
		return ERR_NOMEM;
	a->group = strdup(cfg->group);
	a->dlq_topic = consumer_dlq_topic(cfg->group);
	if (!a->group || !a->dlq_topic)
		goto fail;
	a->handlers = cfg->handlers;
	a->ctx = cfg->ctx;
	a->fault = cfg->fault;
	a->fault_after = cfg->fault_after;
	a->outbox = cfg->outbox;
	snprintf(labels, sizeof(labels), "group=\"%s\"", cfg->group);
	a->m_handler = metrics_histogram(cfg->metrics, "saga_consumer_handler_seconds",
	                                 "time the service's handler takes for one event", labels,
	                                 metrics_latency_bounds, metrics_latency_nbounds);
	rc = db_open(&a->db, cfg->conninfo, errstr, errstr_size);
	if (rc < 0)
		goto fail;
	*out = a;
	return 0;
fail:
	dbapply_free(a);
	return rc;
}

void dbapply_free(struct dbapply *a)
{
	if (!a)
		return;
	db_free(a->db);
	free(a->dlq_topic);
	free(a->group);
	free(a);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The items' inbox columns as array literals; 0 or ERR_NOMEM. */
static int inbox_arrays(const struct consumer_item *items, int n, char *lit[4])
{
	const char **cells = calloc((size_t)n * 4 + 1, sizeof(*cells));
	char(*num)[2][24] = calloc((size_t)n + 1, sizeof(*num));
	int m = 0, rc = ERR_NOMEM;

	if (!cells || !num)
		goto out;
	for (int i = 0; i < n; i++) {
		const struct consumer_item *it = &items[i];
		const char **row = cells + (size_t)m * 4;

		if (it->skip)
			continue;
		snprintf(num[m][0], sizeof(num[m][0]), "%d", (int)it->msg->partition);
		snprintf(num[m][1], sizeof(num[m][1]), "%lld", (long long)it->msg->offset);
		row[0] = it->id;
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
 * Records the ids of the items in the inbox with one statement; fresh[i]
 * says whether item i's id was new (false: a duplicate, applied before or
 * earlier in these items).
 */
static int inbox_record(struct dbapply *a, PGconn *tx, const struct consumer_item *items, int n,
                        bool *fresh, char *why, size_t size)
{
	char *lit[4] = {NULL, NULL, NULL, NULL};
	const char **got = NULL;
	bool *claimed = NULL;
	PGresult *res = NULL;
	int rows, rc = inbox_arrays(items, n, lit);

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
	             5, (const char *const[]){a->group, lit[0], lit[1], lit[2], lit[3]}, &res, why,
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
		const char *key = items[i].id;
		const char **hit;

		if (items[i].skip)
			continue;
		/* An id inserted now is fresh once: a second copy is not. */
		hit = bsearch(&key, got, (size_t)rows, sizeof(*got), cmp_str);
		fresh[i] = hit && !claimed[hit - got];
		if (fresh[i])
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
static int dead_letter(struct dbapply *a, PGconn *tx, const struct consumer_item *it, char *why,
                       size_t size)
{
	char *h = consumer_dlq_headers(it, a->group), key[256];
	const void *value;
	size_t len;
	int rc;

	if (!h) {
		snprintf(why, size, "out of memory");
		return ERR_NOMEM;
	}
	consumer_item_key(it, key, sizeof(key));
	value = consumer_dlq_value(it, &len);
	rc = outbox_add_raw(tx, a->dlq_topic, key, h, value, len, why, size);
	free(h);
	return rc;
}

/* Applies one fresh item: its dead letter, or its effects. */
static int apply_item(struct dbapply *a, PGconn *tx, const struct consumer_item *it, char *why,
                      size_t size)
{
	dbapply_handler_fn handle;
	struct consumed ev;
	char key[256];
	long long t0;
	int rc;

	if (!it->record)
		return dead_letter(a, tx, it, why, size);
	if (!(handle = dbapply_find(a->handlers, it->type)))
		return 0; /* the consumer only passes the table's types */
	consumer_item_key(it, key, sizeof(key));
	ev = (struct consumed){
	        it->type,           it->record,     it->id, key, rd_kafka_topic_name(it->msg->rkt),
	        it->msg->partition, it->msg->offset};
	t0 = clock_mono_us();
	rc = handle(a->ctx, tx, &ev, why, size);
	metric_observe(a->m_handler, (double)(clock_mono_us() - t0) / 1e6);
	return rc;
}

static int apply(void *arg, struct consumer_item *items, int n, struct consumer_result *res,
                 char *why, size_t size)
{
	struct dbapply *a = arg;
	bool *fresh = calloc((size_t)n, sizeof(*fresh));
	PGconn *tx;
	int rc;

	if (!fresh) {
		snprintf(why, size, "out of memory");
		return ERR_NOMEM;
	}
	tx = db_conn(a->db, &rc, why, size);
	if (!tx)
		goto out;
	db_clear_sqlstate(tx);
	if ((rc = db_exec(tx, "BEGIN", 0, NULL, NULL, why, size)) < 0)
		goto out;
	if (a->outbox)
		outbox_batch_begin(a->outbox, tx);
	if ((rc = inbox_record(a, tx, items, n, fresh, why, size)) < 0)
		goto rollback;
	for (int i = 0; i < n; i++) {
		if (items[i].skip)
			continue;
		if (!fresh[i]) {
			res->duplicates++;
			continue;
		}
		if ((rc = apply_item(a, tx, &items[i], why, size)) < 0) {
			res->failed = i;
			goto rollback;
		}
		if (items[i].record)
			res->applied++;
		else
			res->dead++;
	}
	if (a->outbox && (rc = outbox_batch_flush(a->outbox, why, size)) < 0)
		goto rollback;
	a->applied += res->applied;
	crash_point(a, DBAPPLY_FAULT_BEFORE_COMMIT);
	rc = db_exec(tx, "COMMIT", 0, NULL, NULL, why, size);
	if (rc < 0) {
		a->applied -= res->applied;
		snprintf(res->sqlstate, sizeof(res->sqlstate), "%s", db_last_sqlstate(tx));
	} else {
		crash_point(a, DBAPPLY_FAULT_AFTER_COMMIT);
	}
	goto out;
rollback:
	snprintf(res->sqlstate, sizeof(res->sqlstate), "%s", db_last_sqlstate(tx));
	outbox_batch_discard(a->outbox);
	PQclear(PQexec(tx, "ROLLBACK"));
out:
	if (rc < 0)
		res->applied = res->duplicates = res->dead = 0;
	free(fresh);
	return rc;
}

struct consumer_applier dbapply_applier(struct dbapply *a)
{
	return (struct consumer_applier){.apply = apply, .ctx = a};
}
