#include <errno.h>
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
#include "utf8.h"

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

/*
 * An event an answer waits for the broker to acknowledge (http_reply_later):
 * the first member of the answer's own state, which is malloc'd.
 */
struct ack_wait {
	struct http_later *later;
	int rc; /* 0: acknowledged */
	char why[128];
};

/* The broker's report (on the producer's report thread). */
static void on_ack(void *arg, int rc, const char *why)
{
	struct ack_wait *w = arg;

	w->rc = rc;
	snprintf(w->why, sizeof(w->why), "%s", why ? why : "");
	http_later_done(w->later);
}

/* The outcome w's answer is to report: its own, or, when the gateway
 * stopped before the report came, unknown. */
static int ack_outcome(const struct ack_wait *w, bool done, const char **why)
{
	if (!done) {
		*why = "the gateway stopped before the broker answered";
		return ERR_RETRY;
	}
	*why = w->why;
	return w->rc;
}

/*
 * Publishes an event of type for the order (record: its fields; the
 * metadata is added here, with event_id) and answers with then(..., w) once
 * the broker acknowledged it or not: no thread waits for it meanwhile. w is
 * taken.
 */
static void publish_then(struct gateway *g, struct http_response *res, const char *type,
                         const char *order_id, const char *event_id, json_t *record,
                         const char *traceparent, http_later_fn then, struct ack_wait *w)
{
	unsigned char *value = NULL;
	char *headers = NULL, why[128];
	size_t len;
	int rc;

	w->later = http_reply_later(res, then, w, free);
	if (!w->later) {
		free(w);
		gateway_unavailable(res, "memory for the answer");
		return;
	}
	json_object_set_new(record, "order_id", json_string(order_id));
	json_object_set_new(record, "metadata",
	                    event_metadata("gateway", NULL, order_id, traceparent));
	/* The same event id on every try: a republished event is a duplicate. */
	json_object_set_new(json_object_get(record, "metadata"), "event_id", json_string(event_id));
	rc = codec_encode(g->codec, type, record, &value, &len, why, sizeof(why));
	if (rc == 0 && !(headers = outbox_event_headers(type, record))) {
		snprintf(why, sizeof(why), "out of memory");
		rc = ERR_NOMEM;
	}
	/* The topic is the schema's (x-topic), like every event's; the key the
	 * order's, so its events stay in the order they were published. */
	if (rc == 0)
		rc = kafka_publisher_send(g->producer, codec_topic(g->codec, type), order_id, value,
		                          len, kafka_headers_parse(headers), on_ack, w, why,
		                          sizeof(why));
	free(headers);
	free(value);
	if (rc < 0)
		on_ack(w, rc, why); /* answered the same way, at once */
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

/* 503 with Retry-After: a store the answer needs cannot be reached. */
void gateway_unavailable(struct http_response *res, const char *what)
{
	http_reply_problem(res, 503, NULL, "%s is unavailable", what);
	http_reply_header(res, "Retry-After", "1");
}

/* Authentication and rate limit: the caller's key, or NULL once the
 * refusal is in res. */
const struct api_key *gateway_admit(struct gateway *g, const struct http_request *req,
                                    struct http_response *res)
{
	const struct api_key *key = authenticate(g, req);
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
			gateway_unavailable(res, "the rate limiter");
		if (over > 0)
			http_reply_header(res, "Retry-After", "1");
		return NULL;
	}
	return key;
}

/* Step 1: authentication, rate limit, media type. The caller's key, or
 * NULL once the refusal is in res. */
static const struct api_key *admit(struct gateway *g, const struct http_request *req,
                                   struct http_response *res)
{
	const struct api_key *key = gateway_admit(g, req, res);
	const char *ctype = http_request_header(req, "Content-Type");

