#include "http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <uuid/uuid.h>

#include "clock.h"
#include "log.h"
#include "utf8.h"

#define HTTP_STATUS_SLOTS 600

/*
 * A connection's deadline: what it must have sent by then (the headers of a
 * request, or its body), or 0 while a handler works on it. The watchdog
 * thread shuts down the socket of a connection past its deadline, and
 * libmicrohttpd closes it; it sleeps until the earliest deadline (woken by
 * `wake` when one is set), not at all while none is. slots[] is guarded by
 * the server's lock.
 */
struct watch {
	bool used;
	int fd;
	long long deadline_ms;
};

/*
 * An answer being streamed (http_reply_stream). While its stream has
 * nothing to send the connection is suspended (out of libmicrohttpd's
 * loop) until http_server_wake_streams() resumes it (with its part of
 * them: a stream's part is its number modulo the parts). The server's list
 * of them is guarded by sleep_lock, which is held while suspending and
 * resuming, so neither happens twice; libmicrohttpd calls none of our code
 * that takes it while holding a lock of its own. A connection that ended
 * is marked closed and freed by the next wake-up (or the server's free).
 */
struct stream_conn {
	struct http_server *srv;
	struct MHD_Connection *conn;
	struct http_stream stream;
	unsigned long number; /* the server's streams so far, when it began */
	bool suspended;
	atomic_bool closed;
	struct stream_conn *next;
};

/*
 * An answer given later (http_reply_later). Its connection sleeps
 * (suspended) until http_later_done() or the server's stop resumes it, each
 * under the later's lock and only while `sleeping`, so once. Two owners,
 * the connection (until it ends) and the reporter (until it reports): the
 * last to let go frees it. The server's list of those not yet sent is
 * guarded by sleep_lock, taken before a later's lock.
 */
struct http_later {
	pthread_mutex_t lock;
	struct MHD_Connection *conn; /* while the connection has not ended */
	http_later_fn then;
	void *arg;
	void (*free_arg)(void *arg);
	bool done;     /* reported */
	bool sleeping; /* the connection is suspended for it */
	int owners;
	bool listed; /* in the server's list until its answer was sent (sleep_lock) */
	struct http_later *prev, *next;
};

/* How long a stopping server waits for the reports of answers given later
 * before it answers them 503. */
#define HTTP_LATER_STOP_MS 5000

/* A connection's memory beyond its request's head: libmicrohttpd fills a
 * streamed answer's chunks from what is free of it. With 16 KiB in all
 * (16 KiB chunks), 200 readers of the event stream at 300 orders/s fell
 * behind and were dropped; with 64 KiB more (80 KiB chunks), none was. */
#define HTTP_STREAM_WRITE_BYTES (64 * 1024)

struct http_server {
	struct MHD_Daemon *mhd;
	pthread_mutex_t sleep_lock;
	struct stream_conn *streams;
	struct http_later *laters; /* answers given later, not sent yet */
	unsigned long nstreams;    /* streams begun so far */
	unsigned long wakes;       /* wake-ups so far */
	bool stopping;             /* no stream or later answer sleeps any more */
	long stream_stall_ms;
	pthread_mutex_t lock;
	pthread_cond_t wake;   /* a deadline earlier than watch_until was set, or stop */
	long long watch_until; /* when the watchdog looks next (0: at the next signal) */
	struct watch *slots;
	size_t nslots;
	long header_timeout_ms, body_timeout_ms;
	pthread_t watchdog;
	bool watching;
	atomic_bool stop;
	struct metric *m_timed_out;
	const struct http_route *routes;
	size_t nroutes;
	void *ctx;
	size_t max_body;
	size_t max_header_bytes;
	struct metrics *metrics;
	char name[32];
	_Atomic(struct metric *) by_status[HTTP_STATUS_SLOTS]; /* counters by status code */
};

/* Per-request state while the body arrives. */
struct pending {
	char *body;
	size_t len, cap;
	bool too_large;
	char request_id[65];
	struct http_later *later; /* the handler answers later */
};

