/*
 * payment - charges each created order's total and refunds the charge when
 * the order is cancelled.
 */
#include "clock.h"
#include "daemon.h"
#include "log.h"
#include "payment.h"
#include "signals.h"

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

int main(int argc, char **argv)
{
	struct payment_cfg cfg = {0};
	struct daemon d = {0};
	struct payment_ctx ctx;
	int rc;

	log_init("payment", LOG_LEVEL_INFO);
	config_load_or_exit(&cfg, vars, NVARS, argc, argv);
	rc = daemon_start(&d, "payment", &cfg.d, service_migrations, service_nmigrations);
	if (rc == 0) {
		ctx = (struct payment_ctx){d.outbox, cfg.limit_cents, cfg.decline_rate,
		                           (unsigned long long)cfg.seed};
		rc = daemon_consume(&d, "payment", payment_handlers, &ctx);
	}
	daemon_stop(&d);
	config_release(&cfg, vars, NVARS);
	return rc < 0 && !signals_stopping() ? 1 : 0;
}
