/*
 * http.h - a small HTTP server on libmicrohttpd: routes, bounded request
 * bodies, and one way to write errors (application/problem+json, RFC 9457).
 *
 * Handlers run on libmicrohttpd's threads and fill in a response:
 *
 *   static void get_health(void *ctx, const struct http_request *req,
 *                          struct http_response *res)
 *   {
 *       http_reply(res, 200, "application/json", "{\"status\":\"ok\"}");
 *   }
 */
#ifndef COMMON_HTTP_H
#define COMMON_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "err.h"
#include "metrics.h"

#define HTTP_MAX_HEADERS 8

struct http_server;
struct MHD_Connection;

struct http_request {
	const char *method;
	const char *path; /* without the query string */
	const char *body; /* NUL-terminated copy of the body; "" when none */
	size_t body_len;
	const char *request_id; /* the client's X-Request-Id when sane, else made up; in
	                         * the answer's X-Request-Id and the thread's log lines */
	struct MHD_Connection *conn;
};

/*
 * A body made as it goes (Server-Sent Events): read() fills buf with up to
 * size bytes and returns how many, 0 when it has nothing now (the
 * connection then sleeps until http_server_wake_streams()), or -1 to end
 * the answer and close the connection. close() is called once, when the
 * connection ends (or the answer could not be sent).
 */
struct http_stream {
	ssize_t (*read)(void *arg, char *buf, size_t size);
	void (*close)(void *arg);
	void *arg;
};

struct http_later;

struct http_response {
	int status;
	const char *content_type; /* static string */
	char *body;               /* malloc'd; owned by the response */
	size_t body_len;
	int nheaders;
	char *headers[HTTP_MAX_HEADERS][2]; /* malloc'd name/value pairs */
	struct http_stream stream;          /* the body, when stream.read is set */
	struct http_later *later;           /* the answer comes later (http_reply_later) */
};

typedef void (*http_handler_fn)(void *ctx, const struct http_request *req,
                                struct http_response *res);

struct http_route {
	const char *method;
	/* The exact path, where "{}" is one segment (e.g. "/v1/orders/{}/cancel");
	 * a prefix when it ends with '/' (something must follow it); "/dir/"
	 * then '*': that directory and everything below it. A path that routes
	 * have only for other methods gets 405 with their methods in Allow. */
	const char *path;
	http_handler_fn fn;
};

struct http_server_cfg {
	const char *addr; /* IPv4 address to bind, e.g. "127.0.0.1" */
	int port;
	size_t max_body;         /* larger bodies get 413 */
	unsigned threads;        /* worker threads (each an event loop); 0 means 1 */
	struct metrics *metrics; /* may be NULL: saga_http_responses_total{server,status} */
	const char *name;        /* the server's label, e.g. "api" or "admin" */
	/*
	 * Limits against abuse (0: the default in parentheses): connections in
	 * all (1024) and from one client address (64), bytes of request line and
	 * headers (16 KiB), and the time a client has to send them, from its
	 * connection or its previous answer (10 s), and then its body (10 s).
	 * A connection past its time is closed.
	 */
	unsigned max_connections, max_per_client;
	size_t max_header_bytes;
	long header_timeout_ms, body_timeout_ms;
	/* A stream whose client takes none of the bytes it has to send for this
	 * long is closed (10 s). */
	long stream_stall_ms;
};

/* Starts serving at once. routes and ctx are borrowed for the server's life. */
int http_server_start(struct http_server **out, const struct http_server_cfg *cfg,
                      const struct http_route *routes, size_t nroutes, void *ctx, char *errstr,
                      size_t errstr_size) WARN_UNUSED;
/* Stops accepting, ends the streams, waits for running handlers, frees. NULL-safe. */
void http_server_free(struct http_server *srv);

/* Wakes the streams of one part of parts that had nothing to send, so they
 * read again (a stream's part is its number, in the order they began,
 * modulo parts). srv is a struct http_server (the signature fits
 * sse_hub_set_wake). */
void http_server_wake_streams(void *srv, unsigned part, unsigned parts);

/* A request header (case-insensitive name), or NULL. */
const char *http_request_header(const struct http_request *req, const char *name);
/* A query parameter (decoded; "" when given without a value), or NULL. */
const char *http_request_query(const struct http_request *req, const char *name);

/* Sets status and a copy of body. */
void http_reply(struct http_response *res, int status, const char *content_type, const char *body);
/* Sets status and body; takes ownership of the malloc'd body. */
void http_reply_take(struct http_response *res, int status, const char *content_type, char *body,
                     size_t len);
/* Answers with a body that stream makes as it goes (it is taken: its
 * close() is called in every case). */
void http_reply_stream(struct http_response *res, int status, const char *content_type,
                       struct http_stream stream);
/*
 * An answer that waits for something another thread will report (the
 * broker's acknowledgement of a message) without holding one of the
 * server's threads: the handler calls http_reply_later() and returns; the
 * connection sleeps until http_later_done(), then then() fills res on one of
 * the server's threads, like a handler (done false: the server is stopping
 * and the report did not come in time). arg is the handler's; free_arg(arg)
 * is called once neither the connection nor the reporter needs it. NULL
 * when out of memory (arg is then not taken). Exactly one
 * http_later_done() per later, from any thread, also after the client left.
 */
typedef void (*http_later_fn)(void *ctx, const struct http_request *req, struct http_response *res,
                              void *arg, bool done);

struct http_later *http_reply_later(struct http_response *res, http_later_fn then, void *arg,
                                    void (*free_arg)(void *arg)) WARN_UNUSED;
void http_later_done(struct http_later *later);

/* Adds a header (copied). Silently ignored past HTTP_MAX_HEADERS. */
void http_reply_header(struct http_response *res, const char *name, const char *value);

/*
 * The one way to answer with an error: application/problem+json with type,
 * title (from the status), status and the formatted detail; an optional
 * "field" names the invalid input.
 */
void http_reply_problem(struct http_response *res, int status, const char *field,
                        const char *detail_fmt, ...) __attribute__((format(printf, 4, 5)));

/* Reason phrase for a status code, e.g. "Not Found". */
const char *http_status_text(int status);

#endif
