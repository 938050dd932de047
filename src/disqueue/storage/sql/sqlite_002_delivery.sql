-- Schema version 2: reliable delivery (API.md Part 2).
-- Queue settings and the rest of the running totals.
ALTER TABLE queues ADD COLUMN lease REAL;
ALTER TABLE queues ADD COLUMN max_attempts INTEGER;
ALTER TABLE queues ADD COLUMN dead_letter TEXT;
ALTER TABLE queues ADD COLUMN max_items INTEGER;
ALTER TABLE queues ADD COLUMN acked_total INTEGER NOT NULL DEFAULT 0;
ALTER TABLE queues ADD COLUMN expired_total INTEGER NOT NULL DEFAULT 0;
ALTER TABLE queues ADD COLUMN dead_lettered_total INTEGER NOT NULL DEFAULT 0;

-- Deliveries so far; the end of the lease of an item in flight (NULL when queued);
-- when a delayed item becomes visible; when an item still queued is dropped (ttl).
ALTER TABLE items ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE items ADD COLUMN lease_until REAL;
ALTER TABLE items ADD COLUMN visible_at REAL;
ALTER TABLE items ADD COLUMN ttl_at REAL;

-- The de-duplication window: a put's dedup_id and the item it stood for, until when.
CREATE TABLE dedup (
    queue_id INTEGER NOT NULL,
    dedup_id TEXT NOT NULL,
    item_id  TEXT NOT NULL,
    until    REAL NOT NULL,
    PRIMARY KEY (queue_id, dedup_id)
);
