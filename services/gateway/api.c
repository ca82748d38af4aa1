#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <hiredis/hiredis.h>
#include <openssl/evp.h>

#include "clock.h"
#include "event.h"
#include "schema.h"
#include "gateway.h"
#include "idem.h"
#include "log.h"
#include "outbox.h"
#include "readmodel.h"

/*
 * A key's name in Redis: hex of the first 16 bytes of SHA-256 over a fixed
 * prefix and the key. Redis (and whoever reads it) never sees a key.
 */
static void key_id(const char *key, char *out, size_t size)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) ||
	    !EVP_DigestUpdate(ctx, "saga-api-key:", 13) ||
	    !EVP_DigestUpdate(ctx, key, strlen(key)) || !EVP_DigestFinal_ex(ctx, md, &len) ||
	    len < 16)
		BUG("sha-256 is not available");
	EVP_MD_CTX_free(ctx);
	for (unsigned int i = 0; i < 16 && 2 * i + 2 < size; i++)
		snprintf(out + 2 * i, size - 2 * i, "%02x", md[i]);
}

int gateway_parse_keys(struct gateway *g, char *spec)
{
	g->nkeys = 0;
	for (char *p = spec; p && *p && g->nkeys < GATEWAY_MAX_KEYS;) {
		char *comma = strchr(p, ',');
		char *colon, *end;
		long limit = 100;

		if (comma)
			*comma = '\0';
		colon = strchr(p, ':');
		if (colon) {
			*colon = '\0';
			limit = strtol(colon + 1, &end, 10);
			if (*end || limit < 1)
				return -1;
		}
		if (strlen(p) < 8)
			return -1; /* too short to be a key */
		g->keys[g->nkeys] = (struct api_key){.key = p, .limit = limit};
		key_id(p, g->keys[g->nkeys].id, sizeof(g->keys[g->nkeys].id));
		g->nkeys++;
		p = comma ? comma + 1 : NULL;
	}
	return g->nkeys;
}

/* The caller's key (Authorization: Bearer, or X-API-Key), or NULL. */
static const struct api_key *authenticate(struct gateway *g, const struct http_request *req)
{
	const char *auth = http_request_header(req, "Authorization");
	const char *key = http_request_header(req, "X-API-Key");

	if (auth && strncasecmp(auth, "Bearer ", 7) == 0)
		key = auth + 7;
	if (!key)
		return NULL;
	for (int i = 0; i < g->nkeys; i++)
		if (strcmp(g->keys[i].key, key) == 0)
			return &g->keys[i];
	return NULL;
}

/* Fixed one-second window per key. Returns 1 when over the limit, 0 when
 * within, -1 when Redis cannot be asked. */
static int over_limit(struct gateway *g, const struct api_key *k)
{
	char why[256];
	int slot;
	redisContext *c = redis_pool_get(g->redis, &slot, why, sizeof(why));
	redisReply *r;
	long long count = -1;

	if (!c)
		return -1;
	redisAppendCommand(c, "INCR " READMODEL_RATE, k->id, (long long)time(NULL));
	redisAppendCommand(c, "EXPIRE " READMODEL_RATE " 2", k->id, (long long)time(NULL));
	if (redisGetReply(c, (void **)&r) == REDIS_OK && r) {
		count = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
		freeReplyObject(r);
		if (redisGetReply(c, (void **)&r) == REDIS_OK)
			freeReplyObject(r);
	}
	redis_pool_put(g->redis, slot, c->err != 0);
	return count < 0 ? -1 : count > k->limit;
}

