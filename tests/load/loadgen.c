/*
 * loadgen - an open-loop load generator for the order flow.
 *
 * Requests leave on a fixed arrival schedule (RATE per second for DURATION
 * seconds); each request's latency is measured from its scheduled time, so a
 * slow server cannot hide its latency (no coordinated omission). Workers keep
 * their HTTP connections alive. For every accepted order it also measures
 * the end-to-end latency, from the 202 to the order's terminal event on
 * order-events (and to OrderConfirmed), read by a consumer of its own.
 *
 * It writes per-second samples and per-order latencies to OUT_DIR
 * (samples.tsv, accept.tsv, e2e.tsv) and a summary (summary.json); the
 * report and the plots are made by tests/load/report.sh.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "codec.h"
#include "config.h"
#include "clock.h"
#include "event.h"
#include "httpc.h"
#include "kafka.h"
#include "log.h"
#include "registry.h"
#include "signals.h"

#define MAX_WORKERS 256
#define MAX_ORDERS  2000000

struct load_cfg {
	char *gateway;
	char *api_key;
	struct kafka_endpoint kafka;
	char *mix;
	char *out_dir;
	long rate;
	long duration;
	long workers;
	long drain_s;
	long products;
};

static const struct config_var vars[] = {
        CONFIG_STR("GATEWAY_URL", "http://127.0.0.1:8080", struct load_cfg, gateway, "the gateway"),
        CONFIG_SECRET("API_KEY", NULL, struct load_cfg, api_key, "an API key with a high limit"),
        KAFKA_ENDPOINT_VARS(struct load_cfg, kafka),
        CONFIG_STR("MIX", "ok=90,declined=5,stock=5", struct load_cfg, mix,
                   "share of completed, payment-declined and out-of-stock orders"),
        CONFIG_STR("OUT_DIR", ".run/load/latest", struct load_cfg, out_dir, "where results go"),
        CONFIG_INT("RATE", "200", 1, 100000, struct load_cfg, rate, "orders per second"),
        CONFIG_INT("DURATION", "60", 1, 3600, struct load_cfg, duration, "seconds of load"),
        CONFIG_INT("WORKERS", "64", 1, MAX_WORKERS, struct load_cfg, workers,
                   "concurrent keep-alive connections"),
        CONFIG_INT("DRAIN_S", "120", 0, 3600, struct load_cfg, drain_s,
                   "how long to wait for accepted orders to finish"),
        CONFIG_INT("PRODUCTS", "1000", 1, 1000000, struct load_cfg, products,
                   "seeded products p-0001 ... to order from"),
};
#define NVARS (sizeof(vars) / sizeof(vars[0]))

enum outcome { OUT_NONE, OUT_ACCEPTED, OUT_REJECTED, OUT_ERROR };

struct order_rec {
	long long scheduled_us;
	long long accepted_us;  /* when the 202 arrived */
	long long confirmed_us; /* OrderConfirmed seen */
	long long terminal_us;  /* OrderCompleted or OrderCancelled seen */
	int status;
	char id[37];
};

static struct load_cfg cfg;
static struct order_rec *orders;
static long n_orders;
static long long t0_us;
static int mix_ok, mix_declined, mix_stock; /* percent */
static struct httpc_target target;
static char auth_header[512];
static pthread_mutex_t ids_lock = PTHREAD_MUTEX_INITIALIZER;
static json_t *ids;   /* order id -> index */
static json_t *early; /* order id -> [confirmed_us, terminal_us] seen before its 202 was read */

static long early_adopted; /* orders stamped from early (ids_lock) */

static void adopt_early(struct order_rec *o);
static atomic_long sent, accepted_n, rejected_n, errors_n, terminal_n;
static atomic_bool consumer_stop, watching;

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void sleep_until(long long t_us)
{
	long long d = t_us - now_us();

	if (d > 0) {
		struct timespec ts = {d / 1000000, (d % 1000000) * 1000};

		nanosleep(&ts, NULL);
	}
}

static int connect_gateway(void)
{
	return httpc_connect(&target, 10000);
}

/* One order on a keep-alive connection; returns the status or -1. */
static int request(int fd, const char *body, char *resp, size_t size)
{
	return httpc_request(fd, &target, "POST", "/v1/orders", auth_header, body, resp, size);
}

/* The body of order i, by the mix: completed, declined (payment) or out of
 * stock (the seeded product p-sold-out has none). */
