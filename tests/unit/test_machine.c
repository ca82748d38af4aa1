/*
 * Unit tests: the order's state machine (services/order/machine.h), over
 * every (state, input) pair, and over every interleaving of the inputs an
 * order can meet, with the service's row changes modelled here.
 */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "machine.h"

static const char *const statuses[] = {"CREATED", "CONFIRMED", "COMPLETED", "CANCELLED"};
static const char *const payments[] = {NULL, "PAID", "DECLINED"};
static const char *const inventories[] = {NULL, "RESERVED", "INSUFFICIENT"};
static const char *const shipments[] = {NULL, "DISPATCHED", "DELIVERED"};
static const char *const cancellations[] = {NULL, "REQUESTED", "REFUSED"};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static bool is(const char *v, const char *want)
{
	return v && !strcmp(v, want);
}

static bool terminal(const char *status)
{
	return is(status, "COMPLETED") || is(status, "CANCELLED");
}

/* What every single step must respect, whatever the state. */
static void expect_step_fits(const struct order_state *s, enum order_input in, struct order_step st)
{
	char where[160];

	snprintf(where, sizeof(where), "%s/%s/%s/%s/%s on %s", s->status,
	         s->payment ? s->payment : "-", s->inventory ? s->inventory : "-",
	         s->shipment ? s->shipment : "-", s->cancellation ? s->cancellation : "-",
	         order_input_name(in));
	cr_expect_eq(st.reason != NULL, st.action == ORDER_CANCEL || st.action == ORDER_REFUSE,
	             "%s: a reason goes with a cancellation or a refusal only", where);
	if (terminal(s->status))
		cr_expect(st.action == ORDER_NOTHING ||
		                  (st.action == ORDER_REFUSE && is(s->status, "COMPLETED") &&
		                   in == ORDER_CANCEL_REQUESTED && !s->cancellation),
		          "%s: a finished order moves no more", where);
	if (st.action == ORDER_CONFIRM)
		cr_expect(is(s->status, "CREATED") && is(s->payment, "PAID") &&
		                  is(s->inventory, "RESERVED"),
		          "%s: confirmed only when paid and reserved", where);
	if (st.action == ORDER_CANCEL) {
		cr_expect(is(s->status, "CREATED") || is(s->status, "CONFIRMED"), "%s", where);
		cr_expect_eq(!strcmp(st.reason, "TIMEOUT"), in == ORDER_DEADLINE_PASSED,
		             "%s: TIMEOUT is the deadline's reason, and only its", where);
		if (is(s->status, "CONFIRMED"))
			cr_expect(in == ORDER_SHIPPING_FAILED || (in == ORDER_SHIPMENT_CANCELLED &&
			                                          is(s->cancellation, "REQUESTED")),
			          "%s: a confirmed order is cancelled only once shipping stopped",
			          where);
	}
	if (st.action == ORDER_ASK_SHIPPING)
		cr_expect(is(s->status, "CONFIRMED") && !s->cancellation && !s->shipment &&
		                  in == ORDER_CANCEL_REQUESTED,
		          "%s: shipping is asked once, for a confirmed order not yet left", where);
	if (st.action == ORDER_COMPLETE)
		cr_expect(is(s->status, "CONFIRMED") && in == ORDER_DELIVERED, "%s", where);
	if (st.action == ORDER_REFUSE)
		cr_expect(!s->cancellation || is(s->cancellation, "REQUESTED"), "%s: refused once",
		          where);
}

Test(machine, every_state_and_input_has_one_fitting_step)
{
	int pairs = 0;

	for (size_t a = 0; a < N(statuses); a++)
		for (size_t b = 0; b < N(payments); b++)
			for (size_t c = 0; c < N(inventories); c++)
				for (size_t d = 0; d < N(shipments); d++)
					for (size_t e = 0; e < N(cancellations); e++)
						for (int in = 0; in < ORDER_NINPUTS; in++) {
							struct order_state s = {
							        statuses[a], payments[b],
							        inventories[c], shipments[d],
							        cancellations[e]};

							expect_step_fits(&s, in,
							                 order_next(&s, in));
							pairs++;
						}
	cr_expect_eq(pairs, 4 * 3 * 3 * 3 * 3 * ORDER_NINPUTS);
}

/* The order's row, as the service changes it. */
struct row {
	char status[16], payment[16], inventory[16], shipment[16], cancellation[16], reason[32];
	int terminal_events; /* OrderCompleted + OrderCancelled emitted */
	bool asked;          /* OrderCancelling emitted */
};

static const char *col(const char *v)
{
	return *v ? v : NULL;
}

/* Records the input's own fact, takes the machine's step, changes the row. */
static struct order_step feed(struct row *r, enum order_input in)
{
	struct order_state s;
	struct order_step st;

