-- Schema version 6 of the SQLite backend (API.md Part 3 "Priorities"): an item's
-- priority, 0 to 9 (the order lives in memory: per-priority lanes of the index).
ALTER TABLE items ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
