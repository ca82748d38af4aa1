-- The notification service: exactly one notification per (cause event, channel).
CREATE TABLE notifications (
    notification_id   text PRIMARY KEY,
    cause_event_id    text NOT NULL,
    cause_event_type  text NOT NULL,
    channel           text NOT NULL,
    order_id          text NOT NULL,
    customer_id       text NOT NULL,
    message           text NOT NULL,
    sent_at           timestamptz NOT NULL DEFAULT now(),
    UNIQUE (cause_event_id, channel)
);
CREATE INDEX notifications_order ON notifications (order_id);
