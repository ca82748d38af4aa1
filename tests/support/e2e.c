#include "e2e.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "codec.h"
#include "outbox.h"
#include "support.h"

static int gateway_port(void)
{
	const char *url = support_env("GATEWAY_URL");
	const char *colon = strrchr(url, ':');

	return colon ? atoi(colon + 1) : 8080;
}

int e2e_post_order(const char *body, const char *idem, const char *api_key, char *order_id,
                   char *reply, size_t reply_size)
{
	char headers[512], buf[4096];
	int status;

	snprintf(headers, sizeof(headers),
	         "Authorization: Bearer %s\r\nContent-Type: application/json\r\n%s%s%s",
	         api_key ? api_key : support_env("API_KEY"), idem ? "Idempotency-Key: " : "",
	         idem ? idem : "", idem ? "\r\n" : "");
	status =
	        support_http(gateway_port(), "POST", "/v1/orders", headers, body, buf, sizeof(buf));
	if (reply)
		snprintf(reply, reply_size, "%s", buf);
	if (order_id) {
		json_t *j = json_loads(buf, 0, NULL);

		order_id[0] = '\0';
		if (status == 202 && j)
			snprintf(order_id, 37, "%s",
			         json_string_value(json_object_get(j, "order_id")));
		json_decref(j);
	}
	return status;
}

int e2e_call(const char *method, const char *path, const char *extra_headers, const char *body,
             struct e2e_reply *r)
{
	char headers[1024];

	snprintf(headers, sizeof(headers), "%s%s%s%s",
	         extra_headers && strstr(extra_headers, "Authorization:")
	                 ? ""
	                 : "Authorization: Bearer ",
	         extra_headers && strstr(extra_headers, "Authorization:") ? ""
	                                                                  : support_env("API_KEY"),
	         extra_headers && strstr(extra_headers, "Authorization:") ? "" : "\r\n",
	         extra_headers ? extra_headers : "");
	r->status = support_http_full(gateway_port(), method, path, headers, body, r->head,
	                              sizeof(r->head), r->body, sizeof(r->body));
	return r->status;
}

const char *e2e_header(const struct e2e_reply *r, const char *name)
{
	static char value[512];

	return support_http_header(r->head, name, value, sizeof(value)) ? value : "";
}

int e2e_cancel(const char *order_id, struct e2e_reply *r)
{
	char path[160];

	snprintf(path, sizeof(path), "/v1/orders/%s/cancel", order_id);
	return e2e_call("POST", path, NULL, NULL, r);
}

const char *e2e_order_body(const char *customer, const char *address, const char *product,
                           int quantity)
{
	static char body[1024];

	snprintf(body, sizeof(body),
	         "{\"customer_id\":\"%s\",\"currency\":\"EUR\",\"shipping_address\":\"%s\","
	         "\"items\":[{\"product_id\":\"%s\",\"quantity\":%d}]}",
	         customer, address, product, quantity);
	return body;
}

json_t *e2e_get_order(const char *order_id)
{
	char path[128], headers[256], buf[16384];

	snprintf(path, sizeof(path), "/v1/orders/%s", order_id);
	snprintf(headers, sizeof(headers), "X-API-Key: %s\r\n", support_env("API_KEY"));
	if (support_http(gateway_port(), "GET", path, headers, NULL, buf, sizeof(buf)) != 200)
		return NULL;
	return json_loads(buf, 0, NULL);
}

json_t *e2e_wait_terminal(const char *order_id, int timeout_ms)
{
	long long deadline = support_now_ms() + timeout_ms;
	json_t *o = NULL;

	do {
		const char *st;

		json_decref(o);
		o = e2e_get_order(order_id);
		st = json_string_value(json_object_get(o, "status"));
		if (st && (!strcmp(st, "COMPLETED") || !strcmp(st, "CANCELLED")))
			return o;
		usleep(100 * 1000);
	} while (support_now_ms() < deadline);
	cr_assert_fail("order %s did not finish within %d ms (status %s)", order_id, timeout_ms,
	               o ? json_string_value(json_object_get(o, "status")) : "none");
	return o;
}

