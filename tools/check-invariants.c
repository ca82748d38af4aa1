/*
 * check-invariants - verifies the saga's invariants (docs/architecture.md)
 * across every service's database after any run, faults included. It
 * reads .run/stack.env's variables, as the read-only users: READER_ORDER_/
 * PAYMENT_/INVENTORY_/SHIPPING_/NOTIFICATION_DATABASE_URL (PostgreSQL's
 * saga_reader), READER_REDIS_URL (Redis's checker: the orders the gateway
 * accepted) and KAFKA_BOOTSTRAP with the KAFKA_SASL_* of a principal that
 * may describe the groups. The read model (Redis) must agree with the databases.
 *
 * It first waits up to CHECK_SETTLE_S for the saga to come to rest: accepted
 * orders finished, outboxes drained and the saga's consumer groups
 * (CHECK_GROUPS) caught up with their topics: the last events of a finished
 * order may still be on their way to the notification service, whose group
 * can take seconds to rejoin after a broker restart. Then it prints one line per invariant
 * with what it checked, and exits 1 on any violation.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "config.h"
#include "clock.h"
#include "db.h"
#include "event.h"
#include "kafka.h"
#include "log.h"
#include "manifest.h"
#include "readmodel.h"
#include "redis.h"

struct check_cfg {
	char *order_db, *payment_db, *inventory_db, *shipping_db, *notification_db;
	char *redis_url, *groups, *manifest;
	struct kafka_endpoint kafka;
	long settle_s;
	long readmodel_ttl_s;
};

static const struct config_var vars[] = {
        CONFIG_SECRET("READER_ORDER_DATABASE_URL", NULL, struct check_cfg, order_db,
                      "orders database"),
        CONFIG_SECRET("READER_PAYMENT_DATABASE_URL", NULL, struct check_cfg, payment_db,
                      "payments database"),
        CONFIG_SECRET("READER_INVENTORY_DATABASE_URL", NULL, struct check_cfg, inventory_db,
                      "inventory database"),
        CONFIG_SECRET("READER_SHIPPING_DATABASE_URL", NULL, struct check_cfg, shipping_db,
                      "shipping database"),
        CONFIG_SECRET("READER_NOTIFICATION_DATABASE_URL", NULL, struct check_cfg, notification_db,
                      "notifications database"),
        CONFIG_SECRET("READER_REDIS_URL", "redis://127.0.0.1:16379/0", struct check_cfg, redis_url,
                      "the gateway's Redis (the set of accepted orders)"),
        KAFKA_ENDPOINT_VARS(struct check_cfg, kafka),
        CONFIG_STR("CHECK_GROUPS", "", struct check_cfg, groups,
                   "the consumer groups that must catch up; empty: every service's in "
                   "SERVICES_MANIFEST"),
        CONFIG_STR("SERVICES_MANIFEST", "deploy/services.conf", struct check_cfg, manifest,
                   "the services' manifest (each service is a consumer group)"),
        CONFIG_INT("CHECK_SETTLE_S", "60", 0, 3600, struct check_cfg, settle_s,
                   "how long to wait for orders to finish, outboxes to drain and consumers "
                   "to catch up"),
        CONFIG_INT("READMODEL_TTL_S", READMODEL_TTL_DEFAULT, 1, 31536000, struct check_cfg,
                   readmodel_ttl_s,
                   "the gateway's: an order finished longer ago may have left the read model"),
};
#define NVARS      (sizeof(vars) / sizeof(vars[0]))
#define MAX_GROUPS 32

static int violations;

static void report(bool ok, const char *name, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void report(bool ok, const char *name, const char *fmt, ...)
{
	va_list ap;

	printf("%s %-14s ", ok ? "ok  " : "FAIL", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	if (!ok)
		violations++;
}

static PGconn *connect_or_die(const char *url, const char *what)
{
	PGconn *c = PQconnectdb(url);

	if (PQstatus(c) != CONNECTION_OK)
		die("could not connect to the %s database: %s", what, PQerrorMessage(c));
	return c;
}

static PGresult *query(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);

	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		die("query failed: %s: %s", sql, PQresultErrorMessage(r));
	return r;
}

static long long scalar(PGconn *c, const char *sql)
{
	PGresult *r = query(c, sql);
	long long v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);

	PQclear(r);
	return v;
}

/* The ids of orders the gateway answered 202 for. */
static json_t *accepted_orders(const char *redis_url)
{
	char why[256];
	redisContext *rc;
	redisReply *r;
	json_t *ids = json_array();

	if (redis_connect(&rc, redis_url, 2000, why, sizeof(why)) < 0)
		die("%s", why);
	r = redisCommand(rc, "ZRANGE " READMODEL_ACCEPTED " 0 -1");
	for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++)
		json_array_append_new(ids, json_string(r->element[i]->str));
	freeReplyObject(r);
	redisFree(rc);
	return ids;
}

