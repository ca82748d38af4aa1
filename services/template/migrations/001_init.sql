-- The template service's first migration: a table for its own state.
-- A new service replaces this with its domain tables.
CREATE TABLE IF NOT EXISTS template_items (
    id          text PRIMARY KEY,
    created_at  timestamptz NOT NULL DEFAULT now()
);
