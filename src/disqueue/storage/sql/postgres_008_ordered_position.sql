-- Schema version 8 of the PostgreSQL backend (API.md Part 3 "Ordered keys"): an ordered
-- queue delivers by position only, whatever its items' priorities (contract.take_order;
-- a dead letter or a redrive keeps its priority). Its takes read the ready items by
-- position: without this index each sorted every ready row of the queue (and probed
-- each for an earlier item of its group); with it the take stops at its count.
CREATE INDEX items_ready_pos ON items (queue_id, pos)
    WHERE lease_until IS NULL AND visible_at IS NULL;