/* order_id -> {status, total, confirmed, updated (s since the epoch),
 * reason, cancellation ("" for none)} */
static json_t *load_orders(PGconn *c)
{
	PGresult *r =
	        query(c, "SELECT order_id, status, total_cents, confirmed_at IS NOT NULL,"
	                 " extract(epoch FROM updated_at)::bigint, coalesce(cancel_reason, ''),"
	                 " coalesce(cancellation, '') FROM orders");
	json_t *orders = json_object();

	for (int i = 0; i < PQntuples(r); i++)
		json_object_set_new(
		        orders, PQgetvalue(r, i, 0),
		        json_pack("{s:s, s:I, s:b, s:I, s:s, s:s}", "status", PQgetvalue(r, i, 1),
		                  "total", (json_int_t)strtoll(PQgetvalue(r, i, 2), NULL, 10),
		                  "confirmed", PQgetvalue(r, i, 3)[0] == 't', "updated",
		                  (json_int_t)strtoll(PQgetvalue(r, i, 4), NULL, 10), "reason",
		                  PQgetvalue(r, i, 5), "cancellation", PQgetvalue(r, i, 6)));
	PQclear(r);
	return orders;
}

static bool terminal(const char *status)
{
	return !strcmp(status, "COMPLETED") || !strcmp(status, "CANCELLED");
}

/* What is still in motion; all zero once the saga has come to rest. */
struct pending {
	long long outbox, unfinished, lag; /* lag: of the first group behind; -1: unknown */
	const char *behind;                /* that group, or NULL */
	char why[256];                     /* why the lag is unknown */
};

static bool pending_work(PGconn *const *dbs, int n, json_t *accepted, rd_kafka_t *admin,
                         const char *const *groups, struct pending *p)
{
	json_t *orders = load_orders(dbs[0]);
	size_t i;
	json_t *id;

	p->outbox = p->unfinished = p->lag = 0;
	p->behind = NULL;
	p->why[0] = '\0';
	for (int d = 0; d < n; d++)
		p->outbox += scalar(dbs[d], "SELECT count(*) FROM outbox");
	json_array_foreach (accepted, i, id) {
		json_t *o = json_object_get(orders, json_string_value(id));

		if (!o || !terminal(json_string_value(json_object_get(o, "status"))))
			p->unfinished++;
	}
	json_decref(orders);
	if (p->outbox || p->unfinished)
		return true; /* the groups are asked once the databases are at rest */
	for (; *groups && !p->lag; groups++) {
		if (kafka_group_lag(admin, *groups, 5000, &p->lag, p->why, sizeof(p->why)) != 0)
			p->lag = -1;
		if (p->lag)
			p->behind = *groups;
	}
	return p->lag != 0;
}

static void check_terminal(json_t *accepted, json_t *orders)
{
	size_t i, bad = 0;
	json_t *id;
	const char *example = NULL, *example_status = NULL;

	json_array_foreach (accepted, i, id) {
		json_t *o = json_object_get(orders, json_string_value(id));
		const char *st = o ? json_string_value(json_object_get(o, "status")) : "MISSING";

		if (!terminal(st)) {
			bad++;
			if (!example) {
				example = json_string_value(id);
				example_status = st;
			}
		}
	}
	if (bad)
		report(false, "terminal", "%zu of %zu accepted orders did not finish (e.g. %s: %s)",
		       bad, json_array_size(accepted), example, example_status);
	else
		report(true, "terminal", "%zu accepted orders, all COMPLETED or CANCELLED",
		       json_array_size(accepted));
}

