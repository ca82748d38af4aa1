/*
 * order - owns orders: prices each request from its copy of the catalogue,
 * and runs the saga's state machine on the payment, inventory and shipping
 * results (docs/architecture.md).
 */
#include "daemon.h"
#include "log.h"
#include "saga.h"

struct order_cfg {
	struct daemon_settings d;
};

static const struct config_var vars[] = {
        DAEMON_CONFIG_VARS(struct order_cfg, d, "9101"),
        DAEMON_DATABASE_VARS(struct order_cfg, d),
};
#define NVARS (sizeof(vars) / sizeof(vars[0]))

static int setup(struct daemon *d, const void *arg, void *ctx)
{
	(void)arg;
	((struct order_ctx *)ctx)->outbox = d->outbox;
	return 0;
}

DAEMON_MAIN("order", struct order_cfg, struct order_ctx, setup, order_handlers)