static const char *db_url(const char *prefix)
{
	char name[64];

	snprintf(name, sizeof(name), "%s_DATABASE_URL", prefix);
	return support_env(name);
}

long long e2e_db(const char *prefix, const char *sql, const char *param)
{
	const char *params[] = {param, NULL};

	return support_db_value(db_url(prefix), sql, param ? params : NULL);
}

const char *e2e_db_text(const char *prefix, const char *sql, const char *param)
{
	static char out[512];
	PGconn *c = PQconnectdb(db_url(prefix));
	const char *params[1] = {param};
	PGresult *r;

	out[0] = '\0';
	r = PQexecParams(c, sql, param ? 1 : 0, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0)
		snprintf(out, sizeof(out), "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	PQfinish(c);
	return out;
}

void e2e_make_product(const char *product_id, long long price_cents, int stock)
{
	PGconn *c = PQconnectdb(db_url("INVENTORY"));
	struct outbox *ob;
	struct outbox_cfg oc;
	char err[256], price[32], qty[16], headers[256], path[128];
	const char *p[3] = {product_id, price, qty};
	PGresult *r;

	cr_assert_eq(PQstatus(c), CONNECTION_OK);
	oc = (struct outbox_cfg){support_codec(), "inventory"};
	cr_assert_eq(outbox_new(&ob, &oc), 0);
	snprintf(price, sizeof(price), "%lld", price_cents);
	snprintf(qty, sizeof(qty), "%d", stock);
	PQclear(PQexec(c, "BEGIN"));
	r = PQexecParams(
	        c,
	        "INSERT INTO products (product_id, name, price_cents, currency, initial_stock,"
	        " available) VALUES ($1, 'Test product', $2, 'EUR', $3, $3)",
	        3, NULL, p, NULL, NULL, 0);
	cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s", PQresultErrorMessage(r));
	PQclear(r);
	cr_assert_eq(
	        outbox_add(ob, c, "ProductUpdated",
	                   json_pack("{s:s, s:s, s:I, s:s, s:i}", "product_id", product_id, "name",
	                             "Test product", "price_cents", (json_int_t)price_cents,
	                             "currency", "EUR", "available", stock),
	                   NULL, product_id, NULL, NULL, NULL, err, sizeof(err)),
	        0, "%s", err);
	PQclear(PQexec(c, "COMMIT"));
	outbox_free(ob);
	PQfinish(c);
	snprintf(path, sizeof(path), "/v1/products/%s", product_id);
	snprintf(headers, sizeof(headers), "X-API-Key: %s\r\n", support_env("API_KEY"));
	for (int i = 0; i < 200; i++) {
		if (support_http(gateway_port(), "GET", path, headers, NULL, NULL, 0) == 200 &&
		    e2e_db("ORDER", "SELECT count(*) FROM products WHERE product_id = $1",
		           product_id) == 1)
			return;
		usleep(50 * 1000);
	}
	cr_assert_fail("product %s did not reach the catalogue copies", product_id);
}

void e2e_expect_invariants(void)
{
	char cmd[512], out[8192];
	FILE *f;
	size_t n;
	int status;

	snprintf(cmd, sizeof(cmd), "CHECK_SETTLE_S=120 %s 2>&1", support_bin("check-invariants"));
	f = popen(cmd, "r");
	cr_assert_not_null(f);
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = '\0';
	status = pclose(f);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "invariants violated:\n%s", out);
	{
		/* How long the saga took to come to rest, for the test log. */
		const char *w = strstr(out, "at rest");

		if (w)
			cr_log_info("check-invariants: %.*s", (int)strcspn(w, "\n"), w);
	}
}

const char *e2e_history(const json_t *order)
{
	static char out[2048];
	size_t pos = 0, i;
	const json_t *e;

	out[0] = '\0';
	json_array_foreach (json_object_get(order, "history"), i, e) {
		int n = snprintf(out + pos, sizeof(out) - pos, "%s%s", pos ? "," : "",
		                 json_string_value(json_object_get(e, "event")));

		if (n < 0 || (size_t)n >= sizeof(out) - pos)
			break;
		pos += (size_t)n;
	}
	return out;
}
