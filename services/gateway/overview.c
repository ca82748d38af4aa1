/*
 * overview.c - the saga at a glance (overview.h).
 *
 * The rates are a ring of OVERVIEW_SECONDS one-second slots, each stamped
 * with its second, so a slot from an older lap counts as empty. The groups
 * come from the daemons' Prometheus text: saga_consumer_lag (one gauge per
 * partition an instance holds; summed over the instances they are the
 * group's lag) and saga_consumer_dead_lettered_total, by their group label.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "httpc.h"
#include "log.h"
#include "overview.h"

#define OVERVIEW_MAX_TARGETS 32
#define OVERVIEW_MAX_GROUPS  32
#define SCRAPE_TIMEOUT_MS    300
#define SCRAPE_MAX_BYTES     (512 * 1024)

enum { RATE_ACCEPTED, RATE_COMPLETED, RATE_CANCELLED, RATE_KINDS };

static const char *const rate_names[RATE_KINDS] = {"accepted", "completed", "cancelled"};
static const char *const rate_events[RATE_KINDS] = {"OrderRequested", "OrderCompleted",
                                                    "OrderCancelled"};

struct slot {
	long long second;
	long count[RATE_KINDS];
};

struct target {
	char name[64];
	struct httpc_target http;
};

struct overview {
	pthread_mutex_t rates_lock;
	struct slot slots[OVERVIEW_SECONDS];
	pthread_mutex_t scrape_lock; /* one scrape at a time; guards groups */
	struct target targets[OVERVIEW_MAX_TARGETS];
	int ntargets;
	long long scraped_at; /* monotonic ms */
	json_t *groups;
};

int overview_new(struct overview **out, const char *targets, char *errstr, size_t errstr_size)
{
	struct overview *o = calloc(1, sizeof(*o));
	const char *p = targets ? targets : "";

	*out = NULL;
	if (!o)
		return ERR_NOMEM;
	pthread_mutex_init(&o->rates_lock, NULL);
	pthread_mutex_init(&o->scrape_lock, NULL);
	while (*p) {
		size_t n = strcspn(p, ","), eq;
		char item[256], url[300];
		struct target *t = &o->targets[o->ntargets];

		if (n == 0 || n >= sizeof(item) || o->ntargets == OVERVIEW_MAX_TARGETS)
			goto invalid;
		memcpy(item, p, n);
		item[n] = '\0';
		eq = strcspn(item, "=");
		if (eq == 0 || eq >= sizeof(t->name) || !item[eq] || !item[eq + 1])
			goto invalid;
		snprintf(t->name, sizeof(t->name), "%.*s", (int)eq, item);
		snprintf(url, sizeof(url), "http://%s/metrics", item + eq + 1);
		if (httpc_parse_url(&t->http, url, errstr, errstr_size) < 0)
			goto invalid;
		o->ntargets++;
		p += n + (p[n] == ',');
	}
	*out = o;
	return 0;
invalid:
	snprintf(errstr, errstr_size, "want name=host:port,... (at most %d): \"%s\"",
	         OVERVIEW_MAX_TARGETS, targets);
	overview_free(o);
	return ERR_INVALID;
}

void overview_free(struct overview *o)
{
	if (!o)
		return;
	json_decref(o->groups);
	pthread_mutex_destroy(&o->rates_lock);
	pthread_mutex_destroy(&o->scrape_lock);
	free(o);
}

void overview_count(struct overview *o, const char *type, long long at_ms)
{
	long long second = at_ms / 1000;
	struct slot *s;
	int kind;

	for (kind = 0; kind < RATE_KINDS; kind++)
		if (!strcmp(type, rate_events[kind]))
			break;
	if (!o || kind == RATE_KINDS || second <= 0)
		return;
	s = &o->slots[second % OVERVIEW_SECONDS];
	pthread_mutex_lock(&o->rates_lock);
	if (s->second < second) { /* a slot from an older lap */
		memset(s, 0, sizeof(*s));
		s->second = second;
	}
	if (s->second == second)
		s->count[kind]++;
	pthread_mutex_unlock(&o->rates_lock);
}

