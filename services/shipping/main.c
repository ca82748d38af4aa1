/*
 * shipping - ships confirmed orders through a simulated carrier, with
 * retries, and reports dispatch, delivery or final failure.
 */
#include "daemon.h"
#include "log.h"
#include "shipping.h"

struct shipping_cfg {
	struct daemon_settings d;
	long max_attempts;
	long backoff_ms;
	long delivery_delay_ms;
	double failure_rate;
};

static const struct config_var vars[] = {
        DAEMON_CONFIG_VARS(struct shipping_cfg, d, "9104"),
        DAEMON_DATABASE_VARS(struct shipping_cfg, d),
        CONFIG_INT("CARRIER_MAX_ATTEMPTS", "4", 1, 100, struct shipping_cfg, max_attempts,
                   "carrier attempts before a shipment fails for good"),
        CONFIG_INT("CARRIER_BACKOFF_MS", "20", 1, 600000, struct shipping_cfg, backoff_ms,
                   "delay before the first retry; doubles per attempt, with jitter"),
        CONFIG_INT("DELIVERY_DELAY_MS", "50", 0, 86400000, struct shipping_cfg, delivery_delay_ms,
                   "time from dispatch to delivery"),
        CONFIG_DBL("CARRIER_FAILURE_RATE", "0", 0, 1, struct shipping_cfg, failure_rate,
                   "share of carrier attempts failing at random (load tests)"),
};
#define NVARS (sizeof(vars) / sizeof(vars[0]))

static int setup(struct daemon *d, const void *arg, void *ctx)
{
	const struct shipping_cfg *cfg = arg;
	struct shipping_ctx *c = ctx;

	*c = (struct shipping_ctx){.outbox = d->outbox,
	                           .db = d->db,
	                           .max_attempts = cfg->max_attempts,
	                           .backoff_ms = cfg->backoff_ms,
	                           .delivery_delay_ms = cfg->delivery_delay_ms,
	                           .failure_rate = cfg->failure_rate};
	shipping_init(c);
	daemon_set_tick(d, shipping_tick, c);
	return 0;
}

DAEMON_MAIN("shipping", struct shipping_cfg, struct shipping_ctx, setup, shipping_handlers)
