/*
 * testd - the daemon the integration tests drive (tests/support): the
 * template service's handler (services/template/template.c) and tables,
 * with what it consumes and emits set by environment variables (GROUP,
 * CONSUME_TOPICS, CONSUME_TYPES, EMIT_TYPE, EMIT_TOPIC), so that each test
 * runs it on topics and a group of its own. It is not a service: services
 * list their events in a handler table (services/template/main.c).
 */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "daemon.h"
#include "template.h"
#include "log.h"
#include "signals.h"

#define MAX_NAMES 16

struct template_cfg {
	struct daemon_settings d;
	char *group;
	char *topics;
	char *types;
	char *emit_type;
	char *emit_topic;
};

static const struct config_var vars[] = {
        DAEMON_CONFIG_VARS(struct template_cfg, d, "9190"),
        DAEMON_DATABASE_VARS(struct template_cfg, d),
        CONFIG_STR("GROUP", "template", struct template_cfg, group, "consumer group"),
        CONFIG_STR("CONSUME_TOPICS", "order-events", struct template_cfg, topics,
                   "comma-separated topics to consume"),
        CONFIG_STR("CONSUME_TYPES", "", struct template_cfg, types,
                   "comma-separated event types to apply; the others are skipped unread."
                   " Empty: every type"),
        CONFIG_STR("EMIT_TYPE", "", struct template_cfg, emit_type,
                   "event type emitted for each event applied (e.g. NotificationSent), or empty"),
        CONFIG_STR("EMIT_TOPIC", "", struct template_cfg, emit_topic,
                   "topic of the emitted events; empty for the schema's own"),
};

#define NVARS (sizeof(vars) / sizeof(vars[0]))

int main(int argc, char **argv)
{
	struct template_cfg cfg = {0};
	struct daemon d = {0};
	struct template_ctx ctx;
	const char *topics[MAX_NAMES], *types[MAX_NAMES];
	struct dbapply_handler handlers[MAX_NAMES + 1];
	int ntypes;
	int rc;

	log_init("template", LOG_LEVEL_INFO);
	config_load_or_exit(&cfg, vars, NVARS, argc, argv);
	if (config_split_list(cfg.topics, topics, MAX_NAMES) == 0)
		die("CONSUME_TOPICS names no topic");
	ntypes = config_split_list(cfg.types, types, MAX_NAMES);
	/* Every configured type (all of them when none is) goes to one handler. */
	for (int i = 0; i < ntypes; i++)
		handlers[i] = (struct dbapply_handler){types[i], template_handle};
	if (ntypes == 0)
		handlers[ntypes++] = (struct dbapply_handler){DBAPPLY_ANY_TYPE, template_handle};
	handlers[ntypes] = (struct dbapply_handler){NULL, NULL};
	rc = daemon_start(&d, "template", &cfg.d, service_migrations, service_nmigrations);
	if (rc < 0)
		goto out;
	ctx = (struct template_ctx){d.outbox, d.codec, cfg.emit_type, cfg.emit_topic};
	rc = daemon_consume_topics(&d, cfg.group, topics, handlers, &ctx);
	LOG(INFO, "stopping");
out:
	daemon_stop(&d);
	config_release(&cfg, vars, NVARS);
	return rc < 0 && !signals_stopping() ? 1 : 0;
}
