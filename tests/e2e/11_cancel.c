/*
 * End to end: the customer cancels (POST /v1/orders/{id}/cancel) at each
 * stage of the saga: before payment, between payment and reservation, after
 * confirmation before the shipment leaves (each stage held by stopping the
 * participant that would move the order on), and after it left (409, or a
 * CancellationRefused when the request got past the read model); then 200
 * cancellations racing 200 orders. Each order ends in exactly one terminal
 * state with every compensation done; the invariants hold. Also: the
 * answers' headers (Location, Retry-After, the problem+json type). Restarts
 * daemons, so it runs after the suites that need them steady.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec.h"
#include "e2e.h"
#include "event.h"
#include "support.h"

#define TIMEOUT 60000

/* daemons.sh start|stop for the named daemons. */
static void daemons(const char *verb, const char *names)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "BUILD_DIR=%s bash deploy/local/daemons.sh %s %s >/dev/null",
	         getenv("BUILD_DIR") ? getenv("BUILD_DIR") : "build/asan", verb, names);
	cr_assert_eq(support_sh(cmd), 0, "daemons.sh %s %s failed", verb, names);
}

/* A field of the order's read model, "" when absent (a new reference dropped). */
static const char *field(const char *order_id, const char *name)
{
	static char out[64];
	json_t *o = e2e_get_order(order_id);

	snprintf(out, sizeof(out), "%s",
	         o && json_string_value(json_object_get(o, name))
	                 ? json_string_value(json_object_get(o, name))
	                 : "");
	json_decref(o);
	return out;
}

static void wait_field(const char *order_id, const char *name, const char *want)
{
	for (long long end = support_now_ms() + TIMEOUT; support_now_ms() < end; usleep(50 * 1000))
		if (!strcmp(field(order_id, name), want))
			return;
	cr_assert_fail("order %s: %s is \"%s\", not \"%s\" after %d ms", order_id, name,
	               field(order_id, name), want, TIMEOUT);
}

static void order(const char *customer, char *id)
{
	cr_assert_eq(e2e_post_order(e2e_order_body(customer, "1 Cancel St", "p-0042", 2), NULL,
	                            NULL, id, NULL, 0),
	             202);
}

static void expect_cancelled_by_customer(const char *id)
{
	json_t *o = e2e_wait_terminal(id, TIMEOUT);

	cr_expect_str_eq(json_string_value(json_object_get(o, "status")), "CANCELLED");
	cr_expect_str_eq(json_string_value(json_object_get(o, "cancel_reason")),
	                 "CUSTOMER_CANCELLED");
	json_decref(o);
}

static void cancel_accepted(const char *id)
{
	struct e2e_reply r;

	cr_assert_eq(e2e_cancel(id, &r), 202, "%s", r.body);
	cr_expect_str_eq(e2e_header(&r, "Content-Type"), "application/json");
}

/*
 * Holds an order before confirmation by stopping one participant; once the
 * other has done its part (field = done), cancels it: the running one
 * compensates at once (field = undone); the stopped one, started again, does
 * its part late and compensates it (late_field = late_undone).
 */
static void cancel_while_stopped(const char *stopped, const char *field_name, const char *done,
                                 const char *undone, const char *late_field,
                                 const char *late_undone)
{
	char id[40];

	daemons("stop", stopped);
	order("e2e-cancel", id);
	wait_field(id, field_name, done);
	cancel_accepted(id);
	expect_cancelled_by_customer(id);
	wait_field(id, field_name, undone);
	daemons("start", stopped);
	wait_field(id, late_field, late_undone);
	e2e_expect_invariants();
}

Test(cancel, before_payment_nothing_stays_charged_or_reserved, .timeout = 300)
{
	/* Payment comes back, charges the order it missed, and refunds it. */
	cancel_while_stopped("payment", "inventory_status", "RESERVED", "RELEASED",
	                     "payment_status", "REFUNDED");
}

Test(cancel, between_payment_and_reservation, .timeout = 300)
{
	cancel_while_stopped("inventory", "payment_status", "PAID", "REFUNDED", "inventory_status",
	                     "RELEASED");
}