static void check_stock(PGconn *inv, json_t *orders)
{
	PGresult *r =
	        query(inv, "SELECT p.product_id, p.initial_stock, p.available,"
	                   " coalesce(sum(r.quantity) FILTER (WHERE r.status = 'RESERVED'), 0)"
	                   " FROM products p LEFT JOIN reservations r USING (product_id)"
	                   " GROUP BY p.product_id, p.initial_stock, p.available");
	PGresult *held =
	        query(inv, "SELECT DISTINCT order_id FROM reservations WHERE status = 'RESERVED'");
	long bad = 0, held_by_cancelled = 0;
	const char *example = NULL;

	for (int i = 0; i < PQntuples(r); i++) {
		long long initial = strtoll(PQgetvalue(r, i, 1), NULL, 10);
		long long available = strtoll(PQgetvalue(r, i, 2), NULL, 10);
		long long reserved = strtoll(PQgetvalue(r, i, 3), NULL, 10);

		if (available < 0 || initial != available + reserved) {
			bad++;
			example = example ? example : PQgetvalue(r, i, 0);
		}
	}
	for (int i = 0; i < PQntuples(held); i++) {
		json_t *o = json_object_get(orders, PQgetvalue(held, i, 0));

		if (o && !strcmp(json_string_value(json_object_get(o, "status")), "CANCELLED"))
			held_by_cancelled++;
	}
	if (bad || held_by_cancelled)
		report(false, "stock",
		       "%ld of %d products break initial = available + reserved (e.g. %s); %ld "
		       "cancelled orders still hold stock",
		       bad, PQntuples(r), example ? example : "-", held_by_cancelled);
	else
		report(true, "stock",
		       "%d products: initial = available + reserved, none below zero; no "
		       "cancelled order holds stock",
		       PQntuples(r));
	PQclear(r);
	PQclear(held);
}

static void check_charges(PGconn *pay, json_t *orders)
{
	PGresult *r = query(pay, "SELECT p.order_id, p.status, p.amount_cents, count(f.refund_id)"
	                         " FROM payments p LEFT JOIN refunds f USING (payment_id)"
	                         " GROUP BY p.payment_id, p.order_id, p.status, p.amount_cents");
	json_t *charged = json_object();
	long bad = 0, refunds_wrong = 0, unknown = 0, twice = 0;
	const char *key;
	json_t *o;
	const char *example = NULL;

	for (int i = 0; i < PQntuples(r); i++) {
		const char *st = PQgetvalue(r, i, 1), *order = PQgetvalue(r, i, 0);
		long long refunds = strtoll(PQgetvalue(r, i, 3), NULL, 10);
		long long net = !strcmp(st, "CHARGED") ? strtoll(PQgetvalue(r, i, 2), NULL, 10) : 0;
		json_t *before = json_object_get(charged, order);

		if (refunds != (!strcmp(st, "REFUNDED") ? 1 : 0))
			refunds_wrong++;
		if (!json_object_get(orders, order))
			unknown++;
		if (before) { /* a second payment for one order: never */
			twice++;
			net += json_integer_value(before);
		}
		json_object_set_new(charged, order, json_integer(net));
	}
	json_object_foreach (orders, key, o) {
		const char *st = json_string_value(json_object_get(o, "status"));
		json_int_t net = json_integer_value(json_object_get(charged, key));
		json_int_t want = !strcmp(st, "COMPLETED")
		                          ? json_integer_value(json_object_get(o, "total"))
		                          : 0;

		if (terminal(st) && net != want) {
			bad++;
			example = example ? example : key;
		}
	}
	if (bad || refunds_wrong || unknown || twice)
		report(false, "charges",
		       "%ld orders with a wrong net charge (e.g. %s), %ld payments with a refund "
		       "that does not match, %ld payments for unknown orders, %ld orders paid "
		       "twice",
		       bad, example ? example : "-", refunds_wrong, unknown, twice);
	else
		report(true, "charges",
		       "%zu orders, %d payments: net charge = total if COMPLETED, 0 if CANCELLED; "
		       "one charge per order, no refund without a charge",
		       json_object_size(orders), PQntuples(r));
	json_decref(charged);
	PQclear(r);
}

