#include "admin.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "http.h"

struct admin {
	struct http_server *http;
	struct metrics *metrics;
	const struct admin_check *checks;
	size_t nchecks;
	pthread_mutex_t lock; /* checks share their connections: one /readyz at a time */
};

static void get_healthz(void *ctx, const struct http_request *req, struct http_response *res)
{
	(void)ctx;
	(void)req;
	http_reply(res, 200, "application/json", "{\"status\":\"ok\"}");
}

static void get_readyz(void *ctx, const struct http_request *req, struct http_response *res)
{
	struct admin *a = ctx;
	json_t *doc = json_object();
	json_t *checks = json_object();
	bool ready = true;
	char *text;

	(void)req;
	pthread_mutex_lock(&a->lock);
	for (size_t i = 0; i < a->nchecks; i++) {
		char why[256] = "";
		int rc = a->checks[i].fn(a->checks[i].arg, why, sizeof(why));

		json_object_set_new(checks, a->checks[i].name,
		                    json_string(rc == 0 ? "ok" : (why[0] ? why : err_name(rc))));
		if (rc != 0)
			ready = false;
	}
	pthread_mutex_unlock(&a->lock);
	json_object_set_new(doc, "status", json_string(ready ? "ready" : "unready"));
	json_object_set_new(doc, "checks", checks);
	text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	if (!text) {
		http_reply_problem(res, 500, NULL, "out of memory");
		return;
	}
	http_reply_take(res, ready ? 200 : 503, "application/json", text, strlen(text));
}

static void get_metrics(void *ctx, const struct http_request *req, struct http_response *res)
{
	struct admin *a = ctx;
	char *text;
	size_t len;

	(void)req;
	if (metrics_render(a->metrics, &text, &len) < 0) {
		http_reply_problem(res, 500, NULL, "could not render metrics");
		return;
	}
	http_reply_take(res, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
}

static const struct http_route admin_routes[] = {
        {"GET", "/healthz", get_healthz},
        {"GET", "/readyz", get_readyz},
        {"GET", "/metrics", get_metrics},
};

int admin_start(struct admin **out, const char *addr, int port, struct metrics *metrics,
                const struct admin_check *checks, size_t nchecks, char *errstr, size_t errstr_size)
{
	struct http_server_cfg cfg = {.addr = addr,
	                              .port = port,
	                              .max_body = 1024,
	                              .threads = 1,
	                              .metrics = metrics,
	                              .name = "admin"};
	struct admin *a = calloc(1, sizeof(*a));
	int rc;

	*out = NULL;
	if (!a)
		return ERR_NOMEM;
	a->metrics = metrics;
	a->checks = checks;
	a->nchecks = nchecks;
	pthread_mutex_init(&a->lock, NULL);
	rc = http_server_start(&a->http, &cfg, admin_routes,
	                       sizeof(admin_routes) / sizeof(admin_routes[0]), a, errstr,
	                       errstr_size);
	if (rc < 0) {
		admin_free(a);
		return rc;
	}
	*out = a;
	return 0;
}

void admin_free(struct admin *a)
{
	if (!a)
		return;
	http_server_free(a->http);
	pthread_mutex_destroy(&a->lock);
	free(a);
}
