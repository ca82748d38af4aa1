/*
 * redis.h - connecting to Redis from a redis://host:port[/db] URL.
 */
#ifndef COMMON_REDIS_H
#define COMMON_REDIS_H

#include <hiredis/hiredis.h>

#include "err.h"

/* Connects with a timeout and selects the URL's database. */
int redis_connect(redisContext **out, const char *url, int timeout_ms, char *errstr,
                  size_t errstr_size) WARN_UNUSED;

/* PING; 0 when Redis answered PONG. */
int redis_ping(redisContext *c, char *errstr, size_t errstr_size) WARN_UNUSED;

#endif