static void check_shipments(PGconn *ship, json_t *orders)
{
	PGresult *r = query(
	        ship, "SELECT order_id, count(*), max(status) FROM shipments GROUP BY order_id");
	long doubles = 0, unconfirmed = 0;

	for (int i = 0; i < PQntuples(r); i++) {
		json_t *o = json_object_get(orders, PQgetvalue(r, i, 0));

		if (strtol(PQgetvalue(r, i, 1), NULL, 10) > 1)
			doubles++;
		if (!o || !json_is_true(json_object_get(o, "confirmed")))
			unconfirmed++;
	}
	report(!doubles && !unconfirmed, "shipments",
	       "%d orders shipped: %ld with more than one shipment, %ld never confirmed",
	       PQntuples(r), doubles, unconfirmed);
	PQclear(r);
}

/* Whether a cancelled order's reason is one the saga gives, at the point
 * it gives it: before confirmation, after it, or either. */
static bool reason_fits(const char *reason, bool confirmed)
{
	static const struct {
		const char *reason;
		int confirmed; /* 0 never, 1 always, 2 either */
	} reasons[] = {
	        {"UNKNOWN_PRODUCT", 0}, {"PAYMENT_DECLINED", 0}, {"INSUFFICIENT_STOCK", 0},
	        {"TIMEOUT", 0},         {"SHIPPING_FAILED", 1},  {"CUSTOMER_CANCELLED", 2},
	};

	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (!strcmp(reason, reasons[i].reason))
			return reasons[i].confirmed == 2 || reasons[i].confirmed == confirmed;
	return false;
}

/*
 * Each finished order's outcome fits the saga: a cancelled one has a reason
 * the saga gives at that point (TIMEOUT only before confirmation) and no
 * shipment that left or is still to leave (none, CANCELLED or FAILED); a
 * completed one was delivered and has no cancellation pending.
 */
static void check_outcomes(PGconn *ship, json_t *orders)
{
	PGresult *r = query(ship, "SELECT order_id, status FROM shipments");
	json_t *shipment = json_object();
	long bad_reason = 0, bad_shipment = 0, finished = 0;
	char example[256] = "-";
	const char *key;
	json_t *o;

	for (int i = 0; i < PQntuples(r); i++)
		json_object_set_new(shipment, PQgetvalue(r, i, 0),
		                    json_string(PQgetvalue(r, i, 1)));
	PQclear(r);
	json_object_foreach (orders, key, o) {
		const char *st = json_string_value(json_object_get(o, "status"));
		const char *reason = json_string_value(json_object_get(o, "reason"));
		const char *sh = json_string_value(json_object_get(shipment, key));
		bool confirmed = json_is_true(json_object_get(o, "confirmed"));

		if (!terminal(st))
			continue;
		finished++;
		if (!strcmp(st, "CANCELLED") && !reason_fits(reason, confirmed)) {
			if (!bad_reason++ && !bad_shipment)
				snprintf(example, sizeof(example),
				         "order %s cancelled, %s, reason \"%s\"", key,
				         confirmed ? "confirmed" : "never confirmed", reason);
			continue;
		}
		if (!strcmp(st, "CANCELLED")
		            ? sh && strcmp(sh, "CANCELLED") && strcmp(sh, "FAILED")
		            : !sh || strcmp(sh, "DELIVERED") ||
		                      !strcmp(json_string_value(json_object_get(o, "cancellation")),
		                              "REQUESTED")) {
			if (!bad_reason && !bad_shipment++)
				snprintf(example, sizeof(example), "order %s %s, shipment %s", key,
				         st, sh ? sh : "none");
		}
	}
	report(!bad_reason && !bad_shipment, "outcomes",
	       "%ld finished orders: %ld cancelled for a reason the saga does not give there, "
	       "%ld whose shipment does not fit (e.g. %s)",
	       finished, bad_reason, bad_shipment, example);
	json_decref(shipment);
}

