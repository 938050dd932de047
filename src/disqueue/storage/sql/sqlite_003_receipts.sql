-- Schema version 3 of the SQLite backend: the receipt token of each item's live
-- delivery (API.md Part 3, "Receipts"), so that a lease keeps its receipt across a
-- restart. Leases made before this version have none: their items' ids still name them.
ALTER TABLE items ADD COLUMN receipt TEXT;
