/*
 * live.c - the live views of the saga: GET /v1/events (Server-Sent Events,
 * one frame per event the projector applies), GET /v1/overview, and the
 * page that shows them (/ui/).
 */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "gateway.h"
#include "readmodel.h"
#include "utf8.h"

static ssize_t events_read(void *arg, char *buf, size_t size)
{
	return sse_reader_read(arg, buf, size);
}

static void events_close(void *arg)
{
	sse_reader_close(arg);
}

/* A filter's order id, or its list of event types, within bounds; false
 * once the 400 is in res. */
static bool filter_param(const struct http_request *req, const char *name, size_t max,
                         const char **out, struct http_response *res)
{
	*out = http_request_query(req, name);
	if (*out && !utf8_within(*out, max)) {
		http_reply_problem(res, 400, name, "%s must be 1 to %zu characters long", name,
		                   max);
		return false;
	}
	return true;
}

/* view=full (the default) or view=brief; false once the 400 is in res. */
static bool view_param(const struct http_request *req, bool *brief, struct http_response *res)
{
	const char *view = http_request_query(req, "view");

	*brief = view && !strcmp(view, "brief");
	if (view && !*brief && strcmp(view, "full") != 0) {
		http_reply_problem(res, 400, "view", "view must be full or brief");
		return false;
	}
	return true;
}

void gateway_get_events(void *ctx, const struct http_request *req, struct http_response *res)
{
	struct gateway *g = ctx;
	struct sse_filter filter;
	struct sse_reader *r;
	int rc;

	if (!gateway_admit(g, req, res) ||
	    !filter_param(req, "types", 40 * SSE_MAX_KINDS, &filter.kinds, res) ||
	    !filter_param(req, "order_id", ORDER_MAX_ID, &filter.key, res) ||
	    !filter_param(req, "follow", ORDER_MAX_ID, &filter.follow, res) ||
	    !view_param(req, &filter.brief, res))
		return;
	rc = sse_reader_open(&r, g->events, http_request_header(req, "Last-Event-ID"), &filter);
	if (rc == ERR_INVALID) {
		http_reply_problem(res, 400, "types", "types must name 1 to %d event types",
		                   SSE_MAX_KINDS);
		return;
	}
	if (rc < 0) {
		http_reply_problem(res, 503, NULL,
		                   rc == ERR_CONFLICT
		                           ? "the event stream has all the readers it takes"
		                           : "out of memory");
		http_reply_header(res, "Retry-After", "5");
		return;
	}
	http_reply_stream(res, 200, "text/event-stream",
	                  (struct http_stream){events_read, events_close, r});
	http_reply_header(res, "Cache-Control", "no-store");
	http_reply_header(res, "X-Accel-Buffering", "no");
}

static const char *const states[] = {"PENDING", "CONFIRMED", "COMPLETED", "CANCELLED"};

/* Orders per state, open orders and the oldest one's age, from the read
 * model in one round trip; NULL when Redis cannot be asked. */
static json_t *order_counts(struct gateway *g, long long now_ms)
{
	char why[256];
	int slot;
	redisContext *c = redis_pool_get(g->redis, &slot, why, sizeof(why));
	redisReply *r[3] = {NULL, NULL, NULL};
	json_t *doc = NULL, *by_state;
	bool ok = c != NULL;

	if (!c)
		return NULL;
	redisAppendCommand(c, "HMGET " READMODEL_BY_STATUS " %s %s %s %s", states[0], states[1],
	                   states[2], states[3]);
	redisAppendCommand(c, "ZCARD " READMODEL_OPEN);
	redisAppendCommand(c, "ZRANGE " READMODEL_OPEN " 0 0 WITHSCORES");
	for (int i = 0; i < 3; i++)
		if (redisGetReply(c, (void **)&r[i]) != REDIS_OK)
			ok = false;
	redis_pool_put(g->redis, slot, !ok);
	if (ok && r[0]->type == REDIS_REPLY_ARRAY && r[0]->elements == 4 &&
	    r[1]->type == REDIS_REPLY_INTEGER && r[2]->type == REDIS_REPLY_ARRAY) {
		by_state = json_object();
		for (int i = 0; i < 4; i++)
			json_object_set_new(
			        by_state, states[i],
			        json_integer(r[0]->element[i]->type == REDIS_REPLY_STRING
			                             ? strtoll(r[0]->element[i]->str, NULL, 10)
			                             : 0));
		doc = json_pack(
		        "{s:o, s:I, s:I}", "orders", by_state, "open_orders",
		        (json_int_t)r[1]->integer, "oldest_open_age_seconds",
		        (json_int_t)(r[2]->elements == 2
		                             ? (now_ms - strtoll(r[2]->element[1]->str, NULL, 10)) /
		                                       1000
		                             : 0));
	}
	for (int i = 0; i < 3; i++)
		freeReplyObject(r[i]);
	return doc;
}

void gateway_get_overview(void *ctx, const struct http_request *req, struct http_response *res)
{
	struct gateway *g = ctx;
	long long now_ms = clock_wall_ms();
	json_t *doc;
	char *text;

	if (!gateway_admit(g, req, res))
		return;
	doc = order_counts(g, now_ms);
	if (!doc) {
		gateway_unavailable(res, "the read model");
		return;
	}
	json_object_set_new(doc, "at", json_integer(now_ms));
	json_object_set_new(doc, "rates", overview_rates(g->overview, now_ms));
	json_object_set_new(doc, "groups", overview_groups(g->overview));
	json_object_set_new(doc, "stream_readers", json_integer(sse_hub_readers(g->events)));
	text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	http_reply_take(res, 200, "application/json", text, text ? strlen(text) : 0);
	http_reply_header(res, "Cache-Control", "no-store");
}

void gateway_get_ui(void *ctx, const struct http_request *req, struct http_response *res)
{
	const struct gateway *g = ctx;

	ui_serve(g->ui, req, res);
}
