/* Unit: the event stream's frames as the projector writes them
 * (services/gateway/projector.c, projector_frame): JSON whatever the
 * event's text holds, and the brief form what of the full one a list of
 * orders shows. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"

static json_t *record(const char *customer)
{
	return json_pack("{s:s, s:s, s:I, s:{s:s, s:s, s:s, s:I}}", "order_id", "o-1",
	                 "customer_id", customer, "total_cents", (json_int_t)1234, "metadata",
	                 "event_id", "e-1", "producer", "order", "causation_id", "e-0",
	                 "occurred_at", (json_int_t)1765000000123);
}

static json_t *parse(const char *text)
{
	json_error_t err;
	json_t *v = json_loads(text, 0, &err);

	cr_assert_not_null(v, "not JSON (%s): %s", err.text, text);
	cr_assert_null(strpbrk(text, "\r\n"), "a line break in a frame: %s", text);
	return v;
}

Test(frames, any_customer_id_makes_valid_json_with_the_same_text)
{
	static const char *const full_only[] = {"event",    "at",       "customer_id",
	                                        "event_id", "producer", "causation_id"};
	static const char *const customers[] = {
	        "plain",
	        "a \"quoted\" one",
	        "back\\slash",
	        "line\nbreak\r\ttab",
	        "\x01\x1f\x7f",
	        "ünïcødé €",
	        "}{\",\"status\":\"COMPLETED",
	};

	for (size_t i = 0; i < sizeof(customers) / sizeof(customers[0]); i++) {
		json_t *r = record(customers[i]), *full, *brief;
		char *f, *b;

		cr_assert(projector_frame("OrderCreated", r, &f, &b));
		full = parse(f);
		brief = parse(b);
		cr_assert_str_eq(json_string_value(json_object_get(full, "customer_id")),
		                 customers[i]);
		cr_assert_str_eq(json_string_value(json_object_get(full, "status")), "PENDING");
		cr_assert_eq(json_integer_value(json_object_get(full, "at")), 1765000000123);
		cr_assert_eq(json_integer_value(json_object_get(full, "total_cents")), 1234);
		cr_assert_str_eq(json_string_value(json_object_get(full, "causation_id")), "e-0");
		/* brief = full's order, status and total, nothing else */
		for (size_t k = 0; k < sizeof(full_only) / sizeof(full_only[0]); k++)
			json_object_del(full, full_only[k]);
		cr_assert(json_equal(full, brief), "%s\n%s", f, b);
		json_decref(full);
		json_decref(brief);
		json_decref(r);
		free(f);
		free(b);
	}
}

Test(frames, invalid_utf8_is_replaced_not_passed_on)
{
	json_t *r = record("c");
	char *f, *b;

	/* jansson refuses such text unless asked not to check it */
	json_object_set_new(r, "customer_id", json_string_nocheck("bad \xff\xfe byte"));
	cr_assert(projector_frame("OrderCreated", r, &f, &b));
	json_decref(parse(f));
	json_decref(parse(b));
	json_decref(r);
	free(f);
	free(b);
}

Test(frames, a_sub_status_and_a_reason_are_in_the_frame)
{
	json_t *r = record("c"), *full;
	char *f, *b;

	json_object_set_new(r, "reason", json_string("PAYMENT_DECLINED"));
	cr_assert(projector_frame("PaymentFailed", r, &f, &b));
	full = parse(f);
	cr_assert_str_eq(json_string_value(json_object_get(full, "payment_status")), "DECLINED");
	cr_assert_null(json_object_get(full, "reason"), "only OrderCancelled has its reason");
	cr_assert_null(json_object_get(full, "status"));
	json_decref(full);
	free(f);
	free(b);
	cr_assert(projector_frame("OrderCancelled", r, &f, &b));
	full = parse(b);
	cr_assert_str_eq(json_string_value(json_object_get(full, "reason")), "PAYMENT_DECLINED");
	cr_assert_str_eq(json_string_value(json_object_get(full, "status")), "CANCELLED");
	json_decref(full);
	json_decref(r);
	free(f);
	free(b);
}

Test(frames, none_for_an_event_without_an_order_or_a_frame_too_large)
{
	char *big = malloc(4000);
	json_t *r;
	char *f, *b;

	memset(big, 'x', 3999);
	big[3999] = '\0';
	r = record(big);
	cr_assert_not(projector_frame("OrderCreated", r, &f, &b));
	cr_assert_null(f);
	cr_assert_null(b);
	json_decref(r);
	r = record("c");
	cr_assert_not(projector_frame("ProductUpdated", r, &f, &b), "not an order's event");
	json_object_del(r, "order_id");
	cr_assert_not(projector_frame("OrderCreated", r, &f, &b), "no order id");
	json_decref(r);
	free(big);
}
