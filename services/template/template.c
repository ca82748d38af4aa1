#include "template.h"

#include <stdio.h>
#include <string.h>

#include "db.h"
#include "event.h"

bool template_accepts(const json_t *record, char *errstr, size_t errstr_size)
{
	const char *order_id = event_str(record, "order_id");

	if (!order_id || !*order_id) {
		snprintf(errstr, errstr_size, "the event has no order_id");
		return false;
	}
	return true;
}

int template_handle(void *arg, PGconn *tx, const struct consumed *ev, char *errstr,
                    size_t errstr_size)
{
	struct template_ctx *ctx = arg;
	const char *params[3] = {ev->event_id, ev->type, event_str(ev->record, "order_id")};
	json_t *fields;
	int rc;

	if (!template_accepts(ev->record, errstr, errstr_size))
		return ERR_INVALID;
	rc = db_exec(
	        tx,
	        "INSERT INTO template_effects (event_id, event_type, order_id) VALUES ($1, $2, $3)",
	        3, params, NULL, errstr, errstr_size);
	if (rc < 0 || !ctx->emit_type[0])
		return rc;
	/* The emitted event: the fields it shares with the cause, and where it
	 * came from. Replace this with the service's own event. */
	fields = codec_record_from(ctx->codec, ctx->emit_type, ev->record);
	if (!fields) {
		snprintf(errstr, errstr_size, "unknown event type %s", ctx->emit_type);
		return ERR_FATAL;
	}
	if (json_object_get(fields, "cause_event_id"))
		json_object_set_new(fields, "cause_event_id", json_string(ev->event_id));
	if (json_object_get(fields, "cause_event_type"))
		json_object_set_new(fields, "cause_event_type", json_string(ev->type));
	if (json_object_get(fields, "channel"))
		json_object_set_new(fields, "channel", json_string("template"));
	return outbox_add(ctx->outbox, tx, ctx->emit_type, fields, ev->record, NULL, NULL,
	                  ctx->emit_topic[0] ? ctx->emit_topic : NULL, NULL, errstr, errstr_size);
}

/* What the service consumes (one line per event type) and what it emits. */
const struct dbapply_handler template_handlers[] = {
        {"OrderCompleted", template_handle},
        {NULL, NULL},
};

const char template_emits[] = "NotificationSent";