/* Runs one command on a pooled connection; the reply (or NULL) is the caller's. */
static redisReply *redis_cmd(struct gateway *g, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static redisReply *redis_cmd(struct gateway *g, const char *fmt, ...)
{
	char why[256];
	redisReply *r;
	va_list ap;

	va_start(ap, fmt);
	r = redis_pool_vcommand(g->redis, why, sizeof(why), fmt, ap);
	va_end(ap);
	return r;
}

/*
 * After the broker's acknowledgement, in one round trip: the order reads as
 * PENDING until projected, joins the set of accepted orders (the invariant
 * checker's list), and its Idempotency-Key (when given) is marked done.
 */
static void record_accepted(struct gateway *g, const char *order_id, const struct idem *idem)
{
	char why[256], value[160];
	int slot, n = 2;
	redisContext *c = redis_pool_get(g->redis, &slot, why, sizeof(why));
	redisReply *r;

	if (!c) {
		LOG(WARN, "could not record accepted order %s in redis: %s", order_id, why);
		return;
	}
	redisAppendCommand(c, "HSETNX " READMODEL_ORDER " status PENDING", order_id);
	redisAppendCommand(c, "ZADD " READMODEL_ACCEPTED " %lld %s", (long long)time(NULL),
	                   order_id);
	if (idem) {
		idem_format(idem, IDEM_DONE, value, sizeof(value));
		redisAppendCommand(c, "SET %s %s EX %ld", idem->key, value, g->idempotency_ttl_s);
		n++;
	}
	while (n-- > 0 && redisGetReply(c, (void **)&r) == REDIS_OK)
		freeReplyObject(r);
	redis_pool_put(g->redis, slot, c->err != 0);
}

/* Produces OrderRequested and waits for the broker's acknowledgement. */
static int publish_order(struct gateway *g, const char *order_id, const char *event_id,
                         json_t *request, const char *traceparent, char *why, size_t size)
{
	unsigned char *value = NULL;
	char *headers = NULL;
	size_t len;
	int rc;

	json_object_set_new(request, "order_id", json_string(order_id));
	json_object_set_new(request, "metadata",
	                    event_metadata("gateway", NULL, order_id, traceparent));
	/* The same event id on every try: a republished order is a duplicate. */
	json_object_set_new(json_object_get(request, "metadata"), "event_id",
	                    json_string(event_id));
	rc = codec_encode(g->codec, "OrderRequested", request, &value, &len, why, size);
	if (rc == 0 && !(headers = outbox_event_headers("OrderRequested", request))) {
		snprintf(why, size, "out of memory");
		rc = ERR_NOMEM;
	}
	/* The topic is the schema's (x-topic), like every event's. */
	if (rc == 0)
		rc = kafka_sync_produce(g->producer, codec_topic(g->codec, "OrderRequested"),
		                        order_id, value, len, kafka_headers_parse(headers), why,
		                        size);
	free(headers);
	free(value);
	return rc;
}

/* A W3C traceparent: the caller's when valid, else a new trace. */
static void traceparent_for(const struct http_request *req, char *out, size_t size)
{
	const char *tp = http_request_header(req, "traceparent");
	char trace[40], span[40];

	if (tp && strlen(tp) == 55 && tp[2] == '-' && tp[35] == '-' && tp[52] == '-') {
		/* Same trace, a new span of ours. */
		event_uuid_random(span);
		snprintf(out, size, "00-%.32s-%.8s%.8s-01", tp + 3, span, span + 9);
		return;
	}
	event_uuid_random(trace);
	event_uuid_random(span);
	snprintf(out, size, "00-%.8s%.4s%.4s%.4s%.12s-%.8s%.8s-01", trace, trace + 9, trace + 14,
	         trace + 19, trace + 24, span, span + 9);
}

static void accepted(struct http_response *res, const char *order_id)
{
	char body[128], location[96];

	snprintf(body, sizeof(body), "{\"order_id\":\"%s\",\"status\":\"PENDING\"}", order_id);
	snprintf(location, sizeof(location), "/v1/orders/%s", order_id);
	http_reply(res, 202, "application/json", body);
	http_reply_header(res, "Location", location);
}

/* Step 1: authentication, rate limit, media type. The caller's key, or
 * NULL once the refusal is in res. */
static const struct api_key *admit(struct gateway *g, const struct http_request *req,
                                   struct http_response *res)
{
	const struct api_key *key = authenticate(g, req);
	const char *ctype = http_request_header(req, "Content-Type");
	int over;

	if (!key) {
		http_reply_problem(res, 401, NULL,
		                   "a valid API key is required "
		                   "(Authorization: Bearer <key> or X-API-Key)");
		http_reply_header(res, "WWW-Authenticate", "Bearer");
		return NULL;
	}
	over = over_limit(g, key);
	if (over != 0) {
		if (over > 0)
			http_reply_problem(res, 429, NULL, "more than %ld requests per second",
			                   key->limit);
		else
			http_reply_problem(res, 503, NULL, "the rate limiter is unavailable");
		http_reply_header(res, "Retry-After", "1");
		return NULL;
	}
	if (!ctype || strncasecmp(ctype, "application/json", 16) != 0 ||
	    (ctype[16] && ctype[16] != ';' && ctype[16] != ' ')) {
		http_reply_problem(res, 415, NULL, "the body must be application/json");
		return NULL;
	}
	return key;
}

/*
 * Step 2, with an Idempotency-Key: binds it to the proposed order and event
 * ids in claim, or finds what it is bound to. True when the order is to be
 * published (new, or pending since a try whose outcome is unknown: claim
 * then holds that try's ids); false once the answer is in res.
 */
static bool claim_key(struct gateway *g, const char *header, struct idem *claim,
                      struct http_response *res)
{
	enum idem_state state;
	char why[256];

	if (idem_claim(g->redis, claim, g->idempotency_ttl_s, &state, why, sizeof(why)) < 0) {
		LOG(WARN, "idempotency store: %s", why);
		http_reply_problem(res, 503, NULL, "the idempotency store is unavailable");
		http_reply_header(res, "Retry-After", "1");
		return false;
	}
	if (state == IDEM_CONFLICT) {
		http_reply_problem(res, 409, NULL,
		                   "Idempotency-Key \"%s\" was used with another body", header);
		return false;
	}
	if (state == IDEM_DONE) {
		accepted(res, claim->order_id);
		return false;
	}
	return true;
}

static void post_order(void *ctx, const struct http_request *req, struct http_response *res)
{
	struct gateway *g = ctx;
	const struct api_key *key = admit(g, req, res);
	const char *idem = http_request_header(req, "Idempotency-Key");
	char field[64], detail[256], why[256], tp[64];
	struct idem claim = {0};
	json_t *order = NULL;
	long long t0 = clock_mono_ms();
	int rc;

	if (!key) {
		metric_add(g->m_rejected, 1);
		return;
	}
	rc = order_request_validate(req->body, req->body_len, &g->limits, &order, field,
	                            sizeof(field), detail, sizeof(detail));
	if (rc != 0) {
		metric_add(g->m_rejected, 1);
		http_reply_problem(res, rc, field[0] ? field : NULL, "%s", detail);
		return;
	}
	if (idem)
		idem_init(&claim, key->id, idem, req->body, req->body_len);
	event_uuid(claim.order_id);
	event_uuid(claim.event_id);
	if (idem && !claim_key(g, idem, &claim, res))
		goto out;
	/* Step 3: publish and wait for the broker's acknowledgement. */
	traceparent_for(req, tp, sizeof(tp));
	rc = publish_order(g, claim.order_id, claim.event_id, order, tp, why, sizeof(why));
	if (rc < 0) {
		struct log_fields f = {.order_id = claim.order_id,
		                       .correlation_id = claim.order_id};

		/* Not acknowledged is not lost: the broker may have it. The key
		 * stays pending, so a retry publishes this order again. */
		LOGX(WARN, &f, "could not publish order %s: %s", claim.order_id, why);
		http_reply_problem(
		        res, 503, NULL,
		        idem ? "the order was not acknowledged (%s): retry with the same "
		               "Idempotency-Key"
		             : "the order could not be taken: %s",
		        why);
		http_reply_header(res, "Retry-After", "1");
		goto out;
	}
	/* Step 4: the order exists. Until projected it reads as PENDING. */
	record_accepted(g, claim.order_id, idem ? &claim : NULL);
	metric_add(g->m_accepted, 1);
	metric_observe(g->m_latency, (double)(clock_mono_ms() - t0) / 1000.0);
	accepted(res, claim.order_id);
out:
	json_decref(order);
}

/* Orders history entries by their time. */
static int by_time(const void *a, const void *b)
{
	json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "at"));
	json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, "at"));

	return x < y ? -1 : x > y;
}

