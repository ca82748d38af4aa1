/*
 * gateway - the HTTP API (docs/api.md): takes orders and answers 202 only
 * after Kafka acknowledged them; serves order status and the catalogue from
 * its Redis read model. Owns no database.
 */
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "daemon.h"
#include "event.h"
#include "gateway.h"
#include "kafka.h"
#include "log.h"
#include "readmodel.h"
#include "signals.h"

struct gateway_cfg {
	struct daemon_settings d;
	char *addr;
	long port;
	char *api_keys;
	char *redis_url;
	char *currencies;
	long max_body;
	long max_lines;
	long max_quantity;
	long ack_timeout_ms;
	long idempotency_ttl_s;
	long readmodel_ttl_s;
	bool public_catalogue;
	long linger_ms;
	long threads, max_connections, max_per_client, max_header_bytes;
	long header_timeout_ms, body_timeout_ms;
	long events_ring_bytes, events_max_readers, events_stall_ms, events_flush_ms;
	char *ui_dir;
	char *metrics_targets;
};

static const struct config_var vars[] = {
        DAEMON_CONFIG_VARS(struct gateway_cfg, d, "9100"),
        DAEMON_FETCH_VARS(struct gateway_cfg, d),
        CONFIG_STR("GATEWAY_ADDR", "127.0.0.1", struct gateway_cfg, addr, "API listen address"),
        CONFIG_INT("GATEWAY_PORT", "8080", 1, 65535, struct gateway_cfg, port, "API port"),
        CONFIG_SECRET("API_KEYS", NULL, struct gateway_cfg, api_keys,
                      "accepted API keys with their rate limits: key:per_second,key:per_second"),
        CONFIG_SECRET("REDIS_URL", "redis://127.0.0.1:16379/0", struct gateway_cfg, redis_url,
                      "Redis for idempotency keys, rate limits and the read model"),
        CONFIG_STR("CURRENCIES", "EUR", struct gateway_cfg, currencies,
                   "accepted currencies, comma-separated"),
        CONFIG_INT("MAX_BODY_BYTES", "65536", 256, 10485760, struct gateway_cfg, max_body,
                   "larger request bodies get 413"),
        CONFIG_INT("MAX_ORDER_LINES", "50", 1, 10000, struct gateway_cfg, max_lines,
                   "lines an order may have"),
        CONFIG_INT("MAX_QUANTITY", "1000", 1, 1000000, struct gateway_cfg, max_quantity,
                   "largest quantity of one line"),
        CONFIG_INT("ORDER_ACK_TIMEOUT_MS", "5000", 100, 600000, struct gateway_cfg, ack_timeout_ms,
                   "how long an order waits for Kafka before 503"),
        CONFIG_BOOL("PUBLIC_CATALOGUE", "false", struct gateway_cfg, public_catalogue,
                    "serve GET /v1/products to callers without an API key"),
        CONFIG_INT("IDEMPOTENCY_TTL_S", "86400", 60, 2592000, struct gateway_cfg, idempotency_ttl_s,
                   "how long an Idempotency-Key is remembered"),
        CONFIG_INT("READMODEL_TTL_S", READMODEL_TTL_DEFAULT, 1, 31536000, struct gateway_cfg,
                   readmodel_ttl_s,
                   "a finished order leaves the read model this long after its last event"),
        CONFIG_INT("PRODUCER_LINGER_MS", "1", 0, 1000, struct gateway_cfg, linger_ms,
                   "producer batching delay"),
        CONFIG_INT("HTTP_THREADS", "16", 1, 256, struct gateway_cfg, threads,
                   "API worker threads (each serves many connections; a request waiting "
                   "for Kafka holds none)"),
        CONFIG_INT("HTTP_MAX_CONNECTIONS", "1024", 16, 100000, struct gateway_cfg, max_connections,
                   "open API connections in all"),
        CONFIG_INT("HTTP_MAX_PER_CLIENT", "64", 1, 100000, struct gateway_cfg, max_per_client,
                   "open API connections from one client address"),
        CONFIG_INT("HTTP_MAX_HEADER_BYTES", "16384", 4096, 1048576, struct gateway_cfg,
                   max_header_bytes, "request line and headers; larger get 431"),
        CONFIG_INT("HTTP_HEADER_TIMEOUT_MS", "10000", 100, 600000, struct gateway_cfg,
                   header_timeout_ms,
                   "time to send a request's headers (from connecting or the last answer)"),
        CONFIG_INT("HTTP_BODY_TIMEOUT_MS", "10000", 100, 600000, struct gateway_cfg,
                   body_timeout_ms, "time to send a request's body after its headers"),
        CONFIG_INT("EVENTS_RING_BYTES", "4194304", 65536, 1073741824, struct gateway_cfg,
                   events_ring_bytes,
                   "GET /v1/events: how far (bytes) a reader may fall behind before it is "
                   "dropped"),
        CONFIG_INT("EVENTS_MAX_READERS", "256", 1, 100000, struct gateway_cfg, events_max_readers,
                   "GET /v1/events: readers at once; more get 503"),
        CONFIG_INT("EVENTS_FLUSH_MS", "500", 10, 60000, struct gateway_cfg, events_flush_ms,
                   "GET /v1/events: readers are sent what came at most this often (each "
                   "sending costs every reader a write)"),
        CONFIG_INT("EVENTS_STALL_MS", "10000", 100, 600000, struct gateway_cfg, events_stall_ms,
                   "GET /v1/events: a reader that takes nothing for this long is closed"),
        CONFIG_STR("UI_DIR", "", struct gateway_cfg, ui_dir,
                   "the page served at /ui/ (services/gateway/ui); empty: none"),
        CONFIG_STR("METRICS_TARGETS", "", struct gateway_cfg, metrics_targets,
                   "GET /v1/overview: the daemons' admin addresses by consumer group, "
                   "group=host:port,..."),
};
#define NVARS (sizeof(vars) / sizeof(vars[0]))