static void order_body(long i, char *body, size_t size)
{
	int roll = (int)((unsigned long)(i * 2654435761UL) % 100);
	bool declined = roll >= mix_ok && roll < mix_ok + mix_declined;
	bool sold_out = roll >= mix_ok + mix_declined;
	char product[32];

	if (sold_out)
		snprintf(product, sizeof(product), "p-sold-out");
	else
		snprintf(product, sizeof(product), "p-%04ld", 1 + (i * 7919) % cfg.products);
	snprintf(body, size,
	         "{\"customer_id\":\"%sload-%ld\",\"currency\":\"EUR\",\"shipping_address\":"
	         "\"%ld Load Street\",\"items\":[{\"product_id\":\"%s\",\"quantity\":%d}]}",
	         declined ? "declined-" : "", i % 1000, i, product, 1 + (int)(i % 3));
}

static void *worker(void *arg)
{
	long w = (long)arg;
	int fd = -1;
	char body[1024], resp[4096];

	for (long i = w; i < n_orders && !signals_stopping(); i += cfg.workers) {
		struct order_rec *o = &orders[i];
		int status;

		sleep_until(o->scheduled_us);
		order_body(i, body, sizeof(body));
		if (fd < 0)
			fd = connect_gateway();
		atomic_fetch_add(&sent, 1);
		status = fd < 0 ? -1 : request(fd, body, resp, sizeof(resp));
		if (status < 0 && fd >= 0) {
			close(fd); /* the connection went away: one retry on a new one */
			fd = connect_gateway();
			status = fd < 0 ? -1 : request(fd, body, resp, sizeof(resp));
		}
		o->status = status;
		if (status == 202) {
			const char *id = strstr(resp, "\"order_id\":\"");

			o->accepted_us = now_us();
			if (id) {
				snprintf(o->id, sizeof(o->id), "%.36s", id + 12);
				pthread_mutex_lock(&ids_lock);
				json_object_set_new(ids, o->id, json_integer(i));
				adopt_early(o);
				pthread_mutex_unlock(&ids_lock);
			}
			atomic_fetch_add(&accepted_n, 1);
		} else if (status > 0) {
			atomic_fetch_add(&rejected_n, 1);
		} else {
			atomic_fetch_add(&errors_n, 1);
			if (fd >= 0)
				close(fd);
			fd = -1;
		}
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

/* Records a milestone of order o (or of an order not yet known: early). */
static void stamp(struct order_rec *o, const char *key, const char *type, long long at)
{
	bool confirmed = !strcmp(type, "OrderConfirmed");
	bool terminal = !strcmp(type, "OrderCompleted") || !strcmp(type, "OrderCancelled");
	json_t *e;

	if (!confirmed && !terminal)
		return;
	if (!o) {
		/* Its 202 is still on its way to a worker (a busy machine). */
		if (!(e = json_object_get(early, key)))
			json_object_set_new(early, key, e = json_pack("[I, I]", 0LL, 0LL));
		if (!json_integer_value(json_array_get(e, terminal)))
			json_array_set_new(e, terminal, json_integer(at));
		return;
	}
	if (confirmed && !o->confirmed_us)
		o->confirmed_us = at;
	if (terminal && !o->terminal_us) {
		o->terminal_us = at;
		atomic_fetch_add(&terminal_n, 1);
	}
}

/* Applies milestones seen before the order's id was known (ids_lock held). */
static void adopt_early(struct order_rec *o)
{
	json_t *e = json_object_get(early, o->id);

	if (!e)
		return;
	early_adopted++;
	/* Seen before the 202 was read: its latency is at most the accept's. */
	if (json_integer_value(json_array_get(e, 0)))
		stamp(o, o->id, "OrderConfirmed", o->accepted_us);
	if (json_integer_value(json_array_get(e, 1)))
		stamp(o, o->id, "OrderCompleted", o->accepted_us);
	json_object_del(early, o->id);
}

/* Reads order-events from their end and stamps each order's milestones. */
static void *watch_events(void *arg)
{
	struct codec *codec = arg;
	char errstr[256], group[64];
	rd_kafka_conf_t *conf = kafka_conf_new(&cfg.kafka, "loadgen", errstr, sizeof(errstr));
	rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
	rd_kafka_t *rk;

	if (!conf)
		die("kafka: %s", errstr);
	snprintf(group, sizeof(group), "loadgen-%ld", (long)time(NULL));
	rd_kafka_conf_set(conf, "group.id", group, errstr, sizeof(errstr));
	rd_kafka_conf_set(conf, "auto.offset.reset", "latest", errstr, sizeof(errstr));
	rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof(errstr));
	rd_kafka_conf_set(conf, "fetch.wait.max.ms", "5", errstr, sizeof(errstr));
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
	if (!rk)
		die("consumer: %s", errstr);
	rd_kafka_poll_set_consumer(rk);
	/* Start exactly at the current end of every partition: nothing after it is missed. */
	for (int p = 0; p < 1000; p++) {
		int64_t lo, hi;

		if (rd_kafka_query_watermark_offsets(rk, "order-events", p, &lo, &hi, 5000) != 0)
			break;
		rd_kafka_topic_partition_list_add(sub, "order-events", p)->offset = hi;
	}
	rd_kafka_assign(rk, sub);
	rd_kafka_topic_partition_list_destroy(sub);
	atomic_store(&watching, true);
	while (!atomic_load(&consumer_stop)) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
		const char *type;
		json_t *rec;
		json_t *idx;
		char key[40];

		if (!m)
			continue;
		if (m->err || m->key_len >= sizeof(key) ||
		    codec_decode(codec, m->payload, m->len, &type, &rec, errstr, sizeof(errstr)) <
		            0) {
			rd_kafka_message_destroy(m);
			continue;
		}
		snprintf(key, sizeof(key), "%.*s", (int)m->key_len, (const char *)m->key);
		pthread_mutex_lock(&ids_lock);
		idx = json_object_get(ids, key);
		stamp(idx ? &orders[json_integer_value(idx)] : NULL, key, type, now_us());
		pthread_mutex_unlock(&ids_lock);
		json_decref(rec);
		rd_kafka_message_destroy(m);
	}
	rd_kafka_destroy(rk);
	return NULL;
}

