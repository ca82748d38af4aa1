/*
 * End to end: the lists page. A customer's orders come newest first, a page
 * of `limit` at a time, each page's next_cursor leading to the next and null
 * on the last, with no order twice or missing; the catalogue pages the same
 * way by product id, past the first 100 products. Without a customer, the
 * list is everyone's newest orders. A customer id and an address as long as
 * docs/openapi.yaml allows, in characters of several bytes, go the whole way.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e.h"
#include "support.h"

#define ORDERS 5

/* GET path as JSON (a new reference); fails the test unless 200. */
static json_t *get_json(const char *path)
{
	struct e2e_reply r;
	json_t *j;

	cr_assert_eq(e2e_call("GET", path, NULL, NULL, &r), 200, "%s: %s", path, r.body);
	j = json_loads(r.body, 0, NULL);
	cr_assert_not_null(j, "%s: %s", path, r.body);
	return j;
}

Test(listing, a_customers_orders_page_newest_first)
{
	char customer[64], ids[ORDERS][40], path[512];
	const char *cursor = NULL;
	json_t *page = NULL;
	int seen = 0;

	support_unique(customer, sizeof(customer), "e2e-list");
	for (int i = 0; i < ORDERS; i++) {
		cr_assert_eq(e2e_post_order(e2e_order_body(customer, "1 List St", "p-0003", 1),
		                            NULL, NULL, ids[i], NULL, 0),
		             202);
		usleep(5000); /* distinct request times */
	}
	for (int i = 0; i < ORDERS; i++)
		json_decref(e2e_wait_terminal(ids[i], 60000));
	do {
		json_t *next = NULL, *items;
		size_t n;

		snprintf(path, sizeof(path), "/v1/orders?customer_id=%s&limit=2%s%s", customer,
		         cursor ? "&cursor=" : "", cursor ? cursor : "");
		next = get_json(path);
		json_decref(page);
		page = next;
		items = json_object_get(page, "items");
		n = json_array_size(items);
		cr_assert(n <= 2, "a page of %zu with limit 2", n);
		for (size_t k = 0; k < n; k++, seen++) {
			const char *id = json_string_value(
			        json_object_get(json_array_get(items, k), "order_id"));

			cr_assert(seen < ORDERS, "more orders listed than placed");
			/* Newest first: the last placed comes first. */
			cr_expect_str_eq(id, ids[ORDERS - 1 - seen], "position %d", seen);
		}
		cursor = json_string_value(json_object_get(page, "next_cursor"));
	} while (cursor);
	cr_expect_eq(seen, ORDERS);
	json_decref(page);
	cr_expect_eq(e2e_call("GET", "/v1/orders?customer_id=x&cursor=nonsense", NULL, NULL,
	                      &(struct e2e_reply){0}),
	             400);
}

Test(listing, without_a_customer_everyones_newest_orders_come_first)
{
	char a[40], b[40];
	json_t *page, *items;

	cr_assert_eq(e2e_post_order(e2e_order_body("e2e-recent-1", "1 List St", "p-0003", 1), NULL,
	                            NULL, a, NULL, 0),
	             202);
	usleep(5000);
	cr_assert_eq(e2e_post_order(e2e_order_body("e2e-recent-2", "1 List St", "p-0003", 1), NULL,
	                            NULL, b, NULL, 0),
	             202);
	json_decref(e2e_wait_terminal(a, 60000));
	json_decref(e2e_wait_terminal(b, 60000));
	page = get_json("/v1/orders?limit=100");
	items = json_object_get(page, "items");
	cr_assert_gt(json_array_size(items), 1);
	cr_expect_null(json_object_get(page, "customer_id"));
	/* Others may order meanwhile: b comes before a, both among the newest. */
	{
		int at_a = -1, at_b = -1;

		for (size_t k = 0; k < json_array_size(items); k++) {
			const char *id = json_string_value(
			        json_object_get(json_array_get(items, k), "order_id"));

			at_a = !strcmp(id, a) ? (int)k : at_a;
			at_b = !strcmp(id, b) ? (int)k : at_b;
		}
		cr_expect(at_b >= 0 && at_a > at_b, "newest first: %s at %d, %s at %d", b, at_b, a,
		          at_a);
	}
	json_decref(page);
}

