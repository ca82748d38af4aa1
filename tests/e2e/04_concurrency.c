/*
 * End to end: 200 concurrent orders for one product with a stock of 50:
 * exactly 50 are confirmed, and stock ends at 0, never below. The rush is
 * also the read model's largest batches: the projector applies them in
 * Redis transactions of at most READMODEL_EXEC_EVENTS events, so that no
 * other client of Redis (the gateway accepting an order) waits for a whole
 * batch.
 */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "e2e.h"
#include "readmodel.h"
#include "redis.h"
#include "support.h"

#define ORDERS  200
#define THREADS 10
#define STOCK   50

static char product[64];
static char ids[ORDERS][40];

static void *place(void *arg)
{
	int t = (int)(long)arg;
	char body[512];

	for (int i = t; i < ORDERS; i += THREADS) {
		snprintf(body, sizeof(body), "%s",
		         e2e_order_body("e2e-rush", "1 Main St", product, 1));
		if (e2e_post_order(body, NULL, NULL, ids[i], NULL, 0) != 202)
			ids[i][0] = '\0';
	}
	return NULL;
}

/* How often Redis ran cmd since it started (INFO commandstats), as its
 * administrator. */
static long long redis_calls(const char *cmd)
{
	redisContext *c;
	redisReply *r;
	char why[256], key[64];
	const char *at;
	long long n = 0;

	cr_assert_eq(redis_connect(&c, support_env("REDIS_URL"), 2000, why, sizeof(why)), 0, "%s",
	             why);
	r = redisCommand(c, "INFO commandstats");
	cr_assert(r && r->type == REDIS_REPLY_STRING, "INFO commandstats: %s",
	          r && r->type == REDIS_REPLY_ERROR ? r->str : "no text");
	snprintf(key, sizeof(key), "cmdstat_%s:calls=", cmd);
	if ((at = strstr(r->str, key)))
		n = strtoll(at + strlen(key), NULL, 10);
	freeReplyObject(r);
	redisFree(c);
	return n;
}

Test(concurrency, two_hundred_orders_for_fifty_in_stock, .timeout = 300)
{
	pthread_t threads[THREADS];
	int accepted = 0, confirmed = 0, short_cancelled = 0;
	long long events = redis_calls("evalsha"), transactions = redis_calls("exec");

	support_unique(product, sizeof(product), "rush");
	e2e_make_product(product, 300, STOCK);
	for (long t = 0; t < THREADS; t++)
		pthread_create(&threads[t], NULL, place, (void *)t);
	for (int t = 0; t < THREADS; t++)
		pthread_join(threads[t], NULL);
	for (int i = 0; i < ORDERS; i++) {
		json_t *o;
		const char *reason;

		if (!ids[i][0])
			continue;
		accepted++;
		o = e2e_wait_terminal(ids[i], 60000);
		reason = json_string_value(json_object_get(o, "cancel_reason"));
		confirmed +=
		        strcmp(json_string_value(json_object_get(o, "status")), "COMPLETED") == 0;
		short_cancelled += reason && !strcmp(reason, "INSUFFICIENT_STOCK");
		json_decref(o);
	}
	cr_expect_eq(accepted, ORDERS);
	cr_expect_eq(confirmed, STOCK, "%d orders completed", confirmed);
	cr_expect_eq(short_cancelled, ORDERS - STOCK);
	cr_expect_eq(e2e_db("INVENTORY", "SELECT available FROM products WHERE product_id = $1",
	                    product),
	             0);
	/* Every order event is one EVALSHA in one of the projector's
	 * transactions (the only ones on this Redis). */
	events = redis_calls("evalsha") - events;
	transactions = redis_calls("exec") - transactions;
	cr_expect_geq(events, ORDERS * 4, "%lld order events applied", events);
	cr_expect_leq(events, transactions * READMODEL_EXEC_EVENTS,
	              "%lld order events in %lld Redis transactions: more than %d in one", events,
	              transactions, READMODEL_EXEC_EVENTS);
	e2e_expect_invariants();
}
