/*
 * sse-readers - many clients of the gateway's event stream at once, for
 * tests/ui/run.sh: N readers (50 from each loopback address 127.0.0.2,
 * .3, ...: the gateway lets one address hold only so many connections) read
 * GET /v1/events for SECONDS and count the saga frames each received;
 * STALLED more connect with a 4 KiB receive buffer, ask for every frame
 * (no QUERY) and never read. Prints
 *
 *   readers=N connected=N frames_min=N frames_max=N ended_early=N
 *   stalled=N stalled_closed=N
 *
 * Usage: sse-readers http://host:port N SECONDS [STALLED [QUERY]]   (API_KEY
 * from the environment; QUERY, e.g. "types=OrderCreated", is the stream's
 * filter). SIGTERM or SIGINT ends it early, with the same report.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "httpc.h"

#define MAX_READERS 4096
#define PER_ADDRESS 50
#define FRAME_MARK  "event: saga\n"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* Where a reader is in the answer: its headers, then the chunks of the
 * body (Transfer-Encoding: chunked), each a hex size line and the data. */
enum { IN_HEADERS, IN_SIZE, IN_DATA, IN_DATA_END };

struct reader {
	int fd;
	int state;
	char line[64]; /* the headers' last bytes, or the size line so far */
	size_t line_len;
	long chunk_left;
	long frames;
	char tail[16]; /* the body's last bytes: a mark may straddle two reads */
	size_t tail_len;
	int ended;
};

