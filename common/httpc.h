/*
 * httpc.h - the small HTTP/1.1 client of the load generator, the chaos
 * clients and the container healthcheck (probe): keep-alive connections to
 * one server, a deadline on every request, the host resolved by name
 * (getaddrinfo) or given as an address.
 */
#ifndef COMMON_HTTPC_H
#define COMMON_HTTPC_H

#include <stddef.h>

struct httpc_target {
	char host[128];
	char port[8];
	char hostport[160]; /* for the Host header */
	char path[256];     /* the URL's path, "/" when it has none */
};

/* Parses "http://host:port[/path]" into t. Returns 0, or -1 with errstr set. */
int httpc_parse_url(struct httpc_target *t, const char *url, char *errstr, size_t errstr_size);

/* A connection to t whose reads and writes give up after timeout_ms; -1 when
 * the name does not resolve or nothing accepts the connection. */
int httpc_connect(const struct httpc_target *t, int timeout_ms);

/*
 * One request on the connection fd. headers: extra header lines, each
 * ending in "\r\n" (may be ""). Returns the status, with the body (NUL
 * terminated, cut to size) in resp; -1 when the connection failed before a
 * whole answer arrived (refused, reset, closed or timed out: the outcome is
 * then unknown). The caller closes fd after -1.
 */
int httpc_request(int fd, const struct httpc_target *t, const char *method, const char *path,
                  const char *headers, const char *body, char *resp, size_t size);

#endif
