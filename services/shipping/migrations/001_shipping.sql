-- The shipping service: at most one shipment per order, and every attempt
-- at the (simulated) carrier.
CREATE TABLE shipments (
    shipment_id       text PRIMARY KEY,
    order_id          text    NOT NULL UNIQUE,
    customer_id       text    NOT NULL,
    shipping_address  text    NOT NULL,
    -- CREATED, DISPATCHED, DELIVERED, FAILED
    status            text    NOT NULL,
    attempts          integer NOT NULL DEFAULT 0,
    next_attempt_at   timestamptz NOT NULL DEFAULT now(),
    correlation_id    text    NOT NULL,
    cause_event       jsonb   NOT NULL,  -- metadata of the OrderConfirmed, for causation
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX shipments_due ON shipments (next_attempt_at) WHERE status IN ('CREATED', 'DISPATCHED');

CREATE TABLE carrier_attempts (
    shipment_id  text    NOT NULL REFERENCES shipments,
    attempt      integer NOT NULL,
    ok           boolean NOT NULL,
    detail       text    NOT NULL,
    at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (shipment_id, attempt)
);
