/*
 * Integration: Redis answers no command without authentication; the
 * gateway's user reaches only its keys and commands; the checker's user
 * reads and cannot write. Each refusal is checked next to something the
 * same user may do, so that it means the rule and not a failed login.
 */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "redis.h"
#include "support.h"

static redisContext *login(const char *var)
{
	redisContext *c;
	char why[256];

	cr_assert_eq(redis_connect(&c, support_env(var), 2000, why, sizeof(why)), 0, "%s: %s", var,
	             why);
	return c;
}

/* The reply's error text ("" when the command succeeded). */
static void run(redisContext *c, char *err, size_t size, const char *fmt, ...)
{
	va_list ap;
	redisReply *r;

	va_start(ap, fmt);
	r = redisvCommand(c, fmt, ap);
	va_end(ap);
	cr_assert_not_null(r, "no reply: %s", c->errstr);
	snprintf(err, size, "%s", r->type == REDIS_REPLY_ERROR ? r->str : "");
	freeReplyObject(r);
}

#define REFUSED(c, prefix, ...)                                                            \
	do {                                                                               \
		char e_[256];                                                              \
		run(c, e_, sizeof(e_), __VA_ARGS__);                                       \
		cr_expect(!strncmp(e_, prefix, strlen(prefix)), "%s: want %s, got \"%s\"", \
		          #__VA_ARGS__, prefix, e_);                                       \
	} while (0)

#define ALLOWED(c, ...)                                                          \
	do {                                                                     \
		char e_[256];                                                    \
		run(c, e_, sizeof(e_), __VA_ARGS__);                             \
		cr_expect_str_empty(e_, "%s was refused: %s", #__VA_ARGS__, e_); \
	} while (0)

Test(redis_rights, nothing_is_answered_without_authentication)
{
	const char *port = strrchr(support_env("REDIS_URL"), ':');
	redisContext *c;

	cr_assert_not_null(port);
	c = redisConnect("127.0.0.1", (int)strtol(port + 1, NULL, 10));
	cr_assert(c && !c->err, "cannot reach redis");
	REFUSED(c, "NOAUTH", "PING");
	REFUSED(c, "NOAUTH", "GET %s", "orders:accepted");
	REFUSED(c, "NOAUTH", "SET %s %s", "it-anonymous", "x");
	REFUSED(c, "NOAUTH", "FLUSHALL");
	REFUSED(c, "WRONGPASS", "AUTH %s %s", "gateway", "not-the-password");
	REFUSED(c, "WRONGPASS", "AUTH %s %s", "default", "not-the-password");
	redisFree(c);
}

Test(redis_rights, the_gateway_has_its_keys_and_commands_and_nothing_else)
{
	redisContext *c = login("GATEWAY_REDIS_URL");

	ALLOWED(c, "SET %s %s EX 60", "idem:it-rights:probe", "x");
	ALLOWED(c, "GET %s", "idem:it-rights:probe");
	ALLOWED(c, "HGETALL %s", "order:it-rights");
	REFUSED(c, "NOPERM", "SET %s %s", "it-rights:elsewhere", "x");
	REFUSED(c, "NOPERM", "GET %s", "it-rights:elsewhere");
	REFUSED(c, "NOPERM", "DEL %s", "orders:it-rights");
	REFUSED(c, "NOPERM", "FLUSHALL");
	REFUSED(c, "NOPERM", "FLUSHDB");
	REFUSED(c, "NOPERM", "KEYS %s", "*");
	REFUSED(c, "NOPERM", "CONFIG GET %s", "*");
	REFUSED(c, "NOPERM", "ACL LIST");
	REFUSED(c, "NOPERM", "EVAL %s 0", "return 1");
	REFUSED(c, "NOPERM", "SHUTDOWN");
	redisFree(c);
}

Test(redis_rights, the_checker_reads_and_writes_nothing)
{
	redisContext *c = login("READER_REDIS_URL");

	ALLOWED(c, "ZRANGE %s 0 -1", "orders:accepted-at");
	ALLOWED(c, "HGETALL %s", "order:it-rights");
	ALLOWED(c, "GET %s", "idem:it-rights:probe");
	REFUSED(c, "NOPERM", "SET %s %s", "idem:it-rights:probe", "y");
	REFUSED(c, "NOPERM", "SADD %s %s", "orders:it-rights", "forged");
	REFUSED(c, "NOPERM", "HSET %s %s %s", "order:it-rights", "status", "COMPLETED");
	REFUSED(c, "NOPERM", "DEL %s", "orders:it-rights");
	REFUSED(c, "NOPERM", "EXPIRE %s 1", "orders:it-rights");
	REFUSED(c, "NOPERM", "FLUSHALL");
	REFUSED(c, "NOPERM", "EVAL %s 0", "return 1");
	REFUSED(c, "NOPERM", "CONFIG SET %s %s", "appendonly", "no");
	redisFree(c);
}