/* Wakes the watchdog when deadline_ms comes before it would look anyway: a
 * stream moves its deadline on with every write, thousands of times a
 * second (srv->lock held). */
static void watch_for(struct http_server *srv, long long deadline_ms)
{
	if (!srv->watch_until || deadline_ms < srv->watch_until)
		pthread_cond_signal(&srv->wake);
}

/* Sets the deadline of conn's connection (0: none). */
static void set_deadline(struct http_server *srv, struct MHD_Connection *conn, long timeout_ms)
{
	const union MHD_ConnectionInfo *info =
	        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct watch *w = info ? info->socket_context : NULL;

	if (!w)
		return;
	pthread_mutex_lock(&srv->lock);
	w->deadline_ms = timeout_ms ? clock_mono_ms() + timeout_ms : 0;
	if (timeout_ms)
		watch_for(srv, w->deadline_ms);
	pthread_mutex_unlock(&srv->lock);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode what)
{
	struct http_server *srv = cls;
	struct watch *w = *socket_context;

	pthread_mutex_lock(&srv->lock);
	if (what == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *info =
		        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);

		for (size_t i = 0; i < srv->nslots && info; i++)
			if (!srv->slots[i].used) {
				srv->slots[i] =
				        (struct watch){true, info->connect_fd,
				                       clock_mono_ms() + srv->header_timeout_ms};
				*socket_context = &srv->slots[i];
				watch_for(srv, srv->slots[i].deadline_ms);
				break;
			}
	} else if (w) {
		w->used = false; /* before libmicrohttpd closes the socket */
		*socket_context = NULL;
	}
	pthread_mutex_unlock(&srv->lock);
}

static void *watchdog_main(void *arg)
{
	struct http_server *srv = arg;

	pthread_mutex_lock(&srv->lock);
	while (!atomic_load(&srv->stop)) {
		long long now = clock_mono_ms(), next = 0;
		long closed = 0;

		for (size_t i = 0; i < srv->nslots; i++) {
			struct watch *w = &srv->slots[i];

			if (!w->used || !w->deadline_ms)
				continue;
			if (now > w->deadline_ms) {
				shutdown(w->fd, SHUT_RDWR);
				w->deadline_ms = 0;
				closed++;
			} else if (!next || w->deadline_ms < next) {
				next = w->deadline_ms;
			}
		}
		if (closed) {
			metric_add(srv->m_timed_out, closed);
			LOG(DEBUG,
			    "%s: closed %ld connections that were too slow to send a request",
			    srv->name, closed);
		}
		if (next) {
			/* past the deadline, not at it */
			srv->watch_until = next + 10;
			clock_cond_wait_until(&srv->wake, &srv->lock, srv->watch_until);
		} else {
			srv->watch_until = 0;
			pthread_cond_wait(&srv->wake, &srv->lock);
		}
	}
	pthread_mutex_unlock(&srv->lock);
	return NULL;
}

/* The client's X-Request-Id when it is 1-64 of [A-Za-z0-9._-], else a new UUID. */
static void request_id(struct MHD_Connection *conn, char *out, size_t size)
{
	const char *given = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
	size_t n = given ? strspn(given, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	                                 "0123456789._-")
	                 : 0;

	if (given && n > 0 && n <= 64 && given[n] == '\0' && n < size) {
		memcpy(out, given, n + 1);
	} else {
		uuid_t u;

		uuid_generate(u);
		uuid_unparse_lower(u, out);
	}
}

const char *http_status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	}
	return "Unknown";
}

void http_reply_take(struct http_response *res, int status, const char *content_type, char *body,
                     size_t len)
{
	free(res->body);
	res->status = status;
	res->content_type = content_type;
	res->body = body;
	res->body_len = body ? len : 0;
}

void http_reply(struct http_response *res, int status, const char *content_type, const char *body)
{
	char *copy = strdup(body ? body : "");

	http_reply_take(res, status, content_type, copy, copy ? strlen(copy) : 0);
}

