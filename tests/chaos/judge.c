/*
 * chaos-judge - judges a chaos run's history (tests/chaos/run.sh) against
 * what the order service's database holds once the saga is at rest, and
 * prints the run's report. Exits 1 on any violation.
 *
 * From OUT_DIR: history.tsv (chaos-client's operations), faults.tsv (one
 * line per fault: kind, target, start ms, end ms), poison.tsv (the values of
 * the poison records the run produced) and dlq.tsv (topic and value of every
 * dead-letter record written since the run began). The database is read as
 * saga_reader (READER_ORDER_DATABASE_URL).
 *
 * The history's verdicts:
 *   - a key answered 202 has exactly that order, and it is terminal;
 *   - a key answered 4xx (an invalid body, or a reused key's other body)
 *     made no order;
 *   - a key whose outcome stayed unknown (no answer, or 5xx until the client
 *     gave up) made no order or one terminal order;
 *   - one order at most per key, and no order that no key asked for;
 *   - dead-letter topics hold nothing but the run's poison, and all of it.
 * Heal time of a fault: from its end to the first order that reached a
 * terminal state after it (p50 and max per kind).
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "config.h"
#include "log.h"

struct judge_cfg {
	char *order_db, *out_dir, *run;
};

static const struct config_var vars[] = {
        CONFIG_SECRET("READER_ORDER_DATABASE_URL", NULL, struct judge_cfg, order_db,
                      "the orders database, read-only"),
        CONFIG_STR("OUT_DIR", ".run/chaos/latest", struct judge_cfg, out_dir,
                   "the run's files (history.tsv, faults.tsv, poison.tsv, dlq.tsv)"),
        CONFIG_STR("RUN", "1", struct judge_cfg, run, "the run's name (chaos-client's RUN)"),
};
#define NVARS (sizeof(vars) / sizeof(vars[0]))

/* What the history says of one key: its first body, and a reused key's other. */
struct key_state {
	char accepted_id[40]; /* the order id of the first 202 */
	bool id_changed;      /* two 202s with different ids */
	int last_status;      /* the last attempt's status; 0: no answer */
	int attempts;
	bool reused_rejected, reused_accepted; /* the other body's outcome */
	int orders;                            /* orders in the database for the key */
	int orders_other;                      /* ... for the other body's customer */
	const char *kind;
};

static struct judge_cfg cfg;
static struct key_state *keys;
static long n_keys;
static int violations;
static long long end_ms;

static void violation(const char *what, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Counts a violation; prints the first 20 ("VIOLATION what: ..."). */
static void violation(const char *what, const char *fmt, ...)
{
	va_list ap;

	if (++violations <= 20) {
		printf("VIOLATION %-10s ", what);
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		putchar('\n');
	}
}

/* Key i's name as the client sent it (static buffer). */
static const char *key_name(long i)
{
	static char name[96];

	snprintf(name, sizeof(name), "chaos-%s-%ld", cfg.run, i);
	return name;
}

static FILE *open_in(const char *name)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", cfg.out_dir, name);
	if (!(f = fopen(path, "r")))
		die("%s: cannot read", path);
	return f;
}

static const char *intern_kind(const char *k)
{
	static const char *const known[] = {"ok",      "declined", "stock", "two-lines",
	                                    "invalid", "reused",   NULL};

	for (const char *const *p = known; *p; p++)
		if (!strcmp(*p, k))
			return *p;
	return "other";
}

static void read_history(void)
{
	FILE *f = open_in("history.tsv");
	char line[512];
	long cap = 0;

	while (fgets(line, sizeof(line), f)) {
		long long ms;
		long i;
		char key[96], kind[32], outcome[16], id[40];
		int attempt, status;
		struct key_state *k;

		if (sscanf(line, "end\t%lld", &ms) == 1) {
			end_ms = ms;
			continue;
		}
		if (sscanf(line, "%lld\t%ld\t%95s\t%31s\t%d\t%15s\t%d\t%39s", &ms, &i, key, kind,
		           &attempt, outcome, &status, id) != 8 ||
		    i < 0 || i > 100000000)
			die("history.tsv: cannot read \"%s\"", line);
		if (i >= cap) {
			long ncap = cap ? cap : 1024;

			while (ncap <= i)
				ncap *= 2;
			keys = realloc(keys, (size_t)ncap * sizeof(*keys));
			if (!keys)
				die("out of memory");
			memset(keys + cap, 0, (size_t)(ncap - cap) * sizeof(*keys));
			cap = ncap;
		}
		n_keys = i + 1 > n_keys ? i + 1 : n_keys;
		k = &keys[i];
		if (!strcmp(kind, "reused-body")) {
			k->reused_rejected |= status >= 400 && status < 500 && status != 429;
			k->reused_accepted |= status == 202;
			continue;
		}
		k->kind = intern_kind(kind);
		k->attempts++;
		k->last_status = status;
		if (status == 202) {
			if (!k->accepted_id[0])
				snprintf(k->accepted_id, sizeof(k->accepted_id), "%s", id);
			else if (strcmp(k->accepted_id, id) != 0)
				k->id_changed = true;
		}
	}
	fclose(f);
	if (!end_ms)
		die("history.tsv: no end line (did chaos-client finish?)");
}