	if (in == ORDER_PAID || in == ORDER_DECLINED)
		snprintf(r->payment, sizeof(r->payment), "%s",
		         in == ORDER_PAID ? "PAID" : "DECLINED");
	if (in == ORDER_RESERVED || in == ORDER_INSUFFICIENT)
		snprintf(r->inventory, sizeof(r->inventory), "%s",
		         in == ORDER_RESERVED ? "RESERVED" : "INSUFFICIENT");
	if (in == ORDER_SHIPMENT_DISPATCHED)
		snprintf(r->shipment, sizeof(r->shipment), "DISPATCHED");
	if (in == ORDER_DELIVERED)
		snprintf(r->shipment, sizeof(r->shipment), "DELIVERED");
	s = (struct order_state){r->status, col(r->payment), col(r->inventory), col(r->shipment),
	                         col(r->cancellation)};
	st = order_next(&s, in);
	switch (st.action) {
	case ORDER_CONFIRM: snprintf(r->status, sizeof(r->status), "CONFIRMED"); break;
	case ORDER_CANCEL:
		snprintf(r->status, sizeof(r->status), "CANCELLED");
		snprintf(r->reason, sizeof(r->reason), "%s", st.reason);
		r->terminal_events++;
		break;
	case ORDER_COMPLETE:
		snprintf(r->status, sizeof(r->status), "COMPLETED");
		r->terminal_events++;
		break;
	case ORDER_ASK_SHIPPING:
		snprintf(r->cancellation, sizeof(r->cancellation), "REQUESTED");
		r->asked = true;
		break;
	case ORDER_REFUSE: snprintf(r->cancellation, sizeof(r->cancellation), "REFUSED"); break;
	case ORDER_NOTHING: break;
	}
	return st;
}

/*
 * One order's whole life: the payment and inventory results (each a success
 * or a failure), the customer's cancellation and the deadline, in the order
 * given by perm; once confirmed, shipping's events follow, the cancellation
 * (when it comes after confirmation) reaching shipping at step ship_at of
 * its own run: before dispatch it stops the shipment, after it not.
 */
static void live(const int *perm, int n, bool pay_ok, bool stock_ok, bool carrier_ok, int ship_at,
                 bool cancel, bool deadline)
{
	struct row r = {.status = "CREATED"};
	bool cancel_waiting = false;

	for (int k = 0; k < n; k++) {
		enum order_input in = perm[k] == 0 ? (pay_ok ? ORDER_PAID : ORDER_DECLINED)
		                      : perm[k] == 1
		                              ? (stock_ok ? ORDER_RESERVED : ORDER_INSUFFICIENT)
		                      : perm[k] == 2 ? ORDER_CANCEL_REQUESTED
		                                     : ORDER_DEADLINE_PASSED;

		if ((in == ORDER_CANCEL_REQUESTED && !cancel) ||
		    (in == ORDER_DEADLINE_PASSED && !deadline))
			continue;
		if (in == ORDER_CANCEL_REQUESTED && !strcmp(r.status, "CONFIRMED")) {
			cancel_waiting = true; /* it reaches the order during shipping's run */
			continue;
		}
		feed(&r, in);
	}
	if (!strcmp(r.status, "CONFIRMED")) {
		/* Shipping's run: dispatch then delivery, or a final failure. */
		enum order_input run[2] = {carrier_ok ? ORDER_SHIPMENT_DISPATCHED
		                                      : ORDER_SHIPPING_FAILED,
		                           ORDER_DELIVERED};
		int steps = carrier_ok ? 2 : 1;
		bool stopped = false;

		/* ship_at 0: shipping gets the request before its first step and stops
		 * the parcel; 1: the order asks before it sees that step, which shipping
		 * had taken; 2: the order has seen it. */
		if (cancel_waiting && ship_at < 2) {
			struct order_step st = feed(&r, ORDER_CANCEL_REQUESTED);

			if (st.action == ORDER_ASK_SHIPPING && ship_at == 0) {
				feed(&r, ORDER_SHIPMENT_CANCELLED);
				stopped = true;
			}
		}
		for (int k = 0; k < steps && !stopped; k++) {
			feed(&r, run[k]);
			if (cancel_waiting && ship_at == 2 && k == 0)
				feed(&r, ORDER_CANCEL_REQUESTED);
		}
	}
	cr_expect(terminal(r.status), "the order ended %s", r.status);
	cr_expect_eq(r.terminal_events, 1, "one terminal event, not %d", r.terminal_events);
	if (!strcmp(r.status, "COMPLETED")) {
		cr_expect(pay_ok && stock_ok && carrier_ok && is(r.shipment, "DELIVERED"));
		cr_expect(!is(r.cancellation, "REQUESTED"),
		          "completed with its cancellation still pending: never answered");
	}
	if (is(r.reason, "TIMEOUT"))
		cr_expect(deadline);
	if (is(r.reason, "CUSTOMER_CANCELLED"))
		cr_expect(cancel && !is(r.shipment, "DISPATCHED") && !is(r.shipment, "DELIVERED"));
	if (pay_ok && stock_ok && carrier_ok && !cancel && !deadline)
		cr_expect_str_eq(r.status, "COMPLETED");
	if (cancel && ship_at == 0 && !is(r.reason, "TIMEOUT") && pay_ok && stock_ok)
		cr_expect_str_eq(r.reason, "CUSTOMER_CANCELLED",
		                 "a cancellation before dispatch is done");
	if (!pay_ok || !stock_ok)
		cr_expect_str_eq(r.status, "CANCELLED");
	if (is(r.status, "CANCELLED") && is(r.cancellation, "REQUESTED"))
		cr_expect(is(r.reason, "CUSTOMER_CANCELLED") || is(r.reason, "SHIPPING_FAILED"));
}

