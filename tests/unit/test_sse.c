/* Unit: the event stream's ring (common/sse.c) and the overview's rates
 * (services/gateway/overview.c), without a server. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "overview.h"
#include "sse.h"

static struct sse_hub *hub(size_t ring, int readers)
{
	struct sse_hub_cfg cfg = {.ring_bytes = ring, .max_readers = readers};
	struct sse_hub *h;
	char why[128];

	cr_assert_eq(sse_hub_new(&h, &cfg, why, sizeof(why)), 0, "%s", why);
	return h;
}

static void publish(struct sse_hub *h, const char *event, const char *data)
{
	struct sse_item it = {.event = event, .data = data};

	sse_hub_publish(h, &it, 1);
}

/* Everything the reader has now, as a string. */
static const char *drain(struct sse_reader *r, char *buf, size_t size)
{
	size_t len = 0;
	ssize_t n;

	while (len < size - 1 && (n = sse_reader_read(r, buf + len, size - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	return buf;
}

/* The id of the frame whose data is data, from a drained stream. */
static void id_of(const char *stream, const char *data, char *out, size_t size)
{
	const char *at = strstr(stream, data);

	cr_assert(at, "no frame with %s", data);
	while (at > stream && strncmp(at, "id: ", 4) != 0)
		at--;
	snprintf(out, size, "%.*s", (int)strcspn(at + 4, "\n"), at + 4);
}

Test(sse, a_reader_gets_the_frames_published_after_it_opened)
{
	struct sse_hub *h = hub(0, 0);
	struct sse_reader *r;
	char buf[4096];

	publish(h, "saga", "{\"n\":0}"); /* before: not for it */
	cr_assert_eq(sse_reader_open(&r, h, NULL, NULL), 0);
	publish(h, "saga", "{\"n\":1}");
	publish(h, "saga", "{\"n\":2}");
	drain(r, buf, sizeof(buf));
	cr_expect(strncmp(buf, "retry: ", 7) == 0, "%s", buf);
	cr_expect_null(strstr(buf, "{\"n\":0}"));
	cr_expect_not_null(strstr(buf, "event: saga\ndata: {\"n\":1}\n\n"), "%s", buf);
	cr_expect_not_null(strstr(buf, "{\"n\":2}"));
	cr_expect_eq(sse_reader_read(r, buf, sizeof(buf)), 0, "nothing new");
	sse_reader_close(r);
	sse_hub_free(h);
}

Test(sse, a_frame_with_a_line_break_is_left_out)
{
	struct sse_hub *h = hub(0, 0);
	struct sse_reader *r;
	char buf[4096];

	cr_assert_eq(sse_reader_open(&r, h, NULL, NULL), 0);
	drain(r, buf, sizeof(buf));
	publish(h, "saga", "{\"a\":1}\n\ndata: forged");
	publish(h, "sa\nga", "{}");
	cr_expect_eq(sse_reader_read(r, buf, sizeof(buf)), 0);
	sse_reader_close(r);
	sse_hub_free(h);
}

Test(sse, last_event_id_carries_on_after_that_frame)
{
	struct sse_hub *h = hub(0, 0);
	struct sse_reader *r;
	char buf[4096], id[32];

	cr_assert_eq(sse_reader_open(&r, h, NULL, NULL), 0);
	for (int i = 0; i < 5; i++) {
		char data[32];

		snprintf(data, sizeof(data), "{\"n\":%d}", i);
		publish(h, "saga", data);
	}
	drain(r, buf, sizeof(buf));
	id_of(buf, "{\"n\":2}", id, sizeof(id));
	sse_reader_close(r);
	cr_assert_eq(sse_reader_open(&r, h, id, NULL), 0);
	drain(r, buf, sizeof(buf));
	cr_expect_null(strstr(buf, "{\"n\":2}"), "%s", buf);
	cr_expect_not_null(strstr(buf, "{\"n\":3}"), "%s", buf);
	cr_expect_null(strstr(buf, "event: reset"));
	sse_reader_close(r);
	/* Not a frame's end, or not a number: told to start again. */
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(sse_reader_open(&r, h, i ? "12x" : "7", NULL), 0);
		drain(r, buf, sizeof(buf));
		cr_expect_not_null(strstr(buf, "event: reset\n"), "%s", buf);
		cr_expect_null(strstr(buf, "{\"n\":4}"), "starts at the newest");
		sse_reader_close(r);
	}
	sse_hub_free(h);
}

Test(sse, a_reader_the_ring_overtakes_is_dropped_and_an_old_id_is_reset)
{
	struct sse_hub *h = hub(65536, 0);
	struct sse_reader *slow, *fast;
	char buf[1 << 17], id[32], data[200];

	cr_assert_eq(sse_reader_open(&slow, h, NULL, NULL), 0);
	cr_assert_eq(sse_reader_open(&fast, h, NULL, NULL), 0);
	publish(h, "saga", "{\"first\":1}");
	drain(fast, buf, sizeof(buf));
	id_of(buf, "{\"first\":1}", id, sizeof(id));
	cr_expect_gt(sse_reader_read(slow, buf, 4), 0, "the preamble");
	memset(data, 'x', sizeof(data) - 1);
	data[sizeof(data) - 1] = '\0';
	for (int i = 0; i < 1000; i++) { /* 200 KB through a 64 KiB ring */
		publish(h, "saga", data);
		if (i % 50 == 0)
			drain(fast, buf, sizeof(buf));
	}
	drain(fast, buf, sizeof(buf));
	while (sse_reader_read(slow, buf, 64) > 0)
		; /* the rest of the preamble */
	cr_expect_eq(sse_reader_read(slow, buf, sizeof(buf)), -1, "overtaken");
	cr_expect_eq(sse_reader_read(fast, buf, sizeof(buf)), 0, "kept up");
	sse_reader_close(slow);
	sse_reader_close(fast);
	cr_assert_eq(sse_reader_open(&slow, h, id, NULL), 0);
	drain(slow, buf, sizeof(buf));
	cr_expect_not_null(strstr(buf, "event: reset"), "the id is gone from the ring");
	sse_reader_close(slow);
	sse_hub_free(h);
}

Test(sse, readers_past_the_limit_are_refused)
{
	struct sse_hub *h = hub(0, 2);
	struct sse_reader *r[3];

	cr_assert_eq(sse_reader_open(&r[0], h, NULL, NULL), 0);
	cr_assert_eq(sse_reader_open(&r[1], h, NULL, NULL), 0);
	cr_expect_eq(sse_hub_readers(h), 2);
	cr_expect_eq(sse_reader_open(&r[2], h, NULL, NULL), ERR_CONFLICT);
	sse_reader_close(r[0]);
	cr_expect_eq(sse_reader_open(&r[2], h, NULL, NULL), 0, "room again");
	sse_reader_close(r[1]);
	sse_reader_close(r[2]);
	cr_expect_eq(sse_hub_readers(h), 0);
	sse_hub_free(h);
}

Test(overview, rates_count_each_kind_in_its_second_of_the_window)
{
	struct overview *o;
	char why[128];
	long long now = 1800000000000LL; /* ms */
	json_t *r;

	cr_assert_eq(overview_new(&o, "", why, sizeof(why)), 0, "%s", why);
	overview_count(o, "OrderRequested", now - 1000);
	overview_count(o, "OrderRequested", now - 900);
	overview_count(o, "OrderCompleted", now);
	overview_count(o, "OrderCancelled", now - 2000);
	overview_count(o, "PaymentProcessed", now);                           /* not a rate */
	overview_count(o, "OrderRequested", now - OVERVIEW_SECONDS * 1000LL); /* outside */
	r = overview_rates(o, now);
	cr_expect_eq(json_integer_value(json_object_get(r, "until")), now / 1000);
	cr_assert_eq(json_array_size(json_object_get(r, "accepted")), OVERVIEW_SECONDS);
	cr_expect_eq(json_integer_value(
	                     json_array_get(json_object_get(r, "accepted"), OVERVIEW_SECONDS - 2)),
	             2);
	cr_expect_eq(json_integer_value(
	                     json_array_get(json_object_get(r, "completed"), OVERVIEW_SECONDS - 1)),
	             1);
	cr_expect_eq(json_integer_value(
	                     json_array_get(json_object_get(r, "cancelled"), OVERVIEW_SECONDS - 3)),
	             1);
	cr_expect_eq(json_integer_value(json_array_get(json_object_get(r, "accepted"), 0)), 0,
	             "a second of the last lap is not counted in this one");
	json_decref(r);
	overview_free(o);
}

Test(overview, a_malformed_target_list_is_refused)
{
	struct overview *o;
	char why[256];

	cr_expect_eq(overview_new(&o, "order", why, sizeof(why)), ERR_INVALID);
	cr_expect_eq(overview_new(&o, "order=127.0.0.1:9101,,x=y:1", why, sizeof(why)),
	             ERR_INVALID);
	cr_assert_eq(
	        overview_new(&o, "order=127.0.0.1:9101,order=127.0.0.1:9111", why, sizeof(why)), 0,
	        "%s", why);
	overview_free(o);
}

/* Publishes order's event of type kind, its data naming both. */
static void publish_event(struct sse_hub *h, const char *order, const char *kind)
{
	char data[128];
	struct sse_item it = {.event = "saga", .data = data, .kind = kind, .key = order};

	snprintf(data, sizeof(data), "{\"order_id\":\"%s\",\"event\":\"%s\"}", order, kind);
	sse_hub_publish(h, &it, 1);
}

static int count(const char *s, const char *what)
{
	int n = 0;

	for (; (s = strstr(s, what)); s += strlen(what))
		n++;
	return n;
}

Test(sse, a_filtered_reader_gets_only_the_frames_it_asks_for)
{
	struct sse_hub *h = hub(0, 0);
	struct sse_reader *kinds, *key, *follow, *all;
	char buf[8192];

	cr_assert_eq(sse_reader_open(&kinds, h, NULL,
	                             &(struct sse_filter){.kinds = "OrderCreated,OrderCompleted"}),
	             0);
	cr_assert_eq(sse_reader_open(&key, h, NULL, &(struct sse_filter){.key = "o-2"}), 0);
	cr_assert_eq(
	        sse_reader_open(&follow, h, NULL,
	                        &(struct sse_filter){.kinds = "OrderCompleted", .follow = "o-1"}),
	        0);
	cr_assert_eq(sse_reader_open(&all, h, NULL, &(struct sse_filter){0}), 0);
	for (int i = 1; i <= 3; i++) {
		char order[16];

		snprintf(order, sizeof(order), "o-%d", i);
		publish_event(h, order, "OrderCreated");
		publish_event(h, order, "PaymentProcessed");
		publish_event(h, order, "OrderCompleted");
	}
	drain(kinds, buf, sizeof(buf));
	cr_expect_eq(count(buf, "event: saga\n"), 6, "%s", buf);
	cr_expect_eq(count(buf, "PaymentProcessed"), 0);
	drain(key, buf, sizeof(buf));
	cr_expect_eq(count(buf, "event: saga\n"), 3, "%s", buf);
	cr_expect_eq(count(buf, "\"o-2\""), 3);
	drain(follow, buf, sizeof(buf));
	cr_expect_eq(count(buf, "\"o-1\""), 3, "every event of the followed order: %s", buf);
	cr_expect_eq(count(buf, "OrderCompleted"), 3, "and every OrderCompleted");
	cr_expect_eq(count(buf, "event: saga\n"), 5);
	drain(all, buf, sizeof(buf));
	cr_expect_eq(count(buf, "event: saga\n"), 9);
	cr_expect_not_null(strstr(buf, "id: 9\n"), "frames are numbered: %s", buf);
	sse_reader_close(kinds);
	sse_reader_close(key);
	sse_reader_close(follow);
	sse_reader_close(all);
	sse_hub_free(h);
}

Test(sse, a_filtered_reader_resumes_after_its_last_id_and_bytes_come_whole)
{
	struct sse_hub *h = hub(0, 0);
	struct sse_reader *r;
	struct sse_filter f = {.kinds = "OrderCompleted"};
	char buf[8192], small[7], id[32];
	size_t len = 0;
	ssize_t n;

	cr_assert_eq(sse_reader_open(&r, h, NULL, &f), 0);
	publish_event(h, "o-1", "OrderCompleted");
	publish_event(h, "o-2", "PaymentProcessed");
	publish_event(h, "o-3", "OrderCompleted");
	/* In pieces smaller than a frame: the same bytes. */
	while ((n = sse_reader_read(r, small, sizeof(small))) > 0) {
		memcpy(buf + len, small, (size_t)n);
		len += (size_t)n;
	}
	buf[len] = '\0';
	cr_expect_eq(count(buf, "event: saga\n"), 2, "%s", buf);
	id_of(buf, "o-1", id, sizeof(id));
	cr_expect_str_eq(id, "1");
	sse_reader_close(r);
	cr_assert_eq(sse_reader_open(&r, h, id, &f), 0);
	drain(r, buf, sizeof(buf));
	cr_expect_null(strstr(buf, "o-1"), "%s", buf);
	cr_expect_not_null(strstr(buf, "id: 3\nevent: saga\ndata: {\"order_id\":\"o-3\""), "%s",
	                   buf);
	sse_reader_close(r);
	cr_expect_eq(
	        sse_reader_open(&r, h, NULL,
	                        &(struct sse_filter){.kinds = "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,"
	                                                      "q,r,s,t,u,v,w,x,y,z,1,2,3,4,5,6,7"}),
	        ERR_INVALID, "33 kinds");
	cr_expect_eq(sse_reader_open(&r, h, NULL, &(struct sse_filter){.kinds = ",,"}), ERR_INVALID,
	             "a list of kinds that names none is not every kind");
	sse_hub_free(h);
}

Test(sse, a_brief_reader_gets_each_frame_s_brief_form_with_the_same_number)
{
	struct sse_hub *h = hub(0, 0);
	struct sse_reader *full, *brief, *resumed;
	struct sse_item items[] = {
	        {.event = "saga",
	         .data = "{\"n\":1,\"extra\":true}",
	         .brief = "{\"n\":1}",
	         .kind = "A",
	         .key = "o-1"},
	        {.event = "saga", .data = "{\"n\":2,\"no_brief\":true}", .kind = "A", .key = "o-1"},
	        {.event = "saga",
	         .data = "{\"n\":3,\"extra\":true}",
	         .brief = "{\"n\":3}",
	         .kind = "B",
	         .key = "o-2"},
	        {.event = "saga", .data = "{\"n\":4}", .brief = "{\"n\":4,\"broken\n\":1}"},
	};
	char buf[4096], small[5];
	size_t len = 0;
	ssize_t n;

	cr_assert_eq(sse_reader_open(&full, h, NULL, NULL), 0);
	cr_assert_eq(sse_reader_open(&brief, h, NULL, &(struct sse_filter){.brief = true}), 0);
	sse_hub_publish(h, items, 4);
	drain(full, buf, sizeof(buf));
	cr_expect_eq(count(buf, "event: saga\n"), 3, "%s", buf);
	cr_expect_not_null(strstr(buf, "id: 1\nevent: saga\ndata: {\"n\":1,\"extra\":true}\n\n"),
	                   "%s", buf);
	cr_expect_null(strstr(buf, "{\"n\":1}"), "no brief form for a full reader: %s", buf);
	cr_expect_null(strstr(buf, "{\"n\":4"), "a line break in the brief form: left out");
	/* In pieces smaller than a frame: whole frames, the brief form of each. */
	while ((n = sse_reader_read(brief, small, sizeof(small))) > 0) {
		memcpy(buf + len, small, (size_t)n);
		len += (size_t)n;
	}
	buf[len] = '\0';
	cr_expect_eq(count(buf, "event: saga\n"), 3, "%s", buf);
	cr_expect_not_null(strstr(buf, "id: 1\nevent: saga\ndata: {\"n\":1}\n\nid: 2\nevent: saga\n"
	                               "data: {\"n\":2,\"no_brief\":true}\n\n"
	                               "id: 3\nevent: saga\ndata: {\"n\":3}\n\n"),
	                   "the brief form, or the only one: %s", buf);
	cr_expect_null(strstr(buf, "extra"), "%s", buf);
	/* A brief reader that comes back after frame 1, of kind B only. */
	cr_assert_eq(sse_reader_open(&resumed, h, "1",
	                             &(struct sse_filter){.kinds = "B", .brief = true}),
	             0);
	drain(resumed, buf, sizeof(buf));
	cr_expect_not_null(strstr(buf, "retry: 2000\n\nid: 3\nevent: saga\ndata: {\"n\":3}\n\n"),
	                   "%s", buf);
	cr_expect_eq(count(buf, "event: saga\n"), 1, "%s", buf);
	sse_reader_close(full);
	sse_reader_close(brief);
	sse_reader_close(resumed);
	sse_hub_free(h);
}

/* What the hub woke: how often each part. */
struct woken {
	pthread_mutex_t lock;
	int parts[SSE_WAKE_PARTS];
	unsigned last_parts;
};

static void on_wake(void *arg, unsigned part, unsigned parts)
{
	struct woken *w = arg;

	pthread_mutex_lock(&w->lock);
	if (part < SSE_WAKE_PARTS)
		w->parts[part]++;
	w->last_parts = parts;
	pthread_mutex_unlock(&w->lock);
}

Test(sse, every_part_of_the_readers_is_woken_within_a_flush_interval_when_frames_came)
{
	struct sse_hub_cfg cfg = {.flush_ms = 100, .max_readers = 4};
	struct woken w = {.lock = PTHREAD_MUTEX_INITIALIZER};
	struct sse_hub *h;
	char why[128];

	cr_assert_eq(sse_hub_new(&h, &cfg, why, sizeof(why)), 0, "%s", why);
	sse_hub_set_wake(h, on_wake, &w);
	publish(h, "saga", "{\"n\":1}");
	/* Each part comes round within a flush interval: waited for up to 5 s
	 * (a slow machine is not what this tests). */
	for (int waited = 0, all = 0; !all && waited < 5000; waited += 10) {
		nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
		pthread_mutex_lock(&w.lock);
		all = 1;
		for (int i = 0; i < SSE_WAKE_PARTS; i++)
			all = all && w.parts[i] > 0;
		pthread_mutex_unlock(&w.lock);
	}
	sse_hub_set_wake(h, NULL, NULL);
	for (int i = 0; i < SSE_WAKE_PARTS; i++)
		cr_expect_geq(w.parts[i], 1, "part %d of %d was never woken", i, SSE_WAKE_PARTS);
	cr_expect_eq(w.last_parts, SSE_WAKE_PARTS);
	/* Nothing new: each part is woken once more at most (the wake-up after
	 * the one that found something), then not at all. */
	memset(w.parts, 0, sizeof(w.parts));
	sse_hub_set_wake(h, on_wake, &w);
	nanosleep(&(struct timespec){.tv_nsec = 250 * 1000 * 1000}, NULL);
	sse_hub_set_wake(h, NULL, NULL);
	for (int i = 0; i < SSE_WAKE_PARTS; i++)
		cr_expect_leq(w.parts[i], 1, "part %d woken %d times with nothing new", i,
		              w.parts[i]);
	sse_hub_free(h);
}
