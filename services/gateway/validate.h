/*
 * validate.h - checking an order request body before anything reaches Kafka.
 */
#ifndef GATEWAY_VALIDATE_H
#define GATEWAY_VALIDATE_H

#include <stddef.h>

#include <jansson.h>

/* Characters (Unicode code points, as docs/openapi.yaml's maxLength counts
 * them) of a customer_id, and of an order's ids; in UTF-8 at most four
 * bytes each. */
#define ORDER_MAX_ID       100
#define ORDER_MAX_ID_BYTES (4 * ORDER_MAX_ID)

struct order_limits {
	const char *currencies; /* comma-separated, e.g. "EUR,USD" */
	long max_lines;
	long max_quantity;
};

/*
 * Parses and checks a POST /v1/orders body. Returns 0 with *out (a new
 * object holding only the accepted fields), or an HTTP status (400) with
 * the offending field (e.g. "items[2].quantity", or "" for the body as a
 * whole) and a sentence saying what is wrong.
 */
int order_request_validate(const char *body, size_t len, const struct order_limits *limits,
                           json_t **out, char *field, size_t field_size, char *detail,
                           size_t detail_size);

#endif
