/*
 * template - the smallest complete service: it consumes events, applies each
 * exactly once to its own database, and emits events through the outbox.
 * `make new-service` copies it to start a new service; only template.c and
 * migrations/ hold domain logic.
 */
#include "daemon.h"
#include "log.h"
#include "template.h"

struct template_cfg {
	struct daemon_settings d;
};

static const struct config_var vars[] = {
        DAEMON_CONFIG_VARS(struct template_cfg, d, "9190"),
        DAEMON_DATABASE_VARS(struct template_cfg, d),
};
#define NVARS (sizeof(vars) / sizeof(vars[0]))

static int setup(struct daemon *d, const void *arg, void *ctx)
{
	(void)arg;
	*(struct template_ctx *)ctx =
	        (struct template_ctx){d->outbox, d->codec, template_emits, ""};
	return 0;
}

DAEMON_MAIN("template", struct template_cfg, struct template_ctx, setup, template_handlers)
