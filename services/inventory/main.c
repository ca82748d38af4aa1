/*
 * inventory - owns products, prices and stock: reserves and releases stock
 * for orders and publishes the catalogue.
 */
#include "daemon.h"
#include "inventory.h"
#include "log.h"

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

static int setup(struct daemon *d, const void *arg, void *ctx)
{
	const struct inventory_cfg *cfg = arg;
	struct inventory_ctx *c = ctx;
	char why[512];
	int rc = 0;

	c->outbox = d->outbox;
	if (cfg->seed_products > 0) {
		rc = inventory_seed(c, db_conn(d->db, NULL, NULL, 0), cfg->seed_products,
		                    cfg->seed_stock, why, sizeof(why));
		if (rc < 0)
			LOG(ERROR, "could not seed the catalogue: %s", why);
	}
	return rc;
}

DAEMON_MAIN("inventory", struct inventory_cfg, struct inventory_ctx, setup, inventory_handlers)
