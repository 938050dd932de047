-- Schema version 6 of the PostgreSQL backend (API.md Part 3 "Ordered keys"): whether a
-- queue treats each key as a group delivered in put order. A take on an ordered queue
-- skips the ready items of a held group: one with an item in flight, or delayed at the
-- front after its lease (contract.holds_group). This index finds those keys once per
-- take; it holds only items in flight and released with a delay, so it stays small.
ALTER TABLE queues ADD COLUMN ordered boolean NOT NULL DEFAULT false;
CREATE INDEX items_held ON items (queue_id, match)
    WHERE lease_until IS NOT NULL OR (visible_at IS NOT NULL AND pos < 0);
