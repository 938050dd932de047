-- Schema version 9 of the SQLite backend: a leased take's record (docs/decisions/0017).
-- A take that puts items in flight writes one row here, its receipt token, deadline and
-- the items' positions (a JSON array), instead of rewriting each item's row. Nothing
-- reads it while the server runs: at start the records are folded into the items they
-- name (one more attempt, in flight until `until` unless a touch moved it, under
-- `token`) and deleted, before any new position is given out. Positions are never
-- given twice while a server runs, so a record of items already acked or given back
-- names nothing: those rows are gone or were moved to another position.
CREATE TABLE leases (
    token     TEXT PRIMARY KEY,
    until     REAL NOT NULL,
    positions TEXT NOT NULL
) WITHOUT ROWID;
