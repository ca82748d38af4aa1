-- The template service's state: one row per event it applied (its "effect").
-- A new service replaces this with its domain tables.
CREATE TABLE IF NOT EXISTS template_effects (
    id          bigserial PRIMARY KEY,
    event_id    text        NOT NULL,
    event_type  text        NOT NULL,
    order_id    text        NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS template_effects_event ON template_effects (event_id);
