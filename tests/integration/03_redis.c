/* Integration: a Redis round trip on the real server. */
#include <criterion/criterion.h>
#include <string.h>

#include "redis.h"
#include "support.h"

Test(redis, set_get_expire_delete_round_trip)
{
	char err[256], key[128];
	redisContext *c;
	redisReply *r;
	const char value[] = "binary\0value with \xff bytes";

	cr_assert_eq(redis_connect(&c, support_env("REDIS_URL"), 2000, err, sizeof(err)), 0, "%s",
	             err);
	cr_expect_eq(redis_ping(c, err, sizeof(err)), 0, "%s", err);
	support_unique(key, sizeof(key), "it:redis");
	r = redisCommand(c, "SET %s %b EX 60", key, value, sizeof(value));
	cr_assert(r && r->type == REDIS_REPLY_STATUS, "SET failed");
	freeReplyObject(r);
	r = redisCommand(c, "GET %s", key);
	cr_assert(r && r->type == REDIS_REPLY_STRING);
	cr_expect_eq(r->len, sizeof(value));
	cr_expect_eq(memcmp(r->str, value, sizeof(value)), 0);
	freeReplyObject(r);
	r = redisCommand(c, "TTL %s", key);
	cr_expect(r && r->integer > 0 && r->integer <= 60);
	freeReplyObject(r);
	r = redisCommand(c, "DEL %s", key);
	cr_expect_eq(r->integer, 1);
	freeReplyObject(r);
	r = redisCommand(c, "EXISTS %s", key);
	cr_expect_eq(r->integer, 0);
	freeReplyObject(r);
	redisFree(c);
}

Test(redis, bad_urls_and_unreachable_servers_are_errors)
{
	char err[256];
	redisContext *c;

	cr_expect_eq(redis_connect(&c, "redis://nohost", 500, err, sizeof(err)), ERR_INVALID);
	cr_expect(strstr(err, "invalid redis url"), "%s", err);
	cr_expect_eq(redis_connect(&c, "redis://127.0.0.1:1/0", 500, err, sizeof(err)), ERR_RETRY);
	cr_expect_null(c);
}

Test(redis, a_pool_recovers_at_once_when_its_connections_were_cut)
{
	char err[256];
	struct redis_pool *pool;
	redisContext *a, *b, *admin;
	redisReply *r;
	int sa, sb;

	cr_assert_eq(redis_pool_new(&pool, support_env("REDIS_URL"), 2, 2000, err, sizeof(err)), 0,
	             "%s", err);
	/* Two pooled connections, both idle. */
	a = redis_pool_get(pool, &sa, err, sizeof(err));
	b = redis_pool_get(pool, &sb, err, sizeof(err));
	cr_assert(a && b, "%s", err);
	redis_pool_put(pool, sa, false);
	redis_pool_put(pool, sb, false);
	/* The server drops every client, as a restart would. */
	cr_assert_eq(redis_connect(&admin, support_env("REDIS_URL"), 2000, err, sizeof(err)), 0,
	             "%s", err);
	r = redisCommand(admin, "CLIENT KILL TYPE normal SKIPME yes");
	cr_assert(r && r->type == REDIS_REPLY_INTEGER && r->integer >= 2, "killed %lld",
	          r ? r->integer : -1);
	freeReplyObject(r);
	redisFree(admin);
	/* Neither the next command nor the one after fails. */
	for (int i = 0; i < 2; i++) {
		r = redis_pool_command(pool, err, sizeof(err), "PING");
		cr_expect(r && r->type == REDIS_REPLY_STATUS && !strcmp(r->str, "PONG"),
		          "command %d after the cut: %s", i, r ? "unexpected reply" : err);
		freeReplyObject(r);
	}
	redis_pool_free(pool);
}