/* Messages written to the saga's topics so far (sum of high watermarks). */
static long long kafka_messages(void)
{
	static const char *const topics[] = {
	        "order-requests",  "order-events",        "payment-events", "inventory-events",
	        "shipping-events", "notification-events", "product-catalog"};
	char errstr[256];
	rd_kafka_conf_t *conf = kafka_conf_new(&cfg.kafka, "loadgen", errstr, sizeof(errstr));
	rd_kafka_t *rk;
	long long total = 0;

	if (!conf)
		return -1;
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (!rk)
		return -1;
	for (size_t t = 0; t < sizeof(topics) / sizeof(topics[0]); t++) {
		for (int p = 0; p < 1000; p++) {
			int64_t lo, hi;

			if (rd_kafka_query_watermark_offsets(rk, topics[t], p, &lo, &hi, 5000) != 0)
				break;
			total += hi;
		}
	}
	rd_kafka_destroy(rk);
	return total;
}

/* mkdir -p */
static void make_dirs(const char *path)
{
	char buf[512];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			mkdir(buf, 0755);
			*p = '/';
		}
	}
	mkdir(buf, 0755);
}

static FILE *open_out(const char *name)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", cfg.out_dir, name);
	f = fopen(path, "w");
	if (!f)
		die("could not write %s: %s", path, strerror(errno));
	return f;
}

static void parse_mix(void)
{
	char *copy = strdup(cfg.mix);

	for (char *p = copy; p && *p;) {
		char *comma = strchr(p, ',');
		int v;

		if (comma)
			*comma = '\0';
		if (sscanf(p, "ok=%d", &v) == 1)
			mix_ok = v;
		else if (sscanf(p, "declined=%d", &v) == 1)
			mix_declined = v;
		else if (sscanf(p, "stock=%d", &v) == 1)
			mix_stock = v;
		else
			die("MIX: cannot read \"%s\" (want ok=N,declined=N,stock=N)", p);
		p = comma ? comma + 1 : NULL;
	}
	free(copy);
	if (mix_ok + mix_declined + mix_stock != 100)
		die("MIX: the shares add up to %d, not 100", mix_ok + mix_declined + mix_stock);
}

