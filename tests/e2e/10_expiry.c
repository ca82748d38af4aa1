/*
 * End to end: the read model stays bounded. A finished order's record and
 * its history expire READMODEL_TTL_S after the order's last event (the
 * event's own time, so a rebuild ends with the same expiry); a late event
 * for an order whose record is gone, older than the TTL, does not bring it
 * back as PENDING; the set of accepted orders drops members older than the
 * TTL. Waiting a day for Redis to expire a key is not the test: the expiry
 * time Redis holds is, and Redis's own EXPIREAT does the rest.
 */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec.h"
#include "e2e.h"
#include "event.h"
#include "readmodel.h"
#include "redis.h"
#include "support.h"

#define TIMEOUT 60000

static long ttl_s(void)
{
	const char *v = getenv("READMODEL_TTL_S");

	return strtol(v && *v ? v : READMODEL_TTL_DEFAULT, NULL, 10);
}

/* Redis as the checker (read-only) or as its administrator. */
static redisContext *redis_as(const char *url_var)
{
	redisContext *c;
	char why[256];

	cr_assert_eq(redis_connect(&c, support_env(url_var), 2000, why, sizeof(why)), 0, "%s", why);
	return c;
}

static long long redis_int(redisContext *c, const char *fmt, const char *arg)
{
	redisReply *r = redisCommand(c, fmt, arg);
	long long v;

	cr_assert(r && r->type == REDIS_REPLY_INTEGER, "%s: %s", fmt,
	          r && r->type == REDIS_REPLY_ERROR ? r->str : "no integer");
	v = r->integer;
	freeReplyObject(r);
	return v;
}

/* Produces a NotificationSent for order_id that occurred at_ms, keyed by
 * key (one partition with the events it must follow); its id into event_id. */
static void produce_notification(const char *order_id, const char *key, long long at_ms,
                                 char *event_id)
{
	json_t *rec = json_pack("{s:s, s:s, s:s, s:s, s:s}", "order_id", order_id, "customer_id",
	                        "c-expiry", "channel", "email", "cause_event_id", "e2e-expiry",
	                        "cause_event_type", "OrderCompleted");
	json_t *meta = event_metadata("notification", NULL, order_id, NULL);

	json_object_set_new(meta, "occurred_at", json_integer(at_ms));
	json_object_set_new(rec, "metadata", meta);
	snprintf(event_id, 37, "%s", event_meta(rec, "event_id"));
	support_produce_record("NotificationSent", key, rec);
	json_decref(rec);
}

/* Whether the order's history names the event as applied (an entry also
 * names the event that caused it). */
static bool history_has(redisContext *c, const char *order_id, const char *event_id)
{
	redisReply *r = redisCommand(c, "LRANGE " READMODEL_HISTORY " 0 -1", order_id);
	char applied[64];
	bool has = false;

	snprintf(applied, sizeof(applied), "\"event_id\":\"%s\"", event_id);
	for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++)
		has |= strstr(r->element[i]->str, applied) != NULL;
	freeReplyObject(r);
	return has;
}