/* Fills into[order_id][field] from a query's (order_id, value) rows,
 * translating each value through map ("from", "to", ..., NULL; NULL: as is). */
static void collect(json_t *into, PGconn *c, const char *sql, const char *field,
                    const char *const *map)
{
	PGresult *r = query(c, sql);

	for (int i = 0; i < PQntuples(r); i++) {
		json_t *o = json_object_get(into, PQgetvalue(r, i, 0));
		const char *v = PQgetvalue(r, i, 1);

		for (const char *const *m = map; m && *m; m += 2)
			if (!strcmp(v, m[0])) {
				v = m[1];
				break;
			}
		if (o)
			json_object_set_new(o, field, json_string(v));
	}
	PQclear(r);
}

/*
 * The read model agrees with the databases for every finished order: its
 * status, total and the payment, inventory and shipment status it shows are
 * what the services recorded. A field the read model lacks reads as "". An
 * order finished more than the read model's TTL ago may have no record at
 * all (it expired); one finished more recently must have one.
 */
static void check_read_model(PGconn *const *dbs, const char *redis_url, long ttl_s, json_t *orders)
{
	static const char *const pay_map[] = {"CHARGED", "PAID", NULL};
	static const char *const fields[] = {"status", "total_cents", "payment_status",
	                                     "inventory_status", "shipment_status"};
	json_t *want = json_object();
	const char *key;
	json_t *o;
	long checked = 0, wrong = 0, expired = 0;
	long long now = clock_wall_ms() / 1000;
	char example[512] = "-", why[256];
	redisContext *rc;

	json_object_foreach (orders, key, o) {
		const char *st = json_string_value(json_object_get(o, "status"));
		long long updated = json_integer_value(json_object_get(o, "updated"));
		char total[32];

		if (!terminal(st))
			continue;
		snprintf(total, sizeof(total), "%lld",
		         (long long)json_integer_value(json_object_get(o, "total")));
		/* Expiry follows the order's last event, a moment after its row. */
		json_object_set_new(want, key,
		                    json_pack("{s:s, s:s, s:b}", "status", st, "total_cents", total,
		                              "may_expire", updated + ttl_s <= now + 2));
	}
	collect(want, dbs[1], "SELECT order_id, status FROM payments", "payment_status", pay_map);
	collect(want, dbs[0],
	        "SELECT order_id, inventory_status FROM orders WHERE inventory_status IS NOT NULL",
	        "inventory_status", NULL);
	collect(want, dbs[2],
	        "SELECT order_id, CASE WHEN bool_and(status = 'RELEASED') THEN 'RELEASED'"
	        " ELSE 'RESERVED' END FROM reservations GROUP BY order_id",
	        "inventory_status", NULL);
	collect(want, dbs[3], "SELECT order_id, status FROM shipments", "shipment_status", NULL);
	if (redis_connect(&rc, redis_url, 2000, why, sizeof(why)) < 0)
		die("%s", why);
	json_object_foreach (want, key, o) {
		redisReply *r = redisCommand(rc, "HMGET " READMODEL_ORDER " %s %s %s %s %s", key,
		                             fields[0], fields[1], fields[2], fields[3], fields[4]);

		if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 5)
			die("could not read the read model: %s", r ? r->str : rc->errstr);
		if (r->element[0]->type == REDIS_REPLY_NIL &&
		    json_is_true(json_object_get(o, "may_expire"))) {
			expired++;
			freeReplyObject(r);
			continue;
		}
		checked++;
		for (size_t f = 0; f < 5; f++) {
			const char *got =
			        r->element[f]->type == REDIS_REPLY_STRING ? r->element[f]->str : "";
			const char *exp = json_string_value(json_object_get(o, fields[f]));

			if (!strcmp(fields[f], "total_cents") && !*got)
				got = "0"; /* an order cancelled before it was priced */
			if (strcmp(got, exp ? exp : "") != 0) {
				if (!wrong++)
					snprintf(example, sizeof(example),
					         "order %s %s: \"%s\", not \"%s\"", key, fields[f],
					         got, exp ? exp : "");
				break;
			}
		}
		freeReplyObject(r);
	}
	redisFree(rc);
	report(!wrong, "read model",
	       "%ld finished orders: %ld disagree with the databases on status, total, payment, "
	       "inventory or shipment (e.g. %s); %ld finished over %lds ago have expired",
	       checked, wrong, example, expired, ttl_s);
	json_decref(want);
}