int main(int argc, char **argv)
{
	pthread_t threads[MAX_WORKERS], watcher;
	struct codec *codec;
	struct registry *registry;
	char why[256];
	FILE *samples, *acc, *e2e;
	long last_sent = 0, last_term = 0;

	log_init("loadgen", LOG_LEVEL_WARN);
	config_load_or_exit(&cfg, vars, NVARS, argc, argv);
	if (signals_install() < 0)
		die("signals");
	parse_mix();
	if (httpc_parse_url(&target, cfg.gateway, why, sizeof(why)) < 0)
		die("GATEWAY_URL: %s", why);
	snprintf(auth_header, sizeof(auth_header), "Authorization: Bearer %s\r\n", cfg.api_key);
	if (codec_new(&codec, why, sizeof(why)) < 0 ||
	    registry_from_env(codec, false, &registry, why, sizeof(why)) < 0)
		die("%s", why);
	n_orders = cfg.rate * cfg.duration;
	if (n_orders > MAX_ORDERS)
		die("RATE x DURATION is over %d orders", MAX_ORDERS);
	orders = calloc((size_t)n_orders, sizeof(*orders));
	ids = json_object();
	early = json_object();
	make_dirs(cfg.out_dir);
	long long messages_before = kafka_messages();

	pthread_create(&watcher, NULL, watch_events, codec);
	while (!atomic_load(&watching))
		clock_sleep_ms(10);
	t0_us = now_us() + 200000;
	for (long i = 0; i < n_orders; i++)
		orders[i].scheduled_us = t0_us + i * 1000000LL / cfg.rate;
	for (long w = 0; w < cfg.workers; w++)
		pthread_create(&threads[w], NULL, worker, (void *)w);
	samples = open_out("samples.tsv");
	fprintf(samples, "second\tsent_per_s\tterminal_per_s\taccepted\terrors\n");
	printf("open loop: %ld orders/s for %ld s, %ld connections, mix %s\n", cfg.rate,
	       cfg.duration, cfg.workers, cfg.mix);
	for (long s = 1; !signals_stopping(); s++) {
		long cur_sent, cur_term;

		sleep_until(t0_us + s * 1000000LL);
		cur_sent = atomic_load(&sent);
		cur_term = atomic_load(&terminal_n);
		fprintf(samples, "%ld\t%ld\t%ld\t%ld\t%ld\n", s, cur_sent - last_sent,
		        cur_term - last_term, atomic_load(&accepted_n), atomic_load(&errors_n));
		fflush(samples);
		printf("\r[%4lds] sent %ld  accepted %ld  rejected %ld  errors %ld  finished %ld  "
		       " ",
		       s, cur_sent, atomic_load(&accepted_n), atomic_load(&rejected_n),
		       atomic_load(&errors_n), cur_term);
		fflush(stdout);
		last_sent = cur_sent;
		last_term = cur_term;
		if (s >= cfg.duration && (cur_sent >= n_orders || signals_stopping()) &&
		    (cur_term >= atomic_load(&accepted_n) || s >= cfg.duration + cfg.drain_s))
			break;
	}
	printf("\n");
	fclose(samples);
	for (long w = 0; w < cfg.workers; w++)
		pthread_join(threads[w], NULL);
	atomic_store(&consumer_stop, true);
	pthread_join(watcher, NULL);

	acc = open_out("accept.tsv");
	e2e = open_out("e2e.tsv");
	fprintf(acc, "scheduled_s\tstatus\taccept_ms\n");
	fprintf(e2e, "accepted_s\tconfirmed_ms\tterminal_ms\n");
	for (long i = 0; i < n_orders; i++) {
		struct order_rec *o = &orders[i];

		if (o->status == 0)
			continue;
		fprintf(acc, "%.3f\t%d\t%.3f\n", (double)(o->scheduled_us - t0_us) / 1e6, o->status,
		        o->accepted_us ? (double)(o->accepted_us - o->scheduled_us) / 1000.0
		                       : -1.0);
		if (o->accepted_us)
			fprintf(e2e, "%.3f\t%.3f\t%.3f\n", (double)(o->accepted_us - t0_us) / 1e6,
			        o->confirmed_us
			                ? (double)(o->confirmed_us - o->accepted_us) / 1000.0
			                : -1.0,
			        o->terminal_us ? (double)(o->terminal_us - o->accepted_us) / 1000.0
			                       : -1.0);
	}
	fclose(acc);
	fclose(e2e);
	{
		FILE *f = open_out("summary.json");

		fprintf(f,
		        "{\"rate\": %ld, \"duration_s\": %ld, \"workers\": %ld, \"mix\": \"%s\", "
		        "\"scheduled\": %ld, \"sent\": %ld, \"accepted\": %ld, \"rejected\": %ld, "
		        "\"errors\": %ld, \"finished\": %ld, \"kafka_messages\": %lld}\n",
		        cfg.rate, cfg.duration, cfg.workers, cfg.mix, n_orders, atomic_load(&sent),
		        atomic_load(&accepted_n), atomic_load(&rejected_n), atomic_load(&errors_n),
		        atomic_load(&terminal_n), kafka_messages() - messages_before);
		fclose(f);
	}
	printf("loadgen: %ld sent, %ld accepted, %ld rejected, %ld errors, %ld finished"
	       " (%ld of them seen finishing before their 202 was read)\n",
	       atomic_load(&sent), atomic_load(&accepted_n), atomic_load(&rejected_n),
	       atomic_load(&errors_n), atomic_load(&terminal_n), early_adopted);
	json_decref(ids);
	json_decref(early);
	free(orders);
	codec_free(codec);
	registry_free(registry);
	config_release(&cfg, vars, NVARS);
	return atomic_load(&terminal_n) == atomic_load(&accepted_n) && atomic_load(&errors_n) == 0
	               ? 0
	               : 1;
}
