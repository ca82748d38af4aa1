-- The inventory service: products with price and stock, and reservations.
-- Invariant: initial_stock = available + quantity of RESERVED reservations.
CREATE TABLE products (
    product_id     text PRIMARY KEY,
    name           text    NOT NULL,
    price_cents    bigint  NOT NULL CHECK (price_cents >= 0),
    currency       text    NOT NULL,
    initial_stock  integer NOT NULL CHECK (initial_stock >= 0),
    available      integer NOT NULL CHECK (available >= 0),   -- never below zero
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE reservations (
    order_id    text    NOT NULL,
    product_id  text    NOT NULL REFERENCES products,
    quantity    integer NOT NULL CHECK (quantity > 0),
    -- RESERVED, RELEASED
    status      text    NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (order_id, product_id)
);
CREATE INDEX reservations_product ON reservations (product_id) WHERE status = 'RESERVED';
