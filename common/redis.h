/*
 * redis.h - connecting to Redis from a redis://host:port[/db] URL.
 */
#ifndef COMMON_REDIS_H
#define COMMON_REDIS_H

#include <stdarg.h>
#include <stdbool.h>

#include <hiredis/hiredis.h>

#include "err.h"

/* Connects with a timeout and selects the URL's database. */
int redis_connect(redisContext **out, const char *url, int timeout_ms, char *errstr,
                  size_t errstr_size) WARN_UNUSED;

/* PING; 0 when Redis answered PONG. */
int redis_ping(redisContext *c, char *errstr, size_t errstr_size) WARN_UNUSED;

/*
 * A fixed set of connections shared by threads. redis_pool_get() lends one
 * (waiting while all are lent), reconnecting it first when it was broken;
 * redis_pool_put() returns it, marked broken after an I/O error.
 */
struct redis_pool;

int redis_pool_new(struct redis_pool **out, const char *url, int size, int timeout_ms, char *errstr,
                   size_t errstr_size) WARN_UNUSED;
/* NULL when Redis cannot be reached now (errstr says why); *slot is for put. */
redisContext *redis_pool_get(struct redis_pool *p, int *slot, char *errstr, size_t errstr_size);
void redis_pool_put(struct redis_pool *p, int slot, bool broken);
void redis_pool_free(struct redis_pool *p); /* NULL-safe */

/* One command on a pooled connection, tried once more on a fresh connection
 * after an I/O error (the server restarted since the last use). The reply
 * is the caller's (freeReplyObject); NULL with errstr when Redis is away. */
redisReply *redis_pool_command(struct redis_pool *p, char *errstr, size_t errstr_size,
                               const char *fmt, ...) __attribute__((format(printf, 4, 5)));
redisReply *redis_pool_vcommand(struct redis_pool *p, char *errstr, size_t errstr_size,
                                const char *fmt, va_list ap);

#endif
