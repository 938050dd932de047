-- Schema version 5 of the SQLite backend (API.md Part 3 "Headers"): an item's headers,
-- as JSON text (NULL: none).
ALTER TABLE items ADD COLUMN headers TEXT;
