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