	if (!key)
		return NULL;
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
		gateway_unavailable(res, "the idempotency store");
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

/* An order on its way to the broker. */
struct order_post {
	struct ack_wait ack;
	struct idem claim;
	bool idem; /* with an Idempotency-Key */
	long long t0;
};

/* Step 4, once the broker answered: the order exists. Until projected it
 * reads as PENDING. */
static void order_acked(void *ctx, const struct http_request *req, struct http_response *res,
                        void *arg, bool done)
{
	struct gateway *g = ctx;
	struct order_post *op = arg;
	const char *why;

	(void)req;
	if (ack_outcome(&op->ack, done, &why) < 0) {
		struct log_fields f = {.order_id = op->claim.order_id,
		                       .correlation_id = op->claim.order_id};

		/* Not acknowledged is not lost: the broker may have it. The key
		 * stays pending, so a retry publishes this order again. */
		LOGX(WARN, &f, "could not publish order %s: %s", op->claim.order_id, why);
		http_reply_problem(
		        res, 503, NULL,
		        op->idem ? "the order was not acknowledged (%s): retry with the same "
		                   "Idempotency-Key"
		                 : "the order could not be taken: %s",
		        why);
		http_reply_header(res, "Retry-After", "1");
		return;
	}
	record_accepted(g, op->claim.order_id, op->idem ? &op->claim : NULL);
	metric_add(g->m_accepted, 1);
	metric_observe(g->m_latency, (double)(clock_mono_ms() - op->t0) / 1000.0);
	accepted(res, op->claim.order_id);
}

static void post_order(void *ctx, const struct http_request *req, struct http_response *res)
{
	struct gateway *g = ctx;
	const struct api_key *key = admit(g, req, res);
	const char *idem = http_request_header(req, "Idempotency-Key");
	char field[64], detail[256], tp[64];
	struct order_post *op;
	json_t *order = NULL;
	long long t0 = clock_mono_ms();
	int rc;

	if (!key) {
		metric_add(g->m_rejected, 1);
		return;
	}
	if (idem && !idem_key_valid(idem)) {
		metric_add(g->m_rejected, 1);
		http_reply_problem(res, 400, "Idempotency-Key",
		                   "Idempotency-Key must be 1 to %d characters long", IDEM_KEY_MAX);
		return;
	}
	rc = order_request_validate(req->body, req->body_len, &g->limits, &order, field,
	                            sizeof(field), detail, sizeof(detail));
	if (rc != 0) {
		metric_add(g->m_rejected, 1);
		http_reply_problem(res, rc, field[0] ? field : NULL, "%s", detail);
		return;
	}
	op = calloc(1, sizeof(*op));
	if (!op) {
		json_decref(order);
		gateway_unavailable(res, "memory for the order");
		return;
	}
	op->idem = idem != NULL;
	op->t0 = t0;
	if (idem)
		idem_init(&op->claim, key->id, idem, req->body, req->body_len);
	event_uuid(op->claim.order_id);
	event_uuid(op->claim.event_id);
	if (idem && !claim_key(g, idem, &op->claim, res)) {
		free(op);
	} else {
		/* Step 3: publish; the answer waits for the broker's acknowledgement. */
		traceparent_for(req, tp, sizeof(tp));
		publish_then(g, res, "OrderRequested", op->claim.order_id, op->claim.event_id,
		             order, tp, order_acked, &op->ack);
	}
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
	if (strlen(id) > ORDER_MAX_ID) {
		http_reply_problem(res, 404, NULL, "no order %s", id);
		return;
	}
	h = redis_cmd(g, "HGETALL " READMODEL_ORDER, id);
	if (!h || h->type != REDIS_REPLY_ARRAY) {
		freeReplyObject(h);
		gateway_unavailable(res, "the read model");
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

/* Reads the query parameter name as a page size in 1..max (def when
 * absent); false once the 400 is in res. */
static bool page_limit(const struct http_request *req, const char *name, long def, long max,
                       long *out, struct http_response *res)
{
	const char *v = http_request_query(req, name);
	char *end;

	*out = def;
	if (!v)
		return true;
	errno = 0;
	*out = strtol(v, &end, 10);
	if (!*v || *end || errno || *out < 1 || *out > max) {
		http_reply_problem(res, 400, name, "%s must be a whole number from 1 to %ld", name,
		                   max);
		return false;
	}
	return true;
}

/* One page of a lexically ordered set and a hash command for each member. */
struct page {
	redisReply *members; /* after the cursor, at most limit */
	const char **ids;    /* each member from id_offset on (borrowed from members) */
	redisReply **hashes; /* the command's reply for each id */
};

/*
 * Reads the members of key after cursor (NULL: from the start), at most
 * limit, then runs fmt (e.g. "HGETALL product:%s") for each member's id
 * (the member from id_offset on), pipelined on one connection. False when
 * Redis could not be asked; page_free() either way.
 */
static bool page_load(struct gateway *g, const char *key, const char *cursor, long limit,
                      const char *fmt, size_t id_offset, struct page *pg)
{
	char why[256];
	redisContext *c;
	size_t n, got = 0;
	int slot;

	*pg = (struct page){0};
	pg->members = cursor ? redis_cmd(g, "ZRANGEBYLEX %s (%s + LIMIT 0 %ld", key, cursor, limit)
	                     : redis_cmd(g, "ZRANGEBYLEX %s - + LIMIT 0 %ld", key, limit);
	if (!pg->members || pg->members->type != REDIS_REPLY_ARRAY)
		return false;
	n = pg->members->elements;
	pg->ids = calloc(n + 1, sizeof(*pg->ids));
	pg->hashes = calloc(n + 1, sizeof(*pg->hashes));
	if (!pg->ids || !pg->hashes || !(c = redis_pool_get(g->redis, &slot, why, sizeof(why))))
		return false;
	for (size_t i = 0; i < n; i++) {
		pg->ids[i] = pg->members->element[i]->str + id_offset;
		redisAppendCommand(c, fmt, pg->ids[i]);
	}
	for (; got < n; got++)
		if (redisGetReply(c, (void **)&pg->hashes[got]) != REDIS_OK)
			break;
	redis_pool_put(g->redis, slot, c->err != 0);
	return got == n;
}

static void page_free(struct page *pg)
{
	for (size_t i = 0; pg->hashes && pg->members && i < pg->members->elements; i++)
		freeReplyObject(pg->hashes[i]);
	free(pg->hashes);
	free(pg->ids);
	freeReplyObject(pg->members);
}

/* A page's answer: {"items": items, "next_cursor": the last member or null}. */
static void reply_page(struct http_response *res, json_t *page, json_t *items,
                       const redisReply *members, long limit)
{
	char *text;

	json_object_set_new(page, "items", items);
	json_object_set_new(page, "next_cursor",
	                    members->elements == (size_t)limit && limit > 0
	                            ? json_string(members->element[members->elements - 1]->str)
	                            : json_null());
	text = json_dumps(page, JSON_COMPACT);
	json_decref(page);
	http_reply_take(res, 200, "application/json", text, text ? strlen(text) : 0);
}

/* GET /v1/products?limit=&cursor=: the catalogue by product id, paged. */
static void get_products(void *ctx, const struct http_request *req, struct http_response *res)
{
	struct gateway *g = ctx;
	const char *cursor = http_request_query(req, "cursor");
	struct page pg;
	json_t *items;
	long limit;

	if (!catalogue_allowed(g, req, res) || !page_limit(req, "limit", 100, 1000, &limit, res))
		return;
	if (cursor && !utf8_within(cursor, ORDER_MAX_ID)) {
		http_reply_problem(res, 400, "cursor", "cursor must be a next_cursor of this list");
		return;
	}
	if (!page_load(g, READMODEL_PRODUCTS, cursor, limit, "HGETALL " READMODEL_PRODUCT, 0,
	               &pg)) {
		page_free(&pg);
		gateway_unavailable(res, "the catalogue");
		return;
	}
	items = json_array();
	for (size_t i = 0; i < pg.members->elements; i++)
		if (pg.hashes[i]->type == REDIS_REPLY_ARRAY && pg.hashes[i]->elements)
			json_array_append_new(items, product_json(pg.hashes[i], pg.ids[i]));
	reply_page(res, json_object(), items, pg.members, limit);
	page_free(&pg);
}

/* GET /v1/orders?customer_id=&limit=&cursor=: a customer's orders, newest
 * first (READMODEL_CUSTOMER), each with its status and total; without
 * customer_id, everyone's newest (READMODEL_RECENT). */
static void list_orders(void *ctx, const struct http_request *req, struct http_response *res)
{
	struct gateway *g = ctx;
	const char *customer = http_request_query(req, "customer_id");
	const char *cursor = http_request_query(req, "cursor");
	char key[ORDER_MAX_ID_BYTES + 32];
	struct page pg;
	json_t *items;
	long limit;

	if (!authenticate(g, req)) {
		http_reply_problem(res, 401, NULL, "a valid API key is required");
		http_reply_header(res, "WWW-Authenticate", "Bearer");
		return;
	}
	if (customer && (!utf8_within(customer, ORDER_MAX_ID) || !utf8_valid(customer))) {
		http_reply_problem(res, 400, "customer_id",
		                   "customer_id must be 1 to %d characters long, in UTF-8",
		                   ORDER_MAX_ID);
		return;
	}
	if (!page_limit(req, "limit", 20, 100, &limit, res))
		return;
	if (cursor && (strlen(cursor) < 15 || !utf8_within(cursor + 14, ORDER_MAX_ID) ||
	               strspn(cursor, "0123456789") != 13 || cursor[13] != ':')) {
		http_reply_problem(res, 400, "cursor", "cursor must be a next_cursor of this list");
		return;
	}
	/* Without a customer: everyone's newest orders. */
	if (customer)
		snprintf(key, sizeof(key), READMODEL_CUSTOMER, customer);
	else
		snprintf(key, sizeof(key), READMODEL_RECENT);
	/* The id is each member after its time (READMODEL_CUSTOMER_ENTRY). */
	if (!page_load(g, key, cursor, limit,
	               "HMGET " READMODEL_ORDER " status total_cents cancel_reason", 14, &pg)) {
		page_free(&pg);
		gateway_unavailable(res, "the read model");
		return;
	}
	items = json_array();
	for (size_t i = 0; i < pg.members->elements; i++) {
		redisReply *h = pg.hashes[i];

		/* An order whose record expired is gone from the list too. */
		if (h->type == REDIS_REPLY_ARRAY && h->elements == 3 &&
		    h->element[0]->type == REDIS_REPLY_STRING) {
			json_t *o = json_pack(
			        "{s:s, s:s, s:I}", "order_id", pg.ids[i], "status",
			        h->element[0]->str, "requested_at",
			        (json_int_t)(READMODEL_TIME_MAX -
			                     strtoll(pg.members->element[i]->str, NULL, 10)));

			if (h->element[1]->type == REDIS_REPLY_STRING)
				json_object_set_new(
				        o, "total_cents",
				        json_integer(strtoll(h->element[1]->str, NULL, 10)));
			if (h->element[2]->type == REDIS_REPLY_STRING)
				json_object_set_new(o, "cancel_reason",
				                    json_string(h->element[2]->str));
			json_array_append_new(items, o);
		}
	}
	reply_page(res, customer ? json_pack("{s:s}", "customer_id", customer) : json_object(),
	           items, pg.members, limit);
	page_free(&pg);
}

/* A cancellation on its way to the broker. */
struct cancel_post {
	struct ack_wait ack;
	char order_id[ORDER_MAX_ID + 1];
	char status[32]; /* the order's, when asked */
};

/* 202: the order's status, and whether a cancellation was requested now. */
static void cancel_answer(struct http_response *res, const struct cancel_post *cp, bool requested)
{
	json_t *body = json_pack("{s:s, s:s}", "order_id", cp->order_id, "status", cp->status);
	char location[160];
	char *text;

	if (body && requested)
		json_object_set_new(body, "cancellation", json_string("REQUESTED"));
	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (!text) {
		gateway_unavailable(res, "memory for the answer");
		return;
	}
	snprintf(location, sizeof(location), "/v1/orders/%s", cp->order_id);
	http_reply_take(res, 202, "application/json", text, strlen(text));
	http_reply_header(res, "Location", location);
}

static void cancel_acked(void *ctx, const struct http_request *req, struct http_response *res,
                         void *arg, bool done)
{
	struct cancel_post *cp = arg;
	const char *why;

	(void)ctx;
	(void)req;
	if (ack_outcome(&cp->ack, done, &why) < 0) {
		struct log_fields f = {.order_id = cp->order_id};

		/* Not acknowledged is unknown, not failed; a retry is harmless. */
		LOGX(WARN, &f, "could not publish the cancellation of order %s: %s", cp->order_id,
		     why);
		http_reply_problem(res, 503, NULL,
		                   "the cancellation was not acknowledged (%s): retry", why);
		http_reply_header(res, "Retry-After", "1");
		return;
	}
	cancel_answer(res, cp, true);
}

/*
 * POST /v1/orders/{id}/cancel: the order service decides (its state
 * machine); the gateway refuses (409) only what its read model already
 * shows is too late: dispatched, delivered, or a cancellation refused. 202
 * once the broker has CancellationRequested, and for an order cancelled
 * already (a repeated cancellation changes nothing).
 */
static void cancel_order(void *ctx, const struct http_request *req, struct http_response *res)
{
	struct gateway *g = ctx;
	const char *rest = req->path + strlen("/v1/orders/");
	char id[ORDER_MAX_ID + 1], event_id[40], tp[64];
	const char *status, *shipment, *cancellation;
	struct cancel_post *cp;
	redisReply *h;
	json_t *request;
	size_t n = strcspn(rest, "/"); /* the route: /v1/orders/{}/cancel */

	if (n > ORDER_MAX_ID) {
		http_reply_problem(res, 404, NULL, "no resource at %s", req->path);
		return;
	}
	if (!gateway_admit(g, req, res))
		return;
	memcpy(id, rest, n);
	id[n] = '\0';
	h = redis_cmd(g, "HMGET " READMODEL_ORDER " status shipment_status cancellation", id);
	if (!h || h->type != REDIS_REPLY_ARRAY || h->elements != 3) {
		freeReplyObject(h);
		gateway_unavailable(res, "the read model");
		return;
	}
	status = h->element[0]->type == REDIS_REPLY_STRING ? h->element[0]->str : NULL;
	shipment = h->element[1]->type == REDIS_REPLY_STRING ? h->element[1]->str : "";
	cancellation = h->element[2]->type == REDIS_REPLY_STRING ? h->element[2]->str : "";
	if (!status)
		http_reply_problem(res, 404, NULL, "no order %s", id);
	else if (!strcmp(status, "COMPLETED") || !strcmp(shipment, "DELIVERED"))
		http_reply_problem(res, 409, NULL, "order %s was delivered: too late to cancel",
		                   id);
	else if (!strcmp(shipment, "DISPATCHED") || !strcmp(cancellation, "REFUSED"))
		http_reply_problem(res, 409, NULL,
		                   "order %s has been dispatched: too late to cancel", id);
	if (!status || res->status) {
		freeReplyObject(h);
		return;
	}
	cp = calloc(1, sizeof(*cp));
	if (!cp) {
		freeReplyObject(h);
		gateway_unavailable(res, "memory for the answer");
		return;
	}
	snprintf(cp->order_id, sizeof(cp->order_id), "%s", id);
	snprintf(cp->status, sizeof(cp->status), "%s", status);
	freeReplyObject(h);
	if (!strcmp(cp->status, "CANCELLED")) {
		cancel_answer(res, cp, false);
		free(cp);
		return;
	}
	request = json_object();
	if (!request) {
		free(cp);
		gateway_unavailable(res, "memory for the answer");
		return;
	}
	event_uuid(event_id);
	traceparent_for(req, tp, sizeof(tp));
	publish_then(g, res, "CancellationRequested", id, event_id, request, tp, cancel_acked,
	             &cp->ack);
	json_decref(request);
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
		gateway_unavailable(res, "the catalogue");
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
        {"GET", "/v1/orders", list_orders},
        {"POST", "/v1/orders/{}/cancel", cancel_order},
        {"GET", "/v1/orders/{}", get_order},
        {"GET", "/v1/products", get_products},
        {"GET", "/v1/products/", get_product},
        {"GET", "/v1/events", gateway_get_events},
        {"GET", "/v1/overview", gateway_get_overview},
        {"GET", "/ui/*", gateway_get_ui},
};
const size_t gateway_nroutes = sizeof(gateway_routes) / sizeof(gateway_routes[0]);
