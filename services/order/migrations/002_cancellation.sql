-- Customer cancellation and the saga's deadline. shipment_status is what the
-- order knows of its shipment (DISPATCHED once it left: too late to cancel);
-- cancellation is REQUESTED while shipping decides, REFUSED when it came too
-- late. deadline_at: an order still CREATED then is cancelled (TIMEOUT); the
-- partial index is the timer's queue (the next deadline is its first entry).
ALTER TABLE orders
    ADD COLUMN shipment_status text,
    ADD COLUMN cancellation    text,
    ADD COLUMN deadline_at     timestamptz;
CREATE INDEX orders_deadline ON orders (deadline_at) WHERE status = 'CREATED';
