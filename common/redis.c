#include "redis.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Where a redis:// URL points and who it logs in as. */
struct redis_addr {
	char host[256];
	int port, db;
	char user[128];     /* "": the default user */
	char password[256]; /* "": no AUTH */
};

/* Copies n bytes of s into a NUL-terminated buffer of size; -1 when too long. */
static int copy_part(char *out, size_t size, const char *s, size_t n)
{
	if (n >= size)
		return -1;
	memcpy(out, s, n);
	out[n] = '\0';
	return 0;
}

/* Parses redis://[user[:password]@]host:port[/db]. */
static int parse_url(const char *url, struct redis_addr *a)
{
	const char *p = url;
	const char *at, *colon;
	char *end;
	long v;

	memset(a, 0, sizeof(*a));
	if (strncmp(p, "redis://", 8) == 0)
		p += 8;
	at = strrchr(p, '@');
	if (at) {
		const char *sep = memchr(p, ':', (size_t)(at - p));

		if (sep ? copy_part(a->user, sizeof(a->user), p, (size_t)(sep - p)) < 0 ||
		                    copy_part(a->password, sizeof(a->password), sep + 1,
		                              (size_t)(at - sep - 1)) < 0
		        : copy_part(a->user, sizeof(a->user), p, (size_t)(at - p)) < 0)
			return -1;
		p = at + 1;
	}
	colon = strchr(p, ':');
	if (!colon || colon == p || copy_part(a->host, sizeof(a->host), p, (size_t)(colon - p)) < 0)
		return -1;
	errno = 0;
	v = strtol(colon + 1, &end, 10);
	if (errno || end == colon + 1 || v < 1 || v > 65535 || (*end != '\0' && *end != '/'))
		return -1;
	a->port = (int)v;
	if (*end == '/' && end[1] != '\0') {
		const char *d = end + 1;

		v = strtol(d, &end, 10);
		if (errno || end == d || *end != '\0' || v < 0 || v > 15)
			return -1;
		a->db = (int)v;
	}
	return 0;
}

/* Runs a command that must answer +OK (AUTH, SELECT); ERR_RETRY with errstr otherwise. */
static int expect_ok(redisContext *c, redisReply *r, const char *what, char *errstr,
                     size_t errstr_size)
{
	int rc = 0;

	if (!r || r->type != REDIS_REPLY_STATUS) {
		snprintf(errstr, errstr_size, "%s: %s", what,
		         r && r->type == REDIS_REPLY_ERROR ? r->str
		         : c->err                          ? c->errstr
		                                           : "no answer");
		rc = ERR_RETRY;
	}
	freeReplyObject(r);
	return rc;
}

int redis_connect(redisContext **out, const char *url, int timeout_ms, char *errstr,
                  size_t errstr_size)
{
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
	struct redis_addr a;
	redisContext *c;
	char what[200];

	*out = NULL;
	if (parse_url(url, &a) < 0) {
		/* Not the URL itself: it may hold a password. */
		snprintf(errstr, errstr_size,
		         "invalid redis url (want redis://[user:password@]host:port[/db])");
		return ERR_INVALID;
	}
	c = redisConnectWithTimeout(a.host, a.port, tv);
	if (!c)
		return ERR_NOMEM;
	if (c->err) {
		snprintf(errstr, errstr_size, "could not connect to redis at %s:%d: %s", a.host,
		         a.port, c->errstr);
		redisFree(c);
		return ERR_RETRY;
	}
	redisSetTimeout(c, tv);
	snprintf(what, sizeof(what), "redis refused the login of user \"%s\"",
	         *a.user ? a.user : "default");
	if ((*a.password && expect_ok(c,
	                              *a.user ? redisCommand(c, "AUTH %s %s", a.user, a.password)
	                                      : redisCommand(c, "AUTH %s", a.password),
	                              what, errstr, errstr_size) < 0) ||
	    (a.db != 0 && expect_ok(c, redisCommand(c, "SELECT %d", a.db),
	                            "could not select the redis db", errstr, errstr_size) < 0)) {
		redisFree(c);
		return ERR_RETRY;
	}
	*out = c;
	return 0;
}