static int open_reader(const struct httpc_target *t, int index, int rcvbuf, const char *query)
{
	struct sockaddr_in from = {.sin_family = AF_INET}, to = {.sin_family = AF_INET};
	char request[1024];
	int fd = socket(AF_INET, SOCK_STREAM, 0), n;

	if (fd < 0)
		return -1;
	from.sin_addr.s_addr = htonl(0x7f000002u + (uint32_t)(index / PER_ADDRESS));
	to.sin_port = htons((uint16_t)atoi(t->port));
	inet_pton(AF_INET, t->host, &to.sin_addr);
	if (rcvbuf)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (bind(fd, (struct sockaddr *)&from, sizeof(from)) < 0 ||
	    connect(fd, (struct sockaddr *)&to, sizeof(to)) < 0) {
		close(fd);
		return -1;
	}
	n = snprintf(request, sizeof(request),
	             "GET /v1/events%s%s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
	             "Accept: text/event-stream\r\n\r\n",
	             *query ? "?" : "", query, t->hostport,
	             getenv("API_KEY") ? getenv("API_KEY") : "");
	if (n < 0 || (size_t)n >= sizeof(request) || write(fd, request, (size_t)n) != n) {
		close(fd);
		return -1;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

/* Counts the marks in a piece of the body, a mark split across pieces
 * included: in place, and across the seam in the last bytes kept with the
 * first ones of the piece. */
static void count(struct reader *r, const char *buf, size_t n)
{
	const size_t mark = strlen(FRAME_MARK), keep = mark - 1;
	char seam[2 * sizeof(r->tail)];
	size_t head = n < keep ? n : keep, seam_len = r->tail_len + head;

	memcpy(seam, r->tail, r->tail_len);
	memcpy(seam + r->tail_len, buf, head);
	/* A mark in the seam that starts in the tail (one wholly in buf is counted below). */
	for (size_t i = 0; i < r->tail_len && i + mark <= seam_len; i++)
		r->frames += memcmp(seam + i, FRAME_MARK, mark) == 0;
	for (const char *at = buf; (at = memmem(at, n - (size_t)(at - buf), FRAME_MARK, mark));
	     at += mark)
		r->frames++;
	if (n >= keep) {
		r->tail_len = keep;
		memcpy(r->tail, buf + n - keep, keep);
	} else {
		size_t from = seam_len > keep ? seam_len - keep : 0;

		r->tail_len = seam_len - from;
		memmove(r->tail, seam + from, r->tail_len);
	}
}

/* Takes what arrived: the headers are skipped, the chunks' framing taken off. */
static void take(struct reader *r, const char *buf, size_t n)
{
	for (size_t i = 0; i < n;) {
		if (r->state == IN_DATA) {
			size_t part = (size_t)r->chunk_left < n - i ? (size_t)r->chunk_left : n - i;

			count(r, buf + i, part);
			i += part;
			r->chunk_left -= (long)part;
			if (r->chunk_left == 0)
				r->state = IN_DATA_END;
			continue;
		}
		if (r->line_len < sizeof(r->line) - 1)
			r->line[r->line_len++] = buf[i];
		r->line[r->line_len] = '\0';
		i++;
		if (r->state == IN_HEADERS) {
			if (r->line_len >= 4 && !strcmp(r->line + r->line_len - 4, "\r\n\r\n"))
				r->state = IN_SIZE, r->line_len = 0;
			else if (r->line_len == sizeof(r->line) - 1) /* keep the last bytes */
				memmove(r->line, r->line + 32, r->line_len -= 32);
		} else if (r->line_len >= 2 && !strcmp(r->line + r->line_len - 2, "\r\n")) {
			if (r->state == IN_SIZE) {
				r->chunk_left = strtol(r->line, NULL, 16);
				r->state = r->chunk_left > 0 ? IN_DATA : IN_DATA_END;
			} else {
				r->state = IN_SIZE; /* the CRLF after a chunk */
			}
			r->line_len = 0;
		}
	}
}

int main(int argc, char **argv)
{
	struct httpc_target t;
	char why[256], buf[65536];
	int n, stalled, connected = 0, ended = 0, stalled_closed = 0, ep;
	long seconds, min = -1, max = 0;
	struct reader *readers;
	struct epoll_event ready[256];
	long long until;

	if (argc < 4 || httpc_parse_url(&t, argv[1], why, sizeof(why)) < 0) {
		fprintf(stderr, "usage: sse-readers http://host:port N SECONDS [STALLED]\n");
		return 2;
	}
	n = atoi(argv[2]);
	seconds = atol(argv[3]);
	stalled = argc > 4 ? atoi(argv[4]) : 0;
	if (n < 0 || stalled < 0 || n + stalled > MAX_READERS || seconds < 1) {
		fprintf(stderr, "sse-readers: N + STALLED at most %d, SECONDS at least 1\n",
		        MAX_READERS);
		return 2;
	}
	readers = calloc((size_t)(n + stalled) + 1, sizeof(*readers));
	/* epoll, not poll: the readers cost their machine as little as they can
	 * (make bench-stream runs them beside the stack). */
	ep = epoll_create1(0);
	if (!readers || ep < 0)
		return 1;
	for (int i = 0; i < n + stalled; i++) {
		/* A stalled reader takes every frame: its buffers fill sooner. */
		readers[i].fd =
		        open_reader(&t, i, i < n ? 0 : 4096, i < n && argc > 5 ? argv[5] : "");
		connected += readers[i].fd >= 0;
		if (i < n && readers[i].fd >= 0) {
			struct epoll_event e = {.events = EPOLLIN, .data.u32 = (uint32_t)i};

			if (epoll_ctl(ep, EPOLL_CTL_ADD, readers[i].fd, &e) < 0)
				return 1;
		}
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	until = clock_mono_ms() + seconds * 1000;
	while (!stop && clock_mono_ms() < until) {
		int k = epoll_wait(ep, ready, (int)(sizeof(ready) / sizeof(ready[0])), 200);

		if (k < 0 && errno != EINTR)
			break;
		for (int j = 0; j < k; j++) {
			struct reader *r = &readers[ready[j].data.u32];
			ssize_t got = read(r->fd, buf, sizeof(buf));

			if (got > 0) {
				take(r, buf, (size_t)got);
			} else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
				r->ended = 1;
				epoll_ctl(ep, EPOLL_CTL_DEL, r->fd, NULL);
			}
		}
	}
	close(ep);
	for (int i = 0; i < n; i++) {
		if (readers[i].fd < 0)
			continue;
		ended += readers[i].ended;
		min = min < 0 || readers[i].frames < min ? readers[i].frames : min;
		max = readers[i].frames > max ? readers[i].frames : max;
		close(readers[i].fd);
	}
	/* A stalled reader the gateway closed reads to the end (or a reset) at once. */
	for (int i = n; i < n + stalled; i++) {
		ssize_t got;

		if (readers[i].fd < 0)
			continue;
		while ((got = read(readers[i].fd, buf, sizeof(buf))) > 0)
			;
		stalled_closed += got == 0 || (errno != EAGAIN && errno != EINTR);
		close(readers[i].fd);
	}
	printf("readers=%d connected=%d frames_min=%ld frames_max=%ld ended_early=%d stalled=%d "
	       "stalled_closed=%d\n",
	       n, connected, min < 0 ? 0 : min, max, ended, stalled, stalled_closed);
	free(readers);
	return 0;
}