void http_reply_stream(struct http_response *res, int status, const char *content_type,
                       struct http_stream stream)
{
	http_reply_take(res, status, content_type, NULL, 0);
	if (res->stream.close)
		res->stream.close(res->stream.arg);
	res->stream = stream;
}

void http_reply_header(struct http_response *res, const char *name, const char *value)
{
	int i = res->nheaders;

	if (i >= HTTP_MAX_HEADERS)
		return;
	res->headers[i][0] = strdup(name);
	res->headers[i][1] = strdup(value);
	if (!res->headers[i][0] || !res->headers[i][1]) {
		free(res->headers[i][0]);
		free(res->headers[i][1]);
		return;
	}
	res->nheaders++;
}

void http_reply_problem(struct http_response *res, int status, const char *field,
                        const char *detail_fmt, ...)
{
	char detail[512], name[128];
	va_list ap;
	json_t *doc;
	char *text;

	va_start(ap, detail_fmt);
	vsnprintf(detail, sizeof(detail), detail_fmt, ap);
	va_end(ap);
	utf8_mend(detail);
	doc = json_pack("{s:s, s:s, s:i, s:s}", "type", "about:blank", "title",
	                http_status_text(status), "status", status, "detail", detail);
	if (doc && field) {
		snprintf(name, sizeof(name), "%s", field);
		utf8_mend(name);
		json_object_set_new(doc, "field", json_string(name));
	}
	text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	if (text) {
		http_reply_take(res, status, "application/problem+json", text, strlen(text));
	} else {
		res->status = status;
		http_reply(res, status, "application/problem+json", "{}");
	}
}