/* The key index of a chaos customer ("[declined-]chaos-RUN-I[-x]"), or -1. */
static long key_of(const char *customer, bool *other)
{
	char prefix[48];
	const char *p = customer;
	char *end;
	long i;

	if (!strncmp(p, "declined-", 9))
		p += 9;
	snprintf(prefix, sizeof(prefix), "chaos-%s-", cfg.run);
	if (strncmp(p, prefix, strlen(prefix)) != 0)
		return -1;
	i = strtol(p + strlen(prefix), &end, 10);
	*other = !strcmp(end, "-x");
	return (*end && !*other) || i < 0 || i >= n_keys ? -1 : i;
}

static bool terminal(const char *status)
{
	return !strcmp(status, "COMPLETED") || !strcmp(status, "CANCELLED");
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return (x > y) - (x < y);
}

/* Checks the database against the history; returns the sorted times (ms) at
 * which the run's orders became terminal, their count in *n. */
static long long *judge_orders(PGconn *db, long *n)
{
	char like[64];
	const char *params[1] = {like};
	PGresult *r;
	long long *done;
	long count = 0;

	snprintf(like, sizeof(like), "%%chaos-%s-%%", cfg.run);
	r = PQexecParams(db,
	                 "SELECT order_id, customer_id, status,"
	                 " (extract(epoch FROM updated_at) * 1000)::bigint FROM orders"
	                 " WHERE customer_id LIKE $1",
	                 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		die("orders: %s", PQresultErrorMessage(r));
	done = calloc((size_t)PQntuples(r) + 1, sizeof(*done));
	for (int row = 0; row < PQntuples(r); row++) {
		const char *id = PQgetvalue(r, row, 0), *status = PQgetvalue(r, row, 2);
		bool other = false;
		long i = key_of(PQgetvalue(r, row, 1), &other);
		struct key_state *k = i >= 0 ? &keys[i] : NULL;

		if (!k || !k->kind) {
			violation("stray", "order %s of customer %s: no key asked for it", id,
			          PQgetvalue(r, row, 1));
			continue;
		}
		if (terminal(status))
			done[count++] = strtoll(PQgetvalue(r, row, 3), NULL, 10);
		if (other) {
			k->orders_other++;
			continue;
		}
		k->orders++;
		if (k->accepted_id[0] && strcmp(k->accepted_id, id) != 0)
			violation("wrong-id", "%s: answered 202 with order %s, the database has %s",
			          key_name(i), k->accepted_id, id);
		/* Whatever its answer, an order that exists must have finished. */
		if (!terminal(status))
			violation("unfinished", "%s: order %s is %s", key_name(i), id, status);
	}
	PQclear(r);
	qsort(done, (size_t)count, sizeof(*done), cmp_ll);
	*n = count;
	return done;
}

static void judge_keys(long by_outcome[4])
{
	for (long i = 0; i < n_keys; i++) {
		struct key_state *k = &keys[i];
		bool rejected = !k->accepted_id[0] && k->last_status >= 400 &&
		                k->last_status < 500 && k->last_status != 429;

		if (!k->kind) {
			if (k->reused_accepted || k->reused_rejected)
				violation("history", "%s: a reused body without its first",
				          key_name(i));
			continue;
		}
		by_outcome[k->accepted_id[0] ? 0 : rejected ? 1 : k->last_status ? 2 : 3]++;
		if (k->orders > 1)
			violation("two-orders", "%s: %d orders for one Idempotency-Key",
			          key_name(i), k->orders);
		if (k->id_changed)
			violation("two-ids", "%s: two 202s with different order ids", key_name(i));
		if (k->accepted_id[0] && !k->orders)
			violation("lost", "%s: answered 202 (order %s), not in the database",
			          key_name(i), k->accepted_id);
		if (rejected && k->orders)
			violation("rejected", "%s: answered %d, yet made an order", key_name(i),
			          k->last_status);
		if (k->reused_accepted)
			violation("reused", "%s: the same key with another body answered 202",
			          key_name(i));
		if (k->orders_other)
			violation("reused", "%s: the same key with another body made an order",
			          key_name(i));
		if (!strcmp(k->kind, "invalid") && (k->accepted_id[0] || k->orders))
			violation("invalid", "%s: an invalid order was accepted", key_name(i));
	}
}

/* Dead letters: every one is a poison record of the run, and each of those
 * reached dlq.order. */
static void judge_dlq(long *n_poison, long *n_dlq)
{
	FILE *p = open_in("poison.tsv"), *d = open_in("dlq.tsv");
	json_t *poison = json_object(), *seen = json_object();
	char line[4096];
	const char *value;
	json_t *v;

	while (fgets(line, sizeof(line), p)) {
		line[strcspn(line, "\n")] = '\0';
		if (*line)
			json_object_set_new(poison, line, json_true());
	}
	*n_dlq = 0;
	while (fgets(line, sizeof(line), d)) {
		char *tab = strchr(line, '\t');

		line[strcspn(line, "\n")] = '\0';
		if (!tab)
			continue;
		*tab = '\0';
		(*n_dlq)++;
		if (!json_object_get(poison, tab + 1)) {
			violation("dlq", "%s holds a record the run did not inject: %.80s", line,
			          tab + 1);
		} else if (!strcmp(line, "dlq.order")) {
			json_object_set_new(seen, tab + 1, json_true());
		}
	}
	json_object_foreach (poison, value, v) {
		if (!json_object_get(seen, value))
			violation("dlq", "poison \"%s\" never reached dlq.order", value);
	}
	*n_poison = (long)json_object_size(poison);
	json_decref(poison);
	json_decref(seen);
	fclose(p);
	fclose(d);
}

struct kind_stats {
	char kind[32];
	long n, healed;
	long long heal[512];
};

static void report_faults(const long long *done, long n_done)
{
	FILE *f = open_in("faults.tsv");
	struct kind_stats kinds[16];
	int n_kinds = 0;
	char line[512];

	memset(kinds, 0, sizeof(kinds));
	while (fgets(line, sizeof(line), f)) {
		char kind[32], target[64];
		long long start, end;
		int k;

		if (sscanf(line, "%31s\t%63s\t%lld\t%lld", kind, target, &start, &end) != 4)
			continue;
		for (k = 0; k < n_kinds && strcmp(kinds[k].kind, kind); k++)
			;
		if (k == n_kinds) {
			if (n_kinds == 16)
				continue;
			snprintf(kinds[n_kinds++].kind, sizeof(kinds[0].kind), "%s", kind);
		}
		kinds[k].n++;
		/* The first order that became terminal after the fault's end. */
		long lo = 0, hi = n_done;

		while (lo < hi) {
			long mid = (lo + hi) / 2;

			if (done[mid] < end)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < n_done && kinds[k].healed < 512)
			kinds[k].heal[kinds[k].healed++] = done[lo] - end;
	}
	fclose(f);
	printf("faults:\n");
	for (int k = 0; k < n_kinds; k++) {
		struct kind_stats *s = &kinds[k];

		qsort(s->heal, (size_t)s->healed, sizeof(s->heal[0]), cmp_ll);
		if (s->healed)
			printf("  %-16s %3ld injected; healed in p50 %.2f s, max %.2f s\n", s->kind,
			       s->n, (double)s->heal[s->healed / 2] / 1000.0,
			       (double)s->heal[s->healed - 1] / 1000.0);
		else
			printf("  %-16s %3ld injected; no order finished after it\n", s->kind,
			       s->n);
	}
}

int main(int argc, char **argv)
{
	PGconn *db;
	long long *done;
	long n_done, by_outcome[4] = {0}, n_poison, n_dlq;

	log_init("chaos-judge", LOG_LEVEL_WARN);
	config_load_or_exit(&cfg, vars, NVARS, argc, argv);
	read_history();
	db = PQconnectdb(cfg.order_db);
	if (PQstatus(db) != CONNECTION_OK)
		die("orders database: %s", PQerrorMessage(db));
	done = judge_orders(db, &n_done);
	judge_keys(by_outcome);
	judge_dlq(&n_poison, &n_dlq);
	printf("orders: %ld keys: %ld answered 202, %ld refused (4xx), %ld 5xx and %ld unknown "
	       "when the client gave up; %ld reached a terminal state\n",
	       n_keys, by_outcome[0], by_outcome[1], by_outcome[2], by_outcome[3], n_done);
	printf("dead letters: %ld poison records injected, %ld dead-letter records\n", n_poison,
	       n_dlq);
	report_faults(done, n_done);
	printf("chaos-judge: %d violations\n", violations);
	free(done);
	free(keys);
	PQfinish(db);
	config_release(&cfg, vars, NVARS);
	return violations ? 1 : 0;
}
