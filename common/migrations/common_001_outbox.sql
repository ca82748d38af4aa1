-- Transactional outbox (common/outbox.c): a daemon inserts the events it emits
-- in the same transaction as its own changes; the relay publishes rows in id
-- order and deletes them only after the broker acknowledged them.
CREATE TABLE IF NOT EXISTS outbox (
    id          bigserial PRIMARY KEY,
    topic       text        NOT NULL,
    key         text        NOT NULL,
    headers     text        NOT NULL DEFAULT '',  -- "name: value" lines
    payload     bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Wake the relay when a transaction that added rows commits.
CREATE OR REPLACE FUNCTION outbox_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('outbox', '');
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS outbox_notify ON outbox;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