static void check_notifications(PGconn *notif, PGconn *pay, PGconn *ship, json_t *orders)
{
	PGresult *dup = query(notif, "SELECT count(*) FROM (SELECT 1 FROM notifications"
	                             " GROUP BY cause_event_id, channel HAVING count(*) > 1) d");
	PGresult *by = query(notif, "SELECT order_id, cause_event_type, count(*) FROM notifications"
	                            " GROUP BY order_id, cause_event_type");
	PGresult *refunded = query(pay, "SELECT order_id FROM payments WHERE status = 'REFUNDED'");
	PGresult *shipped = query(ship, "SELECT order_id, status FROM shipments");
	json_t *seen = json_object();
	long wrong = 0, total = 0;
	const char *key, *example = NULL;
	json_t *o;

	for (int i = 0; i < PQntuples(by); i++) {
		json_t *m = json_object_get(seen, PQgetvalue(by, i, 0));

		if (!m)
			json_object_set_new(seen, PQgetvalue(by, i, 0), m = json_object());
		json_object_set_new(m, PQgetvalue(by, i, 1),
		                    json_integer(strtoll(PQgetvalue(by, i, 2), NULL, 10)));
		total += strtol(PQgetvalue(by, i, 2), NULL, 10);
	}
	{
		json_t *refund_set = json_object(), *ship_status = json_object();

		for (int i = 0; i < PQntuples(refunded); i++)
			json_object_set_new(refund_set, PQgetvalue(refunded, i, 0), json_true());
		for (int i = 0; i < PQntuples(shipped); i++)
			json_object_set_new(ship_status, PQgetvalue(shipped, i, 0),
			                    json_string(PQgetvalue(shipped, i, 1)));
		json_object_foreach (orders, key, o) {
			const char *st = json_string_value(json_object_get(o, "status"));
			const char *sh = json_string_value(json_object_get(ship_status, key));
			json_t *m = json_object_get(seen, key);
			struct {
				const char *type;
				int want;
			} expect[] = {
			        {"OrderConfirmed", json_is_true(json_object_get(o, "confirmed"))},
			        {"OrderCancelled", !strcmp(st, "CANCELLED")},
			        {"PaymentRefunded", json_object_get(refund_set, key) != NULL},
			        {"ShipmentDispatched",
			         sh && (!strcmp(sh, "DISPATCHED") || !strcmp(sh, "DELIVERED"))},
			        {"ShipmentDelivered", sh && !strcmp(sh, "DELIVERED")},
			        {"CancellationRefused",
			         !strcmp(json_string_value(json_object_get(o, "cancellation")),
			                 "REFUSED")},
			};

			if (!terminal(st))
				continue;
			for (size_t e = 0; e < sizeof(expect) / sizeof(expect[0]); e++) {
				if (json_integer_value(json_object_get(m, expect[e].type)) !=
				    expect[e].want) {
					wrong++;
					example = example ? example : key;
				}
			}
		}
		json_decref(refund_set);
		json_decref(ship_status);
	}
	{
		long long dups = strtoll(PQgetvalue(dup, 0, 0), NULL, 10);

		report(!dups && !wrong, "notifications",
		       "%ld notifications: %lld (cause event, channel) pairs sent twice, %ld "
		       "expected notifications missing or extra (e.g. order %s)",
		       total, dups, wrong, example ? example : "-");
	}
	json_decref(seen);
	PQclear(dup);
	PQclear(by);
	PQclear(refunded);
	PQclear(shipped);
}