Test(cancel, after_confirmation_the_shipment_is_stopped, .timeout = 300)
{
	char id[40];

	daemons("stop", "shipping");
	order("e2e-cancel", id);
	wait_field(id, "status", "CONFIRMED");
	cancel_accepted(id);
	/* Only shipping can say whether the parcel left: the order waits for it. */
	wait_field(id, "cancellation", "REQUESTED");
	usleep(500 * 1000);
	cr_expect_str_eq(field(id, "status"), "CONFIRMED");
	daemons("start", "shipping");
	expect_cancelled_by_customer(id);
	wait_field(id, "shipment_status", "CANCELLED");
	wait_field(id, "payment_status", "REFUNDED");
	wait_field(id, "inventory_status", "RELEASED");
	cr_expect_str_eq(
	        e2e_db_text("SHIPPING", "SELECT status FROM shipments WHERE order_id = $1", id),
	        "CANCELLED");
	e2e_expect_invariants();
}

/* Produces a CancellationRequested for order_id past the gateway. */
static void request_cancellation(const char *order_id)
{
	json_t *rec = json_pack("{s:s}", "order_id", order_id);

	json_object_set_new(rec, "metadata", event_metadata("gateway", NULL, order_id, NULL));
	support_produce_record("CancellationRequested", order_id, rec);
	json_decref(rec);
}

Test(cancel, after_dispatch_it_is_refused, .timeout = 300)
{
	struct e2e_reply r;
	char id[40], type[128];
	json_t *o;

	order("e2e-cancel", id);
	o = e2e_wait_terminal(id, TIMEOUT);
	cr_assert_str_eq(json_string_value(json_object_get(o, "status")), "COMPLETED");
	json_decref(o);
	cr_expect_eq(e2e_cancel(id, &r), 409, "%s", r.body);
	cr_expect_str_eq(support_http_header(r.head, "Content-Type", type, sizeof(type)),
	                 "application/problem+json");
	cr_expect(strstr(r.body, "too late"), "%s", r.body);
	/* A request the read model did not stop: the order service refuses it. */
	request_cancellation(id);
	wait_field(id, "cancellation", "REFUSED");
	cr_expect_str_eq(field(id, "status"), "COMPLETED");
	cr_expect_str_eq(
	        e2e_db_text("ORDER", "SELECT cancellation FROM orders WHERE order_id = $1", id),
	        "REFUSED");
	e2e_expect_invariants();
}

Test(cancel, is_idempotent_and_knows_unknown_orders, .timeout = 300)
{
	struct e2e_reply r;
	char id[40];

	cr_expect_eq(e2e_cancel("no-such-order", &r), 404);
	cr_expect_str_eq(e2e_header(&r, "Content-Type"), "application/problem+json");
	daemons("stop", "payment");
	order("e2e-cancel", id);
	cancel_accepted(id);
	cancel_accepted(id);
	expect_cancelled_by_customer(id);
	cr_expect_eq(e2e_cancel(id, &r), 202, "a repeated cancellation: %s", r.body);
	cr_expect(strstr(r.body, "\"CANCELLED\""), "%s", r.body);
	cr_expect(!strncmp(e2e_header(&r, "Location"), "/v1/orders/", 11));
	daemons("start", "payment");
	wait_field(id, "payment_status", "REFUNDED");
	cr_expect_eq(
	        e2e_db("ORDER",
	               "SELECT count(*) FROM orders WHERE order_id = $1 AND status = 'CANCELLED'",
	               id),
	        1);
	e2e_expect_invariants();
}

#define RACERS 200

static char race_ids[RACERS][40];
static int race_status[RACERS];

static long long race_posted_at[RACERS];

/* Cancels each order 0 to 250 ms after it was posted (spread over the
 * whole saga, which takes about 200 ms here), so that cancellations meet
 * every stage: before the order is stored, waiting for results, confirmed,
 * dispatched, delivered. */
static void *canceller(void *arg)
{
	int *posted = arg;

	for (int i = 0; i < RACERS; i++) {
		struct e2e_reply r;
		long long at;

		while (__atomic_load_n(posted, __ATOMIC_ACQUIRE) <= i)
			usleep(1000);
		at = race_posted_at[i] + (i * 37) % 250;
		if (support_now_ms() < at)
			usleep((useconds_t)(at - support_now_ms()) * 1000);
		race_status[i] = e2e_cancel(race_ids[i], &r);
	}
	return NULL;
}

