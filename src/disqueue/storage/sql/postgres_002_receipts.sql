-- Schema version 2 of the PostgreSQL backend: the receipt token of each item's live
-- delivery (API.md Part 3, "Receipts"). ack, release and touch by receipt name the item
-- by id (items_by_id) and check the token. Leases made before this version have none:
-- their items' ids still name them.
ALTER TABLE items ADD COLUMN receipt text;
