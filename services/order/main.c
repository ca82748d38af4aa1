/*
 * order - owns orders: prices each request from its copy of the catalogue,
 * and runs the saga's state machine on the payment, inventory and shipping
 * results (docs/architecture.md).
 */
#include "clock.h"
#include "daemon.h"
#include "log.h"
#include "saga.h"
#include "signals.h"

struct order_cfg {
	struct daemon_settings d;
};

static const struct config_var vars[] = {
        DAEMON_CONFIG_VARS(struct order_cfg, d, "9101"),
        DAEMON_DATABASE_VARS(struct order_cfg, d),
};
#define NVARS (sizeof(vars) / sizeof(vars[0]))

int main(int argc, char **argv)
{
	struct order_cfg cfg = {0};
	struct daemon d = {0};
	struct order_ctx ctx;
	int rc;

	log_init("order", LOG_LEVEL_INFO);
	config_load_or_exit(&cfg, vars, NVARS, argc, argv);
	rc = daemon_start(&d, "order", &cfg.d, service_migrations, service_nmigrations);
	if (rc == 0) {
		ctx.outbox = d.outbox;
		rc = daemon_consume(&d, "order", order_handlers, &ctx);
	}
	daemon_stop(&d);
	config_release(&cfg, vars, NVARS);
	return rc < 0 && !signals_stopping() ? 1 : 0;
}
