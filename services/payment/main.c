/*
 * payment - charges each created order's total and refunds the charge when
 * the order is cancelled.
 */
#include "daemon.h"
#include "log.h"
#include "payment.h"

struct payment_cfg {
	struct daemon_settings d;
	long limit_cents;
	double decline_rate;
	long seed;
};

static const struct config_var vars[] = {
        DAEMON_CONFIG_VARS(struct payment_cfg, d, "9102"),
        DAEMON_DATABASE_VARS(struct payment_cfg, d),
        CONFIG_INT("PAYMENT_LIMIT_CENTS", "100000000", 0, 1e15, struct payment_cfg, limit_cents,
                   "orders with a larger total are declined"),
        CONFIG_DBL("PAYMENT_DECLINE_RATE", "0", 0, 1, struct payment_cfg, decline_rate,
                   "share of other orders declined at random (load tests)"),
        CONFIG_INT("PAYMENT_SEED", "42", 0, 2147483647, struct payment_cfg, seed,
                   "seed of the random declines"),
};
#define NVARS (sizeof(vars) / sizeof(vars[0]))

static int setup(struct daemon *d, const void *arg, void *ctx)
{
	const struct payment_cfg *cfg = arg;

	*(struct payment_ctx *)ctx = (struct payment_ctx){
	        d->outbox, cfg->limit_cents, cfg->decline_rate, (unsigned long long)cfg->seed};
	return 0;
}

DAEMON_MAIN("payment", struct payment_cfg, struct payment_ctx, setup, payment_handlers)
