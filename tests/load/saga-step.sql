-- pgbench script shaped like one saga step: record the consumed event (inbox),
-- change a domain row, and add the emitted event to the outbox, in one
-- durable transaction (fsync on, synchronous_commit on).
\set id random(1, 1000000000)
\set product random(1, 1000)
BEGIN;
INSERT INTO bench_inbox (event_id, consumer, topic) VALUES (:id || '-' || :client_id, 'bench', 'order-events');
UPDATE bench_stock SET available = available - 1 WHERE product_id = :product;
INSERT INTO bench_outbox (topic, key, payload) VALUES ('order-events', :id::text, repeat('x', 300)::bytea);
COMMIT;
