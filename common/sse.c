/*
 * sse.c - the broadcast ring of Server-Sent Events (sse.h).
 *
 * The ring holds the last ring_bytes bytes of the stream: bytes
 * [head - size, head) when head > size. A reader's offset behind that has
 * been overwritten: the reader is dropped. One mutex guards the ring and
 * the readers' count; copies out of the ring are short (a reader takes at
 * most what its connection's buffer wants).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "sse.h"

#define SSE_PREAMBLE "retry: 2000\n\n"
#define SSE_RESET    "event: reset\ndata: {}\n\n"

struct sse_hub {
	pthread_mutex_t lock;
	pthread_cond_t tick;       /* stop */
	pthread_mutex_t wake_lock; /* held while wake is called or changed */
	char *ring;
	size_t size;
	uint64_t head; /* bytes appended since the start */
	int readers, max_readers;
	long flush_ms, keepalive_ms;
	void (*wake)(void *arg);
	void *wake_arg;
	pthread_t thread;
	bool running, stop;
	struct metric *m_readers, *m_dropped, *m_events;
};

struct sse_reader {
	struct sse_hub *hub;
	uint64_t pos;
	char preamble[64]; /* sent before the stream */
	size_t preamble_len, preamble_sent;
};

/* Copies n bytes into the ring at offset at (lock held). */
static void ring_put(struct sse_hub *h, uint64_t at, const char *src, size_t n)
{
	size_t i = (size_t)(at % h->size), first = h->size - i < n ? h->size - i : n;

	memcpy(h->ring + i, src, first);
	memcpy(h->ring, src + first, n - first);
}

static char ring_byte(const struct sse_hub *h, uint64_t at)
{
	return h->ring[at % h->size];
}

/* The oldest offset the ring still holds (lock held). */
static uint64_t ring_tail(const struct sse_hub *h)
{
	return h->head > h->size ? h->head - h->size : 0;
}

static void append(struct sse_hub *h, const char *text, size_t n)
{
	ring_put(h, h->head, text, n);
	h->head += n;
}

void sse_hub_publish(struct sse_hub *h, const char *event, const char *data)
{
	char id[32];
	size_t n;

	if (!h || strpbrk(event, "\r\n") || strpbrk(data, "\r\n"))
		return;
	pthread_mutex_lock(&h->lock);
	/* The id is where the frame ends: the length of what follows it is known. */
	n = strlen("id: \nevent: \ndata: \n\n") + strlen(event) + strlen(data);
	for (int digits = 1; digits < 21; digits++) {
		uint64_t end = h->head + n + (uint64_t)digits;

		if ((size_t)snprintf(id, sizeof(id), "%" PRIu64, end) == (size_t)digits)
			break;
	}
	n += strlen(id);
	if (n <= h->size / 4) {
		append(h, "id: ", 4);
		append(h, id, strlen(id));
		append(h, "\nevent: ", 8);
		append(h, event, strlen(event));
		append(h, "\ndata: ", 7);
		append(h, data, strlen(data));
		append(h, "\n\n", 2);
		metric_add(h->m_events, 1);
	}
	pthread_mutex_unlock(&h->lock);
}

int sse_hub_readers(struct sse_hub *h)
{
	int n;

	if (!h)
		return 0;
	pthread_mutex_lock(&h->lock);
	n = h->readers;
	pthread_mutex_unlock(&h->lock);
	return n;
}

void sse_hub_set_wake(struct sse_hub *h, void (*wake)(void *arg), void *arg)
{
	pthread_mutex_lock(&h->wake_lock);
	h->wake = wake;
	h->wake_arg = arg;
	pthread_mutex_unlock(&h->wake_lock);
}

/* Wakes the readers when something came since the last time, and the time
 * after that too: a reader that found nothing just before the last wake-up
 * went to sleep just after it. */
