/* Unit: answers given later (common/http.c, http_reply_later): a server on
 * a loopback port with one thread, clients on this machine. */
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "http.h"
#include "httpc.h"

/* The later answer a handler gave, for the test to report when it likes. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t given = PTHREAD_COND_INITIALIZER;
static struct http_later *waiting;
static int freed;

static void free_arg(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock);
	freed++;
	pthread_mutex_unlock(&lock);
}

static void then(void *ctx, const struct http_request *req, struct http_response *res, void *arg,
                 bool done)
{
	(void)ctx;
	(void)req;
	(void)arg;
	if (done)
		http_reply(res, 200, "text/plain", "later");
	else
		http_reply_problem(res, 503, NULL, "stopping");
}

/* GET /later: answered once the test calls http_later_done; with ?now, the
 * report comes before the handler returns. */
static void get_later(void *ctx, const struct http_request *req, struct http_response *res)
{
	struct http_later *l = http_reply_later(res, then, NULL, free_arg);

	(void)ctx;
	cr_assert_not_null(l);
	if (http_request_query(req, "now")) {
		http_later_done(l);
		return;
	}
	pthread_mutex_lock(&lock);
	waiting = l;
	pthread_cond_signal(&given);
	pthread_mutex_unlock(&lock);
}

static void get_quick(void *ctx, const struct http_request *req, struct http_response *res)
{
	(void)ctx;
	(void)req;
	http_reply(res, 200, "text/plain", "quick");
}

static const struct http_route routes[] = {
        {"GET", "/later", get_later},
        {"GET", "/quick", get_quick},
};

static struct httpc_target target;

/* A server with one thread on a free loopback port. */
static struct http_server *serve(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct http_server_cfg cfg = {.addr = "127.0.0.1", .threads = 1};
	struct http_server *srv;
	char why[128];

	cr_assert(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	          getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
	close(fd);
	cfg.port = ntohs(sa.sin_port);
	cr_assert_eq(http_server_start(&srv, &cfg, routes, 2, NULL, why, sizeof(why)), 0, "%s",
	             why);
	snprintf(target.host, sizeof(target.host), "127.0.0.1");
	snprintf(target.port, sizeof(target.port), "%d", cfg.port);
	snprintf(target.hostport, sizeof(target.hostport), "127.0.0.1:%d", cfg.port);
	waiting = NULL;
	freed = 0;
	return srv;
}

struct call {
	const char *path;
	int status;
	char body[512];
};

static void *call(void *arg)
{
	struct call *c = arg;
	int fd = httpc_connect(&target, 20000);

	c->status = fd < 0 ? -1
	                   : httpc_request(fd, &target, "GET", c->path, "", NULL, c->body,
	                                   sizeof(c->body));
	if (fd >= 0)
		close(fd);
	return NULL;
}

static struct http_later *await_handler(void)
{
	struct http_later *l;

	pthread_mutex_lock(&lock);
	while (!waiting)
		pthread_cond_wait(&given, &lock);
	l = waiting;
	waiting = NULL;
	pthread_mutex_unlock(&lock);
	return l;
}

Test(http_later, an_answer_that_waits_holds_no_thread, .timeout = 60)
{
	struct http_server *srv = serve();
	struct call slow = {.path = "/later"}, quick = {.path = "/quick"};
	struct http_later *l;
	pthread_t t;

	pthread_create(&t, NULL, call, &slow);
	l = await_handler();
	/* The server's one thread answers another connection meanwhile. */
	call(&quick);
	cr_assert_eq(quick.status, 200);
	cr_assert_str_eq(quick.body, "quick");
	http_later_done(l);
	pthread_join(t, NULL);
	cr_assert_eq(slow.status, 200);
	cr_assert_str_eq(slow.body, "later");
	http_server_free(srv);
	cr_assert_eq(freed, 1);
}

Test(http_later, a_report_before_the_handler_returns_is_answered_at_once, .timeout = 60)
{
	struct http_server *srv = serve();
	struct call now = {.path = "/later?now=1"};

	call(&now);
	cr_assert_eq(now.status, 200);
	cr_assert_str_eq(now.body, "later");
	http_server_free(srv);
	cr_assert_eq(freed, 1);
}

static void *stop(void *arg)
{
	http_server_free(arg);
	return NULL;
}

Test(http_later, a_stopping_server_answers_what_still_waits_and_frees_it_after_the_report,
     .timeout = 60)
{
	struct http_server *srv = serve();
	struct call slow = {.path = "/later"}, quick = {.path = "/quick"};
	struct http_later *l;
	pthread_t t, s;

	pthread_create(&t, NULL, call, &slow);
	l = await_handler();
	/* The server's one thread has put the connection to sleep once it
	 * answers another one (the handler returns before that). */
	call(&quick);
	pthread_create(&s, NULL, stop, srv); /* waits a while for the report, then answers */
	pthread_join(t, NULL);
	pthread_join(s, NULL);
	cr_assert_eq(slow.status, 503);
	cr_assert_eq(freed, 0, "freed before its report came");
	http_later_done(l); /* the report comes after the server is gone */
	cr_assert_eq(freed, 1);
}

Test(http_later, a_client_that_left_is_no_fault, .timeout = 60)
{
	struct http_server *srv = serve();
	struct http_later *l;
	char req[256];
	int fd = httpc_connect(&target, 20000);

	cr_assert(fd >= 0);
	snprintf(req, sizeof(req), "GET /later HTTP/1.1\r\nHost: %s\r\n\r\n", target.hostport);
	cr_assert_eq(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	l = await_handler();
	close(fd);
	http_later_done(l);
	http_server_free(srv);
	cr_assert_eq(freed, 1);
}
