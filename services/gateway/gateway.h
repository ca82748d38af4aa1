/*
 * gateway.h - the HTTP gateway: takes orders (202 only after the broker has
 * acknowledged OrderRequested), answers order status and the catalogue from
 * a Redis read model that it keeps by consuming the saga's topics (CQRS).
 */
#ifndef GATEWAY_GATEWAY_H
#define GATEWAY_GATEWAY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <librdkafka/rdkafka.h>

#include "codec.h"
#include "http.h"
#include "kafka.h"
#include "metrics.h"
#include "overview.h"
#include "redis.h"
#include "sse.h"
#include "ui.h"
#include "validate.h"

#define GATEWAY_MAX_KEYS 16

struct api_key {
	char *key;
	char id[33]; /* its name in Redis keys (a hash): never the key itself */
	long limit;  /* requests per second */
};

struct gateway {
	const struct codec *codec;
	struct redis_pool *redis;
	struct kafka_publisher *producer; /* OrderRequested, acks=all, idempotent */
	struct order_limits limits;
	struct api_key keys[GATEWAY_MAX_KEYS];
	int nkeys;
	long ack_timeout_ms;
	long idempotency_ttl_s;
	int fetch_min_bytes, fetch_wait_ms; /* the projector's consumer */
	bool public_catalogue;              /* GET /v1/products without an API key */
	struct sse_hub *events;             /* GET /v1/events, fed by the projector */
	struct overview *overview;          /* GET /v1/overview */
	struct ui *ui;                      /* GET /ui/ */
	struct metric *m_accepted, *m_rejected, *m_latency;
	struct metrics *metrics;
};

/* The routes of the public API (api.c). */
extern const struct http_route gateway_routes[];
extern const size_t gateway_nroutes;

/* Parses API_KEYS ("key:limit,key:limit"); returns the count or -1. */
int gateway_parse_keys(struct gateway *g, char *spec);

/* Authentication and rate limit (api.c): the caller's key, or NULL once
 * the refusal (401, 429 or 503) is in res. */
const struct api_key *gateway_admit(struct gateway *g, const struct http_request *req,
                                    struct http_response *res);

/* 503 with Retry-After: what (a store the answer needs) cannot be reached. */
void gateway_unavailable(struct http_response *res, const char *what);

/* The live views (live.c): the event stream, the overview, the page. */
void gateway_get_events(void *ctx, const struct http_request *req, struct http_response *res);
void gateway_get_overview(void *ctx, const struct http_request *req, struct http_response *res);
void gateway_get_ui(void *ctx, const struct http_request *req, struct http_response *res);

/* The read model projector (projector.c): consumes the saga topics and the
 * catalogue into Redis until stopped; a finished order's record expires
 * ttl_s after its last event. */
struct projector;
int projector_start(struct projector **out, struct gateway *g, const struct kafka_endpoint *kafka,
                    const char *redis_url, long ttl_s, char *errstr,
                    size_t errstr_size) WARN_UNUSED;
void projector_stop(struct projector *p);

/* The data of the event stream's frame for an order's event of type, in
 * full and brief (both malloc'd; false when it has none): both say how it
 * moves the order (its status or sub-status, its total, why it was
 * cancelled); the full form says besides what the event is, when it
 * happened, whose order it is and what caused it. */
bool projector_frame(const char *type, const json_t *record, char **full, char **brief);

#endif
