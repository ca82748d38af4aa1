/*
 * replay - what a replay of the saga's topics changes (nothing, if every
 * consumer is idempotent). tests/chaos/replay.sh runs it around a replay.
 *
 *   replay digest   prints one line per service table (rows and a SHA-256
 *                   of their contents, in any order), one for the gateway's
 *                   read model in Redis (every key but offsets, idempotency
 *                   keys and rate limits) and one per topic with its end
 *                   offset: two digests equal line for line mean the same
 *                   state and no event published in between.
 *   replay rewind   moves every saga consumer group's committed offsets to
 *                   the start of their partitions and drops the read
 *                   model's offsets, so each service consumes everything
 *                   again. The daemons must be stopped.
 *
 * Settings: READER_<SERVICE>_DATABASE_URL for each database service of
 * SERVICES_MANIFEST, READER_REDIS_URL (digest) or REDIS_URL (rewind: the
 * admin), the Kafka admin (KAFKA_*), TOPICS_FILE (deploy/topics.conf).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <openssl/evp.h>

#include "config.h"
#include "kafka.h"
#include "log.h"
#include "manifest.h"
#include "readmodel.h"
#include "redis.h"

struct replay_cfg {
	char *manifest, *topics, *reader_redis, *admin_redis;
	struct kafka_endpoint kafka;
};

static const struct config_var vars[] = {
        CONFIG_STR("SERVICES_MANIFEST", "deploy/services.conf", struct replay_cfg, manifest,
                   "the services' manifest (databases and consumer groups)"),
        CONFIG_STR("TOPICS_FILE", "deploy/topics.conf", struct replay_cfg, topics,
                   "the saga's topics"),
        CONFIG_SECRET("READER_REDIS_URL", "redis://127.0.0.1:16379/0", struct replay_cfg,
                      reader_redis, "the read model, read-only (digest)"),
        CONFIG_SECRET("REDIS_URL", "redis://127.0.0.1:16379/0", struct replay_cfg, admin_redis,
                      "the read model's admin (rewind drops its offsets)"),
        KAFKA_ENDPOINT_VARS(struct replay_cfg, kafka),
};
#define NVARS     (sizeof(vars) / sizeof(vars[0]))
#define MAX_NAMES 32

static struct replay_cfg cfg;

/* A running SHA-256 of key digests, sorted so that order does not matter. */
struct digest {
	char (*items)[65];
	size_t n, cap;
};