Test(machine, every_interleaving_ends_in_exactly_one_terminal_state)
{
	static const int perms[24][4] = {
	        {0, 1, 2, 3}, {0, 1, 3, 2}, {0, 2, 1, 3}, {0, 2, 3, 1}, {0, 3, 1, 2}, {0, 3, 2, 1},
	        {1, 0, 2, 3}, {1, 0, 3, 2}, {1, 2, 0, 3}, {1, 2, 3, 0}, {1, 3, 0, 2}, {1, 3, 2, 0},
	        {2, 0, 1, 3}, {2, 0, 3, 1}, {2, 1, 0, 3}, {2, 1, 3, 0}, {2, 3, 0, 1}, {2, 3, 1, 0},
	        {3, 0, 1, 2}, {3, 0, 2, 1}, {3, 1, 0, 2}, {3, 1, 2, 0}, {3, 2, 0, 1}, {3, 2, 1, 0},
	};
	int lives = 0;

	for (int p = 0; p < 24; p++)
		for (int flags = 0; flags < 32; flags++)
			for (int ship_at = 0; ship_at < 3; ship_at++) {
				live(perms[p], 4, flags & 1, flags & 2, flags & 4, ship_at,
				     flags & 8, flags & 16);
				lives++;
			}
	cr_expect_eq(lives, 24 * 32 * 3);
}

Test(machine, a_cancellation_is_decided_by_how_far_the_order_got)
{
	struct order_state created = {"CREATED", "PAID", NULL, NULL, NULL};
	struct order_state confirmed = {"CONFIRMED", "PAID", "RESERVED", NULL, NULL};
	struct order_state left = {"CONFIRMED", "PAID", "RESERVED", "DISPATCHED", NULL};
	struct order_state asked = {"CONFIRMED", "PAID", "RESERVED", NULL, "REQUESTED"};
	struct order_state done = {"COMPLETED", "PAID", "RESERVED", "DELIVERED", NULL};

	cr_expect_eq(order_next(&created, ORDER_CANCEL_REQUESTED).action, ORDER_CANCEL);
	cr_expect_str_eq(order_next(&created, ORDER_CANCEL_REQUESTED).reason, "CUSTOMER_CANCELLED");
	cr_expect_eq(order_next(&confirmed, ORDER_CANCEL_REQUESTED).action, ORDER_ASK_SHIPPING);
	cr_expect_eq(order_next(&left, ORDER_CANCEL_REQUESTED).action, ORDER_REFUSE);
	cr_expect_str_eq(order_next(&left, ORDER_CANCEL_REQUESTED).reason, "ALREADY_DISPATCHED");
	cr_expect_eq(order_next(&asked, ORDER_CANCEL_REQUESTED).action, ORDER_NOTHING);
	cr_expect_eq(order_next(&asked, ORDER_SHIPMENT_CANCELLED).action, ORDER_CANCEL);
	cr_expect_eq(order_next(&asked, ORDER_SHIPMENT_DISPATCHED).action, ORDER_REFUSE);
	cr_expect_eq(order_next(&done, ORDER_CANCEL_REQUESTED).action, ORDER_REFUSE);
	cr_expect_str_eq(order_next(&done, ORDER_CANCEL_REQUESTED).reason, "ALREADY_COMPLETED");
	cr_expect_eq(order_next(&created, ORDER_DEADLINE_PASSED).action, ORDER_CANCEL);
	cr_expect_eq(order_next(&confirmed, ORDER_DEADLINE_PASSED).action, ORDER_NOTHING);
}
