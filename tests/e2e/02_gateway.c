/*
 * End to end: the gateway's contract. Idempotency keys, and bad input of
 * every kind: each gets the right status and a problem+json body naming the
 * cause, and nothing reaches Kafka.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "e2e.h"
#include "support.h"

static int port(void)
{
	return atoi(strrchr(support_env("GATEWAY_URL"), ':') + 1);
}

Test(gateway, the_same_idempotency_key_and_body_give_one_order)
{
	char key[64], a[40], b[40], reply[1024];
	const char *body = e2e_order_body("e2e-idem", "1 Main St", "p-0007", 1);
	char copy[1024];

	snprintf(copy, sizeof(copy), "%s", body);
	support_unique(key, sizeof(key), "idem");
	cr_assert_eq(e2e_post_order(copy, key, NULL, a, reply, sizeof(reply)), 202, "%s", reply);
	cr_assert_eq(e2e_post_order(copy, key, NULL, b, reply, sizeof(reply)), 202, "%s", reply);
	cr_expect_str_eq(a, b, "a second order was made");
	json_decref(e2e_wait_terminal(a, 30000));
	cr_expect_eq(e2e_db("ORDER",
	                    "SELECT count(*) FROM orders WHERE customer_id = 'e2e-idem' AND"
	                    " order_id = $1",
	                    a),
	             1);
	/* The same key with another body is a conflict. */
	cr_expect_eq(e2e_post_order(e2e_order_body("e2e-idem", "1 Main St", "p-0007", 2), key, NULL,
	                            NULL, reply, sizeof(reply)),
	             409, "%s", reply);
	cr_expect(strstr(reply, "\"status\":409") && strstr(reply, "another body"), "%s", reply);
}

Test(gateway, idempotency_keys_are_whole_up_to_200_characters)
{
	/* Two keys of 200 characters that differ only in their last one are
	 * two keys (the gateway once kept 200 bytes of a key: two keys alike
	 * that far were one); one of 201 is refused. */
	char k1[256], k2[256], k3[256], a[40], b[40], reply[1024], body[1024];
	size_t n;

	n = (size_t)snprintf(k1, sizeof(k1), "%ld-", (long)getpid());
	for (size_t i = n; i < 199; i++)
		k1[i] = 'k';
	memcpy(k1 + 199, "1", 2);
	memcpy(k2, k1, 199);
	memcpy(k2 + 199, "2", 2);
	memcpy(k3, k1, 200);
	memcpy(k3 + 200, "3", 2);
	snprintf(body, sizeof(body), "%s",
	         e2e_order_body("e2e-idem-long", "1 Main St", "p-0007", 1));
	cr_assert_eq(strlen(k1), 200);
	cr_assert_eq(e2e_post_order(body, k1, NULL, a, reply, sizeof(reply)), 202, "%s", reply);
	cr_assert_eq(e2e_post_order(body, k2, NULL, b, reply, sizeof(reply)), 202, "%s", reply);
	cr_expect_str_neq(a, b, "two keys of 200 characters were taken for one");
	cr_expect_eq(e2e_post_order(body, k3, NULL, NULL, reply, sizeof(reply)), 400, "%s", reply);
	cr_expect(strstr(reply, "\"field\":\"Idempotency-Key\""), "%s", reply);
	json_decref(e2e_wait_terminal(a, 30000));
	json_decref(e2e_wait_terminal(b, 30000));
}

Test(gateway, bytes_that_are_not_utf8_in_a_path_or_query_get_a_problem_document)
{
	const struct {
		const char *path;
		int status;
	} cases[] = {
	        {"/v1/orders/%FF%E2%82", 404},
	        {"/v1/orders?customer_id=%FF", 400},
	        {"/v1/orders?customer_id=a%00b", 400},
	        {"/v1/products/%C0%AF", 404},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct e2e_reply r;
		json_t *doc;

		cr_expect_eq(e2e_call("GET", cases[i].path, NULL, NULL, &r), cases[i].status,
		             "%s: %s", cases[i].path, r.body);
		doc = json_loads(r.body, 0, NULL);
		cr_expect_not_null(doc, "%s: not JSON: %s", cases[i].path, r.body);
		cr_expect_eq(json_integer_value(json_object_get(doc, "status")), cases[i].status,
		             "%s: %s", cases[i].path, r.body);
		cr_expect_not_null(json_object_get(doc, "detail"), "%s: %s", cases[i].path, r.body);
		json_decref(doc);
	}
}

/* Sum of the high watermarks of order-requests: what producers have written. */
static long long order_requests_written(void)
{
	char errstr[256];
	rd_kafka_conf_t *conf = support_kafka_conf();
	rd_kafka_t *rk;
	const struct rd_kafka_metadata *md;
	long long total = 0;

	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	cr_assert_not_null(rk);
	{
		rd_kafka_topic_t *t = rd_kafka_topic_new(rk, "order-requests", NULL);

		cr_assert_eq(rd_kafka_metadata(rk, 0, t, &md, 10000), 0);
		for (int p = 0; p < md->topics[0].partition_cnt; p++) {
			int64_t lo, hi;

			cr_assert_eq(rd_kafka_query_watermark_offsets(rk, "order-requests", p, &lo,
			                                              &hi, 10000),
			             0);
			total += hi;
		}
		rd_kafka_metadata_destroy(md);
		rd_kafka_topic_destroy(t);
	}
	rd_kafka_destroy(rk);
	return total;
}

