/*
 * inventory - owns products, prices and stock: reserves and releases stock
 * for orders and publishes the catalogue.
 */
#include "clock.h"
#include "daemon.h"
#include "inventory.h"
#include "log.h"
#include "signals.h"

struct inventory_cfg {
	struct daemon_settings d;
	long seed_products;
	long seed_stock;
};

static const struct config_var vars[] = {
        DAEMON_CONFIG_VARS(struct inventory_cfg, d, "9103"),
        DAEMON_DATABASE_VARS(struct inventory_cfg, d),
        CONFIG_INT("SEED_PRODUCTS", "0", 0, 1000000, struct inventory_cfg, seed_products,
                   "create this many products when there are none (p-0001, ...)"),
        CONFIG_INT("SEED_STOCK", "1000000", 0, 1000000000, struct inventory_cfg, seed_stock,
                   "stock of each seeded product"),
};
#define NVARS (sizeof(vars) / sizeof(vars[0]))

int main(int argc, char **argv)
{
	struct inventory_cfg cfg = {0};
	struct daemon d = {0};
	struct inventory_ctx ctx;
	char why[512];
	int rc;

	log_init("inventory", LOG_LEVEL_INFO);
	config_load_or_exit(&cfg, vars, NVARS, argc, argv);
	rc = daemon_start(&d, "inventory", &cfg.d, service_migrations, service_nmigrations);
	if (rc == 0) {
		ctx.outbox = d.outbox;
		if (cfg.seed_products > 0) {
			rc = inventory_seed(&ctx, db_conn(d.db, NULL, NULL, 0), cfg.seed_products,
			                    cfg.seed_stock, why, sizeof(why));
			if (rc < 0)
				LOG(ERROR, "could not seed the catalogue: %s", why);
		}
	}
	if (rc == 0)
		rc = daemon_consume(&d, "inventory", inventory_handlers, &ctx);
	daemon_stop(&d);
	config_release(&cfg, vars, NVARS);
	return rc < 0 && !signals_stopping() ? 1 : 0;
}
