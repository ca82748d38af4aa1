#include "validate.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "utf8.h"

#define MAX_ID         ORDER_MAX_ID
#define MAX_ADDRESS    500
#define MAX_PRODUCT_ID 64

static int reject(char *field, size_t fsize, const char *name, char *detail, size_t dsize,
                  const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int reject(char *field, size_t fsize, const char *name, char *detail, size_t dsize,
                  const char *fmt, ...)
{
	va_list ap;

	snprintf(field, fsize, "%s", name);
	va_start(ap, fmt);
	vsnprintf(detail, dsize, fmt, ap);
	va_end(ap);
	return 400;
}

static bool currency_allowed(const char *list, const char *code)
{
	size_t n = strlen(code);

	for (const char *p = list; p && *p;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);

		if (len == n && strncmp(p, code, n) == 0)
			return true;
		p = comma ? comma + 1 : NULL;
	}
	return false;
}

/* A required string of 1..max characters without control characters (jansson
 * has checked that it is UTF-8). */
static const char *text_field(const json_t *obj, const char *name, size_t max, int *status,
                              char *field, size_t fsize, const char *path, char *detail,
                              size_t dsize)
{
	const json_t *v = json_object_get(obj, name);
	size_t len;

	if (!v) {
		*status = reject(field, fsize, path, detail, dsize, "%s is required", path);
		return NULL;
	}
	if (!json_is_string(v)) {
		*status = reject(field, fsize, path, detail, dsize, "%s must be a string", path);
		return NULL;
	}
	len = json_string_length(v);
	if (len == 0 || utf8_chars(json_string_value(v)) > max) {
		*status = reject(field, fsize, path, detail, dsize,
		                 "%s must be 1 to %zu characters long", path, max);
		return NULL;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)json_string_value(v)[i];

		if (ch < 0x20 || ch == 0x7F) {
			*status = reject(field, fsize, path, detail, dsize,
			                 "%s must not contain control characters", path);
			return NULL;
		}
	}
	return json_string_value(v);
}

/* An integer, as JSON Schema has it: 2 and 2.0 (a number whose fraction is
 * zero) alike. The body is read with every number as a double (an integer
 * past 64 bits in a field the gateway ignores is no reason to refuse it), so
 * one past 2^53 is taken as at least that (out of any range checked). */
static bool whole_number(const json_t *v, json_int_t *out)
{
	double d;

	if (!json_is_number(v))
		return false;
	d = json_number_value(v);
	if (d != floor(d))
		return false;
	*out = d > 9.0e15 ? (json_int_t)9.0e15 : d < -9.0e15 ? (json_int_t)-9.0e15 : (json_int_t)d;
	return true;
}

int order_request_validate(const char *body, size_t len, const struct order_limits *limits,
                           json_t **out, char *field, size_t fsize, char *detail, size_t dsize)
{
	json_error_t jerr;
	json_t *doc, *items, *accepted = NULL, *lines;
	const char *customer, *currency, *address;
	int status = 0;
	size_t i;
	json_t *item;

	*out = NULL;
	doc = json_loadb(body, len,
	                 JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL, &jerr);
	if (!doc)
		return reject(field, fsize, "", detail, dsize, "the body is not valid JSON: %s",
		              jerr.text);
	if (!json_is_object(doc)) {
		status = reject(field, fsize, "", detail, dsize, "the body must be a JSON object");
		goto out;
	}
	if (!(customer = text_field(doc, "customer_id", MAX_ID, &status, field, fsize,
	                            "customer_id", detail, dsize)) ||
	    !(currency = text_field(doc, "currency", 3, &status, field, fsize, "currency", detail,
	                            dsize)) ||
	    !(address = text_field(doc, "shipping_address", MAX_ADDRESS, &status, field, fsize,
	                           "shipping_address", detail, dsize)))
		goto out;
	if (!currency_allowed(limits->currencies, currency)) {
		status = reject(field, fsize, "currency", detail, dsize,
		                "unknown currency \"%s\"; accepted: %s", currency,
		                limits->currencies);
		goto out;
	}
	items = json_object_get(doc, "items");
	if (!json_is_array(items)) {
		status = reject(field, fsize, "items", detail, dsize,
		                "items is required and must be an array");
		goto out;
	}
	if (json_array_size(items) == 0 || json_array_size(items) > (size_t)limits->max_lines) {
		status = reject(field, fsize, "items", detail, dsize, "an order has 1 to %ld lines",
		                limits->max_lines);
		goto out;
	}
	lines = json_array();
	accepted = json_pack("{s:s, s:s, s:s, s:o}", "customer_id", customer, "currency", currency,
	                     "shipping_address", address, "items", lines);
	json_array_foreach (items, i, item) {
		char path[64];
		const char *pid;
		json_int_t quantity;

		snprintf(path, sizeof(path), "items[%zu]", i);
		if (!json_is_object(item)) {
			status = reject(field, fsize, path, detail, dsize, "%s must be an object",
			                path);
			goto out;
		}
		snprintf(path, sizeof(path), "items[%zu].product_id", i);
		pid = text_field(item, "product_id", MAX_PRODUCT_ID, &status, field, fsize, path,
		                 detail, dsize);
		if (!pid)
			goto out;
		snprintf(path, sizeof(path), "items[%zu].quantity", i);
		if (!whole_number(json_object_get(item, "quantity"), &quantity)) {
			status = reject(field, fsize, path, detail, dsize,
			                "%s is required and must be an integer", path);
			goto out;
		}
		if (quantity < 1 || quantity > limits->max_quantity) {
			status = reject(field, fsize, path, detail, dsize,
			                "%s must be between 1 and %ld", path, limits->max_quantity);
			goto out;
		}
		json_array_append_new(
		        lines, json_pack("{s:s, s:I}", "product_id", pid, "quantity", quantity));
	}
	*out = accepted;
	accepted = NULL;
out:
	json_decref(accepted);
	json_decref(doc);
	return status;
}
