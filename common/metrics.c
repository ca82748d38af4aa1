#include "metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum metric_kind { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM };

struct metric {
	enum metric_kind kind;
	char *name;
	char *help;
	char *labels;        /* NULL or "a=\"b\"" */
	atomic_llong value;  /* counter, gauge; histogram: count */
	atomic_llong sum_us; /* histogram: sum in microseconds */
	double *bounds;      /* histogram */
	size_t nbounds;
	atomic_llong *buckets; /* histogram: non-cumulative counts, nbounds + 1 */
};

struct metrics {
	pthread_mutex_t lock;
	struct metric **items; /* grouped by name, in order of first creation */
	size_t n, cap;
};

const double metrics_latency_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                         0.1,    0.25,  0.5,    1,     2.5,  5,     10};
const size_t metrics_latency_nbounds = sizeof(metrics_latency_bounds) / sizeof(double);

int metrics_new(struct metrics **out)
{
	struct metrics *m = calloc(1, sizeof(*m));

	*out = NULL;
	if (!m)
		return ERR_NOMEM;
	pthread_mutex_init(&m->lock, NULL);
	*out = m;
	return 0;
}

static void metric_free(struct metric *x)
{
	if (!x)
		return;
	free(x->name);
	free(x->help);
	free(x->labels);
	free(x->bounds);
	free(x->buckets);
	free(x);
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++)
		metric_free(m->items[i]);
	free(m->items);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

static bool same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static struct metric *create(struct metrics *m, enum metric_kind kind, const char *name,
                             const char *help, const char *labels, const double *bounds,
                             size_t nbounds)
{
	struct metric *x = NULL;
	size_t at;

	if (!m || !name)
		return NULL;
	pthread_mutex_lock(&m->lock);
	/* Existing metric, or the place after the last one of the same name. */
	at = m->n;
	for (size_t i = 0; i < m->n; i++) {
		if (strcmp(m->items[i]->name, name) != 0)
			continue;
		if (same(m->items[i]->labels, labels) && m->items[i]->kind == kind) {
			x = m->items[i];
			goto out;
		}
		at = i + 1;
	}
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 32;
		struct metric **items = realloc(m->items, cap * sizeof(*items));

		if (!items)
			goto out;
		m->items = items;
		m->cap = cap;
	}
	x = calloc(1, sizeof(*x));
	if (!x)
		goto out;
	x->kind = kind;
	x->name = strdup(name);
	x->help = strdup(help ? help : "");
	x->labels = labels && labels[0] ? strdup(labels) : NULL;
	if (kind == KIND_HISTOGRAM) {
		x->nbounds = nbounds;
		x->bounds = malloc(nbounds * sizeof(double));
		x->buckets = calloc(nbounds + 1, sizeof(atomic_llong));
		if (x->bounds)
			memcpy(x->bounds, bounds, nbounds * sizeof(double));
	}
	if (!x->name || !x->help || (labels && labels[0] && !x->labels) ||
	    (kind == KIND_HISTOGRAM && (!x->bounds || !x->buckets))) {
		metric_free(x);
		x = NULL;
		goto out;
	}
	memmove(&m->items[at + 1], &m->items[at], (m->n - at) * sizeof(*m->items));
	m->items[at] = x;
	m->n++;
out:
	pthread_mutex_unlock(&m->lock);
	return x;
}

struct metric *metrics_counter(struct metrics *m, const char *name, const char *help,
                               const char *labels)
{
	return create(m, KIND_COUNTER, name, help, labels, NULL, 0);
}

struct metric *metrics_gauge(struct metrics *m, const char *name, const char *help,
                             const char *labels)
{
	return create(m, KIND_GAUGE, name, help, labels, NULL, 0);
}

struct metric *metrics_histogram(struct metrics *m, const char *name, const char *help,
                                 const char *labels, const double *bounds, size_t nbounds)
{
	return create(m, KIND_HISTOGRAM, name, help, labels, bounds, nbounds);
}