static void get_order(void *ctx, const struct http_request *req, struct http_response *res)
{
	struct gateway *g = ctx;
	const char *id = req->path + strlen("/v1/orders/");
	redisReply *h, *l;
	json_t *doc, *history;
	json_t **entries;
	char *text;

	if (!authenticate(g, req)) {
		http_reply_problem(res, 401, NULL, "a valid API key is required");
		return;
	}
	if (strlen(id) > 64 || strchr(id, '/')) {
		http_reply_problem(res, 404, NULL, "no order %s", id);
		return;
	}
	h = redis_cmd(g, "HGETALL " READMODEL_ORDER, id);
	if (!h || h->type != REDIS_REPLY_ARRAY) {
		freeReplyObject(h);
		http_reply_problem(res, 503, NULL, "the read model is unavailable");
		return;
	}
	if (h->elements == 0) {
		freeReplyObject(h);
		http_reply_problem(res, 404, NULL, "no order %s", id);
		return;
	}
	doc = json_pack("{s:s}", "order_id", id);
	for (size_t i = 0; i + 1 < h->elements; i += 2) {
		const char *k = h->element[i]->str, *v = h->element[i + 1]->str;

		if (!strcmp(k, "total_cents"))
			json_object_set_new(doc, k, json_integer(strtoll(v, NULL, 10)));
		else if (strlen(k) < 5 || strcmp(k + strlen(k) - 5, "_rank") != 0)
			json_object_set_new(doc, k, json_string(v));
	}
	freeReplyObject(h);
	history = json_array();
	l = redis_cmd(g, "LRANGE " READMODEL_HISTORY " 0 -1", id);
	if (l && l->type == REDIS_REPLY_ARRAY) {
		entries = calloc(l->elements ? l->elements : 1, sizeof(*entries));
		for (size_t i = 0; entries && i < l->elements; i++)
			entries[i] = json_loads(l->element[i]->str, 0, NULL);
		if (entries) {
			qsort(entries, l->elements, sizeof(*entries), by_time);
			for (size_t i = 0; i < l->elements; i++)
				if (entries[i])
					json_array_append_new(history, entries[i]);
		}
		free(entries);
	}
	freeReplyObject(l);
	json_object_set_new(doc, "history", history);
	text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	http_reply_take(res, 200, "application/json", text, text ? strlen(text) : 0);
}

