-- Schema version 7 of the SQLite backend (API.md Part 3 "Ordered keys"): whether a queue
-- treats each key as a group delivered in put order. Fixed at the create; the groups
-- held (items in flight, or delayed at the front after a lease) are read from the items
-- themselves at start, so nothing else is kept.
ALTER TABLE queues ADD COLUMN ordered INTEGER NOT NULL DEFAULT 0;