void metric_add(struct metric *c, int64_t delta)
{
	if (c)
		atomic_fetch_add_explicit(&c->value, delta, memory_order_relaxed);
}

void metric_set(struct metric *g, int64_t value)
{
	if (g)
		atomic_store_explicit(&g->value, value, memory_order_relaxed);
}

int64_t metric_value(const struct metric *c)
{
	return c ? atomic_load_explicit(&((struct metric *)c)->value, memory_order_relaxed) : 0;
}

void metric_observe(struct metric *h, double seconds)
{
	size_t i;

	if (!h || h->kind != KIND_HISTOGRAM)
		return;
	for (i = 0; i < h->nbounds && seconds > h->bounds[i]; i++)
		;
	atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_us, (long long)(seconds * 1e6), memory_order_relaxed);
	atomic_fetch_add_explicit(&h->value, 1, memory_order_relaxed);
}

/* A growing text buffer for rendering. */
struct text {
	char *buf;
	size_t len, cap;
	bool failed;
};

static void text_printf(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void text_printf(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->failed)
		return;
	for (;;) {
		size_t room = t->cap - t->len;

		va_start(ap, fmt);
		n = vsnprintf(t->buf ? t->buf + t->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->failed = true;
			return;
		}
		if ((size_t)n < room) {
			t->len += (size_t)n;
			return;
		}
		size_t cap = (t->cap + (size_t)n + 1) * 2;
		char *buf = realloc(t->buf, cap);

		if (!buf) {
			t->failed = true;
			return;
		}
		t->buf = buf;
		t->cap = cap;
	}
}

static const char *kind_name(enum metric_kind k)
{
	return k == KIND_COUNTER ? "counter" : k == KIND_GAUGE ? "gauge" : "histogram";
}

static void render_histogram(struct text *t, const struct metric *x)
{
	const char *sep = x->labels ? "," : "";
	const char *labels = x->labels ? x->labels : "";
	long long cum = 0;

	for (size_t i = 0; i <= x->nbounds; i++) {
		cum += atomic_load_explicit(&x->buckets[i], memory_order_relaxed);
		if (i < x->nbounds)
			text_printf(t, "%s_bucket{%s%sle=\"%g\"} %lld\n", x->name, labels, sep,
			            x->bounds[i], cum);
		else
			text_printf(t, "%s_bucket{%s%sle=\"+Inf\"} %lld\n", x->name, labels, sep,
			            cum);
	}
	text_printf(
	        t, "%s_sum%s%s%s %.6f\n", x->name, x->labels ? "{" : "", labels,
	        x->labels ? "}" : "",
	        (double)atomic_load_explicit(&((struct metric *)x)->sum_us, memory_order_relaxed) /
	                1e6);
	text_printf(t, "%s_count%s%s%s %lld\n", x->name, x->labels ? "{" : "", labels,
	            x->labels ? "}" : "", cum);
}

int metrics_render(struct metrics *m, char **out, size_t *len)
{
	struct text t = {0};

	*out = NULL;
	*len = 0;
	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < m->n; i++) {
		const struct metric *x = m->items[i];

		if (i == 0 || strcmp(m->items[i - 1]->name, x->name) != 0)
			text_printf(&t, "# HELP %s %s\n# TYPE %s %s\n", x->name, x->help, x->name,
			            kind_name(x->kind));
		if (x->kind == KIND_HISTOGRAM)
			render_histogram(&t, x);
		else
			text_printf(&t, "%s%s%s%s %lld\n", x->name, x->labels ? "{" : "",
			            x->labels ? x->labels : "", x->labels ? "}" : "",
			            (long long)metric_value(x));
	}
	pthread_mutex_unlock(&m->lock);
	text_printf(&t, "%s", "");
	if (t.failed || !t.buf) {
		free(t.buf);
		return ERR_NOMEM;
	}
	*out = t.buf;
	*len = t.len;
	return 0;
}
