#include "machine.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

static bool is(const char *value, const char *want)
{
	return value && strcmp(value, want) == 0;
}

static struct order_step step(enum order_action action, const char *reason)
{
	return (struct order_step){.action = action, .reason = reason};
}

/* A payment or inventory result while the order waits for both: the first
 * failure cancels it, two successes confirm it. */
static struct order_step on_result(const struct order_state *s, enum order_input in)
{
	if (!is(s->status, "CREATED"))
		return step(ORDER_NOTHING, NULL); /* late: compensated by OrderCancelled */
	if (in == ORDER_DECLINED)
		return step(ORDER_CANCEL, "PAYMENT_DECLINED");
	if (in == ORDER_INSUFFICIENT)
		return step(ORDER_CANCEL, "INSUFFICIENT_STOCK");
	if (is(s->payment, "DECLINED"))
		return step(ORDER_CANCEL, "PAYMENT_DECLINED");
	if (is(s->inventory, "INSUFFICIENT"))
		return step(ORDER_CANCEL, "INSUFFICIENT_STOCK");
	if (is(s->payment, "PAID") && is(s->inventory, "RESERVED"))
		return step(ORDER_CONFIRM, NULL);
	return step(ORDER_NOTHING, NULL);
}

/* The customer's cancellation: at once before confirmation; once confirmed,
 * only shipping knows whether the parcel has left, so it is asked; refused
 * once the order is known to have left. Asked or refused once only. */
static struct order_step on_cancel(const struct order_state *s)
{
	if (is(s->status, "CREATED"))
		return step(ORDER_CANCEL, "CUSTOMER_CANCELLED");
	if (s->cancellation || is(s->status, "CANCELLED"))
		return step(ORDER_NOTHING, NULL);
	if (is(s->status, "COMPLETED"))
		return step(ORDER_REFUSE, "ALREADY_COMPLETED");
	if (s->shipment)
		return step(ORDER_REFUSE, "ALREADY_DISPATCHED");
	return step(ORDER_ASK_SHIPPING, NULL);
}

struct order_step order_next(const struct order_state *s, enum order_input in)
{
	bool confirmed = is(s->status, "CONFIRMED");
	bool asked = is(s->cancellation, "REQUESTED");

	switch (in) {
	case ORDER_PAID:
	case ORDER_DECLINED:
	case ORDER_RESERVED:
	case ORDER_INSUFFICIENT: return on_result(s, in);
	case ORDER_CANCEL_REQUESTED: return on_cancel(s);
	case ORDER_DEADLINE_PASSED:
		return is(s->status, "CREATED") ? step(ORDER_CANCEL, "TIMEOUT")
		                                : step(ORDER_NOTHING, NULL);
	case ORDER_SHIPMENT_DISPATCHED:
		/* The parcel left before shipping saw the request: too late. */
		return confirmed && asked ? step(ORDER_REFUSE, "ALREADY_DISPATCHED")
		                          : step(ORDER_NOTHING, NULL);
	case ORDER_SHIPMENT_CANCELLED:
		return confirmed && asked ? step(ORDER_CANCEL, "CUSTOMER_CANCELLED")
		                          : step(ORDER_NOTHING, NULL);
	case ORDER_DELIVERED:
		return confirmed ? step(ORDER_COMPLETE, NULL) : step(ORDER_NOTHING, NULL);
	case ORDER_SHIPPING_FAILED:
		return confirmed ? step(ORDER_CANCEL, "SHIPPING_FAILED")
		                 : step(ORDER_NOTHING, NULL);
	case ORDER_NINPUTS: break;
	}
	return step(ORDER_NOTHING, NULL);
}

const char *order_input_name(enum order_input in)
{
	static const char *const names[ORDER_NINPUTS] = {
	        [ORDER_PAID] = "paid",
	        [ORDER_DECLINED] = "declined",
	        [ORDER_RESERVED] = "reserved",
	        [ORDER_INSUFFICIENT] = "insufficient",
	        [ORDER_CANCEL_REQUESTED] = "cancel requested",
	        [ORDER_DEADLINE_PASSED] = "deadline passed",
	        [ORDER_SHIPMENT_DISPATCHED] = "shipment dispatched",
	        [ORDER_SHIPMENT_CANCELLED] = "shipment cancelled",
	        [ORDER_DELIVERED] = "delivered",
	        [ORDER_SHIPPING_FAILED] = "shipping failed",
	};

	return (unsigned)in < ORDER_NINPUTS ? names[in] : "unknown";
}