int redis_ping(redisContext *c, char *errstr, size_t errstr_size)
{
	redisReply *r = redisCommand(c, "PING");
	int rc = 0;

	if (!r || r->type != REDIS_REPLY_STATUS || strcmp(r->str, "PONG") != 0) {
		snprintf(errstr, errstr_size, "redis did not answer PING: %s",
		         c->err ? c->errstr : "unexpected reply");
		rc = ERR_RETRY;
	}
	freeReplyObject(r);
	return rc;
}

struct redis_pool {
	char *url;
	int size, timeout_ms;
	redisContext **conns;
	bool *busy;
	pthread_mutex_t lock;
	pthread_cond_t freed;
};

int redis_pool_new(struct redis_pool **out, const char *url, int size, int timeout_ms, char *errstr,
                   size_t errstr_size)
{
	struct redis_pool *p = calloc(1, sizeof(*p));
	struct redis_addr a;

	*out = NULL;
	if (!p)
		return ERR_NOMEM;
	if (parse_url(url, &a) < 0) {
		snprintf(errstr, errstr_size,
		         "invalid redis url (want redis://[user:password@]host:port[/db])");
		free(p);
		return ERR_INVALID;
	}
	p->url = strdup(url);
	p->size = size > 0 ? size : 8;
	p->timeout_ms = timeout_ms;
	p->conns = calloc((size_t)p->size, sizeof(*p->conns));
	p->busy = calloc((size_t)p->size, sizeof(*p->busy));
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->freed, NULL);
	if (!p->url || !p->conns || !p->busy) {
		redis_pool_free(p);
		return ERR_NOMEM;
	}
	*out = p;
	return 0;
}

redisContext *redis_pool_get(struct redis_pool *p, int *slot, char *errstr, size_t errstr_size)
{
	int i;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		for (i = 0; i < p->size && p->busy[i]; i++)
			;
		if (i < p->size)
			break;
		pthread_cond_wait(&p->freed, &p->lock);
	}
	p->busy[i] = true;
	pthread_mutex_unlock(&p->lock);
	*slot = i;
	if (!p->conns[i] &&
	    redis_connect(&p->conns[i], p->url, p->timeout_ms, errstr, errstr_size) < 0) {
		redis_pool_put(p, i, true);
		return NULL;
	}
	return p->conns[i];
}

void redis_pool_put(struct redis_pool *p, int slot, bool broken)
{
	pthread_mutex_lock(&p->lock);
	if (broken && p->conns[slot]) {
		redisFree(p->conns[slot]);
		p->conns[slot] = NULL;
		/* Usually the server restarted: the idle ones are dead as well. */
		for (int i = 0; i < p->size; i++)
			if (!p->busy[i] && p->conns[i]) {
				redisFree(p->conns[i]);
				p->conns[i] = NULL;
			}
	}
	p->busy[slot] = false;
	pthread_cond_signal(&p->freed);
	pthread_mutex_unlock(&p->lock);
}

redisReply *redis_pool_vcommand(struct redis_pool *p, char *errstr, size_t errstr_size,
                                const char *fmt, va_list ap)
{
	redisReply *r = NULL;

	/* A connection that died while idle fails once: then a fresh one is made. */
	for (int attempt = 0; attempt < 2 && !r; attempt++) {
		int slot;
		redisContext *c = redis_pool_get(p, &slot, errstr, errstr_size);
		va_list again;

		if (!c)
			return NULL;
		va_copy(again, ap);
		r = redisvCommand(c, fmt, again);
		va_end(again);
		if (!r)
			snprintf(errstr, errstr_size, "redis: %s", c->errstr);
		redis_pool_put(p, slot, c->err != 0);
	}
	return r;
}

redisReply *redis_pool_command(struct redis_pool *p, char *errstr, size_t errstr_size,
                               const char *fmt, ...)
{
	redisReply *r;
	va_list ap;

	va_start(ap, fmt);
	r = redis_pool_vcommand(p, errstr, errstr_size, fmt, ap);
	va_end(ap);
	return r;
}

void redis_pool_free(struct redis_pool *p)
{
	if (!p)
		return;
	for (int i = 0; p->conns && i < p->size; i++)
		if (p->conns[i])
			redisFree(p->conns[i]);
	free(p->conns);
	free(p->busy);
	free(p->url);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->freed);
	free(p);
}
