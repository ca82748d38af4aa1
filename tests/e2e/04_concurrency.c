/*
 * End to end: 200 concurrent orders for one product with a stock of 50:
 * exactly 50 are confirmed, and stock ends at 0, never below.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "e2e.h"
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

Test(concurrency, two_hundred_orders_for_fifty_in_stock, .timeout = 300)
{
	pthread_t threads[THREADS];
	int accepted = 0, confirmed = 0, short_cancelled = 0;

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
	e2e_expect_invariants();
}