Test(listing, the_catalogue_pages_past_its_first_hundred)
{
	char path[256], last[128] = "";
	const char *cursor = NULL;
	json_t *page = NULL;
	int products = 0, pages = 0;

	do {
		json_t *items;

		snprintf(path, sizeof(path), "/v1/products?limit=100%s%s", cursor ? "&cursor=" : "",
		         cursor ? cursor : "");
		json_decref(page);
		page = get_json(path);
		items = json_object_get(page, "items");
		for (size_t k = 0; k < json_array_size(items); k++, products++) {
			const char *id = json_string_value(
			        json_object_get(json_array_get(items, k), "product_id"));

			cr_assert_gt(strcmp(id, last), 0, "%s after %s: not in order", id, last);
			snprintf(last, sizeof(last), "%s", id);
		}
		pages++;
		cursor = json_string_value(json_object_get(page, "next_cursor"));
	} while (cursor && pages < 1000);
	json_decref(page);
	/* The stack seeds 1,000 products (SEED_PRODUCTS); tests add more. */
	cr_expect_geq(products, 1000, "%d products in %d pages", products, pages);
	cr_expect_geq(pages, 10);
}

/* A copy of s with every byte outside [A-Za-z0-9-] percent-encoded. */
static char *url_encoded(const char *s)
{
	char *out = malloc(3 * strlen(s) + 1), *o = out;

	cr_assert_not_null(out);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-')
			*o++ = (char)c;
		else
			o += sprintf(o, "%%%02X", c);
	}
	*o = '\0';
	return out;
}

Test(listing, a_customer_id_and_address_of_non_ascii_characters_at_their_limits)
{
	/* 100 characters of a customer id (docs/openapi.yaml's maxLength): a
	 * unique prefix, then "€" (3 bytes in UTF-8); 500 of an address, "😀"
	 * (4 bytes) and "ü" (2). */
	char customer[512], address[2048] = "", id[40], path[2048];
	json_t *body, *order, *page, *item;
	char *text, *query;
	size_t n;

	n = (size_t)snprintf(customer, sizeof(customer), "e2e-%ld-", (long)getpid());
	for (size_t k = n; k < 100; k++)
		strcat(customer, "\xE2\x82\xAC");
	for (int k = 0; k < 250; k++)
		strcat(address, "\xF0\x9F\x98\x80\xC3\xBC");
	body = json_pack("{s:s, s:s, s:s, s:[{s:s, s:i}]}", "customer_id", customer, "currency",
	                 "EUR", "shipping_address", address, "items", "product_id", "p-0003",
	                 "quantity", 1);
	text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	cr_assert_eq(e2e_post_order(text, NULL, NULL, id, NULL, 0), 202,
	             "100 and 500 characters of several bytes each are within the limits");
	free(text);
	order = e2e_wait_terminal(id, 60000);
	cr_assert_not_null(order);
	cr_expect_str_eq(json_string_value(json_object_get(order, "status")), "COMPLETED");
	json_decref(order);
	query = url_encoded(customer);
	snprintf(path, sizeof(path), "/v1/orders?customer_id=%s", query);
	free(query);
	page = get_json(path);
	cr_expect_str_eq(json_string_value(json_object_get(page, "customer_id")), customer);
	item = json_array_get(json_object_get(page, "items"), 0);
	cr_expect_str_eq(json_string_value(json_object_get(item, "order_id")), id,
	                 "the customer's list has its order");
	json_decref(page);
	/* One character more is refused, in the list as in the order. */
	query = url_encoded(customer);
	snprintf(path, sizeof(path), "/v1/orders?customer_id=%s%%C3%%BC", query);
	free(query);
	cr_expect_eq(e2e_call("GET", path, NULL, NULL, &(struct e2e_reply){0}), 400);
}
