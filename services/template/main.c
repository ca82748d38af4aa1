/*
 * template - the smallest complete service: it consumes events, applies each
 * exactly once to its own database, and emits events through the outbox.
 * `make new-service` copies it to start a new service; only template.c and
 * migrations/ hold domain logic.
 */
#include "clock.h"
#include "daemon.h"
#include "log.h"
#include "signals.h"
#include "template.h"

struct template_cfg {
	struct daemon_settings d;
};

static const struct config_var vars[] = {
        DAEMON_CONFIG_VARS(struct template_cfg, d, "9190"),
        DAEMON_DATABASE_VARS(struct template_cfg, d),
};
#define NVARS (sizeof(vars) / sizeof(vars[0]))

int main(int argc, char **argv)
{
	struct template_cfg cfg = {0};
	struct daemon d = {0};
	struct template_ctx ctx;
	int rc;

	log_init("template", LOG_LEVEL_INFO);
	config_load_or_exit(&cfg, vars, NVARS, argc, argv);
	rc = daemon_start(&d, "template", &cfg.d, service_migrations, service_nmigrations);
	if (rc == 0) {
		ctx = (struct template_ctx){d.outbox, d.codec, template_emits, ""};
		rc = daemon_consume(&d, "template", template_handlers, &ctx);
	}
	daemon_stop(&d);
	config_release(&cfg, vars, NVARS);
	return rc < 0 && !signals_stopping() ? 1 : 0;
}
