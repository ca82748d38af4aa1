/*
 * template - the smallest complete daemon: configuration, its own database
 * with migrations, a Kafka client, admin endpoints and a clean shutdown.
 * `make new-service` copies it to start a new service.
 */
#include <stdlib.h>

#include "daemon.h"
#include "log.h"
#include "signals.h"

struct template_cfg {
	struct daemon_settings d;
	long tick_ms;
};

static const struct config_var vars[] = {
        DAEMON_CONFIG_VARS(struct template_cfg, d, "9190"),
        DAEMON_DATABASE_VAR(struct template_cfg, d),
        CONFIG_INT("TICK_MS", "100", 1, 60000, struct template_cfg, tick_ms,
                   "how often the main loop wakes"),
};

#define NVARS (sizeof(vars) / sizeof(vars[0]))

int main(int argc, char **argv)
{
	struct template_cfg cfg = {0};
	struct daemon d = {0};
	int rc;

	log_init("template", LOG_LEVEL_INFO);
	daemon_load_config(&cfg, vars, NVARS, argc, argv);
	rc = daemon_start(&d, "template", &cfg.d, service_migrations, service_nmigrations);
	if (rc < 0)
		goto out;
	while (!signals_stopping())
		daemon_sleep((int)cfg.tick_ms);
	LOG(INFO, "stopping");
out:
	daemon_stop(&d);
	config_release(&cfg, vars, NVARS);
	return rc < 0 && !signals_stopping() ? 1 : 0;
}
