-- The payment service: one charge attempt per order, and refunds.
CREATE TABLE payments (
    payment_id    text PRIMARY KEY,
    order_id      text   NOT NULL UNIQUE,   -- never two charges for one order
    customer_id   text   NOT NULL,
    amount_cents  bigint NOT NULL,
    currency      text   NOT NULL,
    -- CHARGED, DECLINED, REFUNDED
    status        text   NOT NULL,
    decline_reason text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE refunds (
    refund_id     text PRIMARY KEY,
    payment_id    text   NOT NULL UNIQUE REFERENCES payments,
    amount_cents  bigint NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
