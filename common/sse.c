/*
 * sse.c - the broadcast ring of Server-Sent Events (sse.h).
 *
 * The ring holds the last ring_bytes bytes of the stream: bytes
 * [head - size, head) when head > size; the index, a slot per frame
 * number (modulo its size), says where each frame starts. A reader behind
 * what they hold has lost frames: it is dropped. A frame with a brief form
 * has it right after the full one; a reader walks the index, taking of
 * each frame it wants the form it asked for. One mutex guards it all;
 * copies out of the ring are short (a reader takes at most what its
 * connection's buffer wants), and a publisher appends a whole batch at
 * once.
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

#define SSE_PREAMBLE  "retry: 2000\n\n"
#define SSE_RESET     "event: reset\ndata: {}\n\n"
#define SSE_KEEPALIVE ": keepalive\n\n"

/* Where a frame of the stream is, and what filters look at. */
struct frame {
	uint64_t seq;   /* its number, the SSE id (0: a slot never used) */
	uint64_t start; /* its first byte's offset in the stream */
	uint32_t len;
	uint32_t brief_len; /* its brief form, right after it (0: none) */
	bool comment;       /* a keepalive: every reader gets it */
	uint64_t kind, key;
};

struct sse_hub {
	pthread_mutex_t lock;
	pthread_cond_t tick;       /* stop */
	pthread_mutex_t wake_lock; /* held while wake is called or changed */
	char *ring;
	size_t size;
	uint64_t head; /* bytes appended since the start */
	struct frame *frames;
	size_t nframes;    /* the index's slots, a power of two */
	uint64_t next_seq; /* the number of the next frame */
	int readers, max_readers;
	long flush_ms, keepalive_ms;
	void (*wake)(void *arg, unsigned part, unsigned parts);
	void *wake_arg;
	pthread_t thread;
	bool running, stop;
	struct metric *m_readers, *m_dropped, *m_events;
};

struct sse_reader {
	struct sse_hub *hub;
	uint64_t pos;        /* the next byte */
	uint64_t seq;        /* the next frame */
	uint64_t frame_left; /* bytes of a wanted frame still to copy */
	uint64_t kinds[SSE_MAX_KINDS], key, follow;
	int nkinds; /* 0: every kind */
	bool has_key, has_follow, brief;
	char preamble[64]; /* sent before the stream */
	size_t preamble_len, preamble_sent;
	int64_t read_at; /* monotonic ms of the last read that took bytes */
};

/* FNV-1a, 64 bits: what a filter compares (never 0). */
static uint64_t hash_of(const char *s, size_t n)
{
	uint64_t h = 14695981039346656037ULL;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ULL;
	}
	return h ? h : 1;
}

static uint64_t hash_str(const char *s)
{
	return s ? hash_of(s, strlen(s)) : 0;
}

/* Copies n bytes into the ring at offset at (lock held). */
static void ring_put(struct sse_hub *h, uint64_t at, const char *src, size_t n)
{
	size_t i = (size_t)(at % h->size), first = h->size - i < n ? h->size - i : n;

	memcpy(h->ring + i, src, first);
	memcpy(h->ring, src + first, n - first);
}