Test(cancel, racing_orders_end_in_exactly_one_terminal_state, .timeout = 600)
{
	pthread_t t;
	int posted = 0, cancelled = 0, completed = 0;

	cr_assert_eq(pthread_create(&t, NULL, canceller, &posted), 0);
	for (int i = 0; i < RACERS; i++) {
		order("e2e-race", race_ids[i]);
		race_posted_at[i] = support_now_ms();
		__atomic_store_n(&posted, i + 1, __ATOMIC_RELEASE);
		usleep(5000); /* 200 orders/s */
	}
	pthread_join(t, NULL);
	for (int i = 0; i < RACERS; i++)
		cr_expect(race_status[i] == 202 || race_status[i] == 409, "order %s: cancel %d",
		          race_ids[i], race_status[i]);
	for (int i = 0; i < RACERS; i++) {
		json_t *o = e2e_wait_terminal(race_ids[i], TIMEOUT);
		const char *h = e2e_history(o);
		int terminals = 0;

		for (const char *p = h; (p = strstr(p, "Order")); p++)
			terminals += !strncmp(p, "OrderCancelled", 14) ||
			             !strncmp(p, "OrderCompleted", 14);
		cr_expect_eq(terminals, 1, "order %s: %s", race_ids[i], h);
		if (!strcmp(json_string_value(json_object_get(o, "status")), "CANCELLED"))
			cancelled++;
		else
			completed++;
		json_decref(o);
	}
	cr_log_info("%d cancelled, %d completed (too late to cancel)", cancelled, completed);
	cr_expect_gt(cancelled, 0);
	e2e_expect_invariants();
}

Test(headers, location_retry_after_and_problem_type_are_sent)
{
	struct e2e_reply r;
	char id[40], headers[256], path[128];
	bool limited = false;

	cr_assert_eq(e2e_call("POST", "/v1/orders", "Content-Type: application/json\r\n",
	                      e2e_order_body("e2e-headers", "1 Header St", "p-0001", 1), &r),
	             202, "%s", r.body);
	snprintf(id, sizeof(id), "%.36s", strstr(r.body, "\"order_id\":\"") + 12);
	snprintf(path, sizeof(path), "/v1/orders/%s", id);
	cr_expect_str_eq(e2e_header(&r, "Location"), path);
	cr_expect_str_eq(e2e_header(&r, "Content-Type"), "application/json");
	cr_expect_eq(e2e_call("POST", "/v1/orders", "Content-Type: application/json\r\n", "{", &r),
	             400);
	cr_expect_str_eq(e2e_header(&r, "Content-Type"), "application/problem+json");
	cr_expect_eq(e2e_call("GET", "/v1/orders/no-such-order", NULL, NULL, &r), 404);
	cr_expect_str_eq(e2e_header(&r, "Content-Type"), "application/problem+json");
	cr_expect_eq(e2e_call("GET", "/v1/orders?customer_id=", NULL, NULL, &r), 400,
	             "an empty customer_id");
	cr_expect_str_eq(e2e_header(&r, "Content-Type"), "application/problem+json");
	cr_expect_eq(
	        e2e_call("GET", "/v1/products", "Authorization: Bearer not-a-key\r\n", NULL, &r),
	        401);
	cr_expect_str_eq(e2e_header(&r, "WWW-Authenticate"), "Bearer");
	/* LIMITED_API_KEY allows 3 requests per second: the fifth in a row is refused. */
	snprintf(headers, sizeof(headers),
	         "Authorization: Bearer %s\r\nContent-Type: application/json\r\n",
	         support_env("LIMITED_API_KEY"));
	for (int i = 0; i < 10 && !limited; i++)
		limited = e2e_call("POST", "/v1/orders", headers, "{}", &r) == 429;
	cr_assert(limited, "no 429 in 10 requests with a key allowed 3 per second");
	cr_expect_str_eq(e2e_header(&r, "Retry-After"), "1");
	cr_expect_str_eq(e2e_header(&r, "Content-Type"), "application/problem+json");
}
