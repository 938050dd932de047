-- Schema version 5 of the PostgreSQL backend (API.md Part 3 "Priorities"): an item's
-- priority, 0 to 9. A take reads the ready items by priority (highest first), then
-- position: the ready indexes serve that order, with and without a key, so a take
-- stays an index range scan whatever the mix of priorities.
ALTER TABLE items ADD COLUMN priority smallint NOT NULL DEFAULT 0;
DROP INDEX items_ready;
DROP INDEX items_ready_key;
CREATE INDEX items_ready ON items (queue_id, priority DESC, pos)
    WHERE lease_until IS NULL AND visible_at IS NULL;
CREATE INDEX items_ready_key ON items (queue_id, match, priority DESC, pos)
    WHERE lease_until IS NULL AND visible_at IS NULL;