static json_t *product_json(redisReply *h, const char *id)
{
	json_t *p = json_pack("{s:s}", "product_id", id);

	for (size_t i = 0; i + 1 < h->elements; i += 2) {
		const char *k = h->element[i]->str, *v = h->element[i + 1]->str;

		if (!strcmp(k, "price_cents") || !strcmp(k, "available"))
			json_object_set_new(p, k, json_integer(strtoll(v, NULL, 10)));
		else
			json_object_set_new(p, k, json_string(v));
	}
	return p;
}

/* The catalogue needs an API key like every route, unless PUBLIC_CATALOGUE;
 * false once the 401 is in res. */
static bool catalogue_allowed(struct gateway *g, const struct http_request *req,
                              struct http_response *res)
{
	if (g->public_catalogue || authenticate(g, req))
		return true;
	http_reply_problem(res, 401, NULL, "a valid API key is required");
	http_reply_header(res, "WWW-Authenticate", "Bearer");
	return false;
}

static void get_products(void *ctx, const struct http_request *req, struct http_response *res)
{
	struct gateway *g = ctx;
	redisReply *ids;
	json_t *items;
	char *text;

	if (!catalogue_allowed(g, req, res))
		return;
	ids = redis_cmd(g, "ZRANGE " READMODEL_PRODUCTS " 0 99");
	items = json_array();
	if (!ids || ids->type != REDIS_REPLY_ARRAY) {
		freeReplyObject(ids);
		json_decref(items);
		http_reply_problem(res, 503, NULL, "the catalogue is unavailable");
		return;
	}
	for (size_t i = 0; i < ids->elements; i++) {
		redisReply *h = redis_cmd(g, "HGETALL " READMODEL_PRODUCT, ids->element[i]->str);

		if (h && h->type == REDIS_REPLY_ARRAY && h->elements)
			json_array_append_new(items, product_json(h, ids->element[i]->str));
		freeReplyObject(h);
	}
	freeReplyObject(ids);
	text = json_dumps(json_pack("{s:o}", "items", items), JSON_COMPACT);
	http_reply_take(res, 200, "application/json", text, text ? strlen(text) : 0);
}

static void get_product(void *ctx, const struct http_request *req, struct http_response *res)
{
	struct gateway *g = ctx;
	const char *id = req->path + strlen("/v1/products/");
	redisReply *h;
	char *text;
	json_t *p;

	if (!catalogue_allowed(g, req, res))
		return;
	h = redis_cmd(g, "HGETALL " READMODEL_PRODUCT, id);

	if (!h || h->type != REDIS_REPLY_ARRAY) {
		freeReplyObject(h);
		http_reply_problem(res, 503, NULL, "the catalogue is unavailable");
		return;
	}
	if (h->elements == 0) {
		freeReplyObject(h);
		http_reply_problem(res, 404, NULL, "no product %s", id);
		return;
	}
	p = product_json(h, id);
	freeReplyObject(h);
	text = json_dumps(p, JSON_COMPACT);
	json_decref(p);
	http_reply_take(res, 200, "application/json", text, text ? strlen(text) : 0);
}

const struct http_route gateway_routes[] = {
        {"POST", "/v1/orders", post_order},
        {"GET", "/v1/orders/", get_order},
        {"GET", "/v1/products", get_products},
        {"GET", "/v1/products/", get_product},
};
const size_t gateway_nroutes = sizeof(gateway_routes) / sizeof(gateway_routes[0]);
