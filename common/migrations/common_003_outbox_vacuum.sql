-- The outbox is a queue: the relay deletes every row moments after its
-- insert. Vacuum it after a few thousand dead rows instead of after a share
-- of its (tiny) live size, so that its pages stay few and the relay's reads
-- and the backlog count stay cheap under load.
ALTER TABLE outbox SET (
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 2000,
    autovacuum_vacuum_cost_delay = 0
);