int main(int argc, char **argv)
{
	struct gateway_cfg cfg = {0};
	struct daemon d = {0};
	struct gateway g = {0};
	struct http_server *http = NULL;
	struct projector *projector = NULL;
	char why[512];
	int rc;

	log_init("gateway", LOG_LEVEL_INFO);
	config_load_or_exit(&cfg, vars, NVARS, argc, argv);
	if (gateway_parse_keys(&g, cfg.api_keys) <= 0)
		die("invalid configuration: API_KEYS: want key:limit pairs, keys of 8+ characters");
	rc = daemon_start(&d, "gateway", &cfg.d, NULL, 0);
	if (rc < 0)
		goto out;
	g.codec = d.codec;
	g.metrics = d.metrics;
	g.limits = (struct order_limits){cfg.currencies, cfg.max_lines, cfg.max_quantity};
	g.ack_timeout_ms = cfg.ack_timeout_ms;
	g.idempotency_ttl_s = cfg.idempotency_ttl_s;
	g.fetch_min_bytes = (int)cfg.d.fetch_min_bytes;
	g.fetch_wait_ms = (int)cfg.d.fetch_wait_ms;
	g.public_catalogue = cfg.public_catalogue;
	g.m_accepted = metrics_counter(d.metrics, "saga_gateway_orders_accepted_total",
	                               "orders answered 202", NULL);
	g.m_rejected = metrics_counter(d.metrics, "saga_gateway_orders_rejected_total",
	                               "order requests answered 4xx", NULL);
	g.m_latency = metrics_histogram(d.metrics, "saga_gateway_accept_seconds",
	                                "from request to 202 (broker acknowledged)", NULL,
	                                metrics_latency_bounds, metrics_latency_nbounds);
	{
		struct kafka_producer_cfg pc = {.kafka = &cfg.d.kafka,
		                                .client_id = "gateway",
		                                .linger_ms = (int)cfg.linger_ms,
		                                .message_timeout_ms = (int)cfg.ack_timeout_ms};

		rc = kafka_publisher_new(&g.producer, &pc, why, sizeof(why));
	}
	if (rc == 0)
		rc = redis_pool_new(&g.redis, cfg.redis_url, 32, 2000, why, sizeof(why));
	if (rc == 0) {
		struct sse_hub_cfg ec = {.ring_bytes = (size_t)cfg.events_ring_bytes,
		                         .max_readers = (int)cfg.events_max_readers,
		                         .flush_ms = cfg.events_flush_ms,
		                         .metrics = d.metrics};

		rc = sse_hub_new(&g.events, &ec, why, sizeof(why));
	}
	if (rc == 0)
		rc = overview_new(&g.overview, cfg.metrics_targets, why, sizeof(why));
	if (rc == 0)
		rc = ui_load(&g.ui, cfg.ui_dir, why, sizeof(why));
	if (rc == 0)
		rc = projector_start(&projector, &g, &cfg.d.kafka, cfg.redis_url,
		                     cfg.readmodel_ttl_s, why, sizeof(why));
	if (rc == 0) {
		struct http_server_cfg hc = {.addr = cfg.addr,
		                             .port = (int)cfg.port,
		                             .max_body = (size_t)cfg.max_body,
		                             .threads = (unsigned)cfg.threads,
		                             .max_connections = (unsigned)cfg.max_connections,
		                             .max_per_client = (unsigned)cfg.max_per_client,
		                             .max_header_bytes = (size_t)cfg.max_header_bytes,
		                             .header_timeout_ms = cfg.header_timeout_ms,
		                             .body_timeout_ms = cfg.body_timeout_ms,
		                             .stream_stall_ms = cfg.events_stall_ms,
		                             .metrics = d.metrics,
		                             .name = "api"};

		rc = http_server_start(&http, &hc, gateway_routes, gateway_nroutes, &g, why,
		                       sizeof(why));
	}
	if (rc == 0)
		sse_hub_set_wake(g.events, http_server_wake_streams, http);
	if (rc < 0) {
		LOG(ERROR, "could not start the gateway: %s", why);
		goto out;
	}
	LOG(INFO, "taking orders on http://%s:%ld", cfg.addr, cfg.port);
	while (!signals_stopping())
		clock_sleep_ms(1000);
	LOG(INFO, "stopping");
out:
	/* Stop taking requests, let the in-flight ones finish, flush, then the rest. */
	if (g.events)
		sse_hub_set_wake(g.events, NULL, NULL);
	http_server_free(http);
	projector_stop(projector);
	sse_hub_free(g.events);
	overview_free(g.overview);
	ui_free(g.ui);
	kafka_publisher_free(g.producer, 5000);
	redis_pool_free(g.redis);
	daemon_stop(&d);
	config_release(&cfg, vars, NVARS);
	return rc < 0 && !signals_stopping() ? 1 : 0;
}