const char *http_request_header(const struct http_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *http_request_query(const struct http_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

static void response_release(struct http_response *res)
{
	if (res->stream.close)
		res->stream.close(res->stream.arg);
	res->stream = (struct http_stream){0};
	free(res->body);
	for (int i = 0; i < res->nheaders; i++) {
		free(res->headers[i][0]);
		free(res->headers[i][1]);
	}
}

static void count_status(struct http_server *srv, int status)
{
	struct metric *m;
	char labels[64];

	if (!srv->metrics || status < 100 || status >= HTTP_STATUS_SLOTS)
		return;
	/* Looked up once per status; later responses only add. */
	m = atomic_load_explicit(&srv->by_status[status], memory_order_acquire);
	if (!m) {
		snprintf(labels, sizeof(labels), "server=\"%s\",status=\"%d\"", srv->name, status);
		m = metrics_counter(srv->metrics, "saga_http_responses_total",
		                    "HTTP responses by status", labels);
		atomic_store_explicit(&srv->by_status[status], m, memory_order_release);
	}
	metric_add(m, 1);
}

/* libmicrohttpd wants more of a stream's body. */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream_conn *sc = cls;
	struct http_server *srv = sc->srv;
	unsigned long wakes;
	bool stopping;
	ssize_t n;

	(void)pos;
	pthread_mutex_lock(&srv->sleep_lock);
	wakes = srv->wakes;
	stopping = srv->stopping;
	pthread_mutex_unlock(&srv->sleep_lock);
	if (stopping)
		return MHD_CONTENT_READER_END_OF_STREAM;
	n = sc->stream.read(sc->stream.arg, buf, max);
	if (n < 0)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	if (n > 0) {
		/* The client must take it within the stall time. */
		set_deadline(srv, sc->conn, srv->stream_stall_ms);
		return n;
	}
	set_deadline(srv, sc->conn, 0);
	pthread_mutex_lock(&srv->sleep_lock);
	/* A wake-up since the read may have found nothing to resume: read again. */
	if (!srv->stopping && srv->wakes == wakes) {
		sc->suspended = true;
		MHD_suspend_connection(sc->conn);
	}
	pthread_mutex_unlock(&srv->sleep_lock);
	return 0;
}

/* The stream's answer is done with: the next wake-up frees its entry. */
static void stream_done(void *cls)
{
	struct stream_conn *sc = cls;

	sc->stream.close(sc->stream.arg);
	atomic_store(&sc->closed, true);
}

struct http_later *http_reply_later(struct http_response *res, http_later_fn then, void *arg,
                                    void (*free_arg)(void *arg))
{
	struct http_later *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	pthread_mutex_init(&l->lock, NULL);
	l->then = then;
	l->arg = arg;
	l->free_arg = free_arg;
	l->owners = 2;
	res->later = l;
	return l;
}

static void later_release(struct http_later *l)
{
	int owners;

	pthread_mutex_lock(&l->lock);
	owners = --l->owners;
	pthread_mutex_unlock(&l->lock);
	if (owners > 0)
		return;
	if (l->free_arg)
		l->free_arg(l->arg);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

/* Wakes l's connection if it sleeps; l->lock held. */
static void later_wake(struct http_later *l)
{
	if (l->sleeping) {
		l->sleeping = false;
		MHD_resume_connection(l->conn);
	}
}

void http_later_done(struct http_later *l)
{
	pthread_mutex_lock(&l->lock);
	l->done = true;
	later_wake(l);
	pthread_mutex_unlock(&l->lock);
	later_release(l);
}

/* Takes l off the server's list (sleep_lock held). */
static void later_unlist(struct http_server *srv, struct http_later *l)
{
	if (!l->listed)
		return;
	if (l->prev)
		l->prev->next = l->next;
	else
		srv->laters = l->next;
	if (l->next)
		l->next->prev = l->prev;
	l->listed = false;
}

/* Wakes every connection that sleeps for a later answer (sleep_lock held). */
static void wake_laters(struct http_server *srv)
{
	for (struct http_later *l = srv->laters; l; l = l->next) {
		pthread_mutex_lock(&l->lock);
		later_wake(l);
		pthread_mutex_unlock(&l->lock);
	}
}

/* Waits up to ms for the answers given later to be sent. */
static void await_laters(struct http_server *srv, long ms)
{
	long long end = clock_mono_ms() + ms;
	bool waiting = true;

	while (waiting && clock_mono_ms() < end) {
		pthread_mutex_lock(&srv->sleep_lock);
		waiting = srv->laters != NULL;
		pthread_mutex_unlock(&srv->sleep_lock);
		if (waiting)
			clock_sleep_ms(10);
	}
}

/* Resumes the sleeping streams of one part (parts = 1: every stream) and
 * frees the entries of those that ended; stop: none sleeps again, and the
 * connections that wait for a later answer get it now. */
static void resume_streams(struct http_server *srv, bool stop, unsigned part, unsigned parts)
{
	struct stream_conn **at, *sc;

	pthread_mutex_lock(&srv->sleep_lock);
	srv->wakes++;
	srv->stopping = srv->stopping || stop;
	for (at = &srv->streams; (sc = *at);) {
		if (atomic_load(&sc->closed)) {
			*at = sc->next;
			free(sc);
			continue;
		}
		if (sc->suspended && sc->number % parts == part) {
			sc->suspended = false;
			MHD_resume_connection(sc->conn);
		}
		at = &sc->next;
	}
	if (stop)
		wake_laters(srv);
	pthread_mutex_unlock(&srv->sleep_lock);
}

void http_server_wake_streams(void *srv, unsigned part, unsigned parts)
{
	if (srv && parts > 0)
		resume_streams(srv, false, part % parts, parts);
}

/* The response of a streamed answer, or NULL (the stream is then closed). */
static struct MHD_Response *stream_response(struct http_server *srv, struct MHD_Connection *conn,
                                            struct http_response *res)
{
	struct stream_conn *sc = calloc(1, sizeof(*sc));
	struct MHD_Response *r;

	if (!sc)
		return NULL;
	sc->srv = srv;
	sc->conn = conn;
	sc->stream = res->stream;
	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_read, sc,
	                                      stream_done);
	if (!r) {
		free(sc);
		return NULL;
	}
	res->stream = (struct http_stream){0}; /* now stream_done's */
	pthread_mutex_lock(&srv->sleep_lock);
	sc->number = srv->nstreams++;
	sc->next = srv->streams;
	srv->streams = sc;
	pthread_mutex_unlock(&srv->sleep_lock);
	return r;
}

static enum MHD_Result send_response(struct http_server *srv, struct MHD_Connection *conn,
                                     struct http_response *res, const char *request_id)
{
	struct MHD_Response *r;
	enum MHD_Result rc;

	if (res->stream.read) {
		r = stream_response(srv, conn, res);
	} else {
		r = MHD_create_response_from_buffer(
		        res->body_len, res->body ? res->body : (char *)"",
		        res->body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
		if (r)
			res->body = NULL; /* now owned by libmicrohttpd */
	}
	if (!r) {
		response_release(res);
		return MHD_NO;
	}
	if (res->content_type)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, res->content_type);
	for (int i = 0; i < res->nheaders; i++)
		MHD_add_response_header(r, res->headers[i][0], res->headers[i][1]);
	MHD_add_response_header(r, "X-Request-Id", request_id);
	rc = MHD_queue_response(conn, (unsigned int)res->status, r);
	MHD_destroy_response(r);
	response_release(res);
	return rc;
}

/* Whether path fits pattern, where each "{}" stands for one segment: one
 * character or more, none of them '/'. */
static bool segments_match(const char *pattern, const char *path)
{
	while (*pattern) {
		if (pattern[0] == '{' && pattern[1] == '}') {
			size_t n = strcspn(path, "/");

			if (n == 0)
				return false;
			pattern += 2;
			path += n;
		} else if (*pattern++ != *path++) {
			return false;
		}
	}
	return *path == '\0';
}

static bool route_matches(const struct http_route *r, const char *path)
{
	size_t n = strlen(r->path);

	if (n > 1 && r->path[n - 2] == '/' && r->path[n - 1] == '*')
		return strncmp(path, r->path, n - 1) == 0;
	if (n > 0 && r->path[n - 1] == '/')
		return strncmp(path, r->path, n) == 0 && path[n] != '\0';
	return segments_match(r->path, path);
}

static void dispatch(struct http_server *srv, const struct http_request *req,
                     struct http_response *res)
{
	bool path_known = false;

	for (size_t i = 0; i < srv->nroutes; i++) {
		const struct http_route *r = &srv->routes[i];

		if (!route_matches(r, req->path))
			continue;
		path_known = true;
		if (strcmp(r->method, req->method) == 0) {
			r->fn(srv->ctx, req, res);
			if (res->status == 0 && !res->later)
				http_reply_problem(res, 500, NULL, "the handler gave no answer");
			return;
		}
	}
	if (path_known) {
		char allow[64] = "";

		for (size_t i = 0; i < srv->nroutes; i++)
			if (route_matches(&srv->routes[i], req->path) &&
			    strlen(allow) + strlen(srv->routes[i].method) + 3 < sizeof(allow))
				snprintf(allow + strlen(allow), sizeof(allow) - strlen(allow),
				         "%s%s", allow[0] ? ", " : "", srv->routes[i].method);
		http_reply_problem(res, 405, NULL, "method %s is not allowed on %s", req->method,
		                   req->path);
		http_reply_header(res, "Allow", allow);
	} else
		http_reply_problem(res, 404, NULL, "no resource at %s", req->path);
}

/* What head_bytes finds: the bytes, and a query parameter holding a NUL
 * byte (%00), which handlers, reading C strings, would see cut there. */
struct head {
	size_t bytes;
	const char *nul;
};

static enum MHD_Result add_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                 size_t key_size, const char *value, size_t value_size)
{
	struct head *h = cls;

