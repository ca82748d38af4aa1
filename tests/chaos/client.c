/*
 * chaos-client - the clients of a chaos run (tests/chaos/run.sh): orders on
 * a fixed schedule (RATE per second for DURATION seconds), each with its own
 * Idempotency-Key, retried with that key on errors and timeouts as a careful
 * client would, and every operation recorded with its outcome.
 *
 * Order i has key chaos-RUN-i and customer chaos-RUN-i (declined-chaos-
 * RUN-i for a payment that is declined), so the judge (chaos-judge) finds
 * the orders each key made; RUN names the run (run.sh: seed and time). The mix, drawn from SEED: most orders complete;
 * some are declined, some ask for a product out of stock, some name a
 * product on two lines; some are invalid (a 400 that must create nothing);
 * and after some 202s the same key comes back with another body (a 409 that
 * must create nothing, customer chaos-RUN-i-x).
 *
 * An attempt ends in 202 (accepted: done), another 4xx but 429 (rejected:
 * done), 429 or 5xx (retried), or no answer: refused, reset or timed out
 * (unknown: retried). After GIVE_UP_S of retries the order's last outcome
 * stands. Requests go to the GATEWAY_URLS in turn, the next one on a retry.
 *
 * OUT_DIR/history.tsv gets one line per attempt:
 *   ms  index  key  kind  attempt  outcome  status  order_id
 * (ms: Unix time in milliseconds; kind "reused-body" for the second body of
 * a reused key; outcome accepted, rejected, retry (429), error (5xx) or
 * unknown; status 0 when there was no answer; order_id "-" unless 202),
 * and the last line "end <ms>".
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "log.h"
#include "signals.h"
#include "httpc.h"

#define MAX_WORKERS  512
#define MAX_GATEWAYS 8

struct chaos_cfg {
	char *gateways, *api_key, *out_dir, *run;
	long seed, rate, duration, workers, timeout_ms, give_up_s, products;
};

static const struct config_var vars[] = {
        CONFIG_STR("GATEWAY_URLS", "http://127.0.0.1:8080", struct chaos_cfg, gateways,
                   "the gateways, comma-separated; a retry goes to the next one"),
        CONFIG_SECRET("API_KEY", NULL, struct chaos_cfg, api_key, "an API key with a high limit"),
        CONFIG_STR("OUT_DIR", ".run/chaos/latest", struct chaos_cfg, out_dir,
                   "where history.tsv goes"),
        CONFIG_INT("SEED", "1", 0, 2147483647L, struct chaos_cfg, seed, "the run's seed"),
        CONFIG_STR("RUN", "1", struct chaos_cfg, run,
                   "the run's name, in every key and customer id (no '-')"),
        CONFIG_INT("RATE", "50", 1, 10000, struct chaos_cfg, rate, "orders per second"),
        CONFIG_INT("DURATION", "120", 1, 86400, struct chaos_cfg, duration, "seconds of orders"),
        CONFIG_INT("WORKERS", "48", 1, MAX_WORKERS, struct chaos_cfg, workers,
                   "concurrent clients (each keeps a connection to every gateway: stay "
                   "under the gateway's HTTP_MAX_PER_CLIENT)"),
        CONFIG_INT("TIMEOUT_MS", "5000", 100, 600000, struct chaos_cfg, timeout_ms,
                   "how long one attempt waits for its answer"),
        CONFIG_INT("GIVE_UP_S", "60", 1, 3600, struct chaos_cfg, give_up_s,
                   "how long one order is retried"),
        CONFIG_INT("PRODUCTS", "1000", 1, 1000000, struct chaos_cfg, products,
                   "seeded products p-0001 ... to order from"),
};
#define NVARS (sizeof(vars) / sizeof(vars[0]))

enum kind { K_OK, K_DECLINED, K_STOCK, K_TWO_LINES, K_INVALID, K_REUSED };
static const char *const kind_names[] = {"ok",        "declined", "stock",
                                         "two-lines", "invalid",  "reused"};

static struct chaos_cfg cfg;
static struct httpc_target gateways[MAX_GATEWAYS];
static int n_gateways;
static char auth_header[512];
static long long t0_ms;
static atomic_long next_order;
static long n_orders;
static FILE *history;
static pthread_mutex_t history_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_long n_accepted, n_rejected, n_unknown, n_attempts;

static long long wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A deterministic draw for (order, what) from the seed (splitmix64). */
static unsigned long long draw(long i, unsigned what)
{
	unsigned long long z = (unsigned long long)cfg.seed * 0x9E3779B97F4A7C15ULL +
	                       (unsigned long long)i * 0xBF58476D1CE4E5B9ULL + what;

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static enum kind kind_of(long i)
{
	unsigned roll = (unsigned)(draw(i, 0) % 100);

	if (roll < 80)
		return K_OK;
	if (roll < 86)
		return K_DECLINED;
	if (roll < 90)
		return K_STOCK;
	if (roll < 94)
		return K_TWO_LINES;
	if (roll < 97)
		return K_INVALID;
	return K_REUSED;
}

/* The body of order i; other: the different body sent again with a reused key. */
static void order_body(long i, enum kind k, bool other, char *body, size_t size)
{
	char customer[96], items[256];
	long p = 1 + (long)(draw(i, 1) % (unsigned long long)cfg.products);
	long q = 1 + (long)(draw(i, 2) % 3);

	snprintf(customer, sizeof(customer), "%schaos-%s-%ld%s", k == K_DECLINED ? "declined-" : "",
	         cfg.run, i, other ? "-x" : "");
	if (k == K_STOCK)
		snprintf(items, sizeof(items), "{\"product_id\":\"p-sold-out\",\"quantity\":1}");
	else if (k == K_TWO_LINES)
		snprintf(items, sizeof(items),
		         "{\"product_id\":\"p-%04ld\",\"quantity\":%ld},"
		         "{\"product_id\":\"p-%04ld\",\"quantity\":1}",
		         p, q, p);
	else if (k == K_INVALID)
		snprintf(items, sizeof(items), "{\"product_id\":\"p-%04ld\",\"quantity\":0}", p);
	else
		snprintf(items, sizeof(items), "{\"product_id\":\"p-%04ld\",\"quantity\":%ld}", p,
		         q);
	snprintf(body, size,
	         "{\"customer_id\":\"%s\",\"currency\":\"EUR\",\"shipping_address\":"
	         "\"%ld Chaos Street\",\"items\":[%s]}",
	         customer, i, items);
}

static void record(long i, enum kind k, bool other, int attempt, const char *outcome, int status,
                   const char *order_id)
{
	pthread_mutex_lock(&history_lock);
	fprintf(history, "%lld\t%ld\tchaos-%s-%ld\t%s\t%d\t%s\t%d\t%s\n", wall_ms(), i, cfg.run, i,
	        other ? "reused-body" : kind_names[k], attempt, outcome, status, order_id);
	pthread_mutex_unlock(&history_lock);
}

struct conn {
	int fd[MAX_GATEWAYS];
};

/* One attempt on gateway g; the answer's status, or -1 (unknown). */
static int attempt(struct conn *c, int g, const char *headers, const char *body, char *resp,
                   size_t size)
{
	int status;

	if (c->fd[g] < 0)
		c->fd[g] = httpc_connect(&gateways[g], (int)cfg.timeout_ms);
	if (c->fd[g] < 0)
		return -1;
	status = httpc_request(c->fd[g], &gateways[g], "POST", "/v1/orders", headers, body, resp,
	                       size);
	if (status < 0 || status >= 500) {
		close(c->fd[g]); /* a fresh connection for the next try */
		c->fd[g] = -1;
	}
	return status;
}

/* Sends one body with key until an answer is final or GIVE_UP_S is over;
 * returns the final status (-1: unknown) and the order id of a 202. */
static int send_order(struct conn *c, long i, enum kind k, bool other, char *order_id)
{
	char body[1024], headers[768], resp[4096];
	long long first = clock_mono_ms();
	int status = -1;

	order_body(i, k, other, body, sizeof(body));
	snprintf(headers, sizeof(headers), "%sIdempotency-Key: chaos-%s-%ld\r\n", auth_header,
	         cfg.run, i);
	strcpy(order_id, "-");
	for (int a = 1;; a++) {
		const char *outcome, *id;
		int g = (int)((i + a - 1) % n_gateways);

		atomic_fetch_add(&n_attempts, 1);
		status = attempt(c, g, headers, body, resp, sizeof(resp));
		if (status == 202 && (id = strstr(resp, "\"order_id\":\"")) != NULL)
			snprintf(order_id, 37, "%.36s", id + 12);
		outcome = status == 202                   ? "accepted"
		          : status >= 400 && status < 500 ? (status == 429 ? "retry" : "rejected")
		          : status >= 500                 ? "error"
		                                          : "unknown";
		record(i, k, other, a, outcome, status < 0 ? 0 : status, order_id);
		if (status == 202 || (status >= 400 && status < 500 && status != 429))
			return status;
		if (clock_mono_ms() - first > cfg.give_up_s * 1000 || signals_stopping())
			return status;
		/* Back off: 50 ms doubling to 2 s, half of it jitter. */
		long base = a < 6 ? 50L << a : 2000L;

		clock_sleep_ms(base / 2 + (long)(draw(i, 100U + (unsigned)a) %
		                                 (unsigned long long)(base / 2)));
	}
}

static void *worker(void *arg)
{
	struct conn c;
	char order_id[40], again[40];

	(void)arg;
	for (int g = 0; g < MAX_GATEWAYS; g++)
		c.fd[g] = -1;
	for (;;) {
		long i = atomic_fetch_add(&next_order, 1);
		enum kind k;
		int status;
		long long due;

		if (i >= n_orders || signals_stopping())
			break;
		k = kind_of(i);
		due = t0_ms + i * 1000 / cfg.rate;
		if (due > wall_ms())
			clock_sleep_ms(due - wall_ms());
		status = send_order(&c, i, k, false, order_id);
		if (status == 202 && k == K_REUSED) /* the same key, another body: 409 */
			status = send_order(&c, i, k, true, again);
		if (status == 202 || (k == K_REUSED && status == 409))
			atomic_fetch_add(&n_accepted, 1);
		else if (status > 0 && status < 500)
			atomic_fetch_add(&n_rejected, 1);
		else
			atomic_fetch_add(&n_unknown, 1);
	}
	for (int g = 0; g < MAX_GATEWAYS; g++)
		if (c.fd[g] >= 0)
			close(c.fd[g]);
	return NULL;
}

static void parse_gateways(void)
{
	char *copy = strdup(cfg.gateways), *save = NULL, why[256];

	for (char *u = strtok_r(copy, ",", &save); u; u = strtok_r(NULL, ",", &save)) {
		if (n_gateways == MAX_GATEWAYS)
			die("GATEWAY_URLS: more than %d", MAX_GATEWAYS);
		if (httpc_parse_url(&gateways[n_gateways++], u, why, sizeof(why)) < 0)
			die("GATEWAY_URLS: %s", why);
	}
	free(copy);
	if (!n_gateways)
		die("GATEWAY_URLS: none");
}

int main(int argc, char **argv)
{
	pthread_t threads[MAX_WORKERS];
	char path[512];
	long last = 0;

	log_init("chaos-client", LOG_LEVEL_WARN);
	config_load_or_exit(&cfg, vars, NVARS, argc, argv);
	if (signals_install() < 0)
		die("signals");
	parse_gateways();
	snprintf(auth_header, sizeof(auth_header), "Authorization: Bearer %s\r\n", cfg.api_key);
	mkdir(cfg.out_dir, 0755);
	snprintf(path, sizeof(path), "%s/history.tsv", cfg.out_dir);
	if (!(history = fopen(path, "w")))
		die("%s: cannot write", path);
	setvbuf(history, NULL, _IOLBF, 0);
	n_orders = cfg.rate * cfg.duration;
	t0_ms = wall_ms();
	for (long w = 0; w < cfg.workers; w++)
		if (pthread_create(&threads[w], NULL, worker, NULL) != 0)
			die("pthread_create");
	/* A line every 10 s while it runs. */
	for (long s = 0; atomic_load(&next_order) < n_orders && !signals_stopping(); s++) {
		clock_sleep_ms(1000);
		if (s % 10 == 9) {
			long a = atomic_load(&n_attempts);

			printf("chaos-client: %lds: %ld orders sent, %ld attempts (%ld in the last "
			       "10 s)\n",
			       s + 1, atomic_load(&next_order), a, a - last);
			fflush(stdout);
			last = a;
		}
	}
	for (long w = 0; w < cfg.workers; w++)
		pthread_join(threads[w], NULL);
	fprintf(history, "end\t%lld\n", wall_ms());
	fclose(history);
	printf("chaos-client: %ld orders: %ld answered, %ld refused, %ld unknown after retries; "
	       "%ld attempts\n",
	       n_orders, atomic_load(&n_accepted), atomic_load(&n_rejected),
	       atomic_load(&n_unknown), atomic_load(&n_attempts));
	config_release(&cfg, vars, NVARS);
	return 0;
}
