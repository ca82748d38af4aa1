/*
 * machine.h - the order's state machine, one pure function: what the order
 * service does with an input, given the order's row as it stands once the
 * input's own fact is recorded (a payment or inventory result, a dispatch).
 * Every (state, input) pair has exactly one step, tested exhaustively in
 * tests/unit/test_machine.c; docs/architecture.md draws it.
 */
#ifndef ORDER_MACHINE_H
#define ORDER_MACHINE_H

/* What happened to the order. */
enum order_input {
	ORDER_PAID,                /* PaymentProcessed (payment_status PAID recorded) */
	ORDER_DECLINED,            /* PaymentFailed (DECLINED recorded) */
	ORDER_RESERVED,            /* InventoryReserved (inventory_status RESERVED recorded) */
	ORDER_INSUFFICIENT,        /* InventoryInsufficient (INSUFFICIENT recorded) */
	ORDER_CANCEL_REQUESTED,    /* CancellationRequested, from the customer */
	ORDER_DEADLINE_PASSED,     /* the saga's deadline, from the order's timer */
	ORDER_SHIPMENT_DISPATCHED, /* ShipmentDispatched (shipment_status DISPATCHED recorded) */
	ORDER_SHIPMENT_CANCELLED,  /* ShipmentCancelled: shipping stopped it, as asked */
	ORDER_DELIVERED,           /* ShipmentDelivered */
	ORDER_SHIPPING_FAILED,     /* ShipmentFailed: the carrier failed for good */
	ORDER_NINPUTS
};

/* What the order service does about it (each in the input's transaction). */
enum order_action {
	ORDER_NOTHING,      /* the input is recorded (or moot); no event */
	ORDER_CONFIRM,      /* status CONFIRMED, OrderConfirmed */
	ORDER_CANCEL,       /* status CANCELLED with the step's reason, OrderCancelled */
	ORDER_ASK_SHIPPING, /* cancellation REQUESTED, OrderCancelling: shipping decides */
	ORDER_REFUSE,       /* cancellation REFUSED with the step's reason, CancellationRefused */
	ORDER_COMPLETE,     /* status COMPLETED, OrderCompleted */
};

/* The order as its row stands; NULL for a column without a value. */
struct order_state {
	const char *status;       /* CREATED, CONFIRMED, COMPLETED, CANCELLED */
	const char *payment;      /* NULL, PAID, DECLINED */
	const char *inventory;    /* NULL, RESERVED, INSUFFICIENT */
	const char *shipment;     /* NULL, DISPATCHED, DELIVERED */
	const char *cancellation; /* NULL, REQUESTED (shipping asked), REFUSED */
};

struct order_step {
	enum order_action action;
	const char *reason; /* ORDER_CANCEL's and ORDER_REFUSE's reason (static), else NULL */
};

/* The step for input in on state s. Pure: no I/O, no clock. */
struct order_step order_next(const struct order_state *s, enum order_input in);

/* The name of an input, for logs and tests ("ORDER_PAID" -> "paid"). */
const char *order_input_name(enum order_input in);

#endif