	h->bytes += key_size + value_size + 4; /* ": ", CRLF; "=", "&" */
	if (kind == MHD_GET_ARGUMENT_KIND && !h->nul &&
	    (strlen(key) != key_size || (value && strlen(value) != value_size)))
		h->nul = key;
	return MHD_YES;
}

/* The request line's and the headers' bytes, near enough, in one look at
 * each header and query parameter. */
static struct head head_bytes(struct MHD_Connection *conn, const char *url, const char *method)
{
	struct head h = {strlen(method) + strlen(url) + strlen(" HTTP/1.1\r\n\r\n"), NULL};

	MHD_get_connection_values_n(conn, MHD_HEADER_KIND, add_field, &h);
	MHD_get_connection_values_n(conn, MHD_GET_ARGUMENT_KIND, add_field, &h);
	return h;
}

/* The handler answers with l later: true when its connection now sleeps
 * until then, false when the answer can be given at once. */
static bool sleep_for(struct http_server *srv, struct MHD_Connection *conn, struct pending *p,
                      struct http_later *l)
{
	bool sleep;

	p->later = l;
	pthread_mutex_lock(&srv->sleep_lock);
	pthread_mutex_lock(&l->lock);
	l->conn = conn;
	sleep = !l->done && !srv->stopping;
	if (sleep) {
		l->sleeping = true;
		l->listed = true;
		l->prev = NULL;
		l->next = srv->laters;
		if (srv->laters)
			srv->laters->prev = l;
		srv->laters = l;
		MHD_suspend_connection(conn);
	}
	pthread_mutex_unlock(&l->lock);
	pthread_mutex_unlock(&srv->sleep_lock);
	return sleep;
}

