/*
 * The saga's deadline: an order still CREATED at its deadline_at (set when
 * it is stored: ORDER_DEADLINE_MS after) is cancelled with reason TIMEOUT,
 * which refunds and releases whatever a participant did, now or when it
 * comes back; a result that arrives later finds the order cancelled and is
 * compensated, never applied. The timer is the partial index orders_deadline
 * (a restart loses nothing) worked by duetimer.h: one cheap query when idle,
 * which also refreshes the gauges of open orders.
 */
#include <stdlib.h>

#include "log.h"
#include "saga.h"

#define DEADLINE_BATCH 500 /* orders timed out per transaction */

/* The gauges, from the timer's look at the next deadline. */
static void looked(void *arg, const PGresult *res)
{
	struct order_ctx *c = arg;

	metric_set(c->m_created, strtoll(PQgetvalue(res, 0, 1), NULL, 10));
	metric_set(c->m_confirmed, strtoll(PQgetvalue(res, 0, 2), NULL, 10));
	metric_set(c->m_cancelling, strtoll(PQgetvalue(res, 0, 3), NULL, 10));
	metric_set(c->m_oldest_age, strtoll(PQgetvalue(res, 0, 4), NULL, 10));
}

/* Order i of rows missed its deadline: cancelled (TIMEOUT). */
static int time_out(void *arg, PGconn *tx, const PGresult *rows, int i, char *errstr, size_t size)
{
	struct order_state state = order_state_of(rows, i);
	struct log_fields f = {.order_id = PQgetvalue(rows, i, 9),
	                       .correlation_id = PQgetvalue(rows, i, 8)};

	LOGX(INFO, &f, "order %s was not confirmed by its deadline; cancelling",
	     PQgetvalue(rows, i, 9));
	return order_apply(arg, tx, rows, i, order_next(&state, ORDER_DEADLINE_PASSED), NULL,
	                   errstr, size);
}

void order_deadline_init(struct order_ctx *c, struct metrics *m)
{
	const char *help = "orders not yet finished, by state (the deadline timer's last look)";

	c->timer = (struct duetimer){
	        .db = c->db,
	        .outbox = c->outbox,
	        .due_sql = "SELECT " ORDER_ROW " FROM orders WHERE status = 'CREATED'"
	                   " AND deadline_at <= now() ORDER BY deadline_at LIMIT $1"
	                   " FOR UPDATE SKIP LOCKED",
	        .next_sql = "SELECT ceil(extract(epoch FROM min(deadline_at) FILTER (WHERE status ="
	                    " 'CREATED') - now()) * 1000), count(*) FILTER (WHERE status ="
	                    " 'CREATED'), count(*) FILTER (WHERE status = 'CONFIRMED' AND"
	                    " cancellation IS DISTINCT FROM 'REQUESTED'), count(*) FILTER (WHERE"
	                    " status = 'CONFIRMED' AND cancellation = 'REQUESTED'),"
	                    " coalesce(floor(extract(epoch FROM now() - min(created_at))), 0)"
	                    " FROM orders WHERE status IN ('CREATED', 'CONFIRMED')",
	        .each = time_out,
	        .looked = looked,
	        .ctx = c,
	        .batch = DEADLINE_BATCH,
	        .what = "cancel the orders past their deadline"};
	c->m_created = metrics_gauge(m, "saga_orders_open", help, "state=\"CREATED\"");
	c->m_confirmed = metrics_gauge(m, "saga_orders_open", help, "state=\"CONFIRMED\"");
	c->m_cancelling = metrics_gauge(m, "saga_orders_open", help, "state=\"CANCELLING\"");
	c->m_oldest_age = metrics_gauge(m, "saga_orders_oldest_open_age_seconds",
	                                "age of the oldest order not yet finished", NULL);
}

int order_deadline_tick(void *ctx)
{
	return duetimer_tick(&((struct order_ctx *)ctx)->timer);
}