static void *hub_main(void *arg)
{
	struct sse_hub *h = arg;
	uint64_t woken_at = 0;
	int again = 0;
	int64_t keepalive_at = clock_mono_ms() + h->keepalive_ms;

	pthread_mutex_lock(&h->lock);
	while (!h->stop) {
		int64_t now = clock_mono_ms(), next = now + h->flush_ms;
		struct timespec at = {(time_t)(next / 1000), (long)(next % 1000) * 1000000L};
		bool wake = false;

		if (now >= keepalive_at) {
			keepalive_at = now + h->keepalive_ms;
			if (h->readers > 0)
				append(h, ": keepalive\n\n", 13);
		}
		if (h->head != woken_at) {
			woken_at = h->head;
			again = 1;
			wake = true;
		} else if (again) {
			again = 0;
			wake = true;
		}
		if (wake) {
			pthread_mutex_unlock(&h->lock);
			pthread_mutex_lock(&h->wake_lock);
			if (h->wake)
				h->wake(h->wake_arg);
			pthread_mutex_unlock(&h->wake_lock);
			pthread_mutex_lock(&h->lock);
		}
		if (!h->stop)
			pthread_cond_timedwait(&h->tick, &h->lock, &at);
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

int sse_hub_new(struct sse_hub **out, const struct sse_hub_cfg *cfg, char *errstr,
                size_t errstr_size)
{
	struct sse_hub *h = calloc(1, sizeof(*h));
	pthread_condattr_t attr;

	*out = NULL;
	if (!h) {
		snprintf(errstr, errstr_size, "out of memory");
		return ERR_NOMEM;
	}
	h->size = cfg->ring_bytes ? cfg->ring_bytes : 1 << 20;
	h->max_readers = cfg->max_readers > 0 ? cfg->max_readers : 256;
	h->flush_ms = cfg->flush_ms > 0 ? cfg->flush_ms : 100;
	h->keepalive_ms = cfg->keepalive_ms > 0 ? cfg->keepalive_ms : 15000;
	h->ring = malloc(h->size);
	if (!h->ring) {
		free(h);
		snprintf(errstr, errstr_size, "out of memory for a ring of %zu bytes",
		         cfg->ring_bytes);
		return ERR_NOMEM;
	}
	h->m_readers = metrics_gauge(cfg->metrics, "saga_sse_readers",
	                             "clients reading the event stream", NULL);
	h->m_dropped = metrics_counter(cfg->metrics, "saga_sse_dropped_total",
	                               "event stream clients dropped for reading too slowly", NULL);
	h->m_events = metrics_counter(cfg->metrics, "saga_sse_events_total",
	                              "events put on the event stream", NULL);
	pthread_mutex_init(&h->lock, NULL);
	pthread_mutex_init(&h->wake_lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC); /* clock_mono_ms */
	pthread_cond_init(&h->tick, &attr);
	pthread_condattr_destroy(&attr);
	if (pthread_create(&h->thread, NULL, hub_main, h) != 0) {
		snprintf(errstr, errstr_size, "could not start the event stream's thread");
		sse_hub_free(h);
		return ERR_FATAL;
	}
	h->running = true;
	*out = h;
	return 0;
}

void sse_hub_free(struct sse_hub *h)
{
	if (!h)
		return;
	if (h->running) {
		pthread_mutex_lock(&h->lock);
		h->stop = true;
		pthread_cond_signal(&h->tick);
		pthread_mutex_unlock(&h->lock);
		pthread_join(h->thread, NULL);
	}
	if (h->readers)
		LOG(WARN, "the event stream stops with %d readers open", h->readers);
	pthread_cond_destroy(&h->tick);
	pthread_mutex_destroy(&h->lock);
	pthread_mutex_destroy(&h->wake_lock);
	free(h->ring);
	free(h);
}

/* Where a reader with Last-Event-ID last_id goes on, or false when it
 * cannot: not a number, not a frame's end, or no longer in the ring
 * (lock held). */
static bool resume_at(const struct sse_hub *h, const char *last_id, uint64_t *pos)
{
	char *end;
	unsigned long long id;

	if (!last_id || !*last_id || strspn(last_id, "0123456789") != strlen(last_id))
		return false;
	id = strtoull(last_id, &end, 10);
	if (*end || id > h->head || id < ring_tail(h) + 2)
		return false;
	if (ring_byte(h, id - 1) != '\n' || ring_byte(h, id - 2) != '\n')
		return false;
	*pos = id;
	return true;
}

int sse_reader_open(struct sse_reader **out, struct sse_hub *h, const char *last_id)
{
	struct sse_reader *r = calloc(1, sizeof(*r));
	bool resumed;

	*out = NULL;
	if (!r)
		return ERR_NOMEM;
	pthread_mutex_lock(&h->lock);
	if (h->readers >= h->max_readers) {
		pthread_mutex_unlock(&h->lock);
		free(r);
		return ERR_CONFLICT;
	}
	h->readers++;
	metric_set(h->m_readers, h->readers);
	r->hub = h;
	r->pos = h->head;
	resumed = resume_at(h, last_id, &r->pos);
	pthread_mutex_unlock(&h->lock);
	snprintf(r->preamble, sizeof(r->preamble), "%s%s", SSE_PREAMBLE,
	         last_id && !resumed ? SSE_RESET : "");
	r->preamble_len = strlen(r->preamble);
	*out = r;
	return 0;
}

ssize_t sse_reader_read(struct sse_reader *r, char *buf, size_t size)
{
	struct sse_hub *h = r->hub;
	size_t n = 0;

	if (r->preamble_sent < r->preamble_len) {
		n = r->preamble_len - r->preamble_sent < size ? r->preamble_len - r->preamble_sent
		                                              : size;
		memcpy(buf, r->preamble + r->preamble_sent, n);
		r->preamble_sent += n;
		return (ssize_t)n;
	}
	pthread_mutex_lock(&h->lock);
	if (r->pos < ring_tail(h)) {
		pthread_mutex_unlock(&h->lock);
		metric_add(h->m_dropped, 1);
		return -1;
	}
	n = h->head - r->pos < size ? (size_t)(h->head - r->pos) : size;
	for (size_t done = 0; done < n;) {
		size_t i = (size_t)((r->pos + done) % h->size);
		size_t part = h->size - i < n - done ? h->size - i : n - done;

		memcpy(buf + done, h->ring + i, part);
		done += part;
	}
	r->pos += n;
	pthread_mutex_unlock(&h->lock);
	return (ssize_t)n;
}

void sse_reader_close(struct sse_reader *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->hub->lock);
	r->hub->readers--;
	metric_set(r->hub->m_readers, r->hub->readers);
	pthread_mutex_unlock(&r->hub->lock);
	free(r);
}