/* Copies n bytes of the ring from offset at (lock held). */
static void ring_get(const struct sse_hub *h, uint64_t at, char *dst, size_t n)
{
	for (size_t done = 0; done < n;) {
		size_t i = (size_t)((at + done) % h->size);
		size_t part = h->size - i < n - done ? h->size - i : n - done;

		memcpy(dst + done, h->ring + i, part);
		done += part;
	}
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

/* The frame seq while the index and the ring still hold it, else NULL. */
static const struct frame *held(const struct sse_hub *h, uint64_t seq)
{
	const struct frame *f = &h->frames[seq & (h->nframes - 1)];

	return f->seq == seq && f->start >= ring_tail(h) ? f : NULL;
}

/* A piece of text and its length. */
struct text {
	const char *s;
	size_t n;
};

/* Appends "id: <id>\nevent: <event>\ndata: <data>\n\n" (lock held). */
static void append_form(struct sse_hub *h, struct text id, struct text event, struct text data)
{
	append(h, "id: ", 4);
	append(h, id.s, id.n);
	append(h, "\nevent: ", 8);
	append(h, event.s, event.n);
	append(h, "\ndata: ", 7);
	append(h, data.s, data.n);
	append(h, "\n\n", 2);
}

/* Appends a frame's bytes (both forms) and its entry in the index (lock held). */
static void append_frame(struct sse_hub *h, const struct sse_item *it)
{
	static const size_t framing = sizeof("id: \nevent: \ndata: \n\n") - 1;
	char id[24];
	uint64_t seq = h->next_seq, start = h->head;
	size_t len = strlen(SSE_KEEPALIVE), brief_len = 0;

	if (it->event) {
		struct text event = {it->event, strcspn(it->event, "\r\n")};
		struct text data = {it->data, strcspn(it->data, "\r\n")};
		struct text brief = {it->brief, it->brief ? strcspn(it->brief, "\r\n") : 0};
		struct text number = {id, (size_t)snprintf(id, sizeof(id), "%" PRIu64, seq)};

		if (event.s[event.n] || data.s[data.n] || (brief.s && brief.s[brief.n]))
			return; /* a line break */
		len = framing + number.n + event.n + data.n;
		if (brief.s)
			brief_len = framing + number.n + event.n + brief.n;
		if (len + brief_len > h->size / 4)
			return;
		append_form(h, number, event, data);
		if (brief.s)
			append_form(h, number, event, brief);
		metric_add(h->m_events, 1);
	} else {
		append(h, SSE_KEEPALIVE, len);
	}
	h->frames[seq & (h->nframes - 1)] = (struct frame){.seq = seq,
	                                                   .start = start,
	                                                   .len = (uint32_t)len,
	                                                   .brief_len = (uint32_t)brief_len,
	                                                   .comment = !it->event,
	                                                   .kind = hash_str(it->kind),
	                                                   .key = hash_str(it->key)};
	h->next_seq++;
}

void sse_hub_publish(struct sse_hub *h, const struct sse_item *items, size_t n)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	for (size_t i = 0; i < n; i++)
		if (items[i].event && items[i].data)
			append_frame(h, &items[i]);
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

void sse_hub_set_wake(struct sse_hub *h, void (*wake)(void *arg, unsigned part, unsigned parts),
                      void *arg)
{
	pthread_mutex_lock(&h->wake_lock);
	h->wake = wake;
	h->wake_arg = arg;
	pthread_mutex_unlock(&h->wake_lock);
}

/* Wakes a part of the readers at each tick, one part after the other: a
 * part when something came since it was last woken, and the time after
 * that too (a reader that found nothing just before its wake-up went to
 * sleep just after it). */
static void *hub_main(void *arg)
{
	struct sse_hub *h = arg;
	uint64_t woken_at[SSE_WAKE_PARTS] = {0};
	bool again[SSE_WAKE_PARTS] = {false};
	unsigned part = 0;
	long tick = h->flush_ms / SSE_WAKE_PARTS > 0 ? h->flush_ms / SSE_WAKE_PARTS : 1;
	int64_t keepalive_at = clock_mono_ms() + h->keepalive_ms;

	pthread_mutex_lock(&h->lock);
	while (!h->stop) {
		int64_t now = clock_mono_ms();
		bool wake = false;

		if (now >= keepalive_at) {
			keepalive_at = now + h->keepalive_ms;
			if (h->readers > 0)
				append_frame(h, &(struct sse_item){0});
		}
		if (h->head != woken_at[part]) {
			woken_at[part] = h->head;
			again[part] = true;
			wake = true;
		} else if (again[part]) {
			again[part] = false;
			wake = true;
		}
		if (wake) {
			pthread_mutex_unlock(&h->lock);
			pthread_mutex_lock(&h->wake_lock);
			if (h->wake)
				h->wake(h->wake_arg, part, SSE_WAKE_PARTS);
			pthread_mutex_unlock(&h->wake_lock);
			pthread_mutex_lock(&h->lock);
		}
		part = (part + 1) % SSE_WAKE_PARTS;
		if (!h->stop)
			clock_cond_wait_until(&h->tick, &h->lock, now + tick);
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

int sse_hub_new(struct sse_hub **out, const struct sse_hub_cfg *cfg, char *errstr,
                size_t errstr_size)
{
	struct sse_hub *h = calloc(1, sizeof(*h));

	*out = NULL;
	if (!h) {
		snprintf(errstr, errstr_size, "out of memory");
		return ERR_NOMEM;
	}
	h->size = cfg->ring_bytes ? cfg->ring_bytes : 1 << 20;
	h->max_readers = cfg->max_readers > 0 ? cfg->max_readers : 256;
	h->flush_ms = cfg->flush_ms > 0 ? cfg->flush_ms : 200;
	h->keepalive_ms = cfg->keepalive_ms > 0 ? cfg->keepalive_ms : 5000;
	h->ring = malloc(h->size);
	/* A slot per 32 bytes at least: the index outlasts the bytes (frames are
	 * larger); a power of two, as every reader looks up every frame. */
	for (h->nframes = 1; h->nframes < h->size / 32; h->nframes *= 2)
		;
	h->frames = calloc(h->nframes, sizeof(*h->frames));
	h->next_seq = 1;
	if (!h->ring || !h->frames) {
		free(h->ring);
		free(h->frames);
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
	clock_cond_init(&h->tick); /* waits until clock_mono_ms times */
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
	free(h->frames);
	free(h);
}

/* Where a reader with Last-Event-ID last_id goes on, or false when it
 * cannot: not a frame's number, or what followed it is no longer held
 * (lock held). */
static bool resume_at(const struct sse_hub *h, const char *last_id, struct sse_reader *r)
{
	const struct frame *next;
	char *end;
	unsigned long long id;

	if (!last_id || !*last_id || strspn(last_id, "0123456789") != strlen(last_id))
		return false;
	id = strtoull(last_id, &end, 10);
	if (*end || id >= h->next_seq)
		return false;
	if (id + 1 == h->next_seq) { /* nothing since */
		r->pos = h->head;
		r->seq = h->next_seq;
		return true;
	}
	if (!(next = held(h, id + 1)))
		return false;
	r->pos = next->start;
	r->seq = next->seq;
	return true;
}

/* Reads filter into r: ERR_INVALID for a list of kinds that names none
 * (",,") or too many. */
static int set_filter(struct sse_reader *r, const struct sse_filter *filter)
{
	const char *p;

	if (!filter)
		return 0;
	r->brief = filter->brief;
	r->has_key = filter->key != NULL;
	r->key = hash_str(filter->key);
	r->has_follow = filter->follow != NULL;
	r->follow = hash_str(filter->follow);
	for (p = filter->kinds; p && *p;) {
		size_t n = strcspn(p, ",");

		if (r->nkinds == SSE_MAX_KINDS)
			return ERR_INVALID;
		if (n > 0)
			r->kinds[r->nkinds++] = hash_of(p, n);
		p += n + (p[n] == ',');
	}
	return filter->kinds && r->nkinds == 0 ? ERR_INVALID : 0;
}

int sse_reader_open(struct sse_reader **out, struct sse_hub *h, const char *last_id,
                    const struct sse_filter *filter)
{
	struct sse_reader *r = calloc(1, sizeof(*r));
	bool resumed;

	*out = NULL;
	if (!r)
		return ERR_NOMEM;
	if (set_filter(r, filter) < 0) {
		free(r);
		return ERR_INVALID;
	}
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
	r->seq = h->next_seq;
	resumed = resume_at(h, last_id, r);
	pthread_mutex_unlock(&h->lock);
	snprintf(r->preamble, sizeof(r->preamble), "%s%s", SSE_PREAMBLE,
	         last_id && !resumed ? SSE_RESET : "");
	r->preamble_len = strlen(r->preamble);
	r->read_at = clock_mono_ms();
	*out = r;
	return 0;
}

/* Whether reader r wants frame f. */
static bool wants(const struct sse_reader *r, const struct frame *f)
{
	bool kind = r->nkinds == 0;

	if (f->comment)
		return true;
	if (r->has_key)
		return f->key == r->key;
	for (int i = 0; !kind && i < r->nkinds; i++)
		kind = f->kind == r->kinds[i];
	return kind || (r->has_follow && f->key == r->follow);
}

/* A reader's next bytes: the wanted frames, whole, in order, each in the
 * form asked for; how many, or -1 when overtaken (lock held). */
static ssize_t read_frames(struct sse_reader *r, char *buf, size_t size)
{
	struct sse_hub *h = r->hub;
	size_t done = 0;

	while (done < size) {
		const struct frame *f;

		if (r->frame_left > 0) {
			size_t n =
			        r->frame_left < size - done ? (size_t)r->frame_left : size - done;

			if (r->pos < ring_tail(h))
				return -1;
			ring_get(h, r->pos, buf + done, n);
			r->pos += n;
			r->frame_left -= n;
			done += n;
			continue;
		}
		if (r->seq == h->next_seq)
			break;
		if (!(f = held(h, r->seq)))
			return -1;
		r->seq++;
		if (wants(r, f)) {
			bool brief = r->brief && f->brief_len > 0;

			r->pos = brief ? f->start + f->len : f->start;
			r->frame_left = brief ? f->brief_len : f->len;
		}
	}
	return (ssize_t)done;
}

ssize_t sse_reader_read(struct sse_reader *r, char *buf, size_t size)
{
	struct sse_hub *h = r->hub;
	uint64_t behind = 0;
	ssize_t n;

	if (r->preamble_sent < r->preamble_len) {
		size_t k = r->preamble_len - r->preamble_sent < size
		                   ? r->preamble_len - r->preamble_sent
		                   : size;

		memcpy(buf, r->preamble + r->preamble_sent, k);
		r->preamble_sent += k;
		return (ssize_t)k;
	}
	pthread_mutex_lock(&h->lock);
	n = read_frames(r, buf, size);
	if (n < 0)
		behind = h->head - r->pos;
	pthread_mutex_unlock(&h->lock);
	if (n < 0) {
		metric_add(h->m_dropped, 1);
		LOG(WARN,
		    "event stream: a reader %" PRIu64
		    " bytes behind is dropped (the ring holds %zu);"
		    " it last took bytes %lld ms ago",
		    behind, h->size, (long long)(clock_mono_ms() - r->read_at));
	} else if (n > 0) {
		r->read_at = clock_mono_ms();
	}
	return n;
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
