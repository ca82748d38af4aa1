#include "handler.h"

#include <stdio.h>
#include <string.h>

#include "db.h"
#include "event.h"

int template_handle(void *arg, PGconn *tx, const struct consumed *ev, char *errstr,
		    size_t errstr_size)
{
	struct template_ctx *ctx = arg;
	const char *order_id = event_str(ev->record, "order_id");
	const char *params[3] = {ev->event_id, ev->type, order_id};
	int rc;

	if (!order_id || !*order_id) {
		snprintf(errstr, errstr_size, "%s %s has no order_id", ev->type, ev->event_id);
		return ERR_INVALID;
	}
	rc = db_exec(tx,
		     "INSERT INTO template_effects (event_id, event_type, order_id) VALUES ($1, $2, $3)",
		     3, params, NULL, errstr, errstr_size);
	if (rc < 0 || !ctx->emit_type[0])
		return rc;
	json_t *fields = json_pack("{s:s, s:s, s:s, s:s, s:s}", "order_id", order_id, "customer_id",
				   event_str(ev->record, "customer_id") ? event_str(ev->record, "customer_id") : "",
				   "channel", "template", "cause_event_id", ev->event_id,
				   "cause_event_type", ev->type);

	return outbox_add(ctx->outbox, tx, ctx->emit_type, fields, ev->record, NULL, NULL,
			  ctx->emit_topic[0] ? ctx->emit_topic : NULL, NULL, errstr, errstr_size);
}