/* Fills res with l's answer (its connection was woken, or never slept). */
static void answer_later(struct http_server *srv, const struct http_request *req,
                         struct http_response *res, struct http_later *l)
{
	bool done;

	pthread_mutex_lock(&l->lock);
	done = l->done;
	pthread_mutex_unlock(&l->lock);
	res->later = NULL;
	l->then(srv->ctx, req, res, l->arg, done);
	if (res->status == 0 || res->later) {
		response_release(res);
		res->later = NULL;
		http_reply_problem(res, 500, NULL, "the handler gave no answer");
	}
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **state)
{
	struct http_server *srv = cls;
	struct pending *p = *state;
	struct http_response res = {0};
	struct http_request req;

	(void)version;
	if (!p) {
		const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		                                             MHD_HTTP_HEADER_CONTENT_LENGTH);
		struct head head;

		p = calloc(1, sizeof(*p));
		if (!p)
			return MHD_NO;
		*state = p;
		request_id(conn, p->request_id, sizeof(p->request_id));
		/* The headers are in; the body has its own time. */
		set_deadline(srv, conn, srv->body_timeout_ms);
		head = head_bytes(conn, url, method);
		if (head.bytes > srv->max_header_bytes) {
			http_reply_problem(&res, 431, NULL,
			                   "the request line and headers exceed %zu bytes",
			                   srv->max_header_bytes);
			count_status(srv, 431);
			return send_response(srv, conn, &res, p->request_id);
		}
		if (head.nul) {
			http_reply_problem(&res, 400, head.nul,
			                   "the query parameter %s has a NUL byte (%%00)",
			                   head.nul);
			count_status(srv, 400);
			return send_response(srv, conn, &res, p->request_id);
		}
		if (cl) {
			char *end;
			unsigned long long n = strtoull(cl, &end, 10);

			if (*end == '\0' && n > srv->max_body) {
				/* Answer before reading a body we would refuse anyway. */
				http_reply_problem(&res, 413, NULL,
				                   "the body is %llu bytes; the limit is %zu", n,
				                   srv->max_body);
				count_status(srv, 413);
				return send_response(srv, conn, &res, p->request_id);
			}
		}
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		if (p->too_large || p->len + n > srv->max_body) {
			p->too_large = true;
			return MHD_YES;
		}
		if (p->len + n + 1 > p->cap) {
			size_t cap = (p->len + n + 1) * 2;
			char *body;

			if (cap > srv->max_body + 1)
				cap = srv->max_body + 1;
			body = realloc(p->body, cap);
			if (!body)
				return MHD_NO;
			p->body = body;
			p->cap = cap;
		}
		memcpy(p->body + p->len, upload_data, n);
		p->len += n;
		p->body[p->len] = '\0';
		return MHD_YES;
	}
	if (p->too_large) {
		http_reply_problem(&res, 413, NULL, "the body exceeds the limit of %zu bytes",
		                   srv->max_body);
		count_status(srv, 413);
		return send_response(srv, conn, &res, p->request_id);
	}
	req.method = method;
	req.path = url;
	req.body = p->body ? p->body : "";
	req.body_len = p->len;
	req.conn = conn;
	req.request_id = p->request_id;
	log_set_request_id(p->request_id);
	if (!p->later) {
		set_deadline(srv, conn, 0); /* the handler's own limits apply now */
		dispatch(srv, &req, &res);
	}
	/* A later answer: its connection sleeps (no answer yet), or it is due now. */
	if (p->later || (res.later && !sleep_for(srv, conn, p, res.later)))
		answer_later(srv, &req, &res, p->later);
	log_set_request_id(NULL);
	if (res.status == 0)
		return MHD_YES;
	count_status(srv, res.status);
	return send_response(srv, conn, &res, p->request_id);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **state,
                         enum MHD_RequestTerminationCode code)
{
	struct http_server *srv = cls;
	struct pending *p = *state;

