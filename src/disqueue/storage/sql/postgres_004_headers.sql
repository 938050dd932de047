-- Schema version 4 of the PostgreSQL backend (API.md Part 3 "Headers"): an item's
-- headers, as JSON text (NULL: none).
ALTER TABLE items ADD COLUMN headers text;