struct bad_case {
	const char *name;
	const char *headers; /* beyond Authorization */
	const char *body;
	int status;
	const char *names; /* expected in the problem body */
};

Test(gateway, bad_input_gets_a_problem_naming_the_cause_and_nothing_reaches_kafka, .timeout = 120)
{
	static char big[70000], many[8192];
	const char *auth_json = "Content-Type: application/json\r\n";
	long long before = order_requests_written();
	size_t pos;

	memset(big, ' ', sizeof(big) - 1);
	big[0] = '{';
	big[sizeof(big) - 2] = '}';
	pos = (size_t)snprintf(many, sizeof(many),
	                       "{\"customer_id\":\"c\",\"currency\":\"EUR\","
	                       "\"shipping_address\":\"a\",\"items\":[");
	for (int i = 0; i < 60; i++)
		pos += (size_t)snprintf(many + pos, sizeof(many) - pos,
		                        "%s{\"product_id\":\"p-0001\",\"quantity\":1}",
		                        i ? "," : "");
	snprintf(many + pos, sizeof(many) - pos, "]}");

	const struct bad_case cases[] = {
	        {"missing field", auth_json,
	         "{\"currency\":\"EUR\",\"shipping_address\":\"a\",\"items\":[{\"product_id\":\"p-"
	         "0001\",\"quantity\":1}]}",
	         400, "\"field\":\"customer_id\""},
	        {"wrong type", auth_json,
	         "{\"customer_id\":5,\"currency\":\"EUR\",\"shipping_address\":\"a\",\"items\":[{"
	         "\"product_id\":\"p-0001\",\"quantity\":1}]}",
	         400, "\"field\":\"customer_id\""},
	        {"zero quantity", auth_json,
	         "{\"customer_id\":\"c\",\"currency\":\"EUR\",\"shipping_address\":\"a\",\"items\":"
	         "[{\"product_id\":\"p-0001\",\"quantity\":0}]}",
	         400, "\"field\":\"items[0].quantity\""},
	        {"negative quantity", auth_json,
	         "{\"customer_id\":\"c\",\"currency\":\"EUR\",\"shipping_address\":\"a\",\"items\":"
	         "[{\"product_id\":\"p-0001\",\"quantity\":-3}]}",
	         400, "\"field\":\"items[0].quantity\""},
	        {"huge quantity", auth_json,
	         "{\"customer_id\":\"c\",\"currency\":\"EUR\",\"shipping_address\":\"a\",\"items\":"
	         "[{\"product_id\":\"p-0001\",\"quantity\":99999999999}]}",
	         400, "\"field\":\"items[0].quantity\""},
	        {"quantity as text", auth_json,
	         "{\"customer_id\":\"c\",\"currency\":\"EUR\",\"shipping_address\":\"a\",\"items\":"
	         "[{\"product_id\":\"p-0001\",\"quantity\":\"2\"}]}",
	         400, "\"field\":\"items[0].quantity\""},
	        {"too many lines", auth_json, many, 400, "\"field\":\"items\""},
	        {"no lines", auth_json,
	         "{\"customer_id\":\"c\",\"currency\":\"EUR\",\"shipping_address\":\"a\",\"items\":"
	         "[]}",
	         400, "\"field\":\"items\""},
	        {"unknown currency", auth_json,
	         "{\"customer_id\":\"c\",\"currency\":\"XYZ\",\"shipping_address\":\"a\",\"items\":"
	         "[{\"product_id\":\"p-0001\",\"quantity\":1}]}",
	         400, "\"field\":\"currency\""},
	        {"not JSON", auth_json, "{\"customer_id\": nope", 400, "not valid JSON"},
	        {"invalid UTF-8", auth_json,
	         "{\"customer_id\":\"c\xff\xfe\",\"currency\":\"EUR\",\"shipping_address\":\"a\","
	         "\"items\":[{\"product_id\":\"p-0001\",\"quantity\":1}]}",
	         400, "not valid JSON"},
	        {"not an object", auth_json, "[1,2,3]", 400, "JSON object"},
	        {"body over the limit", auth_json, big, 413, "\"status\":413"},
	        {"not JSON content type", "Content-Type: text/plain\r\n", "{}", 415,
	         "application/json"},
	};
	char headers[512], reply[4096];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int status;

		snprintf(headers, sizeof(headers), "Authorization: Bearer %s\r\n%s",
		         support_env("API_KEY"), cases[i].headers);
		status = support_http(port(), "POST", "/v1/orders", headers, cases[i].body, reply,
		                      sizeof(reply));
		cr_expect_eq(status, cases[i].status, "%s: got %d: %s", cases[i].name, status,
		             reply);
		cr_expect(strstr(reply, cases[i].names), "%s: problem does not name the cause: %s",
		          cases[i].name, reply);
		cr_expect(cases[i].status == 413 || strstr(reply, "\"type\":\"about:blank\""),
		          "%s: not problem+json: %s", cases[i].name, reply);
	}
	/* No key, a wrong key. */
	cr_expect_eq(support_http(port(), "POST", "/v1/orders",
	                          "Content-Type: application/json\r\n",
	                          e2e_order_body("c", "a", "p-0001", 1), reply, sizeof(reply)),
	             401, "%s", reply);
	cr_expect_eq(
	        support_http(port(), "POST", "/v1/orders",
	                     "X-API-Key: not-a-real-key-123\r\nContent-Type: application/json\r\n",
	                     e2e_order_body("c", "a", "p-0001", 1), reply, sizeof(reply)),
	        401, "%s", reply);
	cr_expect(strstr(reply, "API key"), "%s", reply);
	cr_expect_eq(order_requests_written(), before, "a rejected request reached Kafka");
}