	(void)code;
	/* Kept alive, the connection has the header time again for its next request. */
	set_deadline(srv, conn, srv->header_timeout_ms);
	if (p) {
		if (p->later) {
			struct http_later *l = p->later;

			pthread_mutex_lock(&srv->sleep_lock);
			later_unlist(srv, l);
			pthread_mutex_unlock(&srv->sleep_lock);
			pthread_mutex_lock(&l->lock);
			l->conn = NULL;
			l->sleeping = false;
			pthread_mutex_unlock(&l->lock);
			later_release(l);
		}
		free(p->body);
		free(p);
		*state = NULL;
	}
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
        __attribute__((format(printf, 2, 0)));

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = '\0';
	/* A stream's reader that went away is how streams end, not a fault. */
	if (strstr(msg, "Failed to send the chunked response body"))
		LOG(DEBUG, "http server: %s", msg);
	else
		LOG(WARN, "http server: %s", msg);
}

int http_server_start(struct http_server **out, const struct http_server_cfg *cfg,
                      const struct http_route *routes, size_t nroutes, void *ctx, char *errstr,
                      size_t errstr_size)
{
	struct http_server *srv;
	struct sockaddr_in sa;
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_EPOLL |
	                     MHD_ALLOW_SUSPEND_RESUME;
	unsigned int pool = cfg->threads ? cfg->threads : 1;
	unsigned int max_conns = cfg->max_connections ? cfg->max_connections : 1024;
	unsigned int per_client = cfg->max_per_client ? cfg->max_per_client : 64;
	size_t header_bytes = cfg->max_header_bytes ? cfg->max_header_bytes : 16 * 1024;
	char labels[64];

	*out = NULL;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)cfg->port);
	if (inet_pton(AF_INET, cfg->addr ? cfg->addr : "127.0.0.1", &sa.sin_addr) != 1) {
		snprintf(errstr, errstr_size, "invalid listen address \"%s\"", cfg->addr);
		return ERR_INVALID;
	}
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return ERR_NOMEM;
	srv->routes = routes;
	srv->nroutes = nroutes;
	srv->ctx = ctx;
	srv->max_body = cfg->max_body ? cfg->max_body : 64 * 1024;
	srv->max_header_bytes = header_bytes;
	srv->metrics = cfg->metrics;
	srv->header_timeout_ms = cfg->header_timeout_ms > 0 ? cfg->header_timeout_ms : 10000;
	srv->body_timeout_ms = cfg->body_timeout_ms > 0 ? cfg->body_timeout_ms : 10000;
	srv->stream_stall_ms = cfg->stream_stall_ms > 0 ? cfg->stream_stall_ms : 10000;
	snprintf(srv->name, sizeof(srv->name), "%s", cfg->name ? cfg->name : "http");
	snprintf(labels, sizeof(labels), "server=\"%s\"", srv->name);
	srv->m_timed_out =
	        metrics_counter(cfg->metrics, "saga_http_slow_clients_closed_total",
	                        "connections closed for not sending a request in time", labels);
	pthread_mutex_init(&srv->lock, NULL);
	pthread_mutex_init(&srv->sleep_lock, NULL);
	clock_cond_init(&srv->wake); /* deadlines are clock_mono_ms */
	/* Room for every connection libmicrohttpd accepts, and for those it is closing. */
	srv->nslots = (size_t)max_conns + 64;
	srv->slots = calloc(srv->nslots, sizeof(*srv->slots));
	if (!srv->slots) {
		http_server_free(srv);
		return ERR_NOMEM;
	}
	{
		/* The logger goes first, so libmicrohttpd never writes to stderr itself. */
		struct MHD_OptionItem opts[] = {
		        {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)on_mhd_log, srv},
		        {MHD_OPTION_SOCK_ADDR, 0, &sa},
		        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, srv},
		        {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, srv},
		        /* Idle connections; a slow sender is the watchdog's. */
		        {MHD_OPTION_CONNECTION_TIMEOUT,
		         (intptr_t)((srv->header_timeout_ms + 999) / 1000), NULL},
		        {MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, NULL},
		        {MHD_OPTION_CONNECTION_LIMIT, (intptr_t)max_conns, NULL},
		        {MHD_OPTION_PER_IP_CONNECTION_LIMIT, (intptr_t)per_client, NULL},
		        /* The request's head (on_request refuses one over header_bytes
		         * with 431) and room for a streamed answer's chunks. */
		        {MHD_OPTION_CONNECTION_MEMORY_LIMIT,
		         (intptr_t)(header_bytes + HTTP_STREAM_WRITE_BYTES), NULL},
		        {pool > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, pool, NULL},
		        {MHD_OPTION_END, 0, NULL},
		};

		srv->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_ARRAY,
		                            opts, MHD_OPTION_END);
	}
	if (!srv->mhd) {
		snprintf(errstr, errstr_size, "could not listen on %s:%d",
		         cfg->addr ? cfg->addr : "127.0.0.1", cfg->port);
		http_server_free(srv);
		return ERR_FATAL;
	}
	if (pthread_create(&srv->watchdog, NULL, watchdog_main, srv) != 0) {
		snprintf(errstr, errstr_size, "could not start the http watchdog thread");
		http_server_free(srv);
		return ERR_FATAL;
	}
	srv->watching = true;
	*out = srv;
	return 0;
}

void http_server_free(struct http_server *srv)
{
	if (!srv)
		return;
	/* The answers given later have their reports still to come, for a while;
	 * then libmicrohttpd must not stop with a connection suspended. */
	await_laters(srv, HTTP_LATER_STOP_MS);
	resume_streams(srv, true, 0, 1);
	await_laters(srv, 1000); /* the rest are answered 503 */
	if (srv->mhd)
		MHD_stop_daemon(srv->mhd);
	resume_streams(srv, true, 0, 1); /* frees the entries of the streams that ended */
	if (srv->watching) {
		pthread_mutex_lock(&srv->lock);
		atomic_store(&srv->stop, true);
		pthread_cond_signal(&srv->wake);
		pthread_mutex_unlock(&srv->lock);
		pthread_join(srv->watchdog, NULL);
	}
	pthread_cond_destroy(&srv->wake);
	pthread_mutex_destroy(&srv->lock);
	pthread_mutex_destroy(&srv->sleep_lock);
	free(srv->slots);
	free(srv);
}
