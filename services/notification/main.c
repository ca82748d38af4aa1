/*
 * notification - tells customers about their orders, exactly once per
 * cause event and channel.
 */
#include "daemon.h"
#include "log.h"
#include "notification.h"

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

static int setup(struct daemon *d, const void *arg, void *ctx)
{
	const struct notification_cfg *cfg = arg;

	*(struct notification_ctx *)ctx = (struct notification_ctx){d->outbox, cfg->channel};
	return 0;
}

DAEMON_MAIN("notification", struct notification_cfg, struct notification_ctx, setup,
            notification_handlers)