static void hex_sha256(const void *data, size_t len, char out[65])
{
	unsigned char md[32];
	unsigned int mdlen = 0;

	EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
	for (unsigned i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void digest_add(struct digest *d, const char *text, size_t len)
{
	if (d->n == d->cap) {
		d->cap = d->cap ? 2 * d->cap : 4096;
		if (!(d->items = realloc(d->items, d->cap * sizeof(*d->items))))
			die("out of memory");
	}
	hex_sha256(text, len, d->items[d->n++]);
}

static int cmp_hex(const void *a, const void *b)
{
	return memcmp(a, b, 64);
}

/* The digest of the set: the SHA-256 of its sorted members. */
static void digest_end(struct digest *d, char out[65])
{
	qsort(d->items, d->n, sizeof(*d->items), cmp_hex);
	hex_sha256(d->items, d->n * sizeof(*d->items), out);
	free(d->items);
	*d = (struct digest){0};
}

/* The services with a database: upper-case prefix and database name. */
static int databases(char (*prefix)[MANIFEST_NAME_MAX], char (*db)[MANIFEST_NAME_MAX])
{
	char names[MAX_NAMES][MANIFEST_NAME_MAX], dbs[MAX_NAMES][MANIFEST_NAME_MAX], why[256];
	int n = manifest_services(cfg.manifest, names, dbs, MAX_NAMES, why, sizeof(why)), k = 0;

	if (n < 0)
		die("%s", why);
	for (int i = 0; i < n; i++) {
		if (!strcmp(dbs[i], "-"))
			continue;
		for (char *p = names[i]; *p; p++)
			*p = (char)toupper((unsigned char)*p);
		snprintf(prefix[k], MANIFEST_NAME_MAX, "%.63s", names[i]);
		snprintf(db[k++], MANIFEST_NAME_MAX, "%.63s", dbs[i]);
	}
	return k;
}

static void digest_database(const char *prefix, const char *dbname)
{
	char var[128];
	const char *url;
	PGconn *c;
	PGresult *tables;

	snprintf(var, sizeof(var), "READER_%s_DATABASE_URL", prefix);
	if (!(url = getenv(var)))
		die("%s is not set", var);
	c = PQconnectdb(url);
	if (PQstatus(c) != CONNECTION_OK)
		die("database %s: %s", dbname, PQerrorMessage(c));
	tables = PQexec(c, "SELECT quote_ident(tablename) FROM pg_tables"
	                   " WHERE schemaname = 'public' ORDER BY 1");
	if (PQresultStatus(tables) != PGRES_TUPLES_OK)
		die("database %s: %s", dbname, PQresultErrorMessage(tables));
	for (int i = 0; i < PQntuples(tables); i++) {
		char sql[512];
		PGresult *r;

		snprintf(sql, sizeof(sql),
		         "SELECT count(*), "
		         "coalesce(encode(sha256(convert_to(string_agg(md5(t::text),"
		         " ',' ORDER BY md5(t::text)), 'UTF8')), 'hex'), '-') FROM %s t",
		         PQgetvalue(tables, i, 0));
		r = PQexec(c, sql);
		if (PQresultStatus(r) != PGRES_TUPLES_OK)
			die("%s.%s: %s", dbname, PQgetvalue(tables, i, 0), PQresultErrorMessage(r));
		printf("table %s.%s rows=%s sha256=%s\n", dbname, PQgetvalue(tables, i, 0),
		       PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1));
		PQclear(r);
	}
	PQclear(tables);
	PQfinish(c);
}

/* Keys that change without an event: positions, idempotency, rate limits. */
static bool volatile_key(const char *key)
{
	return !strcmp(key, READMODEL_OFFSETS) || !strncmp(key, "idem:", 5) ||
	       !strncmp(key, "rl:", 3);
}

static void append(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
	if (*len + n + 1 > *cap) {
		*cap = (*len + n + 1) * 2;
		if (!(*buf = realloc(*buf, *cap)))
			die("out of memory");
	}
	memcpy(*buf + *len, s, n);
	*len += n;
	(*buf)[(*len)++] = '\0';
}

/* One key as text: its name, type and contents (hash fields and set members sorted). */
static void digest_key(redisContext *rc, struct digest *d, const char *key)
{
	redisReply *t = redisCommand(rc, "TYPE %s", key), *v = NULL;
	char *buf = NULL;
	size_t len = 0, cap = 0;

	if (!t || t->type != REDIS_REPLY_STATUS)
		die("redis TYPE %s: %s", key, t ? t->str : rc->errstr);
	append(&buf, &len, &cap, key, strlen(key));
	append(&buf, &len, &cap, t->str, strlen(t->str));
	if (!strcmp(t->str, "string"))
		v = redisCommand(rc, "GET %s", key);
	else if (!strcmp(t->str, "hash"))
		v = redisCommand(rc, "HGETALL %s", key);
	else if (!strcmp(t->str, "list"))
		v = redisCommand(rc, "LRANGE %s 0 -1", key);
	else if (!strcmp(t->str, "set"))
		v = redisCommand(rc, "SMEMBERS %s", key);
	else if (!strcmp(t->str, "zset"))
		v = redisCommand(rc, "ZRANGE %s 0 -1 WITHSCORES", key);
	if (v && v->type == REDIS_REPLY_STRING) {
		append(&buf, &len, &cap, v->str, v->len);
	} else if (v && v->type == REDIS_REPLY_ARRAY) {
		struct digest parts = {0};
		char sum[65];
		bool ordered = !strcmp(t->str, "list") || !strcmp(t->str, "zset");
		size_t step = !strcmp(t->str, "hash") ? 2 : 1;

		for (size_t i = 0; i + step <= v->elements; i += step) {
			char *item = NULL;
			size_t il = 0, ic = 0;

			for (size_t k = 0; k < step; k++)
				append(&item, &il, &ic, v->element[i + k]->str,
				       v->element[i + k]->len);
			if (ordered)
				append(&buf, &len, &cap, item, il);
			else
				digest_add(&parts, item, il);
			free(item);
		}
		if (!ordered) {
			digest_end(&parts, sum);
			append(&buf, &len, &cap, sum, 64);
		}
	}
	digest_add(d, buf, len);
	free(buf);
	freeReplyObject(v);
	freeReplyObject(t);
}

static void digest_redis(void)
{
	redisContext *rc;
	char why[256], cursor[32] = "0", sum[65];
	struct digest d = {0};
	long keys = 0;

	if (redis_connect(&rc, cfg.reader_redis, 5000, why, sizeof(why)) < 0)
		die("%s", why);
	do {
		redisReply *r = redisCommand(rc, "SCAN %s COUNT 1000", cursor);

		if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2)
			die("redis SCAN: %s", r ? r->str : rc->errstr);
		snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
		for (size_t i = 0; i < r->element[1]->elements; i++) {
			const char *key = r->element[1]->element[i]->str;

			if (volatile_key(key))
				continue;
			digest_key(rc, &d, key);
			keys++;
		}
		freeReplyObject(r);
	} while (strcmp(cursor, "0") != 0);
	digest_end(&d, sum);
	printf("redis read-model keys=%ld sha256=%s\n", keys, sum);
	redisFree(rc);
}

