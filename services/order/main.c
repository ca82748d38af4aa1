/*
 * order - owns orders: prices each request from its copy of the catalogue,
 * and runs the saga's state machine on the payment, inventory and shipping
 * results, the customer's cancellations and the saga's deadline
 * (docs/architecture.md).
 */
#include "daemon.h"
#include "log.h"
#include "saga.h"

struct order_cfg {
	struct daemon_settings d;
	long deadline_ms;
};

static const struct config_var vars[] = {
        DAEMON_CONFIG_VARS(struct order_cfg, d, "9101"),
        DAEMON_DATABASE_VARS(struct order_cfg, d),
        CONFIG_INT("ORDER_DEADLINE_MS", "60000", 100, 604800000, struct order_cfg, deadline_ms,
                   "an order not confirmed this long after it was stored is cancelled (TIMEOUT)"),
};
#define NVARS (sizeof(vars) / sizeof(vars[0]))

static int setup(struct daemon *d, const void *arg, void *ctx)
{
	const struct order_cfg *cfg = arg;
	struct order_ctx *c = ctx;

	*c = (struct order_ctx){.outbox = d->outbox, .db = d->db, .deadline_ms = cfg->deadline_ms};
	order_deadline_init(c, d->metrics);
	daemon_set_tick(d, order_deadline_tick, c);
	return 0;
}

DAEMON_MAIN("order", struct order_cfg, struct order_ctx, setup, order_handlers)