int main(int argc, char **argv)
{
	struct check_cfg cfg = {0};
	PGconn *dbs[5];
	const char *names[5] = {"orders", "payments", "inventory", "shipping", "notifications"};
	json_t *accepted, *orders;
	long long outbox_left = 0;
	struct pending p;
	const char *groups[MAX_GROUPS];
	char group_names[512], manifest_groups[MAX_GROUPS][MANIFEST_NAME_MAX];
	rd_kafka_t *admin;
	char why[256];
	int64_t t0;
	bool busy;

	log_init("check-invariants", LOG_LEVEL_WARN);
	config_load_or_exit(&cfg, vars, NVARS, argc, argv);
	dbs[0] = connect_or_die(cfg.order_db, names[0]);
	dbs[1] = connect_or_die(cfg.payment_db, names[1]);
	dbs[2] = connect_or_die(cfg.inventory_db, names[2]);
	dbs[3] = connect_or_die(cfg.shipping_db, names[3]);
	dbs[4] = connect_or_die(cfg.notification_db, names[4]);
	accepted = accepted_orders(cfg.redis_url);
	admin = kafka_admin_new(&cfg.kafka, why, sizeof(why));
	if (!admin)
		die("%s", why);
	t0 = clock_mono_ms();
	if (cfg.groups[0]) {
		snprintf(group_names, sizeof(group_names), "%s", cfg.groups);
		config_split_list(cfg.groups, groups, MAX_GROUPS);
	} else {
		int n = manifest_names(cfg.manifest, manifest_groups, MAX_GROUPS - 1, why,
		                       sizeof(why));
		size_t len = 0;

		if (n < 0)
			die("%s", why);
		group_names[0] = '\0';
		for (int i = 0; i < n; i++) {
			groups[i] = manifest_groups[i];
			len += (size_t)snprintf(group_names + len, sizeof(group_names) - len,
			                        "%s%s", i ? "," : "", manifest_groups[i]);
			if (len >= sizeof(group_names))
				len = sizeof(group_names) - 1;
		}
		groups[n] = NULL;
	}
	printf("groups: %s\n", group_names);
	fflush(stdout); /* before anything that may end the process */
	while ((busy = pending_work(dbs, 5, accepted, admin, groups, &p)) &&
	       clock_mono_ms() - t0 < cfg.settle_s * 1000)
		clock_sleep_ms(100);
	if (busy)
		report(false, "at rest",
		       "not after %ld s: %lld outbox rows, %lld accepted orders unfinished, %lld "
		       "messages not consumed (group %s)%s%s",
		       cfg.settle_s, p.outbox, p.unfinished, p.lag, p.behind ? p.behind : "-",
		       p.why[0] ? ": " : "", p.why);
	else
		report(true, "at rest",
		       "after %.1f s: outboxes drained, accepted orders finished, groups %s caught "
		       "up",
		       (double)(clock_mono_ms() - t0) / 1000.0, group_names);
	rd_kafka_destroy(admin);
	orders = load_orders(dbs[0]);
	check_terminal(accepted, orders);
	check_stock(dbs[2], orders);
	check_charges(dbs[1], orders);
	check_shipments(dbs[3], orders);
	check_outcomes(dbs[3], orders);
	check_notifications(dbs[4], dbs[1], dbs[3], orders);
	check_read_model(dbs, cfg.redis_url, cfg.readmodel_ttl_s, orders);
	for (int d = 0; d < 5; d++)
		outbox_left += scalar(dbs[d], "SELECT count(*) FROM outbox");
	report(outbox_left == 0, "outbox", "%lld outbox rows left unpublished in 5 databases",
	       outbox_left);
	printf("check-invariants: %d violated\n", violations);
	json_decref(orders);
	json_decref(accepted);
	for (int d = 0; d < 5; d++)
		PQfinish(dbs[d]);
	config_release(&cfg, vars, NVARS);
	return violations ? 1 : 0;
}
