/*
 * notification - tells customers about their orders, exactly once per
 * cause event and channel.
 */
#include "clock.h"
#include "daemon.h"
#include "log.h"
#include "notification.h"
#include "signals.h"

struct notification_cfg {
	struct daemon_settings d;
	char *channel;
};

static const struct config_var vars[] = {
        DAEMON_CONFIG_VARS(struct notification_cfg, d, "9105"),
        DAEMON_DATABASE_VARS(struct notification_cfg, d),
        CONFIG_STR("NOTIFY_CHANNEL", "email", struct notification_cfg, channel,
                   "the channel notifications are sent on"),
};
#define NVARS (sizeof(vars) / sizeof(vars[0]))

int main(int argc, char **argv)
{
	struct notification_cfg cfg = {0};
	struct daemon d = {0};
	struct notification_ctx ctx;
	int rc;

	log_init("notification", LOG_LEVEL_INFO);
	config_load_or_exit(&cfg, vars, NVARS, argc, argv);
	rc = daemon_start(&d, "notification", &cfg.d, service_migrations, service_nmigrations);
	if (rc == 0) {
		ctx = (struct notification_ctx){d.outbox, cfg.channel};
		rc = daemon_consume(&d, "notification", notification_handlers, &ctx);
	}
	daemon_stop(&d);
	config_release(&cfg, vars, NVARS);
	return rc < 0 && !signals_stopping() ? 1 : 0;
}