Test(gateway, the_rate_limit_answers_429_with_retry_after)
{
	char headers[512], reply[2048];
	int limited = 0, accepted = 0;

	/* LIMITED_API_KEY allows 3 requests per second. */
	snprintf(headers, sizeof(headers),
	         "Authorization: Bearer %s\r\nContent-Type: application/json\r\n",
	         support_env("LIMITED_API_KEY"));
	for (int i = 0; i < 10; i++) {
		int s = support_http(port(), "POST", "/v1/orders", headers,
		                     e2e_order_body("e2e-rate", "a", "p-0001", 1), reply,
		                     sizeof(reply));

		limited += s == 429;
		accepted += s == 202;
		if (s == 429)
			cr_expect(strstr(reply, "requests per second"), "%s", reply);
	}
	cr_expect_gt(limited, 0, "no request was limited");
	cr_expect_leq(accepted, 6, "%d accepted within about a second", accepted);
}

Test(gateway, an_order_reads_as_pending_until_projected_and_unknown_ids_are_404)
{
	char id[40], reply[1024], headers[256];
	json_t *o;

	cr_assert_eq(e2e_post_order(e2e_order_body("e2e-pending", "a", "p-0008", 1), NULL, NULL, id,
	                            reply, sizeof(reply)),
	             202);
	o = e2e_get_order(id);
	cr_assert_not_null(o, "an accepted order answered 404");
	json_decref(o);
	snprintf(headers, sizeof(headers), "X-API-Key: %s\r\n", support_env("API_KEY"));
	cr_expect_eq(support_http(port(), "GET", "/v1/orders/00000000-0000-0000-0000-000000000000",
	                          headers, NULL, reply, sizeof(reply)),
	             404);
	cr_expect_eq(support_http(port(), "GET", "/v1/products/p-0001", headers, NULL, reply,
	                          sizeof(reply)),
	             200);
	cr_expect(strstr(reply, "\"price_cents\"") && strstr(reply, "\"available\""), "%s", reply);
	/* Every route needs a key, the catalogue too (PUBLIC_CATALOGUE=false). */
	cr_expect_eq(support_http(port(), "GET", "/v1/products/p-0001", NULL, NULL, reply,
	                          sizeof(reply)),
	             401, "%s", reply);
	cr_expect_eq(support_http(port(), "GET", "/v1/products", NULL, NULL, reply, sizeof(reply)),
	             401, "%s", reply);
	json_decref(e2e_wait_terminal(id, 30000));
}

/* GET /v1/orders/{unknown} with a header of `bytes` bytes: the status. */
static int with_header_of(size_t bytes, char *reply, size_t size)
{
	char *headers = malloc(bytes + 256);
	int status;
	int n;

	cr_assert_not_null(headers);
	n = snprintf(headers, 256,
	             "Authorization: Bearer %s\r\nX-Padding: ", support_env("API_KEY"));
	memset(headers + n, 'a', bytes);
	strcpy(headers + n + bytes, "\r\n");
	status = support_http(port(), "GET", "/v1/orders/00000000-0000-4000-8000-000000000000",
	                      headers, NULL, reply, size);
	free(headers);
	return status;
}

Test(gateway, a_request_head_over_the_limit_gets_431_and_one_under_it_is_served)
{
	char reply[4096];
	int status;

	/* HTTP_MAX_HEADER_BYTES is 16 KiB; a connection's memory is larger (room
	 * for a stream's writes), so the gateway checks the limit itself. */
	status = with_header_of(12 * 1024, reply, sizeof(reply));
	cr_expect_eq(status, 404, "12 KiB of headers: %d %s", status, reply);
	status = with_header_of(20 * 1024, reply, sizeof(reply));
	cr_expect_eq(status, 431, "20 KiB of headers: %d %s", status, reply);
	cr_expect(strstr(reply, "\"status\":431"), "a problem document: %s", reply);
}