Test(expiry, a_finished_order_expires_after_its_last_event_and_a_late_event_does_not_revive_it,
     .timeout = 120)
{
	char id[40], ghost[64], late[37], old[37], key[128];
	long long terminal_at, expires, now_ms = event_now_ms();
	redisContext *c = redis_as("READER_REDIS_URL");
	redisReply *r;
	json_t *o;

	cr_assert_eq(e2e_post_order(e2e_order_body("c-expiry", "1 Main St", "p-0010", 1), NULL,
	                            NULL, id, key, sizeof(key)),
	             202, "%s", key);
	o = e2e_wait_terminal(id, TIMEOUT);
	json_decref(o);
	/* Finished: both keys expire at the latest event's time + TTL. Its
	 * notifications come after its terminal event and may move it on a
	 * second: wait until it holds still. */
	expires = redis_int(c, "EXPIRETIME " READMODEL_ORDER, id);
	for (int i = 0; i < 10; i++) {
		long long again;

		usleep(1500 * 1000);
		again = redis_int(c, "EXPIRETIME " READMODEL_ORDER, id);
		if (again == expires)
			break;
		expires = again;
	}
	cr_expect_gt(expires, 0, "a finished order's record has no expiry");
	cr_expect_eq(redis_int(c, "EXPIRETIME " READMODEL_HISTORY, id), expires,
	             "the history expires with the record");
	terminal_at = expires - ttl_s();
	cr_expect(terminal_at * 1000 >= now_ms - 2000 && terminal_at * 1000 <= event_now_ms(),
	          "expiry %lld is not an event time of this order + %ld s", expires, ttl_s());
	r = redisCommand(c, "ZSCORE " READMODEL_ACCEPTED " %s", id);
	cr_expect(r && r->type == REDIS_REPLY_STRING && llabs(atoll(r->str) - now_ms / 1000) <= 5,
	          "the accepted order is not in %s with its time", READMODEL_ACCEPTED);
	freeReplyObject(r);

	/* Late events on the order's partition: one older than the TTL for an
	 * order whose record is gone (never made here), then one from an hour
	 * ago for this order, whose record is there: that one is applied, and
	 * the expiry does not move back. */
	snprintf(ghost, sizeof(ghost), "%s-ghost", id);
	produce_notification(ghost, id, now_ms - (ttl_s() + 3600) * 1000, late);
	produce_notification(id, id, now_ms - 3600 * 1000, old);
	for (int i = 0; i < 200 && !history_has(c, id, old); i++)
		usleep(100 * 1000);
	cr_expect(history_has(c, id, old), "the late event for a live record was not applied");
	cr_expect_eq(redis_int(c, "EXPIRETIME " READMODEL_ORDER, id), expires,
	             "an older event moved the expiry");
	cr_expect_eq(redis_int(c, "EXISTS " READMODEL_ORDER, ghost), 0,
	             "a late event brought an expired order back");
	cr_expect_eq(redis_int(c, "EXISTS " READMODEL_HISTORY, ghost), 0);
	o = e2e_get_order(ghost);
	cr_expect_null(o, "GET /v1/orders/%s answers for an expired order", ghost);
	json_decref(o);
	redisFree(c);
}

Test(expiry, accepted_orders_older_than_the_ttl_leave_the_accepted_set, .timeout = 60)
{
	redisContext *admin = redis_as("REDIS_URL");
	char member[64];
	redisReply *r;
	long long left = 1;

	support_unique(member, sizeof(member), "e2e-accepted-long-ago");
	r = redisCommand(admin, "ZADD " READMODEL_ACCEPTED " %lld %s",
	                 (long long)(event_now_ms() / 1000 - ttl_s() - 60), member);
	cr_assert(r && r->type == REDIS_REPLY_INTEGER, "ZADD: %s",
	          r && r->type == REDIS_REPLY_ERROR ? r->str : "?");
	freeReplyObject(r);
	/* The projector trims once a second, idle or not. */
	for (int i = 0; i < 100 && left; i++) {
		r = redisCommand(admin, "ZSCORE " READMODEL_ACCEPTED " %s", member);
		left = r && r->type == REDIS_REPLY_STRING;
		freeReplyObject(r);
		if (left)
			usleep(100 * 1000);
	}
	cr_expect_eq(left, 0, "an accepted order older than the TTL is still in %s",
	             READMODEL_ACCEPTED);
	redisFree(admin);
}

/* Lines of the gateway's log that report a failed read-model script. */
static long script_errors(void)
{
	FILE *f = popen("grep -c 'user_script' .run/logs/gateway.log", "r");
	long n = -1;

	if (f) {
		if (fscanf(f, "%ld", &n) != 1)
			n = -1;
		pclose(f);
	}
	return n;
}

/* The gateway writes a record's status alone (HSETNX, before the projector
 * sees the order): an event that sets no status must still apply to it,
 * without the script failing (a failed script leaves its first writes and
 * takes its batch apart, event by event). */
Test(expiry, an_event_for_a_record_the_gateway_made_is_applied, .timeout = 60)
{
	redisContext *admin = redis_as("REDIS_URL");
	redisContext *c = redis_as("READER_REDIS_URL");
	long errors_before = script_errors();
	char id[64], ev[37];
	redisReply *r;

	cr_assert_geq(errors_before, 0, "cannot read .run/logs/gateway.log");
	support_unique(id, sizeof(id), "e2e-gateway-made");
	r = redisCommand(admin, "HSETNX " READMODEL_ORDER " status PENDING", id);
	freeReplyObject(r);
	produce_notification(id, id, event_now_ms(), ev);
	for (int i = 0; i < 100 && !history_has(c, id, ev); i++)
		usleep(100 * 1000);
	cr_expect(history_has(c, id, ev), "the event was not applied");
	usleep(500 * 1000);
	cr_expect_eq(script_errors(), errors_before,
	             "the read model's script failed on a record with a status and no rank");
	redisFree(c);
	redisFree(admin);
}
