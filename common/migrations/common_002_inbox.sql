-- Idempotent consumer (common/consumer.c): the id of every consumed event is
-- recorded in the transaction that applies its effects; a duplicate finds its
-- id here and has no effect.
CREATE TABLE IF NOT EXISTS inbox (
    event_id     text        NOT NULL,
    consumer     text        NOT NULL,   -- the consumer group
    topic        text        NOT NULL,
    kafka_partition int      NOT NULL,
    kafka_offset bigint      NOT NULL,
    consumed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
CREATE INDEX IF NOT EXISTS inbox_consumed_at ON inbox (consumed_at);