/* The sum of a topic's partitions' end offsets. */
static long long topic_end(rd_kafka_t *rk, const char *topic)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
	rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, t, &md, 10000);
	long long end = 0;

	if (err || md->topic_cnt != 1 || md->topics[0].err)
		die("topic %s: %s", topic,
		    rd_kafka_err2str(err             ? err
		                     : md->topic_cnt ? md->topics[0].err
		                                     : err));
	for (int p = 0; p < md->topics[0].partition_cnt; p++) {
		int64_t lo, hi;

		err = rd_kafka_query_watermark_offsets(rk, topic, md->topics[0].partitions[p].id,
		                                       &lo, &hi, 10000);
		if (err)
			die("topic %s [%d]: %s", topic, p, rd_kafka_err2str(err));
		end += hi;
	}
	rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(t);
	return end;
}

static void digest_topics(rd_kafka_t *rk, char (*groups)[MANIFEST_NAME_MAX], int n_groups)
{
	FILE *f = fopen(cfg.topics, "r");
	char line[1024], topic[256];

	if (!f)
		die("%s: cannot read", cfg.topics);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%255s", topic) == 1 && topic[0] != '#')
			printf("topic %s end=%lld\n", topic, topic_end(rk, topic));
	fclose(f);
	/* Dead letters: a replayed poison record is dead-lettered again. */
	for (int i = 0; i < n_groups; i++) {
		snprintf(topic, sizeof(topic), "dlq.%.63s", groups[i]);
		printf("dead-letters %s end=%lld\n", topic, topic_end(rk, topic));
	}
}

static void rewind_all(rd_kafka_t *rk, char (*groups)[MANIFEST_NAME_MAX], int n_groups)
{
	redisContext *rc;
	redisReply *r;
	char why[256];

	for (int i = 0; i < n_groups; i++) {
		int moved = 0;

		if (kafka_group_rewind(rk, groups[i], 30000, &moved, why, sizeof(why)) != 0)
			die("%s", why);
		printf("group %s: %d partitions back to their start\n", groups[i], moved);
	}
	if (redis_connect(&rc, cfg.admin_redis, 5000, why, sizeof(why)) < 0)
		die("%s", why);
	r = redisCommand(rc, "DEL " READMODEL_OFFSETS);
	if (!r || r->type != REDIS_REPLY_INTEGER)
		die("redis DEL: %s", r ? r->str : rc->errstr);
	printf("read model: its offsets dropped (it is rebuilt from the start)\n");
	freeReplyObject(r);
	redisFree(rc);
}

int main(int argc, char **argv)
{
	char groups[MAX_NAMES][MANIFEST_NAME_MAX], prefix[MAX_NAMES][MANIFEST_NAME_MAX],
	        dbs[MAX_NAMES][MANIFEST_NAME_MAX], why[256];
	const char *cmd = argc > 1 ? argv[1] : "";
	int n_groups, n_dbs;
	rd_kafka_t *rk;

	log_init("replay", LOG_LEVEL_WARN);
	if (strcmp(cmd, "digest") != 0 && strcmp(cmd, "rewind") != 0) {
		fprintf(stderr, "usage: replay digest|rewind\n");
		return 2;
	}
	config_load_or_exit(&cfg, vars, NVARS, argc - 1, argv + 1);
	if ((n_groups = manifest_names(cfg.manifest, groups, MAX_NAMES, why, sizeof(why))) < 0)
		die("%s", why);
	if (!(rk = kafka_admin_new(&cfg.kafka, why, sizeof(why))))
		die("%s", why);
	if (!strcmp(cmd, "rewind")) {
		rewind_all(rk, groups, n_groups);
	} else {
		n_dbs = databases(prefix, dbs);
		for (int i = 0; i < n_dbs; i++)
			digest_database(prefix[i], dbs[i]);
		digest_redis();
		digest_topics(rk, groups, n_groups);
	}
	rd_kafka_destroy(rk);
	config_release(&cfg, vars, NVARS);
	return 0;
}
