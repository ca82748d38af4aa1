-- The order service: orders and their lines, the saga's state per order, and
-- its own copy of the catalogue (from the compacted product-catalog topic).
CREATE TABLE products (
    product_id   text PRIMARY KEY,
    name         text    NOT NULL,
    price_cents  bigint  NOT NULL CHECK (price_cents >= 0),
    currency     text    NOT NULL,
    available    integer NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE orders (
    order_id          text PRIMARY KEY,
    customer_id       text   NOT NULL,
    currency          text   NOT NULL,
    shipping_address  text   NOT NULL,
    total_cents       bigint NOT NULL DEFAULT 0,
    -- CREATED, CONFIRMED, COMPLETED, CANCELLED
    status            text   NOT NULL,
    payment_status    text,  -- PAID, DECLINED
    inventory_status  text,  -- RESERVED, INSUFFICIENT
    cancel_reason     text,
    correlation_id    text   NOT NULL,
    confirmed_at      timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_status ON orders (status);

CREATE TABLE order_items (
    order_id          text    NOT NULL REFERENCES orders,
    line              integer NOT NULL,
    product_id        text    NOT NULL,
    quantity          integer NOT NULL CHECK (quantity > 0),
    unit_price_cents  bigint  NOT NULL,
    PRIMARY KEY (order_id, line)
);
