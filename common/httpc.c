#include "httpc.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

int httpc_parse_url(struct httpc_target *t, const char *url, char *errstr, size_t errstr_size)
{
	const char *p = url, *colon, *end;

	if (strncmp(p, "http://", 7) != 0) {
		snprintf(errstr, errstr_size, "%s: not an http:// URL", url);
		return -1;
	}
	p += 7;
	end = p + strcspn(p, "/");
	colon = memchr(p, ':', (size_t)(end - p));
	if (!colon) {
		colon = end;
		snprintf(t->port, sizeof(t->port), "80");
	} else if (end - colon - 1 < 1 || end - colon - 1 >= (long)sizeof(t->port)) {
		snprintf(errstr, errstr_size, "%s: bad port", url);
		return -1;
	} else {
		snprintf(t->port, sizeof(t->port), "%.*s", (int)(end - colon - 1), colon + 1);
	}
	if (colon == p || colon - p >= (long)sizeof(t->host)) {
		snprintf(errstr, errstr_size, "%s: bad host", url);
		return -1;
	}
	if (strlen(end) >= sizeof(t->path)) {
		snprintf(errstr, errstr_size, "%s: path too long", url);
		return -1;
	}
	snprintf(t->host, sizeof(t->host), "%.*s", (int)(colon - p), p);
	snprintf(t->hostport, sizeof(t->hostport), "%s:%s", t->host, t->port);
	snprintf(t->path, sizeof(t->path), "%s", *end ? end : "/");
	return 0;
}

int httpc_connect(const struct httpc_target *t, int timeout_ms)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res, *a;
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
	int one = 1, fd = -1;

	if (getaddrinfo(t->host, t->port, &hints, &res) != 0)
		return -1;
	for (a = res; a && fd < 0; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
		if (fd < 0)
			continue;
		/* The timeouts bound connect() too (Linux: SO_SNDTIMEO). */
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(fd, a->ai_addr, a->ai_addrlen) < 0) {
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	return fd;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int httpc_request(int fd, const struct httpc_target *t, const char *method, const char *path,
                  const char *headers, const char *body, char *resp, size_t size)
{
	char head[2048], *hdr_end = NULL;
	size_t len = 0, blen = body ? strlen(body) : 0;
	long content_length = 0;
	int n = snprintf(head, sizeof(head),
	                 "%s %s HTTP/1.1\r\nHost: %s\r\n%sContent-Type: application/json\r\n"
	                 "Content-Length: %zu\r\n\r\n",
	                 method, path, t->hostport, headers, blen);

	if (n < 0 || (size_t)n >= sizeof(head) || write_all(fd, head, (size_t)n) < 0 ||
	    (blen && write_all(fd, body, blen) < 0))
		return -1;
	for (;;) {
		ssize_t r;

		if (len == size - 1)
			break; /* the answer is longer than resp: keep what fits */
		r = read(fd, resp + len, size - 1 - len);
		if (r <= 0)
			return -1;
		len += (size_t)r;
		resp[len] = '\0';
		if (!hdr_end && (hdr_end = strstr(resp, "\r\n\r\n"))) {
			const char *cl = strcasestr(resp, "\r\nContent-Length:");

			content_length = cl ? strtol(cl + 17, NULL, 10) : 0;
		}
		if (hdr_end && len >= (size_t)(hdr_end + 4 - resp) + (size_t)content_length)
			break;
	}
	if (len < 12 || strncmp(resp, "HTTP/1.", 7) != 0)
		return -1;
	n = (int)strtol(resp + 9, NULL, 10);
	if (hdr_end) /* the body only */
		memmove(resp, hdr_end + 4, len - (size_t)(hdr_end + 4 - resp) + 1);
	return n;
}