json_t *overview_rates(struct overview *o, long long now_ms)
{
	long long until = now_ms / 1000;
	json_t *doc =
	        json_pack("{s:i, s:I}", "seconds", OVERVIEW_SECONDS, "until", (json_int_t)until);
	json_t *series[RATE_KINDS];

	for (int k = 0; k < RATE_KINDS; k++) {
		series[k] = json_array();
		json_object_set_new(doc, rate_names[k], series[k]);
	}
	pthread_mutex_lock(&o->rates_lock);
	for (long long second = until - OVERVIEW_SECONDS + 1; second <= until; second++) {
		const struct slot *s = &o->slots[second % OVERVIEW_SECONDS];

		for (int k = 0; k < RATE_KINDS; k++)
			json_array_append_new(series[k],
			                      json_integer(s->second == second ? s->count[k] : 0));
	}
	pthread_mutex_unlock(&o->rates_lock);
	return doc;
}

/* The value of label name in a sample's label set "{a=\"x\",b=\"y\"}". */
static bool label_value(const char *labels, const char *name, char *out, size_t size)
{
	char key[64];
	const char *at, *end;

	snprintf(key, sizeof(key), "%s=\"", name);
	at = strstr(labels, key);
	if (!at)
		return false;
	at += strlen(key);
	end = strchr(at, '"');
	if (!end || (size_t)(end - at) >= size)
		return false;
	snprintf(out, size, "%.*s", (int)(end - at), at);
	return true;
}

/* The group's entry in groups, made when new. */
static json_t *group_entry(json_t *groups, const char *group)
{
	size_t i;
	json_t *g;

	json_array_foreach (groups, i, g) {
		if (!strcmp(json_string_value(json_object_get(g, "group")), group))
			return g;
	}
	if (json_array_size(groups) >= OVERVIEW_MAX_GROUPS)
		return NULL;
	g = json_pack("{s:s, s:I, s:I, s:i, s:b}", "group", group, "lag", (json_int_t)0,
	              "dead_lettered", (json_int_t)0, "instances", 0, "up", 1);
	json_array_append_new(groups, g);
	return g;
}

static void add_to(json_t *g, const char *field, long long n)
{
	json_object_set_new(g, field,
	                    json_integer(json_integer_value(json_object_get(g, field)) + n));
}

/* Adds one daemon's metrics text to groups. */
static void add_metrics(json_t *groups, char *text)
{
	static const struct {
		const char *prefix, *field;
	} wanted[] = {{"saga_consumer_lag{", "lag"},
	              {"saga_consumer_dead_lettered_total{", "dead_lettered"}};
	json_t *seen = json_object(); /* the groups this daemon reports */

	for (char *line = text, *next; line && *line; line = next) {
		char group[128];
		const char *value;
		json_t *g;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		for (size_t w = 0; w < sizeof(wanted) / sizeof(wanted[0]); w++) {
			if (strncmp(line, wanted[w].prefix, strlen(wanted[w].prefix)) != 0 ||
			    !label_value(line, "group", group, sizeof(group)) ||
			    !(value = strrchr(line, ' ')) || !(g = group_entry(groups, group)))
				continue;
			add_to(g, wanted[w].field, strtoll(value + 1, NULL, 10));
			if (!json_object_get(seen, group)) {
				json_object_set_new(seen, group, json_true());
				add_to(g, "instances", 1);
			}
		}
	}
	json_decref(seen);
}

/* Reads every target's metrics into a new groups array; a daemon that does
 * not answer is listed by its name with "up": false. */
static json_t *scrape(struct overview *o)
{
	json_t *groups = json_array();
	char *text = malloc(SCRAPE_MAX_BYTES);

	for (int i = 0; text && i < o->ntargets; i++) {
		const struct target *t = &o->targets[i];
		int fd = httpc_connect(&t->http, SCRAPE_TIMEOUT_MS);
		int status = fd < 0 ? -1
		                    : httpc_request(fd, &t->http, "GET", t->http.path, "", NULL,
		                                    text, SCRAPE_MAX_BYTES);

		if (fd >= 0)
			close(fd);
		if (status == 200) {
			add_metrics(groups, text);
		} else {
			json_t *g = group_entry(groups, t->name);

			if (g)
				json_object_set_new(g, "up", json_false());
		}
	}
	free(text);
	return groups;
}

json_t *overview_groups(struct overview *o)
{
	long long now = clock_mono_ms();
	json_t *groups;

	pthread_mutex_lock(&o->scrape_lock);
	if (!o->groups || now - o->scraped_at >= OVERVIEW_SCRAPE_MS) {
		json_decref(o->groups);
		o->groups = scrape(o);
		o->scraped_at = clock_mono_ms();
	}
	groups = json_deep_copy(o->groups);
	pthread_mutex_unlock(&o->scrape_lock);
	return groups;
}
